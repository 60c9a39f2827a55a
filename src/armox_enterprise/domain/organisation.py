"""Organisations, memberships and roles, domain claims, invitations and join requests."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from armox_enterprise.domain.alerts import DEFAULT_THRESHOLDS, AlertThresholds
from armox_enterprise.domain.grace import SoftLimit
from armox_enterprise.domain.periods import BillingPeriod, period_at, period_by_index
from armox_enterprise.domain.values import (
    DEFAULT_TIME_ZONE,
    DomainName,
    EmailAddress,
    non_negative_credits,
)
from armox_enterprise.exceptions import InvalidInput

__all__ = [
    "DomainClaim",
    "DomainStatus",
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

    ``cycle_anchor`` is the UTC instant the first period starts; periods repeat its local date
    and time in ``time_zone`` (an IANA name) every month (see
    :mod:`armox_enterprise.domain.periods`).
    ``alert_thresholds`` are the percentages at which the alert job raises usage alerts.
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
    time_zone: str = DEFAULT_TIME_ZONE
    alert_thresholds: AlertThresholds = DEFAULT_THRESHOLDS
    #: The default monthly cap on each member's spending (see :mod:`~armox_enterprise.domain.
    #: caps`); ``None``: no cap.
    spend_cap: int | None = None
    #: What a member who ran out may still spend in a period, and the automatic request it
    #: files (see :mod:`~armox_enterprise.domain.grace`); ``None``: no grace.
    soft_limit: SoftLimit | None = None

    @property
    def current_period(self) -> BillingPeriod:
        """The billing period the organisation's ledger is in."""
        return period_by_index(self.cycle_anchor, self.current_period_index, self.time_zone)

    def period(self, index: int) -> BillingPeriod:
        """The organisation's billing period number ``index``, in its time zone."""
        return period_by_index(self.cycle_anchor, index, self.time_zone)

    def period_at(self, instant: datetime) -> BillingPeriod:
        """The organisation's billing period that contains ``instant``, in its time zone."""
        return period_at(self.cycle_anchor, instant, self.time_zone)


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


class DomainStatus(str, enum.Enum):
    """Where a domain claim stands (:attr:`DomainClaim.status`)."""

    UNVERIFIED = "unverified"
    """Claimed, its TXT record not yet found: it enrols nobody."""
    VERIFIED = "verified"
    """Its TXT record was found and the last re-check found it too: it enrols."""
    FAILING = "failing"
    """A re-check did not find the record: it still enrols until ``lapses_at``."""
    LAPSED = "lapsed"
    """The grace window passed with no passing check: it enrols nobody until verified again."""


@attrs.frozen
class DomainClaim:
    """An organisation's claim on an email domain.

    A claim enrols nobody until ``verified_at`` is set, which happens once a DNS TXT record
    ``armox-enterprise-verification=<verification_token>`` is found on the domain.  The
    re-check job (:func:`~armox_enterprise.domain.claims.apply_check`) then keeps looking:
    ``last_checked_at`` is its last passing check, ``failing_since`` and ``lapses_at`` frame a
    grace window opened by a failing one, and ``lapsed_at`` says the window passed with no
    passing check; a lapsed claim keeps ``verified_at`` (when it was last verified) but is no
    longer verified, and enrols nobody until verified again.
    """

    domain: DomainName
    organisation_id: str
    verification_token: str
    claimed_at: datetime
    include_subdomains: bool = False
    verified_at: datetime | None = None
    last_checked_at: datetime | None = None
    failing_since: datetime | None = None
    lapses_at: datetime | None = None
    lapsed_at: datetime | None = None

    @property
    def is_verified(self) -> bool:
        """Whether the claim's DNS proof was found and has not lapsed since."""
        return self.verified_at is not None and self.lapsed_at is None

    @property
    def status(self) -> DomainStatus:
        """Where the claim stands: unverified, verified, failing (in its grace window), lapsed."""
        if self.lapsed_at is not None:
            return DomainStatus.LAPSED
        if self.verified_at is None:
            return DomainStatus.UNVERIFIED
        if self.failing_since is not None:
            return DomainStatus.FAILING
        return DomainStatus.VERIFIED

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
