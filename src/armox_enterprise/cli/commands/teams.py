"""Teams: ``teams create``, ``list``, ``fund``, ``reclaim``, ``assign``, ``delegate``,
``rename`` and ``delete``."""

from __future__ import annotations

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_OK
from armox_enterprise.cli.rendering import credits, table

__all__ = [
    "assign_team",
    "create_team",
    "delegate_team",
    "delete_team",
    "fund_team",
    "list_teams",
    "reclaim_team",
    "rename_team",
]


def create_team(context: Context) -> int:
    """``teams create``: a new team with an empty budget."""
    service = context.service()
    actor = context.actor()
    team = service.create_team(actor, context.organisation(service, actor), context.args.name)
    context.emit(team, [f"Created team {team.name} ({team.id})."])
    return EXIT_OK


def list_teams(context: Context) -> int:
    """``teams list``: the teams with their figures of the current period, by name."""
    service = context.service()
    actor = context.actor()
    rows = service.dashboard(actor, context.organisation(service, actor), limit=1).teams
    if not rows:
        context.emit(rows, ["No teams."])
        return EXIT_OK
    lines = table(
        ["team", "id", "members", "budget", "allocated", "used", "remaining"],
        [
            [
                row.name,
                row.team_id,
                str(row.members),
                f"{row.budget:,}",
                f"{row.allocated:,}",
                f"{row.used:,}",
                f"{row.remaining:,}",
            ]
            for row in rows
        ],
        right={2, 3, 4, 5, 6},
    )
    context.emit(rows, lines)
    return EXIT_OK


def fund_team(context: Context) -> int:
    """``teams fund``: move credits from the pool to a team's budget."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.fund_team(
            actor, org, args.team_id, args.amount, idempotency_key=args.key
        ),
        lambda transfer, _: (
            f"Moved {credits(transfer.amount)} from the pool to team {args.team_id} "
            f"({transfer.id})."
        ),
        key=args.key,
    )


def reclaim_team(context: Context) -> int:
    """``teams reclaim``: move credits from a team's budget back to the pool."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.reclaim_team_budget(
            actor, org, args.team_id, args.amount, idempotency_key=args.key
        ),
        lambda transfer, _: (
            f"Moved {credits(transfer.amount)} from team {args.team_id} back to the pool "
            f"({transfer.id})."
        ),
        key=args.key,
    )


def assign_team(context: Context) -> int:
    """``teams assign``: put a member in a team (``--none``: in no team)."""
    service = context.service()
    actor = context.actor()
    args = context.args
    org = context.organisation(service, actor)
    assignment = service.assign_team(actor, org, args.user, None if args.none else args.team_id)
    where = "no team" if assignment is None else f"team {assignment.team_id}"
    context.emit(assignment, [f"{args.user} is now in {where}."])
    return EXIT_OK


def delegate_team(context: Context) -> int:
    """``teams delegate``: let a member manage their team (``--revoke``: no longer)."""
    service = context.service()
    actor = context.actor()
    args = context.args
    org = context.organisation(service, actor)
    assignment = service.delegate_team(actor, org, args.user, manager=not args.revoke)
    state = "manages" if assignment.manager else "no longer manages"
    context.emit(assignment, [f"{args.user} {state} team {assignment.team_id}."])
    return EXIT_OK


def rename_team(context: Context) -> int:
    """``teams rename``: give a team a new name."""
    service = context.service()
    actor = context.actor()
    args = context.args
    team = service.rename_team(actor, context.organisation(service, actor), args.team_id, args.name)
    context.emit(team, [f"Team {team.id} is now called {team.name}."])
    return EXIT_OK


def delete_team(context: Context) -> int:
    """``teams delete``: delete a team with no members and an empty budget."""
    service = context.service()
    actor = context.actor()
    args = context.args
    team = service.delete_team(actor, context.organisation(service, actor), args.team_id)
    context.emit(team, [f"Deleted team {team.name} ({team.id})."])
    return EXIT_OK
