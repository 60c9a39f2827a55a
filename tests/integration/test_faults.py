"""A use case that fails in the middle leaves no partial state, and the next call works."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from armox_enterprise import EnterpriseService, Event, RequestStatus, TransferKind
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.adapters.sqlalchemy import store as store_module
from armox_enterprise.adapters.sqlalchemy.ledger import SqlLedger
from armox_enterprise.domain.ledger import POOL, Transfer, member_account
from armox_enterprise.domain.organisation import MemberStatus
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


class InjectedFault(Exception):
    """The failure a test injects into a unit of work."""


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[Any], None]], None]]:
    """Run ``fault(ledger)`` once, right after the next transfer a unit of work writes."""
    original = SqlLedger.post

    def arm(fault: Callable[[Any], None]) -> None:
        armed = [True]

        def post(self: Any, transfer: Transfer) -> None:
            original(self, transfer)
            if armed[0]:
                armed[0] = False
                fault(self)

        monkeypatch.setattr(SqlLedger, "post", post)

    yield arm
    monkeypatch.setattr(SqlLedger, "post", original)


def _raise(_ledger: Any) -> None:
    raise InjectedFault("injected after the first write")


def _snapshot(scenario: Scenario) -> tuple[object, ...]:
    with scenario.store.unit_of_work() as uow:
        org_id = scenario.org_id
        return (
            tuple(uow.ledger.accounts(org_id)),
            len(uow.ledger.transfers(org_id)),
            tuple(uow.requests.list(org_id)),
            tuple(uow.memberships.list(org_id, active_only=False)),
        )


def test_failed_approval_leaves_the_request_pending_and_the_pool_whole(
    backend: Backend, inject: Callable[[Callable[[Any], None]], None]
) -> None:
    """An approval failing after its transfer is written undoes the decision and the transfer."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allowance=1_000)
    service = scenario.service
    seen: list[Event] = []
    service.subscribe(seen.append)
    member = scenario.members[0]
    request = service.request_credits(member, scenario.org_id, 300)
    seen.clear()
    before = _snapshot(scenario)
    inject(_raise)
    with pytest.raises(InjectedFault):
        service.approve_request(scenario.admin, scenario.org_id, request.id)
    assert _snapshot(scenario) == before
    assert seen == []
    approved = service.approve_request(scenario.admin, scenario.org_id, request.id)
    assert approved.status is RequestStatus.APPROVED
    assert service.profile(member).credits is not None
    assert service.profile(member).credits.remaining == 300  # type: ignore[union-attr]


def test_failed_removal_keeps_the_member_and_their_credits(
    backend: Backend, inject: Callable[[Callable[[Any], None]], None]
) -> None:
    """A removal failing after returning credits keeps the membership, credits and requests."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=250)
    service = scenario.service
    member = scenario.members[0]
    service.request_credits(member, scenario.org_id, 100)
    before = _snapshot(scenario)
    inject(_raise)
    with pytest.raises(InjectedFault):
        service.remove_member(scenario.admin, scenario.org_id, member)
    assert _snapshot(scenario) == before
    removed = service.remove_member(scenario.admin, scenario.org_id, member)
    assert removed.status is MemberStatus.REMOVED
    with scenario.store.unit_of_work() as uow:
        pool = uow.ledger.get_account(scenario.org_id, POOL)
        requests = uow.requests.list(scenario.org_id)
    assert pool is not None
    assert pool.available == 10_000
    assert [r.status for r in requests] == [RequestStatus.CANCELLED]


@pytest.fixture
def admin_engine(server_backend: Backend) -> Iterator[Engine]:
    """A separate engine on the server, for killing another connection."""
    engine = create_engine(server_backend.url, poolclass=NullPool)
    yield engine
    engine.dispose()


def _kill_own_connection(backend: Backend, admin: Engine) -> Callable[[Any], None]:
    """A fault that has the server terminate the unit of work's connection mid-transaction."""

    def fault(ledger: Any) -> None:
        if backend.name == "postgresql":
            pid = ledger._db.connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            kill = text("SELECT pg_terminate_backend(:pid)")
        else:
            pid = ledger._db.connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()
            kill = text(f"KILL {int(pid)}")
        with admin.begin() as connection:
            connection.execute(kill, {"pid": pid})

    return fault


@pytest.mark.parametrize("operation", ["allocate", "spend"])
def test_server_killing_the_connection_mid_transaction_loses_nothing(
    server_backend: Backend,
    admin_engine: Engine,
    inject: Callable[[Callable[[Any], None]], None],
    operation: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The backend killed mid-transaction: the attempt leaves nothing, the retry succeeds once."""
    backend = server_backend
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    service = EnterpriseService(scenario.store, clock=scenario.clock)
    member = scenario.members[0]
    opened: list[object] = []
    original_uow = SqlAlchemyStore.unit_of_work

    def counting_uow(store: SqlAlchemyStore) -> store_module.SqlAlchemyUnitOfWork:
        opened.append(store)
        return original_uow(store)

    monkeypatch.setattr(SqlAlchemyStore, "unit_of_work", counting_uow)
    inject(_kill_own_connection(backend, admin_engine))
    if operation == "allocate":
        transfer = service.allocate_credits(scenario.admin, scenario.org_id, member, 40)
        kind, expected = TransferKind.ALLOCATE, 140
    else:
        transfer = service.spend(member, scenario.org_id, 40, generation_id="after-kill")
        kind, expected = TransferKind.SPEND, 60
    assert len(opened) == 2, "the killed attempt must have been retried in a new transaction"
    monkeypatch.undo()
    with scenario.store.unit_of_work() as uow:
        moved = uow.ledger.transfers(scenario.org_id, kinds=[kind])
        account = uow.ledger.get_account(scenario.org_id, member_account(member))
    assert [t.id for t in moved][-1] == transfer.id
    assert len([t for t in moved if t.amount == 40]) == 1
    assert account is not None
    assert account.available == expected
    again = service.spend(member, scenario.org_id, 10, generation_id="next-call")
    assert again.amount == 10
