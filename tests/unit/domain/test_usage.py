"""Usage: which transfers count as usage, and the key each one is grouped under."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from armox_enterprise.domain.ledger import (
    POOL,
    USAGE,
    Transfer,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.usage import (
    USAGE_GROUPINGS,
    UsageEntry,
    UsageGrouping,
    date_bucket,
    parse_grouping,
    usage_entry,
    usage_key,
)
from armox_enterprise.exceptions import InvalidInput

UTC = timezone.utc
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
ALICE = member_account("alice")
K = TransferKind


def transfer(
    kind: TransferKind,
    debit: str = ALICE,
    credit: str = USAGE,
    amount: int = 30,
    *,
    at: datetime = NOW,
    feature: str | None = "image",
    model: str | None = "flux",
) -> Transfer:
    """A transfer of ``amount`` credits with usage tags."""
    return Transfer(
        id="t1",
        organisation_id="org",
        kind=kind,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        period_index=0,
        actor="alice",
        created_at=at,
        feature=feature,
        model=model,
    )


# ---------------------------------------------------------------------------- usage_entry


@pytest.mark.parametrize("kind", [K.SPEND, K.CAPTURE])
def test_a_spend_or_capture_is_usage_of_the_member_it_debits(kind: TransferKind) -> None:
    """Spent credits count once, against the debited member account."""
    assert usage_entry(transfer(kind, ALICE, USAGE, 30)) == UsageEntry(ALICE, 30, 0, 1)


def test_a_refund_gives_usage_back_to_the_member_it_credits() -> None:
    """A refund counts as given back (not as a generation) for the credited member."""
    assert usage_entry(transfer(K.REFUND, USAGE, ALICE, 12)) == UsageEntry(ALICE, 0, 12, 0)


@pytest.mark.parametrize(
    "kind", [k for k in TransferKind if k not in (K.SPEND, K.CAPTURE, K.REFUND)]
)
def test_every_other_kind_is_not_usage(kind: TransferKind) -> None:
    """Grants, allocations, holds, releases, returns, expiries ... add nothing to usage."""
    assert usage_entry(transfer(kind, POOL, ALICE)) is None


# ---------------------------------------------------------------------------- usage_key


def test_usage_by_member_is_keyed_by_user_id() -> None:
    """Grouped by member, usage counts under the host's user id, not the account code."""
    assert usage_key("member", ALICE, transfer(K.SPEND)) == "alice"


def test_usage_by_member_of_a_non_member_account_keeps_the_code() -> None:
    """An account that is not a member's keeps its own code as the key."""
    assert usage_key("member", POOL, transfer(K.SPEND, POOL)) == POOL


@pytest.mark.parametrize(
    ("by", "expected"), [("feature", "image"), ("model", "flux")], ids=["feature", "model"]
)
def test_usage_by_tag_is_keyed_by_the_tag(by: UsageGrouping, expected: str) -> None:
    """Grouped by feature or model, usage counts under the spend's tag."""
    assert usage_key(by, ALICE, transfer(K.SPEND)) == expected


@pytest.mark.parametrize("by", ["feature", "model"])
def test_untagged_usage_is_keyed_by_the_empty_string(by: UsageGrouping) -> None:
    """A spend without the tag counts under ``""``, one group for everything untagged."""
    assert usage_key(by, ALICE, transfer(K.SPEND, feature=None, model=None)) == ""


@pytest.mark.parametrize(
    ("by", "expected"), [("day", "2026-01-15"), ("week", "2026-W03"), ("month", "2026-01")]
)
def test_usage_by_date_is_keyed_by_the_transfers_utc_instant(
    by: UsageGrouping, expected: str
) -> None:
    """Grouped by day, ISO week or month, usage counts under when the transfer was made."""
    assert usage_key(by, ALICE, transfer(K.SPEND)) == expected


@pytest.mark.parametrize(
    ("day", "week"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), "2026-W01"),  # a Thursday: week 1 of 2026
        (datetime(2027, 1, 1, tzinfo=UTC), "2026-W53"),  # a Friday: the last week of 2026
        (datetime(2024, 12, 30, tzinfo=UTC), "2025-W01"),  # a Monday: week 1 of 2025
        (datetime(2021, 1, 3, tzinfo=UTC), "2020-W53"),  # a Sunday: the last week of 2020
    ],
    ids=["thursday", "friday", "monday", "sunday"],
)
def test_iso_weeks_cross_the_year_boundary_by_the_iso_calendar(day: datetime, week: str) -> None:
    """A week belongs to the ISO year of its Thursday, not to the calendar year of the day."""
    assert usage_key("week", ALICE, transfer(K.SPEND, at=day)) == week
    assert date_bucket("week", day) == week


@pytest.mark.parametrize(
    ("instant", "day", "month"),
    [
        (
            datetime(2026, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
            "2026-02-01",
            "2026-02",
        ),
        (datetime(2026, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=14))), "2026-02-28", "2026-02"),
        (
            datetime(2026, 6, 30, 23, 59, tzinfo=timezone(timedelta(hours=2))),
            "2026-06-30",
            "2026-06",
        ),
    ],
    ids=["west-of-utc", "east-of-utc", "same-day"],
)
def test_date_buckets_are_utc_dates_whatever_the_instants_zone(
    instant: datetime, day: str, month: str
) -> None:
    """An aware instant in another zone counts on its UTC day and month."""
    assert date_bucket("day", instant) == day
    assert date_bucket("month", instant) == month


def test_date_buckets_are_zero_padded() -> None:
    """Keys sort as text in time order: four-digit years, two-digit months, days and weeks."""
    early = datetime(999, 2, 3, tzinfo=UTC)
    assert (date_bucket("day", early), date_bucket("week", early), date_bucket("month", early)) == (
        "0999-02-03",
        "0999-W05",
        "0999-02",
    )


@pytest.mark.parametrize("by", ["member", "feature", "model"])
def test_date_bucket_refuses_groupings_that_are_not_dates(by: UsageGrouping) -> None:
    """Only day, week and month are date groupings."""
    with pytest.raises(InvalidInput, match="not a date grouping"):
        date_bucket(by, NOW)


# ---------------------------------------------------------------------------- groupings


def test_the_groupings_are_listed_in_the_documented_order() -> None:
    """Six groupings: member, feature, model, day, week, month."""
    assert USAGE_GROUPINGS == ("member", "feature", "model", "day", "week", "month")


@pytest.mark.parametrize("by", USAGE_GROUPINGS)
def test_parse_grouping_accepts_each_grouping(by: str) -> None:
    """Every documented grouping parses to itself."""
    assert parse_grouping(by) == by


@pytest.mark.parametrize("value", ["Day", "days", " day", "", "hour", None, 1, b"day", ["day"]])
def test_parse_grouping_refuses_anything_else_listing_the_choices(value: object) -> None:
    """Near misses, other types and unknown names are refused, and the message lists the six."""
    with pytest.raises(InvalidInput, match="member, feature, model, day, week, month"):
        parse_grouping(value)
