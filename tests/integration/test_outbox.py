"""The transactional outbox on every backend: stored with the change, relayed by several
workers at once, at least once and in order per organisation."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from armox_enterprise import EnterpriseService
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.ports import StoredEvent
from armox_enterprise.testing import FrozenClock, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


def test_events_are_stored_in_the_same_transaction(backend: Backend) -> None:
    """A committed change has its event; a refused one has none."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=10)
    service = scenario.service
    seen: list[StoredEvent] = []
    while service.relay(seen.extend):
        pass
    service.spend(scenario.members[0], scenario.org_id, 4, generation_id="g1")
    with pytest.raises(Exception, match="available"):
        service.spend(scenario.members[0], scenario.org_id, 40, generation_id="g2")
    fresh: list[StoredEvent] = []
    service.relay(fresh.extend)
    assert [(e.name, e.payload["amount"]) for e in fresh] == [("CreditsSpent", 4)]
    assert service.relay(fresh.extend) == 0
    log = service.audit_log(scenario.admin, scenario.org_id, names=["CreditsSpent"])
    assert [e.id for e in log] == [fresh[0].id]
    assert log[0].published_at is not None


def test_several_relays_deliver_every_event_once_and_in_order(backend: Backend) -> None:
    """Four relay workers and writers at once: each event once, each organisation in order."""
    clock = FrozenClock()
    store = SqlAlchemyStore(backend.engine)
    service = EnterpriseService(store, clock=clock, max_attempts=100)
    orgs = []
    for n in range(3):
        org = service.create_organisation(
            name=f"Org {n}",
            admin_user_id=f"admin-{n}",
            admin_email=f"admin@org{n}.example",
            monthly_allowance=1_000,
        )
        orgs.append(org.id)
    delivered: list[StoredEvent] = []
    lock = threading.Lock()
    stop = threading.Event()

    def publish(events: Sequence[StoredEvent]) -> None:
        with lock:
            delivered.extend(events)

    def relay_worker() -> None:
        while not stop.is_set():
            service.relay(publish, limit=7)
        while service.relay(publish, limit=7):
            pass

    def writer(n: int) -> None:
        for i in range(15):
            service.top_up(f"admin-{n}", orgs[n], i + 1)

    with ThreadPoolExecutor(max_workers=7) as pool:
        relays = [pool.submit(relay_worker) for _ in range(4)]
        writers = [pool.submit(writer, n) for n in range(3)]
        for future in writers:
            future.result()
        stop.set()
        for future in relays:
            future.result()
    while service.relay(publish):
        pass
    ids = [e.id for e in delivered]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    by_org: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in delivered:
        by_org[event.organisation_id].append(event)
    for org_id in orgs:
        events = by_org[org_id]
        assert [e.id for e in events] == sorted(e.id for e in events)
        amounts = [e.payload["amount"] for e in events if e.name == "PoolToppedUp"]
        assert amounts == list(range(1, 16))
        log = service.audit_log(f"admin-{orgs.index(org_id)}", org_id, limit=500)
        assert {e.id for e in log} == {e.id for e in events}
