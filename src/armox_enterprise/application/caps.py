"""Use cases: monthly spending caps, the organisation's default, a team's and a member's own.

Which cap applies to a member is the domain's rule
(:func:`~armox_enterprise.domain.caps.member_cap`); this module stores a cap where its scope
keeps it (the organisation, the team, the membership) and then, through
:func:`~armox_enterprise.application.base.store_member_cap`, the effective cap of every member
the change touches on their account row, in the same unit of work.
"""

from __future__ import annotations

import attrs

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases, active_member, store_member_cap
from armox_enterprise.application.context import Context
from armox_enterprise.application.runner import Replay
from armox_enterprise.application.teams import load_team, team_of
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission, can
from armox_enterprise.domain.caps import CapStatus, counted_against_cap, effective_cap, member_cap
from armox_enterprise.domain.caps import spend_cap as valid_cap
from armox_enterprise.domain.grace import SoftLimit, soft_limit
from armox_enterprise.domain.ledger import REFUND_KINDS, SPENT_KINDS, member_account
from armox_enterprise.domain.organisation import Membership, Organisation
from armox_enterprise.domain.teams import Team
from armox_enterprise.exceptions import InvalidInput, PermissionDenied

__all__ = ["CapUseCases", "cap_status", "team_cap_status"]


def cap_status(ctx: Context, member: Membership | None) -> CapStatus:
    """Where ``member`` stands against their cap this period (``None``: the default alone)."""
    org = ctx.org
    if member is None:
        return CapStatus(org.spend_cap, None, org.spend_cap)
    user_id = member.user_id
    team = team_of(ctx, user_id)
    code = member_account(user_id)
    account = ctx.uow.ledger.get_account(org.id, code)
    totals = ctx.uow.ledger.period_totals(org.id, code, org.current_period_index)
    counted = counted_against_cap(
        used=totals.debited(*SPENT_KINDS) - totals.credited(*REFUND_KINDS),
        held=0 if account is None else account.debits_pending,
    )
    return CapStatus(
        org.spend_cap,
        member.spend_cap,
        member_cap(member, team, org),
        counted,
        user_id,
        None if team is None else team.spend_cap,
        None if team is None else team.id,
    )


def team_cap_status(ctx: Context, team: Team) -> CapStatus:
    """``team``'s cap alone: its own, and the cap of its members who have none of their own."""
    org = ctx.org
    cap = effective_cap(member=None, team=team.spend_cap, organisation=org.spend_cap)
    return CapStatus(org.spend_cap, None, cap, team_cap=team.spend_cap, team_id=team.id)


def _teams_by_member(ctx: Context) -> dict[str, Team]:
    """Each assigned member's team (one read of the teams, one of each team's members)."""
    found: dict[str, Team] = {}
    for team in ctx.uow.teams.list(ctx.org.id):
        for assignment in ctx.uow.teams.members(ctx.org.id, team.id):
            found[assignment.user_id] = team
    return found


def _one_scope(user_id: str | None, team_id: str | None) -> None:
    if user_id is not None and team_id is not None:
        raise InvalidInput("pass user_id or team_id, not both: a cap has one scope")


class CapUseCases(UseCases):
    """Monthly caps on members' spending: an organisation default, a team's cap and
    per-member overrides."""

    def set_spend_cap(
        self,
        actor: str,
        organisation_id: str,
        cap: int | None,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
    ) -> CapStatus:
        """Set the organisation's default monthly cap, a team's (``team_id``), or a member's
        own (``user_id``).

        ``cap`` is whole credits (``0`` stops all spending) or ``None``: no default cap; for a
        team, its members take the default again; for a member, their team's cap or the
        default applies again.  The most specific scope that sets a cap wins (member, team,
        organisation; see :func:`~armox_enterprise.domain.caps.member_cap`).  A cap bounds
        what the member spends and holds in a period (see
        :mod:`~armox_enterprise.domain.caps`); it applies to the next spend, and refuses
        nothing already spent.  Admins only, a team's too: a team's delegated manager may
        not set their team's cap.

        Returns:
            The ``CapStatus`` of the member, of the team alone, or of the default alone.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            MemberNotFound: ``user_id`` is not an active member.
            TeamNotFound: ``team_id`` is not a team of the organisation.
            InvalidInput: both ``user_id`` and ``team_id`` were given.
            InvalidAmount: ``cap`` is negative or past ``MAX_CREDITS``
                (``AmountTypeError``: not an int).
        """
        actor = args.user(actor, "actor")
        target = args.optional_user(user_id)
        team_ref = None if team_id is None else args.ref(team_id, "team_id")
        _one_scope(target, team_ref)
        value = valid_cap(cap, name="cap")

        def work(ctx: Context) -> CapStatus:
            uow, org = ctx.uow, ctx.org
            status: CapStatus
            if team_ref is not None:
                team = attrs.evolve(load_team(ctx, team_ref), spend_cap=value)
                uow.teams.update(team)
                # The team's members with no cap of their own: the team's cap applies to
                # them (a member's own cap is already on their row, and stays).
                for assignment in uow.teams.members(org.id, team.id):
                    member = uow.memberships.get(org.id, assignment.user_id)
                    if member is not None and member.spend_cap is None:
                        store_member_cap(ctx, member, team)
                status = team_cap_status(ctx, team)
            elif target is None:
                ctx.change_organisation(spend_cap=value)
                # Every member's effective cap, kept where the spend checks it.
                teams = _teams_by_member(ctx)
                for member in uow.memberships.list(org.id, active_only=False):
                    store_member_cap(ctx, member, teams.get(member.user_id))
                status = cap_status(ctx, None)
            else:
                member = attrs.evolve(active_member(ctx, target), spend_cap=value)
                uow.memberships.update(member)
                store_member_cap(ctx, member, team_of(ctx, target))
                status = cap_status(ctx, member)
            ctx.record(
                ev.SpendCapSet,
                user_id=target or "",
                team_id=team_ref or "",
                cap="" if value is None else str(value),
            )
            return status

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_SETTINGS,
            work,
            replay=Replay("set_spend_cap"),
            lock=True,
        )

    def set_soft_limit(
        self, actor: str, organisation_id: str, limit: SoftLimit | None
    ) -> Organisation:
        """Set the organisation's soft limit: what a member who ran out may still spend.

        With a :class:`~armox_enterprise.domain.grace.SoftLimit`, a member whose credits do not
        cover a spend spends the difference on grace, out of their team's budget or the pool,
        up to the limit in each period, and their first spend on grace files a credit request
        for them (one per run-out; see :mod:`~armox_enterprise.domain.grace`).  ``None`` turns
        it off: spends beyond a member's credits are refused again.  A member's cap still
        bounds every spend.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: ``limit`` is neither a ``SoftLimit`` nor ``None``.
        """
        actor = args.user(actor, "actor")
        value = soft_limit(limit)

        def work(ctx: Context) -> Organisation:
            changed = ctx.change_organisation(soft_limit=value)
            ctx.record(
                ev.SoftLimitSet,
                credits=_text(None if value is None else value.credits),
                percent=_text(None if value is None else value.percent),
            )
            return changed

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_SETTINGS,
            work,
            replay=Replay("set_soft_limit"),
            lock=True,
        )

    def spend_cap_status(
        self,
        actor: str,
        organisation_id: str,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
    ) -> CapStatus:
        """Return where a member stands against their monthly cap this period, or a team's
        cap alone.

        ``user_id`` defaults to ``actor``; an admin may ask about any member, pass
        ``user_id=""`` for the organisation's default alone, or ``team_id`` for a team's
        cap alone (its ``team_cap``, and as ``cap`` what applies to its members who have no
        cap of their own).

        Raises:
            PermissionDenied: a member asked about someone else, or about a team.
            MemberNotFound: ``user_id`` is not an active member.
            TeamNotFound: ``team_id`` is not a team of the organisation.
            InvalidInput: both ``user_id`` and ``team_id`` were given.
        """
        actor = args.user(actor, "actor")
        team_ref = None if team_id is None else args.ref(team_id, "team_id")
        _one_scope(user_id, team_ref)
        target = actor if user_id is None else (None if user_id == "" else args.user(user_id))

        def work(ctx: Context) -> CapStatus:
            if (team_ref is not None or target != actor) and not can(
                ctx.membership, Permission.MANAGE_SETTINGS
            ):
                raise PermissionDenied(f"user {actor} may see only their own cap")
            if team_ref is not None:
                return team_cap_status(ctx, load_team(ctx, team_ref))
            return cap_status(ctx, None if target is None else active_member(ctx, target))

        return self._runner.as_member(actor, organisation_id, Permission.VIEW_ORGANISATION, work)


def _text(value: int | None) -> str:
    return "" if value is None else str(value)
