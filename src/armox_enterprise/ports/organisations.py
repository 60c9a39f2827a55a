"""Who belongs where: organisations, memberships, domain claims, invitations, join requests.

The store guards two rules here against concurrent writers, atomically (a unique index, a
conditional write), never by reading then writing in Python: a user has at most one active
membership (in any organisation), and a domain is claimed by at most one organisation.  A
join request, like a credit request, changes only while it is pending, so two admins
deciding it at once cannot both win.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol

from armox_enterprise.domain.directory import DirectoryLink
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinRequest,
    Membership,
    Organisation,
)
from armox_enterprise.domain.values import DomainName, EmailAddress

__all__ = [
    "DomainClaimRepository",
    "InvitationRepository",
    "JoinRequestRepository",
    "MembershipRepository",
    "OrganisationRepository",
]


class OrganisationRepository(Protocol):
    """Stores organisations."""

    def add(self, organisation: Organisation) -> None:
        """Store a new organisation."""
        ...

    def get(self, organisation_id: str, *, for_update: bool = False) -> Organisation | None:
        """Return the organisation, or ``None``.

        With ``for_update`` the store locks it until the unit of work ends, so that two units
        of work turning the same period over run one after the other.
        """
        ...

    def update(self, organisation: Organisation) -> None:
        """Replace the stored organisation with the same id."""
        ...

    def due_for_turnover(self, instant: datetime) -> list[str]:
        """Return the ids of organisations whose current period ended at or before ``instant``."""
        ...

    def all_ids(self) -> list[str]:
        """Return the ids of every organisation, in id order."""
        ...


class MembershipRepository(Protocol):
    """Stores memberships, at most one per (organisation, user)."""

    def add(self, membership: Membership) -> None:
        """Store a new membership (bring a removed one back with :meth:`update`).

        Raises:
            AlreadyMember: the user already has an active membership (in any organisation),
                or a removed one in this organisation.
        """
        ...

    def get(self, organisation_id: str, user_id: str) -> Membership | None:
        """Return the user's membership in the organisation (active or removed), or ``None``."""
        ...

    def active_for_user(self, user_id: str) -> Membership | None:
        """Return the user's active membership, wherever it is, or ``None``."""
        ...

    def update(self, membership: Membership) -> None:
        """Replace the stored membership of the same organisation and user."""
        ...

    def list(self, organisation_id: str, *, active_only: bool = True) -> list[Membership]:
        """Return the organisation's memberships ordered by join time, then user id."""
        ...

    def count_active(self, organisation_id: str, *, admins_only: bool = False) -> int:
        """Return how many active members (or active admins) the organisation has."""
        ...

    # -- the directory's links (SCIM externalId and deletion), one per membership at most --

    def link(self, organisation_id: str, user_id: str) -> DirectoryLink | None:
        """Return the directory's link to the user's membership, or ``None`` (none stored)."""
        ...

    def link_by_external_id(self, organisation_id: str, external_id: str) -> DirectoryLink | None:
        """Return the link of the organisation holding exactly ``external_id`` (compared
        case-exactly), or ``None``."""
        ...

    def links(self, organisation_id: str) -> builtins.list[DirectoryLink]:
        """Return the organisation's links, ordered by user id."""
        ...

    def put_link(self, link: DirectoryLink) -> None:
        """Store the link, replacing the one of the same organisation and user.

        The membership it names must exist.  An external id is held by at most one user of
        an organisation (``None`` by any number); organisations do not share the rule.

        Raises:
            AlreadyExists: another user of the organisation holds the link's external id
                (the store's own key refuses it, also when two calls race).
        """
        ...


class DomainClaimRepository(Protocol):
    """Stores domain claims; a domain is claimed by at most one organisation."""

    def add(self, claim: DomainClaim) -> None:
        """Store a new claim.

        Raises:
            DomainAlreadyClaimed: an organisation already holds the domain.
        """
        ...

    def get(self, domain: DomainName) -> DomainClaim | None:
        """Return the claim on exactly ``domain``, or ``None``."""
        ...

    def update(self, claim: DomainClaim) -> None:
        """Replace the stored claim on the same domain."""
        ...

    def remove(self, domain: DomainName) -> None:
        """Delete the claim on ``domain`` (nothing if there is none)."""
        ...

    def list(self, organisation_id: str) -> list[DomainClaim]:
        """Return the organisation's claims ordered by domain."""
        ...


class InvitationRepository(Protocol):
    """Stores invitations, at most one per (organisation, email address)."""

    def put(self, invitation: Invitation) -> None:
        """Store the invitation, replacing one of the same organisation and address."""
        ...

    def open_for(self, email: EmailAddress) -> list[Invitation]:
        """Return the unaccepted invitations of ``email``, oldest first."""
        ...

    def list(self, organisation_id: str) -> list[Invitation]:
        """Return the organisation's invitations, oldest first."""
        ...


class JoinRequestRepository(Protocol):
    """Stores join requests."""

    def add(self, request: JoinRequest) -> None:
        """Store a new join request."""
        ...

    def get(self, organisation_id: str, request_id: str) -> JoinRequest | None:
        """Return the join request, or ``None``."""
        ...

    def pending_for_user(self, user_id: str) -> JoinRequest | None:
        """Return the user's pending join request, if any."""
        ...

    def update(self, request: JoinRequest) -> None:
        """Replace a pending join request.

        Raises:
            InvalidTransition: the stored request is no longer pending.
        """
        ...

    def list_pending(self, organisation_id: str) -> list[JoinRequest]:
        """Return the organisation's pending join requests, oldest first."""
        ...
