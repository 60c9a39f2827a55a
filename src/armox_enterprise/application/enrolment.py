"""Use cases: enrolment at sign-up, capturing existing users, invitations, join requests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases, store_member_cap
from armox_enterprise.application.context import Context
from armox_enterprise.application.runner import Replay
from armox_enterprise.application.teams import team_of
from armox_enterprise.application.turnover import bring_current
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission
from armox_enterprise.domain.claims import claim_candidates
from armox_enterprise.domain.directory import ensure_seat_free
from armox_enterprise.domain.enrolment import (
    EnrolmentDecision,
    EnrolmentOutcome,
    EnrolmentReason,
    decide_enrolment,
)
from armox_enterprise.domain.ledger import Account, member_account
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinMode,
    JoinRequest,
    JoinRequestStatus,
    Membership,
    Role,
)
from armox_enterprise.domain.values import DomainName, EmailAddress, new_id
from armox_enterprise.exceptions import (
    AlreadyMember,
    EnrolmentRefused,
    InvalidTransition,
    JoinRequestNotFound,
)
from armox_enterprise.ports import UnitOfWork

__all__ = ["EnrolmentUseCases", "admit"]


def claim_covering(uow: UnitOfWork, domain: DomainName) -> DomainClaim | None:
    """Return the claim that covers addresses at ``domain``, the closest first."""
    for candidate in claim_candidates(domain):
        claim = uow.domains.get(candidate)
        if claim is not None and claim.covers(domain):
            return claim
    return None


def admit(
    ctx: Context,
    user: str,
    email: EmailAddress,
    display: str,
    role: Role,
    reason: str,
) -> Membership:
    """Make ``user`` an active member of the organisation (again, if they left before).

    Raises:
        AlreadyMember: the user is an active member of an organisation.
    """
    uow, org = ctx.uow, ctx.org
    previous = uow.memberships.get(org.id, user)
    membership = Membership(org.id, user, email, display or str(email), role, ctx.now)
    if previous is None:
        uow.memberships.add(membership)
    else:
        if uow.memberships.active_for_user(user) is not None:
            raise AlreadyMember(f"user {user} is already an enterprise member")
        uow.memberships.update(membership)
        uow.ledger.set_closed(org.id, member_account(user), False)
    uow.ledger.open_account(Account(org.id, member_account(user)))
    if previous is None:
        # A new membership has no cap of its own and no team (an assignment names an
        # existing membership): the organisation's default applies, if it has one.
        if org.spend_cap is not None:
            store_member_cap(ctx, membership, None)
    else:
        # A removal took them out of their team; whatever team they are in now counts.
        store_member_cap(ctx, membership, team_of(ctx, user))
    ctx.record(ev.MemberEnrolled, user_id=user, role=role.value, reason=reason)
    return membership


class EnrolmentUseCases(UseCases):
    """How users become members: sign-up by domain, capture, invitations, join requests."""

    def sign_up(
        self,
        user_id: str,
        email: str,
        *,
        email_verified: bool,
        display_name: str = "",
    ) -> EnrolmentDecision:
        """Decide, at sign-up or at email verification, whether the user joins an organisation.

        Call it from the host's sign-up flow.  It never raises for a policy outcome: the
        returned decision says whether the user was enrolled, a join request was filed, or
        why not (no organisation, free-mail provider, domain or email not verified, seat limit
        reached, invitation required, member elsewhere).

        Raises:
            InvalidInput: ``user_id``, ``email`` or ``display_name`` is malformed.
        """
        return self._sign_up(user_id, email, email_verified, display_name, strict=False)

    def enrol(
        self,
        user_id: str,
        email: str,
        *,
        email_verified: bool,
        display_name: str = "",
    ) -> EnrolmentDecision:
        """Like :meth:`sign_up`, but a sign-up that enrols nobody raises.

        Raises:
            EnrolmentRefused: the user was not enrolled; ``reason`` says why.
            InvalidInput: an argument is malformed.
        """
        return self._sign_up(user_id, email, email_verified, display_name, strict=True)

    def _sign_up(
        self, user_id: str, email: str, email_verified: bool, display_name: str, *, strict: bool
    ) -> EnrolmentDecision:
        user = args.user(user_id)
        address = args.email(email, "email")
        verified = args.flag(email_verified, "email_verified")
        display = args.name(display_name, "display_name", allow_empty=True)

        def work(uow: UnitOfWork, now: datetime) -> EnrolmentDecision:
            claim = claim_covering(uow, address.domain)
            invitations = uow.invitations.open_for(address)
            if claim is not None and claim.is_verified:
                # A verified domain belongs to its organisation: only its own invitations count
                # (another organisation cannot pull the domain's people away by inviting them).
                invitations = [i for i in invitations if i.organisation_id == claim.organisation_id]
            invitation = next(iter(invitations), None)
            org_id = (
                invitation.organisation_id
                if invitation is not None
                else claim.organisation_id
                if claim is not None
                else None
            )
            org = None if org_id is None else uow.organisations.get(org_id, for_update=True)
            if invitation is not None and claim is not None and org is not None:
                claim = claim if claim.organisation_id == org.id else None
            decision = decide_enrolment(
                email=address,
                email_verified=verified,
                claim=claim,
                organisation=org,
                active_seats=0 if org is None else uow.memberships.count_active(org.id),
                existing=uow.memberships.active_for_user(user),
                invitation=invitation,
                free_mail=self._free_mail,
            )
            if org is not None and decision.reason is not EnrolmentReason.ALREADY_MEMBER:
                ctx = Context(uow, now, org, user)
                bring_current(ctx)
                _act_on(ctx, decision, address, display, invitation)
            if strict and decision.outcome is not EnrolmentOutcome.ENROLLED:
                raise EnrolmentRefused(
                    f"user {user} was not enrolled: {decision.reason.value.replace('_', ' ')}",
                    reason=decision.reason,
                )
            return decision

        return self._runner.run(work, replay=Replay("sign_up"), scope=_acted_in)

    def capture_existing_users(
        self, actor: str, organisation_id: str, users: Iterable[args.ExistingUser]
    ) -> list[EnrolmentDecision]:
        """Enrol users who signed up before the organisation verified their domain.

        Admin-initiated, so the join mode does not apply; the email must still be verified, fall
        under one of the organisation's verified domains, and fit the seat limit.  All users are
        processed in one unit of work: either every decision stands or none does.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a user's id, email or name is malformed.
        """
        actor = args.user(actor, "actor")
        batch = args.existing_users(users)

        def work(ctx: Context) -> list[EnrolmentDecision]:
            uow = ctx.uow
            # The admin captures them, so the join mode does not apply; the seat limit does.
            policy_org = attrs.evolve(ctx.org, join_mode=JoinMode.AUTOMATIC)
            decisions = []
            for entry in batch:
                claim = claim_covering(uow, entry.email.domain)
                if claim is not None and claim.organisation_id != ctx.org.id:
                    claim = None
                decision = decide_enrolment(
                    email=entry.email,
                    email_verified=entry.email_verified,
                    claim=claim,
                    organisation=policy_org if claim is not None else None,
                    active_seats=uow.memberships.count_active(ctx.org.id),
                    existing=uow.memberships.active_for_user(entry.user_id),
                    invitation=None,
                    free_mail=self._free_mail,
                )
                if decision.outcome is EnrolmentOutcome.ENROLLED and (
                    decision.reason is not EnrolmentReason.ALREADY_MEMBER
                ):
                    admit(
                        ctx, entry.user_id, entry.email, entry.display_name, Role.MEMBER, "captured"
                    )
                decisions.append(decision)
            return decisions

        # The organisation's row is locked first: the seat limit holds under races.
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_MEMBERS,
            work,
            replay=Replay("capture_existing_users"),
            lock=True,
        )

    def invite(
        self, actor: str, organisation_id: str, email: str, *, role: Role = Role.MEMBER
    ) -> Invitation:
        """Invite an email address; its owner is enrolled on signing up with it, verified.

        Invitations let invite-only organisations grow, and admit addresses outside the
        organisation's domains (contractors).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidEmail: the address is malformed.
        """
        actor = args.user(actor, "actor")
        address = args.email(email, "email")
        wanted = args.role(role)

        def work(ctx: Context) -> Invitation:
            invitation = Invitation(ctx.org.id, address, wanted, actor, ctx.now)
            ctx.uow.invitations.put(invitation)
            ctx.record(ev.MemberInvited, email=str(address), role=wanted.value)
            return invitation

        return self._runner.as_member(
            actor, organisation_id, Permission.MANAGE_MEMBERS, work, replay=Replay("invite")
        )

    def list_join_requests(self, actor: str, organisation_id: str) -> list[JoinRequest]:
        """Return the pending join requests, oldest first (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_MEMBERS,
            lambda ctx: ctx.uow.join_requests.list_pending(ctx.org.id),
        )

    def decide_join_request(
        self, actor: str, organisation_id: str, request_id: str, *, approve: bool
    ) -> JoinRequest:
        """Approve (enrol the user) or reject a pending join request.

        Raises:
            JoinRequestNotFound: no such request in the organisation.
            InvalidTransition: the request was already decided.
            EnrolmentRefused: approving would exceed the seat limit.
            AlreadyMember: the user joined an organisation meanwhile.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        request_ref = args.ref(request_id, "request_id")
        approving = args.flag(approve, "approve")

        def work(ctx: Context) -> JoinRequest:
            uow = ctx.uow
            request = uow.join_requests.get(ctx.org.id, request_ref)
            if request is None:
                raise JoinRequestNotFound(f"join request {request_ref} does not exist")
            if request.status is not JoinRequestStatus.PENDING:
                raise InvalidTransition(f"join request {request_ref} is already decided")
            status = JoinRequestStatus.APPROVED if approving else JoinRequestStatus.REJECTED
            decided = attrs.evolve(request, status=status, decided_by=actor, decided_at=ctx.now)
            uow.join_requests.update(decided)
            if approving:
                ensure_seat_free(ctx.org, uow.memberships.count_active(ctx.org.id))
                admit(
                    ctx,
                    request.user_id,
                    request.email,
                    request.display_name,
                    Role.MEMBER,
                    "join_request_approved",
                )
            return decided

        # The organisation's row is locked first: the seat limit holds under races.
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_MEMBERS,
            work,
            replay=Replay("decide_join_request"),
            lock=True,
        )


def _acted_in(decision: EnrolmentDecision) -> str | None:
    """The organisation a sign-up wrote in (``None``: it wrote nothing)."""
    if decision.reason is EnrolmentReason.ALREADY_MEMBER or decision.outcome not in (
        EnrolmentOutcome.ENROLLED,
        EnrolmentOutcome.JOIN_REQUESTED,
    ):
        return None
    return decision.organisation_id


def _act_on(
    ctx: Context,
    decision: EnrolmentDecision,
    address: EmailAddress,
    display: str,
    invitation: Invitation | None,
) -> None:
    """Carry out a sign-up's decision: enrol the user, or file their join request."""
    uow, user = ctx.uow, ctx.actor
    if decision.outcome is EnrolmentOutcome.ENROLLED:
        role = invitation.role if invitation is not None else Role.MEMBER
        admit(ctx, user, address, display, role, decision.reason.value)
        if invitation is not None:
            uow.invitations.put(attrs.evolve(invitation, accepted_at=ctx.now))
    elif (
        decision.outcome is EnrolmentOutcome.JOIN_REQUESTED
        and uow.join_requests.pending_for_user(user) is None
    ):
        request = JoinRequest(new_id(ctx.now), ctx.org.id, user, address, display, ctx.now)
        uow.join_requests.add(request)
        ctx.record(ev.JoinRequested, user_id=user, request_id=request.id)
