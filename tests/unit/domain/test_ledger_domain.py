"""The double-entry ledger: how transfers move totals, which accounts are guarded, holds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from armox_enterprise.domain.ledger import (
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    Account,
    AccountKind,
    Hold,
    HoldStatus,
    Transfer,
    TransferKind,
    account_kind,
    apply_transfer,
    member_account,
    member_of,
    period_refusal,
    reconcile,
)
from armox_enterprise.exceptions import (
    HoldAlreadyResolved,
    InsufficientCredits,
    InvalidAmount,
    TransientStorageError,
)

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
ORG = "org"
ALICE = member_account("alice")
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


# ---------------------------------------------------------------------------- accounts


def test_account_codes_name_their_kind() -> None:
    """The five account kinds are told apart by their codes."""
    assert account_kind(GRANT) is AccountKind.GRANT
    assert account_kind(POOL) is AccountKind.POOL
    assert account_kind(USAGE) is AccountKind.USAGE
    assert account_kind(EXPIRED) is AccountKind.EXPIRED
    assert account_kind(ALICE) is AccountKind.MEMBER
    assert member_of(ALICE) == "alice"
    assert member_of(POOL) is None


def test_only_pool_member_and_team_accounts_are_guarded() -> None:
    """The pool, members and teams' budgets may never go below zero; the source and the
    sinks may."""
    assert {k for k in AccountKind if k.guarded} == {
        AccountKind.POOL,
        AccountKind.MEMBER,
        AccountKind.TEAM,
    }


def test_available_deducts_pending_debits_but_balance_does_not() -> None:
    """A reservation lowers what an account can give, not its posted balance."""
    acc = account(ALICE, credits_posted=100, debits_posted=30, pending=20)
    assert acc.balance == 70
    assert acc.available == 50


def test_only_hold_and_release_leave_posted_totals_alone() -> None:
    """Holds and releases only reserve; every other kind posts."""
    assert {k for k in TransferKind if not k.posts} == {TransferKind.HOLD, TransferKind.RELEASE}


# ---------------------------------------------------------------------------- apply_transfer


@pytest.mark.parametrize(
    "kind",
    [k for k in TransferKind if k.posts and k is not TransferKind.CAPTURE],
)
def test_a_posting_transfer_debits_one_account_and_credits_the_other(kind: TransferKind) -> None:
    """Posting kinds move posted credits from the debit to the credit account."""
    debit, credit = apply_transfer(
        account(POOL, credits_posted=100), account(ALICE), transfer(kind, POOL, ALICE, 40)
    )
    assert (debit.credits_posted, debit.debits_posted, debit.debits_pending) == (100, 40, 0)
    assert (credit.credits_posted, credit.debits_posted, credit.debits_pending) == (40, 0, 0)


def test_hold_reserves_without_posting() -> None:
    """A hold raises the debit's pending total and leaves the credit account untouched."""
    debit, credit = apply_transfer(
        account(ALICE, credits_posted=100),
        account(USAGE),
        transfer(TransferKind.HOLD, ALICE, USAGE, 30),
    )
    assert (debit.debits_posted, debit.debits_pending, debit.available) == (0, 30, 70)
    assert credit == account(USAGE)


def test_capture_turns_pending_into_posted() -> None:
    """A capture moves its amount from pending to posted debits and credits the sink."""
    debit, credit = apply_transfer(
        account(ALICE, credits_posted=100, pending=30),
        account(USAGE),
        transfer(TransferKind.CAPTURE, ALICE, USAGE, 20),
    )
    assert (debit.debits_posted, debit.debits_pending, debit.available) == (20, 10, 70)
    assert credit.credits_posted == 20


def test_release_gives_a_reservation_back() -> None:
    """A release lowers pending debits and posts nothing."""
    debit, credit = apply_transfer(
        account(ALICE, credits_posted=100, pending=30),
        account(USAGE),
        transfer(TransferKind.RELEASE, ALICE, USAGE, 30),
    )
    assert (debit.debits_posted, debit.debits_pending, debit.available) == (0, 0, 100)
    assert credit == account(USAGE)


@pytest.mark.parametrize("code", [POOL, ALICE])
def test_guarded_accounts_refuse_to_go_below_zero(code: str) -> None:
    """Overdrawing the pool or a member fails with what was available and what was asked."""
    with pytest.raises(InsufficientCredits) as caught:
        apply_transfer(
            account(code, credits_posted=50, pending=10),
            account(USAGE),
            transfer(TransferKind.SPEND, code, USAGE, 41),
        )
    assert (caught.value.available, caught.value.requested) == (40, 41)


def test_a_guarded_account_may_give_exactly_what_it_has() -> None:
    """Emptying an account to zero is allowed."""
    debit, _ = apply_transfer(
        account(ALICE, credits_posted=50),
        account(USAGE),
        transfer(TransferKind.SPEND, ALICE, USAGE, 50),
    )
    assert debit.available == 0


def test_a_hold_cannot_reserve_more_than_is_available() -> None:
    """Reservations count against the guard too."""
    with pytest.raises(InsufficientCredits):
        apply_transfer(
            account(ALICE, credits_posted=50, pending=50),
            account(USAGE),
            transfer(TransferKind.HOLD, ALICE, USAGE, 1),
        )


def test_the_grant_source_may_go_negative() -> None:
    """The grant account is where credits come from; it is not guarded."""
    debit, credit = apply_transfer(
        account(GRANT), account(POOL), transfer(TransferKind.GRANT, GRANT, POOL, 1_000)
    )
    assert debit.balance == -1_000
    assert credit.available == 1_000


@pytest.mark.parametrize("amount", [0, -5])
def test_a_transfer_must_move_a_positive_amount(amount: int) -> None:
    """Zero and negative transfers are refused at the ledger too."""
    with pytest.raises(InvalidAmount):
        apply_transfer(
            account(GRANT), account(POOL), transfer(TransferKind.GRANT, GRANT, POOL, amount)
        )


@given(
    kind=st.sampled_from(list(TransferKind)),
    stamped=st.integers(min_value=0, max_value=10_000),
    current=st.integers(min_value=0, max_value=10_000),
)
def test_a_transfer_stamped_before_the_current_period_is_refused_as_transient(
    kind: TransferKind, stamped: int, current: int
) -> None:
    """Any kind of transfer stamped with a period the store has moved past (its use case read
    the period before a turnover committed) is refused, as a failure a fresh attempt does
    not meet, naming the closed period; one of the current period, or a later one, is not."""
    late = attrs.evolve(transfer(kind, GRANT, POOL, 1), period_index=stamped)
    refusal = period_refusal(late, current)
    if stamped >= current:
        assert refusal is None
    else:
        assert isinstance(refusal, TransientStorageError)
        assert f"belongs to closed period {stamped} " in str(refusal)
        assert late.id in str(refusal)


# ---------------------------------------------------------------------------- reconcile


def _post_all(transfers: list[Transfer]) -> dict[str, Account]:
    accounts = {c: account(c) for c in (GRANT, POOL, USAGE, EXPIRED, ALICE)}
    for t in transfers:
        d, c = apply_transfer(accounts[t.debit_account], accounts[t.credit_account], t)
        accounts[d.code] = d
        accounts[c.code] = c
    return accounts


def _history() -> list[Transfer]:
    return [
        transfer(TransferKind.GRANT, GRANT, POOL, 1_000),
        transfer(TransferKind.ALLOCATE, POOL, ALICE, 300),
        transfer(TransferKind.SPEND, ALICE, USAGE, 50),
        transfer(TransferKind.HOLD, ALICE, USAGE, 100),
        transfer(TransferKind.CAPTURE, ALICE, USAGE, 60),
        transfer(TransferKind.RELEASE, ALICE, USAGE, 40),
        transfer(TransferKind.REFUND, USAGE, ALICE, 10),
        transfer(TransferKind.EXPIRE, POOL, EXPIRED, 700),
    ]


def test_reconcile_finds_nothing_wrong_with_a_consistent_ledger() -> None:
    """Cached totals equal to what the transfers imply reconcile cleanly."""
    history = _history()
    accounts = _post_all(history)
    assert reconcile(accounts.values(), history) == []
    assert sum(a.balance for a in accounts.values()) == 0


def test_reconcile_reports_a_cached_total_that_disagrees_with_the_transfers() -> None:
    """Tampering with one cached total is found, and named."""
    history = _history()
    accounts = _post_all(history)
    accounts[ALICE] = attrs.evolve(
        accounts[ALICE], credits_posted=accounts[ALICE].credits_posted + 1
    )
    problems = reconcile(accounts.values(), history)
    assert any(ALICE in p and "cached" in p for p in problems)
    assert any("not conserved" in p for p in problems)


def test_reconcile_reports_a_transfer_missing_from_the_cache() -> None:
    """A transfer the cached totals never saw makes the ledger inconsistent."""
    history = _history()
    accounts = _post_all(history[:-1])
    assert reconcile(accounts.values(), history) != []


def test_reconcile_reports_transfers_naming_unknown_accounts() -> None:
    """A transfer to an account that does not exist is reported."""
    stray = transfer(TransferKind.ALLOCATE, POOL, member_account("ghost"), 5)
    problems = reconcile([account(POOL)], [stray])
    assert any("unknown account" in p for p in problems)


def test_reconcile_reports_a_guarded_account_below_zero() -> None:
    """Even if the cache matches the transfers, a negative pool is a problem."""
    overdraw = transfer(TransferKind.ALLOCATE, POOL, ALICE, 5)
    accounts = [account(POOL, debits_posted=5), account(ALICE, credits_posted=5)]
    problems = reconcile(accounts, [overdraw])
    assert any("below zero" in p for p in problems)


def test_reconcile_reports_negative_pending_debits() -> None:
    """A release without its hold leaves negative pending debits, which is reported."""
    orphan = transfer(TransferKind.RELEASE, ALICE, USAGE, 5)
    accounts = [account(ALICE, pending=-5), account(USAGE)]
    problems = reconcile(accounts, [orphan])
    assert any("negative pending" in p for p in problems)


# ---------------------------------------------------------------------------- holds


def _hold(amount: int = 100) -> Hold:
    return Hold(
        id="h1",
        organisation_id=ORG,
        user_id="alice",
        amount=amount,
        period_index=0,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        reference="gen-1",
    )


def test_a_hold_starts_pending_and_captures_at_most_its_amount() -> None:
    """Capturing part of a hold records how much; more than reserved is refused."""
    hold = _hold()
    assert hold.status is HoldStatus.PENDING
    captured = hold.capture(60, NOW)
    assert (captured.status, captured.captured, captured.resolved_at) == (
        HoldStatus.CAPTURED,
        60,
        NOW,
    )
    with pytest.raises(InvalidAmount):
        hold.capture(101, NOW)


def test_a_hold_releases_or_expires_without_capturing() -> None:
    """Release and expiry resolve the hold with nothing captured."""
    assert _hold().release(NOW).status is HoldStatus.RELEASED
    expired = _hold().release(NOW, expired=True)
    assert (expired.status, expired.captured) == (HoldStatus.EXPIRED, 0)


@pytest.mark.parametrize(
    "resolved",
    [
        _hold().capture(10, NOW),
        _hold().release(NOW),
        _hold().release(NOW, expired=True),
    ],
    ids=["captured", "released", "expired"],
)
def test_a_resolved_hold_never_resolves_again(resolved: Hold) -> None:
    """A hold resolves at most once, whichever way."""
    with pytest.raises(HoldAlreadyResolved):
        resolved.capture(1, NOW)
    with pytest.raises(HoldAlreadyResolved):
        resolved.release(NOW)
    with pytest.raises(HoldAlreadyResolved):
        resolved.release(NOW, expired=True)


# ---------------------------------------------------------------------------- property


MEMBERS = [member_account(u) for u in ("alice", "bob")]
amounts = st.integers(min_value=1, max_value=500)


class LedgerMachine(RuleBasedStateMachine):
    """Random sequences of ledger operations never break the ledger's invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.accounts = {c: account(c) for c in (GRANT, POOL, USAGE, EXPIRED, *MEMBERS)}
        self.transfers: list[Transfer] = []
        self.holds: list[tuple[str, int]] = []

    def _apply(self, t: Transfer) -> bool:
        before = dict(self.accounts)
        try:
            d, c = apply_transfer(
                self.accounts[t.debit_account], self.accounts[t.credit_account], t
            )
        except InsufficientCredits:
            assert self.accounts == before
            return False
        self.accounts[d.code] = d
        self.accounts[c.code] = c
        self.transfers.append(t)
        return True

    @rule(amount=amounts)
    def grant(self, amount: int) -> None:
        self._apply(transfer(TransferKind.GRANT, GRANT, POOL, amount))

    @rule(member=st.sampled_from(MEMBERS), amount=amounts)
    def allocate(self, member: str, amount: int) -> None:
        self._apply(transfer(TransferKind.ALLOCATE, POOL, member, amount))

    @rule(member=st.sampled_from(MEMBERS), amount=amounts)
    def reclaim(self, member: str, amount: int) -> None:
        self._apply(transfer(TransferKind.RECLAIM, member, POOL, amount))

    @rule(member=st.sampled_from(MEMBERS), amount=amounts)
    def spend(self, member: str, amount: int) -> None:
        self._apply(transfer(TransferKind.SPEND, member, USAGE, amount))

    @rule(member=st.sampled_from(MEMBERS), amount=amounts)
    def hold(self, member: str, amount: int) -> None:
        if self._apply(transfer(TransferKind.HOLD, member, USAGE, amount)):
            self.holds.append((member, amount))

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        member, amount = self.holds.pop(data.draw(st.integers(0, len(self.holds) - 1)))
        captured = data.draw(st.integers(0, amount))
        if captured:
            assert self._apply(transfer(TransferKind.CAPTURE, member, USAGE, captured))
        if amount - captured:
            assert self._apply(transfer(TransferKind.RELEASE, member, USAGE, amount - captured))

    @rule(member=st.sampled_from([POOL, *MEMBERS]))
    def expire(self, member: str) -> None:
        available = self.accounts[member].available
        if available:
            assert self._apply(transfer(TransferKind.EXPIRE, member, EXPIRED, available))

    @invariant()
    def ledger_reconciles(self) -> None:
        assert reconcile(self.accounts.values(), self.transfers) == []

    @invariant()
    def guarded_accounts_never_go_negative(self) -> None:
        for code in (POOL, *MEMBERS):
            assert self.accounts[code].available >= 0

    @invariant()
    def pending_debits_equal_open_holds(self) -> None:
        for code in MEMBERS:
            open_holds = sum(a for m, a in self.holds if m == code)
            assert self.accounts[code].debits_pending == open_holds


LedgerMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_ledger_invariants_hold_under_any_sequence_of_operations = LedgerMachine.TestCase
