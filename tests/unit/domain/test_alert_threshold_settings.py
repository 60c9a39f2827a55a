"""Alert thresholds as an organisation's setting: whole percentages from 1 to 100, no repeats,
at most ten per list, kept sorted; an empty list raises no alert; the stored text form."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.alerts import (
    DEFAULT_THRESHOLDS,
    MAX_THRESHOLDS,
    AlertThresholds,
    MemberUsage,
    PoolUsage,
    due_alerts,
    parse_thresholds,
    thresholds_text,
)
from armox_enterprise.exceptions import InvalidInput

NOW = datetime(2026, 1, 20, tzinfo=timezone.utc)


def test_the_defaults_are_what_every_organisation_had() -> None:
    assert AlertThresholds(member=(80, 100), pool=(90,)) == DEFAULT_THRESHOLDS


def test_thresholds_are_kept_sorted() -> None:
    assert AlertThresholds(member=[100, 50, 80], pool={95, 90}) == AlertThresholds(
        (50, 80, 100), (90, 95)
    )


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ((0,), "member_alert_thresholds must hold whole percentages from 1 to 100, got 0"),
        ((101,), "from 1 to 100, got 101"),
        ((50.0,), "from 1 to 100, got 50.0"),
        ((True,), "from 1 to 100, got True"),
        (("50",), "from 1 to 100, got '50'"),
        ((50, 50), "member_alert_thresholds must not repeat a percentage, got \\[50, 50\\]"),
        (tuple(range(1, 12)), "member_alert_thresholds holds at most 10 percentages, not 11"),
        ("80", "member_alert_thresholds must be a list of whole percentages, not str"),
        (80, "member_alert_thresholds must be a list of whole percentages, not int"),
    ],
)
def test_bad_member_thresholds_are_refused_by_name(member: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        AlertThresholds(member=member)  # type: ignore[arg-type]


def test_bad_pool_thresholds_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match=r"pool_alert_thresholds .* got 150"):
        AlertThresholds(pool=(90, 150))


def test_empty_lists_raise_no_alerts() -> None:
    """No member or pool threshold: nobody is alerted, however much is used."""
    quiet = AlertThresholds(member=(), pool=())
    due = due_alerts(
        "org",
        0,
        NOW,
        members=[MemberUsage("ann", used=100, given=100)],
        pool=PoolUsage(allocated=100, available_total=100),
        pending=[],
        request_alert_after=NOW - NOW,
        thresholds=quiet,
    )
    assert due == []


def test_a_member_threshold_of_50_alerts_at_half() -> None:
    thresholds = AlertThresholds(member=(50,), pool=())

    def due(used: int) -> list[str]:
        return [
            alert.what
            for alert in due_alerts(
                "org",
                3,
                NOW,
                members=[MemberUsage("ann", used=used, given=200)],
                pool=PoolUsage(allocated=200, available_total=200),
                pending=[],
                request_alert_after=NOW - NOW,
                thresholds=thresholds,
            )
        ]

    assert due(99) == []
    assert due(100) == ["member:ann:50:3"]
    assert due(200) == ["member:ann:50:3"]


@given(st.lists(st.integers(min_value=1, max_value=100), unique=True, max_size=MAX_THRESHOLDS))
def test_the_text_form_reads_back(values: list[int]) -> None:
    """What the SQL store keeps ("80,100", "" for none) gives the same thresholds back."""
    thresholds = AlertThresholds(member=values, pool=values)
    text = thresholds_text(thresholds.member)
    assert len(text) <= 4 * MAX_THRESHOLDS
    assert parse_thresholds(text) == thresholds.member == tuple(sorted(values))
    assert thresholds_text(()) == ""
    assert parse_thresholds("") == ()
