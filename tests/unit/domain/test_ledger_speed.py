"""The ledger's short forms agree with its one definition.

:func:`apply_spend` is the spend's short path and must answer as :func:`apply_transfer` does
for every spend; an account's cached totals are rebuilt field by field rather
than by ``attrs.evolve``, so the field list they name is pinned here.
"""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.ledger import (
    EFFECTS,
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    Account,
    Side,
    Transfer,
    TransferKind,
    apply_spend,
    apply_transfer,
    member_account,
)
from armox_enterprise.domain.values import MAX_CREDITS
from armox_enterprise.exceptions import ArmoxError

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
ORG = "org"
CODES = [member_account("ann"), member_account("bo"), POOL, USAGE, GRANT, EXPIRED]

#: Totals around every edge a check looks at: zero, small, and the BIGINT limit.
totals = st.one_of(
    st.integers(min_value=0, max_value=50),
    st.integers(min_value=MAX_CREDITS - 50, max_value=MAX_CREDITS),
    st.integers(min_value=-5, max_value=MAX_CREDITS + 5),
)
amounts = st.one_of(
    st.integers(min_value=-2, max_value=60),
    st.integers(min_value=MAX_CREDITS - 60, max_value=MAX_CREDITS + 2),
)


@st.composite
def accounts(draw: st.DrawFn, codes: list[str] = CODES) -> Account:
    """Any account, healthy or not: every total and flag a check could trip on."""
    return Account(
        ORG,
        draw(st.sampled_from(codes)),
        credits_posted=draw(totals),
        debits_posted=draw(totals),
        debits_pending=draw(totals),
        closed=draw(st.booleans()),
    )


def spend(
    debit: str, credit: str, amount: int, kind: TransferKind = TransferKind.SPEND
) -> Transfer:
    """A transfer of ``kind`` (a spend by default) between two accounts of the organisation."""
    return Transfer(
        id="t1",
        organisation_id=ORG,
        kind=kind,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        period_index=0,
        actor="ann",
        created_at=NOW,
        idempotency_key="gen-1",
        reference="gen-1",
    )


def applied(debit: Account, credit: Account, transfer: Transfer) -> tuple[Account, Account] | None:
    """What :func:`apply_transfer` returns, or ``None`` where it refuses."""
    try:
        return apply_transfer(debit, credit, transfer)
    except ArmoxError:
        return None


@given(debit=accounts(), credit=accounts(), amount=amounts)
def test_apply_spend_answers_as_apply_transfer_for_every_spend(
    debit: Account, credit: Account, amount: int
) -> None:
    """For any accounts and amount, a spend's short form leaves the same two accounts as
    apply_transfer, and refuses exactly what it refuses."""
    transfer = spend(debit.code, credit.code, amount)
    assert apply_spend(debit, credit, transfer) == applied(debit, credit, transfer)


@given(
    debit=accounts([member_account("ann")]),
    credit=accounts([USAGE]),
    amount=st.integers(min_value=1, max_value=100),
)
def test_apply_spend_of_a_members_spend_to_usage(
    debit: Account, credit: Account, amount: int
) -> None:
    """The spend the short path posts (member to usage) agrees too, refused or not."""
    transfer = spend(debit.code, USAGE, amount)
    assert apply_spend(debit, credit, transfer) == applied(debit, credit, transfer)


def test_apply_spend_moves_the_spend_row_of_the_table() -> None:
    """A healthy spend adds the amount to the member's posted debits and usage's credits."""
    member = Account(ORG, member_account("ann"), credits_posted=100, debits_posted=10)
    usage = Account(ORG, USAGE, credits_posted=10)
    result = apply_spend(member, usage, spend(member.code, USAGE, 30))
    assert result is not None
    assert result == apply_transfer(member, usage, spend(member.code, USAGE, 30))
    assert (result[0].debits_posted, result[1].credits_posted) == (40, 40)
    assert result[0].available == 60


def test_apply_spend_refuses_an_overdraft_and_a_closed_account() -> None:
    """One credit too many, or a member who left, and there is no short answer."""
    member = Account(ORG, member_account("ann"), credits_posted=100, debits_pending=20)
    usage = Account(ORG, USAGE)
    assert apply_spend(member, usage, spend(member.code, USAGE, 81)) is None
    assert apply_spend(member, usage, spend(member.code, USAGE, 80)) is not None
    closed = attrs.evolve(member, closed=True)
    assert apply_spend(closed, usage, spend(member.code, USAGE, 1)) is None


def test_apply_spend_answers_only_for_spends() -> None:
    """Any other kind has no short form: the caller asks apply_transfer."""
    member = Account(ORG, member_account("ann"), credits_posted=100)
    usage = Account(ORG, USAGE)
    for kind in TransferKind:
        if kind is not TransferKind.SPEND:
            assert apply_spend(member, usage, spend(member.code, USAGE, 1, kind)) is None


def test_apply_spend_leaves_a_subclass_of_account_to_apply_transfer() -> None:
    """An account of a subclass (which may carry more fields) is not rebuilt as a plain one."""

    @attrs.frozen
    class Tagged(Account):
        tag: str = "x"

    member = Tagged(ORG, member_account("ann"), credits_posted=5)
    assert apply_spend(member, Account(ORG, USAGE), spend(member.code, USAGE, 1)) is None
    debit, _ = apply_transfer(member, Account(ORG, USAGE), spend(member.code, USAGE, 1))
    assert isinstance(debit, Tagged)
    assert debit.tag == "x"


@given(account=accounts(), amount=st.integers(min_value=1, max_value=50))
def test_an_effect_applies_as_attrs_evolve_would(account: Account, amount: int) -> None:
    """Every kind's effect on either side gives what ``attrs.evolve`` of the totals gives."""
    for effect in EFFECTS.values():
        debit = effect.apply(account, amount, side=Side.DEBIT)
        assert debit == attrs.evolve(
            account,
            debits_posted=account.debits_posted + effect.debit_posted * amount,
            debits_pending=account.debits_pending + effect.debit_pending * amount,
        )
        credit = effect.apply(account, amount, side=Side.CREDIT)
        assert credit == attrs.evolve(
            account, credits_posted=account.credits_posted + effect.credit_posted * amount
        )


def test_the_fields_apply_rebuilds_are_pinned() -> None:
    """Accounts are rebuilt positionally: a new field must be passed on there.

    ``_with_totals`` and :func:`apply_spend` build accounts from every field in this order
    (a subclass of :class:`Account` is left to ``attrs.evolve``); a field added to the class
    fails this test until they pass it on.
    """
    assert [f.name for f in attrs.fields(Account)] == [
        "organisation_id",
        "code",
        "credits_posted",
        "debits_posted",
        "debits_pending",
        "closed",
    ]
