"""Directory provisioning: what a company directory (Okta, Microsoft Entra) may do to members.

The directory is the authority on who works at the company: a user it provisions becomes an
active member whatever their email's domain (no claimed domain is needed), one it deactivates
is removed as an admin's removal would remove them, one it reactivates is a member again.
These rules decide what a provisioning call does to the membership it finds; the service
carries the decision out.
"""

from __future__ import annotations

import enum

import attrs

from armox_enterprise.domain.organisation import Membership, Organisation
from armox_enterprise.domain.reasons import EnrolmentReason
from armox_enterprise.domain.values import EmailAddress
from armox_enterprise.exceptions import EnrolmentRefused

__all__ = [
    "DirectoryAction",
    "DirectoryResult",
    "ensure_seat_free",
    "provisioning_action",
    "reactivation_action",
]


class DirectoryAction(str, enum.Enum):
    """What a provisioning call does to the membership it finds."""

    ADMIT = "admit"
    """Make the user an active member (new, or back after a removal), role ``member``."""
    UPDATE = "update"
    """Keep the active membership; change its email address or display name."""
    NONE = "none"
    """Nothing: the membership already is what the directory asks for."""


@attrs.frozen
class DirectoryResult:
    """The membership after a directory call, and whether the call changed anything.

    Attributes:
        membership: the user's membership in the organisation, as stored after the call.
        changed: ``False`` when the membership already was what the directory asked for
            (the call wrote nothing).
    """

    membership: Membership
    changed: bool


def provisioning_action(
    existing: Membership | None, email: EmailAddress, display_name: str
) -> DirectoryAction:
    """Decide what provisioning ``email`` (and ``display_name``, ``""``: keep) does.

    A user never seen in the organisation, or removed from it, is admitted; an active member
    whose address or display name differs is updated; otherwise nothing happens.
    """
    if existing is None or not existing.is_active:
        return DirectoryAction.ADMIT
    if existing.email != email or (display_name and existing.display_name != display_name):
        return DirectoryAction.UPDATE
    return DirectoryAction.NONE


def reactivation_action(existing: Membership) -> DirectoryAction:
    """Decide what reactivating the user of ``existing`` does: admit a removed member again,
    leave an active one as they are."""
    return DirectoryAction.NONE if existing.is_active else DirectoryAction.ADMIT


def ensure_seat_free(organisation: Organisation, active_seats: int) -> None:
    """Refuse a new active member when the organisation's seat limit is reached.

    Raises:
        EnrolmentRefused: ``active_seats`` already fill the seat limit (reason
            ``SEAT_LIMIT_REACHED``).
    """
    if organisation.seat_limit is not None and active_seats >= organisation.seat_limit:
        raise EnrolmentRefused(
            "the organisation's seat limit is reached",
            reason=EnrolmentReason.SEAT_LIMIT_REACHED,
        )
