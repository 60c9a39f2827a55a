"""Alerts: the crossing rule at its edges, the alerts due in a period, and their once-only keys."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import pytest

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.alerts import (
    DEFAULT_THRESHOLDS,
    AlertThresholds,
    DueAlert,
    MemberUsage,
    PoolUsage,
    crossed,
    due_alerts,
)
from armox_enterprise.domain.idempotency import INTERNAL_KEY_PREFIX
from armox_enterprise.domain.requests import CreditRequest
from armox_enterprise.domain.values import STORED_KEY_LENGTH

NOW = datetime(2026, 1, 20, 9, 0, tzinfo=timezone.utc)
AFTER = timedelta(hours=24)
QUIET_POOL = PoolUsage(allocated=0, available_total=1_000)


def waiting(request_id: str, waited: timedelta, user_id: str = "jane") -> CreditRequest:
    """A pending request made ``waited`` before NOW."""
    return CreditRequest(request_id, "org", user_id, 100, "", 0, NOW - waited)


def due(
    *,
    members: list[MemberUsage] | None = None,
    pool: PoolUsage = QUIET_POOL,
    pending: list[CreditRequest] | None = None,
    period: int = 3,
    thresholds: AlertThresholds = DEFAULT_THRESHOLDS,
) -> list[DueAlert]:
    """The alerts due for organisation ``org`` in ``period`` at NOW."""
    return due_alerts(
        "org",
        period,
        NOW,
        members=members or [],
        pool=pool,
        pending=pending or [],
        request_alert_after=AFTER,
        thresholds=thresholds,
    )


# ---------------------------------------------------------------------------- crossed


@pytest.mark.parametrize(
    ("part", "whole", "threshold", "result"),
    [
        (79, 100, 80, False),
        (80, 100, 80, True),
        (99, 100, 100, False),
        (100, 100, 100, True),
        (150, 100, 100, True),
        (1, 3, 33, True),  # 33.3% is at least 33%
        (1, 3, 34, False),
        (4, 5, 80, True),  # exactly 80%, no rounding
        (7, 9, 78, False),  # 77.7%: integers, no float rounding up
        (0, 100, 0, True),
        (0, 0, 80, False),  # nothing given: nothing to cross
        (50, 0, 0, False),
        (10, -5, 80, False),
    ],
)
def test_crossed_means_at_least_the_threshold_of_a_positive_whole(
    part: int, whole: int, threshold: int, result: bool
) -> None:
    """Exact integer comparison, edge included; a whole of zero or less never crosses."""
    assert crossed(part, whole, threshold) is result


def test_crossed_is_exact_for_amounts_beyond_float_precision() -> None:
    """Huge credit amounts compare exactly (no float percentage)."""
    whole = 10**18 + 1
    assert not crossed(whole - 1, whole, 100)
    assert crossed(whole, whole, 100)


# ---------------------------------------------------------------------------- thresholds


def test_the_default_thresholds_are_80_and_100_for_members_and_90_for_the_pool() -> None:
    """Members are alerted at 80% and 100% of what they were given, the pool at 90% allocated."""
    assert AlertThresholds(member=(80, 100), pool=(90,)) == DEFAULT_THRESHOLDS
    assert AlertThresholds() == DEFAULT_THRESHOLDS


# ---------------------------------------------------------------------------- members


@pytest.mark.parametrize(
    ("used", "thresholds"),
    [(0, []), (79, []), (80, [80]), (99, [80]), (100, [80, 100]), (130, [80, 100])],
)
def test_a_member_is_alerted_at_80_and_100_percent(used: int, thresholds: list[int]) -> None:
    """Each member threshold reached is due, the lower first."""
    alerts = due(members=[MemberUsage("jane", used, 100)])
    assert [a.event.threshold for a in alerts] == thresholds  # type: ignore[attr-defined]


def test_a_member_given_nothing_is_never_alerted() -> None:
    """A member with nothing allocated or carried in has no percentage to cross."""
    assert due(members=[MemberUsage("jane", 50, 0)]) == []


def test_a_member_alert_says_who_how_much_and_when() -> None:
    """The event names the member, threshold, period and figures, raised by the system."""
    (alert,) = due(members=[MemberUsage("jane", 85, 100)])
    assert alert.event == ev.MemberUsageAlert(
        organisation_id="org",
        actor=ev.SYSTEM_ACTOR,
        occurred_at=NOW,
        user_id="jane",
        threshold=80,
        period_index=3,
        used=85,
        allocated=100,
    )


def test_each_member_is_judged_on_their_own_figures() -> None:
    """Members are alerted independently, in the order given."""
    alerts = due(members=[MemberUsage("bob", 100, 100), MemberUsage("jane", 10, 100)])
    assert [a.event.user_id for a in alerts] == ["bob", "bob"]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- pool


@pytest.mark.parametrize(("allocated", "alerted"), [(89, False), (90, True), (100, True)])
def test_the_pool_is_alerted_at_90_percent_allocated(allocated: int, alerted: bool) -> None:
    """90% of what the period put in the pool allocated to members raises the pool alert."""
    alerts = due(pool=PoolUsage(allocated=allocated, available_total=100))
    assert bool(alerts) is alerted


def test_a_pool_alert_carries_the_pool_figures() -> None:
    """The event names the threshold, period and the two figures."""
    (alert,) = due(pool=PoolUsage(allocated=950, available_total=1_000))
    assert alert.event == ev.PoolAllocationAlert(
        organisation_id="org",
        actor=ev.SYSTEM_ACTOR,
        occurred_at=NOW,
        threshold=90,
        period_index=3,
        allocated=950,
        available_total=1_000,
    )


def test_an_empty_pool_is_never_alerted() -> None:
    """With nothing put in the pool there is no percentage allocated."""
    assert due(pool=PoolUsage(allocated=10, available_total=0)) == []


# ---------------------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("waited", "alerted"),
    [
        (timedelta(hours=1), False),
        (AFTER, False),
        (AFTER + timedelta(seconds=1), True),
        (timedelta(days=10), True),
    ],
    ids=["young", "exactly-the-limit", "just-past", "long"],
)
def test_a_request_is_alerted_only_once_it_has_waited_past_the_limit(
    waited: timedelta, alerted: bool
) -> None:
    """Waiting exactly request_alert_after is not yet too long; a second more is."""
    assert bool(due(pending=[waiting("r1", waited)])) is alerted


def test_a_waiting_request_alert_says_which_request_and_how_long() -> None:
    """The event names the request, the member and the whole seconds waited."""
    (alert,) = due(pending=[waiting("r1", timedelta(hours=30, microseconds=900))])
    assert alert.event == ev.RequestWaitingAlert(
        organisation_id="org",
        actor=ev.SYSTEM_ACTOR,
        occurred_at=NOW,
        request_id="r1",
        user_id="jane",
        waiting_seconds=30 * 3600,
    )


# ---------------------------------------------------------------------------- order and keys


def test_alerts_come_members_first_then_the_pool_then_requests() -> None:
    """The list is in a stable order whatever the figures."""
    alerts = due(
        members=[MemberUsage("jane", 100, 100)],
        pool=PoolUsage(allocated=100, available_total=100),
        pending=[waiting("r1", timedelta(days=2))],
    )
    assert [a.event.name for a in alerts] == [
        "MemberUsageAlert",
        "MemberUsageAlert",
        "PoolAllocationAlert",
        "RequestWaitingAlert",
    ]


def _all_kinds(period: int = 3) -> list[DueAlert]:
    return due(
        members=[MemberUsage("jane", 100, 100), MemberUsage("bob", 100, 100)],
        pool=PoolUsage(allocated=100, available_total=100),
        pending=[waiting("r1", timedelta(days=2)), waiting("r2", timedelta(days=2))],
        period=period,
    )


def test_alert_keys_are_stable_across_runs() -> None:
    """The same figures give the same keys, so a second run raises nothing new."""
    assert [a.key for a in _all_kinds()] == [a.key for a in _all_kinds()]


def test_alert_keys_differ_per_member_threshold_pool_threshold_and_request() -> None:
    """Every alert of one run has a key of its own."""
    keys = [a.key for a in _all_kinds()]
    assert len(keys) == 7
    assert len(set(keys)) == len(keys)


def test_member_and_pool_alert_keys_differ_per_period() -> None:
    """A threshold is alerted once per period: next period's keys are new ones."""
    this, nxt = _all_kinds(3), _all_kinds(4)
    for a, b in zip(this, nxt, strict=True):
        if a.event.name == "RequestWaitingAlert":
            assert a.key == b.key  # once per request, whatever the period
        else:
            assert a.key != b.key


def test_a_request_alert_key_ignores_how_long_it_has_waited() -> None:
    """A waiting request is alerted once, not once per run as it keeps waiting."""
    (first,) = due(pending=[waiting("r1", timedelta(days=2))])
    (later,) = due(pending=[waiting("r1", timedelta(days=5))])
    assert first.key == later.key


def test_a_member_alert_key_ignores_the_figures() -> None:
    """Spending more past a threshold does not make the same threshold due again."""
    (first,) = due(members=[MemberUsage("jane", 80, 100)])
    (later,) = due(members=[MemberUsage("jane", 95, 100)])
    assert first.key == later.key


def test_alert_keys_are_internal_keys_that_fit_the_key_column() -> None:
    """Keys live in the library's reserved space and fit a stored idempotency key."""
    for alert in _all_kinds():
        assert alert.key.startswith(INTERNAL_KEY_PREFIX + "alert:")
        assert len(alert.key) <= STORED_KEY_LENGTH


# ---------------------------------------------------------------------------- custom thresholds


def test_custom_thresholds_replace_the_defaults() -> None:
    """An organisation's own percentages decide what is due, each with its own key."""
    thresholds = AlertThresholds(member=(50,), pool=(75, 100))
    alerts = due(
        members=[MemberUsage("jane", 85, 100)],
        pool=PoolUsage(allocated=100, available_total=100),
        thresholds=thresholds,
    )
    assert [(a.event.name, a.event.threshold) for a in alerts] == [  # type: ignore[attr-defined]
        ("MemberUsageAlert", 50),
        ("PoolAllocationAlert", 75),
        ("PoolAllocationAlert", 100),
    ]
    assert len({a.key for a in alerts}) == 3


def test_no_thresholds_means_no_usage_alerts() -> None:
    """Empty threshold tuples switch member and pool alerts off; requests still alert."""
    alerts = due(
        members=[MemberUsage("jane", 100, 100)],
        pool=PoolUsage(allocated=100, available_total=100),
        pending=[waiting("r1", timedelta(days=2))],
        thresholds=AlertThresholds(member=(), pool=()),
    )
    assert [a.event.name for a in alerts] == ["RequestWaitingAlert"]


def test_due_alerts_are_values() -> None:
    """A due alert is a frozen value: what it is about and the event to raise."""
    (alert,) = due(members=[MemberUsage("jane", 80, 100)])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        alert.what = "other"  # type: ignore[misc]
