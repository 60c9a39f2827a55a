"""What an operator does for a company directory: ``directory provision``, ``deactivate``,
``reactivate`` and ``list``.

The directory's calls take no acting user (the host makes them for its SCIM client), so
neither do these: the operator names the organisation and the user.
"""

from __future__ import annotations

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_OK
from armox_enterprise.cli.rendering import table, when
from armox_enterprise.domain.directory import DirectoryResult

__all__ = ["deactivate", "list_directory", "provision", "reactivate"]


def _report(context: Context, result: DirectoryResult, done: str, unchanged: str) -> int:
    """Print what a directory call did (``--json``: the result's JSON form)."""
    context.emit(result, [done if result.changed else f"{unchanged}: nothing changed."])
    return EXIT_OK


def provision(context: Context) -> int:
    """``directory provision``: make a user an active member, as the directory would."""
    args = context.args
    result = context.service().provision_member(
        args.organisation, args.user, args.email, display_name=args.name
    )
    where = f"organisation {args.organisation}"
    return _report(
        context,
        result,
        f"{args.user} ({result.membership.email}) is an active member of {where}.",
        f"{args.user} already was an active member of {where} as {result.membership.email}",
    )


def deactivate(context: Context) -> int:
    """``directory deactivate``: remove a member as the directory would (as ``remove_member``)."""
    args = context.args
    result = context.service().deactivate_member(args.organisation, args.user)
    where = f"organisation {args.organisation}"
    return _report(
        context,
        result,
        f"{args.user} is no longer a member of {where}: their unused credits went back to the "
        "pool and their pending requests were cancelled.",
        f"{args.user} already was removed from {where}",
    )


def reactivate(context: Context) -> int:
    """``directory reactivate``: make a removed member a member again, with no credits."""
    args = context.args
    result = context.service().reactivate_member(args.organisation, args.user)
    where = f"organisation {args.organisation}"
    return _report(
        context,
        result,
        f"{args.user} is a member of {where} again (role member, no credits).",
        f"{args.user} already was an active member of {where}",
    )


def list_directory(context: Context) -> int:
    """``directory list``: every membership, active and removed, as the directory sees them."""
    members = context.service().directory_members(context.args.organisation)
    rows = [
        (
            member.user_id,
            "active" if member.is_active else "removed",
            member.role.value,
            str(member.email),
            when(member.removed_at or member.joined_at),
        )
        for member in members
    ]
    header = ("user", "status", "role", "email", "since")
    active = sum(member.is_active for member in members)
    summary = f"{len(members):,} membership(s), {active:,} active."
    context.emit(members, [*table(header, rows), summary])
    return EXIT_OK
