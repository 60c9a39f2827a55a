"""Fixtures for the unit specification: ready organisations on the memory store.

``acme`` is an organisation with a verified domain, an admin and two members holding 1,000
credits each; ``globex`` is a second organisation on the same store and clock, so tests can
check that nobody acts on an organisation they do not belong to.  ``unchanged`` asserts that a
failing call left every record of the store as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from armox_enterprise import EnterpriseService, MemoryStore, Organisation
from armox_enterprise.domain.events import Event
from armox_enterprise.testing import Scenario, enterprise

ALLOCATED = 1_000
ALLOWANCE = 10_000


@pytest.fixture
def acme() -> Scenario:
    """Acme: admin ``admin``, members ``member-1`` and ``member-2`` with 1,000 credits each."""
    return enterprise(members=2, allowance=ALLOWANCE, allocate=ALLOCATED)


@pytest.fixture
def globex(acme: Scenario) -> Organisation:
    """A second organisation on Acme's store, with its own admin ``globex-admin``."""
    return acme.service.create_organisation(
        name="Globex",
        admin_user_id="globex-admin",
        admin_email="boss@globex.example",
        monthly_allowance=5_000,
    )


@pytest.fixture
def events(acme: Scenario) -> list[Event]:
    """Every event Acme's service hands to subscribers, in delivery order."""
    delivered: list[Event] = []
    acme.service.subscribe(delivered.append)
    return delivered


def store_state(store: object) -> dict[str, Any]:
    """Return a copy of every record a :class:`MemoryStore` holds."""
    assert isinstance(store, MemoryStore)
    return {
        "organisations": dict(store.organisations),
        "memberships": dict(store.memberships),
        "active_member_of": dict(store.active_member_of),
        "domains": dict(store.domains),
        "invitations": dict(store.invitations),
        "join_requests": dict(store.join_requests),
        "accounts": dict(store.accounts),
        "transfers": {org: list(ts) for org, ts in store.transfers.items() if ts},
        "transfers_by_id": dict(store.transfers_by_id),
        "totals": {key: tally.totals() for key, tally in store.totals.items()},
        "holds": dict(store.holds),
        "requests": dict(store.requests),
        "idempotency": dict(store.idempotency),
        "outbox": list(store.outbox),
    }


@pytest.fixture
def unchanged() -> Callable[[Scenario], AbstractContextManager[None]]:
    """Return ``unchanged(scenario)``: a block that must leave the store exactly as it was.

    Besides every stored record, the admin's dashboard and the ledger's reconciliation are
    compared, so a test proves the failure wrote nothing anyone could observe.
    """

    @contextmanager
    def check(scenario: Scenario) -> Iterator[None]:
        service: EnterpriseService = scenario.service
        before = store_state(scenario.store)
        dashboard = service.dashboard(scenario.admin, scenario.org_id)
        yield
        assert store_state(scenario.store) == before
        assert service.dashboard(scenario.admin, scenario.org_id) == dashboard
        assert service.reconcile(scenario.org_id) == []

    return check
