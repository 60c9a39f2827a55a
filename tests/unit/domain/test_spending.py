"""Spending rules: when the pool covers a member's shortfall, and how long a hold may live."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.ledger import TransferKind
from armox_enterprise.domain.spending import (
    MAX_HOLD_LIFETIME,
    draws_on_pool,
    hold_expiry,
    pool_shortfall,
)

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)

# ---------------------------------------------------------------------------- pool fallback


@pytest.mark.parametrize("allowed", [True, False])
def test_a_plain_spend_draws_on_the_pool_only_where_the_organisation_allows_it(
    allowed: bool,
) -> None:
    """Pool spending is an organisation option (off by default) and applies to spends."""
    assert draws_on_pool(TransferKind.SPEND, allow_pool_spend=allowed) is allowed


@pytest.mark.parametrize("kind", [k for k in TransferKind if k is not TransferKind.SPEND])
def test_no_other_kind_ever_draws_on_the_pool(kind: TransferKind) -> None:
    """A hold (or any other kind) never falls back on the pool, even where spends may."""
    assert draws_on_pool(kind, allow_pool_spend=True) is False
    assert draws_on_pool(kind, allow_pool_spend=False) is False


@pytest.mark.parametrize(
    ("available", "shortfall"), [(30, 20), (0, 50), (49, 1), (-10, 50)], ids=str
)
def test_the_pool_allocates_what_the_member_lacks(available: int, shortfall: int) -> None:
    """The pool gives the member what they lack; a negative available counts as nothing."""
    assert pool_shortfall(available, 50) == shortfall


# ---------------------------------------------------------------------------- hold_expiry


def test_the_longest_a_hold_may_live_is_31_days() -> None:
    """Whatever an organisation sets, no hold stays pending past 31 days."""
    assert timedelta(days=31) == MAX_HOLD_LIFETIME


def test_a_hold_without_a_lifetime_lives_as_long_as_the_organisation_says() -> None:
    """No lifetime asked for: the organisation's hold lifetime applies."""
    assert hold_expiry(NOW, None, HOUR) == NOW + HOUR


@pytest.mark.parametrize(
    ("asked", "lives"),
    [
        (timedelta(minutes=5), timedelta(minutes=5)),
        (HOUR, HOUR),
        (HOUR + timedelta(seconds=1), HOUR),
        (timedelta(days=30), HOUR),
    ],
    ids=["shorter", "equal", "just-longer", "much-longer"],
)
def test_a_hold_lives_as_asked_but_never_past_the_organisations_lifetime(
    asked: timedelta, lives: timedelta
) -> None:
    """A shorter lifetime is honoured; a longer one is capped at the organisation's."""
    assert hold_expiry(NOW, asked, HOUR) == NOW + lives


@given(st.integers(min_value=-(2**20), max_value=2**20), st.integers(min_value=1, max_value=2**20))
def test_the_pool_never_covers_less_than_nothing(available: int, amount: int) -> None:
    """The shortfall is never negative: 0 when the member's own credits cover the spend."""
    shortfall = pool_shortfall(available, amount)
    assert shortfall >= 0
    assert shortfall == 0 or shortfall + max(0, available) == amount
