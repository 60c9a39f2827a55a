"""Read models: what the profile page and the admin dashboard show.

The figures are this billing period's, read from per-period account totals that the store keeps
as transfers are posted, so a view costs the same whatever the length of the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import get_args

import attrs

from armox_enterprise.domain.caps import cap_room, counted_against_cap, member_cap
from armox_enterprise.domain.grace import grace_allowance
from armox_enterprise.domain.ledger import (
    ALLOCATED_KINDS,
    EXPIRED,
    POOL,
    REFUND_KINDS,
    SPENT_KINDS,
    USAGE,
    Account,
    TransferKind,
    member_account,
    team_account,
)
from armox_enterprise.domain.organisation import MemberRemainder, Membership, Organisation, Role
from armox_enterprise.domain.periods import valid_through
from armox_enterprise.domain.requests import (
    REQUEST_BLOCKED_REASON,
    CreditRequest,
    RequestStatus,
    can_request,
)
from armox_enterprise.domain.teams import Team
from armox_enterprise.exceptions import InvalidInput
from armox_enterprise.ports import MemberFigures, MemberSort, PeriodTotals, UnitOfWork

__all__ = [
    "Dashboard",
    "EnterpriseCredits",
    "MemberRow",
    "MemberSort",
    "Page",
    "PoolFigures",
    "ProfileView",
    "RequestStatistics",
    "TeamRow",
    "build_dashboard",
    "build_profile",
    "build_request_statistics",
    "pool_figures",
    "pool_history",
    "team_row",
    "team_rows",
]

_SORTS: tuple[str, ...] = get_args(MemberSort)
_MAX_PAGE = 500
#: The largest offset a store is asked for.  No organisation has this many members, so any
#: larger offset shows the same empty page; and offset plus limit still fits the signed
#: 64-bit integer every database's OFFSET takes.
_MAX_OFFSET = 2**62

_POSTED_KINDS = tuple(k for k in TransferKind if k.posts)


@attrs.frozen
class EnterpriseCredits:
    """The "Enterprise Credits" section of a member's profile, for the current period.

    Attributes:
        allocated: credited to the member this period (allocations, allotments, approvals).
        carried_in: the remainder kept from earlier periods (only under the "keep" policy).
        used: spent this period, refunds deducted.
        remaining: available now.
        on_hold: reserved by pending holds.
        period_start: when the current period began.
        resets_at: when the current period ends (the first instant it no longer covers).
        valid_through: the last local date the period covers in the organisation's time zone,
            inclusive: the local date of ``resets_at`` minus one microsecond (see
            :func:`~armox_enterprise.domain.periods.valid_through`).
        time_zone: the organisation's time zone (an IANA name) ``valid_through`` is read in.
        can_request: whether the "request credits" button is enabled.
        request_blocked_reason: why it is disabled, if it is.
        pending_request: the member's oldest pending request, if any.
        spend_cap: the member's monthly cap (their own, else their team's, else the
            organisation's default; ``None``: no cap).
        cap_counted: what counts against the cap this period: ``used`` plus ``on_hold``.
        cap_room: how much more the member may spend or hold this period under the cap
            (``None``: no cap).
        grace_allowance: what the member may spend on grace this period once their credits
            run out, under the organisation's soft limit (``0``: no soft limit).
        grace_drawn: what they spent on grace this period (lent by their team's budget or
            the pool; it counts in ``used`` too).
    """

    allocated: int
    carried_in: int
    used: int
    remaining: int
    on_hold: int
    period_start: datetime
    resets_at: datetime
    valid_through: date
    time_zone: str
    can_request: bool
    request_blocked_reason: str | None
    pending_request: CreditRequest | None
    spend_cap: int | None = None
    cap_counted: int = 0
    cap_room: int | None = None
    grace_allowance: int = 0
    grace_drawn: int = 0


@attrs.frozen
class ProfileView:
    """What the profile page shows a user.

    For anyone who is not an active enterprise member, ``is_enterprise`` is false, every other
    field is empty and the host shows its usual page with subscription management.
    """

    user_id: str
    is_enterprise: bool
    subscription_management_hidden: bool
    organisation_id: str | None = None
    badge: str | None = None
    role: Role | None = None
    credits: EnterpriseCredits | None = None
    #: The name of the member's team, and what its budget has left (``None``: no team).
    team: str | None = None
    team_remaining: int | None = None

    @classmethod
    def personal(cls, user_id: str) -> ProfileView:
        """The view of a user who is not an enterprise member."""
        return cls(user_id=user_id, is_enterprise=False, subscription_management_hidden=False)


@attrs.frozen
class PoolFigures:
    """The organisation's pool in one period (the dashboard shows the current one).

    ``available_total`` is what the period put at the organisation's disposal (carried over +
    granted + topped up); ``utilisation`` is ``used / available_total`` (0 when nothing was).
    ``expired`` is everything that lapsed in the period, the pool's and the members': the sum
    of its ``expire`` transfers (all credit the ``expired`` account).  While the period is
    current these are credits of a closed period coming back to a member late (a released
    hold's remainder, a refund) under the "expire" policy; when it closes, the closing sweep
    adds the pool's credits above the carry-over cap and, under "expire", the members'
    remainders.  ``expired_last_period`` is the previous period's ``expired`` (0 in period 0).

    For a closed period, ``monthly_allowance`` is the allowance its grant used (what was
    granted) and ``unallocated`` what the pool held when it closed (after the closing sweep:
    what the next period carried over).
    """

    period_index: int
    period_start: datetime
    resets_at: datetime
    monthly_allowance: int
    carried_over: int
    granted: int
    topped_up: int
    allocated: int
    reclaimed: int
    returned: int
    unallocated: int
    used: int
    expired: int
    expired_last_period: int
    available_total: int
    utilisation: float


@attrs.frozen
class MemberRow:
    """One row of the dashboard's member table."""

    user_id: str
    display_name: str
    email: str
    role: Role
    allocated: int
    used: int
    remaining: int
    on_hold: int
    standing_allotment: int
    last_activity: datetime | None


@attrs.frozen
class Page:
    """Which slice of the member table to show, and in what order.

    Any non-negative ``offset`` is a page: past the last member it is empty (a store is
    asked for at most ``2**62``, see :attr:`stored_offset`).
    """

    sort: MemberSort = "name"
    descending: bool = False
    offset: int = 0
    limit: int = 50

    @classmethod
    def of(cls, *, sort: object, descending: object, offset: object, limit: object) -> Page:
        """Return a validated page request.

        Raises:
            InvalidInput: unknown sort key, negative offset, or a limit outside 1..500.
        """
        if sort not in _SORTS:
            raise InvalidInput(f"sort must be one of {', '.join(_SORTS)}, got {sort!r}")
        if not isinstance(descending, bool):
            raise InvalidInput("descending must be a bool")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidInput(f"offset must be a non-negative int, got {offset!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_PAGE:
            raise InvalidInput(f"limit must be an int from 1 to {_MAX_PAGE}, got {limit!r}")
        return cls(sort, descending, offset, limit)  # type: ignore[arg-type]

    @property
    def stored_offset(self) -> int:
        """The offset the store is asked for: ``offset``, clamped to ``2**62``."""
        return min(self.offset, _MAX_OFFSET)


@attrs.frozen
class TeamRow:
    """One team on the dashboard, in the current period.

    Attributes:
        budget: what the pool gave the team's budget this period, less what went back to it.
        allocated: what the budget gave the team's members this period (allocations and
            approvals), less what came back from them (reclaims, returns).
        used: what the team's members (today's) used this period, net of refunds.
        remaining: what the budget holds now, unallocated.
        members: how many members the team has.
    """

    team_id: str
    name: str
    members: int
    budget: int
    allocated: int
    used: int
    remaining: int


def team_row(
    team: Team, account: Account, totals: PeriodTotals, members_totals: Sequence[PeriodTotals]
) -> TeamRow:
    """Return ``team``'s dashboard row from its budget's account and period totals and its
    members' period totals."""
    given = totals.debited(*ALLOCATED_KINDS)
    back = totals.credited(TransferKind.RECLAIM, TransferKind.RETURN)
    return TeamRow(
        team_id=team.id,
        name=team.name,
        members=len(members_totals),
        budget=totals.credited(TransferKind.FUND_TEAM) - totals.debited(TransferKind.DEFUND_TEAM),
        allocated=given - back,
        used=sum(_used(t) for t in members_totals),
        remaining=account.available,
    )


@attrs.frozen
class Dashboard:
    """The admin dashboard: pool figures, one page of members, pending requests, and the
    teams (by name)."""

    organisation_id: str
    name: str
    pool: PoolFigures
    members: list[MemberRow]
    total_members: int
    page: Page
    pending_requests: list[CreditRequest]
    teams: list[TeamRow] = attrs.field(factory=list)


def team_rows(uow: UnitOfWork, org: Organisation) -> list[TeamRow]:
    """Return the dashboard's rows of ``org``'s teams, by name: per team, its budget's
    account and period totals, and its members' period totals."""
    index = org.current_period_index
    rows = []
    for team in uow.teams.list(org.id):
        code = team_account(team.id)
        account = uow.ledger.get_account(org.id, code) or Account(org.id, code)
        totals = uow.ledger.period_totals(org.id, code, index)
        members = [
            uow.ledger.period_totals(org.id, member_account(m.user_id), index)
            for m in uow.teams.members(org.id, team.id)
        ]
        rows.append(team_row(team, account, totals, members))
    return rows


def _carried_in(account: Account, totals: PeriodTotals) -> int:
    credited = sum(totals.credits.values())
    debited = sum(v for k, v in totals.debits.items() if k in _POSTED_KINDS)
    return account.balance - (credited - debited)


def _used(totals: PeriodTotals) -> int:
    # Refunds count in the period they are made; one of an earlier period's spend must not
    # show this period's usage below zero.
    return max(0, totals.debited(*SPENT_KINDS) - totals.credited(*REFUND_KINDS))


def build_profile(uow: UnitOfWork, org: Organisation, membership: Membership) -> ProfileView:
    """Return the profile view of an active member of ``org`` (in ``org``'s current period)."""
    code = member_account(membership.user_id)
    account = uow.ledger.get_account(org.id, code) or Account(org.id, code)
    totals = uow.ledger.period_totals(org.id, code, org.current_period_index)
    pending = uow.requests.list(org.id, status=RequestStatus.PENDING, user_id=membership.user_id)
    allowed = can_request(len(pending), org.max_open_requests)
    period = org.current_period
    used = _used(totals)
    assignment = uow.teams.assignment(org.id, membership.user_id)
    team = None if assignment is None else uow.teams.get(org.id, assignment.team_id)
    cap = member_cap(membership, team, org)
    counted = counted_against_cap(used=used, held=account.debits_pending)
    allocated = totals.credited(*ALLOCATED_KINDS)
    section = EnterpriseCredits(
        allocated=allocated,
        carried_in=(
            max(0, _carried_in(account, totals))
            if org.rollover.member_remainder is MemberRemainder.KEEP
            else 0
        ),
        used=used,
        remaining=account.available,
        on_hold=account.debits_pending,
        period_start=period.start,
        resets_at=period.end,
        valid_through=valid_through(period, org.time_zone),
        time_zone=org.time_zone,
        can_request=allowed,
        request_blocked_reason=None if allowed else REQUEST_BLOCKED_REASON,
        pending_request=pending[0] if pending else None,
        spend_cap=cap,
        cap_counted=counted,
        cap_room=cap_room(cap, counted),
        grace_allowance=grace_allowance(org.soft_limit, given=allocated),
        grace_drawn=totals.credited(TransferKind.GRACE),
    )
    budget = None if team is None else uow.ledger.get_account(org.id, team.account)
    return ProfileView(
        user_id=membership.user_id,
        is_enterprise=True,
        subscription_management_hidden=True,
        organisation_id=org.id,
        badge=org.name,
        role=membership.role,
        credits=section,
        team=None if team is None else team.name,
        team_remaining=None if team is None else (0 if budget is None else budget.available),
    )


def _pool_figures(uow: UnitOfWork, org: Organisation) -> PoolFigures:
    return pool_figures(uow, org)


def pool_figures(
    uow: UnitOfWork, org: Organisation, period_index: int | None = None
) -> PoolFigures:
    """Return the pool's figures for one period (default: the current one).

    Raises:
        InvalidInput: ``period_index`` is negative or after the current period.
    """
    index = org.current_period_index if period_index is None else period_index
    return pool_history(uow, org, index, index)[0]


def _net(totals: PeriodTotals) -> int:
    """How much one period's posted transfers changed an account's balance."""
    debited = sum(v for k, v in totals.debits.items() if k in _POSTED_KINDS)
    return sum(totals.credits.values()) - debited


def _lapsed(uow: UnitOfWork, org: Organisation, first: int, last: int) -> dict[int, int]:
    """What lapsed in each period from ``first - 1`` to ``last``: the ``expire`` transfers of
    the period, which all credit the ``expired`` sink, whichever account they came from (the
    pool or a member, at the period's close or, for credits of an earlier period coming back
    late, during it).  Nothing lapsed before period 0."""
    return {
        index: (
            uow.ledger.period_totals(org.id, EXPIRED, index).credited(TransferKind.EXPIRE)
            if index >= 0
            else 0
        )
        for index in range(first - 1, last + 1)
    }


def pool_history(uow: UnitOfWork, org: Organisation, first: int, last: int) -> list[PoolFigures]:
    """Return the pool's figures for each period from ``first`` to ``last`` (inclusive).

    Closed periods come from their period totals: a period's opening balance is found by
    walking back from the pool's balance now, one period's movements at a time, so the cost
    grows with the number of periods since ``first``, never with the number of transfers.

    Raises:
        InvalidInput: ``first`` is negative, after ``last``, or ``last`` is after the current
            period.
    """
    current = org.current_period_index
    if not 0 <= first <= last <= current:
        raise InvalidInput(f"periods {first}..{last} are not within 0..{current}")
    pool = uow.ledger.get_account(org.id, POOL) or Account(org.id, POOL)
    balance_at_end: dict[int, int] = {}
    pool_totals: dict[int, PeriodTotals] = {}
    balance = pool.balance
    for index in range(current, first - 1, -1):
        totals = uow.ledger.period_totals(org.id, POOL, index)
        balance_at_end[index] = balance
        pool_totals[index] = totals
        balance -= _net(totals)
    lapsed = _lapsed(uow, org, first, last)
    figures: list[PoolFigures] = []
    for index in range(first, last + 1):
        totals = pool_totals[index]
        usage = uow.ledger.period_totals(org.id, USAGE, index)
        granted = totals.credited(TransferKind.GRANT)
        topped_up = totals.credited(TransferKind.TOP_UP)
        carried = balance_at_end[index] - _net(totals)
        total = carried + granted + topped_up
        used = max(0, usage.credited(*SPENT_KINDS) - usage.debited(*REFUND_KINDS))
        period = org.period(index)
        closed = index < current
        figures.append(
            PoolFigures(
                period_index=index,
                period_start=period.start,
                resets_at=period.end,
                monthly_allowance=granted if closed else org.monthly_allowance,
                carried_over=carried,
                granted=granted,
                topped_up=topped_up,
                allocated=totals.debited(*ALLOCATED_KINDS),
                reclaimed=totals.credited(TransferKind.RECLAIM),
                returned=totals.credited(TransferKind.RETURN),
                unallocated=balance_at_end[index] if closed else pool.available,
                used=used,
                expired=lapsed[index],
                expired_last_period=lapsed[index - 1],
                available_total=total,
                utilisation=used / total if total > 0 else 0.0,
            )
        )
    return figures


def _row(figures: MemberFigures) -> MemberRow:
    member = figures.membership
    return MemberRow(
        user_id=member.user_id,
        display_name=member.display_name,
        email=str(member.email),
        role=member.role,
        allocated=figures.allocated,
        used=figures.used,
        remaining=figures.remaining,
        on_hold=figures.on_hold,
        standing_allotment=member.standing_allotment,
        last_activity=figures.last_activity,
    )


def build_dashboard(uow: UnitOfWork, org: Organisation, page: Page) -> Dashboard:
    """Return the admin dashboard of ``org`` in its current period.

    The member table is one page computed by the store in bulk
    (:meth:`~armox_enterprise.ports.ViewRepository.member_page`): the cost is a fixed number
    of statements, whatever the number of members or the length of their history.
    """
    figures, total = uow.views.member_page(
        org.id,
        org.current_period_index,
        sort=page.sort,
        descending=page.descending,
        offset=page.stored_offset,
        limit=page.limit,
    )
    return Dashboard(
        organisation_id=org.id,
        name=org.name,
        pool=_pool_figures(uow, org),
        members=[_row(f) for f in figures],
        total_members=total,
        page=page,
        pending_requests=uow.requests.list(org.id, status=RequestStatus.PENDING),
        teams=team_rows(uow, org),
    )


@attrs.frozen
class RequestStatistics:
    """Credit requests made in a range of periods, by outcome.

    A request counts in the period it was made in, whenever it was decided.

    Attributes:
        first_period: the first period of the range.
        last_period: the last period of the range (inclusive).
        total: requests made.
        pending: still waiting for a decision.
        approved: approved by an admin.
        rejected: rejected by an admin.
        cancelled: withdrawn by the member (or cancelled when the member was removed).
        expired: still pending when their period closed.
        credits_requested: credits asked for, over all requests.
        credits_approved: credits the approvals gave (an approval may give another amount).
        approval_rate: ``approved / (approved + rejected)``; ``None`` before any decision.
        median_time_to_decision: the median time from request to an admin's approval or
            rejection; ``None`` before any decision.
    """

    first_period: int
    last_period: int
    total: int
    pending: int
    approved: int
    rejected: int
    cancelled: int
    expired: int
    credits_requested: int
    credits_approved: int
    approval_rate: float | None
    median_time_to_decision: timedelta | None


def build_request_statistics(
    requests: Sequence[CreditRequest], first: int, last: int
) -> RequestStatistics:
    """Return the statistics of ``requests`` (those made in periods ``first..last``)."""
    counts = dict.fromkeys(RequestStatus, 0)
    waits: list[timedelta] = []
    for request in requests:
        counts[request.status] += 1
        decided = request.status in (RequestStatus.APPROVED, RequestStatus.REJECTED)
        if decided and request.decided_at is not None:
            waits.append(request.decided_at - request.created_at)
    approved, rejected = counts[RequestStatus.APPROVED], counts[RequestStatus.REJECTED]
    waits.sort()
    middle = len(waits) // 2
    if not waits:
        median: timedelta | None = None
    elif len(waits) % 2:
        median = waits[middle]
    else:
        median = (waits[middle - 1] + waits[middle]) / 2
    return RequestStatistics(
        first_period=first,
        last_period=last,
        total=len(requests),
        pending=counts[RequestStatus.PENDING],
        approved=approved,
        rejected=rejected,
        cancelled=counts[RequestStatus.CANCELLED],
        expired=counts[RequestStatus.EXPIRED],
        credits_requested=sum(r.amount for r in requests),
        credits_approved=sum(r.approved_amount or 0 for r in requests),
        approval_rate=approved / (approved + rejected) if approved + rejected else None,
        median_time_to_decision=median,
    )
