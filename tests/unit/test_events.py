"""Events: stored with the change that made them, relayed at least once, read as the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from armox_enterprise import InvalidInput, PermissionDenied
from armox_enterprise.ports import StoredEvent
from armox_enterprise.testing import Scenario, enterprise


@pytest.fixture
def acme() -> Scenario:
    """An organisation with two members holding 100 credits each."""
    return enterprise(members=2, allocate=100)


def _drain(scenario: Scenario, limit: int = 100) -> list[StoredEvent]:
    seen: list[StoredEvent] = []
    while scenario.service.relay(seen.extend, limit=limit):
        pass
    return seen


def test_every_committed_change_is_stored_as_an_event(acme: Scenario) -> None:
    """The set-up's changes are all in the store, in the order they happened."""
    names = [e.name for e in _drain(acme)]
    assert names[:3] == ["OrganisationCreated", "MemberEnrolled", "PeriodOpened"]
    assert names.count("MemberEnrolled") == 3
    assert names.count("CreditsAllocated") == 2
    assert names[-1] == "CreditsAllocated"


def test_the_relay_hands_each_event_over_once_when_publishing_succeeds(acme: Scenario) -> None:
    """After a full relay nothing is left; new changes come in the next call."""
    first = _drain(acme)
    assert _drain(acme) == []
    acme.service.spend("member-1", acme.org_id, 5, generation_id="g1")
    [spent] = _drain(acme)
    assert spent.name == "CreditsSpent"
    assert spent.payload == {"user_id": "member-1", "amount": 5, "reference": "g1"}
    assert spent.id not in {e.id for e in first}


def test_a_failed_publish_leaves_the_events_to_be_relayed_again(acme: Scenario) -> None:
    """At least once: when the host's publisher raises, the same events come again."""
    _drain(acme)
    acme.service.top_up(acme.admin, acme.org_id, 50)

    def broken(events: Sequence[StoredEvent]) -> None:
        raise RuntimeError("broker down")

    with pytest.raises(RuntimeError):
        acme.service.relay(broken)
    again = _drain(acme)
    assert [e.name for e in again] == ["PoolToppedUp"]


def test_the_relay_respects_its_limit_and_keeps_order(acme: Scenario) -> None:
    """Small batches deliver the same events in the same order as one big batch."""
    batches: list[list[str]] = []
    while True:
        batch: list[StoredEvent] = []
        if not acme.service.relay(batch.extend, limit=2):
            break
        assert len(batch) <= 2
        batches.append([e.id for e in batch])
    flat = [i for b in batches for i in b]
    assert flat == sorted(flat)
    assert len(flat) == len(set(flat))


def test_a_failed_call_stores_no_event(acme: Scenario) -> None:
    """A refused allocation leaves nothing in the outbox."""
    _drain(acme)
    with pytest.raises(PermissionDenied):
        acme.service.allocate_credits("member-1", acme.org_id, "member-2", 10)
    assert _drain(acme) == []


def test_the_audit_log_lists_who_did_what_newest_first(acme: Scenario) -> None:
    """The audit log filters by event name, by actor and by time, and pages."""
    acme.clock.advance(minutes=1)
    start = acme.clock.now()
    acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 7)
    acme.clock.advance(minutes=1)
    acme.service.change_role(acme.admin, acme.org_id, "member-2", "admin")  # type: ignore[arg-type]
    log = acme.service.audit_log(acme.admin, acme.org_id, since=start)
    assert [e.name for e in log] == ["RoleChanged", "CreditsAllocated"]
    assert log[0].payload == {"user_id": "member-2", "role": "admin"}
    assert log[1].actor == acme.admin
    allocations = acme.service.audit_log(acme.admin, acme.org_id, names=["CreditsAllocated"])
    assert [e.payload["amount"] for e in allocations] == [7, 100, 100]
    page = acme.service.audit_log(
        acme.admin, acme.org_id, names=["CreditsAllocated"], offset=1, limit=1
    )
    assert page == allocations[1:2]
    before = acme.service.audit_log(acme.admin, acme.org_id, until=start)
    assert all(e.occurred_at < start for e in before)
    [own] = acme.service.audit_log(acme.admin, acme.org_id, by="member-1")
    assert (own.name, own.payload["reason"]) == ("MemberEnrolled", "domain_match")


def test_only_admins_read_the_audit_log(acme: Scenario) -> None:
    """A member asking for the audit log is refused."""
    with pytest.raises(PermissionDenied):
        acme.service.audit_log("member-1", acme.org_id)


@pytest.mark.parametrize(
    "bad",
    [
        {"names": ["NoSuchEvent"]},
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"limit": True},
        {"since": "yesterday"},
    ],
)
def test_malformed_audit_filters_are_refused(acme: Scenario, bad: dict[str, object]) -> None:
    """Unknown names, bad pages and non-datetime bounds get InvalidInput."""
    with pytest.raises(InvalidInput):
        acme.service.audit_log(acme.admin, acme.org_id, **bad)  # type: ignore[arg-type]


def test_the_relay_refuses_a_bad_limit(acme: Scenario) -> None:
    """The relay's batch size is an int from 1 to 10,000."""
    with pytest.raises(InvalidInput):
        acme.service.relay(lambda events: None, limit=0)


def test_period_turnover_is_in_the_audit_log(acme: Scenario) -> None:
    """Closing a period is recorded, with what expired."""
    acme.clock.advance(timedelta(days=40))
    acme.service.close_due_periods()
    [closed] = acme.service.audit_log(acme.admin, acme.org_id, names=["PeriodClosed"])
    assert closed.actor == "system"
    assert closed.payload["period_index"] == 0
    assert closed.payload["expired"] == 10_000
