"""Soft limits: the grace allowance, what a spend draws on it, and when a run-out files a
request, as pure rules (no store)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.grace import (
    SoftLimit,
    files_automatic_request,
    grace_allowance,
    grace_draw,
    soft_limit,
)
from armox_enterprise.domain.ledger import (
    POOL,
    USAGE,
    Transfer,
    TransferKind,
    member_account,
    team_account,
)
from armox_enterprise.domain.reconciliation import grace_problems
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.values import MAX_CREDITS
from armox_enterprise.exceptions import AmountTypeError, InvalidAmount, InvalidInput

NOW = datetime(2026, 12, 2, tzinfo=timezone.utc)
amounts = st.integers(1, MAX_CREDITS)
counts = st.integers(0, MAX_CREDITS)


def test_a_soft_limit_is_credits_or_a_percentage() -> None:
    assert SoftLimit(credits=100).describe() == "100 credits"
    assert SoftLimit(percent=10).describe() == "10% of what was given"
    with pytest.raises(InvalidInput):
        SoftLimit()
    with pytest.raises(InvalidInput):
        SoftLimit(credits=1, percent=1)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"credits": 0}, InvalidAmount),
        ({"credits": -5}, InvalidAmount),
        ({"credits": MAX_CREDITS + 1}, InvalidAmount),
        ({"percent": 0}, InvalidAmount),
        ({"percent": 101}, InvalidAmount),
        ({"credits": True}, AmountTypeError),
        ({"percent": 2.5}, AmountTypeError),
        ({"credits": "10"}, AmountTypeError),
    ],
)
def test_bad_soft_limits_are_refused(fields: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        SoftLimit(**fields)  # type: ignore[arg-type]


@given(st.one_of(st.integers(), st.text(), st.floats(), st.booleans(), st.lists(st.integers())))
def test_a_setting_is_a_soft_limit_or_none(value: object) -> None:
    with pytest.raises(InvalidInput):
        soft_limit(value)
    assert soft_limit(None) is None
    assert soft_limit(SoftLimit(credits=3)) == SoftLimit(credits=3)


@given(credits=amounts, given_=counts)
def test_a_fixed_allowance_ignores_what_was_given(credits: int, given_: int) -> None:
    assert grace_allowance(SoftLimit(credits=credits), given=given_) == credits


@given(percent=st.integers(1, 100), given_=st.integers(-10, MAX_CREDITS))
def test_a_percentage_allowance_is_rounded_down_and_never_negative(
    percent: int, given_: int
) -> None:
    allowance = grace_allowance(SoftLimit(percent=percent), given=given_)
    assert 0 <= allowance <= max(0, given_)
    assert allowance * 100 <= max(0, given_) * percent < (allowance + 1) * 100


@given(given_=counts)
def test_no_soft_limit_gives_no_grace(given_: int) -> None:
    assert grace_allowance(None, given=given_) == 0


@given(
    allowance=counts,
    drawn=counts,
    available=st.integers(-MAX_CREDITS, MAX_CREDITS),
    amount=amounts,
)
def test_a_draw_lends_exactly_the_shortfall_within_what_is_left(
    allowance: int, drawn: int, available: int, amount: int
) -> None:
    lent = grace_draw(allowance, drawn=drawn, available=available, amount=amount)
    shortfall = max(0, amount - max(0, available))
    if shortfall == 0:
        assert lent == 0
    elif shortfall <= allowance - drawn:
        assert lent == shortfall
        # After the spend the member has nothing left, and the period's draws stay within.
        assert max(0, available) + lent - amount == 0
        assert drawn + lent <= allowance
    else:
        assert lent is None


@given(
    allowance=st.integers(0, 500),
    spends=st.lists(st.integers(1, 120), max_size=40),
)
def test_a_run_of_spends_never_draws_past_the_allowance(allowance: int, spends: list[int]) -> None:
    """A member with nothing left spends again and again: the grace lends each spend whole or
    refuses it, and the period's draws never pass the allowance."""
    drawn = 0
    for amount in spends:
        lent = grace_draw(allowance, drawn=drawn, available=0, amount=amount)
        if lent is not None:
            assert lent == amount
            drawn += lent
        else:
            assert drawn + amount > allowance
    assert drawn <= allowance


def _request(n: int, status: RequestStatus, *, automatic: bool, period: int = 0) -> CreditRequest:
    return CreditRequest(
        id=f"r{n:03}",
        organisation_id="org",
        user_id="ann",
        amount=10,
        note="",
        period_index=period,
        created_at=NOW,
        status=status,
        automatic=automatic,
    )


statuses = st.sampled_from(list(RequestStatus))
histories = st.lists(st.tuples(statuses, st.booleans(), st.integers(0, 2)), max_size=8).map(
    lambda items: [
        _request(n, status, automatic=automatic, period=period)
        for n, (status, automatic, period) in enumerate(items)
    ]
)


@given(histories, st.integers(0, 2))
def test_a_run_out_files_a_request_exactly_when_the_rule_says(
    history: list[CreditRequest], period: int
) -> None:
    files = files_automatic_request(history, period_index=period)
    pending = any(r.is_pending for r in history)
    automatic = [r for r in history if r.automatic and r.period_index == period]
    rejected = bool(automatic) and automatic[-1].status is RequestStatus.REJECTED
    assert files == (not pending and not rejected)


@given(histories, st.integers(0, 2))
def test_the_request_a_run_out_files_stops_the_next_one(
    history: list[CreditRequest], period: int
) -> None:
    """Once filed (pending), no other spend on grace files another until it is decided; an
    approval lets the next run-out file again, a rejection does not in that period."""
    if not files_automatic_request(history, period_index=period):
        return
    filed = _request(len(history), RequestStatus.PENDING, automatic=True, period=period)
    assert not files_automatic_request([*history, filed], period_index=period)
    approved = _request(len(history), RequestStatus.APPROVED, automatic=True, period=period)
    assert files_automatic_request([*history, approved], period_index=period)
    rejected = _request(len(history), RequestStatus.REJECTED, automatic=True, period=period)
    assert not files_automatic_request([*history, rejected], period_index=period)
    # A rejection stands for its own period only.
    assert files_automatic_request(
        [*history, rejected], period_index=period + 1
    ) == files_automatic_request(history, period_index=period + 1)


def test_a_members_own_pending_request_files_none() -> None:
    own = _request(0, RequestStatus.PENDING, automatic=False)
    assert not files_automatic_request([own], period_index=0)
    assert files_automatic_request([], period_index=0)


def _t(
    kind: TransferKind, debit: str, credit: str, amount: int, ref: str, period: int = 0
) -> Transfer:
    return Transfer(
        f"t-{kind.value}-{ref}-{debit}",
        "org",
        kind,
        debit,
        credit,
        amount,
        period,
        "ann",
        NOW,
        reference=ref,
    )


ANN = member_account("ann")


@given(
    lent=st.integers(1, 1_000),
    own=st.integers(0, 1_000),
    lender=st.sampled_from([POOL, team_account("design")]),
)
def test_a_loan_for_a_spend_reconciles(lent: int, own: int, lender: str) -> None:
    posted = [
        _t(TransferKind.GRACE, lender, ANN, lent, "gen-1"),
        _t(TransferKind.SPEND, ANN, USAGE, lent + own, "gen-1"),
    ]
    assert grace_problems(posted) == []


@pytest.mark.parametrize(
    "posted",
    [
        [_t(TransferKind.GRACE, POOL, ANN, 5, "gen-1")],  # no spend
        [
            _t(TransferKind.GRACE, POOL, ANN, 5, "gen-1"),
            _t(TransferKind.SPEND, ANN, USAGE, 4, "gen-1"),  # less than the loan
        ],
        [
            _t(TransferKind.GRACE, POOL, ANN, 5, "gen-1"),
            _t(TransferKind.SPEND, member_account("bob"), USAGE, 5, "gen-1"),  # another's
        ],
        [
            _t(TransferKind.GRACE, POOL, ANN, 5, "gen-1"),
            _t(TransferKind.SPEND, ANN, USAGE, 5, "gen-1", period=1),  # another period
        ],
        [
            _t(TransferKind.GRACE, member_account("bob"), ANN, 5, "gen-1"),  # not a lender
            _t(TransferKind.SPEND, ANN, USAGE, 5, "gen-1"),
        ],
        [
            _t(TransferKind.GRACE, POOL, USAGE, 5, "gen-1"),  # not to a member
            _t(TransferKind.SPEND, ANN, USAGE, 5, "gen-1"),
        ],
    ],
)
def test_a_loan_that_no_spend_explains_is_reported(posted: list[Transfer]) -> None:
    (problem,) = grace_problems(posted)
    assert "grace transfer" in problem
