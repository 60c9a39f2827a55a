"""The argument parser: every command, its options, and the handler it runs.

Each command's defaults carry its ``handler`` (from :mod:`armox_enterprise.cli.commands`) and
the ``schema`` mode its store is opened with, so running a command is a look-up, not a chain of
tests on its name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from armox_enterprise import __version__
from armox_enterprise.cli.commands import (
    caps,
    credits,
    directory,
    grace,
    jobs,
    organisations,
    reports,
    schema,
    spending,
    teams,
)
from armox_enterprise.cli.context import Handler
from armox_enterprise.cli.store import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    MEMORY_URL,
    SchemaMode,
)
from armox_enterprise.domain.organisation import JoinMode, Role
from armox_enterprise.domain.requests import RequestStatus

__all__ = ["build_parser"]

# A string: argparse's action class is generic only in the type stubs, not at run time.
_Group: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

_KEY_HELP = "an idempotency key: a retry with the same key has no second effect"
_GENERATION_HELP = (
    "the generation's id, its idempotency key: a retry with the same id spends nothing more"
)


# ---------------------------------------------------------------------- argument types


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


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


def _percentages(text: str) -> tuple[int, ...]:
    """A comma-separated list of alert thresholds (``80,100``); ``""`` or ``none`` for none.
    The library checks the percentages themselves."""
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(_whole_number(part.strip()) for part in text.split(","))


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


# ---------------------------------------------------------------------- the building blocks


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


@dataclass(frozen=True)
class _Commands:
    """Adds commands and groups of commands under the top-level parser."""

    top: _Group
    common: argparse.ArgumentParser

    def leaf(
        self,
        name: str,
        summary: str,
        handler: Handler,
        *,
        within: _Group | None = None,
        schema: SchemaMode = "require",
    ) -> argparse.ArgumentParser:
        """A command that runs ``handler``, at the top level or ``within`` a group."""
        group = self.top if within is None else within
        command = group.add_parser(
            name, help=summary, description=_sentence(summary), parents=[self.common]
        )
        command.set_defaults(handler=handler, schema=schema)
        return command

    def group(self, name: str, summary: str) -> _Group:
        """A top-level command whose actions are added to the group it returns."""
        command = self.top.add_parser(
            name, help=summary, description=_sentence(summary), parents=[self.common]
        )
        return command.add_subparsers(dest="action", metavar="ACTION", required=True)


def _sentence(summary: str) -> str:
    return f"{summary[0].upper()}{summary[1:]}."


# ---------------------------------------------------------------------- the commands


def _add_demo(commands: _Commands) -> None:
    demo = commands.top.add_parser(
        "demo",
        help="walk through the Enterprise-accounts story on a fresh organisation",
        description="Walk through the Enterprise-accounts story on a fresh organisation.",
    )
    # Accepted after the command too; SUPPRESS keeps the global value when it is left out.
    demo.add_argument("--database-url", default=argparse.SUPPRESS, help="as above")
    demo.set_defaults(handler=schema.demo, schema="create")


def _add_schema_commands(commands: _Commands) -> None:
    migrate = commands.leaf(
        "migrate",
        "bring the library's tables to the newest revision with the shipped Alembic migrations",
        schema.migrate,
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
    commands.leaf(
        "create-schema",
        "create the library's tables that do not exist (prefer migrate in production)",
        schema.create_schema,
        schema="connect",
    )


def _add_organisation_commands(commands: _Commands) -> None:
    org = commands.group("org", "manage organisations")
    create = commands.leaf(
        "create",
        "create an organisation with its first admin",
        organisations.create_organisation,
        within=org,
    )
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
    create.add_argument(
        "--time-zone",
        default="UTC",
        metavar="ZONE",
        help="the IANA time zone the periods are counted in, fixed once set (default: UTC)",
    )
    _add_alert_options(create, "(default: 80,100)", "(default: 90)")
    settings = commands.leaf(
        "settings",
        "show the organisation's settings, or change its alert thresholds",
        organisations.settings,
        within=org,
    )
    settings.add_argument(
        "--time-zone",
        metavar="ZONE",
        help="the organisation's zone: it is fixed, so naming another one is refused",
    )
    _add_alert_options(settings, "(default: unchanged)", "(default: unchanged)")


def _add_alert_options(command: argparse.ArgumentParser, member: str, pool: str) -> None:
    command.add_argument(
        "--member-alerts",
        type=_percentages,
        metavar="PERCENTS",
        help=f"percentages of a member's credits used that raise an alert, or none {member}",
    )
    command.add_argument(
        "--pool-alerts",
        type=_percentages,
        metavar="PERCENTS",
        help=f"percentages of the pool allocated that raise an alert, or none {pool}",
    )


def _add_dns_options(command: argparse.ArgumentParser) -> None:
    """The options of a command that looks DNS up."""
    command.add_argument(
        "--dns-timeout",
        type=_positive_number,
        default=5.0,
        metavar="SECONDS",
        help="how long the look-up may take (default: 5)",
    )
    command.add_argument(
        "--nameserver",
        action="append",
        metavar="IP",
        help="ask this name server (repeatable; default: the system's)",
    )


def _add_domain_commands(commands: _Commands) -> None:
    domains = commands.group("domains", "claim, verify, re-check, remove and list email domains")
    add = commands.leaf(
        "add",
        "claim a domain; prints the DNS TXT record to publish",
        organisations.add_domain,
        within=domains,
    )
    add.add_argument("domain")
    add.add_argument(
        "--include-subdomains", action="store_true", help="also enrol addresses at subdomains"
    )
    verify = commands.leaf(
        "verify",
        "look up the domain's TXT record and verify it",
        organisations.verify_domain,
        within=domains,
    )
    verify.add_argument("domain")
    _add_dns_options(verify)
    remove = commands.leaf(
        "remove",
        "give up a domain: it enrols nobody any more",
        organisations.remove_domain,
        within=domains,
    )
    remove.add_argument("domain")
    commands.leaf(
        "list", "list the organisation's domain claims", organisations.list_domains, within=domains
    )
    recheck = commands.leaf(
        "recheck",
        "look every verified domain's TXT record up again: failing domains lapse after a grace "
        "window",
        organisations.recheck_domains,
        within=domains,
    )
    recheck.add_argument(
        "--grace",
        type=_positive_number,
        default=72.0,
        metavar="HOURS",
        help="how long a domain whose record went missing keeps enrolling (default: 72)",
    )
    _add_dns_options(recheck)


def _add_member_commands(commands: _Commands) -> None:
    sign_up = commands.leaf(
        "sign-up",
        "sign a user up as the host's sign-up flow does: enrol them if their address allows",
        organisations.sign_up,
    )
    sign_up.add_argument("user", help="the user's id, as the host knows them")
    sign_up.add_argument("email", help="the address they signed up with")
    verified = sign_up.add_mutually_exclusive_group(required=True)
    verified.add_argument(
        "--verified",
        dest="verified",
        action="store_true",
        help="the host has verified the address (only verified addresses enrol)",
    )
    verified.add_argument(
        "--unverified", dest="verified", action="store_false", help="it has not, yet"
    )
    sign_up.add_argument("--name", default="", metavar="NAME", help="the display name")
    sign_up.add_argument(
        "--require-enrolment",
        action="store_true",
        help="exit with 1 (EnrolmentRefused) unless the user is enrolled",
    )
    members = commands.group("members", "list, invite and change the roles of members")
    commands.leaf("list", "list the active members", organisations.list_members, within=members)
    invite = commands.leaf(
        "invite",
        "invite an email address: its owner joins on signing up with it",
        organisations.invite,
        within=members,
    )
    invite.add_argument("email")
    invite.add_argument(
        "--role",
        choices=[role.value for role in Role],
        default=Role.MEMBER.value,
        help="the role they join with (default: member)",
    )
    set_role = commands.leaf(
        "set-role",
        "make a member an admin, or an admin a member",
        organisations.set_role,
        within=members,
    )
    set_role.add_argument("user")
    set_role.add_argument("role", choices=[role.value for role in Role])


def _add_directory_commands(commands: _Commands) -> None:
    group = commands.group(
        "directory", "provision, deactivate and reactivate members as a company directory does"
    )
    provision = commands.leaf(
        "provision",
        "make a user an active member, whatever their address's domain (the seat limit holds)",
        directory.provision,
        within=group,
    )
    provision.add_argument("organisation", metavar="ORG_ID")
    provision.add_argument("user", help="the user's id, as the host knows them")
    provision.add_argument("email", help="their address")
    provision.add_argument("--name", default="", metavar="NAME", help="the display name")
    for name, summary, handler in (
        (
            "deactivate",
            "remove a member: credits back to the pool, pending requests cancelled",
            directory.deactivate,
        ),
        (
            "reactivate",
            "make a removed member a member again, with no credits",
            directory.reactivate,
        ),
    ):
        leaf = commands.leaf(name, summary, handler, within=group)
        leaf.add_argument("organisation", metavar="ORG_ID")
        leaf.add_argument("user")
    listing = commands.leaf(
        "list", "every membership, active and removed", directory.list_directory, within=group
    )
    listing.add_argument("organisation", metavar="ORG_ID")


def _add_credit_commands(commands: _Commands) -> None:
    allocate = commands.leaf("allocate", "move credits from the pool to a member", credits.allocate)
    allocate.add_argument("user")
    allocate.add_argument("amount", type=int, metavar="CREDITS")
    allocate.add_argument("--key", help=_KEY_HELP)
    reclaim = commands.leaf(
        "reclaim", "move credits from a member back to the pool", credits.reclaim
    )
    reclaim.add_argument("user")
    reclaim.add_argument("amount", type=int, metavar="CREDITS")
    reclaim.add_argument("--key", help=_KEY_HELP)
    top_up = commands.leaf(
        "top-up", "add credits to the pool outside the monthly grant", credits.top_up
    )
    top_up.add_argument("amount", type=int, metavar="CREDITS")
    top_up.add_argument("--key", help=_KEY_HELP)


def _add_team_commands(commands: _Commands) -> None:
    group = commands.group("teams", "create teams, give them budgets, assign and delegate")
    create = commands.leaf(
        "create", "create a team with an empty budget", teams.create_team, within=group
    )
    create.add_argument("name")
    commands.leaf(
        "list", "list the teams and their figures this period", teams.list_teams, within=group
    )
    fund = commands.leaf(
        "fund", "move credits from the pool to a team's budget", teams.fund_team, within=group
    )
    fund.add_argument("team_id", metavar="TEAM_ID")
    fund.add_argument("amount", type=int, metavar="CREDITS")
    fund.add_argument("--key", help=_KEY_HELP)
    reclaim = commands.leaf(
        "reclaim",
        "move credits from a team's budget back to the pool",
        teams.reclaim_team,
        within=group,
    )
    reclaim.add_argument("team_id", metavar="TEAM_ID")
    reclaim.add_argument("amount", type=int, metavar="CREDITS")
    reclaim.add_argument("--key", help=_KEY_HELP)
    assign = commands.leaf(
        "assign",
        "put a member in a team (out of the one they were in)",
        teams.assign_team,
        within=group,
    )
    assign.add_argument("user")
    target = assign.add_mutually_exclusive_group(required=True)
    target.add_argument("team_id", metavar="TEAM_ID", nargs="?")
    target.add_argument("--none", action="store_true", help="take the member out of any team")
    delegate = commands.leaf(
        "delegate",
        "let a member manage their team's allocations and requests",
        teams.delegate_team,
        within=group,
    )
    delegate.add_argument("user")
    delegate.add_argument("--revoke", action="store_true", help="take the delegation back")
    rename = commands.leaf("rename", "give a team a new name", teams.rename_team, within=group)
    rename.add_argument("team_id", metavar="TEAM_ID")
    rename.add_argument("name")
    delete = commands.leaf(
        "delete", "delete a team with no members and no credits", teams.delete_team, within=group
    )
    delete.add_argument("team_id", metavar="TEAM_ID")


def _add_spending_commands(commands: _Commands) -> None:
    spend = commands.leaf(
        "spend", "spend the acting member's credits on one generation", spending.spend
    )
    spend.add_argument("amount", type=int, metavar="CREDITS")
    _add_generation_options(spend)
    holds = commands.group("holds", "reserve credits for a generation, then capture or release")
    reserve = commands.leaf(
        "reserve",
        "reserve the acting member's credits for a generation that takes time",
        spending.reserve,
        within=holds,
    )
    reserve.add_argument("amount", type=int, metavar="CREDITS")
    _add_generation_options(reserve)
    reserve.add_argument(
        "--lifetime",
        type=_positive_number,
        metavar="SECONDS",
        help="released if not captured by then (default and most: the organisation's)",
    )
    capture = commands.leaf(
        "capture",
        "post all or part of a hold as spent; the rest is released",
        spending.capture_hold,
        within=holds,
    )
    capture.add_argument("hold_id", metavar="HOLD_ID")
    capture.add_argument(
        "amount", type=int, nargs="?", metavar="CREDITS", help="default: all of the hold"
    )
    capture.add_argument("--key", help=_KEY_HELP)
    release = commands.leaf(
        "release",
        "void a hold: its credits are available again",
        spending.release_hold,
        within=holds,
    )
    release.add_argument("hold_id", metavar="HOLD_ID")
    release.add_argument("--key", help=_KEY_HELP)


def _add_cap_commands(commands: _Commands) -> None:
    group = commands.group("caps", "set and show members' monthly spending caps")
    setting = commands.leaf(
        "set",
        "set the organisation's default monthly cap, a team's, or a member's own",
        caps.set_cap,
        within=group,
    )
    setting.add_argument(
        "cap",
        type=caps.parse_cap,
        metavar="CREDITS|none",
        help="whole credits (0 stops spending), or none: no default cap / the default applies",
    )
    scope = setting.add_mutually_exclusive_group()
    scope.add_argument("--user", help="the member whose own cap this is (default: everyone's)")
    scope.add_argument(
        "--team", metavar="TEAM_ID", help="the team whose cap this is (its members' default)"
    )
    showing = commands.leaf(
        "show", "show where a member stands against their monthly cap", caps.show_cap, within=group
    )
    shown = showing.add_mutually_exclusive_group()
    shown.add_argument("--user", help="the member (default: the acting user)")
    shown.add_argument("--team", metavar="TEAM_ID", help="a team's cap alone")
    shown.add_argument(
        "--organisation",
        dest="organisation_only",
        action="store_true",
        help="the organisation's default cap alone",
    )


def _add_grace_commands(commands: _Commands) -> None:
    group = commands.group("grace", "set and show the soft limit: spending on grace")
    setting = commands.leaf(
        "set",
        "set the soft limit: what a member who ran out may still spend in a period",
        grace.set_grace,
        within=group,
    )
    setting.add_argument(
        "limit",
        type=grace.parse_soft_limit,
        metavar="CREDITS|PERCENT%|none",
        help="whole credits, a percentage of what each member was given (10%%), or none",
    )
    commands.leaf(
        "show",
        "show the soft limit and what the acting member may still spend on grace",
        grace.show_grace,
        within=group,
    )


def _add_generation_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--generation-id", "--key", dest="generation_id", required=True, help=_GENERATION_HELP
    )
    command.add_argument("--feature", help="a usage tag: the product feature (image, video ...)")
    command.add_argument("--model", help="a usage tag: the model")


def _add_request_commands(commands: _Commands) -> None:
    requests = commands.group("requests", "list, approve and reject credit requests")
    listing = commands.leaf(
        "list", "list credit requests, oldest first", credits.list_requests, within=requests
    )
    listing.add_argument(
        "--status",
        choices=[*(status.value for status in RequestStatus), "all"],
        default=RequestStatus.PENDING.value,
        help="which requests (default: pending)",
    )
    approve = commands.leaf(
        "approve", "approve a pending request", credits.approve_request, within=requests
    )
    approve.add_argument("request_id", metavar="REQUEST_ID")
    approve.add_argument(
        "--amount", type=int, metavar="CREDITS", help="another amount than the one asked"
    )
    approve.add_argument("--note", default="", help="a note for the member")
    approve.add_argument("--key", help=_KEY_HELP)
    reject = commands.leaf(
        "reject", "reject a pending request", credits.reject_request, within=requests
    )
    reject.add_argument("request_id", metavar="REQUEST_ID")
    reject.add_argument("--note", default="", help="a note for the member")
    reject.add_argument("--key", help=_KEY_HELP)


def _add_view_commands(commands: _Commands) -> None:
    profile = commands.leaf("profile", "show what a user's profile page shows", reports.profile)
    profile.add_argument("user")
    dashboard = commands.leaf("dashboard", "show the admin dashboard", reports.dashboard)
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


def _add_export_commands(commands: _Commands) -> None:
    export = commands.group("export", "export usage or the ledger as CSV")
    for kind, summary in (
        ("usage", "one CSV line per spend, captured hold and refund"),
        ("ledger", "one CSV line per transfer"),
    ):
        command = commands.leaf(kind, summary, reports.export, within=export)
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


def _add_job_commands(commands: _Commands) -> None:
    periods = commands.group("periods", "the period job")
    commands.leaf(
        "close-due",
        "close every period whose end has passed and open the next",
        jobs.close_due_periods,
        within=periods,
    )
    ledger = commands.group("ledger", "check the ledger")
    commands.leaf(
        "verify",
        "reconcile the ledger of every organisation (or --org); exit 1 on a problem",
        jobs.verify_ledgers,
        within=ledger,
    )
    events = commands.group("events", "the outbox")
    relay = commands.leaf(
        "relay",
        "print unpublished events as JSON lines, marking them",
        jobs.relay_events,
        within=events,
    )
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
    alerts = commands.group("alerts", "the alert job")
    check = commands.leaf(
        "check",
        "raise the usage, pool and waiting-request alerts that are due",
        jobs.check_alerts,
        within=alerts,
    )
    check.add_argument(
        "--request-alert-after",
        type=_positive_number,
        default=24.0,
        metavar="HOURS",
        help="how long a request may wait before it raises an alert (default: 24)",
    )


#: The commands in the order ``--help`` lists them.
_SECTIONS: tuple[Callable[[_Commands], None], ...] = (
    _add_demo,
    _add_schema_commands,
    _add_organisation_commands,
    _add_domain_commands,
    _add_member_commands,
    _add_directory_commands,
    _add_credit_commands,
    _add_team_commands,
    _add_spending_commands,
    _add_cap_commands,
    _add_grace_commands,
    _add_request_commands,
    _add_view_commands,
    _add_export_commands,
    _add_job_commands,
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every command; each command's defaults name its handler."""
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
    top = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands = _Commands(top, common)
    for add_section in _SECTIONS:
        add_section(commands)
    return parser
