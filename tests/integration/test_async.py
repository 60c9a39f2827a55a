"""AsyncEnterpriseService on the async drivers: aiosqlite, asyncpg (PostgreSQL), aiomysql
(MariaDB/MySQL), in both modes: transactions of its own, and a host's ``AsyncSession``.

Each organisation is set up with the synchronous service on the backend's engine (the same
tables); the calls under test go through the async service on an async engine of the same
database, and the figures are read back both ways.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from sqlalchemy import event, make_url, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from armox_enterprise import (
    AsyncEnterpriseService,
    Event,
    InsufficientCredits,
    PermissionDenied,
    StorageError,
    TransferKind,
    TransientStorageError,
    watch_replays,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore, configure_sqlite, make_tables
from armox_enterprise.adapters.sqlalchemy import tables as default_tables
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

_T = TypeVar("_T")

ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
}
DEBIT = f"UPDATE {default_tables.accounts.name}"
#: What the bridge does is the same on every backend: these tests run on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def async_engine(backend: Backend, **options: Any) -> AsyncEngine:
    """An async engine on the backend's database (PostgreSQL: the run's schema)."""
    url = make_url(backend.url).set(drivername=ASYNC_DRIVERS[backend.name])
    if backend.name == "postgresql":
        # asyncpg takes the run's search path as a server setting, not a libpq option.
        url = url.difference_update_query(["options"])
        options.setdefault("connect_args", {"server_settings": {"search_path": backend.namespace}})
    engine = create_async_engine(url, **options)
    if backend.name == "sqlite":
        configure_sqlite(engine.sync_engine)
    return engine


def run(backend: Backend, host: Callable[[AsyncEngine], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``host`` on a fresh async engine of the backend, disposed of at the end."""

    async def main() -> _T:
        engine = async_engine(backend)
        try:
            return await host(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def acme(backend: Backend, *, allocate: int = 100) -> Scenario:
    """Acme with one member holding ``allocate`` credits, set up synchronously."""
    return enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=allocate)


def remaining(scenario: Scenario) -> int:
    """The member's remaining credits, read by the synchronous service."""
    credits = scenario.service.profile(scenario.members[0]).credits
    assert credits is not None
    return credits.remaining


def transient_error(engine: AsyncEngine) -> Exception:
    """The error the engine's driver raises for a deadlock (SQLite: a locked database)."""
    driver = engine.dialect.driver
    if driver == "aiosqlite":
        return sqlite3.OperationalError("database is locked")
    if driver == "asyncpg":
        import asyncpg

        orig = asyncpg.exceptions.DeadlockDetectedError("deadlock detected (injected)")
        error: Any = engine.dialect.loaded_dbapi.OperationalError(str(orig), orig)
        error.sqlstate = error.pgcode = orig.sqlstate
        return error  # type: ignore[no-any-return]
    import pymysql

    return pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")


def fail_once(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, start: str) -> list[str]:
    """Make the first statement that starts with ``start`` fail as the driver would, once;
    return the list the failed statement is put in."""
    dialect = engine.sync_engine.dialect
    original = dialect.do_execute
    failed: list[str] = []

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if statement.startswith(start) and not failed:
            failed.append(statement)
            raise transient_error(engine)
        original(cursor, statement, parameters, context)

    monkeypatch.setattr(dialect, "do_execute", do_execute)
    return failed


def count_transactions(engine: AsyncEngine) -> list[object]:
    """The transactions the engine begins from now on, one entry each."""
    begun: list[object] = []
    event.listen(engine.sync_engine, "begin", begun.append)
    return begun


# ---------------------------------------------------------------- the library's transactions


def test_owned_a_spend_and_a_view_commit_on_their_own(backend: Backend) -> None:
    """On an AsyncEngine each call commits by itself; a refusal raises the library's error."""
    scenario = acme(backend)
    member = scenario.members[0]

    async def host(engine: AsyncEngine) -> tuple[int, int]:
        service = AsyncEnterpriseService(engine, clock=scenario.clock)
        transfer = await service.spend(member, scenario.org_id, 30, generation_id="async-1")
        with pytest.raises(InsufficientCredits) as refused:
            await service.spend(member, scenario.org_id, 500, generation_id="async-2")
        assert (refused.value.available, refused.value.requested) == (70, 500)
        with pytest.raises(PermissionDenied):
            await service.dashboard(member, scenario.org_id)
        credits = (await service.profile(member)).credits
        assert credits is not None
        return transfer.amount, credits.remaining

    assert run(backend, host) == (30, 70)
    assert remaining(scenario) == 70


def test_owned_an_async_sessionmaker_works_as_the_engine_does(backend: Backend) -> None:
    """An async_sessionmaker bound to an AsyncEngine: calls commit on their own too."""
    scenario = acme(backend)
    member = scenario.members[0]

    async def host(engine: AsyncEngine) -> int:
        service = AsyncEnterpriseService(async_sessionmaker(engine), clock=scenario.clock)
        await service.spend(member, scenario.org_id, 25, generation_id="maker-1")
        dashboard = await service.dashboard(scenario.admin, scenario.org_id)
        return dashboard.pool.used

    assert run(backend, host) == 25
    assert remaining(scenario) == 75


@pytest.mark.parametrize("operation", ["allocate", "spend"])
def test_owned_a_transient_failure_is_retried(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    """A deadlock in the driver (SQLite: a locked database) runs the call again: it succeeds
    once, and nothing of the failed attempt is left."""
    scenario = acme(backend)
    member = scenario.members[0]

    async def host(engine: AsyncEngine) -> tuple[list[str], int]:
        service = AsyncEnterpriseService(engine, clock=scenario.clock)
        await service.profile(member)  # the engine's first connection, before counting
        failed = fail_once(engine, monkeypatch, DEBIT)
        begun = count_transactions(engine)
        if operation == "allocate":
            transfer = await service.allocate_credits(scenario.admin, scenario.org_id, member, 40)
        else:
            transfer = await service.spend(member, scenario.org_id, 40, generation_id="retry-1")
        assert transfer.amount == 40
        return failed, len(begun)

    failed, transactions = run(backend, host)
    assert len(failed) == 1, "the injected failure must have fired"
    assert transactions >= 2, "the failed attempt must have been retried in a new transaction"
    kind = TransferKind.ALLOCATE if operation == "allocate" else TransferKind.SPEND
    with scenario.store.unit_of_work() as uow:
        moved = [t for t in uow.ledger.transfers(scenario.org_id, kinds=[kind]) if t.amount == 40]
    assert len(moved) == 1
    assert remaining(scenario) == (140 if operation == "allocate" else 60)


def test_owned_coroutines_spending_at_once_never_overdraw(backend: Backend) -> None:
    """Twenty coroutines spend 10 each from 100 credits at once: ten succeed, ten are
    refused with InsufficientCredits, and the balance ends at zero, never below."""
    scenario = acme(backend)
    member = scenario.members[0]

    async def host(engine: AsyncEngine) -> list[object]:
        service = AsyncEnterpriseService(engine, clock=scenario.clock)
        spends = [
            service.spend(member, scenario.org_id, 10, generation_id=f"race-{n}") for n in range(20)
        ]
        return await asyncio.gather(*spends, return_exceptions=True)

    results = run(backend, host)
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    spent = [r for r in results if not isinstance(r, BaseException)]
    assert [r for r in results if isinstance(r, BaseException) and r not in refused] == []
    assert (len(spent), len(refused)) == (10, 10)
    assert remaining(scenario) == 0
    assert scenario.service.reconcile(scenario.org_id) == []


def test_owned_events_reach_handlers_after_commit(backend: Backend) -> None:
    """A subscribed handler sees each committed event on the loop's thread, and can hand it
    to an asyncio queue; a refused spend records nothing."""
    scenario = acme(backend)
    member = scenario.members[0]

    async def host(engine: AsyncEngine) -> list[str]:
        service = AsyncEnterpriseService(engine, clock=scenario.clock)
        queue: asyncio.Queue[Event] = asyncio.Queue()
        loop_thread = threading.get_ident()

        def handler(event: Event) -> None:
            assert threading.get_ident() == loop_thread
            queue.put_nowait(event)

        service.subscribe(handler)
        await service.spend(member, scenario.org_id, 10, generation_id="seen-1")
        with pytest.raises(InsufficientCredits):
            await service.spend(member, scenario.org_id, 1_000, generation_id="seen-2")
        names = []
        while not queue.empty():
            names.append(queue.get_nowait().name)
        return names

    assert run(backend, host) == ["CreditsSpent"]


def test_driver_errors_reach_the_host_as_the_librarys(backend: Backend) -> None:
    """Tables that do not exist: the async driver's error becomes a StorageError."""
    missing = make_tables(prefix="armox_missing_")

    async def host(engine: AsyncEngine) -> None:
        service = AsyncEnterpriseService(engine, tables=missing)
        with pytest.raises(StorageError) as raised:
            await service.profile("bruno")
        assert type(raised.value).__module__ == "armox_enterprise.exceptions"

    run(backend, host)


# ---------------------------------------------------------------- the host's transaction


def test_joined_calls_never_commit_and_the_host_decides(backend: Backend) -> None:
    """Joined to an AsyncSession: a spend is seen inside the host's transaction, the host's
    rollback discards it, and the host's commit keeps it."""
    scenario = acme(backend)
    member = scenario.members[0]

    async def host(engine: AsyncEngine) -> tuple[int, int]:
        async with AsyncSession(engine) as session:
            service = AsyncEnterpriseService.joining(session, clock=scenario.clock)
            await service.spend(member, scenario.org_id, 30, generation_id="joined-1")
            credits = (await service.profile(member)).credits
            assert credits is not None
            inside = credits.remaining
            await session.rollback()
        assert remaining(scenario) == 100, "the library must not have committed"
        async with AsyncSession(engine) as session:
            service = AsyncEnterpriseService.joining(session, clock=scenario.clock)
            await service.spend(member, scenario.org_id, 20, generation_id="joined-2")
            with pytest.raises(InsufficientCredits):
                await service.spend(member, scenario.org_id, 500, generation_id="joined-3")
            await session.commit()
        async with engine.connect() as connection:
            service = AsyncEnterpriseService.joining(connection, clock=scenario.clock)
            credits = (await service.profile(member)).credits
            assert credits is not None
            return inside, credits.remaining

    assert run(backend, host) == (70, 80)
    assert remaining(scenario) == 80


def test_joined_a_transient_failure_reaches_the_host_unretried(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Joined, a deadlock is the host's to handle: TransientStorageError, tried once."""
    scenario = acme(backend)
    member = scenario.members[0]

    async def host(engine: AsyncEngine) -> list[str]:
        async with AsyncSession(engine) as session:
            service = AsyncEnterpriseService.joining(session, clock=scenario.clock)
            await service.profile(member)
            failed = fail_once(engine, monkeypatch, DEBIT)
            with pytest.raises(TransientStorageError):
                await service.allocate_credits(scenario.admin, scenario.org_id, member, 40)
            await session.rollback()
            return failed

    assert len(run(backend, host)) == 1
    assert remaining(scenario) == 100


def test_joined_the_host_rows_and_the_ledger_commit_together(backend: Backend) -> None:
    """The host's own write and the library's spend share one transaction."""
    scenario = acme(backend)
    member = scenario.members[0]
    organisations = default_tables.organisations

    async def host(engine: AsyncEngine) -> None:
        async with AsyncSession(engine) as session:
            service = AsyncEnterpriseService.joining(session, clock=scenario.clock)
            await session.execute(
                organisations.update()
                .where(organisations.c.id == scenario.org_id)
                .values(name="Acme Host")
            )
            await service.spend(member, scenario.org_id, 5, generation_id="together-1")
            await session.rollback()
        async with engine.connect() as connection:
            name = (
                await connection.execute(
                    select(organisations.c.name).where(organisations.c.id == scenario.org_id)
                )
            ).scalar_one()
            assert name == "Acme"

    run(backend, host)
    assert remaining(scenario) == 100


# ---------------------------------------------------------------- what runs where (SQLite)


@SQLITE_ONLY
def test_exports_stream_in_both_modes(backend: Backend) -> None:
    """A CSV export's lines come from an async generator, in either mode."""
    scenario = acme(backend)
    member = scenario.members[0]
    scenario.service.spend(member, scenario.org_id, 10, generation_id="csv-1")

    async def host(engine: AsyncEngine) -> tuple[list[str], list[str]]:
        service = AsyncEnterpriseService(engine, clock=scenario.clock)
        owned = [line async for line in await service.export_usage_csv("admin", scenario.org_id)]
        async with AsyncSession(engine) as session:
            joined_service = AsyncEnterpriseService.joining(session, clock=scenario.clock)
            lines = await joined_service.export_ledger_csv("admin", scenario.org_id)
            first = await anext(lines)
            await lines.aclose()
        return owned, [first]

    owned, joined = run(backend, host)
    assert len(owned) == 2
    assert owned[1].split(",")[3] == "spend"
    assert joined[0].startswith("created_at,")


@SQLITE_ONLY
def test_domain_verification_asks_the_resolver_off_the_loop(backend: Backend) -> None:
    """verify_domain asks the host's resolver in a worker thread, not on the loop's."""
    scenario = acme(backend)
    asked: list[int] = []

    class Resolver:
        def txt_records(self, domain: str) -> list[str]:
            asked.append(threading.get_ident())
            return [claim_record]

    claim_record = ""

    async def host(engine: AsyncEngine) -> bool:
        nonlocal claim_record
        service = AsyncEnterpriseService(engine, clock=scenario.clock, dns=Resolver())
        claim = await service.claim_domain("admin", scenario.org_id, "acme-two.example")
        claim_record = claim.txt_record
        verified = await service.verify_domain("admin", scenario.org_id, "acme-two.example")
        assert threading.get_ident() not in asked
        return verified.is_verified

    assert run(backend, host) is True
    assert len(asked) == 1


@SQLITE_ONLY
def test_a_wrong_bind_or_host_is_refused(backend: Backend) -> None:
    """Synchronous engines and sessions are refused: they would block the loop."""
    with pytest.raises(TypeError):
        AsyncEnterpriseService(backend.engine)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AsyncEnterpriseService(async_sessionmaker())
    with pytest.raises(TypeError):
        AsyncEnterpriseService.joining(backend.engine)  # type: ignore[arg-type]


@SQLITE_ONLY
def test_watch_replays_sees_the_calls_awaited_in_its_block(backend: Backend) -> None:
    """The task's watch sees through the greenlet bridge, in both modes: the second top-up
    under the same key is a replay."""
    scenario = acme(backend)

    async def host(engine: AsyncEngine) -> list[int]:
        owned = AsyncEnterpriseService(engine, clock=scenario.clock)
        counts = []
        for _ in range(2):
            with watch_replays() as watch:
                await owned.top_up(scenario.admin, scenario.org_id, 5, idempotency_key="inv-1")
            counts.append(watch.replays)
        async with AsyncSession(engine) as session:
            joined = AsyncEnterpriseService.joining(session, clock=scenario.clock)
            with watch_replays() as watch:
                await joined.top_up(scenario.admin, scenario.org_id, 5, idempotency_key="inv-1")
            counts.append(watch.replays)
        return counts

    assert run(backend, host) == [0, 1, 1]
