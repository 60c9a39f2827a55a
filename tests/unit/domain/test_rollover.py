"""Period turnover as plans: the sweep of unspent credits, standing allotments, late credits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise.domain.ledger import (
    EXPIRED,
    POOL,
    Account,
    Transfer,
    TransferKind,
    apply_transfer,
    member_account,
)
from armox_enterprise.domain.organisation import (
    MemberRemainder,
    Membership,
    MemberStatus,
    Role,
    RolloverPolicy,
)
from armox_enterprise.domain.rollover import (
    Allotment,
    Movement,
    Shortfall,
    Sweep,
    allotment_order,
    late_credit,
    plan_allotments,
    plan_sweep,
)
from armox_enterprise.domain.values import EmailAddress

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
EMAIL = EmailAddress.parse("someone@acme.example")  # allotments never look at the address
ALICE, BOB, CAROL = member_account("alice"), member_account("bob"), member_account("carol")
K = TransferKind
R = MemberRemainder


def pool(available: int) -> Account:
    """The pool holding ``available`` credits."""
    return Account("org", POOL, credits_posted=available)


def member(code: str, credits_posted: int = 0, pending: int = 0) -> Account:
    """A member account with posted credits and pending reservations."""
    return Account("org", code, credits_posted=credits_posted, debits_pending=pending)


def policy(cap: int = 0, remainder: MemberRemainder = R.EXPIRE) -> RolloverPolicy:
    """A rollover policy."""
    return RolloverPolicy(pool_carry_over_cap=cap, member_remainder=remainder)


# ---------------------------------------------------------------------------- plan_sweep


def test_the_default_policy_expires_the_pool_and_every_remainder() -> None:
    """No rollover: unallocated pool credits and members' remainders all lapse."""
    sweep = plan_sweep(RolloverPolicy(), pool(100), [member(ALICE, 30), member(BOB, 5)])
    assert sweep == Sweep(
        (
            Movement(K.EXPIRE, POOL, EXPIRED, 100),
            Movement(K.EXPIRE, ALICE, EXPIRED, 30),
            Movement(K.EXPIRE, BOB, EXPIRED, 5),
        ),
        expired=135,
        carried_over=0,
    )


@pytest.mark.parametrize(
    ("cap", "lapsed", "carried"),
    [(0, 100, 0), (40, 60, 40), (99, 1, 99), (100, 0, 100), (500, 0, 100)],
    ids=["zero", "below", "just-below", "equal", "above"],
)
def test_the_pool_carries_over_up_to_its_cap_and_the_rest_expires(
    cap: int, lapsed: int, carried: int
) -> None:
    """A cap below the pool expires the excess; a cap at or above it keeps everything."""
    sweep = plan_sweep(policy(cap), pool(100), [])
    expected = (Movement(K.EXPIRE, POOL, EXPIRED, lapsed),) if lapsed else ()
    assert sweep == Sweep(expected, expired=lapsed, carried_over=carried)


def test_an_empty_pool_moves_nothing() -> None:
    """With nothing in the pool, no pool movement is planned."""
    assert plan_sweep(policy(10), pool(0), []) == Sweep((), 0, 0)


def test_returned_remainders_reach_the_pool_whatever_the_cap() -> None:
    """The pool lapses above its cap first; members' returns then carry over in full."""
    sweep = plan_sweep(policy(0, R.RETURN_TO_POOL), pool(100), [member(ALICE, 30), member(BOB, 20)])
    assert sweep == Sweep(
        (
            Movement(K.EXPIRE, POOL, EXPIRED, 100),
            Movement(K.RETURN, ALICE, POOL, 30),
            Movement(K.RETURN, BOB, POOL, 20),
        ),
        expired=100,
        carried_over=50,
    )


def test_return_to_pool_with_a_cap_carries_the_kept_part_and_the_returns() -> None:
    """carried_over is the pool's kept part plus every returned remainder."""
    sweep = plan_sweep(policy(40, R.RETURN_TO_POOL), pool(100), [member(ALICE, 30)])
    assert (sweep.expired, sweep.carried_over) == (60, 70)


@pytest.mark.parametrize("cap", [0, 50, 1_000])
def test_keep_leaves_members_alone(cap: int) -> None:
    """Under 'keep' no member account is touched and their credits count in neither total."""
    sweep = plan_sweep(policy(cap, R.KEEP), pool(100), [member(ALICE, 30), member(BOB, 70)])
    assert all(m.debit == POOL for m in sweep.movements)
    assert sweep.expired + sweep.carried_over == 100


@pytest.mark.parametrize("remainder", [R.EXPIRE, R.RETURN_TO_POOL])
def test_members_with_nothing_available_are_skipped(remainder: MemberRemainder) -> None:
    """A member at zero available (everything spent or on hold) gets no movement."""
    members = [member(ALICE), member(BOB, 50, pending=50)]
    assert plan_sweep(policy(0, remainder), pool(0), members) == Sweep((), 0, 0)


@pytest.mark.parametrize("remainder", [R.EXPIRE, R.RETURN_TO_POOL])
def test_reserved_credits_stay_with_the_member(remainder: MemberRemainder) -> None:
    """Only what is available is swept: a hold keeps its reservation across the turnover."""
    sweep = plan_sweep(policy(0, remainder), pool(0), [member(ALICE, 100, pending=40)])
    assert [m.amount for m in sweep.movements] == [60]


@pytest.mark.parametrize("remainder", [R.EXPIRE, R.RETURN_TO_POOL])
def test_movements_come_pool_first_then_members_in_the_order_given(
    remainder: MemberRemainder,
) -> None:
    """The plan is stable: the pool's lapse first, then each member as listed."""
    members = [member(CAROL, 3), member(ALICE, 1), member(BOB, 2)]
    sweep = plan_sweep(policy(0, remainder), pool(10), members)
    assert [m.debit for m in sweep.movements] == [POOL, CAROL, ALICE, BOB]


def test_a_sweep_accepts_any_iterable_of_members() -> None:
    """Members may come from a generator (a store's cursor) and are read once."""
    sweep = plan_sweep(policy(), pool(0), (member(code, 1) for code in (ALICE, BOB)))
    assert sweep.expired == 2


policies = st.builds(
    RolloverPolicy,
    pool_carry_over_cap=st.integers(min_value=0, max_value=1_500),
    member_remainder=st.sampled_from(list(MemberRemainder)),
)
member_accounts = st.lists(
    st.tuples(st.integers(0, 500), st.integers(0, 500)),
    max_size=6,
).map(
    lambda rows: [
        member(member_account(f"u{i}"), posted, min(pending, posted))
        for i, (posted, pending) in enumerate(rows)
    ]
)


@settings(max_examples=50, deadline=None)
@given(rollover=policies, pool_available=st.integers(0, 1_000), members=member_accounts)
def test_a_sweep_accounts_for_every_available_credit_and_never_overdraws(
    rollover: RolloverPolicy, pool_available: int, members: list[Account]
) -> None:
    """Every available credit is expired, carried or kept, and the plan never overdraws."""
    the_pool = pool(pool_available)
    sweep = plan_sweep(rollover, the_pool, members)
    swept = 0 if rollover.member_remainder is R.KEEP else sum(m.available for m in members)
    assert sweep.expired + sweep.carried_over == pool_available + swept
    assert sweep.expired == sum(m.amount for m in sweep.movements if m.kind is K.EXPIRE)
    accounts = {a.code: a for a in (the_pool, *members)}
    accounts[EXPIRED] = Account("org", EXPIRED)
    for number, m in enumerate(sweep.movements):
        assert 0 < m.amount <= accounts[m.debit].available
        t = Transfer(f"t{number}", "org", m.kind, m.debit, m.credit, m.amount, 0, "system", NOW)
        accounts[m.debit], accounts[m.credit] = apply_transfer(
            accounts[m.debit], accounts[m.credit], t
        )
    assert accounts[POOL].available == sweep.carried_over
    for account in members:
        left = accounts[account.code].available
        assert left == (account.available if rollover.member_remainder is R.KEEP else 0)


# ---------------------------------------------------------------------------- allotments


def membership(
    user_id: str,
    allotment: int,
    *,
    joined: int = 0,
    active: bool = True,
) -> Membership:
    """A membership with a standing allotment, joined ``joined`` days after NOW."""
    return Membership(
        "org",
        user_id,
        EMAIL,
        user_id.title(),
        Role.MEMBER,
        NOW + timedelta(days=joined),
        status=MemberStatus.ACTIVE if active else MemberStatus.REMOVED,
        standing_allotment=allotment,
    )


def allot(user_id: str, amount: int) -> Allotment:
    """The allotment step that posts ``amount`` to ``user_id``."""
    return Allotment(user_id, Movement(K.ALLOT, POOL, member_account(user_id), amount))


def test_a_pool_that_covers_everyone_allots_everyone() -> None:
    """Each standing allotment is an ALLOT from the pool to the member."""
    members = [membership("alice", 100), membership("bob", 50, joined=1)]
    assert plan_allotments(1_000, members) == (allot("alice", 100), allot("bob", 50))


def test_allotments_are_served_by_join_time_then_user_id() -> None:
    """The order is stable whatever order the store lists members in."""
    members = [
        membership("dave", 10, joined=2),
        membership("carol", 10, joined=1),
        membership("bob", 10, joined=1),
        membership("alice", 10, joined=3),
    ]
    steps = plan_allotments(1_000, members)
    assert [s.user_id for s in steps] == ["bob", "carol", "dave", "alice"]
    assert [m.user_id for m in allotment_order(members)] == ["bob", "carol", "dave", "alice"]


def test_an_allotment_the_pool_cannot_cover_is_reported_not_skipped() -> None:
    """A shortfall names the member, what they were due and what was left at their turn."""
    members = [membership("alice", 70), membership("bob", 50, joined=1)]
    assert plan_allotments(100, members) == (allot("alice", 70), Shortfall("bob", 50, 30))


def test_a_later_smaller_allotment_is_still_served_after_a_shortfall() -> None:
    """A shortfall does not stop the queue: the next member's smaller allotment may fit."""
    members = [
        membership("alice", 60),
        membership("bob", 50, joined=1),
        membership("carol", 40, joined=2),
    ]
    assert plan_allotments(100, members) == (
        allot("alice", 60),
        Shortfall("bob", 50, 40),
        allot("carol", 40),
    )


def test_an_allotment_that_empties_the_pool_exactly_is_served() -> None:
    """Equal to what is left is enough."""
    assert plan_allotments(50, [membership("alice", 50)]) == (allot("alice", 50),)


def test_an_empty_pool_reports_every_allotment_short() -> None:
    """With nothing in the pool every member's allotment is a shortfall of everything."""
    members = [membership("alice", 10), membership("bob", 20, joined=1)]
    assert plan_allotments(0, members) == (Shortfall("alice", 10, 0), Shortfall("bob", 20, 0))


def test_inactive_members_and_zero_allotments_are_ignored() -> None:
    """Only active members with a positive standing allotment are served (or reported)."""
    members = [
        membership("alice", 0),
        membership("bob", 50, active=False),
        membership("carol", 30, joined=1),
    ]
    assert plan_allotments(100, members) == (allot("carol", 30),)
    assert plan_allotments(0, members[:2]) == ()


@settings(max_examples=50, deadline=None)
@given(
    pool_available=st.integers(0, 1_000),
    rows=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 5), st.booleans()), max_size=8),
)
def test_allotments_never_overdraw_and_report_every_member_served_or_short(
    pool_available: int, rows: list[tuple[int, int, bool]]
) -> None:
    """Each eligible member is allotted or reported short, never overdrawing the pool."""
    members = [
        membership(f"u{i}", allotment, joined=joined, active=active)
        for i, (allotment, joined, active) in enumerate(rows)
    ]
    steps = plan_allotments(pool_available, members)
    eligible = [m for m in members if m.is_active and m.standing_allotment > 0]
    assert sorted(s.user_id for s in steps) == sorted(m.user_id for m in eligible)
    left = pool_available
    for step in steps:
        if isinstance(step, Allotment):
            assert step.movement.amount <= left
            left -= step.movement.amount
        else:
            assert step.available == left < step.wanted
    assert left >= 0


# ---------------------------------------------------------------------------- late_credit


def expire(user: str, amount: int) -> Movement:
    """Credits lapsing from the member's account."""
    return Movement(K.EXPIRE, member_account(user), EXPIRED, amount)


def back(user: str, amount: int) -> Movement:
    """Credits returning from the member's account to the pool."""
    return Movement(K.RETURN, member_account(user), POOL, amount)


@pytest.mark.parametrize(
    ("closed", "remainder", "active", "where"),
    [
        (True, R.EXPIRE, True, expire),
        (True, R.EXPIRE, False, expire),
        (True, R.RETURN_TO_POOL, True, back),
        (True, R.RETURN_TO_POOL, False, back),
        (True, R.KEEP, True, None),
        (True, R.KEEP, False, back),
        (False, R.EXPIRE, True, None),
        (False, R.EXPIRE, False, back),
        (False, R.RETURN_TO_POOL, True, None),
        (False, R.RETURN_TO_POOL, False, back),
        (False, R.KEEP, True, None),
        (False, R.KEEP, False, back),
    ],
)
def test_late_credits_go_where_closing_their_period_would_have_sent_them(
    closed: bool,
    remainder: MemberRemainder,
    active: bool,
    where: Callable[[str, int], Movement] | None,
) -> None:
    """Late credits follow the policy of a closed period; a leaver's go to the pool."""
    movement = late_credit(
        policy(0, remainder),
        user_id="alice",
        amount=25,
        period_index=2 if closed else 3,
        current_period_index=3,
        member_active=active,
    )
    assert movement == (None if where is None else where("alice", 25))


def test_a_period_long_closed_counts_as_closed() -> None:
    """Any period before the current one is closed, not only the previous one."""
    movement = late_credit(
        policy(),
        user_id="bob",
        amount=5,
        period_index=0,
        current_period_index=9,
        member_active=True,
    )
    assert movement == expire("bob", 5)


def test_late_credit_ignores_the_pool_cap() -> None:
    """The cap is about the pool's own credits; a member's late credits follow their rule."""
    late = late_credit(
        policy(1_000, R.EXPIRE),
        user_id="alice",
        amount=7,
        period_index=0,
        current_period_index=1,
        member_active=True,
    )
    assert late == expire("alice", 7)
