"""What a command handler runs with, and the shape every handler has."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, TextIO, TypeVar

from armox_enterprise import EnterpriseService, watch_replays
from armox_enterprise.cli.errors import EXIT_OK, UsageError
from armox_enterprise.cli.rendering import Progress, isatty
from armox_enterprise.exceptions import OrganisationNotFound
from armox_enterprise.ports import Clock, DnsResolver, Store
from armox_enterprise.serialise import dumps, to_json

__all__ = ["Context", "Demo", "Handler"]

_T = TypeVar("_T")


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
            # --org cannot help: every command that acts as a user needs a member.
            raise OrganisationNotFound(
                f"user {actor} is not an active member of any organisation: --as must name a "
                f"member of the organisation '{self.command}' acts in (an admin, for the "
                "admin commands)"
            )
        return found

    def emit(self, data: object, lines: Sequence[str]) -> None:
        """Print ``data``'s JSON form with ``--json``, else ``lines``."""
        if self.as_json:
            print(dumps(data, indent=2), file=self.out)
        else:
            for line in lines:
                print(line, file=self.out)

    def watched(self, service: EnterpriseService, call: Callable[[], _T]) -> tuple[_T, bool]:
        """Run ``call`` (a call of ``service``); return its result and whether it was a replay."""
        with watch_replays() as watch:
            result = call()
        return result, watch.replayed

    def change(
        self,
        call: Callable[[EnterpriseService, str, str], _T],
        done: Callable[[_T, str], str],
        *,
        key: str | None,
        key_name: str = "idempotency key",
    ) -> int:
        """Run a call that writes, as the acting member in their organisation, and say what
        it did: ``call(service, actor, organisation_id)`` makes the call, ``done(result,
        actor)`` the sentence :meth:`emit_change` prints (a replay of ``key`` says so).

        Returns:
            The exit code of a command that succeeded.
        """
        service = self.service()
        actor = self.actor()
        org = self.organisation(service, actor)
        result, replayed = self.watched(service, lambda: call(service, actor, org))
        self.emit_change(result, done(result, actor), replayed=replayed, key=key, key_name=key_name)
        return EXIT_OK

    def emit_change(
        self,
        record: object,
        done: str,
        *,
        replayed: bool,
        key: str | None,
        key_name: str = "idempotency key",
    ) -> None:
        """Print what a call that writes did: ``done``, a sentence such as "Added 5,000 credits
        to the pool (...)."; a replay says that nothing changed and what the first call did.

        With ``--json``: the record's JSON form with ``"replayed"`` added.
        """
        if self.as_json:
            data = to_json(record)
            print(dumps({**data, "replayed": replayed}, indent=2), file=self.out)
            return
        if not replayed:
            print(done, file=self.out)
            return
        print(
            f"Replay of {key_name} {key!r}: nothing changed. The first call "
            f"{done[:1].lower()}{done[1:]}",
            file=self.out,
        )

    def progress(
        self, label: str, unit: str, *, total: int | None = None, wanted: bool = True
    ) -> Progress:
        """A progress line on stderr: shown only on a terminal, and not with ``--quiet``."""
        enabled = wanted and not getattr(self.args, "quiet", False) and isatty(self.err)
        return Progress(self.err, label, unit, total=total, enabled=enabled)


#: A command: runs with its context and returns the exit code.
Handler = Callable[[Context], int]
