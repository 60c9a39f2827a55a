"""Use cases: directory provisioning, the calls a company directory (SCIM) makes.

A directory (Okta, Microsoft Entra) is not a member of the organisation: the host
authenticates its client (a SCIM bearer token per organisation) and calls these use cases for
it, as it runs the jobs.  They act as the system (``"system"`` in the audit log), take no
acting user, and are idempotent by state: a call that finds the membership already as the
directory wants it writes nothing and answers with ``changed=False``.

Beside the membership they keep its :class:`~armox_enterprise.domain.directory.DirectoryLink`:
the directory's own id of the user and whether it deleted them.  A user the directory deleted
(:meth:`DirectoryUseCases.delete_member`) is unknown to every directory call
(``MemberNotFound``) but :meth:`DirectoryUseCases.provision_member`, which brings them back.
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
    DirectoryLink,
    DirectoryResult,
    DirectoryUser,
    ensure_external_id_free,
    ensure_seat_free,
    link_after,
    parse_external_id,
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


def _known(ctx: Context, user_id: str) -> tuple[Membership, DirectoryLink | None]:
    """The user's membership in the organisation, active or removed, and its link.

    Raises:
        MemberNotFound: the user was never a member of it, or the directory deleted them.
    """
    membership = ctx.uow.memberships.get(ctx.org.id, user_id)
    link = ctx.uow.memberships.link(ctx.org.id, user_id)
    if membership is None or (link is not None and link.is_deleted):
        raise MemberNotFound(f"user {user_id} is not a member of the organisation")
    return membership, link


def _external_id(value: object) -> str | None:
    """``None`` (keep), ``""`` (remove) or a directory's id of a user, checked."""
    if value is None or value == "":
        return value
    return parse_external_id(value)


def _relink(ctx: Context, current: DirectoryLink | None, wanted: DirectoryLink) -> bool:
    """Store ``wanted`` if it differs from ``current`` (no link is a link with nothing);
    return whether it did.  Called before the call's other writes, so a refusal writes
    nothing.

    Raises:
        AlreadyExists: another user of the organisation holds its external id.
    """
    before = current or DirectoryLink(wanted.organisation_id, wanted.user_id)
    if before == wanted:
        return False
    if wanted.external_id is not None and wanted.external_id != before.external_id:
        holder = ctx.uow.memberships.link_by_external_id(ctx.org.id, wanted.external_id)
        ensure_external_id_free(holder, wanted.user_id)
    ctx.uow.memberships.put_link(wanted)
    return True


def _readmit(ctx: Context, user: str, email: EmailAddress, display: str, reason: str) -> Membership:
    """Admit a user the directory provisions or reactivates, within the seat limit."""
    ensure_seat_free(ctx.org, ctx.uow.memberships.count_active(ctx.org.id))
    return admit(ctx, user, email, display, Role.MEMBER, reason)


class DirectoryUseCases(UseCases):
    """Provisioning by the company directory: provision, deactivate, reactivate, look up."""

    def provision_member(
        self,
        organisation_id: str,
        user_id: str,
        email: str,
        *,
        display_name: str = "",
        external_id: str | None = None,
    ) -> DirectoryResult:
        """Make the user an active member, as the directory says (SCIM ``POST /Users``).

        The directory is the authority: the email's domain need not be claimed by the
        organisation, nor verified, and the join mode does not apply; the seat limit does.
        A user never seen, removed before or deleted by the directory joins as a ``member``
        with no credits; an active member keeps their role and credits, and takes the address
        and display name given (``display_name=""`` keeps theirs).  Calling it again changes
        nothing.

        Args:
            organisation_id: the organisation.
            user_id: the host's user id.
            email: the member's address.
            display_name: their display name (``""``: keep theirs).
            external_id: the directory's own id of the user (SCIM ``externalId``), unique in
                the organisation; ``None`` keeps the one stored, ``""`` removes it.

        Raises:
            AlreadyExists: another user of the organisation has ``external_id``.
            AlreadyMember: the user is an active member of another organisation.
            EnrolmentRefused: the seat limit is reached (reason ``SEAT_LIMIT_REACHED``).
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        user = args.user(user_id)
        address = args.email(email, "email")
        display = args.name(display_name, "display_name", allow_empty=True)
        wanted_id = _external_id(external_id)

        def work(ctx: Context) -> DirectoryResult:
            existing = ctx.uow.memberships.get(ctx.org.id, user)
            # A user the directory deleted is a removed member: provisioning admits them.
            link = ctx.uow.memberships.link(ctx.org.id, user) if existing is not None else None
            wanted = link_after(link, ctx.org.id, user, wanted_id)
            action = provisioning_action(existing, address, display)
            if existing is not None and action is DirectoryAction.NONE:
                relinked = _relink(ctx, link, wanted)
                return DirectoryResult(existing, relinked, wanted.external_id)
            if existing is not None and action is DirectoryAction.UPDATE:
                _relink(ctx, link, wanted)
                changed = attrs.evolve(
                    existing, email=address, display_name=display or existing.display_name
                )
                ctx.uow.memberships.update(changed)
                ctx.record(ev.MemberDetailsChanged, user_id=user)
                return DirectoryResult(changed, True, wanted.external_id)
            if wanted.external_id is not None:  # checked before the admission writes
                holder = ctx.uow.memberships.link_by_external_id(ctx.org.id, wanted.external_id)
                ensure_external_id_free(holder, user)
            kept = display or (existing.display_name if existing is not None else "")
            reason = "provisioned" if existing is None else "reactivated"
            admitted = _readmit(ctx, user, address, kept, reason)
            _relink(ctx, link, wanted)
            return DirectoryResult(admitted, True, wanted.external_id)

        # The organisation's row is locked first: the seat limit holds under races.
        return self._runner.as_system(
            organisation_id,
            work,
            replay=Replay("provision_member", kept=_changed),
            lock=True,
        )

    def deactivate_member(
        self, organisation_id: str, user_id: str, *, external_id: str | None = None
    ) -> DirectoryResult:
        """Remove the member, as the directory says (SCIM ``active=false``).

        Exactly what :meth:`remove_member` does: unused credits return to the pool, pending
        credit requests are cancelled, pending holds can still be captured or released.  A
        member already removed stays as they are (``changed=False``), but for
        ``external_id``.

        Args:
            organisation_id: the organisation.
            user_id: the host's user id.
            external_id: the directory's own id of the user, as :meth:`provision_member`
                takes it (``None`` keeps the one stored, ``""`` removes it).

        Raises:
            AlreadyExists: another user of the organisation has ``external_id``.
            LastAdminError: the member is the last active admin.
            MemberNotFound: the user was never a member of the organisation, or the
                directory deleted them.
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        user = args.user(user_id)
        wanted_id = _external_id(external_id)

        def work(ctx: Context) -> DirectoryResult:
            existing, link = _known(ctx, user)
            wanted = link_after(link, ctx.org.id, user, wanted_id)
            relinked = _relink(ctx, link, wanted)
            if not existing.is_active:
                return DirectoryResult(existing, relinked, wanted.external_id)
            return DirectoryResult(remove(ctx, existing), True, wanted.external_id)

        # Locked first as an admin's removal is: the last-admin rule holds under races.
        return self._runner.as_system(
            organisation_id,
            work,
            replay=Replay("deactivate_member", kept=_changed),
            lock=True,
        )

    def delete_member(self, organisation_id: str, user_id: str) -> DirectoryResult:
        """Remove the member and forget them for the directory (SCIM ``DELETE``).

        The removal is :meth:`deactivate_member`'s (credits back, requests cancelled, holds
        still capturable); the organisation keeps the removed membership in its history, but
        the directory's calls no longer find the user (``MemberNotFound``, RFC 7644 3.6) and
        the external id is let go, until :meth:`provision_member` brings them back.

        Raises:
            LastAdminError: the member is the last active admin.
            MemberNotFound: the user was never a member of the organisation, or the
                directory deleted them already.
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        user = args.user(user_id)

        def work(ctx: Context) -> DirectoryResult:
            existing, link = _known(ctx, user)
            removed = remove(ctx, existing) if existing.is_active else existing
            deleted = link_after(link, ctx.org.id, user, None, deleted_at=ctx.now)
            ctx.uow.memberships.put_link(deleted)
            return DirectoryResult(removed, True, None)

        return self._runner.as_system(
            organisation_id,
            work,
            replay=Replay("delete_member", kept=_changed),
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
            MemberNotFound: the user was never a member of the organisation, or the
                directory deleted them (provision them again).
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        user = args.user(user_id)

        def work(ctx: Context) -> DirectoryResult:
            existing, link = _known(ctx, user)
            external = link.external_id if link is not None else None
            if reactivation_action(existing) is DirectoryAction.NONE:
                return DirectoryResult(existing, False, external)
            back = _readmit(ctx, user, existing.email, existing.display_name, "reactivated")
            return DirectoryResult(back, True, external)

        return self._runner.as_system(
            organisation_id,
            work,
            replay=Replay("reactivate_member", kept=_changed),
            lock=True,
        )

    def directory_member(self, organisation_id: str, user_id: str) -> Membership:
        """Return the user's membership, active or removed, for the directory.

        Raises:
            MemberNotFound: the user was never a member of the organisation, or the
                directory deleted them.
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        return self.directory_user(organisation_id, user_id).membership

    def directory_members(self, organisation_id: str) -> list[Membership]:
        """Return every membership of the organisation the directory has not deleted, active
        and removed, by join time.

        Raises:
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        return [u.membership for u in self.directory_users(organisation_id)]

    def directory_user(self, organisation_id: str, user_id: str) -> DirectoryUser:
        """Return the user as the directory sees them: their membership, active or removed,
        and the directory's id of them.

        Raises:
            MemberNotFound: the user was never a member of the organisation, or the
                directory deleted them.
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """
        user = args.user(user_id)

        def read(ctx: Context) -> DirectoryUser:
            membership, link = _known(ctx, user)
            return DirectoryUser(membership, link.external_id if link is not None else None)

        return self._runner.as_system(
            organisation_id, read, replay=Replay[DirectoryUser]("directory_user", kept=_never)
        )

    def directory_users(self, organisation_id: str) -> list[DirectoryUser]:
        """Return every user of the organisation the directory has not deleted, active and
        removed, by join time, with the directory's id of each.

        Raises:
            OrganisationNotFound: no such organisation.
            InvalidInput: an argument is malformed.
        """

        def read(ctx: Context) -> list[DirectoryUser]:
            links = {k.user_id: k for k in ctx.uow.memberships.links(ctx.org.id)}
            found: list[DirectoryUser] = []
            for membership in ctx.uow.memberships.list(ctx.org.id, active_only=False):
                link = links.get(membership.user_id)
                if link is None:
                    found.append(DirectoryUser(membership))
                elif not link.is_deleted:
                    found.append(DirectoryUser(membership, link.external_id))
            return found

        return self._runner.as_system(
            organisation_id,
            read,
            replay=Replay[list[DirectoryUser]]("directory_users", kept=_never),
        )
