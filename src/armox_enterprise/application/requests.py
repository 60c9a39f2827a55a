"""Use cases: members' credit requests and admins' decisions on them."""

from __future__ import annotations

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases, active_member, load_request, record_id
from armox_enterprise.application.context import Context
from armox_enterprise.application.runner import Replay, active_membership
from armox_enterprise.application.teams import team_id_of
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission, RequestReach, authorise, request_reach
from armox_enterprise.domain.ledger import TransferKind, member_account
from armox_enterprise.domain.requests import CreditRequest, RequestStatus, ensure_can_request
from armox_enterprise.domain.teams import funding_account
from armox_enterprise.domain.values import credits, new_id
from armox_enterprise.exceptions import CreditRequestNotFound

__all__ = ["RequestUseCases", "reach_of"]


def reach_of(ctx: Context) -> RequestReach:
    """Which credit requests the actor reaches
    (:func:`~armox_enterprise.domain.access.request_reach`, with their own assignment)."""
    return request_reach(ctx.membership, ctx.uow.teams.assignment(ctx.org.id, ctx.actor))


def _decidable(ctx: Context, request_id: str) -> tuple[CreditRequest, str | None]:
    """Return a request the actor may decide, and its requester's team.

    A request beyond their reach (a member of another team's, or of no team's, for a team's
    manager) is one that does not exist for them: its id reveals nothing.

    Raises:
        PermissionDenied: the actor decides no one's requests (checked before the request is
            looked up).
        CreditRequestNotFound: no such request that they may decide.
    """
    reach = reach_of(ctx)
    if not reach.decides_any:
        assert ctx.membership is not None
        authorise(ctx.membership, Permission.DECIDE_REQUESTS)
    request = load_request(ctx, request_id)
    team_id = team_id_of(ctx, request.user_id)
    if not reach.may_decide(request.user_id, team_id):
        raise CreditRequestNotFound(f"credit request {request_id} does not exist")
    return request, team_id


def _record_decision(ctx: Context, request: CreditRequest, amount: int = 0) -> None:
    ctx.record(
        ev.CreditRequestDecided,
        request_id=request.id,
        user_id=request.user_id,
        status=request.status.value,
        amount=amount,
    )


def _request_replay(
    operation: str, key: str | None, parameters: tuple[object, ...]
) -> Replay[CreditRequest]:
    return Replay(operation, key, parameters, load_request, record_id)


class RequestUseCases(UseCases):
    """Credit requests: members ask, admins approve (credits move) or reject."""

    def request_credits(
        self,
        actor: str,
        organisation_id: str,
        amount: int,
        *,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> CreditRequest:
        """Ask the organisation's admins for more credits.

        Raises:
            TooManyOpenRequests: the member already has the allowed number of pending requests.
            OrganisationNotFound: ``actor`` is not an active member (removed meanwhile, too).
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        value = credits(amount)
        message = args.note(note)
        key = args.optional_key(idempotency_key)

        def work(ctx: Context) -> CreditRequest:
            uow, org = ctx.uow, ctx.org
            # The member, read again under the organisation's lock: one removed meanwhile
            # (the removal cancels what is pending) leaves no pending request behind.
            active_membership(uow, org.id, actor)
            pending = uow.requests.list(org.id, status=RequestStatus.PENDING, user_id=actor)
            ensure_can_request(actor, len(pending), org.max_open_requests)
            request = CreditRequest(
                id=new_id(ctx.now),
                organisation_id=org.id,
                user_id=actor,
                amount=value,
                note=message,
                period_index=org.current_period_index,
                created_at=ctx.now,
            )
            uow.requests.add(request)
            ctx.record(
                ev.CreditRequestSubmitted, request_id=request.id, user_id=actor, amount=value
            )
            return request

        # A member's requests, and their removal, serialise on the organisation's row: the
        # open-request cap holds under races.
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.REQUEST_CREDITS,
            work,
            replay=_request_replay("request", key, (actor, value, message)),
            lock=True,
        )

    def list_requests(
        self,
        actor: str,
        organisation_id: str,
        *,
        status: RequestStatus | None = RequestStatus.PENDING,
    ) -> list[CreditRequest]:
        """Return credit requests, oldest first: all of them for an admin, those of their
        team's members (and their own) for a team's delegated manager, their own for a member
        (:func:`~armox_enterprise.domain.access.request_reach`).

        Raises:
            OrganisationNotFound: ``actor`` is not a member.
        """
        actor = args.user(actor, "actor")
        wanted = args.request_status(status)

        def work(ctx: Context) -> list[CreditRequest]:
            reach = reach_of(ctx)
            if reach.everyone:
                return ctx.uow.requests.list(ctx.org.id, status=wanted)
            if reach.team_id is None:
                return ctx.uow.requests.list(ctx.org.id, status=wanted, user_id=actor)
            teams = {m.user_id: m.team_id for m in ctx.uow.teams.members(ctx.org.id, reach.team_id)}
            return [
                r
                for r in ctx.uow.requests.list(ctx.org.id, status=wanted)
                if reach.may_see(r.user_id, teams.get(r.user_id))
            ]

        return self._runner.as_member(actor, organisation_id, Permission.REQUEST_CREDITS, work)

    def approve_request(
        self,
        actor: str,
        organisation_id: str,
        request_id: str,
        *,
        amount: int | None = None,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> CreditRequest:
        """Approve a pending request, for the amount asked or another; the credits move from
        the pool (for a member of a team, from the team's budget) to the member in the same
        unit of work.

        Raises:
            InvalidTransition: the request is no longer pending (another admin decided it, or
                its member was removed, which cancels it).
            MemberNotFound: its member has left (a request left pending by an older version).
            InsufficientPoolCredits: the pool cannot cover it; the request stays pending.
            InsufficientTeamCredits: the requester's team's budget cannot cover it.
            CreditRequestNotFound: no such request in the organisation; for a team's
                manager, none of a member of their team.
            PermissionDenied: ``actor`` is neither an admin nor the delegated manager of a
                team.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        value = args.optional_amount(amount)
        message = args.note(note)
        key = args.optional_key(idempotency_key)
        request_ref = args.ref(request_id, "request_id")

        def work(ctx: Context) -> CreditRequest:
            request, team_id = _decidable(ctx, request_ref)
            approved = request.approve(actor, ctx.now, value or request.amount, message)
            # Removing a member cancels their pending requests (approving one then answers
            # InvalidTransition); one left pending by an older version is refused here, and
            # can be rejected or left to lapse at the period's end.
            active_member(ctx, request.user_id)
            ctx.uow.requests.decide(approved)
            assert approved.approved_amount is not None
            given = approved.approved_amount
            code = member_account(request.user_id)
            source = funding_account(team_id)
            ctx.from_pool(
                ctx.transfer(TransferKind.APPROVE, source, code, given, reference=request.id)
            )
            _record_decision(ctx, approved, given)
            ctx.record(ev.CreditsAllocated, user_id=request.user_id, amount=given, kind="approve")
            return approved

        # Every member may ask; the work checks the permission for the requester's team.
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.VIEW_ORGANISATION,
            work,
            replay=_request_replay("approve", key, (actor, request_ref, value, message)),
        )

    def reject_request(
        self,
        actor: str,
        organisation_id: str,
        request_id: str,
        *,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> CreditRequest:
        """Reject a pending request.

        Raises:
            InvalidTransition: the request is no longer pending.
            CreditRequestNotFound: no such request in the organisation; for a team's
                manager, none of a member of their team.
            PermissionDenied: ``actor`` is neither an admin nor the delegated manager of a
                team.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        message = args.note(note)
        key = args.optional_key(idempotency_key)
        request_ref = args.ref(request_id, "request_id")

        def work(ctx: Context) -> CreditRequest:
            request, _ = _decidable(ctx, request_ref)
            rejected = request.reject(actor, ctx.now, message)
            ctx.uow.requests.decide(rejected)
            _record_decision(ctx, rejected)
            return rejected

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.VIEW_ORGANISATION,
            work,
            replay=_request_replay("reject", key, (actor, request_ref, message)),
        )

    def cancel_request(self, actor: str, organisation_id: str, request_id: str) -> CreditRequest:
        """Withdraw one's own pending request.

        Raises:
            InvalidTransition: the request is no longer pending.
            CreditRequestNotFound: no such request of ``actor``'s.
        """
        actor = args.user(actor, "actor")
        request_ref = args.ref(request_id, "request_id")

        def work(ctx: Context) -> CreditRequest:
            request = load_request(ctx, request_ref)
            if not reach_of(ctx).may_withdraw(request.user_id):
                raise CreditRequestNotFound(f"credit request {request_ref} does not exist")
            cancelled = request.cancel(actor, ctx.now)
            ctx.uow.requests.decide(cancelled)
            _record_decision(ctx, cancelled)
            return cancelled

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.REQUEST_CREDITS,
            work,
            replay=Replay("cancel_request"),
        )
