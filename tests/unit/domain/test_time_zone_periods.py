"""Periods counted in an organisation's time zone: local wall time, one daylight-saving rule
(a gap moves forward by its length, an overlap takes its first occurrence), the valid-through
date, and UTC exactly as before."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise.domain.organisation import Organisation
from armox_enterprise.domain.periods import (
    BillingPeriod,
    ensure_same_zone,
    local_to_utc,
    period_at,
    period_by_index,
    valid_through,
)
from armox_enterprise.domain.values import DEFAULT_TIME_ZONE, months_later, time_zone
from armox_enterprise.exceptions import InvalidInput

UTC = timezone.utc
SAO_PAULO = "America/Sao_Paulo"
LISBON = "Europe/Lisbon"
NEW_YORK = "America/New_York"
KOLKATA = "Asia/Kolkata"
ZONES = [
    "UTC",
    SAO_PAULO,
    LISBON,
    NEW_YORK,
    KOLKATA,
    "Australia/Lord_Howe",  # a half-hour daylight-saving shift
    "America/Santiago",  # a gap at local midnight, like Brazil's
    "Asia/Kathmandu",  # +05:45
    "Pacific/Auckland",
]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(zone: str, *parts: int) -> datetime:
    """A local wall time in ``zone`` (first occurrence), as a UTC instant."""
    return datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[misc]


def wall(instant: datetime, zone: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


# -- the daylight-saving rule -----------------------------------------------------------------


def test_a_local_time_in_a_gap_moves_forward_by_the_gaps_length() -> None:
    """On 4 November 2018 Brazil's clocks jumped from 00:00 to 01:00: local midnight did not
    exist, and a boundary there is 01:00, the first instant of that local day."""
    moved = local_to_utc(datetime(2018, 11, 4, 0, 0), SAO_PAULO)
    assert moved == utc(2018, 11, 4, 3, 0)
    assert wall(moved, SAO_PAULO) == datetime(2018, 11, 4, 1, 0)
    # Half past midnight, also in the gap, becomes half past one.
    assert wall(local_to_utc(datetime(2018, 11, 4, 0, 30), SAO_PAULO), SAO_PAULO) == datetime(
        2018, 11, 4, 1, 30
    )


def test_an_ambiguous_local_time_is_its_first_occurrence() -> None:
    """On 17 February 2019 Brazil's clocks went back from 00:00 to 23:00: 23:30 on the 16th
    happened twice, and the rule takes the first (still at -02:00)."""
    assert local_to_utc(datetime(2019, 2, 16, 23, 30), SAO_PAULO) == utc(2019, 2, 17, 1, 30)
    # New York, 1 November 2026: 01:30 happens at -04:00, then again at -05:00.
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)


def test_a_local_time_outside_any_transition_is_exact() -> None:
    """Away from transitions a local time has one instant, whatever the zone's offset."""
    assert local_to_utc(datetime(2026, 1, 1, 0, 0), KOLKATA) == utc(2025, 12, 31, 18, 30)
    assert local_to_utc(datetime(2026, 7, 1, 12, 0), LISBON) == utc(2026, 7, 1, 11, 0)


# -- periods in a zone ------------------------------------------------------------------------


def test_sao_paulo_2018_a_period_ending_in_the_november_gap_ends_at_one_in_the_morning() -> None:
    """An anchor at local midnight on 4 October 2018: the next boundary, local midnight on 4
    November, fell in Brazil's gap, so period 1 starts at 01:00 local (03:00 UTC); the
    following boundary is midnight again, at Brazil's summer offset."""
    anchor = local(SAO_PAULO, 2018, 10, 4)
    assert anchor == utc(2018, 10, 4, 3, 0)
    first, second = period_by_index(anchor, 0, SAO_PAULO), period_by_index(anchor, 1, SAO_PAULO)
    assert first == BillingPeriod(0, anchor, utc(2018, 11, 4, 3, 0))
    assert second == BillingPeriod(1, utc(2018, 11, 4, 3, 0), utc(2018, 12, 4, 2, 0))
    assert wall(second.end, SAO_PAULO) == datetime(2018, 12, 4, 0, 0)
    # The period that ran into the gap is valid through 3 November, the last local day.
    assert valid_through(first, SAO_PAULO) == date(2018, 11, 3)
    assert valid_through(second, SAO_PAULO) == date(2018, 12, 3)
    # After February's change back, midnight is at -03:00 again.
    assert period_by_index(anchor, 5, SAO_PAULO).start == utc(2019, 3, 4, 3, 0)


def test_sao_paulo_2019_a_boundary_in_the_february_overlap_is_the_first_occurrence() -> None:
    """An anchor at 23:30 local on 16 January 2019: a month later 23:30 happened twice; the
    period starts at the first (01:30 UTC), so it is an hour shorter than at the second."""
    anchor = local(SAO_PAULO, 2019, 1, 16, 23, 30)
    assert anchor == utc(2019, 1, 17, 1, 30)
    period = period_by_index(anchor, 1, SAO_PAULO)
    assert period.start == utc(2019, 2, 17, 1, 30)
    assert period.end == utc(2019, 3, 17, 2, 30)
    assert period_at(anchor, utc(2019, 2, 17, 2, 0), SAO_PAULO).index == 1


def test_lisbon_boundaries_keep_the_local_time_across_summer_time() -> None:
    """09:00 in Lisbon is 09:00 UTC in winter and 08:00 UTC in summer; a 01:30 anchor on the
    29th meets March's gap (01:00 to 02:00) on 29 March 2026 and starts at 02:30 local."""
    anchor = local(LISBON, 2026, 1, 15, 9)
    assert [period_by_index(anchor, i, LISBON).start for i in (0, 2, 3, 9, 10)] == [
        utc(2026, 1, 15, 9),
        utc(2026, 3, 15, 9),
        utc(2026, 4, 15, 8),
        utc(2026, 10, 15, 8),
        utc(2026, 11, 15, 9),
    ]
    night = local(LISBON, 2026, 1, 29, 1, 30)
    assert period_by_index(night, 1, LISBON).start == utc(2026, 2, 28, 1, 30)
    march = period_by_index(night, 2, LISBON)
    assert march.start == utc(2026, 3, 29, 1, 30)
    assert wall(march.start, LISBON) == datetime(2026, 3, 29, 2, 30)
    assert wall(march.end, LISBON) == datetime(2026, 4, 29, 1, 30)


def test_new_york_gap_and_overlap() -> None:
    """02:30 on 8 March 2026 did not exist in New York (it is 03:30 EDT); 01:30 on 1 November
    2026 happened twice (the first, EDT, is taken)."""
    spring = local(NEW_YORK, 2026, 1, 8, 2, 30)
    assert period_by_index(spring, 2, NEW_YORK).start == utc(2026, 3, 8, 7, 30)
    assert wall(period_by_index(spring, 2, NEW_YORK).start, NEW_YORK) == datetime(2026, 3, 8, 3, 30)
    assert period_by_index(spring, 3, NEW_YORK).start == utc(2026, 4, 8, 6, 30)
    autumn = local(NEW_YORK, 2026, 10, 1, 1, 30)
    assert period_by_index(autumn, 1, NEW_YORK).start == utc(2026, 11, 1, 5, 30)
    assert period_by_index(autumn, 2, NEW_YORK).start == utc(2026, 12, 1, 6, 30)
    morning = local(NEW_YORK, 2026, 1, 15, 9)
    assert period_by_index(morning, 3, NEW_YORK).start == utc(2026, 4, 15, 13)


def test_kolkata_periods_start_at_local_midnight() -> None:
    """+05:30 and no daylight saving: every boundary is 18:30 UTC the day before."""
    anchor = local(KOLKATA, 2026, 1, 1)
    assert anchor == utc(2025, 12, 31, 18, 30)
    for index in range(-3, 30):
        period = period_by_index(anchor, index, KOLKATA)
        assert wall(period.start, KOLKATA).time() == datetime.min.time()
        assert wall(period.start, KOLKATA).day == 1
        assert period.start.time() == datetime(1, 1, 1, 18, 30).time()
    january = period_by_index(anchor, 0, KOLKATA)
    assert january.end == utc(2026, 1, 31, 18, 30)
    assert valid_through(january, KOLKATA) == date(2026, 1, 31)
    # In UTC the same period runs to the 31st's evening: the last local day is not the UTC one.
    assert valid_through(january) == date(2026, 1, 31)
    assert period_at(anchor, utc(2026, 1, 31, 18, 29), KOLKATA).index == 0
    assert period_at(anchor, utc(2026, 1, 31, 18, 30), KOLKATA).index == 1


def test_an_anchor_on_the_31st_is_clamped_in_local_time_across_february() -> None:
    """Local midnight on 31 January in Kolkata: 28 February, 31 March, 30 April local, and
    29 February in a leap year; the day is the local day, not the UTC one (the 30th)."""
    anchor = local(KOLKATA, 2026, 1, 31)
    assert anchor == utc(2026, 1, 30, 18, 30)
    starts = [wall(period_by_index(anchor, i, KOLKATA).start, KOLKATA) for i in range(4)]
    assert starts == [datetime(2026, m, d) for m, d in ((1, 31), (2, 28), (3, 31), (4, 30))]
    assert wall(period_by_index(anchor, 25, KOLKATA).start, KOLKATA) == datetime(2028, 2, 29)
    assert valid_through(period_by_index(anchor, 0, KOLKATA), KOLKATA) == date(2026, 2, 27)


def test_valid_through_is_the_local_date_of_the_last_instant() -> None:
    """A period ending at local midnight is valid through the day before; one ending at 09:00
    through that day."""
    midnight = BillingPeriod(0, utc(2026, 1, 1), utc(2026, 2, 1))
    assert valid_through(midnight) == date(2026, 1, 31)
    morning = BillingPeriod(0, utc(2026, 1, 1, 9), utc(2026, 2, 1, 9))
    assert valid_through(morning) == date(2026, 2, 1)
    # The same instants in New York (-05:00): midnight UTC is 19:00 the day before.
    assert valid_through(midnight, NEW_YORK) == date(2026, 1, 31)
    assert valid_through(morning, NEW_YORK) == date(2026, 2, 1)
    assert valid_through(midnight, KOLKATA) == date(2026, 2, 1)


def test_the_organisation_counts_its_periods_in_its_zone() -> None:
    """``Organisation.current_period``, ``period`` and ``period_at`` use its ``time_zone``."""
    anchor = local(KOLKATA, 2026, 1, 1)
    org = Organisation("o", "Acme", 0, anchor, anchor, current_period_index=2, time_zone=KOLKATA)
    assert org.current_period == period_by_index(anchor, 2, KOLKATA)
    assert org.current_period.start == utc(2026, 2, 28, 18, 30)
    assert org.period(0).end == utc(2026, 1, 31, 18, 30)
    assert org.period_at(utc(2026, 3, 31, 18, 30)).index == 3
    assert Organisation("o", "Acme", 0, anchor, anchor).time_zone == DEFAULT_TIME_ZONE == "UTC"


def test_periods_in_a_zone_are_remembered() -> None:
    """The service asks for the current period on every call: the answer is cached."""
    anchor = local(SAO_PAULO, 2018, 10, 4)
    assert period_by_index(anchor, 7, SAO_PAULO) is period_by_index(anchor, 7, SAO_PAULO)


# -- the zone's name and its changes ----------------------------------------------------------


@pytest.mark.parametrize("name", ["UTC", "Asia/Kolkata", "America/Sao_Paulo", "Etc/GMT+5"])
def test_known_zones_are_accepted(name: str) -> None:
    assert time_zone(name) == name


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Mars/Olympus_Mons", "'Mars/Olympus_Mons'"),
        ("utc", "'utc'"),
        ("", "''"),
        (" UTC", "' UTC'"),
        ("../../etc/passwd", "'../../etc/passwd'"),
        ("/usr/share/zoneinfo/UTC", "'/usr/share/zoneinfo/UTC'"),
        ("localtime", "'localtime'"),
        ("A" * 65, "'AAAA"),
    ],
)
def test_an_unknown_zone_is_refused_naming_the_field_and_the_value(value: str, shown: str) -> None:
    with pytest.raises(InvalidInput, match="time_zone is not a known IANA time zone") as caught:
        time_zone(value)
    assert shown in str(caught.value)


def test_a_zone_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidInput, match="time_zone must be an IANA time zone name, not int"):
        time_zone(5)
    with pytest.raises(InvalidInput, match=r"^zone must be"):
        time_zone(None, name="zone")


def test_the_zone_of_an_organisation_does_not_change() -> None:
    ensure_same_zone(KOLKATA, KOLKATA)
    with pytest.raises(InvalidInput, match=r"time_zone is fixed .* 'UTC', it cannot become 'Asia"):
        ensure_same_zone("UTC", KOLKATA)


# -- properties -------------------------------------------------------------------------------

anchors = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


def _reference(anchor: datetime, instant: datetime) -> BillingPeriod:
    """The UTC computation as it was before zones: months_later on the UTC anchor."""
    guess = (instant.year - anchor.year) * 12 + (instant.month - anchor.month)
    while months_later(anchor, guess) > instant:
        guess -= 1
    while months_later(anchor, guess + 1) <= instant:
        guess += 1
    return BillingPeriod(guess, months_later(anchor, guess), months_later(anchor, guess + 1))


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    anchor=anchors,
    index=st.integers(min_value=-36, max_value=240),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
)
def test_periods_in_any_zone_are_contiguous_increasing_and_keep_the_anchor_day(
    zone: str, anchor: datetime, index: int, offset: timedelta
) -> None:
    """Each period ends where the next starts, after it starts; its start's local date is the
    anchor's local day clamped to the month; its local time is the anchor's, or later by at
    most a gap; and ``period_at`` of any instant in it is it."""
    period = period_by_index(anchor, index, zone)
    following = period_by_index(anchor, index + 1, zone)
    assert period.index == index
    assert period.end == following.start
    assert period.start < period.end
    anchor_wall = wall(period_by_index(anchor, 0, zone).start, zone)
    start_wall = wall(period.start, zone)
    total = anchor_wall.year * 12 + anchor_wall.month - 1 + index
    year, month = divmod(total, 12)
    expected_day = min(anchor_wall.day, calendar.monthrange(year, month + 1)[1])
    assert (start_wall.year, start_wall.month, start_wall.day) == (year, month + 1, expected_day)
    expected = datetime.combine(start_wall.date(), anchor_wall.time())
    assert timedelta(0) <= start_wall - expected <= timedelta(hours=1)
    instant = min(period.start + offset, period.end - timedelta(microseconds=1))
    assert period_at(anchor, instant, zone) == period
    assert period.contains(instant)
    assert valid_through(period, zone) >= wall(period.start, zone).date()


@settings(max_examples=300, deadline=None)
@given(anchor=anchors, instant=anchors)
def test_the_utc_zone_gives_exactly_what_it_gave_before_zones(
    anchor: datetime, instant: datetime
) -> None:
    """``UTC``, the default, is the old computation, period for period."""
    assert period_at(anchor, instant) == _reference(anchor, instant)
    assert period_at(anchor, instant, "UTC") == _reference(anchor, instant)
    index = _reference(anchor, instant).index
    assert period_by_index(anchor, index) == _reference(anchor, instant)
    # Etc/UTC goes through zoneinfo and agrees.
    assert period_at(anchor, instant, "Etc/UTC") == _reference(anchor, instant)
