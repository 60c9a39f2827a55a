"""The outside world: the time and the DNS, which the service never reads directly.

Both come in through these ports so a test can freeze the clock
(:class:`~armox_enterprise.testing.FrozenClock`) and answer DNS look-ups from a table
(:class:`~armox_enterprise.testing.StaticDnsResolver`); a host passes real ones
(:class:`~armox_enterprise.adapters.dns.DnsPythonResolver` for TXT records).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

__all__ = ["Clock", "DnsResolver"]


class Clock(Protocol):
    """Tells the time; the service never reads the system clock directly."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
        ...


class DnsResolver(Protocol):
    """Looks up DNS TXT records, to verify that an organisation controls a domain."""

    def txt_records(self, domain: str) -> Sequence[str]:
        """Return the TXT strings published at ``domain`` (empty if none or not found).

        An answer that the record is not there (no such name, no TXT records) is an empty
        sequence; a look-up that could not be made (a timeout, no reachable name server)
        raises instead, so the domain re-check job does not count it as a failing check.

        Raises:
            DomainVerificationFailed: the look-up could not be made (an ``OSError`` such as
                ``TimeoutError`` is taken the same way).
        """
        ...
