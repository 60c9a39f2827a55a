"""A use case that fails in the middle leaves no partial state, and the next call works."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, bindparam, create_engine, event, text
from sqlalchemy.pool import NullPool

from armox_enterprise import (
    EnterpriseService,
    Event,
    RequestStatus,
    TransferKind,
    TransientStorageError,
)
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


def _server_id_query(backend: Backend) -> str:
    return "SELECT pg_backend_pid()" if backend.name == "postgresql" else "SELECT CONNECTION_ID()"


def _track_server_ids(engine: Engine, backend: Backend) -> list[int]:
    """Record the server's id of every connection ``engine`` opens (for killing them)."""
    ids: list[int] = []
    query = _server_id_query(backend)

    def record(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(query)
        ids.append(int(cursor.fetchone()[0]))
        cursor.close()
        dbapi_connection.rollback()

    event.listen(engine, "connect", record)
    return ids


def _kill_idle(backend: Backend, admin: Engine, ids: list[int]) -> int:
    """Have the server terminate each connection of ``ids`` still alive; wait until gone."""
    if backend.name == "postgresql":
        alive = text("SELECT pid FROM pg_stat_activity WHERE pid = ANY(:ids)")
    else:
        alive = text("SELECT id FROM information_schema.processlist WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
    with admin.connect() as connection:
        victims = [row[0] for row in connection.execute(alive, {"ids": ids})]
        for victim in victims:
            if backend.name == "postgresql":
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
            else:
                connection.execute(text(f"KILL CONNECTION {int(victim)}"))
        connection.commit()
        for _ in range(200):
            if not connection.execute(alive, {"ids": victims or [0]}).first():
                break
            connection.rollback()
            time.sleep(0.01)
    return len(victims)


ISOLATION_SETUPS = {
    "default": {},
    "create_engine": {"isolation_level": "READ COMMITTED"},
    "execution_options": {"execution_options": {"isolation_level": "SERIALIZABLE"}},
}


@pytest.mark.parametrize("setup", sorted(ISOLATION_SETUPS))
def test_killed_idle_connections_are_replaced_and_the_pool_never_leaks(
    server_backend: Backend, admin_engine: Engine, setup: str
) -> None:
    """Idle pooled connections killed by the server between calls: the next calls succeed (the
    service retries on a fresh connection), no connection stays checked out, and round after
    round of kills never exhausts a small pool."""
    backend = server_backend
    engine = create_engine(
        backend.url, pool_size=3, max_overflow=0, pool_timeout=3, **ISOLATION_SETUPS[setup]
    )
    ids = _track_server_ids(engine, backend)
    try:
        scenario = enterprise(store=SqlAlchemyStore(engine), members=2, allocate=1_000)
        service, org_id = scenario.service, scenario.org_id
        killed = 0
        for round_ in range(12):
            with engine.connect(), engine.connect(), engine.connect():
                pass  # three idle connections in the pool
            killed += _kill_idle(backend, admin_engine, ids)
            service.spend("member-1", org_id, 1, generation_id=f"spend-{round_}")
            service.allocate_credits(scenario.admin, org_id, "member-2", 1)
            assert service.profile("member-1").credits is not None
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert killed >= 12 * 3
        with scenario.store.unit_of_work() as uow:
            account = uow.ledger.get_account(org_id, member_account("member-1"))
        assert account is not None
        assert account.available == 1_000 - 12
    finally:
        engine.dispose()


@pytest.mark.parametrize("setup", sorted(ISOLATION_SETUPS))
def test_a_unit_of_work_on_a_killed_connection_raises_the_librarys_transient_error(
    server_backend: Backend, admin_engine: Engine, setup: str
) -> None:
    """Without the service's retry, a killed pooled connection surfaces as the library's
    TransientStorageError (never a driver's error), is discarded, and the next unit works."""
    backend = server_backend
    engine = create_engine(
        backend.url, pool_size=1, max_overflow=0, pool_timeout=3, **ISOLATION_SETUPS[setup]
    )
    ids = _track_server_ids(engine, backend)
    store = SqlAlchemyStore(engine)
    try:
        for _ in range(5):
            with store.unit_of_work() as uow:
                uow.organisations.get("none")
            _kill_idle(backend, admin_engine, ids)
            try:
                with store.unit_of_work() as uow:
                    uow.organisations.get("none")
            except TransientStorageError:
                pass  # discarded: the service would run the call again
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            with store.unit_of_work() as uow:
                assert uow.organisations.get("none") is None
    finally:
        engine.dispose()
