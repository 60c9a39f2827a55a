"""Billing-period turnover: grants, rollover policies, requests and holds at the boundary."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from armox_enterprise import (
    EnterpriseCredits,
    EnterpriseService,
    HoldStatus,
    InvalidTransition,
    MemberRemainder,
    MemoryStore,
    RequestStatus,
    RolloverPolicy,
    Transfer,
    TransferKind,
)
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import EXPIRED, member_account
from armox_enterprise.testing import FrozenClock, Scenario, StaticDnsResolver, enterprise

UTC = timezone.utc


def credits_of(s: Scenario, user: str) -> EnterpriseCredits:
    """The Enterprise Credits section of ``user``'s profile."""
    section = s.service.profile(user).credits
    assert section is not None
    return section


def grants(s: Scenario) -> list[int]:
    """The period index of every monthly grant posted so far."""
    with s.store.unit_of_work() as uow:
        return [t.period_index for t in uow.ledger.transfers(s.org_id, kinds=[TransferKind.GRANT])]


def stored_period(s: Scenario) -> int:
    """The period index the store holds for the organisation, read without any turnover."""
    assert isinstance(s.store, MemoryStore)
    return s.store.organisations[s.org_id].current_period_index


def boundary(s: Scenario) -> datetime:
    """The end of the organisation's first period."""
    return s.organisation.current_period.end


def scenario(policy: RolloverPolicy | None = None) -> Scenario:
    """Acme with two members holding 1,000 each, member-1 having spent 200 (800 left)."""
    s = enterprise(members=2, allocate=1_000, rollover=policy)
    s.service.spend("member-1", s.org_id, 200, generation_id="g0")
    return s


# ---------------------------------------------------------------------------- turnover


def test_nothing_turns_over_before_the_boundary(acme: Scenario) -> None:
    """One microsecond before the end, the organisation is still in period 0."""
    acme.clock.set(boundary(acme) - timedelta(microseconds=1))
    assert acme.service.dashboard(acme.admin, acme.org_id).pool.period_index == 0
    assert acme.service.close_due_periods() == []
    assert grants(acme) == [0]


def test_the_first_call_after_the_boundary_turns_the_period_over(acme: Scenario) -> None:
    """Turnover is lazy: the store stays put until a call touches the organisation."""
    acme.clock.set(boundary(acme))
    assert stored_period(acme) == 0
    profile = acme.service.profile("member-1")
    assert stored_period(acme) == 1
    assert profile.credits is not None
    assert profile.credits.period_start == boundary(acme)
    assert grants(acme) == [0, 1]


def test_turnover_closes_then_opens_with_events(acme: Scenario, events: list[ev.Event]) -> None:
    """Closing reports what expired and carried over; opening reports the grant."""
    acme.clock.set(boundary(acme) + timedelta(hours=2))
    acme.service.get_organisation("member-1", acme.org_id)
    closed = [e for e in events if isinstance(e, ev.PeriodClosed)]
    opened = [e for e in events if isinstance(e, ev.PeriodOpened)]
    assert [(e.period_index, e.expired, e.carried_over, e.actor) for e in closed] == [
        (0, 10_000, 0, "system")
    ]
    assert [(e.period_index, e.granted) for e in opened] == [(1, 10_000)]


def test_the_period_job_turns_over_each_due_organisation_once(acme: Scenario) -> None:
    """``close_due_periods`` run twice gives one grant; it names the organisations it turned."""
    acme.clock.set(boundary(acme) + timedelta(minutes=5))
    assert acme.service.close_due_periods() == [acme.org_id]
    assert acme.service.close_due_periods() == []
    assert grants(acme) == [0, 1]
    assert acme.service.dashboard(acme.admin, acme.org_id).pool.granted == 10_000


def test_the_job_after_a_lazy_turnover_does_nothing(acme: Scenario) -> None:
    """Lazy and explicit turnover together still grant once."""
    acme.clock.set(boundary(acme))
    acme.service.profile("member-1")
    assert acme.service.close_due_periods() == []
    assert grants(acme) == [0, 1]


def test_concurrent_period_jobs_grant_once() -> None:
    """Several workers running the job at once turn the period over exactly once."""
    s = enterprise()
    s.clock.set(boundary(s))
    results: list[list[str]] = []
    workers = [
        threading.Thread(target=lambda: results.append(s.service.close_due_periods()))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert grants(s) == [0, 1]
    assert s.service.reconcile(s.org_id) == []


def test_the_job_only_touches_organisations_that_are_due() -> None:
    """Organisations with later anchors are left for later."""
    store, clock, dns = MemoryStore(), FrozenClock(), StaticDnsResolver()
    service = EnterpriseService(store, clock=clock, dns=dns)
    early = service.create_organisation(
        name="Early", admin_user_id="a", admin_email="a@early.example", monthly_allowance=10
    )
    clock.advance(days=10)
    late = service.create_organisation(
        name="Late", admin_user_id="b", admin_email="b@late.example", monthly_allowance=10
    )
    clock.set(early.current_period.end)
    assert service.close_due_periods() == [early.id]
    clock.set(late.current_period.end)
    assert service.close_due_periods() == [late.id]


def test_skipped_months_are_each_closed_and_opened(acme: Scenario) -> None:
    """After three idle months, every missed period is granted and closed once, in order."""
    acme.clock.set(boundary(acme) + timedelta(days=95))
    assert acme.service.close_due_periods() == [acme.org_id]
    assert grants(acme) == [0, 1, 2, 3, 4]
    pool = acme.service.dashboard(acme.admin, acme.org_id).pool
    assert (pool.period_index, pool.granted, pool.unallocated) == (4, 10_000, 10_000)
    assert pool.period_start == datetime(2026, 5, 15, 9, 0, tzinfo=UTC)
    assert acme.service.reconcile(acme.org_id) == []


def test_skipped_months_carry_over_only_up_to_the_cap_each_time() -> None:
    """The carry-over cap applies at every closing, so idle months do not pile credits up."""
    s = enterprise(allowance=1_000, rollover=RolloverPolicy(pool_carry_over_cap=600))
    s.clock.set(boundary(s) + timedelta(days=65))
    pool = s.service.dashboard(s.admin, s.org_id).pool
    assert (pool.period_index, pool.carried_over, pool.unallocated) == (3, 600, 1_600)


def test_an_anchor_on_the_31st_turns_over_on_the_last_day_of_short_months() -> None:
    """Anchored on 31 January, the period ends on 28 February and the next on 31 March."""
    clock = FrozenClock(datetime(2026, 2, 1, tzinfo=UTC))
    service = EnterpriseService(MemoryStore(), clock=clock)
    org = service.create_organisation(
        name="Acme",
        admin_user_id="a",
        admin_email="a@acme.example",
        monthly_allowance=100,
        cycle_anchor=datetime(2026, 1, 31, 12, 0, tzinfo=UTC),
    )
    assert org.current_period.end == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    clock.set(datetime(2026, 2, 28, 11, 59, tzinfo=UTC))
    assert service.close_due_periods() == []
    clock.set(datetime(2026, 2, 28, 12, 0, tzinfo=UTC))
    assert service.close_due_periods() == [org.id]
    pool = service.dashboard("a", org.id).pool
    assert (pool.period_start, pool.resets_at) == (
        datetime(2026, 2, 28, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 12, 0, tzinfo=UTC),
    )


# ---------------------------------------------------------------------------- rollover


def test_by_default_pool_and_member_remainders_expire() -> None:
    """No rollover: unallocated pool credits and members' remainders go to ``expired``."""
    s = scenario()
    s.clock.set(boundary(s))
    assert credits_of(s, "member-1").remaining == 0
    assert credits_of(s, "member-2").remaining == 0
    pool = s.service.dashboard(s.admin, s.org_id).pool
    assert (pool.carried_over, pool.unallocated) == (0, 10_000)
    assert pool.expired_last_period == 8_000 + 800 + 1_000
    with s.store.unit_of_work() as uow:
        expired = uow.ledger.get_account(s.org_id, EXPIRED)
    assert expired is not None
    assert expired.credits_posted == 8_000 + 800 + 1_000
    assert s.service.reconcile(s.org_id) == []


@pytest.mark.parametrize(("cap", "carried"), [(0, 0), (3_000, 3_000), (9_000, 8_000)])
def test_returned_remainders_reach_the_next_period_whatever_the_pool_cap(
    cap: int, carried: int
) -> None:
    """The pool lapses to its cap first; what members return then joins the next period."""
    s = scenario(
        RolloverPolicy(pool_carry_over_cap=cap, member_remainder=MemberRemainder.RETURN_TO_POOL)
    )
    s.clock.set(boundary(s))
    assert credits_of(s, "member-1").remaining == 0
    pool = s.service.dashboard(s.admin, s.org_id).pool
    assert (pool.carried_over, pool.unallocated) == (carried + 1_800, carried + 1_800 + 10_000)
    assert pool.expired_last_period == 8_000 - carried
    with s.store.unit_of_work() as uow:
        returns = uow.ledger.transfers(s.org_id, kinds=[TransferKind.RETURN])
    assert sorted((t.debit_account, t.amount, t.period_index) for t in returns) == [
        (member_account("member-1"), 800, 0),
        (member_account("member-2"), 1_000, 0),
    ]
    assert s.service.reconcile(s.org_id) == []


def test_keep_leaves_members_remainders_with_them_shown_as_carried_in() -> None:
    """Under "keep", a member's remainder stays; the profile shows it apart from this period's."""
    s = scenario(RolloverPolicy(member_remainder=MemberRemainder.KEEP))
    s.clock.set(boundary(s))
    section = credits_of(s, "member-1")
    assert (section.carried_in, section.allocated, section.used, section.remaining) == (
        800,
        0,
        0,
        800,
    )
    s.service.allocate_credits(s.admin, s.org_id, "member-1", 100)
    s.service.spend("member-1", s.org_id, 50, generation_id="g1")
    section = credits_of(s, "member-1")
    assert (section.carried_in, section.allocated, section.used, section.remaining) == (
        800,
        100,
        50,
        850,
    )


def test_pool_carry_over_is_capped() -> None:
    """Up to the cap carries over into the next period's pool; the rest expires."""
    s = scenario(RolloverPolicy(pool_carry_over_cap=3_000))
    s.clock.set(boundary(s))
    pool = s.service.dashboard(s.admin, s.org_id).pool
    assert (pool.carried_over, pool.granted, pool.unallocated, pool.available_total) == (
        3_000,
        10_000,
        13_000,
        13_000,
    )


def test_a_carry_over_cap_above_the_pool_carries_it_all() -> None:
    """A cap larger than what is left carries everything that is left, no more."""
    s = scenario(RolloverPolicy(pool_carry_over_cap=1_000_000))
    s.clock.set(boundary(s))
    assert s.service.dashboard(s.admin, s.org_id).pool.carried_over == 8_000


def test_a_changed_policy_applies_at_the_next_closing() -> None:
    """The policy in force when the period closes is the one applied."""
    s = scenario()
    s.service.update_settings(
        s.admin, s.org_id, rollover=RolloverPolicy(member_remainder=MemberRemainder.KEEP)
    )
    s.clock.set(boundary(s))
    assert credits_of(s, "member-1").remaining == 800


# ---------------------------------------------------------------------------- requests


def test_pending_requests_expire_when_their_period_ends(
    acme: Scenario, events: list[ev.Event]
) -> None:
    """An undecided request expires at the boundary and the request button comes back."""
    request = acme.service.request_credits("member-1", acme.org_id, 500)
    assert credits_of(acme, "member-1").can_request is False
    acme.clock.set(boundary(acme))
    section = credits_of(acme, "member-1")
    assert (section.can_request, section.pending_request) == (True, None)
    [expired] = acme.service.list_requests("member-1", acme.org_id, status=RequestStatus.EXPIRED)
    assert (expired.id, expired.decided_at) == (request.id, boundary(acme))
    decided = [e for e in events if isinstance(e, ev.CreditRequestDecided)]
    assert [(e.request_id, e.status) for e in decided] == [(request.id, "expired")]
    assert acme.service.dashboard(acme.admin, acme.org_id).pending_requests == []


def test_a_request_made_just_after_the_boundary_belongs_to_the_new_period(acme: Scenario) -> None:
    """A request made after the boundary is in the new period and survives the turnover."""
    acme.clock.set(boundary(acme))
    request = acme.service.request_credits("member-1", acme.org_id, 500)
    assert request.period_index == 1
    assert acme.service.list_requests(acme.admin, acme.org_id) == [request]


def test_an_expired_request_cannot_be_approved(acme: Scenario) -> None:
    """Approving after the boundary fails: the request expired first, nothing moves."""
    request = acme.service.request_credits("member-1", acme.org_id, 500)
    acme.clock.set(boundary(acme))
    with pytest.raises(InvalidTransition):
        acme.service.approve_request(acme.admin, acme.org_id, request.id)
    assert credits_of(acme, "member-1").allocated == 0


# ---------------------------------------------------------------------------- holds


def _hold_across_boundary(s: Scenario, amount: int = 300) -> str:
    s.clock.set(boundary(s) - timedelta(minutes=10))
    hold = s.service.reserve("member-1", s.org_id, amount, generation_id="late-video")
    s.clock.set(boundary(s) + timedelta(minutes=1))
    s.service.close_due_periods()
    return hold.id


def test_a_hold_keeps_its_reservation_across_the_turnover() -> None:
    """Only the member's unreserved credits roll over; the reservation stays on hold."""
    s = scenario()
    _hold_across_boundary(s)
    section = credits_of(s, "member-1")
    assert (section.remaining, section.on_hold) == (0, 300)
    assert s.service.reconcile(s.org_id) == []


def test_a_hold_captured_after_the_turnover_is_used_in_the_new_period() -> None:
    """The capture lands in the open period, never the closed one."""
    s = scenario()
    hold_id = _hold_across_boundary(s)
    s.service.capture_hold("member-1", s.org_id, hold_id, 250)
    section = credits_of(s, "member-1")
    assert (section.used, section.on_hold, section.remaining) == (250, 0, 0)
    with s.store.unit_of_work() as uow:
        moves = uow.ledger.transfers(s.org_id, reference=hold_id)
    assert [(t.kind, t.period_index) for t in moves] == [
        (TransferKind.CAPTURE, 1),
        (TransferKind.RELEASE, 1),
        (TransferKind.EXPIRE, 1),
    ]
    assert s.service.reconcile(s.org_id) == []


@pytest.mark.parametrize(
    ("remainder", "member_gets", "pool_gets"),
    [
        (MemberRemainder.EXPIRE, 0, 0),
        (MemberRemainder.RETURN_TO_POOL, 0, 300),
        (MemberRemainder.KEEP, 300, 0),
    ],
)
def test_what_a_hold_releases_after_the_turnover_follows_the_rollover_policy(
    remainder: MemberRemainder, member_gets: int, pool_gets: int
) -> None:
    """Released credits of an old period expire, return to the pool or stay, as the policy says."""
    s = scenario(RolloverPolicy(member_remainder=remainder))
    hold_id = _hold_across_boundary(s)
    before_member = credits_of(s, "member-1").remaining
    before_pool = s.service.dashboard(s.admin, s.org_id).pool.unallocated
    s.service.release_hold("member-1", s.org_id, hold_id)
    assert credits_of(s, "member-1").remaining == before_member + member_gets
    assert s.service.dashboard(s.admin, s.org_id).pool.unallocated == before_pool + pool_gets
    assert credits_of(s, "member-1").on_hold == 0
    assert s.service.reconcile(s.org_id) == []


def test_a_hold_that_expires_by_the_boundary_is_released_before_the_rollover() -> None:
    """An expired hold's credits rejoin the member's remainder and roll over with it."""
    s = scenario()
    s.clock.set(boundary(s) - timedelta(minutes=30))
    hold = s.service.reserve(
        "member-1", s.org_id, 300, generation_id="v1", lifetime=timedelta(minutes=10)
    )
    s.clock.set(boundary(s))
    s.service.close_due_periods()
    with s.store.unit_of_work() as uow:
        stored = uow.holds.get(s.org_id, hold.id)
    assert stored is not None
    assert stored.status is HoldStatus.EXPIRED
    section = credits_of(s, "member-1")
    assert (section.on_hold, section.remaining) == (0, 0)
    assert s.service.reconcile(s.org_id) == []


def test_a_hold_survives_its_members_removal_and_its_release_returns_to_the_pool(
    acme: Scenario, events: list[ev.Event]
) -> None:
    """Removal returns only unreserved credits; the hold can still be captured in part."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="v1")
    acme.service.remove_member(acme.admin, acme.org_id, "member-1")
    assert [e.returned for e in events if isinstance(e, ev.MemberRemoved)] == [700]
    pool = acme.service.dashboard(acme.admin, acme.org_id).pool.unallocated
    captured = acme.service.capture_hold("member-1", acme.org_id, hold.id, 100)
    assert captured.captured == 100
    assert acme.service.dashboard(acme.admin, acme.org_id).pool.unallocated == pool + 200
    with acme.store.unit_of_work() as uow:
        account = uow.ledger.get_account(acme.org_id, member_account("member-1"))
    assert account is not None
    assert (account.available, account.debits_pending) == (0, 0)
    assert acme.service.reconcile(acme.org_id) == []


@pytest.mark.parametrize(
    ("remainder", "pool_gets"),
    [
        (MemberRemainder.EXPIRE, 0),
        (MemberRemainder.RETURN_TO_POOL, 300),
        (MemberRemainder.KEEP, 300),
    ],
)
def test_a_removed_members_old_hold_follows_the_policy_and_never_returns_to_them(
    remainder: MemberRemainder, pool_gets: int
) -> None:
    """Removal then turnover: the release expires under "expire", else it goes to the pool."""
    s = scenario(RolloverPolicy(pool_carry_over_cap=100_000, member_remainder=remainder))
    s.clock.set(boundary(s) - timedelta(minutes=10))
    hold = s.service.reserve("member-1", s.org_id, 300, generation_id="v1")
    s.service.remove_member(s.admin, s.org_id, "member-1")
    s.clock.set(boundary(s) + timedelta(minutes=1))
    pool = s.service.dashboard(s.admin, s.org_id).pool.unallocated
    s.service.release_hold("member-1", s.org_id, hold.id)
    assert s.service.dashboard(s.admin, s.org_id).pool.unallocated == pool + pool_gets
    with s.store.unit_of_work() as uow:
        account = uow.ledger.get_account(s.org_id, member_account("member-1"))
    assert account is not None
    assert (account.available, account.debits_pending) == (0, 0)
    assert s.service.reconcile(s.org_id) == []


# ---------------------------------------------------------------------------- refunds


@pytest.mark.parametrize(
    ("remainder", "member_gets", "pool_gets"),
    [
        (MemberRemainder.EXPIRE, 0, 0),
        (MemberRemainder.RETURN_TO_POOL, 0, 200),
        (MemberRemainder.KEEP, 200, 0),
    ],
)
def test_a_refund_of_a_closed_periods_spend_follows_that_periods_policy(
    remainder: MemberRemainder, member_gets: int, pool_gets: int
) -> None:
    """Refunded credits of a closed period expire, return to the pool or stay, as it says."""
    s = scenario(RolloverPolicy(pool_carry_over_cap=100_000, member_remainder=remainder))
    spend = s.service.spend("member-1", s.org_id, 200, generation_id="g1")
    s.clock.set(boundary(s))
    member = credits_of(s, "member-1").remaining
    pool = s.service.dashboard(s.admin, s.org_id).pool.unallocated
    refund = s.service.refund(s.admin, s.org_id, spend.id)
    assert refund.period_index == 1
    assert credits_of(s, "member-1").remaining == member + member_gets
    assert s.service.dashboard(s.admin, s.org_id).pool.unallocated == pool + pool_gets
    assert s.service.reconcile(s.org_id) == []


def test_a_refund_of_an_earlier_spend_never_shows_negative_use() -> None:
    """Use is counted per period and never drops below zero."""
    s = scenario(RolloverPolicy(member_remainder=MemberRemainder.KEEP))
    s.clock.set(boundary(s))
    [spend] = [t for t in _transfers(s) if t.reference == "g0"]
    s.service.refund(s.admin, s.org_id, spend.id)
    assert credits_of(s, "member-1").used == 0
    assert s.service.dashboard(s.admin, s.org_id).pool.used == 0


def _transfers(s: Scenario) -> list[Transfer]:
    with s.store.unit_of_work() as uow:
        return uow.ledger.transfers(s.org_id)


# ---------------------------------------------------------------------------- late operations


def test_operations_after_the_boundary_never_land_in_the_closed_period() -> None:
    """Apart from the closing itself, every transfer made after the boundary is the new period's."""
    s = scenario(RolloverPolicy(member_remainder=MemberRemainder.KEEP))
    spend = s.service.spend("member-1", s.org_id, 100, generation_id="g1")
    s.clock.set(boundary(s) - timedelta(minutes=10))
    hold = s.service.reserve("member-2", s.org_id, 100, generation_id="v1")
    with s.store.unit_of_work() as uow:
        before = {t.id for t in uow.ledger.transfers(s.org_id)}
    s.clock.set(boundary(s))
    s.service.spend("member-1", s.org_id, 50, generation_id="g2")
    s.service.refund(s.admin, s.org_id, spend.id)
    s.service.capture_hold("member-2", s.org_id, hold.id, 60)
    s.service.allocate_credits(s.admin, s.org_id, "member-2", 10)
    s.service.reclaim_credits(s.admin, s.org_id, "member-2", 5)
    s.service.top_up(s.admin, s.org_id, 10)
    with s.store.unit_of_work() as uow:
        made = [t for t in uow.ledger.transfers(s.org_id) if t.id not in before]
    closing = [t for t in made if t.period_index == 0]
    assert [(t.kind, t.debit_account) for t in closing] == [(TransferKind.EXPIRE, "pool")]
    late = [t.kind for t in made if t.period_index == 1]
    assert late == [
        TransferKind.GRANT,
        TransferKind.SPEND,
        TransferKind.REFUND,
        TransferKind.CAPTURE,
        TransferKind.RELEASE,
        TransferKind.ALLOCATE,
        TransferKind.RECLAIM,
        TransferKind.TOP_UP,
    ]
    assert len(made) == len(closing) + len(late)
    assert s.service.reconcile(s.org_id) == []


def test_a_spend_at_the_boundary_counts_in_the_new_period(acme: Scenario) -> None:
    """Spending exactly at the boundary turns the period first, then spends from the new one."""
    acme.service.set_standing_allotment(acme.admin, acme.org_id, "member-1", 500)
    acme.clock.set(boundary(acme))
    transfer = acme.service.spend("member-1", acme.org_id, 200, generation_id="g1")
    assert transfer.period_index == 1
    section = credits_of(acme, "member-1")
    assert (section.allocated, section.used, section.remaining) == (500, 200, 300)


def test_pool_figures_restart_each_period(acme: Scenario) -> None:
    """The dashboard's pool figures are this period's: allocations and use start from zero."""
    acme.service.spend("member-1", acme.org_id, 100, generation_id="g1")
    acme.clock.set(boundary(acme))
    pool = acme.service.dashboard(acme.admin, acme.org_id).pool
    assert (pool.allocated, pool.used, pool.topped_up, pool.expired) == (0, 0, 0, 0)
    assert pool.resets_at == datetime(2026, 3, 15, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "lag", [timedelta(microseconds=1), timedelta(seconds=2), timedelta(hours=1)]
)
def test_a_late_instant_is_booked_at_the_start_of_the_period_it_lands_in(
    acme: Scenario, lag: timedelta
) -> None:
    """A call whose instant was read before another writer turned the period over (a lagging
    clock, a wait for the store's lock) books its transfers in the new period, never with an
    instant before that period's start."""
    boundary = acme.service.get_organisation("admin", acme.org_id).current_period.end
    acme.clock.set(boundary + timedelta(minutes=1))
    assert acme.service.close_due_periods() == [acme.org_id]
    lagging = EnterpriseService(acme.store, clock=FrozenClock(boundary - lag))
    transfer = lagging.top_up("admin", acme.org_id, 5)
    allocation = lagging.allocate_credits("admin", acme.org_id, "member-1", 3)
    for booked in (transfer, allocation):
        assert booked.period_index == 1
        assert booked.created_at >= boundary
