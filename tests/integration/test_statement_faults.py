"""A fault at any statement, at BEGIN or at COMMIT of a use case: all or nothing, and no harm after.

For each use case of a representative set, and each kind of exception (a library error, a
transient driver error, a plain ``RuntimeError``), the use case runs once for every point it
passes: its n-th statement (the dialect's execute), its n-th BEGIN (the ``begin`` event), its
n-th COMMIT before the driver sends it, and its n-th COMMIT after the database committed (the
driver's answer lost to a lost connection or an interrupt).  After each run:

* the database holds either the state before the call or the call's full effect, never a part
  of it, and the full effect only once (one grant per organisation and period);
* a call that reported a failure left nothing, except that a COMMIT whose answer was lost is
  reported as :class:`~armox_enterprise.CommitOutcomeUnknown`, and then either may hold;
* no connection stays checked out of the pool, the next call works, and every ledger
  reconciles.

The engine has a small LIFO pool, so a connection returned with a transaction still open is the
one the next call gets.
"""

from __future__ import annotations

import gc
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from sqlalchemy import Engine, create_engine, delete, event, func, select, text
from sqlalchemy import exc as sa_exc

from armox_enterprise import (
    CommitOutcomeUnknown,
    EnterpriseService,
    SoftLimit,
    StorageError,
    TransientStorageError,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore, configure_sqlite, metadata
from armox_enterprise.adapters.sqlalchemy import tables as default_tables
from armox_enterprise.domain.ledger import reconcile
from armox_enterprise.testing import FrozenClock, Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

KINDS = ["library", "transient", "runtime"]
POINTS = ["statement", "begin", "commit", "after_commit"]
#: Ids (UUIDs, with or without dashes) are random: states are compared without them.
_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
#: Columns whose values are random, or name the attempt that committed (a call's own key).
_VOLATILE_COLUMNS = {"verification_token", "result_ref"}


class InjectedLibraryError(StorageError):
    """A library error the test raises from inside the store."""


class InjectedRuntimeError(RuntimeError):
    """A plain Python error the test raises from inside the store."""


def _driver_error(backend: str, *, lost: bool) -> Exception:
    """A transient error of the backend's driver: a deadlock or lock wait, or a lost connection."""
    if backend == "sqlite":
        return sqlite3.OperationalError("database is locked")
    if backend == "postgresql":
        import psycopg

        if lost:
            return psycopg.OperationalError("server closed the connection unexpectedly")
        return psycopg.errors.SerializationFailure("could not serialize access (injected)")
    import pymysql

    if lost:
        return pymysql.err.OperationalError(2013, "Lost connection to server during query")
    return pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")


class Faults:
    """Raises one exception at the n-th occurrence of a point of the engine's work.

    Statements and BEGIN are seen through the engine's events; COMMIT through the dialect's
    ``do_commit``, either before it runs (nothing committed) or after (committed, answer lost).
    """

    def __init__(self, engine: Engine, backend: str) -> None:
        self.engine = engine
        self.backend = backend
        self.point: str | None = None
        self.at = 0
        self.kind = ""
        self.seen = 0
        self.fired = False
        event.listen(engine, "begin", self._begin)
        dialect = engine.dialect
        original = dialect.do_commit
        # Statements fail where a driver's would: in the dialect's execute, whose errors
        # SQLAlchemy wraps (those of a before_cursor_execute listener it wraps only from 2.1).
        for name in ("do_execute", "do_execute_no_params", "do_executemany"):
            setattr(dialect, name, self._failing(getattr(dialect, name)))

        def do_commit(dbapi_connection: Any) -> None:
            if self._due("commit"):
                raise self._error(wrapped=False)
            original(dbapi_connection)
            if self._due("after_commit"):
                raise self._error(wrapped=False, lost=True)

        dialect.do_commit = do_commit  # type: ignore[method-assign]

    def arm(self, point: str, at: int, kind: str) -> None:
        """Raise a ``kind`` exception at the ``at``-th occurrence of ``point`` from now on."""
        self.point, self.at, self.kind, self.seen, self.fired = point, at, kind, 0, False

    def disarm(self) -> None:
        """Raise nothing any more."""
        self.point = None

    def _due(self, point: str) -> bool:
        if self.point != point or self.fired:
            return False
        self.seen += 1
        if self.seen == self.at:
            self.fired = True
            return True
        return False

    def _error(self, *, wrapped: bool, lost: bool = False) -> Exception:
        if self.kind == "library":
            return InjectedLibraryError(f"injected at {self.point} {self.at}")
        if self.kind == "runtime":
            return InjectedRuntimeError(f"injected at {self.point} {self.at}")
        error = _driver_error(self.backend, lost=lost)
        if wrapped:  # raised from an event SQLAlchemy does not wrap errors of
            return sa_exc.OperationalError("injected", None, error)
        return error

    def _failing(self, execute: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            if self._due("statement"):
                raise self._error(wrapped=False)
            return execute(*args, **kwargs)

        return run

    def _begin(self, _connection: Any) -> None:
        if self._due("begin"):
            raise self._error(wrapped=True)


@attrs.frozen
class Case:
    """A use case: ``prepare`` builds its starting point and returns the call to fault.

    ``prepare(store)`` returns ``(service, organisation id or None, call)``.  A job
    (``job=True``) reports a failing organisation in its log and carries on, so it may return
    with nothing done.
    """

    name: str
    prepare: Callable[[SqlAlchemyStore], tuple[EnterpriseService, str | None, Callable[[], object]]]
    job: bool = False


def _scenario(store: SqlAlchemyStore, **options: Any) -> Scenario:
    return enterprise(store=store, members=2, allowance=1_000, allocate=200, **options)


def _create_organisation(store: SqlAlchemyStore) -> tuple[EnterpriseService, None, Any]:
    service = EnterpriseService(store, clock=FrozenClock())

    def call() -> object:
        return service.create_organisation(
            name="Beta", admin_user_id="beta", admin_email="beta@beta.example", monthly_allowance=7
        )

    return service, None, call


def _allocate(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    return (
        s.service,
        s.org_id,
        lambda: s.service.allocate_credits("admin", s.org_id, "member-1", 50),
    )


def _spend_full(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    fresh = EnterpriseService(store, clock=s.clock)  # remembers no period: the full path
    return fresh, s.org_id, lambda: fresh.spend("member-1", s.org_id, 30, generation_id="g-1")


def _spend_fast(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    return s.service, s.org_id, lambda: s.service.spend("member-1", s.org_id, 30, generation_id="g")


def _reserve(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    return (
        s.service,
        s.org_id,
        lambda: s.service.reserve("member-1", s.org_id, 40, generation_id="h"),
    )


def _capture(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    hold = s.service.reserve("member-1", s.org_id, 40, generation_id="h")
    return s.service, s.org_id, lambda: s.service.capture_hold("member-1", s.org_id, hold.id, 25)


def _approve(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    request = s.service.request_credits("member-1", s.org_id, 100)
    return s.service, s.org_id, lambda: s.service.approve_request("admin", s.org_id, request.id)


def _remove(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    s.service.request_credits("member-2", s.org_id, 100)
    return s.service, s.org_id, lambda: s.service.remove_member("admin", s.org_id, "member-2")


def _provision(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    return (
        s.service,
        s.org_id,
        lambda: s.service.provision_member(
            s.org_id, "hired", "hired@else.example", external_id="ext-hired"
        ),
    )


def _delete(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    s.service.provision_member(s.org_id, "member-2", "member-2@acme.example", external_id="m2")
    s.service.request_credits("member-2", s.org_id, 100)
    return s.service, s.org_id, lambda: s.service.delete_member(s.org_id, "member-2")


def _deactivate(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    s.service.request_credits("member-2", s.org_id, 100)
    return s.service, s.org_id, lambda: s.service.deactivate_member(s.org_id, "member-2")


def _reactivate(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _scenario(store)
    s.service.remove_member("admin", s.org_id, "member-2")
    return s.service, s.org_id, lambda: s.service.reactivate_member(s.org_id, "member-2")


def _spend_on_grace(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    """A spend past the member's 200 credits under a soft limit: the grace loan, the spend,
    the automatic request and their events (after a first attempt without the organisation's
    lock), all or nothing."""
    s = _scenario(store)
    s.service.set_soft_limit("admin", s.org_id, SoftLimit(credits=100))
    return (
        s.service,
        s.org_id,
        lambda: s.service.spend("member-1", s.org_id, 230, generation_id="g"),
    )


def _team_cap(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    """A team's cap: the team's row and every member's account row, all or nothing."""
    s = _scenario(store)
    team = s.service.create_team("admin", s.org_id, "Design")
    for user in ("member-1", "member-2"):
        s.service.assign_team("admin", s.org_id, user, team.id)
    return (
        s.service,
        s.org_id,
        lambda: s.service.set_spend_cap("admin", s.org_id, 50, team_id=team.id),
    )


def _past_boundary(store: SqlAlchemyStore) -> Scenario:
    s = _scenario(store)
    s.service.set_standing_allotment("admin", s.org_id, "member-1", 100)
    s.service.set_standing_allotment("admin", s.org_id, "member-2", 50)
    s.service.spend("member-2", s.org_id, 20, generation_id="early")
    s.clock.advance(timedelta(days=31))
    return s


def _lazy_close(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _past_boundary(store)
    return s.service, s.org_id, lambda: s.service.spend("member-1", s.org_id, 10, generation_id="l")


def _close_due(store: SqlAlchemyStore) -> tuple[EnterpriseService, str, Any]:
    s = _past_boundary(store)
    return s.service, s.org_id, s.service.close_due_periods


CASES = [
    Case("create_organisation", _create_organisation),
    Case("allocate_credits", _allocate),
    Case("spend_full_path", _spend_full),
    Case("spend_fast_path", _spend_fast),
    Case("reserve", _reserve),
    Case("capture_hold", _capture),
    Case("approve_request", _approve),
    Case("spend_on_grace", _spend_on_grace),
    Case("set_team_cap", _team_cap),
    Case("remove_member", _remove),
    Case("provision_member", _provision),
    Case("deactivate_member", _deactivate),
    Case("delete_member", _delete),
    Case("reactivate_member", _reactivate),
    Case("lazy_period_close", _lazy_close),
    Case("close_due_periods", _close_due, job=True),
]


def empty_tables(engine: Engine) -> None:
    """Remove every row of the library's tables (transfers refuse DELETE: recreate, truncate)."""
    transfers = default_tables.transfers
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            transfers.drop(connection)
            transfers.create(connection)
        else:
            connection.execute(text(f"TRUNCATE TABLE {transfers.name}"))
        for table in reversed(metadata.sorted_tables):
            if table is not transfers:
                connection.execute(delete(table))


Rows = dict[str, list[dict[str, Any]]]


def snapshot(engine: Engine) -> Rows:
    """Every row of the library's tables as stored (generated columns left out)."""
    rows: Rows = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if c.computed is None]
            found = connection.execute(select(*columns)).mappings().all()
            rows[table.name] = [dict(row) for row in found]
    return rows


def restore(engine: Engine, rows: Rows) -> None:
    """Empty the tables and put ``rows`` back: the prepared state, ids and all."""
    empty_tables(engine)
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            if rows[table.name]:
                connection.execute(table.insert(), rows[table.name])


def reconcile_all(engine: Engine) -> list[str]:
    """Reconcile every organisation's ledger; return the problems."""
    problems: list[str] = []
    with engine.connect() as connection:
        ids = list(connection.execute(select(default_tables.organisations.c.id)).scalars())
    with SqlAlchemyStore(engine).unit_of_work() as uow:
        for org_id in ids:
            found = reconcile(uow.ledger.accounts(org_id), uow.ledger.transfers(org_id))
            problems.extend(f"{org_id}: {p}" for p in found)
    return problems


def _normalise(value: object) -> object:
    if isinstance(value, str):
        return _ID.sub("<id>", value)
    return value


def state(engine: Engine) -> dict[str, list[str]]:
    """Every row of the library's tables, ids replaced (they are random), rows sorted."""
    found: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in _VOLATILE_COLUMNS]
            rows = connection.execute(select(*columns)).all()
            found[table.name] = sorted(repr(tuple(_normalise(v) for v in row)) for row in rows)
    return found


def grants_per_period(engine: Engine) -> list[tuple[str, int, int]]:
    """Each (organisation, period) that has more than one grant, with the count."""
    transfers = default_tables.transfers
    query = (
        select(transfers.c.organisation_id, transfers.c.period_index, func.count())
        .where(transfers.c.kind == "grant")
        .group_by(transfers.c.organisation_id, transfers.c.period_index)
        .having(func.count() > 1)
    )
    with engine.connect() as connection:
        return [(r[0], r[1], r[2]) for r in connection.execute(query)]


def _difference(got: dict[str, list[str]], want: dict[str, list[str]]) -> str:
    lines = []
    for table, rows in got.items():
        extra = sorted(set(rows) - set(want[table]))
        missing = sorted(set(want[table]) - set(rows))
        if extra or missing or len(rows) != len(want[table]):
            lines.append(
                f"{table}: +{extra[:3]} -{missing[:3]} ({len(rows)} vs {len(want[table])})"
            )
    return "; ".join(lines)


@attrs.frozen
class Rig:
    """The engine the faulted calls use, its fault hooks, and an engine that only observes.

    The observer reads and empties the tables on connections of its own (on SQLite with
    deferred transactions, so reading never waits for a write lock a faulted call left).
    """

    engine: Engine
    faults: Faults
    observer: Engine
    backend: str


@pytest.fixture
def rig(backend: Backend) -> Iterator[Rig]:
    """The fault engine (a two-connection LIFO pool, with the hooks) and an observer."""
    engine = create_engine(
        backend.url, pool_size=2, max_overflow=0, pool_timeout=5, pool_use_lifo=True
    )
    observer = create_engine(backend.url)
    if backend.name == "sqlite":
        configure_sqlite(engine, synchronous="NORMAL")  # durability is not what is tested
        event.listen(engine, "connect", _short_busy_timeout)
        event.listen(observer, "connect", _short_busy_timeout)
    yield Rig(engine, Faults(engine, backend.name), observer, backend.name)
    engine.dispose()
    observer.dispose()


def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    # A lock left behind fails the next run in seconds rather than a minute.
    dbapi_connection.execute("PRAGMA busy_timeout = 3000")


#: What :func:`_run_one` returns when the call never reached the point armed.
NOT_REACHED = "not reached"
State = dict[str, list[str]]


def _outcome(call: Callable[[], object]) -> BaseException | None:
    try:
        call()
    except (Exception, KeyboardInterrupt) as exc:
        # Keep the error, not its frames: they would keep a leaked connection alive.
        link: BaseException | None = exc
        while link is not None:
            link.__traceback__ = None
            link = link.__cause__ or link.__context__
        return exc
    return None


def _expected_error(kind: str, point: str) -> tuple[type[BaseException], ...]:
    """What a call may raise when a ``kind`` fault hits it at ``point`` and is not retried."""
    if point == "after_commit":
        return (CommitOutcomeUnknown,)
    if kind == "library":
        return (InjectedLibraryError, CommitOutcomeUnknown)
    if kind == "runtime":
        return (InjectedRuntimeError, CommitOutcomeUnknown)
    return (TransientStorageError,)


@attrs.frozen
class Prepared:
    """A case made ready once: its rows, the call, and the service's memory of periods.

    Each faulted run puts the rows back and resets the memory, instead of building the
    starting point through the service again: the same state, ids and all, in a fraction of
    the time.
    """

    service: EnterpriseService
    org_id: str | None
    call: Callable[[], object]
    rows: Rows
    before: State
    periods: dict[str, Any]

    def reset(self, rig: Rig) -> None:
        """Put the prepared state back, in the database and in the service."""
        restore(rig.observer, self.rows)
        self.service._runner.periods = dict(self.periods)


def _prepare(rig: Rig, case: Case) -> Prepared:
    empty_tables(rig.observer)
    service, org_id, call = case.prepare(SqlAlchemyStore(rig.engine))
    periods = dict(service._runner.periods)
    return Prepared(service, org_id, call, snapshot(rig.observer), state(rig.observer), periods)


def _run_one(
    rig: Rig, case: Case, prepared: Prepared, fault: tuple[str, str, int], full: State
) -> str | None:
    """Run the prepared call with the ``kind`` fault at the ``at``-th ``point``; return what
    went wrong, if anything, or :data:`NOT_REACHED` when the call never reached that point."""
    kind, point, at = fault
    engine, faults = rig.engine, rig.faults
    try:
        prepared.reset(rig)
        faults.arm(point, at, kind)
        error = _outcome(prepared.call)
        faults.disarm()
        if not faults.fired:
            return NOT_REACHED
        problems = _judge(rig, case, (kind, point), error, (prepared.before, full))
        problems.extend(_afterwards(rig, prepared.service, prepared.org_id))
    finally:
        faults.disarm()
        engine.dispose()  # a connection left in a transaction must not reach the next run
    if not problems:
        return None
    outcome = type(error).__name__ if error else "ok"
    return f"{point} {at} ({outcome}): " + "; ".join(problems)


def _judge(
    rig: Rig,
    case: Case,
    fault: tuple[str, str],
    error: BaseException | None,
    states: tuple[State, State],
) -> list[str]:
    """What is wrong right after the faulted call: leaks, partial or doubled effects."""
    (kind, point), (before, full) = fault, states
    problems: list[str] = []
    leaked = rig.engine.pool.checkedout()  # type: ignore[attr-defined]
    if leaked:
        problems.append(f"{leaked} connection(s) still checked out")
        gc.collect()  # reclaim them, to judge the rest
    after = state(rig.observer)
    if error is None:
        if after != full and not (case.job and after == before):
            problems.append(f"succeeded but not the full effect: {_difference(after, full)}")
    elif not isinstance(error, _expected_error(kind, point)):
        problems.append(f"raised {type(error).__name__}: {error}")
    elif isinstance(error, CommitOutcomeUnknown):
        if after not in (before, full):
            problems.append(f"outcome unknown, and partial: {_difference(after, full)}")
    elif after != before:
        problems.append(f"failed ({type(error).__name__}) but wrote: {_difference(after, before)}")
    doubled = grants_per_period(rig.observer)
    if doubled:
        problems.append(f"more than one grant per period: {doubled}")
    return problems


def _afterwards(rig: Rig, service: EnterpriseService, org_id: str | None) -> list[str]:
    """What is wrong with the next call, the pool and the ledgers after the faulted call."""
    problems: list[str] = []
    try:
        if org_id is None:
            service.create_organisation(
                name="Next", admin_user_id="next", admin_email="next@next.example"
            )
        else:
            service.top_up("admin", org_id, 1)
    except Exception as exc:
        problems.append(f"next call failed: {type(exc).__name__}: {exc}")
    if rig.engine.pool.checkedout() != 0:  # type: ignore[attr-defined]
        problems.append("a connection is still checked out after the next call")
        gc.collect()
    doubled = grants_per_period(rig.observer)
    if doubled:
        problems.append(f"more than one grant per period after the next call: {doubled}")
    problems.extend(reconcile_all(rig.observer))
    return problems


def _points(backend: str, kind: str) -> list[str]:
    # SQLite answers COMMIT in-process: no answer can be lost after it committed.
    if backend == "sqlite" and kind == "transient":
        return ["statement", "begin", "commit"]
    return POINTS


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_fault_anywhere_leaves_all_or_nothing(
    backend: Backend, rig: Rig, case: Case, kind: str
) -> None:
    """A fault at every statement, BEGIN and COMMIT: all or nothing, once; the next call works."""
    prepared = _prepare(rig, case)
    prepared.call()
    full = state(rig.observer)
    problems: list[str] = []
    runs = 0
    for point in _points(backend.name, kind):
        at = 1
        while (
            problem := _run_one(rig, case, prepared, (kind, point, at), full)
        ) is not NOT_REACHED:
            runs += 1
            if problem is not None:
                problems.append(problem)
            at += 1
    empty_tables(rig.observer)
    assert runs > 0
    assert not problems, f"{len(problems)} of {runs} faulted runs went wrong:\n" + "\n".join(
        problems
    )


#: What the hooks see of one fast spend, which runs on the store's short path: PostgreSQL's
#: one statement in autocommit (its own COMMIT); MySQL's and MariaDB's three statements and
#: COMMIT; SQLite's BEGIN IMMEDIATE, three statements and COMMIT. None opens a transaction
#: through SQLAlchemy (the ``begin`` event).
FAST_SPEND = {
    "postgresql": {"statement": 1, "begin": 0, "commit": 0},
    "mysql": {"statement": 3, "begin": 0, "commit": 1},
    "sqlite": {"statement": 4, "begin": 0, "commit": 1},
}


def test_the_hooks_see_statements_begin_and_commit(backend: Backend, rig: Rig) -> None:
    """The hooks see what they fault: every statement and COMMIT of a fast spend."""
    empty_tables(rig.observer)
    service, org_id, _call = _spend_fast(SqlAlchemyStore(rig.engine))
    seen: dict[str, int] = {}
    for point in ("statement", "begin", "commit"):
        rig.faults.arm(point, 10**6, "runtime")
        service.spend("member-1", org_id, 1, generation_id=f"count-{point}")
        seen[point] = rig.faults.seen
    rig.faults.disarm()
    assert seen == FAST_SPEND[backend.name]
    empty_tables(rig.observer)
