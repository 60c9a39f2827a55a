"""Use cases: teams, their budgets, members' assignments and the delegated management.

The rules are the domain's (:mod:`armox_enterprise.domain.teams`, and the scoped permission
of :mod:`armox_enterprise.domain.access`); this module loads, checks and posts.
"""

from __future__ import annotations

import attrs

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import (
    UseCases,
    active_member,
    load_transfer,
    record_id,
    store_member_cap,
)
from armox_enterprise.application.context import Context
from armox_enterprise.application.runner import Replay
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission, TeamScope, authorise, can
from armox_enterprise.domain.ledger import POOL, Account, Transfer, TransferKind
from armox_enterprise.domain.teams import Team, TeamMember, deletion_refusal
from armox_enterprise.domain.values import credits, new_id
from armox_enterprise.exceptions import (
    AccountClosed,
    InvalidInput,
    TeamNotFound,
)

__all__ = [
    "TeamUseCases",
    "authorise_for_team",
    "load_team",
    "may_manage_a_team",
    "team_id_of",
    "team_of",
]


def load_team(ctx: Context, team_id: str) -> Team:
    """Return a team of the organisation.

    Raises:
        TeamNotFound: there is none with that id.
    """
    team = ctx.uow.teams.get(ctx.org.id, team_id)
    if team is None:
        raise TeamNotFound(f"team {team_id} does not exist in the organisation")
    return team


def team_id_of(ctx: Context, user_id: str) -> str | None:
    """The id of ``user_id``'s team, or ``None`` for a member with no team."""
    assignment = ctx.uow.teams.assignment(ctx.org.id, user_id)
    return None if assignment is None else assignment.team_id


def team_of(ctx: Context, user_id: str) -> Team | None:
    """``user_id``'s team, or ``None`` for a member with no team."""
    team_id = team_id_of(ctx, user_id)
    return None if team_id is None else ctx.uow.teams.get(ctx.org.id, team_id)


def may_manage_a_team(ctx: Context, permission: Permission) -> None:
    """Refuse at once an actor who holds ``permission`` neither by their role nor as the
    manager of a team (checked before the call's target is looked up, so a member learns
    nothing of it).

    Raises:
        PermissionDenied: the actor is neither.
    """
    assert ctx.membership is not None
    if can(ctx.membership, permission):
        return
    grant = ctx.uow.teams.assignment(ctx.org.id, ctx.actor)
    if grant is None or not grant.manager:
        authorise(ctx.membership, permission)


def authorise_for_team(ctx: Context, permission: Permission, team_id: str | None) -> None:
    """Refuse unless the actor holds ``permission`` by their role, or ``team_id`` is the team
    they were delegated (:data:`~armox_enterprise.domain.access.Permission.MANAGE_TEAM`).

    Raises:
        PermissionDenied: they do not.
    """
    assert ctx.membership is not None
    if can(ctx.membership, permission):
        return
    if team_id is None:
        authorise(ctx.membership, permission)
        return
    grant = ctx.uow.teams.assignment(ctx.org.id, ctx.actor)
    authorise(ctx.membership, Permission.MANAGE_TEAM, TeamScope(team_id, grant))


def _transfer_replay(
    operation: str, key: str | None, parameters: tuple[object, ...]
) -> Replay[Transfer]:
    return Replay(operation, key, parameters, load_transfer, record_id)


def _budget(ctx: Context, team: Team, *, for_update: bool = False) -> Account:
    account = ctx.uow.ledger.get_account(ctx.org.id, team.account, for_update=for_update)
    if account is None:  # pragma: no cover - a team is created with its account
        raise TeamNotFound(f"team {team.id} has no budget account")
    return account


class TeamUseCases(UseCases):
    """Admins create teams, give them budgets, assign members and delegate a team."""

    def create_team(self, actor: str, organisation_id: str, name: str) -> Team:
        """Create a team with an empty budget (admins only).

        Raises:
            AlreadyExists: the organisation has a team of that name (compared case-folded).
            InvalidText: ``name`` is empty or too long.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        team_name = args.name(name, "name")

        def work(ctx: Context) -> Team:
            team = Team(ctx.org.id, new_id(ctx.now), team_name, ctx.now)
            ctx.uow.teams.add(team)
            ctx.uow.ledger.open_account(Account(ctx.org.id, team.account))
            ctx.record(ev.TeamChanged, team_id=team.id, team_name=team.name, change="created")
            return team

        return self._runner.as_member(
            actor, organisation_id, Permission.MANAGE_TEAMS, work, replay=Replay("create_team")
        )

    def rename_team(self, actor: str, organisation_id: str, team_id: str, name: str) -> Team:
        """Give a team a new name (admins only).

        Raises:
            AlreadyExists: another team of the organisation has that name.
            TeamNotFound: no such team.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        ref = args.ref(team_id, "team_id")
        team_name = args.name(name, "name")

        def work(ctx: Context) -> Team:
            renamed = attrs.evolve(load_team(ctx, ref), name=team_name)
            ctx.uow.teams.update(renamed)
            ctx.record(ev.TeamChanged, team_id=ref, team_name=team_name, change="renamed")
            return renamed

        return self._runner.as_member(
            actor, organisation_id, Permission.MANAGE_TEAMS, work, replay=Replay("rename_team")
        )

    def delete_team(self, actor: str, organisation_id: str, team_id: str) -> Team:
        """Delete a team that has no members and an empty budget (admins only); its account
        stays in the ledger, closed to new credits.

        Raises:
            InvalidTransition: the team has members or holds credits.
            TeamNotFound: no such team.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        ref = args.ref(team_id, "team_id")

        def work(ctx: Context) -> Team:
            team = load_team(ctx, ref)
            # Locked: a funding that commits first is seen, one that comes later is refused
            # by the closed account.
            budget = _budget(ctx, team, for_update=True)
            members = len(ctx.uow.teams.members(ctx.org.id, ref))
            refusal = deletion_refusal(team, budget, members)
            if refusal is not None:
                raise refusal
            # A team with no members caps nobody: no member's account row keeps its cap.
            ctx.uow.teams.delete(ctx.org.id, ref)
            ctx.uow.ledger.set_closed(ctx.org.id, team.account, True)
            ctx.record(ev.TeamChanged, team_id=ref, team_name=team.name, change="deleted")
            return team

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_TEAMS,
            work,
            replay=Replay("delete_team"),
            lock=True,
        )

    def list_teams(self, actor: str, organisation_id: str) -> list[Team]:
        """Return the organisation's teams, by name (admins only)."""
        actor = args.user(actor, "actor")

        def work(ctx: Context) -> list[Team]:
            return ctx.uow.teams.list(ctx.org.id)

        return self._runner.as_member(actor, organisation_id, Permission.VIEW_DASHBOARD, work)

    def team_members(self, actor: str, organisation_id: str, team_id: str) -> list[TeamMember]:
        """Return a team's members' assignments, by user id (admins, and the team's
        managers)."""
        actor = args.user(actor, "actor")
        ref = args.ref(team_id, "team_id")

        def work(ctx: Context) -> list[TeamMember]:
            may_manage_a_team(ctx, Permission.MANAGE_TEAMS)
            authorise_for_team(ctx, Permission.MANAGE_TEAMS, ref)
            load_team(ctx, ref)
            return ctx.uow.teams.members(ctx.org.id, ref)

        return self._runner.as_member(actor, organisation_id, Permission.VIEW_ORGANISATION, work)

    def fund_team(
        self,
        actor: str,
        organisation_id: str,
        team_id: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Move credits from the pool to a team's budget (admins only).

        Raises:
            InsufficientPoolCredits: the pool holds fewer unallocated credits.
            TeamNotFound: no such team.
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        ref = args.ref(team_id, "team_id")
        value = credits(amount)
        key = args.optional_key(idempotency_key)

        def work(ctx: Context) -> Transfer:
            team = load_team(ctx, ref)
            moved = ctx.transfer(TransferKind.FUND_TEAM, POOL, team.account, value, reference=key)
            try:
                ctx.from_pool(moved)
            except AccountClosed:  # pragma: no cover - deleted between the read and the post
                raise TeamNotFound(f"team {ref} does not exist in the organisation") from None
            ctx.record(ev.TeamBudgetMoved, team_id=ref, amount=value, direction="fund")
            return moved

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_TEAMS,
            work,
            replay=_transfer_replay("fund_team", key, (actor, ref, value)),
        )

    def reclaim_team_budget(
        self,
        actor: str,
        organisation_id: str,
        team_id: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Move credits from a team's budget back to the pool (admins only).

        Raises:
            InsufficientTeamCredits: the budget holds fewer unallocated credits.
            TeamNotFound: no such team.
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        ref = args.ref(team_id, "team_id")
        value = credits(amount)
        key = args.optional_key(idempotency_key)

        def work(ctx: Context) -> Transfer:
            team = load_team(ctx, ref)
            moved = ctx.transfer(TransferKind.DEFUND_TEAM, team.account, POOL, value, reference=key)
            ctx.from_pool(moved)
            ctx.record(ev.TeamBudgetMoved, team_id=ref, amount=value, direction="reclaim")
            return moved

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_TEAMS,
            work,
            replay=_transfer_replay("reclaim_team_budget", key, (actor, ref, value)),
        )

    def assign_team(
        self, actor: str, organisation_id: str, user_id: str, team_id: str | None
    ) -> TeamMember | None:
        """Put a member in a team (``None``: in none), out of the one they were in (admins
        only).  Their credits stay theirs; what they give back later goes to their new team's
        budget (or the pool).  A new assignment holds no delegated grant.  The cap that applies
        to them follows: their own, else their new team's, else the organisation's default.

        Raises:
            MemberNotFound: ``user_id`` is not an active member.
            TeamNotFound: no such team.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        target = args.user(user_id)
        ref = None if team_id is None else args.ref(team_id, "team_id")

        def work(ctx: Context) -> TeamMember | None:
            member = active_member(ctx, target)
            if ref is None:
                ctx.uow.teams.unassign(ctx.org.id, target)
                store_member_cap(ctx, member, None)
                ctx.record(ev.TeamAssigned, user_id=target, team_id=None, manager=False)
                return None
            team = load_team(ctx, ref)
            current = ctx.uow.teams.assignment(ctx.org.id, target)
            if current is not None and current.team_id == ref:
                return current
            assignment = TeamMember(ctx.org.id, target, ref)
            ctx.uow.teams.assign(assignment)
            store_member_cap(ctx, member, team)
            ctx.record(ev.TeamAssigned, user_id=target, team_id=ref, manager=False)
            return assignment

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_TEAMS,
            work,
            replay=Replay("assign_team"),
            lock=True,
        )

    def delegate_team(
        self, actor: str, organisation_id: str, user_id: str, *, manager: bool = True
    ) -> TeamMember:
        """Delegate the management of ``user_id``'s team to them (``manager=False``: take it
        back): allocations from its budget to its members, reclaims from them, and
        decisions on their credit requests (admins only).

        Raises:
            InvalidInput: ``user_id`` is in no team.
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        target = args.user(user_id)
        flag = args.flag(manager, "manager")

        def work(ctx: Context) -> TeamMember:
            active_member(ctx, target)
            current = ctx.uow.teams.assignment(ctx.org.id, target)
            if current is None:
                raise InvalidInput(f"user {target} is in no team: assign them to one first")
            changed = attrs.evolve(current, manager=flag)
            ctx.uow.teams.assign(changed)
            ctx.record(ev.TeamAssigned, user_id=target, team_id=current.team_id, manager=flag)
            return changed

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_TEAMS,
            work,
            replay=Replay("delegate_team"),
            lock=True,
        )
