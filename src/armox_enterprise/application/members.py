"""Use cases: listing members, changing roles, removing members, standing allotments."""

from __future__ import annotations

import attrs

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases, active_member, store_member_cap
from armox_enterprise.application.context import Context
from armox_enterprise.application.runner import Replay
from armox_enterprise.application.teams import team_id_of
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import AdminChange, Permission, ensure_an_admin_remains
from armox_enterprise.domain.ledger import TransferKind, member_account
from armox_enterprise.domain.organisation import Membership, MemberStatus, Role
from armox_enterprise.domain.requests import RequestStatus
from armox_enterprise.domain.teams import home_account
from armox_enterprise.domain.values import non_negative_credits
from armox_enterprise.exceptions import InvalidTransition

__all__ = ["MemberUseCases", "remove"]


def remove(ctx: Context, target: Membership) -> Membership:
    """Remove the active member ``target``, by the context's actor: what a removal does.

    Their pending credit requests are cancelled, their unused credits return where they came
    from (their team's budget, or the pool), they leave their team (and its cap), and their
    account is closed to new credits; their pending holds keep their reservation.  Every
    way of removing a member (an admin's, the directory's) goes through here.

    Raises:
        LastAdminError: the member is the last active admin.
    """
    uow, org, user = ctx.uow, ctx.org, target.user_id
    admins = uow.memberships.count_active(org.id, admins_only=True)
    ensure_an_admin_remains(target, admins, AdminChange.REMOVE)
    for request in uow.requests.list(org.id, status=RequestStatus.PENDING, user_id=user):
        try:
            uow.requests.decide(request.cancel(ctx.actor, ctx.now))
        except InvalidTransition:
            continue  # an admin decided it meanwhile (an approval's credits return below)
        ctx.record(
            ev.CreditRequestDecided,
            request_id=request.id,
            user_id=user,
            status=RequestStatus.CANCELLED.value,
            amount=0,
        )
    code = member_account(user)
    account = uow.ledger.get_account(org.id, code, for_update=True)
    returned = 0 if account is None else account.available
    # Their credits go back where they came from: their team's budget, or the pool.
    team_id = team_id_of(ctx, user)
    if returned > 0:
        ctx.post(ctx.transfer(TransferKind.RETURN, code, home_account(team_id), returned))
    uow.teams.unassign(org.id, user)
    removed = attrs.evolve(target, status=MemberStatus.REMOVED, removed_at=ctx.now)
    uow.memberships.update(removed)
    if team_id is not None:
        # Out of the team, out of its cap (as when they join again).
        store_member_cap(ctx, removed, None)
    uow.ledger.set_closed(org.id, code, True)
    ctx.record(ev.MemberRemoved, user_id=user, returned=returned)
    return removed


class MemberUseCases(UseCases):
    """An organisation's members: who they are, their roles, their standing allotments."""

    def list_members(self, actor: str, organisation_id: str) -> list[Membership]:
        """Return the active members, by join time (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_MEMBERS,
            lambda ctx: ctx.uow.memberships.list(ctx.org.id),
        )

    def change_role(self, actor: str, organisation_id: str, user_id: str, role: Role) -> Membership:
        """Make a member an admin or an admin a member.

        Raises:
            LastAdminError: the change would leave no active admin.
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        target_id = args.user(user_id)
        wanted = args.role(role)

        def work(ctx: Context) -> Membership:
            uow = ctx.uow
            target = active_member(ctx, target_id)
            if target.role is wanted:
                return target
            admins = uow.memberships.count_active(ctx.org.id, admins_only=True)
            ensure_an_admin_remains(target, admins, AdminChange.DEMOTE)
            changed = attrs.evolve(target, role=wanted)
            uow.memberships.update(changed)
            ctx.record(ev.RoleChanged, user_id=target_id, role=wanted.value)
            return changed

        # The organisation's row is locked first: the last-admin rule holds under races.
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_MEMBERS,
            work,
            replay=Replay("change_role"),
            lock=True,
        )

    def remove_member(self, actor: str, organisation_id: str, user_id: str) -> Membership:
        """Remove a member: unused credits return to their team's budget (to the pool for a
        member with no team), they leave their team, pending requests are cancelled.

        Pending holds keep their reservation and can still be captured or released; what they
        release returns to the pool.  The user sees their personal profile again.

        Raises:
            LastAdminError: the member is the last active admin.
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        target_id = args.user(user_id)

        def work(ctx: Context) -> Membership:
            return remove(ctx, active_member(ctx, target_id))

        # The organisation's row is locked first: the last-admin rule holds, and the member's
        # credit requests (which lock it too) serialise with the removal.
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_MEMBERS,
            work,
            replay=Replay("remove_member"),
            lock=True,
        )

    def set_standing_allotment(
        self, actor: str, organisation_id: str, user_id: str, amount: int
    ) -> Membership:
        """Set the credits a member receives from the pool at every period opening (0: none).

        Raises:
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin.
            InvalidAmount: ``amount`` is negative, not an int, or too large.
        """
        actor = args.user(actor, "actor")
        target_id = args.user(user_id)
        allotment = non_negative_credits(amount, name="amount")

        def work(ctx: Context) -> Membership:
            changed = attrs.evolve(active_member(ctx, target_id), standing_allotment=allotment)
            ctx.uow.memberships.update(changed)
            return changed

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_MEMBERS,
            work,
            replay=Replay("set_standing_allotment"),
        )
