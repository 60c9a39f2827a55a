"""Spends: the library's ``EnterpriseService.spend`` against hand-written driver baselines.

Each baseline does, inside the timer, the work a careful host would hand-write for the same
spend, and nothing less: it reads the clock, makes the transfer's and the event's time-ordered
ids, serialises the event's payload, and in one transaction runs the member row's guarded
``UPDATE`` (available balance, account open, period not already sealed, the member's monthly
cap; the spent and this period's totals kept on the row, as the library's statement keeps
them), the ``INSERT`` of the
transfer, and the ``INSERT`` of the ``CreditsSpent`` event the library stores in its outbox.
It runs with the library's settings: on SQLite WAL, ``synchronous=FULL``, ``foreign_keys=ON``
and ``BEGIN IMMEDIATE``; on MariaDB READ COMMITTED; on PostgreSQL the server's default, READ
COMMITTED, as the library's engine has it.  The statements are the library's own (see
``adapters/sqlalchemy/postings.py``, ``spend_statements``), written out as SQL text.

The baselines:

* ``sqlite3``, ``psycopg`` and ``PyMySQL``: the three statements in a transaction, one round
  trip each, plus the transaction's own.
* ``psycopg, one statement`` (PostgreSQL only): the same three writes as one statement whose
  data-modifying CTEs debit the member, insert the transfer and insert the event, run in
  autocommit: one round trip per spend, the floor for a spend over a network.

Alongside the time, each case's statements and round trips per spend are counted in a pass of
their own: statements by SQLAlchemy's cursor events (the library) or by the baseline itself,
round trips by :class:`~armox_bench.roundtrips.RoundTripProxy` between driver and server.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from armox_bench.harness import (
    Options,
    Row,
    Setup,
    Stat,
    benchmark,
    interleaved,
    ratios,
)
from armox_bench.roundtrips import RoundTripProxy, Tally, _is_control
from armox_bench.scratch import Target, backends, scratch
from armox_enterprise import (
    EnterpriseService,
    MemoryStore,
    SystemClock,
    Transfer,
    TransferKind,
)
from armox_enterprise.domain.ledger import USAGE, member_account
from armox_enterprise.domain.values import new_id

__all__ = ["TimeOrderedIds"]

_ADMIN = "admin"
#: What each member is funded with: enough for any run.
_FUNDS = 10**12
#: The memory store's target: spends per second on one core through the service.
MEMORY_SPEND_TARGET = 50_000
#: Spends made before a counting window opens (the service's first spend takes the full path,
#: psycopg prepares a statement on its fifth use) and spends counted in it.
_COUNT_WARM_UP = 12
_COUNTED = 40


# ---------------------------------------------------------------------------- ids and rows


class TimeOrderedIds:
    """Time-ordered ids (UUID version 7) as a host would make them for its own rows.

    Ids of one instance sort in the order they were made: within a millisecond, the random
    part of the previous id counts up.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (0, 0)

    def make(self, now: datetime) -> str:
        """A new id for instant ``now``."""
        millis = int(now.timestamp() * 1000)
        random_bits = int.from_bytes(os.urandom(10), "big") >> 6  # 74 bits
        with self._lock:
            last_millis, last_bits = self._last
            if millis <= last_millis:
                millis, random_bits = last_millis, last_bits + 1
            self._last = (millis, random_bits)
        value = (
            (millis << 80)
            | (0x7 << 76)
            | ((random_bits >> 62) & 0xFFF) << 64
            | (0b10 << 62)
            | (random_bits & ((1 << 62) - 1))
        )
        return str(uuid.UUID(int=value))


def _debit(mark: Callable[[str], str], false: str) -> str:
    """The member row's guarded UPDATE, as the library's spend statement writes it: the
    member's cap among its guards (what the member used this period, spends and other kinds
    less refunds, counted as zero below zero, plus what they hold, within ``spend_cap``)."""
    a, p = mark("a"), mark("p")
    used = (
        f"(CASE WHEN spend_period = {p} THEN spend_total ELSE 0 END "
        f"+ CASE WHEN figures_period = {p} THEN figures_used ELSE 0 END)"
    )
    return (
        "UPDATE armox_accounts SET debits_posted = debits_posted + {a}, spent = spent + {a}, "
        "spend_total = CASE WHEN spend_period = {p} THEN spend_total + {a} ELSE {a} END, "
        "spend_period = {p}, spend_at = {t} "
        "WHERE organisation_id = {o} AND code = {c} "
        "AND credits_posted - debits_posted - debits_pending >= {a} "
        "AND closed = {false} AND spend_period <= {p} "
        "AND (spend_cap IS NULL OR CASE WHEN {used} < 0 THEN 0 ELSE {used} END "
        "+ debits_pending <= spend_cap - {a})"
    ).format(a=a, p=p, t=mark("t"), o=mark("o"), c=mark("c"), false=false, used=used)


_TRANSFER_COLUMNS = (
    "id, organisation_id, kind, debit_account, credit_account, amount, period_index, actor, "
    "created_at, idempotency_key, reference, feature, model"
)
_EVENT_COLUMNS = "id, organisation_id, name, actor, occurred_at, payload, published_at"


def _transfer_insert(mark: Callable[[str], str]) -> str:
    m = mark
    return (
        f"INSERT INTO armox_transfers ({_TRANSFER_COLUMNS}) VALUES ({m('i')}, {m('o')}, "
        f"'spend', {m('c')}, 'usage', {m('a')}, {m('p')}, {m('u')}, {m('t')}, {m('k')}, "
        f"{m('k')}, NULL, NULL)"
    )


def _event_insert(mark: Callable[[str], str]) -> str:
    m = mark
    return (
        f"INSERT INTO armox_events ({_EVENT_COLUMNS}) VALUES ({m('e')}, {m('o')}, "
        f"'CreditsSpent', {m('u')}, {m('t')}, {m('j')}, NULL)"
    )


def _one_statement() -> str:
    """The whole spend as one PostgreSQL statement: each write feeds the next, so nothing is
    inserted when the guarded UPDATE matches no row, and the count says whether it did."""
    m: Callable[[str], str] = lambda name: f"%({name})s"  # noqa: E731
    debit = _debit(m, "false")
    return (
        f"WITH debit AS ({debit} RETURNING 1), "
        f"transfer AS (INSERT INTO armox_transfers ({_TRANSFER_COLUMNS}) "
        f"SELECT {m('i')}, {m('o')}, 'spend', {m('c')}, 'usage', {m('a')}, {m('p')}, "
        f"{m('u')}, {m('t')}, {m('k')}, {m('k')}, NULL, NULL FROM debit RETURNING 1), "
        f"event AS (INSERT INTO armox_events ({_EVENT_COLUMNS}) "
        f"SELECT {m('e')}, {m('o')}, 'CreditsSpent', {m('u')}, {m('t')}, {m('j')}, NULL "
        "FROM transfer RETURNING 1) "
        "SELECT count(*) FROM event"
    )


@dataclass
class Plan:
    """What a block of spends spends: the organisation, period, members and a key prefix."""

    org_id: str
    period: int
    members: tuple[str, ...]

    def spends(self, count: int, prefix: str) -> Iterator[tuple[str, str]]:
        """``count`` (member, generation id) pairs, round-robin over the members."""
        width = len(self.members)
        for i in range(count):
            yield self.members[i % width], f"{prefix}-{i}"


class Refused(RuntimeError):
    """A baseline's guarded UPDATE matched no row (it never should in a benchmark)."""


# ---------------------------------------------------------------------------- baselines


class Baseline:
    """A hand-written spend on one driver connection.

    Attributes:
        name: the case's name in the report.
    """

    name = "baseline"
    #: The driver's connection.
    connection: Any

    def __init__(self, target: Target, plan: Plan) -> None:
        self.target = target
        self.plan = plan
        self.ids = TimeOrderedIds()

    def params(self, user: str, key: str) -> dict[str, Any]:
        """Everything one spend binds: the clock read, both ids and the event's payload."""
        now = datetime.now(timezone.utc)
        return {
            "a": 1,
            "p": self.plan.period,
            "t": now.replace(tzinfo=None),
            "o": self.plan.org_id,
            "c": "member:" + user,
            "u": user,
            "k": key,
            "i": self.ids.make(now),
            "e": self.ids.make(now),
            "j": json.dumps({"amount": 1, "reference": key, "user_id": user}, sort_keys=True),
        }

    def spend(self, user: str, key: str) -> None:
        """Make one one-credit spend."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError


class SqliteBaseline(Baseline):
    """``sqlite3``: BEGIN IMMEDIATE, the three statements, COMMIT."""

    name = "sqlite3"

    def __init__(self, target: Target, plan: Plan) -> None:
        super().__init__(target, plan)
        assert target.path is not None
        self.connection = sqlite3.connect(target.path, isolation_level=None)
        for pragma in (
            "foreign_keys = ON",
            "busy_timeout = 60000",
            "journal_mode = WAL",
            "synchronous = FULL",
        ):
            self.connection.execute(f"PRAGMA {pragma}")
        mark: Callable[[str], str] = lambda name: f":{name}"  # noqa: E731
        self.debit = _debit(mark, "0")
        self.transfer = _transfer_insert(mark)
        self.event = _event_insert(mark)
        self.cursor = self.connection.cursor()

    def spend(self, user: str, key: str) -> None:
        """BEGIN IMMEDIATE; UPDATE; INSERT; INSERT; COMMIT (ROLLBACK when refused)."""
        params = self.params(user, key)
        params["t"] = f"{params['t']:%Y-%m-%d %H:%M:%S.%f}"  # as SQLAlchemy stores it
        cursor = self.cursor
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.execute(self.debit, params)
            if cursor.rowcount != 1:
                raise Refused(key)
            cursor.execute(self.transfer, params)
            cursor.execute(self.event, params)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class PsycopgBaseline(Baseline):
    """``psycopg``: the three statements in a transaction (psycopg sends BEGIN itself)."""

    name = "psycopg"

    def __init__(self, target: Target, plan: Plan) -> None:
        super().__init__(target, plan)
        import psycopg

        self.connection = psycopg.connect(**target.driver_kwargs())
        mark: Callable[[str], str] = lambda name: f"%({name})s"  # noqa: E731
        self.debit = _debit(mark, "false")
        self.transfer = _transfer_insert(mark)
        self.event = _event_insert(mark)
        self.cursor = self.connection.cursor()

    def spend(self, user: str, key: str) -> None:
        """(BEGIN;) UPDATE; INSERT; INSERT; COMMIT (ROLLBACK when refused)."""
        params = self.params(user, key)
        cursor = self.cursor
        try:
            cursor.execute(self.debit, params)
            if cursor.rowcount != 1:
                raise Refused(key)
            cursor.execute(self.transfer, params)
            cursor.execute(self.event, params)
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class PsycopgOneStatement(Baseline):
    """``psycopg, one statement``: the spend as one statement of data-modifying CTEs, in
    autocommit (the statement is its own transaction)."""

    name = "psycopg, one statement"

    def __init__(self, target: Target, plan: Plan) -> None:
        super().__init__(target, plan)
        import psycopg

        self.connection = psycopg.connect(**target.driver_kwargs(), autocommit=True)
        self.statement = _one_statement()
        self.cursor = self.connection.cursor()

    def spend(self, user: str, key: str) -> None:
        """The one statement; refused when it wrote no event."""
        cursor = self.cursor
        cursor.execute(self.statement, self.params(user, key))
        row = cursor.fetchone()
        if row is None or row[0] != 1:
            raise Refused(key)

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class PymysqlBaseline(Baseline):
    """``PyMySQL``: the three statements in a transaction at READ COMMITTED."""

    name = "PyMySQL"

    def __init__(self, target: Target, plan: Plan) -> None:
        super().__init__(target, plan)
        import pymysql

        self.connection = pymysql.connect(**target.driver_kwargs(), autocommit=False)
        with self.connection.cursor() as cursor:
            # Once per connection, as the library's engine does.
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        mark: Callable[[str], str] = lambda name: f"%({name})s"  # noqa: E731
        self.debit = _debit(mark, "false")
        self.transfer = _transfer_insert(mark)
        self.event = _event_insert(mark)
        self.cursor = self.connection.cursor()

    def spend(self, user: str, key: str) -> None:
        """UPDATE; INSERT; INSERT; COMMIT (ROLLBACK when refused)."""
        params = self.params(user, key)
        cursor = self.cursor
        try:
            if cursor.execute(self.debit, params) != 1:
                raise Refused(key)
            cursor.execute(self.transfer, params)
            cursor.execute(self.event, params)
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


BASELINES: dict[str, tuple[type[Baseline], ...]] = {
    "sqlite": (SqliteBaseline,),
    "postgresql": (PsycopgBaseline, PsycopgOneStatement),
    "mariadb": (PymysqlBaseline,),
}


# ---------------------------------------------------------------------------- the library


@dataclass
class Library:
    """The library's service on a SQL store, on its own engine."""

    service: EnterpriseService
    engine: Any
    plan: Plan

    def spend(self, user: str, key: str) -> None:
        """One one-credit spend through the public service API."""
        self.service.spend(user, self.plan.org_id, 1, generation_id=key)


def library_on(target: Target, plan: Plan | None = None, members: int = 4) -> Library:
    """A service on ``target``: with ``plan``, on the organisation already there; without,
    on new tables with an organisation whose ``members`` members are funded."""
    from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore

    store = SqlAlchemyStore.from_url(target.url)
    service = EnterpriseService(store)
    if plan is None:
        store.create_schema()
        org = service.create_organisation(
            name="Bench Corp", admin_user_id=_ADMIN, admin_email="admin@bench.example"
        )
        names = tuple(f"member-{i}" for i in range(1, members + 1))
        service.top_up(_ADMIN, org.id, members * _FUNDS)
        for user in names:
            service.invite(_ADMIN, org.id, f"{user}@bench.example")
            service.enrol(user, f"{user}@bench.example", email_verified=True)
            service.allocate_credits(_ADMIN, org.id, user, _FUNDS)
        plan = Plan(org.id, org.current_period_index, names)
    return Library(service, store.engine, plan)


@dataclass(frozen=True)
class Counts:
    """Per spend: data statements, BEGIN/COMMIT/ROLLBACK statements, and round trips
    (``None`` on SQLite, which has no network)."""

    statements: float
    control: float
    round_trips: float | None


class _SqliteTrace:
    """Counts what a ``sqlite3`` connection executes (its trace callback)."""

    def __init__(self) -> None:
        self.tally = Tally()
        self._last = ""

    def __call__(self, statement: str) -> None:
        # A trigger's program is reported again with its statement's text: count it once.
        if statement == self._last:
            return
        self._last = statement
        if _is_control(statement.encode()):
            self.tally.control += 1
        else:
            self.tally.statements += 1


#: Opens a case for counting on a target: returns its spend and how to close it.
Opener = Callable[
    [Target, "_SqliteTrace | None"], tuple[Callable[[str, str], None], Callable[[], None]]
]


def _open_library(plan: Plan) -> Opener:
    def open_case(
        target: Target, trace: _SqliteTrace | None
    ) -> tuple[Callable[[str, str], None], Callable[[], None]]:
        from sqlalchemy import event

        library = library_on(target, plan)
        if trace is not None:

            def traced(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.set_trace_callback(trace)

            event.listen(library.engine, "connect", traced)
        return library.spend, library.engine.dispose

    return open_case


def _open_baseline(kind: type[Baseline], plan: Plan) -> Opener:
    def open_case(
        target: Target, trace: _SqliteTrace | None
    ) -> tuple[Callable[[str, str], None], Callable[[], None]]:
        baseline = kind(target, plan)
        if trace is not None:
            baseline.connection.set_trace_callback(trace)
        return baseline.spend, baseline.close

    return open_case


def count_per_spend(target: Target, plan: Plan, name: str, open_case: Opener) -> Counts:
    """A case's statements and round trips per spend: on a server, through a proxy of its own
    (on the wire); on SQLite, by the connection's trace callback."""
    proxy = None
    trace = None
    if target.backend == "sqlite":
        trace = _SqliteTrace()
        reached = target
    else:
        proxy = RoundTripProxy(*target.address, protocol=target.backend)
        reached = target.through(proxy.port)

    def tally() -> Tally:
        if proxy is not None:
            return proxy.tally()
        assert trace is not None
        found = trace.tally
        return Tally(0, found.statements, found.control)

    with proxy or contextlib.nullcontext():
        spend, close = open_case(reached, trace)
        try:
            for user, key in plan.spends(_COUNT_WARM_UP, f"count-warm-{name}"):
                spend(user, key)
            before = tally()
            for user, key in plan.spends(_COUNTED, f"count-{name}"):
                spend(user, key)
            counted = tally() - before
        finally:
            close()
    return Counts(
        counted.statements / _COUNTED,
        counted.control / _COUNTED,
        None if proxy is None else counted.turns / _COUNTED,
    )


# ---------------------------------------------------------------------------- the benchmark


def _spend_rows(
    backend: str,
    names: list[str],
    seconds: dict[str, list[float]],
    count: int,
    counts: dict[str, Counts],
) -> list[Row]:
    library = seconds["library"]
    rows: list[Row] = []
    for name in names:
        times = seconds[name]
        row: Row = {
            "case": f"{backend}: {name}",
            "spends/s": Stat.of(count / s for s in times),
            "us/spend": Stat.of((s / count * 1e6 for s in times), digits=0),
            # Per round: the library's spends/s over this case's (its time over the library's).
            "library/this": None if name == "library" else Stat.of(ratios(times, library), 2),
            "statements": counts[name].statements,
            "BEGIN/COMMIT": counts[name].control,
            "round trips": counts[name].round_trips,
        }
        rows.append(row)
    return rows


@benchmark(
    "spend",
    "one-credit spends through the service against hand-written driver baselines doing the "
    "same work (SQLite, PostgreSQL, MariaDB), paired in shuffled rounds; statements and "
    "round trips per spend",
)
def sql_spend(options: Options) -> list[Row]:
    """Per backend: the library and its baselines in ``--rounds`` shuffled rounds of
    ``--spends`` spends each, on one database, then a counting pass per case."""
    rows: list[Row] = []
    count: int = options.spends
    for backend in backends(options, ("sqlite", "postgresql", "mariadb")):
        with scratch(options, backend, "spend") as target:
            library = library_on(target, members=options.members)
            plan = library.plan
            baselines = [kind(target, plan) for kind in BASELINES[backend]]
            try:
                cases: dict[str, Setup] = {"library": _fresh(library.spend, plan, count, "lib")}
                for baseline in baselines:
                    cases[baseline.name] = _fresh(baseline.spend, plan, count, baseline.name)
                seconds = interleaved(cases, options.rounds, random.Random(options.seed))
            finally:
                for baseline in baselines:
                    baseline.close()
            counts = {"library": count_per_spend(target, plan, "library", _open_library(plan))}
            for kind in BASELINES[backend]:
                counts[kind.name] = count_per_spend(
                    target, plan, kind.name, _open_baseline(kind, plan)
                )
            library.engine.dispose()
            rows.extend(_spend_rows(backend, list(cases), seconds, count, counts))
    return rows


def _fresh(spend: Callable[[str, str], None], plan: Plan, count: int, name: str) -> Setup:
    """A case of ``count`` spends whose every block uses generation ids never used before."""
    blocks = [0]

    def setup() -> Callable[[], None]:
        blocks[0] += 1
        pairs = list(plan.spends(count, f"{name}-{blocks[0]}"))

        def work() -> None:
            for user, key in pairs:
                spend(user, key)

        return work

    return setup


# ---------------------------------------------------------------------------- concurrency


@benchmark(
    "concurrent-spend",
    "spends/s through the service from 1, 4 and 8 threads, one member each "
    "(PostgreSQL, MariaDB), paired in shuffled rounds",
)
def concurrent_spend(options: Options) -> list[Row]:
    """Per server: each thread spends ``--spends`` times from its own member; the rate is
    every thread's spends over the block's wall time."""
    rows: list[Row] = []
    threads_each = (1, 4, 8)
    for backend in backends(options, ("postgresql", "mariadb")):
        with scratch(options, backend, "concurrent") as target:
            library = library_on(target, members=max(threads_each))
            try:
                cases = {
                    f"{n} thread{'s' if n > 1 else ''}": _threads(library, n, options.spends)
                    for n in threads_each
                }
                seconds = interleaved(cases, options.rounds, random.Random(options.seed))
            finally:
                library.engine.dispose()
        one = seconds["1 thread"]
        for (name, times), n in zip(seconds.items(), threads_each, strict=True):
            rates = [n * options.spends / s for s in times]
            rows.append(
                {
                    "case": f"{backend}: {name}",
                    "spends/s": Stat.of(rates),
                    "vs 1 thread": Stat.of(
                        (r * s1 / options.spends for r, s1 in zip(rates, one, strict=True)), 2
                    ),
                }
            )
    return rows


def _threads(library: Library, threads: int, count: int) -> Setup:
    """A case: ``threads`` threads, each making ``count`` spends from a member of its own."""
    blocks = [0]

    def setup() -> Callable[[], None]:
        blocks[0] += 1
        block = blocks[0]
        members = library.plan.members[:threads]
        start = threading.Barrier(threads + 1)
        errors: list[BaseException] = []

        def worker(user: str) -> None:
            start.wait()
            try:
                for i in range(count):
                    library.spend(user, f"t{threads}-{block}-{user}-{i}")
            except BaseException as exc:  # reported by the timed work below
                errors.append(exc)

        pool = [threading.Thread(target=worker, args=(user,)) for user in members]
        for thread in pool:
            thread.start()

        def work() -> None:
            start.wait()
            for thread in pool:
                thread.join()
            if errors:
                raise errors[0]

        return work

    return setup


# ---------------------------------------------------------------------------- memory store


@dataclass
class MemoryFixture:
    """An organisation on a fresh :class:`MemoryStore` whose members hold enough credits."""

    store: MemoryStore
    service: EnterpriseService
    org_id: str
    members: tuple[str, ...]


def memory_fixture(members: int) -> MemoryFixture:
    """One organisation on a new memory store with ``members`` funded members (system clock)."""
    store = MemoryStore()
    service = EnterpriseService(store, clock=SystemClock())
    org = service.create_organisation(
        name="Bench Corp",
        admin_user_id=_ADMIN,
        admin_email="admin@bench.example",
        monthly_allowance=0,
    )
    names = tuple(f"member-{i}" for i in range(1, members + 1))
    service.top_up(_ADMIN, org.id, members * _FUNDS)
    for user in names:
        service.invite(_ADMIN, org.id, f"{user}@bench.example")
        service.enrol(user, f"{user}@bench.example", email_verified=True)
        service.allocate_credits(_ADMIN, org.id, user, _FUNDS)
    # The first spend of a service takes the full path (it learns the period's end).
    service.spend(names[0], org.id, 1, generation_id="warm-up")
    return MemoryFixture(store, service, org.id, names)


def _memory_service(members: int, count: int) -> Setup:
    def setup() -> Callable[[], None]:
        fx = memory_fixture(members)
        spend, org_id = fx.service.spend, fx.org_id
        plan = [(fx.members[i % members], f"gen-{i}") for i in range(count)]

        def work() -> None:
            for user, key in plan:
                spend(user, org_id, 1, generation_id=key)

        return work

    return setup


def _memory_port(members: int, count: int) -> Setup:
    """The floor: per spend, read the clock, make the same transfer (its id included) and
    post it in a unit of work of its own.  No validation, no event, no outbox."""

    def setup() -> Callable[[], None]:
        fx = memory_fixture(members)
        store, org_id = fx.store, fx.org_id
        now = SystemClock().now
        plan = [(member_account(fx.members[i % members]), f"gen-{i}") for i in range(count)]

        def work() -> None:
            for account, key in plan:
                at = now()
                transfer = Transfer(
                    id=new_id(at),
                    organisation_id=org_id,
                    kind=TransferKind.SPEND,
                    debit_account=account,
                    credit_account=USAGE,
                    amount=1,
                    period_index=0,
                    actor=account,
                    created_at=at,
                    idempotency_key=key,
                    reference=key,
                )
                with store.unit_of_work() as uow:
                    uow.ledger.post(transfer)
                    uow.commit()

        return work

    return setup


@benchmark(
    "memory-spend",
    "spends/s through EnterpriseService.spend on a MemoryStore, one thread, against the raw "
    f"store port (target: {MEMORY_SPEND_TARGET:,}/s)",
)
def memory_spend(options: Options) -> list[Row]:
    """The service and the port in ``--rounds`` shuffled rounds of ``--memory-spends`` each,
    each block on a fresh store."""
    if "memory" not in options.only:
        return []
    count: int = options.memory_spends
    cases = {
        "service.spend": _memory_service(options.members, count),
        "port: ledger.post + commit": _memory_port(options.members, count),
    }
    cpu: dict[str, list[float]] = {}
    seconds = interleaved(cases, options.rounds, random.Random(options.seed), cpu=cpu)
    service = seconds["service.spend"]
    rows: list[Row] = []
    for name, times in seconds.items():
        rates = Stat.of(count / s for s in times)
        # Per CPU second of this process: what one core does when it is not shared.
        per_cpu = Stat.of(count / s for s in cpu[name])
        mine = times is service
        rows.append(
            {
                "case": f"memory: {name}",
                "spends/s": rates,
                "spends/CPU s": per_cpu,
                "us/spend": Stat.of((s / count * 1e6 for s in times), digits=1),
                "service/this": None if mine else Stat.of(ratios(times, service), 2),
                "meets target (CPU)": per_cpu.median >= MEMORY_SPEND_TARGET if mine else None,
            }
        )
    return rows
