"""Organisations, memberships and roles, domain claims, invitations and join requests."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from armox_enterprise.domain.periods import BillingPeriod, period_by_index
from armox_enterprise.domain.values import DomainName, EmailAddress, non_negative_credits
from armox_enterprise.exceptions import InvalidInput

__all__ = [
    "DomainClaim",
    "Invitation",
    "JoinMode",
    "JoinRequest",
    "JoinRequestStatus",
    "MemberRemainder",
    "MemberStatus",
    "Membership",
    "Organisation",
    "Role",
    "RolloverPolicy",
]


class Role(str, enum.Enum):
    """What a member may do: admins manage the organisation, members spend and request."""

    ADMIN = "admin"
    MEMBER = "member"


class MemberStatus(str, enum.Enum):
    """Whether a membership is in force."""

    ACTIVE = "active"
    REMOVED = "removed"


class JoinMode(str, enum.Enum):
    """How users with a company email address become members.

    ``AUTOMATIC`` enrols them at sign-up (the default), ``REQUEST`` files a join request that an
    admin approves, and ``INVITE_ONLY`` enrols only invited addresses.
    """

    AUTOMATIC = "automatic"
    REQUEST = "request"
    INVITE_ONLY = "invite_only"


class MemberRemainder(str, enum.Enum):
    """What happens to a member's unspent credits when a period closes."""

    EXPIRE = "expire"
    RETURN_TO_POOL = "return_to_pool"
    KEEP = "keep"


def _carry_over_cap(value: object) -> int:
    return non_negative_credits(value, name="pool_carry_over_cap")


def _remainder(value: object) -> MemberRemainder:
    try:
        return MemberRemainder(value)
    except ValueError:
        choices = ", ".join(m.value for m in MemberRemainder)
        raise InvalidInput(f"member_remainder must be one of {choices}, got {value!r}") from None


@attrs.frozen
class RolloverPolicy:
    """How a closing period treats unspent credits.

    Attributes:
        pool_carry_over_cap: unallocated pool credits up to this amount carry over into the next
            period; the rest expires.  ``0`` (the default) expires them all.
        member_remainder: what happens to members' unspent credits (default: they expire).
    """

    pool_carry_over_cap: int = attrs.field(default=0, converter=_carry_over_cap)
    member_remainder: MemberRemainder = attrs.field(
        default=MemberRemainder.EXPIRE, converter=_remainder
    )


@attrs.frozen
class Organisation:
    """An Enterprise organisation: its settings and the period it is in.

    Instances are immutable; the service stores changed copies made with :func:`attrs.evolve`.
    """

    id: str
    name: str
    monthly_allowance: int
    cycle_anchor: datetime
    created_at: datetime
    current_period_index: int = 0
    join_mode: JoinMode = JoinMode.AUTOMATIC
    seat_limit: int | None = None
    rollover: RolloverPolicy = RolloverPolicy()
    max_open_requests: int = 1
    allow_pool_spend: bool = False
    hold_lifetime: timedelta = timedelta(hours=1)
    #: The default monthly cap on each member's spending (see :mod:`~armox_enterprise.domain.
    #: caps`); ``None``: no cap.
    spend_cap: int | None = None

    @property
    def current_period(self) -> BillingPeriod:
        """The billing period the organisation's ledger is in."""
        return period_by_index(self.cycle_anchor, self.current_period_index)


@attrs.frozen
class Membership:
    """A user's membership in an organisation.

    ``user_id`` is the host's opaque user identifier.  A user has at most one active membership.
    """

    organisation_id: str
    user_id: str
    email: EmailAddress
    display_name: str
    role: Role
    joined_at: datetime
    status: MemberStatus = MemberStatus.ACTIVE
    standing_allotment: int = 0
    removed_at: datetime | None = None
    #: The member's own monthly cap, overriding the organisation's; ``None``: the
    #: organisation's applies.
    spend_cap: int | None = None

    @property
    def is_active(self) -> bool:
        """Whether the membership is in force."""
        return self.status is MemberStatus.ACTIVE

    @property
    def is_admin(self) -> bool:
        """Whether the member is an active admin."""
        return self.is_active and self.role is Role.ADMIN


@attrs.frozen
class DomainClaim:
    """An organisation's claim on an email domain.

    A claim enrols nobody until ``verified_at`` is set, which happens once a DNS TXT record
    ``armox-enterprise-verification=<verification_token>`` is found on the domain.
    """

    domain: DomainName
    organisation_id: str
    verification_token: str
    claimed_at: datetime
    include_subdomains: bool = False
    verified_at: datetime | None = None

    @property
    def is_verified(self) -> bool:
        """Whether the claim's DNS proof was found."""
        return self.verified_at is not None

    @property
    def txt_record(self) -> str:
        """The TXT record value that proves control of the domain."""
        return f"armox-enterprise-verification={self.verification_token}"

    def covers(self, domain: DomainName) -> bool:
        """Return whether an email address at ``domain`` falls under this claim."""
        if domain == self.domain:
            return True
        return self.include_subdomains and domain.value.endswith("." + self.domain.value)


@attrs.frozen
class Invitation:
    """An admin's invitation of an email address, used by invite-only organisations."""

    organisation_id: str
    email: EmailAddress
    role: Role
    invited_by: str
    created_at: datetime
    accepted_at: datetime | None = None


class JoinRequestStatus(str, enum.Enum):
    """Where a join request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@attrs.frozen
class JoinRequest:
    """A user's request to join an organisation whose join mode asks for approval."""

    id: str
    organisation_id: str
    user_id: str
    email: EmailAddress
    display_name: str
    created_at: datetime
    status: JoinRequestStatus = JoinRequestStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
