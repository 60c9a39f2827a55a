"""Use cases: directory provisioning, the calls a company directory (SCIM) makes.

A directory (Okta, Microsoft Entra) is not a member of the organisation: the host
authenticates its client (a SCIM bearer token per organisation) and calls these use cases for
it, as it runs the jobs.  They act as the system (``"system"`` in the audit log), take no
acting user, and are idempotent by state: a call that finds the membership already as the
directory wants it writes nothing and answers with ``changed=False``.
"""

from __future__ import annotations

import attrs

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases
from armox_enterprise.application.context import Context
from armox_enterprise.application.enrolment import admit
from armox_enterprise.application.members import remove
from armox_enterprise.application.runner import Replay
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.directory import (
    DirectoryAction,
    DirectoryResult,
    ensure_seat_free,
    provisioning_action,
    reactivation_action,
)
from armox_enterprise.domain.organisation import Membership, Role
from armox_enterprise.domain.values import EmailAddress
from armox_enterprise.exceptions import MemberNotFound

__all__ = ["DirectoryUseCases"]


def _changed(result: DirectoryResult) -> bool:
    return result.changed


def _never(result: object) -> bool:
    return False


def _known(ctx: Context, user_id: str) -> Membership:
    """The user's membership in the organisation, active or removed.

    Raises:
        MemberNotFound: the user was never a member of it.
    """
    membership = ctx.uow.memberships.get(ctx.org.id, user_id)
    if membership is None:
        raise MemberNotFound(f"user {user_id} is not a member of the organisation")
    return membership


def _readmit(ctx: Context, user: str, email: EmailAddress, display: str, reason: str) -> Membership:
    """Admit a user the directory provisions or reactivates, within the seat limit."""
    ensure_seat_free(ctx.org, ctx.uow.memberships.count_active(ctx.org.id))
    return admit(ctx, user, email, display, Role.MEMBER, reason)


class DirectoryUseCases(UseCases):
    """Provisioning by the company directory: provision, deactivate, reactivate, look up."""

    def provision_member(
        self, organisation_id: str, user_id: str, email: str, *, display_name: str = ""
    ) -> DirectoryResult:
        """Make the user an active member, as the directory says (SCIM ``POST /Users``).

        The directory is the authority: the email's domain need not be claimed by the
        organisation, nor verified, and the join mode does not apply; the seat limit does.
        A user never seen, or removed before, joins as a ``member`` with no credits; an active
        member keeps their role and credits, and takes the address and display name given
        (``display_name=""`` keeps theirs).  Calling it again changes nothing.

        Raises:
            AlreadyMember: the user is an active member of another organisation.
            EnrolmentRefused: the seat limit is reached (reason ``SEAT_LIMIT_REACHED``).
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        user = args.user(user_id)
        address = args.email(email, "email")
        display = args.name(display_name, "display_name", allow_empty=True)

        def work(ctx: Context) -> DirectoryResult:
            existing = ctx.uow.memberships.get(ctx.org.id, user)
            action = provisioning_action(existing, address, display)
            if existing is not None and action is DirectoryAction.NONE:
                return DirectoryResult(existing, changed=False)
            if existing is not None and action is DirectoryAction.UPDATE:
                changed = attrs.evolve(
                    existing, email=address, display_name=display or existing.display_name
                )
                ctx.uow.memberships.update(changed)
                ctx.record(ev.MemberDetailsChanged, user_id=user)
                return DirectoryResult(changed, changed=True)
            kept = display or (existing.display_name if existing is not None else "")
            reason = "provisioned" if existing is None else "reactivated"
            return DirectoryResult(_readmit(ctx, user, address, kept, reason), changed=True)

        # The organisation's row is locked first: the seat limit holds under races.
        return self._runner.as_system(
            organisation_id,
            work,
            replay=Replay("provision_member", kept=_changed),
            lock=True,
        )

    def deactivate_member(self, organisation_id: str, user_id: str) -> DirectoryResult:
        """Remove the member, as the directory says (SCIM ``active=false`` or ``DELETE``).

        Exactly what :meth:`remove_member` does: unused credits return to the pool, pending
        credit requests are cancelled, pending holds can still be captured or released.  A
        member already removed stays as they are (``changed=False``).

        Raises:
            LastAdminError: the member is the last active admin.
            MemberNotFound: the user was never a member of the organisation.
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        user = args.user(user_id)

        def work(ctx: Context) -> DirectoryResult:
            existing = _known(ctx, user)
            if not existing.is_active:
                return DirectoryResult(existing, changed=False)
            return DirectoryResult(remove(ctx, existing), changed=True)

        # Locked first as an admin's removal is: the last-admin rule holds under races.
        return self._runner.as_system(
            organisation_id,
            work,
            replay=Replay("deactivate_member", kept=_changed),
            lock=True,
        )

    def reactivate_member(self, organisation_id: str, user_id: str) -> DirectoryResult:
        """Make a removed member active again (SCIM ``active=true``), as a ``member``.

        The membership comes back with its address and display name, the role ``member``, no
        standing allotment and no credits (what the removal returned stays in the pool).  An
        active member stays as they are (``changed=False``).

        Raises:
            AlreadyMember: the user is an active member of another organisation.
            EnrolmentRefused: the seat limit is reached (reason ``SEAT_LIMIT_REACHED``).
            MemberNotFound: the user was never a member of the organisation.
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        user = args.user(user_id)

        def work(ctx: Context) -> DirectoryResult:
            existing = _known(ctx, user)
            if reactivation_action(existing) is DirectoryAction.NONE:
                return DirectoryResult(existing, changed=False)
            back = _readmit(ctx, user, existing.email, existing.display_name, "reactivated")
            return DirectoryResult(back, changed=True)

        return self._runner.as_system(
            organisation_id,
            work,
            replay=Replay("reactivate_member", kept=_changed),
            lock=True,
        )

    def directory_member(self, organisation_id: str, user_id: str) -> Membership:
        """Return the user's membership, active or removed, for the directory.

        Raises:
            MemberNotFound: the user was never a member of the organisation.
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        user = args.user(user_id)
        return self._runner.as_system(
            organisation_id,
            lambda ctx: _known(ctx, user),
            replay=Replay[Membership]("directory_member", kept=_never),
        )

    def directory_members(self, organisation_id: str) -> list[Membership]:
        """Return every membership of the organisation, active and removed, by join time.

        Raises:
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        return self._runner.as_system(
            organisation_id,
            lambda ctx: ctx.uow.memberships.list(ctx.org.id, active_only=False),
            replay=Replay[list[Membership]]("directory_members", kept=_never),
        )
