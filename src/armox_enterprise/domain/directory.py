"""Directory provisioning: what a company directory (Okta, Microsoft Entra) may do to members.

The directory is the authority on who works at the company: a user it provisions becomes an
active member whatever their email's domain (no claimed domain is needed), one it deactivates
is removed as an admin's removal would remove them, one it reactivates is a member again.
These rules decide what a provisioning call does to the membership it finds; the service
carries the decision out.

Beside the membership the library keeps the directory's **link** to it
(:class:`DirectoryLink`): the directory's own id of the user (SCIM ``externalId``, unique in
the organisation) and whether the directory deleted the user.  A deleted user is gone for the
directory (RFC 7644 3.6: every later request on them is 404) while the organisation keeps
the membership, removed, in its history; provisioning them again brings them back.
"""

from __future__ import annotations

import enum
import unicodedata
from datetime import datetime

import attrs

from armox_enterprise.domain.organisation import Membership, Organisation
from armox_enterprise.domain.reasons import EnrolmentReason
from armox_enterprise.domain.values import EXTERNAL_ID_LENGTH, EmailAddress
from armox_enterprise.exceptions import AlreadyExists, EnrolmentRefused, InvalidText

__all__ = [
    "DirectoryAction",
    "DirectoryLink",
    "DirectoryResult",
    "DirectoryUser",
    "ensure_external_id_free",
    "ensure_seat_free",
    "link_after",
    "parse_external_id",
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
class DirectoryLink:
    """What the library keeps of the directory's view of one membership.

    Attributes:
        organisation_id: the organisation.
        user_id: the member (the host's user id).
        external_id: the directory's own id of the user (SCIM ``externalId``), unique in the
            organisation; ``None``: the directory gave none (or deleted the user: a deletion
            lets the id go).
        deleted_at: when the directory deleted the user (SCIM ``DELETE``); ``None``: not
            deleted.  A deleted user's membership is removed and stays in the history.
    """

    organisation_id: str
    user_id: str
    external_id: str | None = None
    deleted_at: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        """Whether the directory deleted the user (they are gone for it)."""
        return self.deleted_at is not None


@attrs.frozen
class DirectoryResult:
    """The membership after a directory call, and whether the call changed anything.

    Attributes:
        membership: the user's membership in the organisation, as stored after the call.
        changed: ``False`` when the membership (and its link) already was what the directory
            asked for (the call wrote nothing).
        external_id: the directory's own id of the user after the call, or ``None``.
    """

    membership: Membership
    changed: bool
    external_id: str | None = None


@attrs.frozen
class DirectoryUser:
    """A user as the directory sees them: a membership it has not deleted, and its id.

    Attributes:
        membership: the user's membership (active, or removed by a deactivation).
        external_id: the directory's own id of the user, or ``None``.
    """

    membership: Membership
    external_id: str | None = None


def parse_external_id(value: object) -> str:
    """Check a directory's id of a user (SCIM ``externalId``) and return it as given.

    It is compared exactly (RFC 7643 makes it case-exact), so it is kept as sent: a string of
    1 to :data:`~armox_enterprise.domain.values.EXTERNAL_ID_LENGTH` characters, not only
    white space, with no control character (NUL, line breaks, escapes ...) and no lone
    surrogate.

    Raises:
        InvalidText: anything else.
    """
    if not isinstance(value, str):
        raise InvalidText(f"external_id must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidText("external_id must not be empty")
    if len(value) > EXTERNAL_ID_LENGTH:
        raise InvalidText(
            f"external_id must be at most {EXTERNAL_ID_LENGTH} characters, got {len(value)}"
        )
    if not value.isprintable() and any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise InvalidText("external_id must not contain control characters or lone surrogates")
    return value


def link_after(
    current: DirectoryLink | None,
    organisation_id: str,
    user_id: str,
    external_id: str | None,
    *,
    deleted_at: datetime | None = None,
) -> DirectoryLink:
    """The link a directory call leaves: ``external_id`` given (``""`` removes it, ``None``
    keeps the current one), deleted at ``deleted_at`` (``None``: not deleted).  A deletion
    lets the external id go (the user is gone for the directory), and a user provisioned
    after a deletion starts with none but the one given."""
    kept = current.external_id if current is not None and not current.is_deleted else None
    if external_id is not None:
        kept = external_id or None
    if deleted_at is not None:
        kept = None
    return DirectoryLink(organisation_id, user_id, kept, deleted_at)


def ensure_external_id_free(holder: DirectoryLink | None, user_id: str) -> None:
    """Refuse giving ``user_id`` an external id that another user of the organisation holds.

    Args:
        holder: the link that holds the external id in the organisation, if any.
        user_id: the user who is to hold it.

    Raises:
        AlreadyExists: ``holder`` is another user's.
    """
    if holder is not None and holder.user_id != user_id:
        raise AlreadyExists("another user of the organisation has this external_id")


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
