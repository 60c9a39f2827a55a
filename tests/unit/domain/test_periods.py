"""Billing periods: monthly, half-open, counted from the cycle anchor, clamped to short months."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise.domain.organisation import Organisation
from armox_enterprise.domain.periods import (
    MAX_REPORT_PERIODS,
    BillingPeriod,
    period_at,
    period_by_index,
    report_range,
)
from armox_enterprise.exceptions import InvalidInput, InvalidInstant

UTC = timezone.utc
ANCHOR = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
ANCHOR_31 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)

instants = st.datetimes(
    # Hypothesis takes naive bounds and attaches the zone itself.
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
)


def test_first_period_starts_at_the_anchor_and_lasts_a_calendar_month() -> None:
    """Period 0 runs from the anchor to the same instant a month later."""
    period = period_by_index(ANCHOR, 0)
    assert period == BillingPeriod(0, ANCHOR, datetime(2026, 2, 15, 9, 0, tzinfo=UTC))


def test_periods_are_half_open() -> None:
    """The end instant belongs to the next period, the start to this one."""
    period = period_at(ANCHOR, ANCHOR)
    assert period.index == 0
    assert period.contains(period.start)
    assert not period.contains(period.end)
    assert period.contains(period.end - timedelta(microseconds=1))
    assert period_at(ANCHOR, period.end).index == 1
    assert period_at(ANCHOR, period.end - timedelta(microseconds=1)).index == 0


def test_instants_before_the_anchor_have_negative_indexes() -> None:
    """The calendar extends backwards from the anchor."""
    before = period_at(ANCHOR, ANCHOR - timedelta(seconds=1))
    assert before.index == -1
    assert before.end == ANCHOR
    assert before.start == datetime(2025, 12, 15, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("index", "start", "end"),
    [
        (0, datetime(2026, 1, 31, 12, tzinfo=UTC), datetime(2026, 2, 28, 12, tzinfo=UTC)),
        (1, datetime(2026, 2, 28, 12, tzinfo=UTC), datetime(2026, 3, 31, 12, tzinfo=UTC)),
        (2, datetime(2026, 3, 31, 12, tzinfo=UTC), datetime(2026, 4, 30, 12, tzinfo=UTC)),
        (3, datetime(2026, 4, 30, 12, tzinfo=UTC), datetime(2026, 5, 31, 12, tzinfo=UTC)),
        (24, datetime(2028, 1, 31, 12, tzinfo=UTC), datetime(2028, 2, 29, 12, tzinfo=UTC)),
        (25, datetime(2028, 2, 29, 12, tzinfo=UTC), datetime(2028, 3, 31, 12, tzinfo=UTC)),
    ],
)
def test_an_anchor_on_the_31st_clamps_to_each_months_last_day(
    index: int, start: datetime, end: datetime
) -> None:
    """Anchored on the 31st, February's period starts on the 28th (29th in leap years)."""
    assert period_by_index(ANCHOR_31, index) == BillingPeriod(index, start, end)


def test_anchor_in_another_zone_is_read_as_utc() -> None:
    """An aware anchor in any zone gives UTC period boundaries."""
    local = datetime(2026, 1, 15, 12, 0, tzinfo=timezone(timedelta(hours=3)))
    assert period_by_index(local, 0) == period_by_index(ANCHOR, 0)
    assert period_by_index(local, 0).start.tzinfo is UTC


def test_naive_anchor_or_instant_is_refused() -> None:
    """Periods are computed on UTC instants only."""
    with pytest.raises(InvalidInstant):
        period_by_index(datetime(2026, 1, 15), 0)
    with pytest.raises(InvalidInstant):
        period_at(ANCHOR, datetime(2026, 1, 15))


def test_organisation_current_period_follows_its_index() -> None:
    """An organisation's current period is the one its index names on its own anchor."""
    org = Organisation(
        id="org",
        name="Acme",
        monthly_allowance=0,
        cycle_anchor=ANCHOR_31,
        created_at=ANCHOR_31,
    )
    assert org.current_period == period_by_index(ANCHOR_31, 0)
    later = attrs.evolve(org, current_period_index=1)
    assert later.current_period.start == datetime(2026, 2, 28, 12, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(anchor=instants, instant=instants)
def test_every_instant_falls_in_exactly_the_period_period_at_names(
    anchor: datetime, instant: datetime
) -> None:
    """``period_at`` agrees with ``period_by_index`` and its period contains the instant."""
    period = period_at(anchor, instant)
    assert period.contains(instant)
    assert period == period_by_index(anchor, period.index)
    assert not period_by_index(anchor, period.index + 1).contains(instant)
    assert not period_by_index(anchor, period.index - 1).contains(instant)


@settings(max_examples=100, deadline=None)
@given(anchor=instants, index=st.integers(min_value=-300, max_value=300))
def test_consecutive_periods_tile_time_without_gaps(anchor: datetime, index: int) -> None:
    """Each period ends where the next begins, and none is empty or longer than 31 days."""
    period = period_by_index(anchor, index)
    following = period_by_index(anchor, index + 1)
    assert period.end == following.start
    assert timedelta(days=28) <= period.end - period.start <= timedelta(days=31)
    last_day = calendar.monthrange(period.start.year, period.start.month)[1]
    assert period.start.day == min(anchor.day, last_day)
    assert period.start.timetz() == anchor.timetz()


# ---------------------------------------------------------------------------- report ranges


def test_a_report_covers_the_current_period_by_default() -> None:
    """No first or last period: the report is about the period the organisation is in."""
    assert report_range(7, None, None) == (7, 7)


def test_a_report_from_a_first_period_runs_to_the_current_one() -> None:
    """Only a first period: the range ends at the current period."""
    assert report_range(7, 3, None) == (3, 7)


def test_a_report_up_to_a_last_period_covers_that_period_alone() -> None:
    """Only a last period: the range is that one period."""
    assert report_range(7, None, 4) == (4, 4)


@pytest.mark.parametrize(("first", "last"), [(2, 5), (5, 5), (0, 7), (-3, -1)])
def test_a_report_covers_the_range_asked_for(first: int, last: int) -> None:
    """Any range of begun periods, including periods before the anchor, is reported as asked."""
    assert report_range(7, first, last) == (first, last)


@pytest.mark.parametrize(
    ("first", "last"), [(None, 8), (8, None), (8, 9), (3, 8)], ids=["last", "first", "both", "end"]
)
def test_a_report_never_covers_a_period_that_has_not_begun(
    first: int | None, last: int | None
) -> None:
    """A first or last period after the current one is refused, naming both."""
    with pytest.raises(InvalidInput, match="period 8 has not begun: the current period is 7"):
        report_range(7, first, last)


def test_a_reversed_range_is_refused() -> None:
    """The first period may not come after the last."""
    with pytest.raises(InvalidInput, match="first_period 5 is after last_period 4"):
        report_range(7, 5, 4)


def test_a_report_covers_at_most_ten_years_of_periods() -> None:
    """MAX_REPORT_PERIODS (120 months) is accepted exactly; one more is refused."""
    assert MAX_REPORT_PERIODS == 120
    current = 200
    first = current - MAX_REPORT_PERIODS + 1
    assert report_range(current, first, None) == (first, current)
    with pytest.raises(InvalidInput, match=f"at most 120 periods, not {MAX_REPORT_PERIODS + 1}"):
        report_range(current, first - 1, None)
