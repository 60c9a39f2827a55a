"""Alerts are events the alert job raises, each at most once per threshold and period."""

from __future__ import annotations

from datetime import timedelta

import pytest

from armox_enterprise import EnterpriseService, InvalidInput
from armox_enterprise.ports import StoredEvent
from armox_enterprise.testing import Scenario, enterprise

ALERTS = ["MemberUsageAlert", "PoolAllocationAlert", "RequestWaitingAlert"]


@pytest.fixture
def acme() -> Scenario:
    """An organisation of 1,000 credits a month whose two members hold 100 each."""
    return enterprise(members=2, allowance=1_000, allocate=100)


def _alerts(scenario: Scenario) -> list[StoredEvent]:
    log = scenario.service.audit_log(scenario.admin, scenario.org_id, names=ALERTS, limit=500)
    return list(reversed(log))


def test_a_member_crossing_80_and_100_percent_is_alerted_once_each(acme: Scenario) -> None:
    """79% raises nothing, 80% one alert, more spending none, 100% the second."""
    service = acme.service
    service.spend("member-1", acme.org_id, 79, generation_id="g1")
    assert service.check_alerts(acme.org_id) == 0
    service.spend("member-1", acme.org_id, 1, generation_id="g2")
    assert service.check_alerts(acme.org_id) == 1
    service.spend("member-1", acme.org_id, 10, generation_id="g3")
    assert service.check_alerts(acme.org_id) == 0
    service.spend("member-1", acme.org_id, 10, generation_id="g4")
    assert service.check_alerts() == 1
    assert service.check_alerts() == 0
    alerts = _alerts(acme)
    assert [
        (a.payload["threshold"], a.payload["used"], a.payload["allocated"]) for a in alerts
    ] == [
        (80, 80, 100),
        (100, 100, 100),
    ]
    assert {a.payload["user_id"] for a in alerts} == {"member-1"}


def test_member_alerts_come_again_in_the_next_period(acme: Scenario) -> None:
    """The same threshold alerts once per period: a new period may alert again."""
    service = acme.service
    service.spend("member-1", acme.org_id, 90, generation_id="g1")
    assert service.check_alerts(acme.org_id) == 1
    acme.clock.advance(days=31)
    service.allocate_credits(acme.admin, acme.org_id, "member-1", 50)
    service.spend("member-1", acme.org_id, 45, generation_id="g2")
    assert service.check_alerts(acme.org_id) == 1
    assert [a.payload["period_index"] for a in _alerts(acme)] == [0, 1]


def test_the_pool_alerts_once_when_90_percent_is_allocated(acme: Scenario) -> None:
    """Allocations reaching 90% of the period's pool raise one pool alert."""
    service = acme.service
    service.allocate_credits(acme.admin, acme.org_id, "member-1", 600)
    assert service.check_alerts(acme.org_id) == 0
    service.allocate_credits(acme.admin, acme.org_id, "member-2", 100)
    assert service.check_alerts(acme.org_id) == 1
    assert service.check_alerts(acme.org_id) == 0
    [alert] = _alerts(acme)
    assert alert.name == "PoolAllocationAlert"
    assert (alert.payload["allocated"], alert.payload["available_total"]) == (900, 1_000)


def test_a_waiting_request_alerts_once_after_the_configured_time() -> None:
    """A request pending longer than request_alert_after raises one alert."""
    scenario = enterprise(members=1, allowance=1_000)
    service = EnterpriseService(
        scenario.store, clock=scenario.clock, request_alert_after=timedelta(hours=2)
    )
    request = service.request_credits("member-1", scenario.org_id, 50)
    scenario.clock.advance(hours=2)
    assert service.check_alerts(scenario.org_id) == 0
    scenario.clock.advance(minutes=1)
    assert service.check_alerts(scenario.org_id) == 1
    assert service.check_alerts(scenario.org_id) == 0
    [alert] = _alerts(scenario)
    assert alert.payload == {
        "request_id": request.id,
        "user_id": "member-1",
        "waiting_seconds": 2 * 3600 + 60,
    }


def test_a_decided_request_does_not_alert(acme: Scenario) -> None:
    """Only pending requests can be waiting too long."""
    request = acme.service.request_credits("member-1", acme.org_id, 50)
    acme.service.reject_request(acme.admin, acme.org_id, request.id)
    acme.clock.advance(days=2)
    assert acme.service.check_alerts(acme.org_id) == 0


def test_the_waiting_time_must_be_a_positive_duration() -> None:
    """A zero or non-timedelta request_alert_after is refused."""
    with pytest.raises(InvalidInput):
        EnterpriseService(enterprise().store, request_alert_after=timedelta(0))
