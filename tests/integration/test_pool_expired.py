"""``PoolFigures.expired`` counts everything that lapsed in the period, late credits included.

Credits of a closed period that come back to a member late (a hold reserved before the close
and released after it, a refund of an earlier spend) lapse from the *member's* account under
the "expire" policy, never from the pool's: the figure is the sum of the period's ``expire``
transfers, on the memory store and on every SQL backend alike.
"""

from __future__ import annotations

import contextlib
import csv
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armox_enterprise import (
    HoldAlreadyResolved,
    InsufficientCredits,
    InvalidAmount,
    InvalidTransition,
    MemoryStore,
    PoolFigures,
    RolloverPolicy,
    TransferKind,
)
from armox_enterprise.domain.organisation import MemberRemainder
from armox_enterprise.ports import Store
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

_LONG_HOLDS = timedelta(days=31)


def lapsed_by_period(s: Scenario) -> Counter[int]:
    """The ``expire`` transfers of each period, summed from the ledger's CSV export."""
    lines = list(s.service.export_ledger_csv(s.admin, s.org_id, first_period=0))
    sums: Counter[int] = Counter()
    for row in csv.DictReader(lines):
        if row["kind"] == TransferKind.EXPIRE.value:
            sums[int(row["period"])] += int(row["amount"])
    return sums


def history(s: Scenario) -> list[PoolFigures]:
    """The pool figures of every period so far."""
    return s.service.pool_utilisation(s.admin, s.org_id, first_period=0)


def assert_expired_matches_the_ledger(s: Scenario) -> None:
    """Each period's ``expired`` is its ``expire`` transfers; ``expired_last_period`` the
    previous period's; the current period's are all late credits (they carry the hold or the
    spend they came back from), since its close has not happened."""
    sums = lapsed_by_period(s)
    figures = history(s)
    assert [f.expired for f in figures] == [sums[f.period_index] for f in figures]
    assert [f.expired_last_period for f in figures] == [
        sums[f.period_index - 1] if f.period_index > 0 else 0 for f in figures
    ]
    assert figures[-1] == s.service.dashboard(s.admin, s.org_id).pool
    current = figures[-1].period_index
    with s.store.unit_of_work() as uow:
        now = uow.ledger.transfers(s.org_id, period_index=current, kinds=[TransferKind.EXPIRE])
    assert all(t.reference is not None and t.debit_account.startswith("member:") for t in now)


# -- one hold across a close, under each policy ------------------------------------------


def late_release(store: Store, remainder: MemberRemainder, *, remove: bool = False) -> Scenario:
    """Member-1 has 500 credits, reserves 200 and spends 100 in period 0; period 0 closes
    (the pool's 9,500 lapse; member-1's other 200 follow the policy); in period 1 the hold
    is released (after member-1 left, with ``remove``)."""
    s = enterprise(store=store, members=1, rollover=RolloverPolicy(member_remainder=remainder))
    service, org, member = s.service, s.org_id, s.members[0]
    service.update_settings(s.admin, org, hold_lifetime=_LONG_HOLDS)
    service.allocate_credits(s.admin, org, member, 500)
    s.clock.advance(days=20)
    hold = service.reserve(member, org, 200, generation_id="gen-hold", lifetime=timedelta(days=20))
    service.spend(member, org, 100, generation_id="gen-spend")
    s.clock.advance(days=12)  # period 1 begins on the next call
    if remove:
        service.remove_member(s.admin, org, member)
    service.release_hold(s.admin if remove else member, org, hold.id)
    return s


#: policy → (period 0's expired, period 1's expired, period 1's returned)
EXPECTED = {
    MemberRemainder.EXPIRE: (9_500 + 200, 200, 0),
    MemberRemainder.RETURN_TO_POOL: (9_500, 0, 200),
    MemberRemainder.KEEP: (9_500, 0, 0),
}


def check_late_release(store_for: Callable[[], Store]) -> None:
    for remainder, (closed_expired, late_expired, late_returned) in EXPECTED.items():
        s = late_release(store_for(), remainder)
        closed, current = history(s)
        assert (closed.period_index, current.period_index) == (0, 1)
        assert closed.expired == closed_expired, remainder
        assert (current.expired, current.returned) == (late_expired, late_returned), remainder
        assert current.expired_last_period == closed.expired
        assert_expired_matches_the_ledger(s)
        profile = s.service.profile(s.members[0]).credits
        assert profile is not None
        kept = 200 + 200 if remainder is MemberRemainder.KEEP else 0
        assert profile.remaining == kept
    # A member who left: what a late release frees still lapses under "expire", and
    # otherwise goes to the pool (with, under "keep", the 200 that the removal returned).
    after_removal = {
        MemberRemainder.EXPIRE: (200, 0),
        MemberRemainder.RETURN_TO_POOL: (0, 200),
        MemberRemainder.KEEP: (0, 200 + 200),
    }
    for remainder, expected in after_removal.items():
        s = late_release(store_for(), remainder, remove=True)
        current = history(s)[-1]
        assert (current.expired, current.returned) == expected, remainder
        assert_expired_matches_the_ledger(s)


def test_a_late_release_counts_in_expired_on_the_memory_store() -> None:
    """The hold's 200 credits lapse in period 1 under "expire" and count in its ``expired``;
    under "return to pool" they count in ``returned``; under "keep" they stay."""
    check_late_release(MemoryStore)


def test_a_late_release_counts_in_expired_on_sql(backend: Backend) -> None:
    """The same on SQLite, PostgreSQL and MariaDB."""

    def fresh() -> Store:
        backend.empty()
        return backend.store()

    check_late_release(fresh)


# -- random histories ------------------------------------------------------------------------

_MEMBER = st.sampled_from(["member-1", "member-2"])
_ACTIONS = st.one_of(
    st.tuples(st.just("allocate"), _MEMBER, st.integers(1, 3_000)),
    st.tuples(st.just("reserve"), _MEMBER, st.integers(1, 300), st.integers(1, 31)),
    st.tuples(st.just("spend"), _MEMBER, st.integers(1, 300)),
    st.tuples(st.just("capture"), st.integers(0, 20), st.integers(0, 100)),
    st.tuples(st.just("release"), st.integers(0, 20)),
    st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 100)),
    st.tuples(st.just("wait"), st.integers(1, 12)),
    st.tuples(st.just("close"), st.integers(1, 96)),
    st.tuples(st.just("policy"), st.sampled_from(list(MemberRemainder)), st.integers(0, 5_000)),
    # A hold reserved just before a close and resolved after it; a spend refunded after one.
    st.tuples(
        st.just("late_hold"), _MEMBER, st.integers(1, 300), st.integers(0, 100), st.integers(1, 96)
    ),
    st.tuples(
        st.just("late_refund"),
        _MEMBER,
        st.integers(1, 300),
        st.integers(1, 100),
        st.integers(1, 96),
    ),
)
_HISTORIES = st.lists(_ACTIONS, min_size=1, max_size=30)
_REFUSED = (HoldAlreadyResolved, InsufficientCredits, InvalidAmount, InvalidTransition)


class Player:
    """Plays a random history on a scenario; refusals (too few credits, a hold already
    resolved, a refund of more than is left ...) are part of it and change nothing."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.holds: list[str] = []
        self.spends: list[tuple[str, int]] = []
        s.service.update_settings(s.admin, s.org_id, hold_lifetime=_LONG_HOLDS)

    def play(self, actions: list[tuple[Any, ...]]) -> None:
        for number, (name, *args) in enumerate(actions):
            with contextlib.suppress(*_REFUSED):
                getattr(self, name)(number, *args)

    def allocate(self, _n: int, member: str, amount: int) -> None:
        self.s.service.allocate_credits(self.s.admin, self.s.org_id, member, amount)

    def reserve(self, n: int, member: str, amount: int, days: int) -> None:
        lifetime = timedelta(days=days)
        hold = self.s.service.reserve(
            member, self.s.org_id, amount, generation_id=f"hold-{n}", lifetime=lifetime
        )
        self.holds.append(hold.id)

    def spend(self, n: int, member: str, amount: int) -> None:
        spent = self.s.service.spend(member, self.s.org_id, amount, generation_id=f"gen-{n}")
        self.spends.append((spent.id, spent.amount))

    def capture(self, _n: int, which: int, percent: int) -> None:
        if not self.holds:
            return
        hold_id = self.holds[which % len(self.holds)]
        with self.s.store.unit_of_work() as uow:
            hold = uow.holds.get(self.s.org_id, hold_id)
        assert hold is not None
        share = max(1, hold.amount * percent // 100)
        self.s.service.capture_hold(self.s.admin, self.s.org_id, hold_id, share)

    def release(self, _n: int, which: int) -> None:
        if self.holds:
            hold_id = self.holds[which % len(self.holds)]
            self.s.service.release_hold(self.s.admin, self.s.org_id, hold_id)

    def refund(self, _n: int, which: int, percent: int) -> None:
        if self.spends:
            spend_id, amount = self.spends[which % len(self.spends)]
            share = max(1, amount * percent // 100)
            self.s.service.refund(self.s.admin, self.s.org_id, spend_id, share)

    def wait(self, _n: int, days: int) -> None:
        self.s.clock.advance(days=days)

    def close(self, _n: int, hours: int) -> None:
        """Jump just past the current period's end: the next call closes it."""
        end = self.s.service.dashboard(self.s.admin, self.s.org_id).pool.resets_at
        self.s.clock.set(end + timedelta(hours=hours))

    def late_hold(self, n: int, member: str, amount: int, percent: int, hours: int) -> None:
        end = self.s.service.dashboard(self.s.admin, self.s.org_id).pool.resets_at
        self.s.clock.set(max(self.s.clock.now(), end - timedelta(days=2)))
        self.reserve(n, member, amount, 10)
        self.close(n, hours)
        if percent:
            self.capture(n, -1, percent)
        else:
            self.release(n, -1)

    def late_refund(self, n: int, member: str, amount: int, percent: int, hours: int) -> None:
        self.spend(n, member, amount)
        self.close(n, hours)
        self.refund(n, -1, percent)

    def policy(self, _n: int, remainder: MemberRemainder, cap: int) -> None:
        rollover = RolloverPolicy(pool_carry_over_cap=cap, member_remainder=remainder)
        self.s.service.update_settings(self.s.admin, self.s.org_id, rollover=rollover)


def play(s: Scenario, actions: list[tuple[Any, ...]]) -> None:
    """Play ``actions`` on ``s``."""
    Player(s).play(actions)


@settings(max_examples=150, deadline=None)
@given(actions=_HISTORIES)
def test_expired_is_the_sum_of_the_periods_expire_transfers_on_the_memory_store(
    actions: list[tuple[Any, ...]],
) -> None:
    """Whatever holds, releases, captures, spends, refunds, policy changes and closes came
    before, every period's ``expired`` is the sum of its ``expire`` transfers."""
    s = enterprise(members=2, allocate=200)
    play(s, actions)
    assert_expired_matches_the_ledger(s)


def test_expired_is_the_sum_of_the_periods_expire_transfers_on_sql(backend: Backend) -> None:
    """The same property on every SQL backend (fewer examples)."""

    @settings(
        max_examples=15 if backend.name == "sqlite" else 6,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(actions=_HISTORIES)
    def check(actions: list[tuple[Any, ...]]) -> None:
        backend.empty()
        s = enterprise(store=backend.store(), members=2, allocate=200)
        play(s, actions)
        assert_expired_matches_the_ledger(s)

    check()


@pytest.mark.parametrize("remainder", list(MemberRemainder))
def test_a_late_refund_follows_the_policy(remainder: MemberRemainder) -> None:
    """A refund of a period-0 spend made in period 1 lapses (and counts in ``expired``) only
    under "expire"."""
    s = enterprise(members=1, allocate=300, rollover=RolloverPolicy(member_remainder=remainder))
    spent = s.service.spend(s.members[0], s.org_id, 120, generation_id="gen-1")
    s.clock.advance(days=31)
    s.service.refund(s.admin, s.org_id, spent.id, 50)
    current = history(s)[-1]
    assert current.expired == (50 if remainder is MemberRemainder.EXPIRE else 0)
    assert_expired_matches_the_ledger(s)
