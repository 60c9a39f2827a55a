"""Domain events: facts about what changed, recorded in the unit of work that changed it.

Every event carries the organisation, the acting user (``"system"`` for jobs) and the instant;
the service hands them to registered handlers after the unit of work commits.
"""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = [
    "EVENT_TYPES",
    "AllotmentShortfall",
    "CreditRequestDecided",
    "CreditRequestSubmitted",
    "CreditsAllocated",
    "CreditsReclaimed",
    "CreditsSpent",
    "DomainCheckFailing",
    "DomainClaimed",
    "DomainLapsed",
    "DomainRecovered",
    "DomainRemoved",
    "DomainVerified",
    "Event",
    "GraceDrawn",
    "GrantShortfall",
    "JoinRequested",
    "MemberDetailsChanged",
    "MemberEnrolled",
    "MemberInvited",
    "MemberRemoved",
    "MemberUsageAlert",
    "OrganisationCreated",
    "OrganisationSettingsChanged",
    "PeriodClosed",
    "PeriodOpened",
    "PoolAllocationAlert",
    "PoolToppedUp",
    "RequestWaitingAlert",
    "RoleChanged",
    "SoftLimitSet",
    "SpendCapSet",
    "TeamAssigned",
    "TeamBudgetMoved",
    "TeamChanged",
]

SYSTEM_ACTOR = "system"


@attrs.frozen(kw_only=True)
class Event:
    """Base of every domain event."""

    organisation_id: str
    actor: str
    occurred_at: datetime

    @property
    def name(self) -> str:
        """The event's type name, e.g. ``"CreditsAllocated"``."""
        return type(self).__name__


@attrs.frozen(kw_only=True)
class OrganisationCreated(Event):
    """An organisation was created with its first admin."""

    organisation_name: str
    admin_user_id: str


@attrs.frozen(kw_only=True)
class OrganisationSettingsChanged(Event):
    """An admin changed a setting: the allowance, join mode, seat limit, rollover policy, alert
    thresholds or another (``setting`` names it, ``value`` is its new value as text)."""

    setting: str
    value: str


@attrs.frozen(kw_only=True)
class DomainClaimed(Event):
    """An organisation claimed an email domain (not yet verified)."""

    domain: str


@attrs.frozen(kw_only=True)
class DomainVerified(Event):
    """A claimed domain's DNS proof was found; it now enrols users."""

    domain: str


@attrs.frozen(kw_only=True)
class DomainCheckFailing(Event):
    """A re-check of a verified domain did not find its TXT record: its grace window opened.

    The domain still enrols until ``lapses_at`` (an instant in ISO 8601, UTC); a passing check
    before then recovers it, a failing one after it lapses it.
    """

    domain: str
    lapses_at: str


@attrs.frozen(kw_only=True)
class DomainRecovered(Event):
    """A failing domain's TXT record was found again within its grace window."""

    domain: str
    failing_since: str


@attrs.frozen(kw_only=True)
class DomainLapsed(Event):
    """A failing domain's grace window passed with no passing check: it enrols nobody now.

    Its members stay; an admin verifies the domain again with ``verify_domain``.
    """

    domain: str
    failing_since: str


@attrs.frozen(kw_only=True)
class DomainRemoved(Event):
    """An organisation gave up a domain."""

    domain: str


@attrs.frozen(kw_only=True)
class MemberEnrolled(Event):
    """A user became an active member."""

    user_id: str
    role: str
    reason: str


@attrs.frozen(kw_only=True)
class MemberInvited(Event):
    """An admin invited an email address."""

    email: str
    role: str


@attrs.frozen(kw_only=True)
class JoinRequested(Event):
    """A user asked to join an organisation whose join mode asks for approval."""

    user_id: str
    request_id: str


@attrs.frozen(kw_only=True)
class RoleChanged(Event):
    """A member's role changed."""

    user_id: str
    role: str


@attrs.frozen(kw_only=True)
class MemberDetailsChanged(Event):
    """The directory changed an active member's email address or display name."""

    user_id: str


@attrs.frozen(kw_only=True)
class SpendCapSet(Event):
    """An admin set a monthly spending cap: the organisation's default (``user_id`` and
    ``team_id`` are ``""``), a member's own (``user_id``) or a team's (``team_id``); ``cap``
    is the number of credits, ``""`` for none."""

    user_id: str
    cap: str
    team_id: str = ""


@attrs.frozen(kw_only=True)
class SoftLimitSet(Event):
    """An admin set the organisation's soft limit: ``credits`` or ``percent`` (``""`` for the
    one not set; both ``""``: no soft limit)."""

    credits: str
    percent: str


@attrs.frozen(kw_only=True)
class GraceDrawn(Event):
    """A member who ran out spent on grace: ``amount`` credits were lent them from ``source``
    (the pool or their team's budget) for the spend ``reference``; ``drawn`` is what they
    drew in the period so far, of ``allowance``."""

    user_id: str
    amount: int
    source: str
    reference: str
    drawn: int
    allowance: int


@attrs.frozen(kw_only=True)
class MemberRemoved(Event):
    """A member was removed; ``returned`` credits went back to the pool."""

    user_id: str
    returned: int


@attrs.frozen(kw_only=True)
class PoolToppedUp(Event):
    """Credits were added to the pool outside the monthly grant."""

    amount: int


@attrs.frozen(kw_only=True)
class CreditsAllocated(Event):
    """Credits moved from the pool to a member (allocation, allotment or approval)."""

    user_id: str
    amount: int
    kind: str


@attrs.frozen(kw_only=True)
class CreditsReclaimed(Event):
    """An admin moved credits from a member back to the pool."""

    user_id: str
    amount: int


@attrs.frozen(kw_only=True)
class CreditsSpent(Event):
    """A member spent credits (a spend, or a captured hold)."""

    user_id: str
    amount: int
    reference: str


@attrs.frozen(kw_only=True)
class CreditRequestSubmitted(Event):
    """A member asked for more credits, or (``automatic``) the library asked for them when
    they ran out and spent on grace."""

    request_id: str
    user_id: str
    amount: int
    automatic: bool = False


@attrs.frozen(kw_only=True)
class CreditRequestDecided(Event):
    """A credit request left ``pending`` (approved, rejected, cancelled or expired)."""

    request_id: str
    user_id: str
    status: str
    amount: int


@attrs.frozen(kw_only=True)
class AllotmentShortfall(Event):
    """A standing allotment could not be issued at period opening: the pool was short."""

    user_id: str
    wanted: int
    available: int


@attrs.frozen(kw_only=True)
class PeriodClosed(Event):
    """A billing period closed; ``expired`` credits left the organisation."""

    period_index: int
    expired: int
    carried_over: int


@attrs.frozen(kw_only=True)
class PeriodOpened(Event):
    """A billing period opened and its monthly grant was posted (``granted``: what was)."""

    period_index: int
    granted: int


@attrs.frozen(kw_only=True)
class GrantShortfall(Event):
    """A period's grant gave less than the monthly allowance: the organisation's totals would
    otherwise pass ``MAX_CREDITS`` (see ``plan_grant``).  ``granted`` is what it gave."""

    period_index: int
    wanted: int
    granted: int


@attrs.frozen(kw_only=True)
class MemberUsageAlert(Event):
    """A member used ``threshold`` percent (80 or 100) of what they were given this period."""

    user_id: str
    threshold: int
    period_index: int
    used: int
    allocated: int


@attrs.frozen(kw_only=True)
class PoolAllocationAlert(Event):
    """``threshold`` percent (90) of what the pool had this period is allocated to members."""

    threshold: int
    period_index: int
    allocated: int
    available_total: int


@attrs.frozen(kw_only=True)
class RequestWaitingAlert(Event):
    """A credit request has waited longer than the organisation wants requests to wait."""

    request_id: str
    user_id: str
    waiting_seconds: int


@attrs.frozen(kw_only=True)
class TeamChanged(Event):
    """An admin created, renamed or deleted a team (``change``: ``created``, ``renamed``,
    ``deleted``); ``team_name`` is the team's name after the change."""

    team_id: str
    team_name: str
    change: str


@attrs.frozen(kw_only=True)
class TeamBudgetMoved(Event):
    """Credits moved between the pool and a team's budget (``direction``: ``fund``, from
    the pool; ``reclaim``, back to it)."""

    team_id: str
    amount: int
    direction: str


@attrs.frozen(kw_only=True)
class TeamAssigned(Event):
    """A member's team changed (``team_id`` ``None``: no team), or their delegated grant to
    manage it (``manager``)."""

    user_id: str
    team_id: str | None
    manager: bool


#: Every event type by name, for hosts that read stored events back.
EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        OrganisationCreated,
        OrganisationSettingsChanged,
        DomainClaimed,
        DomainVerified,
        DomainCheckFailing,
        DomainRecovered,
        DomainLapsed,
        DomainRemoved,
        MemberEnrolled,
        MemberInvited,
        JoinRequested,
        RoleChanged,
        MemberDetailsChanged,
        SpendCapSet,
        SoftLimitSet,
        GraceDrawn,
        MemberRemoved,
        PoolToppedUp,
        CreditsAllocated,
        CreditsReclaimed,
        CreditsSpent,
        CreditRequestSubmitted,
        CreditRequestDecided,
        AllotmentShortfall,
        PeriodClosed,
        PeriodOpened,
        GrantShortfall,
        MemberUsageAlert,
        PoolAllocationAlert,
        RequestWaitingAlert,
        TeamChanged,
        TeamBudgetMoved,
        TeamAssigned,
    )
}
