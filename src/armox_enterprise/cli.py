"""The command line (``python -m armox_enterprise``, installed as ``armox-enterprise``).

``demo`` tells the story of Enterprise accounts on a fresh organisation, step by step: a monthly
pool and a verified company domain, sign-ups, allocations, generations, a member running out and
asking for more, the admin's decisions, the profile and dashboard views, a period turning over,
and the ledger's reconciliation.

The operations commands manage organisations from the shell and run the background jobs:
``migrate`` and ``create-schema``; ``org create``; ``domains add|verify|remove|list``;
``members list|set-role``; ``allocate``, ``reclaim`` and ``top-up``;
``requests list|approve|reject``; ``profile``; ``dashboard``; ``export usage|ledger``;
``periods close-due``; ``ledger verify``; ``events relay``; ``alerts check``.  ``--as USER``
names the acting user, ``--org`` the organisation (by default the acting user's), and
``--json`` prints one JSON document (JSON lines for ``events relay``).

Exit codes: 0 success; 1 a library error, or a ledger that does not reconcile; 2 a usage or
configuration error (bad arguments, a missing extra, a database that cannot be opened);
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

import attrs

from armox_enterprise import __version__
from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.domain.events import CreditRequestDecided, Event, PeriodClosed, PeriodOpened
from armox_enterprise.domain.organisation import DomainClaim, JoinMode, Organisation, Role
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.values import DomainName, EmailAddress
from armox_enterprise.exceptions import (
    ArmoxError,
    DomainNotClaimable,
    EnrolmentRefused,
    InsufficientCredits,
    OrganisationNotFound,
    StorageError,
)
from armox_enterprise.ports import Clock, DnsResolver, Store, StoredEvent
from armox_enterprise.service import EnterpriseService, SystemClock
from armox_enterprise.testing.clock import FrozenClock, StaticDnsResolver
from armox_enterprise.views import Dashboard, EnterpriseCredits, ProfileView

if TYPE_CHECKING:
    from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "MEMORY_URL",
    "ConfigurationError",
    "UsageError",
    "open_store",
    "run",
    "run_demo",
]

#: An SQLite file in the current directory: the embedded default.
DEFAULT_DATABASE_URL = "sqlite:///armox-enterprise.sqlite3"
#: The special URL that selects the in-memory store.
MEMORY_URL = "memory://"
#: Read when ``--database-url`` is not given, so a password need not appear on a command line.
DATABASE_URL_ENV = "ARMOX_ENTERPRISE_DATABASE_URL"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# The demo's clock starts on the 31st so the first period shows the anchor day clamped to
# February's last day; a fixed start makes every run print the same dates.
_DEMO_START = datetime(2026, 1, 31, 9, 0, tzinfo=timezone.utc)
_ALLOWANCE = 10_000

#: The Alembic version table of the library's default tables (prefix ``armox_``).
_VERSION_TABLE = "armox_alembic_version"
#: The most often a progress line is redrawn, in seconds.
_PROGRESS_INTERVAL = 0.1

#: What :func:`open_store` does about the library's tables in an SQL database.
SchemaMode = Literal["create", "require", "connect"]


class ConfigurationError(Exception):
    """The command cannot run as configured: the database URL cannot be used, the database has
    no tables yet, or an optional extra is missing (exit code 2)."""


class UsageError(ConfigurationError):
    """The command was called without something it needs, such as ``--as`` (exit code 2)."""


# ---------------------------------------------------------------------- opening the store


def open_store(url: str, *, schema: SchemaMode = "create") -> Store:
    """Return the store named by ``url``: ``memory://`` or an SQLAlchemy database URL.

    Args:
        url: ``memory://`` or an SQLAlchemy URL.
        schema: for an SQL database, ``"create"`` creates the library's tables that do not
            exist yet (what the demo does), ``"require"`` checks that they exist (what the
            operations commands do: ``migrate`` makes them), and ``"connect"`` only checks
            that the database answers.

    Raises:
        ConfigurationError: the ``sqlalchemy`` extra (or the database driver) is not
            installed, the database cannot be opened, or it has no tables where they are
            required.
    """
    if url == MEMORY_URL:
        return MemoryStore()
    try:
        from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
    except ImportError as exc:
        raise ConfigurationError(
            f"the SQL store needs the 'sqlalchemy' extra ({exc}); install it with "
            "pip install 'armox-enterprise[sqlalchemy]', or pass --database-url memory://"
        ) from exc
    try:
        store = SqlAlchemyStore.from_url(url)
    except ImportError as exc:
        raise ConfigurationError(
            f"the database driver for {_masked(url)} is not installed ({exc}); "
            "the 'postgresql' and 'mysql' extras bring psycopg and PyMySQL"
        ) from exc
    except Exception as exc:  # a URL we cannot use is a configuration error, whatever the cause
        raise ConfigurationError(f"cannot open the database {_masked(url)}: {exc}") from exc
    try:
        if schema == "create":
            store.create_schema()
        else:
            _check_database(store, url, require_tables=schema == "require")
    except ConfigurationError:
        _close(store)
        raise
    except Exception as exc:
        _close(store)
        raise ConfigurationError(f"cannot open the database {_masked(url)}: {exc}") from exc
    return store


def _check_database(store: SqlAlchemyStore, url: str, *, require_tables: bool) -> None:
    """Check that the database answers and, if asked, that it holds the library's tables."""
    from sqlalchemy import inspect

    engine = store.engine
    if not require_tables:
        with engine.connect():
            return
    path = engine.url.database
    if engine.dialect.name == "sqlite" and path and path != ":memory:" and not Path(path).exists():
        # Connecting would create an empty file; say what to run instead.
        raise ConfigurationError(
            f"there is no database file {path}: create it with 'armox-enterprise migrate' "
            "(or pass --database-url)"
        )
    table = store.tables.organisations
    if not inspect(engine).has_table(table.name, schema=table.schema):
        raise ConfigurationError(
            f"the database {_masked(url)} has no armox-enterprise tables yet: "
            "run 'armox-enterprise migrate' first"
        )


def _masked(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _close(store: Store) -> None:
    """Close the SQL store's pooled connections; the memory store holds none."""
    engine = getattr(store, "engine", None)
    if engine is not None:
        engine.dispose()


# ---------------------------------------------------------------------- the parser

_Handler = Callable[["_Context"], int]


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _add_common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The options every operations command takes, before or after its name.

    After the name (``defaults=False``) they default to ``SUPPRESS``, so leaving them out keeps
    what was given before it.
    """

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--database-url",
        metavar="URL",
        default=default(None),
        help=(
            f"where the data lives: an SQLAlchemy URL, or {MEMORY_URL} for the in-memory store "
            f"(default: ${DATABASE_URL_ENV}, else {DEFAULT_DATABASE_URL})"
        ),
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON document (errors: a JSON object on stderr)",
    )
    parser.add_argument(
        "--as",
        dest="actor",
        metavar="USER",
        default=default(None),
        help="the acting user's id: an admin of the organisation for admin commands",
    )
    parser.add_argument(
        "--org",
        metavar="ORG_ID",
        default=default(None),
        help="the organisation (default: the acting user's)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress indicator on stderr",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="armox-enterprise",
        description="Enterprise accounts for an AI-generation product.",
        epilog=(
            "exit codes: 0 success, 1 a library error (or a ledger that does not reconcile), "
            "2 a usage or configuration error, 130 interrupted"
        ),
    )
    parser.add_argument("--version", action="version", version=__version__)
    _add_common_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, defaults=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    demo = commands.add_parser(
        "demo",
        help="walk through the Enterprise-accounts story on a fresh organisation",
        description="Walk through the Enterprise-accounts story on a fresh organisation.",
    )
    # Accepted after the command too; SUPPRESS keeps the global value when it is left out.
    demo.add_argument("--database-url", default=argparse.SUPPRESS, help="as above")
    demo.set_defaults(handler=_demo_command, schema="create")

    def leaf(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        summary: str,
        handler: _Handler,
        *,
        schema: SchemaMode = "require",
    ) -> argparse.ArgumentParser:
        command = group.add_parser(
            name, help=summary, description=f"{summary[0].upper()}{summary[1:]}.", parents=[common]
        )
        command.set_defaults(handler=handler, schema=schema)
        return command

    def group(name: str, summary: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        command = commands.add_parser(
            name, help=summary, description=f"{summary[0].upper()}{summary[1:]}.", parents=[common]
        )
        return command.add_subparsers(dest="action", metavar="ACTION", required=True)

    # Schema.
    migrate = leaf(
        commands,
        "migrate",
        "bring the library's tables to the newest revision with the shipped Alembic migrations",
        _migrate,
        schema="connect",
    )
    migrate.add_argument(
        "--stamp",
        action="store_true",
        help=(
            "tables made by create-schema or the demo of this version (no migration recorded): "
            "record them as up to date instead of failing"
        ),
    )
    leaf(
        commands,
        "create-schema",
        "create the library's tables that do not exist (prefer migrate in production)",
        _create_schema,
        schema="connect",
    )

    # Organisations and domains.
    org = group("org", "manage organisations")
    create = leaf(org, "create", "create an organisation with its first admin", _org_create)
    create.add_argument("name", help="the organisation's display name")
    create.add_argument("--admin", required=True, metavar="USER", help="the first admin's id")
    create.add_argument("--admin-email", required=True, metavar="EMAIL")
    create.add_argument("--admin-name", default="", metavar="NAME", help="shown on the dashboard")
    create.add_argument(
        "--allowance",
        type=_non_negative_int,
        default=0,
        metavar="CREDITS",
        help="credits granted to the pool every period (default: 0)",
    )
    create.add_argument(
        "--join-mode",
        choices=[mode.value for mode in JoinMode],
        default=JoinMode.AUTOMATIC.value,
        help="how users at a verified domain join (default: automatic)",
    )
    create.add_argument(
        "--seat-limit", type=_positive_int, metavar="N", help="the most active members allowed"
    )

    domains = group("domains", "claim, verify, remove and list email domains")
    add = leaf(domains, "add", "claim a domain; prints the DNS TXT record to publish", _domains_add)
    add.add_argument("domain")
    add.add_argument(
        "--include-subdomains", action="store_true", help="also enrol addresses at subdomains"
    )
    verify = leaf(
        domains, "verify", "look up the domain's TXT record and verify it", _domains_verify
    )
    verify.add_argument("domain")
    verify.add_argument(
        "--dns-timeout",
        type=_positive_number,
        default=5.0,
        metavar="SECONDS",
        help="how long the look-up may take (default: 5)",
    )
    verify.add_argument(
        "--nameserver",
        action="append",
        metavar="IP",
        help="ask this name server (repeatable; default: the system's)",
    )
    remove = leaf(domains, "remove", "give up a domain: it enrols nobody any more", _domains_remove)
    remove.add_argument("domain")
    leaf(domains, "list", "list the organisation's domain claims", _domains_list)

    # Members and credits.
    members = group("members", "list members and change roles")
    leaf(members, "list", "list the active members", _members_list)
    set_role = leaf(members, "set-role", "make a member an admin, or an admin a member", _set_role)
    set_role.add_argument("user")
    set_role.add_argument("role", choices=[role.value for role in Role])

    key_help = "an idempotency key: a retry with the same key has no second effect"
    allocate = leaf(commands, "allocate", "move credits from the pool to a member", _allocate)
    allocate.add_argument("user")
    allocate.add_argument("amount", type=int, metavar="CREDITS")
    allocate.add_argument("--key", help=key_help)
    reclaim = leaf(commands, "reclaim", "move credits from a member back to the pool", _reclaim)
    reclaim.add_argument("user")
    reclaim.add_argument("amount", type=int, metavar="CREDITS")
    reclaim.add_argument("--key", help=key_help)
    top_up = leaf(commands, "top-up", "add credits to the pool outside the monthly grant", _top_up)
    top_up.add_argument("amount", type=int, metavar="CREDITS")
    top_up.add_argument("--key", help=key_help)

    requests = group("requests", "list, approve and reject credit requests")
    listing = leaf(requests, "list", "list credit requests, oldest first", _requests_list)
    listing.add_argument(
        "--status",
        choices=[*(status.value for status in RequestStatus), "all"],
        default=RequestStatus.PENDING.value,
        help="which requests (default: pending)",
    )
    approve = leaf(requests, "approve", "approve a pending request", _requests_approve)
    approve.add_argument("request_id", metavar="REQUEST_ID")
    approve.add_argument(
        "--amount", type=int, metavar="CREDITS", help="another amount than the one asked"
    )
    approve.add_argument("--note", default="", help="a note for the member")
    approve.add_argument("--key", help=key_help)
    reject = leaf(requests, "reject", "reject a pending request", _requests_reject)
    reject.add_argument("request_id", metavar="REQUEST_ID")
    reject.add_argument("--note", default="", help="a note for the member")
    reject.add_argument("--key", help=key_help)

    # Views and exports.
    profile = leaf(commands, "profile", "show what a user's profile page shows", _profile)
    profile.add_argument("user")
    dashboard = leaf(commands, "dashboard", "show the admin dashboard", _dashboard)
    dashboard.add_argument(
        "--sort",
        choices=["name", "allocated", "used", "remaining", "last_activity"],
        default="name",
        help="sort the member table by (default: name)",
    )
    dashboard.add_argument("--desc", action="store_true", help="sort in descending order")
    dashboard.add_argument("--page", type=_positive_int, default=1, metavar="N")
    dashboard.add_argument(
        "--page-size", type=_positive_int, default=50, metavar="N", help="at most 500"
    )

    export = group("export", "export usage or the ledger as CSV")
    for kind, summary in (
        ("usage", "one CSV line per spend, captured hold and refund"),
        ("ledger", "one CSV line per transfer"),
    ):
        command = leaf(export, kind, summary, _export)
        command.add_argument("--first-period", type=_non_negative_int, metavar="INDEX")
        command.add_argument(
            "--last-period",
            type=_non_negative_int,
            metavar="INDEX",
            help="default: the current period (and --first-period: the last)",
        )
        if kind == "usage":
            command.add_argument("--user", help="only this member's usage")
        command.add_argument(
            "-o", "--output", type=Path, metavar="FILE", help="write to FILE (default: stdout)"
        )

    # Jobs.
    periods = group("periods", "the period job")
    leaf(
        periods,
        "close-due",
        "close every period whose end has passed and open the next",
        _close_due,
    )
    ledger = group("ledger", "check the ledger")
    leaf(
        ledger,
        "verify",
        "reconcile the ledger of every organisation (or --org); exit 1 on a problem",
        _ledger_verify,
    )
    events = group("events", "the outbox")
    relay = leaf(events, "relay", "print unpublished events as JSON lines, marking them", _relay)
    relay.add_argument("--follow", action="store_true", help="keep polling for new events")
    relay.add_argument(
        "--interval",
        type=_positive_number,
        default=1.0,
        metavar="SECONDS",
        help="how long --follow waits when nothing is left (default: 1)",
    )
    relay.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N events")
    relay.add_argument(
        "--batch",
        type=_positive_int,
        default=100,
        metavar="N",
        help="events per transaction (default: 100, at most 10000)",
    )
    alerts = group("alerts", "the alert job")
    check = leaf(
        alerts, "check", "raise the usage, pool and waiting-request alerts that are due", _alerts
    )
    check.add_argument(
        "--request-alert-after",
        type=_positive_number,
        default=24.0,
        metavar="HOURS",
        help="how long a request may wait before it raises an alert (default: 24)",
    )
    return parser


# ---------------------------------------------------------------------- running a command


def run(
    argv: Sequence[str],
    *,
    store: Store | None = None,
    dns: DnsResolver | None = None,
    clock: Clock | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Parse ``argv`` (without the program name), run the command, return the exit code.

    The keyword arguments replace what the command would otherwise use, for tests and for
    hosts that run the commands in-process: ``store`` instead of opening ``--database-url``
    (it is not closed), ``dns`` instead of dnspython, ``clock`` instead of the system clock,
    ``stdout`` and ``stderr`` instead of the process's, and ``sleep`` instead of
    :func:`time.sleep` between the polls of ``events relay --follow``.
    """
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    parser = _parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(list(argv))
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_usage(err)
        print("error: choose a command, e.g. 'demo'", file=err)
        return EXIT_USAGE
    as_json = bool(getattr(args, "json", False))
    url = str(args.database_url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL)
    try:
        opened = store if store is not None else open_store(url, schema=args.schema)
    except ConfigurationError as exc:
        return _fail(err, exc, EXIT_USAGE, as_json=as_json)
    context = _Context(
        args=args,
        store=opened,
        url=url,
        out=out,
        err=err,
        clock=clock if clock is not None else SystemClock(),
        dns=dns,
        sleep=sleep if sleep is not None else time.sleep,
    )
    handler: _Handler = args.handler
    try:
        return handler(context)
    except ConfigurationError as exc:
        return _fail(err, exc, EXIT_USAGE, as_json=as_json)
    except ArmoxError as exc:
        return _fail(err, exc, EXIT_ERROR, as_json=as_json)
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        _silence(out)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED
    finally:
        if store is None:
            _close(opened)


def _fail(err: TextIO, exc: Exception, code: int, *, as_json: bool) -> int:
    """Report ``exc`` on ``err`` (as ``error: ...`` or a JSON object) and return ``code``."""
    if not as_json:
        print(f"error: {exc}", file=err)
        return code
    error: dict[str, object] = {"type": type(exc).__name__, "message": str(exc), "exit_code": code}
    if isinstance(exc, InsufficientCredits):
        error.update(available=exc.available, requested=exc.requested, can_request=exc.can_request)
    if isinstance(exc, EnrolmentRefused):
        error["reason"] = exc.reason.value
    print(json.dumps({"error": error}), file=err)
    return code


def _silence(stream: TextIO) -> None:
    """Point a closed pipe's descriptor at /dev/null, so the flush at exit does not fail too."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        descriptor = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, descriptor)
        os.close(devnull)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class _Context:
    """What a command runs with: its arguments, the store, the streams, the clock."""

    args: argparse.Namespace
    store: Store
    url: str
    out: TextIO
    err: TextIO
    clock: Clock
    dns: DnsResolver | None
    sleep: Callable[[float], None]

    @property
    def as_json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def command(self) -> str:
        action = getattr(self.args, "action", None)
        return str(self.args.command) if action is None else f"{self.args.command} {action}"

    def service(
        self, *, dns: DnsResolver | None = None, request_alert_after: timedelta | None = None
    ) -> EnterpriseService:
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
            print(json.dumps(_jsonable(data), indent=2), file=self.out)
        else:
            for line in lines:
                print(line, file=self.out)

    def progress(
        self, label: str, unit: str, *, total: int | None = None, wanted: bool = True
    ) -> _Progress:
        """A progress line on stderr: shown only on a terminal, and not with ``--quiet``."""
        enabled = wanted and not getattr(self.args, "quiet", False) and _isatty(self.err)
        return _Progress(self.err, label, unit, total=total, enabled=enabled)


class _Progress:
    """A counter on one line of a terminal, redrawn at most every ``_PROGRESS_INTERVAL``."""

    def __init__(
        self, stream: TextIO, label: str, unit: str, *, total: int | None, enabled: bool
    ) -> None:
        self.count = 0
        self._stream = stream
        self._label = label
        self._unit = unit
        self._total = total
        self._enabled = enabled
        self._drawn_at: float | None = None

    def advance(self, step: int = 1) -> None:
        self.count += step
        if self._enabled:
            now = time.monotonic()
            if self._drawn_at is None or now - self._drawn_at >= _PROGRESS_INTERVAL:
                self._draw(now)

    def finish(self) -> None:
        """Draw the final count and end the line."""
        if self._enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, now: float) -> None:
        of = "" if self._total is None else f"/{self._total:,}"
        self._stream.write(f"\r{self._label}: {self.count:,}{of} {self._unit}")
        self._stream.flush()
        self._drawn_at = now


# ---------------------------------------------------------------------- output


def _jsonable(value: object) -> object:
    """Return ``value`` as JSON-compatible data: records as objects, instants in ISO 8601."""
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (DomainName, EmailAddress)):
        return str(value)
    if attrs.has(type(value)):
        fields = attrs.asdict(value, recurse=False)  # type: ignore[arg-type]
        return {name: _jsonable(field) for name, field in fields.items()}
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    return str(value)


def _organisation_data(org: Organisation) -> dict[str, object]:
    data = _jsonable(org)
    assert isinstance(data, dict)
    return {**data, "current_period": _jsonable(org.current_period)}


def _claim_data(claim: DomainClaim) -> dict[str, object]:
    data = _jsonable(claim)
    assert isinstance(data, dict)
    return {**data, "verified": claim.is_verified, "txt_record": claim.txt_record}


def _event_data(event: StoredEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "organisation_id": event.organisation_id,
        "name": event.name,
        "actor": event.actor,
        "occurred_at": _jsonable(event.occurred_at),
        "payload": _jsonable(event.payload),
    }


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = ()
) -> list[str]:
    """Lay ``rows`` out in columns under ``header``; the ``right`` columns are right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _credits(amount: int) -> str:
    return f"{amount:,} credit" if amount == 1 else f"{amount:,} credits"


def _request_rows(requests: Sequence[CreditRequest]) -> list[str]:
    return _table(
        ("request", "user", "amount", "approved", "status", "asked", "note"),
        [
            (
                request.id,
                request.user_id,
                f"{request.amount:,}",
                "-" if request.approved_amount is None else f"{request.approved_amount:,}",
                request.status.value,
                _when(request.created_at),
                request.note,
            )
            for request in requests
        ],
        right=(2, 3),
    )


# ---------------------------------------------------------------------- schema commands


def _demo_command(context: _Context) -> int:
    with contextlib.redirect_stderr(context.err):
        return run_demo(context.store, context.out, database_url=context.url)


def _create_schema(context: _Context) -> int:
    create = getattr(context.store, "create_schema", None)
    if create is None:
        raise ConfigurationError(
            "the in-memory store has no tables to create: pass an SQL --database-url"
        )
    create()
    where = _masked(context.url)
    context.emit(
        {"database_url": where, "created": True},
        [
            f"Created the armox-enterprise tables missing from {where}.",
            "In production prefer 'migrate': migrations are how later versions change the tables.",
        ],
    )
    return EXIT_OK


def _migrate(context: _Context) -> int:
    engine = getattr(context.store, "engine", None)
    if engine is None:
        raise ConfigurationError(
            "the in-memory store has no tables to migrate: pass an SQL --database-url"
        )
    try:
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.util import CommandError
        from sqlalchemy import exc as sa_exc
        from sqlalchemy import inspect

        from armox_enterprise.adapters.sqlalchemy import migrations
    except ImportError as exc:
        raise ConfigurationError(
            f"migrations need the 'sqlalchemy' extra, with Alembic ({exc}); install it with "
            "pip install 'armox-enterprise[sqlalchemy]'"
        ) from exc

    def revision() -> str | None:
        with engine.connect() as connection:
            options = {"version_table": _VERSION_TABLE}
            heads = MigrationContext.configure(connection, opts=options).get_current_heads()
        return ",".join(heads) or None

    where = _masked(context.url)
    try:
        before = revision()
        table = context.store.tables.organisations  # type: ignore[attr-defined]
        unrecorded = before is None and inspect(engine).has_table(table.name, schema=table.schema)
        if unrecorded and not context.args.stamp:
            raise StorageError(
                f"the armox-enterprise tables in {where} exist but no migration was recorded "
                "(create-schema or the demo made them); if this version of the library made "
                "them, run 'armox-enterprise migrate --stamp' to record them as up to date"
            )
        if unrecorded:
            command.stamp(migrations.alembic_config(engine), "heads")
        else:
            migrations.upgrade(engine)
        after = revision()
    except (sa_exc.SQLAlchemyError, CommandError) as exc:
        raise StorageError(f"the migration of {where} failed: {exc}") from exc
    if unrecorded:
        line = f"Recorded the armox-enterprise tables in {where} as at revision {after}."
    elif before is None:
        line = f"Created the armox-enterprise tables in {where} at revision {after}."
    elif before == after:
        line = f"The armox-enterprise tables in {where} are up to date (revision {after})."
    else:
        line = f"Migrated the armox-enterprise tables in {where} from {before} to {after}."
    context.emit(
        {"database_url": where, "from": before, "to": after, "stamped": unrecorded}, [line]
    )
    return EXIT_OK


# ---------------------------------------------------------------------- organisations, domains


def _org_create(context: _Context) -> int:
    args = context.args
    org = context.service().create_organisation(
        name=args.name,
        admin_user_id=args.admin,
        admin_email=args.admin_email,
        admin_display_name=args.admin_name,
        monthly_allowance=args.allowance,
        join_mode=JoinMode(args.join_mode),
        seat_limit=args.seat_limit,
    )
    period = org.current_period
    seats = "no seat limit" if org.seat_limit is None else f"seat limit {org.seat_limit:,}"
    context.emit(
        _organisation_data(org),
        [
            f"Created organisation {org.name!r}: {org.id}",
            f"First admin: {args.admin} <{args.admin_email}>",
            f"Monthly allowance: {_credits(org.monthly_allowance)}, granted each period",
            f"Join mode: {org.join_mode.value}; {seats}",
            f"Period {period.index}: {_when(period.start)} to {_when(period.end)}",
        ],
    )
    return EXIT_OK


def _domains_add(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    org = context.organisation(service, actor)
    args = context.args
    claim = service.claim_domain(
        actor, org, args.domain, include_subdomains=args.include_subdomains
    )
    scope = " and its subdomains" if claim.include_subdomains else ""
    if claim.is_verified:
        lines = [f"{claim.domain}{scope} is already claimed and verified by the organisation."]
    else:
        lines = [
            f"Claimed {claim.domain}{scope} for organisation {org}.",
            "It enrols nobody until it is verified. Publish this DNS TXT record on it:",
            f"  {claim.txt_record}",
            f"then run: armox-enterprise domains verify {claim.domain}",
        ]
    context.emit(_claim_data(claim), lines)
    return EXIT_OK


def _dns_resolver(timeout: float, nameservers: Sequence[str] | None) -> DnsResolver:
    try:
        from armox_enterprise.adapters.dns import DnsPythonResolver

        return DnsPythonResolver(lifetime=timeout, nameservers=nameservers)
    except ImportError as exc:
        raise ConfigurationError(
            "'domains verify' looks up DNS with dnspython, which is not installed; install the "
            "'dns' extra: pip install 'armox-enterprise[dns]'"
        ) from exc


def _domains_verify(context: _Context) -> int:
    args = context.args
    actor = context.actor()
    resolver = context.dns or _dns_resolver(args.dns_timeout, args.nameserver)
    service = context.service(dns=resolver)
    org = context.organisation(service, actor)
    claim = service.verify_domain(actor, org, args.domain)
    context.emit(
        _claim_data(claim),
        [
            f"{claim.domain} is verified (since {_when(claim.verified_at)}): users who sign up "
            "with a verified address at it join the organisation."
        ],
    )
    return EXIT_OK


def _domains_remove(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    org = context.organisation(service, actor)
    service.remove_domain(actor, org, context.args.domain)
    domain = str(DomainName.parse(context.args.domain))
    context.emit(
        {"domain": domain, "removed": True},
        [f"Removed {domain}: it enrols nobody from now on; its members stay."],
    )
    return EXIT_OK


def _domains_list(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    claims = service.list_domains(actor, context.organisation(service, actor))
    rows = [
        (
            str(claim.domain),
            "verified" if claim.is_verified else "unverified",
            "yes" if claim.include_subdomains else "no",
            _when(claim.claimed_at),
            claim.txt_record,
        )
        for claim in claims
    ]
    header = ("domain", "status", "subdomains", "claimed", "TXT record")
    lines = _table(header, rows) if rows else ["No domains are claimed."]
    context.emit([_claim_data(claim) for claim in claims], lines)
    return EXIT_OK


# ---------------------------------------------------------------------- members and credits


def _members_list(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    members = service.list_members(actor, context.organisation(service, actor))
    rows = [
        (
            member.user_id,
            member.role.value,
            f"{member.standing_allotment:,}",
            member.display_name,
            str(member.email),
            _when(member.joined_at),
        )
        for member in members
    ]
    header = ("user", "role", "monthly", "name", "email", "joined")
    count = f"{len(members):,} active member{'' if len(members) == 1 else 's'}."
    context.emit(members, [*_table(header, rows, right=(2,)), count])
    return EXIT_OK


def _set_role(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    org = context.organisation(service, actor)
    member = service.change_role(actor, org, context.args.user, Role(context.args.role))
    role = "an admin" if member.role is Role.ADMIN else "a member"
    context.emit(member, [f"{member.user_id} is now {role} of organisation {org}."])
    return EXIT_OK


def _allocate(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    args = context.args
    transfer = service.allocate_credits(
        actor,
        context.organisation(service, actor),
        args.user,
        args.amount,
        idempotency_key=args.key,
    )
    context.emit(
        transfer,
        [f"Allocated {_credits(transfer.amount)} from the pool to {args.user} ({transfer.id})."],
    )
    return EXIT_OK


def _reclaim(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    args = context.args
    transfer = service.reclaim_credits(
        actor,
        context.organisation(service, actor),
        args.user,
        args.amount,
        idempotency_key=args.key,
    )
    context.emit(
        transfer,
        [f"Reclaimed {_credits(transfer.amount)} from {args.user} to the pool ({transfer.id})."],
    )
    return EXIT_OK


def _top_up(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    args = context.args
    transfer = service.top_up(
        actor, context.organisation(service, actor), args.amount, idempotency_key=args.key
    )
    context.emit(transfer, [f"Added {_credits(transfer.amount)} to the pool ({transfer.id})."])
    return EXIT_OK


def _requests_list(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    wanted = context.args.status
    status = None if wanted == "all" else RequestStatus(wanted)
    requests = service.list_requests(actor, context.organisation(service, actor), status=status)
    if requests:
        lines = _request_rows(requests)
    else:
        lines = ["No credit requests." if status is None else f"No {status.value} credit requests."]
    context.emit(requests, lines)
    return EXIT_OK


def _requests_approve(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    args = context.args
    request = service.approve_request(
        actor,
        context.organisation(service, actor),
        args.request_id,
        amount=args.amount,
        note=args.note,
        idempotency_key=args.key,
    )
    approved = request.approved_amount or 0
    context.emit(
        request,
        [
            f"Approved request {request.id}: {approved:,} of the {_credits(request.amount)} "
            f"{request.user_id} asked for moved from the pool to them."
        ],
    )
    return EXIT_OK


def _requests_reject(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    args = context.args
    request = service.reject_request(
        actor,
        context.organisation(service, actor),
        args.request_id,
        note=args.note,
        idempotency_key=args.key,
    )
    context.emit(
        request,
        [f"Rejected request {request.id}: {request.user_id} asked for {_credits(request.amount)}."],
    )
    return EXIT_OK


# ---------------------------------------------------------------------- views and exports


def _profile(context: _Context) -> int:
    view = context.service().profile(context.args.user)
    context.emit(view, _profile_lines(view))
    return EXIT_OK


def _profile_lines(view: ProfileView) -> list[str]:
    section = view.credits
    if not view.is_enterprise or section is None:
        return [f"{view.user_id} is not an Enterprise member: the host shows its usual page."]
    role = "member" if view.role is None else view.role.value
    carried = f" | carried in {section.carried_in:,}" if section.carried_in else ""
    button = "enabled" if section.can_request else f"disabled ({section.request_blocked_reason})"
    lines = [
        f"{view.user_id}: Enterprise badge {view.badge!r} ({role} of {view.organisation_id})",
        f"Enterprise Credits, {_when(section.period_start)} to {_when(section.resets_at)}:",
        f"  {_credits_line(section)}{carried}",
        f"  request button {button}",
    ]
    pending = section.pending_request
    if pending is not None:
        lines.append(
            f"  pending request {pending.id}: {_credits(pending.amount)}, "
            f"asked {_when(pending.created_at)}"
        )
    hidden = "hidden" if view.subscription_management_hidden else "shown"
    lines.append(f"Subscription management: {hidden}")
    return lines


def _dashboard(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    args = context.args
    board = service.dashboard(
        actor,
        context.organisation(service, actor),
        sort=args.sort,
        descending=args.desc,
        offset=(args.page - 1) * args.page_size,
        limit=args.page_size,
    )
    context.emit(board, _dashboard_lines(board))
    return EXIT_OK


def _dashboard_lines(board: Dashboard) -> list[str]:
    pool = board.pool
    lines = [
        f"{board.name} ({board.organisation_id})",
        f"Period {pool.period_index}: {_when(pool.period_start)} to {_when(pool.resets_at)}",
        f"Pool: granted {pool.granted:,} | topped up {pool.topped_up:,} | carried over "
        f"{pool.carried_over:,} | allocated {pool.allocated:,} | unallocated "
        f"{pool.unallocated:,} | used {pool.used:,} ({pool.utilisation:.0%})",
        "",
    ]
    page = board.page
    rows = [
        (
            row.display_name,
            row.user_id,
            row.role.value,
            f"{row.allocated:,}",
            f"{row.used:,}",
            f"{row.remaining:,}",
            f"{row.on_hold:,}",
            f"{row.standing_allotment:,}",
            _when(row.last_activity),
        )
        for row in board.members
    ]
    header = (
        "member",
        "user",
        "role",
        "allocated",
        "used",
        "remaining",
        "on hold",
        "monthly",
        "last activity",
    )
    order = "descending" if page.descending else "ascending"
    if rows:
        lines += _table(header, rows, right=range(3, 8))
        first, last = page.offset + 1, page.offset + len(rows)
        shown = f"Members {first:,}-{last:,} of {board.total_members:,}"
    else:
        shown = f"No members on this page ({board.total_members:,} in all)"
    lines.append(f"{shown}, sorted by {page.sort} ({order}).")
    if page.offset + len(rows) < board.total_members:
        lines.append(f"Next page: --page {page.offset // page.limit + 2}")
    lines.append("")
    if board.pending_requests:
        lines.append(f"Pending requests ({len(board.pending_requests)}):")
        lines += [f"  {line}" for line in _request_rows(board.pending_requests)]
    else:
        lines.append("No pending requests.")
    return lines


def _export(context: _Context) -> int:
    service = context.service()
    actor = context.actor()
    args = context.args
    kind = str(args.action)
    org = context.organisation(service, actor)
    if kind == "usage":
        lines = service.export_usage_csv(
            actor,
            org,
            first_period=args.first_period,
            last_period=args.last_period,
            user_id=args.user,
        )
    else:
        lines = service.export_ledger_csv(
            actor, org, first_period=args.first_period, last_period=args.last_period
        )
    label = f"exporting {kind}"
    output: Path | None = args.output
    with contextlib.closing(lines):
        if output is None:
            # On a terminal, a progress line would break into the CSV shown on it.
            progress = context.progress(label, "rows", wanted=not _isatty(context.out))
            _copy_csv(lines, context.out, progress)
            return EXIT_OK
        rows = _export_to_file(lines, output, context.progress(label, "rows"))
    context.emit(
        {"export": kind, "output": str(output), "rows": rows},
        [f"Wrote {rows:,} {kind} row{'' if rows == 1 else 's'} to {output}."],
    )
    return EXIT_OK


def _copy_csv(lines: Iterator[str], sink: TextIO, progress: _Progress) -> int:
    """Write the header and the rows of ``lines`` to ``sink``; return how many rows."""
    header = next(lines, None)
    if header is not None:
        sink.write(header)
    for line in lines:
        sink.write(line)
        progress.advance()
    sink.flush()
    progress.finish()
    return progress.count


def _export_to_file(lines: Iterator[str], output: Path, progress: _Progress) -> int:
    """Write the export beside ``output`` and move it there once complete."""
    partial = output.with_name(f"{output.name}.partial")
    try:
        handle = partial.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {output}: {exc.strerror or exc}") from exc
    try:
        with handle:
            rows = _copy_csv(lines, handle, progress)
        partial.replace(output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return rows


# ---------------------------------------------------------------------- jobs


def _close_due(context: _Context) -> int:
    service = context.service()
    with context.store.unit_of_work() as uow:
        due = len(uow.organisations.due_for_turnover(context.clock.now()))
    progress = context.progress("closing due periods", "organisations", total=due)
    opened: set[str] = set()

    def count(event: Event) -> None:
        # One unit of work per organisation: its events arrive as soon as it has turned over.
        if isinstance(event, PeriodOpened) and event.organisation_id not in opened:
            opened.add(event.organisation_id)
            progress.advance()

    service.subscribe(count)
    turned = service.close_due_periods()
    progress.finish()
    if turned:
        line = f"Turned {len(turned):,} organisation(s) over to their next period."
    else:
        line = "No organisation had a period to close."
    context.emit({"turned_over": turned}, [line])
    return EXIT_OK


def _ledger_verify(context: _Context) -> int:
    service = context.service()
    org = getattr(context.args, "org", None)
    if org:
        ids = [str(org)]
    else:
        with context.store.unit_of_work() as uow:
            ids = uow.organisations.all_ids()
    progress = context.progress("verifying ledgers", "organisations", total=len(ids))
    problems: list[tuple[str, str]] = []
    for org_id in ids:
        problems += [(org_id, problem) for problem in service.reconcile(org_id)]
        progress.advance()
    progress.finish()
    failing = len({org_id for org_id, _ in problems})
    data = {
        "organisations": len(ids),
        "problems": [{"organisation_id": org_id, "problem": text} for org_id, text in problems],
    }
    if problems:
        lines = [f"{org_id}: {text}" for org_id, text in problems]
    else:
        lines = [
            f"Verified the ledgers of {len(ids):,} organisation(s): every cached balance "
            "matches its transfers and every balance sums to zero."
        ]
    context.emit(data, lines)
    if not problems:
        return EXIT_OK
    if not context.as_json:
        print(
            f"error: the ledgers of {failing:,} of {len(ids):,} organisation(s) do not reconcile",
            file=context.err,
        )
    return EXIT_ERROR


def _relay(context: _Context) -> int:
    args = context.args
    service = context.service()

    def publish(events: Sequence[StoredEvent]) -> None:
        for event in events:
            context.out.write(json.dumps(_event_data(event), separators=(",", ":")) + "\n")
        # Flushed inside the relay's transaction: events are marked published only once
        # they have left the process.
        context.out.flush()

    relayed = 0
    try:
        while True:
            batch = args.batch if args.limit is None else min(args.batch, args.limit - relayed)
            count = service.relay(publish, limit=batch)
            relayed += count
            if args.limit is not None and relayed >= args.limit:
                break
            if count == batch:
                continue  # a full batch: more may be waiting
            if not args.follow:
                break
            context.sleep(args.interval)
    except KeyboardInterrupt:
        if not args.follow:
            raise
    return EXIT_OK


def _alerts(context: _Context) -> int:
    after = timedelta(hours=context.args.request_alert_after)
    service = context.service(request_alert_after=after)
    org = getattr(context.args, "org", None)
    raised = service.check_alerts(str(org) if org else None)
    if raised:
        line = f"Raised {raised:,} alert(s); 'events relay' hands them to the host."
    else:
        line = "No alerts were due."
    context.emit({"raised": raised}, [line])
    return EXIT_OK


# ---------------------------------------------------------------------- the demo


class _Story:
    """Prints the demo as numbered steps with indented lines."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._steps = 0

    def step(self, title: str) -> None:
        self._steps += 1
        print(f"\n{self._steps}. {title}", file=self._out)

    def say(self, line: str = "") -> None:
        print(f"   {line}".rstrip(), file=self._out)


def _when(instant: datetime | None) -> str:
    return "-" if instant is None else instant.strftime("%Y-%m-%d %H:%M UTC")


def _credits_line(section: EnterpriseCredits) -> str:
    return (
        f"allocated {section.allocated:,} | used {section.used:,} | "
        f"remaining {section.remaining:,} | on hold {section.on_hold:,}"
    )


def _member_table(board: Dashboard) -> list[str]:
    header = ("member", "role", "allocated", "used", "remaining", "on hold", "monthly")
    rows = [
        (
            row.display_name,
            row.role.value,
            f"{row.allocated:,}",
            f"{row.used:,}",
            f"{row.remaining:,}",
            f"{row.on_hold:,}",
            f"{row.standing_allotment:,}",
        )
        for row in board.members
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        second = cells[1].ljust(widths[1])
        numbers = "  ".join(c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True))
        return f"{first}  {second}  {numbers}"

    return [line(header), *(line(r) for r in rows)]


def run_demo(
    store: Store, out: TextIO, *, database_url: str = MEMORY_URL, run_id: str | None = None
) -> int:
    """Tell the Enterprise-accounts story on ``store``, printing it to ``out``.

    Every run creates its own organisation, domain and users (suffixed with ``run_id``, random
    by default), so it can run again and again on the same database.

    Returns:
        0 when the ledger reconciles at the end, 1 when it does not.

    Raises:
        ArmoxError: a call of the library failed unexpectedly.
    """
    demo = _Demo(store, out, run_id or secrets.token_hex(3))
    print(f"armox-enterprise demo (run {demo.run_id}, store {_masked(database_url)})", file=out)
    demo.organisation()
    demo.domain()
    demo.sign_ups()
    demo.allocations()
    demo.generations()
    demo.running_out()
    demo.decisions()
    demo.profiles()
    demo.dashboard()
    demo.turnover()
    if not demo.reconciliation():
        return EXIT_ERROR
    where = (
        "The memory store is discarded on exit."
        if database_url == MEMORY_URL
        else f"The data stays in {_masked(database_url)}; each run adds its own organisation."
    )
    print(f"\nDone. {where}", file=out)
    return EXIT_OK


class _Demo:
    """The demo's cast and state; one method per step of the story."""

    def __init__(self, store: Store, out: TextIO, run_id: str) -> None:
        self.run_id = run_id
        self.clock = FrozenClock(_DEMO_START)
        self.dns = StaticDnsResolver()
        self.service = EnterpriseService(store, clock=self.clock, dns=self.dns)
        self.events: list[Event] = []
        self.service.subscribe(self.events.append)
        self.story = _Story(out)
        self.domain_name = f"acme-{run_id}.example"
        self.ana, self.bruno, self.carla, self.dani = (
            f"{name}-{run_id}" for name in ("ana", "bruno", "carla", "dani")
        )
        self.names = {self.ana: "Ana", self.bruno: "Bruno", self.carla: "Carla"}
        self.org_id = ""
        self.carla_request = ""
        self.bruno_request = ""

    def say(self, line: str = "") -> None:
        self.story.say(line)

    def board(self) -> Dashboard:
        return self.service.dashboard(self.ana, self.org_id)

    def organisation(self) -> None:
        self.story.step("An organisation with a monthly pool")
        org = self.service.create_organisation(
            name=f"Acme {self.run_id}",
            admin_user_id=self.ana,
            admin_email=f"ana@{self.domain_name}",
            admin_display_name="Ana",
            monthly_allowance=_ALLOWANCE,
        )
        self.org_id = org.id
        period = org.current_period
        self.say(f"Organisation {org.name!r} created; Ana ({self.ana}) is its admin.")
        self.say(f"Monthly allowance: {_ALLOWANCE:,} credits, granted to the pool each period.")
        self.say(f"Period {period.index}: {_when(period.start)} to {_when(period.end)}")
        self.say(
            "(the cycle is anchored on the 31st; February has no 31st, so it ends on the 28th)"
        )
        self.say(f"Pool: {self.board().pool.unallocated:,} credits unallocated.")

    def domain(self) -> None:
        self.story.step("A verified company domain")
        claim = self.service.claim_domain(self.ana, self.org_id, self.domain_name)
        self.say(f"Ana claims {claim.domain}; a claim enrols nobody until it is verified.")
        self.say(f"DNS TXT record to publish: {claim.txt_record}")
        self.dns.publish(self.domain_name, claim.txt_record)
        claim = self.service.verify_domain(self.ana, self.org_id, self.domain_name)
        self.say(f"Record found: {claim.domain} verified at {_when(claim.verified_at)}.")
        try:
            self.service.claim_domain(self.ana, self.org_id, "gmail.com")
        except DomainNotClaimable:
            self.say("Claiming gmail.com is refused (DomainNotClaimable): a free-mail provider.")

    def sign_ups(self) -> None:
        self.story.step("Employees sign up (the host calls sign_up)")
        domain = self.domain_name
        people = [
            (self.bruno, f"bruno@{domain}", True, "Bruno"),
            (self.carla, f"Carla@{domain.upper()}", True, "Carla"),
            (self.dani, "dani@gmail.com", True, "Dani"),
            (f"edu-{self.run_id}", "edu@bol.com.br", True, "Edu"),
            (f"fabi-{self.run_id}", f"fabi@{domain}", False, "Fabi"),
            (f"gus-{self.run_id}", "gus@globex.example", True, "Gus"),
        ]
        width = max(len(email) for _, email, _, _ in people)
        for user, email, verified, name in people:
            decision = self.service.sign_up(user, email, email_verified=verified, display_name=name)
            state = "verified" if verified else "unverified"
            self.say(
                f"{email.ljust(width)}  {state:<10}  -> {decision.outcome.value} "
                f"(EnrolmentReason.{decision.reason.name})"
            )

    def allocations(self) -> None:
        self.story.step("The admin allocates credits from the pool")
        self.service.allocate_credits(self.ana, self.org_id, self.bruno, 3_000)
        self.service.allocate_credits(self.ana, self.org_id, self.carla, 1_000)
        self.service.set_standing_allotment(self.ana, self.org_id, self.bruno, 2_000)
        self.say("Ana allocates 3,000 credits to Bruno and 1,000 to Carla for this period,")
        self.say("and gives Bruno a standing allotment of 2,000, re-issued at each period opening.")
        self.say(f"Pool: {self.board().pool.unallocated:,} credits unallocated.")

    def generations(self) -> None:
        self.story.step("Members generate")
        spend = self.service.spend
        first = spend(self.bruno, self.org_id, 400, generation_id="gen-1", feature="image")
        self.say(f"Bruno's image gen-1 spends 400 credits (transfer {first.id}).")
        again = spend(self.bruno, self.org_id, 400, generation_id="gen-1", feature="image")
        replayed = "the same transfer" if again.id == first.id else "a NEW transfer"
        self.say(f"His client retries gen-1: it gets {replayed} back; nothing is charged twice.")
        spend(self.bruno, self.org_id, 250, generation_id="gen-2", feature="image")
        self.say("Bruno's image gen-2 spends 250 credits.")
        hold = self.service.reserve(
            self.carla, self.org_id, 600, generation_id="gen-3", feature="video"
        )
        self.say(f"Carla's video gen-3 takes a while: it reserves 600 credits (hold {hold.id})")
        done = self.service.capture_hold(self.carla, self.org_id, hold.id, 450)
        released = done.amount - done.captured
        self.say(f"It finishes: {done.captured:,} are captured, the other {released:,} released.")
        left = {self.names[row.user_id]: row.remaining for row in self.board().members}
        self.say(f"Remaining: Bruno {left['Bruno']:,}, Carla {left['Carla']:,}.")

    def running_out(self) -> None:
        self.story.step("A member runs out and asks for more")
        try:
            self.service.spend(self.carla, self.org_id, 800, generation_id="gen-4", feature="video")
        except InsufficientCredits as exc:
            self.say("Carla's video gen-4 needs 800 credits and is refused:")
            self.say(
                f"  InsufficientCredits(available={exc.available:,}, "
                f"requested={exc.requested:,}, can_request={exc.can_request})"
            )
        request = self.service.request_credits(
            self.carla, self.org_id, 1_000, note="Video campaign for the launch"
        )
        self.carla_request = request.id
        self.say(f"Carla requests {request.amount:,} credits: {request.status.value}.")
        request = self.service.request_credits(self.bruno, self.org_id, 5_000, note="Just in case")
        self.bruno_request = request.id
        self.say(
            f"Bruno requests {request.amount:,} credits, just in case: {request.status.value}."
        )

    def decisions(self) -> None:
        self.story.step("The admin decides")
        approved = self.service.approve_request(
            self.ana, self.org_id, self.carla_request, amount=500, note="500 for now"
        )
        self.say(
            f"Ana approves Carla's request for {approved.approved_amount or 0:,} of the "
            f"{approved.amount:,} asked: {approved.status.value}; the pool pays it at once."
        )
        rejected = self.service.reject_request(
            self.ana, self.org_id, self.bruno_request, note="You still have 2,350 credits"
        )
        self.say(f"Ana rejects Bruno's: {rejected.status.value} ({rejected.decision_note!r}).")
        self.service.spend(self.carla, self.org_id, 800, generation_id="gen-4", feature="video")
        self.say("Carla retries gen-4: 800 credits spent.")
        later = self.service.request_credits(self.bruno, self.org_id, 300, note="A few more images")
        self.say(f"Bruno asks again, for {later.amount:,}; nobody decides before the period ends.")

    def profiles(self) -> None:
        self.story.step("What members see: the profile view")
        for user in (self.carla, self.bruno):
            profile = self.service.profile(user)
            section = profile.credits
            if section is None:  # pragma: no cover - both are members
                continue
            button = (
                "enabled" if section.can_request else f"disabled ({section.request_blocked_reason})"
            )
            self.say(f"{self.names[user]}: Enterprise badge {profile.badge!r}")
            self.say(f"  Enterprise Credits: {_credits_line(section)}")
            self.say(f"  resets {_when(section.resets_at)}; request button {button}")
            self.say(f"  subscription management hidden: {profile.subscription_management_hidden}")
        outsider = self.service.profile(self.dani)
        self.say(
            f"Dani (signed up with gmail.com): is_enterprise={outsider.is_enterprise}; "
            "the host shows its usual page."
        )

    def dashboard(self) -> None:
        self.story.step("What the admin sees: the dashboard")
        board = self.board()
        pool = board.pool
        self.say(
            f"Pool, period {pool.period_index}: granted {pool.granted:,} | allocated "
            f"{pool.allocated:,} | unallocated {pool.unallocated:,} | used {pool.used:,} "
            f"({pool.utilisation:.0%})"
        )
        for line in _member_table(board):
            self.say(f"  {line}")
        for request in board.pending_requests:
            self.say(
                f"Pending: {self.names[request.user_id]} asks for {request.amount:,} "
                f"({request.note!r})."
            )

    def turnover(self) -> None:
        self.story.step("The period turns over")
        before = self.board()
        unspent = sum(row.remaining for row in before.members)
        self.clock.set(before.pool.resets_at + timedelta(minutes=1))
        self.events.clear()
        turned = self.service.close_due_periods()
        self.say(f"The clock moves to {_when(self.clock.now())}, past the period's end,")
        self.say(
            "and the period job (close_due_periods) turns the organisation over"
            + ("." if self.org_id in turned else ": it already had.")
        )
        for event in self.events:
            if event.organisation_id != self.org_id:
                continue
            if isinstance(event, CreditRequestDecided):
                who = self.names.get(event.user_id, event.user_id)
                self.say(f"{who}'s pending request: {event.status} with its period.")
            elif isinstance(event, PeriodClosed):
                self.say(
                    f"Period {event.period_index} closed: {event.expired:,} credits expired "
                    f"(the pool's {before.pool.unallocated:,} unallocated"
                )
                self.say(
                    f"  and the members' {unspent:,} unspent: the default rollover policy); "
                    f"{event.carried_over:,} carried over."
                )
            elif isinstance(event, PeriodOpened):
                self.say(f"Period {event.period_index} opened: {event.granted:,} credits granted.")
        after = self.board()
        self.say(
            f"Bruno's standing allotment is re-issued: the pool has {after.pool.unallocated:,} "
            "unallocated."
        )
        renewed = self.service.profile(self.bruno).credits
        if renewed is not None:
            self.say(f"Bruno's Enterprise Credits: {_credits_line(renewed)}")
            self.say(f"  resets {_when(renewed.resets_at)} (the anchor day is the 31st again).")

    def reconciliation(self) -> bool:
        self.story.step("Reconciliation")
        problems = self.service.reconcile(self.org_id)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if problems:
            self.say(f"reconcile(): {len(problems)} problem(s), listed on stderr.")
            return False
        self.say("reconcile(): no problems. Every cached balance equals what its transfers")
        self.say("imply, no pool or member account is below zero, and all balances sum to zero.")
        return True
