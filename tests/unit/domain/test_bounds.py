"""The ledger's bounds: every cached total stays within 0..MAX_CREDITS, whatever the amounts.

Amounts and totals are generated at and around the bounds (0, 1, MAX_CREDITS - 1,
MAX_CREDITS, past it, far past it) as well as anywhere between.  The rule is stated here
independently of the code, as a model of what ``apply_transfer`` must answer; the plans of a
period turnover (the grant, the sweep, the allotments, late credits) must never ask for a
movement the ledger would refuse for its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from itertools import count, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise.domain.ledger import (
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    Account,
    Transfer,
    TransferKind,
    apply_transfer,
    member_account,
    period_count,
    reconcile,
    team_account,
)
from armox_enterprise.domain.organisation import (
    MemberRemainder,
    Membership,
    Role,
    RolloverPolicy,
)
from armox_enterprise.domain.rollover import (
    Allotment,
    Movement,
    Shortfall,
    fit_to_pool,
    late_credit,
    plan_allotments,
    plan_grant,
    plan_sweep,
)
from armox_enterprise.domain.values import MAX_CREDITS, EmailAddress
from armox_enterprise.exceptions import (
    AccountClosed,
    ArmoxError,
    InsufficientCredits,
    InvalidAmount,
    LimitExceeded,
)

MAX = MAX_CREDITS
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
ORG = "org"
ALICE, BOB = member_account("alice"), member_account("bob")
DESIGN = team_account("design")
K = TransferKind
_ids = count()

#: Each kind's effect as the design states it: (debit posted, debit pending, credit posted).
TABLE: dict[TransferKind, tuple[int, int, int]] = {
    K.GRANT: (1, 0, 1),
    K.TOP_UP: (1, 0, 1),
    K.ALLOCATE: (1, 0, 1),
    K.ALLOT: (1, 0, 1),
    K.APPROVE: (1, 0, 1),
    K.RECLAIM: (1, 0, 1),
    K.RETURN: (1, 0, 1),
    K.SPEND: (1, 0, 1),
    K.HOLD: (0, 1, 0),
    K.CAPTURE: (1, -1, 1),
    K.RELEASE: (0, -1, 0),
    K.REFUND: (1, 0, 1),
    K.EXPIRE: (1, 0, 1),
    K.FUND_TEAM: (1, 0, 1),
    K.DEFUND_TEAM: (1, 0, 1),
    K.GRACE: (1, 0, 1),
}
#: The accounts each kind moves credits between in the service's use of it.
ROUTES: dict[TransferKind, tuple[str, str]] = {
    K.GRANT: (GRANT, POOL),
    K.TOP_UP: (GRANT, POOL),
    K.ALLOCATE: (POOL, ALICE),
    K.ALLOT: (POOL, ALICE),
    K.APPROVE: (POOL, ALICE),
    K.RECLAIM: (ALICE, POOL),
    K.RETURN: (ALICE, POOL),
    K.SPEND: (ALICE, USAGE),
    K.HOLD: (ALICE, USAGE),
    K.CAPTURE: (ALICE, USAGE),
    K.RELEASE: (ALICE, USAGE),
    K.REFUND: (USAGE, ALICE),
    K.EXPIRE: (ALICE, EXPIRED),
    K.FUND_TEAM: (POOL, DESIGN),
    K.DEFUND_TEAM: (DESIGN, POOL),
    K.GRACE: (POOL, ALICE),
}
STARTS_SPENDING = {K.SPEND, K.HOLD}
FROM_POOL = {K.ALLOCATE, K.ALLOT, K.APPROVE, K.FUND_TEAM, K.GRACE}
GUARDED = {POOL, ALICE, BOB, DESIGN}

#: Values at and around the bounds, which generated values favour.
EDGES = [0, 1, 2, MAX // 2, MAX // 2 + 1, MAX - 1, MAX]
PAST = [MAX + 1, 2**63, 2**64, 2**70, 10**30]

totals = st.one_of(st.sampled_from(EDGES), st.integers(0, MAX))
amounts = st.one_of(
    st.sampled_from([*EDGES, -1, *PAST]), st.integers(1, MAX), st.integers(-(2**70), 2**70)
)
positive_amounts = st.one_of(st.sampled_from([1, 2, MAX // 2, MAX - 1, MAX]), st.integers(1, MAX))


def transfer(kind: TransferKind, debit: str, credit: str, amount: int) -> Transfer:
    """A transfer of the test organisation with a fresh id."""
    return Transfer(f"t{next(_ids)}", ORG, kind, debit, credit, amount, 0, "system", NOW)


@st.composite
def accounts(draw: st.DrawFn, code: str) -> Account:
    """An account as a consistent ledger may hold it: every total within range, and a guarded
    account's debits within its credits (the usage sink's credits may pass MAX_CREDITS)."""
    closed = draw(st.booleans()) if code.startswith("member:") else False
    if code in GUARDED:
        credits = draw(totals)
        debits = draw(st.one_of(st.sampled_from([0, credits]), st.integers(0, credits)))
        pending = draw(
            st.one_of(st.sampled_from([0, credits - debits]), st.integers(0, credits - debits))
        )
        return Account(ORG, code, credits, debits, pending, closed)
    credits = draw(st.integers(0, 2 * MAX) if code == USAGE else totals)
    return Account(ORG, code, credits, draw(totals), draw(totals), closed)


def expected(debit: Account, credit: Account, kind: TransferKind, amount: int) -> type | None:
    """What the rule says a transfer of ``amount`` does: the error it raises, or ``None``."""
    debit_posted, debit_pending, credit_posted = TABLE[kind]
    posted = debit.debits_posted + debit_posted * amount
    pending = debit.debits_pending + debit_pending * amount
    refusals: list[tuple[bool, type]] = [
        (amount <= 0, InvalidAmount),
        (debit.closed and kind in STARTS_SPENDING, AccountClosed),
        (pending < 0, InvalidAmount),
        (
            debit.code in GUARDED and debit.credits_posted - posted - pending < 0,
            InsufficientCredits,
        ),
        (posted > MAX or pending > MAX, LimitExceeded),
        (credit.closed and kind in FROM_POOL, AccountClosed),
        (
            credit.code != USAGE and credit.credits_posted + credit_posted * amount > MAX,
            LimitExceeded,
        ),
    ]
    return next((error for refused, error in refusals if refused), None)


def bounded(account: Account) -> bool:
    """Whether every total the rule bounds is within 0..MAX_CREDITS."""
    credits_bounded = account.code == USAGE or 0 <= account.credits_posted <= MAX
    return credits_bounded and all(0 <= t <= MAX for t in account.totals[1:])


@st.composite
def a_transfer_on_its_route(draw: st.DrawFn) -> tuple[Account, Account, TransferKind, int]:
    """A kind, its two accounts as the service uses them, and an amount."""
    kind = draw(st.sampled_from(list(TransferKind)))
    debit_code, credit_code = ROUTES[kind]
    return draw(accounts(debit_code)), draw(accounts(credit_code)), kind, draw(amounts)


# ---------------------------------------------------------------------------- apply_transfer


@settings(max_examples=200)
@given(a_transfer_on_its_route())
def test_apply_transfer_answers_as_the_rule_says_at_every_bound(
    case: tuple[Account, Account, TransferKind, int],
) -> None:
    """Whatever the totals and the amount, apply_transfer refuses exactly what the rule
    refuses, with the rule's error, and what it accepts leaves every total in range."""
    debit, credit, kind, amount = case
    error = expected(debit, credit, kind, amount)
    t = transfer(kind, debit.code, credit.code, amount)
    if error is not None:
        with pytest.raises(error):
            apply_transfer(debit, credit, t)
        return
    new_debit, new_credit = apply_transfer(debit, credit, t)
    assert bounded(new_debit)
    assert bounded(new_credit)
    assert new_debit.balance + new_credit.balance == debit.balance + credit.balance


@settings(max_examples=100)
@given(a_transfer_on_its_route(), st.sampled_from(PAST) | st.integers(MAX + 1, 2**80))
def test_no_amount_past_max_credits_ever_posts(
    case: tuple[Account, Account, TransferKind, int], amount: int
) -> None:
    """An amount no BIGINT holds is refused by every kind on every account, never stored."""
    debit, credit, kind, _ = case
    with pytest.raises(ArmoxError):
        apply_transfer(debit, credit, transfer(kind, debit.code, credit.code, amount))


@pytest.mark.parametrize("amount", [1, 2, MAX // 2, MAX - 1, MAX])
def test_a_top_up_may_fill_the_source_to_max_credits_but_not_one_past(amount: int) -> None:
    """The source's debits (everything ever granted or topped up) reach MAX_CREDITS exactly;
    one credit more is refused before anything changes, naming the account and the kind."""
    source = Account(ORG, GRANT, debits_posted=MAX - amount)
    pool = Account(ORG, POOL)
    new_source, new_pool = apply_transfer(source, pool, transfer(K.TOP_UP, GRANT, POOL, amount))
    assert (new_source.debits_posted, new_pool.credits_posted) == (MAX, amount)
    with pytest.raises(LimitExceeded, match=r"top_up of .* account grant's debits_posted"):
        apply_transfer(new_source, new_pool, transfer(K.TOP_UP, GRANT, POOL, 1))


@pytest.mark.parametrize("held", [1, 10_000, MAX // 2, MAX - 1])
def test_a_top_up_of_max_credits_onto_a_pool_that_holds_credits_is_refused(held: int) -> None:
    """The case that used to store a total past the range: the pool already holds credits."""
    source = Account(ORG, GRANT, debits_posted=held)
    pool = Account(ORG, POOL, credits_posted=held)
    with pytest.raises(LimitExceeded, match="grant"):
        apply_transfer(source, pool, transfer(K.TOP_UP, GRANT, POOL, MAX))


@pytest.mark.parametrize("kind", [K.ALLOCATE, K.ALLOT, K.APPROVE, K.REFUND])
def test_a_member_account_takes_credits_up_to_max_credits(kind: TransferKind) -> None:
    """A member's credits (all ever allocated, allotted, approved, refunded) stop at the bound;
    the refusal names the member's account."""
    debit_code = USAGE if kind is K.REFUND else POOL
    debit = Account(ORG, debit_code, credits_posted=MAX)
    alice = Account(ORG, ALICE, credits_posted=MAX - 5, debits_posted=MAX - 5)
    _, full = apply_transfer(debit, alice, transfer(kind, debit_code, ALICE, 5))
    assert full.credits_posted == MAX
    with pytest.raises(LimitExceeded, match=f"{ALICE}'s credits_posted"):
        apply_transfer(debit, full, transfer(kind, debit_code, ALICE, 1))


@pytest.mark.parametrize("kind", [K.RECLAIM, K.RETURN])
def test_the_pool_takes_credits_back_up_to_max_credits(kind: TransferKind) -> None:
    """A reclaim or return to a pool that was ever credited MAX_CREDITS is refused."""
    alice = Account(ORG, ALICE, credits_posted=10)
    full = Account(ORG, POOL, credits_posted=MAX, debits_posted=MAX)
    with pytest.raises(LimitExceeded, match="account pool's credits_posted"):
        apply_transfer(alice, full, transfer(kind, ALICE, POOL, 10))


def test_refunds_are_bounded_on_the_usage_sinks_debits() -> None:
    """The usage sink may be debited (refunds) up to MAX_CREDITS in all."""
    usage = Account(ORG, USAGE, credits_posted=2 * MAX, debits_posted=MAX - 1)
    alice = Account(ORG, ALICE)
    new_usage, _ = apply_transfer(usage, alice, transfer(K.REFUND, USAGE, ALICE, 1))
    assert new_usage.debits_posted == MAX
    with pytest.raises(LimitExceeded, match="usage's debits_posted"):
        apply_transfer(new_usage, alice, transfer(K.REFUND, USAGE, ALICE, 1))


@pytest.mark.parametrize("kind", [K.SPEND, K.CAPTURE])
def test_the_usage_sinks_credits_are_a_sum_that_may_pass_max_credits(kind: TransferKind) -> None:
    """Spends of many members add up in the usage sink past MAX_CREDITS: each member's part
    is bounded by its own debits, so nothing refuses the sum."""
    alice = Account(ORG, ALICE, credits_posted=MAX, debits_pending=MAX if kind is K.CAPTURE else 0)
    usage = Account(ORG, USAGE, credits_posted=MAX)
    new_alice, new_usage = apply_transfer(alice, usage, transfer(kind, ALICE, USAGE, MAX))
    assert new_usage.credits_posted == 2 * MAX
    assert new_alice.debits_posted == MAX


@pytest.mark.parametrize("kind", [K.HOLD, K.CAPTURE, K.RELEASE])
def test_pending_debits_stay_within_range(kind: TransferKind) -> None:
    """A reservation never passes what the member holds; a settlement never passes what is
    reserved (InvalidAmount naming the pending amount)."""
    alice = Account(ORG, ALICE, credits_posted=MAX, debits_pending=MAX - 1)
    if kind is K.HOLD:
        held, _ = apply_transfer(alice, Account(ORG, USAGE), transfer(kind, ALICE, USAGE, 1))
        assert held.debits_pending == MAX
        with pytest.raises(InsufficientCredits):
            apply_transfer(held, Account(ORG, USAGE), transfer(kind, ALICE, USAGE, 1))
        return
    with pytest.raises(InvalidAmount, match=f"{MAX - 1} pending"):
        apply_transfer(alice, Account(ORG, USAGE), transfer(kind, ALICE, USAGE, MAX))


LEDGER_CODES = (GRANT, POOL, ALICE, BOB, USAGE, EXPIRED, DESIGN)
#: Routes of a two-member ledger: every kind between the accounts the service uses it on.
ALL_ROUTES = [
    (kind, debit.replace(ALICE, member), credit.replace(ALICE, member))
    for kind, (debit, credit) in ROUTES.items()
    for member in (ALICE, BOB)
]


@settings(max_examples=100)
@given(
    st.lists(
        st.tuples(st.sampled_from(ALL_ROUTES), st.one_of(st.sampled_from(EDGES[1:]), amounts)),
        max_size=30,
    )
)
def test_any_sequence_keeps_every_total_in_range_and_reconciles(
    steps: Sequence[tuple[tuple[TransferKind, str, str], int]],
) -> None:
    """Transfers of any sizes in any order: what is refused changes nothing, what posts keeps
    every bounded total within range, and the ledger reconciles."""
    ledger = {code: Account(ORG, code) for code in LEDGER_CODES}
    posted: list[Transfer] = []
    for (kind, debit, credit), amount in steps:
        t = transfer(kind, debit, credit, amount)
        try:
            new_debit, new_credit = apply_transfer(ledger[debit], ledger[credit], t)
        except ArmoxError:
            continue
        ledger[debit], ledger[credit] = new_debit, new_credit
        posted.append(t)
        assert all(bounded(account) for account in ledger.values())
    assert reconcile(ledger.values(), posted) == []


# ---------------------------------------------------------------------------- period totals


@settings(max_examples=100)
@given(st.sampled_from(list(TransferKind)), totals, positive_amounts)
def test_a_period_count_is_exact_for_posting_kinds_and_stops_at_max_for_reservations(
    kind: TransferKind, total: int, amount: int
) -> None:
    """Holds and releases may be cycled past any bound, so their period count stops at
    MAX_CREDITS; every other kind is bounded by the account's own totals and counts exactly."""
    counted = period_count(kind, total, amount)
    if kind in (K.HOLD, K.RELEASE):
        assert counted == min(MAX, total + amount)
    else:
        assert counted == total + amount


# ---------------------------------------------------------------------------- turnover plans


@st.composite
def pools(draw: st.DrawFn) -> Account:
    """A pool as a consistent ledger may hold it."""
    pool = draw(accounts(POOL))
    return Account(ORG, POOL, pool.credits_posted, pool.debits_posted)


@settings(max_examples=150)
@given(totals, totals, pools())
def test_the_grant_is_what_every_total_can_take(
    allowance: int, granted: int, pool: Account
) -> None:
    """The period's grant is the allowance, or what keeps the source and the pool in range;
    posting it is never refused, and the shortfall is exactly what was not granted."""
    source = Account(ORG, GRANT, debits_posted=granted)
    plan = plan_grant(allowance, source, pool)
    assert 0 <= plan.amount <= allowance
    assert plan.shortfall == allowance - plan.amount
    assert plan.amount == min(allowance, MAX - granted, MAX - pool.credits_posted)
    if plan.amount:
        new_source, new_pool = apply_transfer(
            source, pool, transfer(K.GRANT, GRANT, POOL, plan.amount)
        )
        assert bounded(new_source)
        assert bounded(new_pool)


def test_an_allowance_of_max_credits_is_granted_in_full_once_then_in_part() -> None:
    """The first grant of MAX_CREDITS fits a fresh organisation; after 10,000 credits were
    granted, it gives what is left and reports the rest."""
    assert plan_grant(MAX, Account(ORG, GRANT), Account(ORG, POOL)).amount == MAX
    source = Account(ORG, GRANT, debits_posted=10_000)
    pool = Account(ORG, POOL, credits_posted=10_000)
    plan = plan_grant(MAX, source, pool)
    assert (plan.amount, plan.shortfall) == (MAX - 10_000, 10_000)


@st.composite
def swept(draw: st.DrawFn) -> tuple[Account, list[Account], Account]:
    """A pool, up to three members and the expired sink of a ledger that conserves credits:
    their balances add up to what the organisation was ever granted (at most MAX_CREDITS),
    while each account's cumulative totals may be anywhere up to MAX_CREDITS."""
    granted = draw(totals)
    codes = draw(st.lists(st.sampled_from([ALICE, BOB, member_account("carol")]), unique=True))
    cuts = draw(st.lists(st.integers(0, granted), min_size=len(codes) + 1, max_size=len(codes) + 1))
    bounds = [0, *sorted(cuts), granted]
    balances = [high - low for low, high in pairwise(bounds)]

    def holding(code: str, balance: int, *, pending: bool) -> Account:
        debits = draw(st.one_of(st.just(MAX - balance), st.integers(0, MAX - balance)))
        held = draw(st.integers(0, balance)) if pending else 0
        return Account(ORG, code, balance + debits, debits, held)

    pool = holding(POOL, balances[0], pending=False)
    members = [
        holding(code, balance, pending=True)
        for code, balance in zip(codes, balances[1:-1], strict=True)
    ]
    return pool, members, Account(ORG, EXPIRED, credits_posted=balances[-1])


@settings(max_examples=100)
@given(
    swept(),
    st.sampled_from(list(MemberRemainder)),
    st.one_of(st.sampled_from([0, MAX]), totals),
)
def test_a_sweep_never_asks_for_a_movement_the_ledger_refuses(
    ledger_: tuple[Account, list[Account], Account], remainder: MemberRemainder, cap: int
) -> None:
    """Closing a period moves every remainder as the policy says, as far as the pool can take
    them back; what it cannot take expires, so the sweep always posts."""
    pool, accounts_, expired = ledger_
    sweep = plan_sweep(RolloverPolicy(cap, remainder), pool, accounts_)
    ledger = {a.code: a for a in [pool, *accounts_, expired]}
    for movement in sweep.movements:
        t = transfer(movement.kind, movement.debit, movement.credit, movement.amount)
        ledger[movement.debit], ledger[movement.credit] = apply_transfer(
            ledger[movement.debit], ledger[movement.credit], t
        )
    assert all(bounded(account) for account in ledger.values())
    swept = max(pool.available, 0)
    if remainder is not MemberRemainder.KEEP:
        swept += sum(a.available for a in accounts_ if a.available > 0)
    assert sweep.expired + sweep.carried_over == swept


@pytest.mark.parametrize(("amount", "room"), [(10, 10), (10, 9), (10, 0), (MAX, 1), (1, MAX)])
def test_a_return_the_pool_cannot_take_expires_what_does_not_fit(amount: int, room: int) -> None:
    """A return past the pool's room returns what fits and expires the rest; nothing else
    changes."""
    parts = fit_to_pool(Movement(K.RETURN, ALICE, POOL, amount), room)
    returned = sum(p.amount for p in parts if p.kind is K.RETURN)
    lapsed = sum(p.amount for p in parts if p.kind is K.EXPIRE)
    assert (returned, lapsed) == (min(amount, room), amount - min(amount, room))
    assert all(p.amount > 0 and p.debit == ALICE for p in parts)
    expiry = Movement(K.EXPIRE, ALICE, EXPIRED, amount)
    assert fit_to_pool(expiry, 0) == (expiry,)


@settings(max_examples=100)
@given(
    positive_amounts,
    st.sampled_from([True, False]),
    st.integers(0, 1),
    pools(),
)
def test_a_late_credit_fitted_to_the_pool_always_posts(
    amount: int, active: bool, period: int, pool: Account
) -> None:
    """A released hold or a refund that comes back after its period closed, or to a member
    who left, lands where the policy sends it as far as the pool can take it."""
    member = Account(ORG, ALICE, credits_posted=MAX, debits_posted=MAX - amount)
    movement = late_credit(
        RolloverPolicy(member_remainder=MemberRemainder.RETURN_TO_POOL),
        user_id="alice",
        amount=amount,
        period_index=period,
        current_period_index=1,
        member_active=active,
    )
    if movement is None:
        return
    ledger = {ALICE: member, POOL: pool, EXPIRED: Account(ORG, EXPIRED)}
    for part in fit_to_pool(movement, pool.credit_room):
        t = transfer(part.kind, part.debit, part.credit, part.amount)
        ledger[part.debit], ledger[part.credit] = apply_transfer(
            ledger[part.debit], ledger[part.credit], t
        )
    assert all(bounded(account) for account in ledger.values())


def _membership(user_id: str, allotment: int, joined: int) -> Membership:
    return Membership(
        ORG,
        user_id,
        EmailAddress.parse(f"{user_id}@acme.example"),
        user_id.title(),
        Role.MEMBER,
        NOW + timedelta(days=joined),
        standing_allotment=allotment,
    )


@settings(max_examples=100)
@given(
    pools(),
    st.lists(st.tuples(positive_amounts, totals), min_size=1, max_size=3),
)
def test_an_allotment_a_member_cannot_take_is_a_shortfall(
    pool: Account, wanted: list[tuple[int, int]]
) -> None:
    """Standing allotments are issued as far as the pool covers them and each member's account
    can take them; the rest are shortfalls, and what is issued always posts."""
    users = [f"user-{i}" for i in range(len(wanted))]
    memberships = [
        _membership(user, allotment, i)
        for i, (user, (allotment, _)) in enumerate(zip(users, wanted, strict=True))
    ]
    ledger = {POOL: pool}
    for user, (_, credited) in zip(users, wanted, strict=True):
        ledger[member_account(user)] = Account(ORG, member_account(user), credited, credited)
    rooms = {u: ledger[member_account(u)].credit_room for u in users}
    for step in plan_allotments(pool.available, memberships, rooms=rooms):
        if isinstance(step, Shortfall):
            assert step.wanted > step.available
            assert step.available <= rooms[step.user_id]
            continue
        assert isinstance(step, Allotment)
        m = step.movement
        t = transfer(m.kind, m.debit, m.credit, m.amount)
        ledger[m.debit], ledger[m.credit] = apply_transfer(ledger[m.debit], ledger[m.credit], t)
    assert all(bounded(account) for account in ledger.values())
