"""Real DNS look-ups for domain verification (install the ``dns`` extra: dnspython).

:class:`DnsPythonResolver` implements the :class:`~armox_enterprise.ports.DnsResolver` port with
dnspython, which is imported when the resolver is created, so ``import armox_enterprise``
never needs it::

    from armox_enterprise import EnterpriseService
    from armox_enterprise.adapters.dns import DnsPythonResolver

    service = EnterpriseService(store, dns=DnsPythonResolver())
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from armox_enterprise.exceptions import DomainVerificationFailed

__all__ = ["DnsPythonResolver"]

_INSTALL_HINT = "install the extra: `pip install '.[dns]'` from a checkout of armox-enterprise"


def _dnspython() -> tuple[ModuleType, ModuleType]:
    """Return dnspython's ``dns.resolver`` and ``dns.exception`` modules."""
    try:
        return importlib.import_module("dns.resolver"), importlib.import_module("dns.exception")
    except ImportError as exc:
        raise ImportError(
            f"armox_enterprise.adapters.dns needs dnspython: {_INSTALL_HINT}"
        ) from exc


class DnsPythonResolver:
    """Looks up TXT records with dnspython.

    A missing name or a name without TXT records answers with no records (verification then
    fails with "record not found"); a look-up that cannot be made (a timeout, no reachable
    name server, no resolver configuration) raises
    :class:`~armox_enterprise.DomainVerificationFailed` saying why.

    Args:
        lifetime: how many seconds one look-up may take in all, retries included.
        nameservers: the name servers to ask (IP addresses); by default the system's
            (``/etc/resolv.conf`` on Unix).

    Raises:
        ImportError: dnspython is not installed (the message names the ``dns`` extra).
    """

    def __init__(self, *, lifetime: float = 5.0, nameservers: Sequence[str] | None = None) -> None:
        if lifetime <= 0:
            raise ValueError("lifetime must be a positive number of seconds")
        self._resolver_module, exception_module = _dnspython()
        self._dns_error: type[Exception] = exception_module.DNSException
        self._lifetime = lifetime
        self._nameservers = None if nameservers is None else list(nameservers)
        self._resolver: Any = None

    def _get_resolver(self) -> Any:
        # Built on first use: reading the system's configuration can fail, and that failure
        # belongs to the look-up, not to building the service.
        if self._resolver is None:
            module = self._resolver_module
            if self._nameservers is None:
                resolver = module.Resolver()
            else:
                resolver = module.Resolver(configure=False)
                resolver.nameservers = self._nameservers
            self._resolver = resolver
        return self._resolver

    def txt_records(self, domain: str) -> Sequence[str]:
        """Return the TXT strings published at ``domain`` (empty if none or not found).

        A record split into several strings (as records longer than 255 bytes are) is
        returned joined, as one string.

        Raises:
            DomainVerificationFailed: the look-up itself failed.
        """
        module = self._resolver_module
        try:
            answer = self._get_resolver().resolve(domain, "TXT", lifetime=self._lifetime)
        except (module.NXDOMAIN, module.NoAnswer):
            return []
        except self._dns_error as exc:
            raise DomainVerificationFailed(
                f"the DNS look-up of TXT records on {domain} failed: {exc}"
            ) from exc
        return [b"".join(rdata.strings).decode("utf-8", errors="replace") for rdata in answer]
