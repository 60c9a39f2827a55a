"""The ledger's table of effects, the kind sets derived from it, and what reconcile reports."""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import count

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise.domain.ledger import (
    ALLOCATED_KINDS,
    EFFECTS,
    EXPIRED,
    GRANT,
    POOL,
    REFUND_KINDS,
    SPENDING_KINDS,
    SPENT_KINDS,
    USAGE,
    Account,
    Effect,
    Side,
    Transfer,
    TransferKind,
    apply_transfer,
    member_account,
    reconcile,
    team_account,
)
from armox_enterprise.exceptions import (
    AccountClosed,
    ArmoxError,
    InsufficientCredits,
    InvalidAmount,
)

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
ORG = "org"
ALICE = member_account("alice")
BOB = member_account("bob")
DESIGN = team_account("design")
K = TransferKind
_ids = count()


def transfer(kind: TransferKind, debit: str, credit: str, amount: int) -> Transfer:
    """A transfer of the test organisation with a fresh id."""
    return Transfer(
        id=f"t{next(_ids)}",
        organisation_id=ORG,
        kind=kind,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        period_index=0,
        actor="system",
        created_at=NOW,
    )


def account(
    code: str, credits_posted: int = 0, debits_posted: int = 0, pending: int = 0
) -> Account:
    """An account of the test organisation with the given totals."""
    return Account(ORG, code, credits_posted, debits_posted, pending)


#: The ledger's table as the design states it, written out independently of ``EFFECTS``:
#: (debit posted, debit pending, credit posted, starts spending) per kind.
TABLE: dict[TransferKind, tuple[int, int, int, bool]] = {
    K.GRANT: (1, 0, 1, False),
    K.TOP_UP: (1, 0, 1, False),
    K.ALLOCATE: (1, 0, 1, False),
    K.ALLOT: (1, 0, 1, False),
    K.APPROVE: (1, 0, 1, False),
    K.RECLAIM: (1, 0, 1, False),
    K.RETURN: (1, 0, 1, False),
    K.SPEND: (1, 0, 1, True),
    K.HOLD: (0, 1, 0, True),
    K.CAPTURE: (1, -1, 1, False),
    K.RELEASE: (0, -1, 0, False),
    K.REFUND: (1, 0, 1, False),
    K.EXPIRE: (1, 0, 1, False),
    K.FUND_TEAM: (1, 0, 1, False),
    K.DEFUND_TEAM: (1, 0, 1, False),
    K.GRACE: (1, 0, 1, False),
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

DRAWING = [k for k in TransferKind if k not in (K.CAPTURE, K.RELEASE)]
GUARDED = [POOL, ALICE, DESIGN]
UNGUARDED = [GRANT, USAGE, EXPIRED]

# ---------------------------------------------------------------------------- the table


def test_every_transfer_kind_has_an_effect() -> None:
    """The table leaves no kind out, and names nothing else."""
    assert set(EFFECTS) == set(TransferKind)
    assert set(TABLE) == set(TransferKind)


def test_the_table_cannot_be_changed_at_run_time() -> None:
    """EFFECTS is a read-only mapping."""
    with pytest.raises(TypeError):
        EFFECTS[K.SPEND] = EFFECTS[K.GRANT]  # type: ignore[index]


@pytest.mark.parametrize("kind", list(TransferKind))
def test_each_kind_has_the_effect_the_design_gives_it(kind: TransferKind) -> None:
    """Each kind's row is the one the design's table of accounts implies."""
    effect = EFFECTS[kind]
    row = (effect.debit_posted, effect.debit_pending, effect.credit_posted, effect.starts_spending)
    assert row == TABLE[kind]
    assert kind.effect is effect


def test_every_kind_conserves_posted_credits() -> None:
    """What a kind posts to the debit side it posts to the credit side: double entry."""
    assert [k for k, e in EFFECTS.items() if e.debit_posted != e.credit_posted] == []


def test_every_kind_but_capture_and_release_draws_on_its_debit_account() -> None:
    """Every kind draws on its debit account except the two that settle a reservation."""
    assert {k for k in TransferKind if EFFECTS[k].draws} == set(DRAWING)


def test_only_capture_and_release_settle_a_reservation() -> None:
    """The two-phase kinds that consume pending debits are capture and release."""
    assert {k for k in TransferKind if EFFECTS[k].settles_pending} == {K.CAPTURE, K.RELEASE}


def test_a_kind_posts_exactly_when_it_credits_posted_credits() -> None:
    """``posts`` is read from the table: a kind posts if it moves credit-side posted totals."""
    assert {k for k in TransferKind if k.posts} == {k for k, row in TABLE.items() if row[2]}


def test_only_spends_and_holds_start_spending() -> None:
    """A plain spend and a reservation are the kinds that begin spending a member's credits."""
    assert {k for k in TransferKind if EFFECTS[k].starts_spending} == {K.SPEND, K.HOLD}


def test_spending_kinds_are_derived_from_the_table() -> None:
    """SPENDING_KINDS is exactly the kinds whose effect starts spending."""
    assert {k for k, e in EFFECTS.items() if e.starts_spending} == SPENDING_KINDS


def test_the_default_effect_does_not_start_spending() -> None:
    """An Effect built without the flag is an ordinary posting."""
    assert not Effect(1, 0, 1).starts_spending


def test_an_effect_without_credit_posting_leaves_the_credit_account_alone() -> None:
    """Holds and releases do not touch their credit account at all (the same object returns)."""
    usage = account(USAGE, credits_posted=7)
    for kind in (K.HOLD, K.RELEASE):
        assert EFFECTS[kind].apply(usage, 5, side=Side.CREDIT) is usage


# ---------------------------------------------------------------------------- kind sets


def test_spends_and_captures_are_what_members_spent() -> None:
    """Usage is a spend or a captured hold; a hold alone is not spent yet."""
    assert {K.SPEND, K.CAPTURE} == SPENT_KINDS


def test_refunds_give_usage_back() -> None:
    """Only a refund reverses usage."""
    assert {K.REFUND} == REFUND_KINDS


def test_allocations_allotments_and_approvals_are_what_members_were_allocated() -> None:
    """'Allocated' counts one-off allocations, standing allotments and approved requests."""
    assert {K.ALLOCATE, K.ALLOT, K.APPROVE} == ALLOCATED_KINDS


def test_the_kind_sets_do_not_overlap() -> None:
    """A transfer counts as spent, refunded or allocated, never two of them."""
    assert not SPENT_KINDS & REFUND_KINDS
    assert not SPENT_KINDS & ALLOCATED_KINDS
    assert not REFUND_KINDS & ALLOCATED_KINDS


def test_every_kind_counted_as_usage_or_allocation_posts() -> None:
    """Figures are sums of posted transfers: no reservation counts as used or allocated."""
    assert all(k.posts for k in SPENT_KINDS | REFUND_KINDS | ALLOCATED_KINDS)


def test_a_hold_starts_spending_but_is_not_spent() -> None:
    """The reservation is refused on a closed account, but counts as used only once captured."""
    assert K.HOLD in SPENDING_KINDS
    assert K.HOLD not in SPENT_KINDS


# ---------------------------------------------------------------------------- apply_transfer


@pytest.mark.parametrize("kind", list(TransferKind))
def test_apply_transfer_moves_each_total_by_the_kinds_row(kind: TransferKind) -> None:
    """Each kind moves each total by its row times the amount, and conserves the balances' sum."""
    debit_code, credit_code = ROUTES[kind]
    debit = account(debit_code, credits_posted=100, pending=30)
    credit = account(credit_code, credits_posted=5, debits_posted=1, pending=2)
    new_debit, new_credit = apply_transfer(
        debit, credit, transfer(kind, debit_code, credit_code, 20)
    )
    dp, dpend, cp, _ = TABLE[kind]
    assert new_debit.totals == (100, 20 * dp, 30 + 20 * dpend)
    assert new_credit.totals == (5 + 20 * cp, 1, 2)
    assert new_debit.balance + new_credit.balance == debit.balance + credit.balance


@pytest.mark.parametrize("code", GUARDED)
@pytest.mark.parametrize("kind", DRAWING)
def test_a_guarded_account_gives_all_it_has_and_not_one_credit_more(
    kind: TransferKind, code: str
) -> None:
    """Pool and members may reach zero available but never go below, whatever kind draws."""
    debit = account(code, credits_posted=80, debits_posted=10, pending=20)
    new_debit, _ = apply_transfer(debit, account(USAGE), transfer(kind, code, USAGE, 50))
    assert new_debit.available == 0
    with pytest.raises(InsufficientCredits) as caught:
        apply_transfer(debit, account(USAGE), transfer(kind, code, USAGE, 51))
    assert (caught.value.available, caught.value.requested) == (50, 51)
    assert code in str(caught.value)


@pytest.mark.parametrize("code", UNGUARDED)
def test_the_source_and_the_sinks_may_go_below_zero(code: str) -> None:
    """Only the pool and members are guarded: grant, usage and expired accounts may go negative."""
    new_debit, _ = apply_transfer(account(code), account(POOL), transfer(K.REFUND, code, POOL, 9))
    assert new_debit.available == -9


def test_a_capture_is_not_refused_by_the_guard() -> None:
    """Capturing converts a reservation into a debit, so it passes even at zero available."""
    debit = account(ALICE, credits_posted=30, pending=30)
    new_debit, _ = apply_transfer(debit, account(USAGE), transfer(K.CAPTURE, ALICE, USAGE, 30))
    assert (new_debit.available, new_debit.balance) == (0, 0)


@pytest.mark.parametrize("kind", [K.CAPTURE, K.RELEASE])
def test_a_settlement_cannot_consume_more_than_is_pending(kind: TransferKind) -> None:
    """A capture or release of more than the account has reserved is refused."""
    debit = account(ALICE, credits_posted=100, pending=10)
    with pytest.raises(ArmoxError):
        apply_transfer(debit, account(USAGE), transfer(kind, ALICE, USAGE, 11))


@pytest.mark.parametrize("kind", [K.CAPTURE, K.RELEASE])
def test_a_settlement_past_the_pending_amount_is_an_invalid_amount(kind: TransferKind) -> None:
    """The refusal is an InvalidAmount that names the account and what it has pending."""
    debit = account(ALICE, credits_posted=100, pending=10)
    with pytest.raises(InvalidAmount, match=f"{ALICE}.*10 pending"):
        apply_transfer(debit, account(USAGE), transfer(kind, ALICE, USAGE, 11))
    new_debit, _ = apply_transfer(debit, account(USAGE), transfer(kind, ALICE, USAGE, 10))
    assert new_debit.debits_pending == 0


@pytest.mark.parametrize("kind", sorted(SPENDING_KINDS))
def test_a_closed_account_refuses_the_spending_kinds(kind: TransferKind) -> None:
    """A member who left cannot start a spend or a hold, however much they still hold."""
    debit = attrs.evolve(account(ALICE, credits_posted=100), closed=True)
    with pytest.raises(AccountClosed, match=ALICE):
        apply_transfer(debit, account(USAGE), transfer(kind, ALICE, USAGE, 10))


FROM_POOL = {K.ALLOCATE, K.ALLOT, K.APPROVE, K.FUND_TEAM, K.GRACE}


@pytest.mark.parametrize("kind", sorted(FROM_POOL))
def test_a_closed_account_refuses_credits_from_the_pool(kind: TransferKind) -> None:
    """A member who left gets no allocation, allotment or approval, and a deleted team no
    funding, however it got there."""
    pool = account(POOL, credits_posted=100)
    _, code = ROUTES[kind]
    closed = attrs.evolve(account(code), closed=True)
    with pytest.raises(AccountClosed, match=code):
        apply_transfer(pool, closed, transfer(kind, POOL, code, 10))


def test_only_credits_from_the_pool_are_refused_by_a_closed_credit_account() -> None:
    """The table marks exactly the allocated kinds as refused by a closed credit account."""
    assert {k for k, e in EFFECTS.items() if e.refused_by_closed_credit} == FROM_POOL
    assert not Effect(1, 0, 1).refused_by_closed_credit


@pytest.mark.parametrize(
    "kind", [k for k in TransferKind if k not in SPENDING_KINDS and k not in FROM_POOL]
)
def test_a_closed_account_still_posts_every_other_kind(kind: TransferKind) -> None:
    """Captures, releases, refunds, returns, expiries ... still post on a closed account."""
    debit_code, credit_code = ROUTES[kind]
    debit = attrs.evolve(account(debit_code, credits_posted=100, pending=30), closed=True)
    credit = attrs.evolve(account(credit_code), closed=True)
    new_debit, new_credit = apply_transfer(
        debit, credit, transfer(kind, debit_code, credit_code, 10)
    )
    dp, dpend, cp, _ = TABLE[kind]
    assert (new_debit.totals, new_credit.totals) == (
        (100, 10 * dp, 30 + 10 * dpend),
        (10 * cp, 0, 0),
    )
    assert new_debit.closed
    assert new_credit.closed


def test_a_closed_credit_account_does_not_stop_a_spend_into_it() -> None:
    """Only the debit side's closure matters (a refund to a member who left still posts)."""
    usage, alice = account(USAGE, credits_posted=50), attrs.evolve(account(ALICE), closed=True)
    _, new_alice = apply_transfer(usage, alice, transfer(K.REFUND, USAGE, ALICE, 20))
    assert new_alice.available == 20


@pytest.mark.parametrize("kind", list(TransferKind))
def test_every_kind_refuses_a_non_positive_amount(kind: TransferKind) -> None:
    """No transfer moves zero or a negative amount, whatever its kind."""
    debit_code, credit_code = ROUTES[kind]
    for amount in (0, -1):
        with pytest.raises(InvalidAmount, match=f"positive amount, got {amount}"):
            apply_transfer(
                account(debit_code, credits_posted=100, pending=30),
                account(credit_code),
                transfer(kind, debit_code, credit_code, amount),
            )


def test_the_amount_is_checked_before_the_closed_account() -> None:
    """A zero spend on a closed account is an invalid amount, the first thing wrong with it."""
    debit = attrs.evolve(account(ALICE, credits_posted=100), closed=True)
    with pytest.raises(InvalidAmount):
        apply_transfer(debit, account(USAGE), transfer(K.SPEND, ALICE, USAGE, 0))


def test_apply_transfer_returns_new_accounts_and_changes_neither_argument() -> None:
    """Accounts are values: the inputs are unchanged, even when the transfer is refused."""
    pool, alice = account(POOL, credits_posted=10), account(ALICE)
    apply_transfer(pool, alice, transfer(K.ALLOCATE, POOL, ALICE, 10))
    with pytest.raises(InsufficientCredits):
        apply_transfer(pool, alice, transfer(K.ALLOCATE, POOL, ALICE, 11))
    assert (pool.totals, alice.totals) == ((10, 0, 0), (0, 0, 0))


# ---------------------------------------------------------------------------- reconcile


def _ledger() -> tuple[dict[str, Account], list[Transfer]]:
    accounts = {c: account(c) for c in (GRANT, POOL, USAGE, EXPIRED, ALICE, BOB, DESIGN)}
    history = [
        transfer(K.GRANT, GRANT, POOL, 1_000),
        transfer(K.TOP_UP, GRANT, POOL, 200),
        transfer(K.ALLOCATE, POOL, ALICE, 300),
        transfer(K.ALLOT, POOL, BOB, 100),
        transfer(K.APPROVE, POOL, BOB, 50),
        transfer(K.SPEND, ALICE, USAGE, 40),
        transfer(K.HOLD, BOB, USAGE, 60),
        transfer(K.CAPTURE, BOB, USAGE, 25),
        transfer(K.RELEASE, BOB, USAGE, 35),
        transfer(K.REFUND, USAGE, ALICE, 10),
        transfer(K.RECLAIM, ALICE, POOL, 20),
        transfer(K.RETURN, BOB, POOL, 5),
        transfer(K.EXPIRE, POOL, EXPIRED, 100),
        transfer(K.HOLD, ALICE, USAGE, 15),
        transfer(K.FUND_TEAM, POOL, DESIGN, 70),
        transfer(K.DEFUND_TEAM, DESIGN, POOL, 30),
        transfer(K.GRACE, POOL, BOB, 5),
    ]
    for t in history:
        debit, credit = apply_transfer(accounts[t.debit_account], accounts[t.credit_account], t)
        accounts[debit.code], accounts[credit.code] = debit, credit
    return accounts, history


def test_a_ledger_posted_by_apply_transfer_reconciles_clean() -> None:
    """Every kind applied by apply_transfer leaves totals reconcile agrees with."""
    accounts, history = _ledger()
    assert {t.kind for t in history} == set(TransferKind)
    assert reconcile(accounts.values(), history) == []


def test_reconcile_with_no_transfers_and_fresh_accounts_is_clean() -> None:
    """An organisation that has done nothing yet is consistent."""
    assert reconcile([account(c) for c in (GRANT, POOL, USAGE, EXPIRED)], []) == []


@pytest.mark.parametrize("total", ["credits_posted", "debits_posted", "debits_pending"])
def test_reconcile_names_the_account_and_totals_of_a_tampered_cache(total: str) -> None:
    """Any one cached total off by one is reported with the account and both sets of totals."""
    accounts, history = _ledger()
    right = accounts[ALICE]
    accounts[ALICE] = tampered = attrs.evolve(right, **{total: getattr(right, total) + 1})
    problems = reconcile(accounts.values(), history)
    assert (
        f"account {ALICE}: cached {tampered.totals} but transfers imply {right.totals}" in problems
    )


def test_reconcile_names_a_guarded_account_below_zero() -> None:
    """A negative pool is reported as below zero with its available amount."""
    overdraw = transfer(K.ALLOCATE, POOL, ALICE, 5)
    problems = reconcile(
        [account(POOL, debits_posted=5), account(ALICE, credits_posted=5)], [overdraw]
    )
    assert problems == [f"account {POOL} is below zero available: -5"]


def test_reconcile_accepts_negative_balances_on_the_source() -> None:
    """The grant source is negative by design; that is not a problem."""
    grant = transfer(K.GRANT, GRANT, POOL, 5)
    assert (
        reconcile([account(GRANT, debits_posted=5), account(POOL, credits_posted=5)], [grant]) == []
    )


def test_reconcile_reports_a_set_of_accounts_that_does_not_conserve_credits() -> None:
    """Balances that do not sum to zero are reported with the sum."""
    problems = reconcile([account(POOL, credits_posted=7), account(GRANT)], [])
    assert "credits are not conserved: balances sum to 7" in problems


def test_reconcile_names_a_transfer_to_an_unknown_account() -> None:
    """A transfer naming an account that is not among the accounts is reported by its id."""
    stray = transfer(K.ALLOCATE, POOL, member_account("ghost"), 5)
    problems = reconcile([account(POOL), account(ALICE)], [stray])
    assert problems == [f"transfer {stray.id} names an unknown account"]


def test_reconcile_names_a_transfer_from_an_unknown_account() -> None:
    """The debit side is checked as well as the credit side."""
    stray = transfer(K.RECLAIM, member_account("ghost"), POOL, 5)
    assert reconcile([account(POOL)], [stray]) == [f"transfer {stray.id} names an unknown account"]


def test_reconcile_reports_every_problem_not_just_the_first() -> None:
    """Two tampered accounts give (at least) two mismatches, one per account."""
    accounts, history = _ledger()
    for code in (ALICE, BOB):
        accounts[code] = attrs.evolve(
            accounts[code], debits_posted=accounts[code].debits_posted + 1
        )
    problems = reconcile(accounts.values(), history)
    assert any(p.startswith(f"account {ALICE}: cached") for p in problems)
    assert any(p.startswith(f"account {BOB}: cached") for p in problems)


# ---------------------------------------------------------------------------- property

CODES = [GRANT, POOL, USAGE, EXPIRED, ALICE, BOB]
steps = st.lists(
    st.tuples(
        st.sampled_from(list(TransferKind)),
        st.sampled_from(CODES),
        st.sampled_from(CODES),
        st.integers(min_value=1, max_value=400),
    ),
    max_size=30,
)


@settings(max_examples=50, deadline=None)
@given(steps=steps)
def test_any_sequence_of_valid_transfers_reconciles_and_conserves_credits(
    steps: list[tuple[TransferKind, str, str, int]],
) -> None:
    """Any accepted sequence reconciles clean, keeps guards and conserves credits."""
    accounts = {c: account(c) for c in CODES}
    posted: list[Transfer] = []
    for kind, debit_code, credit_code, amount in steps:
        if debit_code == credit_code:
            continue
        debit = accounts[debit_code]
        if EFFECTS[kind].settles_pending and amount > debit.debits_pending:
            continue  # a settlement consumes at most what is reserved
        t = transfer(kind, debit_code, credit_code, amount)
        try:
            new_debit, new_credit = apply_transfer(debit, accounts[credit_code], t)
        except InsufficientCredits:
            assert debit.kind.guarded
            continue
        accounts[debit_code], accounts[credit_code] = new_debit, new_credit
        posted.append(t)
    assert reconcile(accounts.values(), posted) == []
    assert sum(a.balance for a in accounts.values()) == 0
    assert all(accounts[c].available >= 0 for c in (POOL, ALICE, BOB))
