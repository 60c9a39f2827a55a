"""The two ways to own the transaction: the library's own, or the host's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from armox_enterprise import (
    CommitOutcomeUnknown,
    EnterpriseService,
    InsufficientCredits,
    Transfer,
    TransientStorageError,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore, configure_sqlite
from armox_enterprise.adapters.sqlalchemy.unit_of_work import refused_by_the_database
from armox_enterprise.domain.ledger import member_account
from armox_enterprise.ports import IdempotencyRecord
from armox_enterprise.testing import FrozenClock, Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
host_metadata = MetaData()
host_orders = Table(
    "host_orders",
    host_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("note", String(50), nullable=False),
)


@pytest.fixture
def host_table(backend: Backend) -> Iterator[Table]:
    """A table of the host's own, created for the test and dropped after it."""
    host_metadata.create_all(backend.engine)
    yield host_orders
    host_metadata.drop_all(backend.engine)


def _available(scenario: Scenario, user: str) -> int:
    with scenario.store.unit_of_work() as uow:
        account = uow.ledger.get_account(scenario.org_id, member_account(user))
        assert account is not None
        return account.available


def _host_rows(backend: Backend) -> int:
    with backend.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(host_orders)).scalar_one())


def _joined_service(scenario: Scenario, host: Session) -> EnterpriseService:
    return EnterpriseService(SqlAlchemyStore.joining(host), clock=scenario.clock)


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_joined_session_commits_and_rolls_back_with_the_host(
    backend: Backend, host_table: Table, outcome: str
) -> None:
    """Joining a host Session: the host's write and the library's spend share one fate."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    member = scenario.members[0]
    with Session(backend.engine) as session:
        session.execute(host_table.insert().values(note="generation g1"))
        _joined_service(scenario, session).spend(member, scenario.org_id, 30, generation_id="g1")
        if outcome == "commit":
            session.commit()
        else:
            session.rollback()
    committed = outcome == "commit"
    assert _host_rows(backend) == (1 if committed else 0)
    assert _available(scenario, member) == (70 if committed else 100)


def test_joined_session_is_never_committed_by_the_library(
    backend: Backend, host_table: Table
) -> None:
    """Closing the host's session without committing discards the library's writes too."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    member = scenario.members[0]
    with Session(backend.engine) as session:
        service = _joined_service(scenario, session)
        service.spend(member, scenario.org_id, 10, generation_id="g1")
        service.spend(member, scenario.org_id, 10, generation_id="g2")
        assert service.profile(member).credits.remaining == 80  # type: ignore[union-attr]
    assert _available(scenario, member) == 100


def test_failed_use_case_in_a_joined_session_undoes_only_its_own_writes(
    backend: Backend, host_table: Table
) -> None:
    """A refused spend rolls back to its SAVEPOINT; the host's work goes on and commits."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    member = scenario.members[0]
    with Session(backend.engine) as session:
        service = _joined_service(scenario, session)
        session.execute(host_table.insert().values(note="before"))
        service.spend(member, scenario.org_id, 60, generation_id="g1")
        with pytest.raises(InsufficientCredits):
            service.spend(member, scenario.org_id, 60, generation_id="g2")
        session.execute(host_table.insert().values(note="after"))
        session.commit()
    assert _host_rows(backend) == 2
    assert _available(scenario, member) == 40


def test_joined_connection_works_like_a_joined_session(backend: Backend) -> None:
    """A host Connection can be joined too; its transaction decides."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    member = scenario.members[0]
    with backend.engine.connect() as connection:
        service = EnterpriseService(SqlAlchemyStore.joining(connection), clock=scenario.clock)
        service.spend(member, scenario.org_id, 25, generation_id="g1")
        connection.commit()
    assert _available(scenario, member) == 75


def test_joined_store_does_not_retry_transient_failures(backend: Backend) -> None:
    """Joining a host, a transient failure reaches the host: its transaction is not ours."""
    with Session(backend.engine) as session:
        assert SqlAlchemyStore.joining(session).retry_transient is False
    assert SqlAlchemyStore(backend.engine).retry_transient is True
    calls: list[int] = []

    class Flaky:
        retry_transient = False

        def unit_of_work(self) -> object:
            calls.append(1)
            raise TransientStorageError("serialization failure")

    service = EnterpriseService(Flaky())  # type: ignore[arg-type]
    with pytest.raises(TransientStorageError):
        service.profile("anyone")
    assert calls == [1]


def test_store_from_a_sessionmaker_owns_and_commits_its_transactions(backend: Backend) -> None:
    """A store built on a sessionmaker opens, and commits, a session per unit of work."""
    store = SqlAlchemyStore(sessionmaker(backend.engine))
    scenario = enterprise(store=store, members=1, allocate=100)
    member = scenario.members[0]
    scenario.service.spend(member, scenario.org_id, 5, generation_id="g1")
    assert _available(scenario, member) == 95
    with pytest.raises(InsufficientCredits):
        scenario.service.spend(member, scenario.org_id, 500, generation_id="g2")
    assert _available(scenario, member) == 95


def _engine_like(backend: Backend) -> Engine:
    """A fresh engine on the backend with a one-connection pool: the next call gets the
    connection the last one returned."""
    engine = create_engine(backend.url, pool_size=1, max_overflow=0, pool_timeout=3)
    if backend.name == "sqlite":
        configure_sqlite(engine)
    return engine


#: Where a COMMIT fails: in an event listener of the engine (before the driver is called), in
#: the driver before it sends COMMIT, or in the driver once the database has committed.
COMMIT_POINTS = ["listener", "driver_before", "driver_after"]


def _fail_commit_once(engine: Engine, error: BaseException, at: str) -> None:
    """Make the next COMMIT on ``engine`` raise ``error`` at ``at`` (one of COMMIT_POINTS)."""
    armed = [True]

    def fire() -> None:
        if armed[0]:
            armed[0] = False
            raise error

    if at == "listener":
        event.listen(engine, "commit", lambda _connection: fire())
        return
    dialect = engine.dialect
    original = dialect.do_commit

    def do_commit(dbapi_connection: object) -> None:
        if at == "driver_before":
            fire()
        original(dbapi_connection)
        if at == "driver_after":
            fire()

    dialect.do_commit = do_commit  # type: ignore[method-assign]


@pytest.mark.parametrize("bind", ["engine", "sessionmaker"])
@pytest.mark.parametrize("at", COMMIT_POINTS)
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_commit_is_raised_as_itself_and_its_connection_discarded(
    backend: Backend, interrupt: type[BaseException], at: str, bind: str
) -> None:
    """KeyboardInterrupt or SystemExit while COMMIT is in flight reaches the caller as itself;
    the connection is discarded, never pooled with its transaction open, so the next call on
    the pool neither fails nor commits the interrupted writes: they are there only if the
    database had committed them."""
    engine = _engine_like(backend)
    try:
        store = SqlAlchemyStore(engine if bind == "engine" else sessionmaker(engine))
        scenario = enterprise(store=store, members=1, allocate=100)
        member = scenario.members[0]
        _fail_commit_once(engine, interrupt("interrupted"), at)
        with pytest.raises(interrupt):
            scenario.service.allocate_credits(scenario.admin, scenario.org_id, member, 40)
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        scenario.service.allocate_credits(scenario.admin, scenario.org_id, member, 5)
        assert _available(scenario, member) == (145 if at == "driver_after" else 105)
    finally:
        engine.dispose()


@pytest.mark.parametrize("at", COMMIT_POINTS)
def test_an_error_raised_during_commit_is_an_unknown_outcome(backend: Backend, at: str) -> None:
    """Anything but the database's own answer raised during COMMIT (a host's listener, a
    timeout) is CommitOutcomeUnknown from the store, with the connection discarded; the
    service then finds out whether the call committed and answers with its one effect."""
    engine = _engine_like(backend)
    try:
        scenario = enterprise(store=SqlAlchemyStore(engine), members=1, allocate=100)
        member = scenario.members[0]
        _fail_commit_once(engine, TimeoutError("timed out"), at)
        with scenario.store.unit_of_work() as uow:
            uow.idempotency.add(IdempotencyRecord(scenario.org_id, "k", "t", "", "r", NOW))
            with pytest.raises(CommitOutcomeUnknown):
                uow.commit()
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        with scenario.store.unit_of_work() as uow:
            found = uow.idempotency.get(scenario.org_id, "k")
        assert (found is not None) is (at == "driver_after")
        _fail_commit_once(engine, RuntimeError("a host's listener"), at)
        scenario.service.allocate_credits(scenario.admin, scenario.org_id, member, 40)
        assert _available(scenario, member) == 140
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_only_the_databases_own_refusal_makes_a_failed_commit_certain() -> None:
    """A COMMIT the database answered with a coded error did not commit; a lost connection,
    a client-side error or anything not from the driver leaves the outcome unknown."""
    import sqlite3

    import psycopg
    import pymysql

    def wrapped(orig: Exception, *, invalidated: bool = False) -> sa_exc.DBAPIError:
        return sa_exc.OperationalError("COMMIT", None, orig, connection_invalidated=invalidated)

    refused = [
        wrapped(sqlite3.OperationalError("database is locked")),
        wrapped(psycopg.errors.SerializationFailure("could not serialize access")),
        wrapped(pymysql.err.OperationalError(1213, "Deadlock found")),
    ]
    unknown = [
        wrapped(psycopg.OperationalError("server closed the connection unexpectedly")),
        wrapped(psycopg.errors.AdminShutdown("terminating connection")),
        wrapped(pymysql.err.OperationalError(2013, "Lost connection to server during query")),
        wrapped(pymysql.err.OperationalError(1213, "Deadlock found"), invalidated=True),
        RuntimeError("a host's listener"),
        TimeoutError("timed out"),
    ]
    assert all(refused_by_the_database(error) for error in refused)
    assert not any(refused_by_the_database(error) for error in unknown)


def test_a_call_that_waited_for_sqlites_write_lock_books_no_instant_before_its_period(
    tmp_path: Path,
) -> None:
    """A call reads its instant, then waits in BEGIN IMMEDIATE for SQLite's write lock while
    another writer turns the period over: it books in the new period, at its start at the
    earliest (the store's wait is why the instant can be older than the period it lands in)."""
    store = SqlAlchemyStore.from_url(f"sqlite:///{tmp_path / 'lock.sqlite3'}")
    store.create_schema()
    scenario = enterprise(store=store, members=1, allocate=100)
    boundary = scenario.organisation.current_period.end
    waiting = EnterpriseService(store, clock=FrozenClock(boundary - timedelta(seconds=1)))
    booked: list[Transfer] = []
    try:
        with store.engine.connect() as host:
            host.begin()  # BEGIN IMMEDIATE: this connection holds the write lock
            caller = threading.Thread(
                target=lambda: booked.append(waiting.top_up("admin", scenario.org_id, 5))
            )
            caller.start()
            time.sleep(0.3)
            assert caller.is_alive(), "the call should be waiting for the write lock"
            later = FrozenClock(boundary + timedelta(minutes=1))
            turner = EnterpriseService(SqlAlchemyStore.joining(host), clock=later)
            assert turner.close_due_periods() == [scenario.org_id]
            host.commit()
        caller.join(timeout=30)
        assert [(t.period_index, t.created_at >= boundary) for t in booked] == [(1, True)]
    finally:
        store.engine.dispose()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "READ COMMITTED"),
        ({"isolation_level": "SERIALIZABLE"}, "SERIALIZABLE"),
        ({"execution_options": {"isolation_level": "SERIALIZABLE"}}, "SERIALIZABLE"),
    ],
    ids=["server_default", "create_engine", "execution_options"],
)
def test_mariadb_units_of_work_run_at_read_committed_unless_the_engine_chose(
    server_backend: Backend, options: dict[str, object], expected: str
) -> None:
    """On MariaDB and MySQL the store's transactions run at READ COMMITTED, set on each
    connection once (no statement per unit of work), unless the engine chose a level."""
    if server_backend.name != "mysql":
        pytest.skip("MariaDB and MySQL only")
    engine = create_engine(server_backend.url, pool_size=2, max_overflow=0, **options)
    statements: list[str] = []
    try:
        store = SqlAlchemyStore(engine)
        with store.unit_of_work() as uow:
            uow.organisations.get("none")
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        for _ in range(3):
            with store.unit_of_work() as uow:
                uow.organisations.get("none")
        with engine.connect() as connection:
            assert connection.get_isolation_level() == expected
        assert len(statements) == 3  # the three reads, nothing about isolation
    finally:
        engine.dispose()


def test_from_url_gives_mariadb_engines_read_committed_per_connection(
    server_backend: Backend,
) -> None:
    """from_url creates MariaDB and MySQL engines at READ COMMITTED (SQLAlchemy sets it when a
    connection opens), and keeps a level the caller passes."""
    if server_backend.name != "mysql":
        pytest.skip("MariaDB and MySQL only")
    chosen: dict[str, object] = {"isolation_level": "SERIALIZABLE"}
    for options, expected in (({}, "READ COMMITTED"), (chosen, "SERIALIZABLE")):
        store = SqlAlchemyStore.from_url(server_backend.url, **options)
        try:
            with store.engine.connect() as connection:
                assert connection.get_isolation_level() == expected
        finally:
            store.engine.dispose()
