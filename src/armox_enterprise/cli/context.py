"""What a command handler runs with, and the shape every handler has."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, TextIO

from armox_enterprise import EnterpriseService
from armox_enterprise.cli.errors import UsageError
from armox_enterprise.cli.rendering import Progress, isatty, jsonable
from armox_enterprise.exceptions import OrganisationNotFound
from armox_enterprise.ports import Clock, DnsResolver, Store

__all__ = ["Context", "Demo", "Handler"]


class Demo(Protocol):
    """Tells the demo's story on a store, printing it to ``out``; returns the exit code."""

    def __call__(self, store: Store, out: TextIO, *, database_url: str) -> int:
        """Run the demo."""
        ...


@dataclass
class Context:
    """What a command runs with: its arguments, the store, the streams, the clock.

    ``demo`` is the story the ``demo`` command tells: :func:`armox_enterprise.cli.run` passes
    the package's ``run_demo`` as it finds it at the call, so a replacement set on the package
    is the one that runs.
    """

    args: argparse.Namespace
    store: Store
    url: str
    out: TextIO
    err: TextIO
    clock: Clock
    dns: DnsResolver | None
    sleep: Callable[[float], None]
    demo: Demo

    @property
    def as_json(self) -> bool:
        """Whether ``--json`` was given."""
        return bool(getattr(self.args, "json", False))

    @property
    def command(self) -> str:
        """The command's name as typed, e.g. ``domains add``."""
        action = getattr(self.args, "action", None)
        return str(self.args.command) if action is None else f"{self.args.command} {action}"

    def service(
        self, *, dns: DnsResolver | None = None, request_alert_after: timedelta | None = None
    ) -> EnterpriseService:
        """A service on the command's store and clock, with ``dns`` or the context's resolver."""
        resolver = dns if dns is not None else self.dns
        if request_alert_after is None:
            return EnterpriseService(self.store, clock=self.clock, dns=resolver)
        return EnterpriseService(
            self.store, clock=self.clock, dns=resolver, request_alert_after=request_alert_after
        )

    def actor(self) -> str:
        """The ``--as`` user."""
        actor = getattr(self.args, "actor", None)
        if not actor:
            raise UsageError(f"'{self.command}' acts as a user of the organisation: pass --as USER")
        return str(actor)

    def organisation(self, service: EnterpriseService, actor: str) -> str:
        """The ``--org`` organisation, or else the one ``actor`` is an active member of."""
        org = getattr(self.args, "org", None)
        if org:
            return str(org)
        found = service.profile(actor).organisation_id
        if found is None:
            raise OrganisationNotFound(
                f"user {actor} is not an active member of any organisation; pass --org ORG_ID"
            )
        return found

    def emit(self, data: object, lines: Sequence[str]) -> None:
        """Print ``data`` as JSON with ``--json``, else ``lines``."""
        if self.as_json:
            print(json.dumps(jsonable(data), indent=2), file=self.out)
        else:
            for line in lines:
                print(line, file=self.out)

    def progress(
        self, label: str, unit: str, *, total: int | None = None, wanted: bool = True
    ) -> Progress:
        """A progress line on stderr: shown only on a terminal, and not with ``--quiet``."""
        enabled = wanted and not getattr(self.args, "quiet", False) and isatty(self.err)
        return Progress(self.err, label, unit, total=total, enabled=enabled)


#: A command: runs with its context and returns the exit code.
Handler = Callable[[Context], int]
