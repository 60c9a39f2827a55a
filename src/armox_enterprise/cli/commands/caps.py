"""Monthly spending caps from the shell: ``caps set`` and ``caps show``.

``caps set CREDITS|none`` sets the organisation's default cap, with ``--team`` a team's, or
with ``--user`` a member's own (``none`` clears it: the next scope's cap applies again);
``caps show`` prints where a member (the acting user by default, ``--user`` for another)
stands against their cap this period, or a team's cap alone (``--team``), or the default
alone (``--organisation``).
"""

from __future__ import annotations

import argparse

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_OK
from armox_enterprise.domain.caps import CapStatus

__all__ = ["parse_cap", "set_cap", "show_cap"]


def parse_cap(text: str) -> int | None:
    """The ``CREDITS|none`` argument: ``none`` for no cap, else whole credits (the service
    checks the range)."""
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a cap is whole credits or 'none', not {text!r}"
        ) from None


def _cap_text(cap: int | None) -> str:
    return "no cap" if cap is None else f"{cap:,} credits"


def _scope(status: CapStatus) -> str:
    """Which scope's cap applies to the member of ``status``."""
    if status.member_cap is not None:
        return "their own"
    if status.team_cap is not None:
        return "their team's"
    return "the organisation's default"


def _lines(status: CapStatus) -> list[str]:
    if status.user_id is None and status.team_id is not None:
        applies = "the team's" if status.team_cap is not None else "the organisation's default"
        return [
            f"Team {status.team_id}'s monthly cap: {_cap_text(status.team_cap)}.",
            f"Its members with no cap of their own: {_cap_text(status.cap)} ({applies}).",
        ]
    if status.user_id is None:
        return [f"Organisation default cap: {_cap_text(status.organisation_cap)}."]
    own = _scope(status)
    lines = [f"{status.user_id}'s monthly cap: {_cap_text(status.cap)} ({own})."]
    room = status.room
    if room is not None:
        lines.append(f"Spent or held this period: {status.counted:,}; {room:,} left under it.")
    else:
        lines.append(f"Spent or held this period: {status.counted:,}.")
    return lines


def set_cap(context: Context) -> int:
    """``caps set``: set the organisation's default monthly cap, a team's, or a member's own."""
    service = context.service()
    actor = context.actor()
    args = context.args
    org = context.organisation(service, actor)
    status = service.set_spend_cap(actor, org, args.cap, user_id=args.user, team_id=args.team)
    context.emit(status, _lines(status))
    return EXIT_OK


def show_cap(context: Context) -> int:
    """``caps show``: where a member stands against their monthly cap this period, or a
    team's cap alone."""
    service = context.service()
    actor = context.actor()
    args = context.args
    org = context.organisation(service, actor)
    user = "" if args.organisation_only else args.user
    status = service.spend_cap_status(actor, org, user_id=user, team_id=args.team)
    context.emit(status, _lines(status))
    return EXIT_OK
