"""Benchmarks for armox-enterprise: a small harness with named, selectable benchmarks.

Usage::

    python benchmarks/run.py                      # every available benchmark
    python benchmarks/run.py memory-spend         # one (or several) by name
    python benchmarks/run.py --list               # what there is
    python benchmarks/run.py memory-spend --runs 7 --spends 50000

Each benchmark is a function ``(options) -> list of result rows`` registered under a name in
:data:`REGISTRY`.  The harness prints the rows as a table and writes them, with the machine and
Python they were measured on, to ``benchmarks/results/latest.json``.

Only the standard library is used: :func:`time.perf_counter` for time (best of ``--runs``
runs, each on a fresh store, garbage collector left on as in a real host) and
:mod:`tracemalloc` for memory (in a separate, untimed pass, because tracing slows everything
down).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from armox_enterprise import EnterpriseService, MemoryStore, SystemClock, Transfer, TransferKind
from armox_enterprise.domain.ledger import USAGE, member_account
from armox_enterprise.domain.values import new_id
from armox_enterprise.ports import Clock
from armox_enterprise.testing import FrozenClock

Row = dict[str, Any]
Options = argparse.Namespace

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"

#: Target of the spend path on the in-memory store, one core (spends per second).
SPEND_TARGET = 20_000


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: what it measures, how to run it, and whether it can run here."""

    name: str
    description: str
    run: Callable[[Options], list[Row]]
    unavailable: Callable[[], str | None] = lambda: None


REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    name: str, description: str, *, unavailable: Callable[[], str | None] | None = None
) -> Callable[[Callable[[Options], list[Row]]], Callable[[Options], list[Row]]]:
    """Register the decorated function under ``name``.

    ``unavailable`` returns why the benchmark cannot run in this environment (a missing extra,
    no database URL), or ``None`` when it can; running everything skips unavailable ones.
    """

    def register(func: Callable[[Options], list[Row]]) -> Callable[[Options], list[Row]]:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = Benchmark(name, description, func, unavailable or (lambda: None))
        return func

    return register


# ---------------------------------------------------------------------------- measuring


def best_of(runs: int, setup: Callable[[], Callable[[], None]]) -> float:
    """Return the shortest wall time, in seconds, of ``runs`` runs.

    ``setup`` builds a fresh fixture (untimed) and returns the function to time.
    """
    best = float("inf")
    for _ in range(runs):
        work = setup()
        gc.collect()
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def traced_bytes(setup: Callable[[], Callable[[], None]]) -> tuple[int, int]:
    """Run ``setup()``'s work once under :mod:`tracemalloc`.

    Returns:
        ``(retained, peak)``: bytes still allocated after the work, and the peak above the
        starting point while it ran.
    """
    work = setup()
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        work()
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return after - before, peak - before


def rate_row(case: str, ops: int, seconds: float, **extra: Any) -> Row:
    """A result row for ``ops`` operations done in ``seconds`` (the best run)."""
    return {
        "case": case,
        "ops": ops,
        "best_s": round(seconds, 6),
        "ops_per_s": round(ops / seconds, 1),
        "us_per_op": round(seconds / ops * 1e6, 3),
        **extra,
    }


# ---------------------------------------------------------------------------- fixtures

_START = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
_ADMIN = "admin"


@dataclass
class Fixture:
    """An organisation on a fresh :class:`MemoryStore` whose members hold enough credits."""

    store: MemoryStore
    service: EnterpriseService
    clock: Clock
    org_id: str
    members: tuple[str, ...]


def fixture(options: Options, credits_each: int) -> Fixture:
    """Return one organisation with ``--members`` members holding ``credits_each`` each.

    Members are enrolled by invitation (no DNS needed) and funded by a top-up and an
    allocation, so the spend path starts from a realistic ledger.  The clock is the system
    clock (what a host uses) unless ``--clock frozen`` asks for a :class:`FrozenClock`.
    """
    members: int = options.members
    store = MemoryStore()
    clock: Clock = FrozenClock(_START) if options.clock == "frozen" else SystemClock()
    service = EnterpriseService(store, clock=clock)
    org = service.create_organisation(
        name="Bench Corp",
        admin_user_id=_ADMIN,
        admin_email="admin@bench.example",
        monthly_allowance=0,
    )
    names = tuple(f"member-{i}" for i in range(1, members + 1))
    service.top_up(_ADMIN, org.id, members * credits_each)
    for user in names:
        service.invite(_ADMIN, org.id, f"{user}@bench.example")
        service.enrol(user, f"{user}@bench.example", email_verified=True)
        service.allocate_credits(_ADMIN, org.id, user, credits_each)
    if isinstance(clock, FrozenClock):
        # Ids are made from the clock's instant; move on so spends do not share the setup's.
        clock.advance(timedelta(seconds=1))
    return Fixture(store, service, clock, org.id, names)


def service_spends(fx: Fixture, count: int, prefix: str = "gen") -> Callable[[], None]:
    """Return work that makes ``count`` one-credit spends through the service, round-robin."""
    spend = fx.service.spend
    org_id = fx.org_id
    members = fx.members
    width = len(members)
    plan = [(members[i % width], f"{prefix}-{i}") for i in range(count)]

    def work() -> None:
        for user, generation in plan:
            spend(user, org_id, 1, generation_id=generation)

    return work


def port_spends(fx: Fixture, count: int) -> Callable[[], None]:
    """Return work that posts the same spend transfers straight through the store's port.

    Per spend: read the clock, make the transfer (time-ordered id included), and post it in
    its own unit of work with ``uow.ledger.post`` and ``uow.commit``.  No authorisation, no
    idempotency record, no event: the floor the service is compared with.
    """
    store = fx.store
    now = fx.clock.now
    org_id = fx.org_id
    members = fx.members
    width = len(members)
    plan = [(member_account(members[i % width]), f"gen-{i}") for i in range(count)]

    def work() -> None:
        for account, generation in plan:
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
                idempotency_key=generation,
                reference=generation,
            )
            with store.unit_of_work() as uow:
                uow.ledger.post(transfer)
                uow.commit()

    return work


# ---------------------------------------------------------------------------- benchmarks


@benchmark(
    "memory-spend",
    "spends/s through EnterpriseService.spend on a MemoryStore, against the raw store port",
)
def memory_spend(options: Options) -> list[Row]:
    """Time ``--spends`` unique one-credit spends, single-threaded, best of ``--runs``."""
    count: int = options.spends

    def service_setup() -> Callable[[], None]:
        return service_spends(fixture(options, count), count)

    def port_setup() -> Callable[[], None]:
        return port_spends(fixture(options, count), count)

    service_best = float("inf")
    port_best = float("inf")
    for _ in range(options.runs):  # interleaved, so drift in the machine hits both alike
        service_best = min(service_best, best_of(1, service_setup))
        port_best = min(port_best, best_of(1, port_setup))

    sample = min(count, 5_000)
    service_retained, _ = traced_bytes(lambda: service_spends(fixture(options, sample), sample))
    port_retained, _ = traced_bytes(lambda: port_spends(fixture(options, sample), sample))

    return [
        rate_row(
            "service.spend",
            count,
            service_best,
            x_port_time=round(service_best / port_best, 2),
            overhead_us=round((service_best - port_best) / count * 1e6, 3),
            retained_b_per_op=round(service_retained / sample),
            meets_target=count / service_best >= SPEND_TARGET,
        ),
        rate_row(
            "port: ledger.post + commit",
            count,
            port_best,
            x_port_time=1.0,
            overhead_us=0.0,
            retained_b_per_op=round(port_retained / sample),
            meets_target=None,
        ),
    ]


def _history(options: Options, transfers: int) -> tuple[Fixture, str]:
    """Return a fixture whose first member has made ``transfers`` spends this period."""
    fx = fixture(options, transfers + 1_000)
    user = fx.members[0]
    spend = fx.service.spend
    for i in range(transfers):
        spend(user, fx.org_id, 1, generation_id=f"history-{i}")
    return fx, user


def _views(
    profile: Callable[[str], object], user: str, calls: int
) -> Callable[[], Callable[[], None]]:
    """Return a setup whose work asks for ``user``'s profile view ``calls`` times."""

    def work() -> None:
        for _ in range(calls):
            profile(user)

    return lambda: work


@benchmark(
    "memory-profile",
    "service.profile() for a member with a short and a long history (should be flat)",
)
def memory_profile(options: Options) -> list[Row]:
    """Time ``--calls`` profile views per history size, best of ``--runs``."""
    calls: int = options.calls
    sizes: list[int] = options.history
    rows: list[Row] = []
    baseline: float | None = None
    for size in sizes:
        fx, user = _history(options, size)
        profile = fx.service.profile
        view = profile(user)
        used = None if view.credits is None else view.credits.used
        if used != size:
            raise RuntimeError(f"the history was not built as asked: used {used}, not {size}")
        seconds = best_of(options.runs, _views(profile, user, calls))
        _, peak = traced_bytes(_views(profile, user, 1))
        per_call = seconds / calls
        baseline = per_call if baseline is None else baseline
        rows.append(
            rate_row(
                f"profile, {size:,} transfers",
                calls,
                seconds,
                history=size,
                vs_smallest=round(per_call / baseline, 2),
                peak_kib_per_call=round(peak / 1024, 1),
            )
        )
    return rows


# ---------------------------------------------------------------------------- reporting


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: Sequence[Row]) -> str:
    """Return ``rows`` as a plain-text table (columns in order of first appearance)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(line[i]) for line in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for line in cells:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Describe where the figures were measured."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
    }


def write_results(path: Path, options: Options, results: dict[str, list[Row]]) -> None:
    """Write the run's results and environment to ``path`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "options": {k: v for k, v in vars(options).items() if k not in ("names", "list")},
        "environment": environment(),
        "benchmarks": results,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------- SQL stores


def _sql_unavailable() -> str | None:
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        return "needs the sqlalchemy extra"
    return None


def _pg_url(options: Options) -> str | None:
    url: str | None = options.postgresql_url or os.environ.get("ARMOX_TEST_POSTGRESQL_URL")
    return url


@dataclass
class SqlFixture:
    """An organisation in a fresh schema on one database, ready for spends."""

    name: str
    url: str
    engine: Any
    service: EnterpriseService
    org_id: str
    members: tuple[str, ...]


def sql_fixture(name: str, url: str, members: int, credits_each: int) -> SqlFixture:
    """Create the library's tables anew at ``url`` and fund ``members`` members."""
    from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore

    store = SqlAlchemyStore.from_url(url)
    store.drop_schema()
    store.create_schema()
    service = EnterpriseService(store)
    org = service.create_organisation(
        name="Bench Corp", admin_user_id=_ADMIN, admin_email="admin@bench.example"
    )
    names = tuple(f"member-{i}" for i in range(1, members + 1))
    service.top_up(_ADMIN, org.id, members * credits_each)
    for user in names:
        service.invite(_ADMIN, org.id, f"{user}@bench.example")
        service.enrol(user, f"{user}@bench.example", email_verified=True)
        service.allocate_credits(_ADMIN, org.id, user, credits_each)
    return SqlFixture(name, url, store.engine, service, org.id, names)


_DEBIT = (
    "UPDATE armox_accounts SET debits_posted = debits_posted + {a} "
    "WHERE organisation_id = {o} AND code = {c} "
    "AND credits_posted - debits_posted - debits_pending >= {a}"
)
_INSERT = (
    "INSERT INTO armox_transfers (id, organisation_id, kind, debit_account, credit_account, "
    "amount, period_index, actor, created_at, idempotency_key, reference) "
    "VALUES ({i}, {o}, 'spend', {c}, 'usage', {a}, 0, {u}, {t}, {k}, {k})"
)


def _baseline_rows(fx: SqlFixture, count: int, prefix: str) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        user = fx.members[i % len(fx.members)]
        now = datetime.now(timezone.utc)
        rows.append(
            {
                "a": 1,
                "o": fx.org_id,
                "c": member_account(user),
                "u": user,
                "i": new_id(now),
                "t": now.replace(tzinfo=None),
                "k": f"{prefix}-{i}",
            }
        )
    return rows


def core_spends(fx: SqlFixture, count: int, prefix: str) -> Callable[[], None]:
    """The SQLAlchemy Core baseline: the same two statements as ``text()``, one transaction."""
    from sqlalchemy import text

    debit = text(_DEBIT.format(a=":a", o=":o", c=":c"))
    insert = text(_INSERT.format(i=":i", o=":o", c=":c", a=":a", u=":u", t=":t", k=":k"))
    plan = _baseline_rows(fx, count, prefix)
    engine = fx.engine

    def work() -> None:
        for params in plan:
            with engine.begin() as connection:
                if connection.execute(debit, params).rowcount != 1:
                    raise RuntimeError("baseline overdraft")
                connection.execute(insert, params)

    return work


def raw_spends(fx: SqlFixture, count: int, prefix: str) -> Callable[[], None]:
    """The raw DBAPI baseline (sqlite3 or psycopg): same statements, same durability."""
    plan = _baseline_rows(fx, count, prefix)
    if fx.name == "sqlite":
        import sqlite3

        path = fx.url.split("///", 1)[1]
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA busy_timeout = 60000")
        marks = {"a": ":a", "o": ":o", "c": ":c", "i": ":i", "u": ":u", "t": ":t", "k": ":k"}
        begin = "BEGIN IMMEDIATE"
        for params in plan:
            params["t"] = params["t"].isoformat(sep=" ")
    else:
        import psycopg

        connection = psycopg.connect(fx.url.replace("postgresql+psycopg://", "postgresql://"))
        connection.autocommit = True
        marks = {k: f"%({k})s" for k in ("a", "o", "c", "i", "u", "t", "k")}
        begin = "BEGIN"
    debit = _DEBIT.format(**marks)
    insert = _INSERT.format(**marks)

    def work() -> None:
        cursor = connection.cursor()
        for params in plan:
            cursor.execute(begin)
            cursor.execute(debit, params)
            if cursor.rowcount != 1:
                raise RuntimeError("baseline overdraft")
            cursor.execute(insert, params)
            cursor.execute("COMMIT")
        connection.close()

    return work


def _statements_per_spend(fx: SqlFixture, spends: int) -> float:
    """Count the statements the library sends per spend (BEGIN and COMMIT not included)."""
    from sqlalchemy import event

    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(fx.engine, "before_cursor_execute", count)
    try:
        service_spends_sql(fx, spends, "count")()
    finally:
        event.remove(fx.engine, "before_cursor_execute", count)
    counted = [s for s in seen if s.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT")]
    return len(counted) / spends


def service_spends_sql(fx: SqlFixture, count: int, prefix: str) -> Callable[[], None]:
    """``count`` one-credit spends through the service on a SQL store, round-robin."""
    spend = fx.service.spend
    plan = [(fx.members[i % len(fx.members)], f"{prefix}-{i}") for i in range(count)]
    org_id = fx.org_id

    def work() -> None:
        for user, generation in plan:
            spend(user, org_id, 1, generation_id=generation)

    return work


def _setups(
    fx: SqlFixture, count: int
) -> Callable[
    [Callable[[SqlFixture, int, str], Callable[[], None]]], Callable[[], Callable[[], None]]
]:
    """Return a maker of ``best_of`` setups whose runs use fresh generation ids."""
    runs = [0]

    def for_case(
        make: Callable[[SqlFixture, int, str], Callable[[], None]],
    ) -> Callable[[], Callable[[], None]]:
        def setup() -> Callable[[], None]:
            runs[0] += 1
            return make(fx, count, f"r{runs[0]}")

        return setup

    return for_case


def _sql_targets(options: Options, tmp: Path) -> list[tuple[str, str]]:
    targets = [("sqlite", f"sqlite:///{tmp / 'bench.sqlite3'}")]
    pg = _pg_url(options)
    if pg:
        targets.append(("postgresql", pg))
    else:
        print("  (no ARMOX_TEST_POSTGRESQL_URL: PostgreSQL skipped)")
    return targets


@benchmark(
    "sql-spend",
    "spends/s through the service on SQLite (WAL, synchronous=FULL) and PostgreSQL, "
    "against SQLAlchemy Core and raw DBAPI baselines; statements per spend",
    unavailable=_sql_unavailable,
)
def sql_spend(options: Options) -> list[Row]:
    """Time ``--sql-spends`` spends per case, best of ``--runs``, all cases side by side."""
    import tempfile

    count: int = options.sql_spends
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in _sql_targets(options, Path(tmp)):
            fx = sql_fixture(name, url, options.members, credits_each=10**9)
            setups = _setups(fx, count)
            library = best_of(options.runs, setups(service_spends_sql))
            core = best_of(options.runs, setups(core_spends))
            raw = best_of(options.runs, setups(raw_spends))
            statements = _statements_per_spend(fx, 50)
            rows.append(
                rate_row(
                    f"{name}: library",
                    count,
                    library,
                    vs_core=round(core / library, 3),
                    vs_raw=round(raw / library, 3),
                    statements=statements,
                )
            )
            rows.append(rate_row(f"{name}: Core text()", count, core, vs_raw=round(raw / core, 3)))
            rows.append(rate_row(f"{name}: raw DBAPI", count, raw))
            _drop(fx)
    return rows


def _drop(fx: SqlFixture) -> None:
    """Leave the benchmark's database as it was: drop the tables it made."""
    from armox_enterprise.adapters.sqlalchemy import metadata

    metadata.drop_all(fx.engine)
    fx.engine.dispose()


@benchmark(
    "pg-concurrent-spend",
    "spends/s through the service on PostgreSQL with 1, 4 and 8 threads (one member each)",
    unavailable=lambda: (
        _sql_unavailable()
        or (
            None
            if os.environ.get("ARMOX_TEST_POSTGRESQL_URL")
            else "needs ARMOX_TEST_POSTGRESQL_URL"
        )
    ),
)
def pg_concurrent_spend(options: Options) -> list[Row]:
    """Each thread spends ``--sql-spends`` times from its own member; total throughput."""
    import threading

    url = _pg_url(options)
    assert url is not None
    rows: list[Row] = []
    fx = sql_fixture("postgresql", url, 8, credits_each=10**9)
    for threads in (1, 4, 8):
        count: int = options.sql_spends
        barrier = threading.Barrier(threads + 1)

        def worker(
            index: int,
            threads: int = threads,
            count: int = count,
            barrier: threading.Barrier = barrier,
        ) -> None:
            user = fx.members[index]
            barrier.wait()
            for i in range(count):
                fx.service.spend(user, fx.org_id, 1, generation_id=f"t{threads}-{index}-{i}")

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for thread in pool:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in pool:
            thread.join()
        elapsed = time.perf_counter() - start
        rows.append(rate_row(f"{threads} thread(s)", threads * count, elapsed))
    _drop(fx)
    return rows


# ---------------------------------------------------------------------------- views on PostgreSQL

#: The views' benchmarks work in a schema of their own, dropped afterwards: the tables other
#: runs use in the same database are left alone.
VIEWS_SCHEMA = "armox_bench_views"
#: The profile view of the longest history may take at most this many times the shortest's.
PROFILE_TARGET = 1.3

_HISTORY_ANCHOR = datetime(2025, 1, 15, 9, 0, tzinfo=timezone.utc)
#: Periods 0 to 10 have closed; the views read period 11 (from 2025-12-15 09:00).
_CURRENT = 11
_HISTORY_NOW = datetime(2025, 12, 20, 9, 0, tzinfo=timezone.utc)


def _pg_unavailable() -> str | None:
    missing = _sql_unavailable()
    if missing is None and not os.environ.get("ARMOX_TEST_POSTGRESQL_URL"):
        missing = "needs ARMOX_TEST_POSTGRESQL_URL"
    return missing


@dataclass
class ViewsFixture:
    """An organisation in its own schema on PostgreSQL whose periods 0 to 10 have closed."""

    engine: Any
    store: Any
    service: EnterpriseService
    org_id: str


def views_fixture(url: str) -> ViewsFixture:
    """Create :data:`VIEWS_SCHEMA` anew, with one organisation in period 11 and no members."""
    from sqlalchemy import create_engine, text

    from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore, make_tables

    engine = create_engine(url, pool_size=4)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {VIEWS_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {VIEWS_SCHEMA}"))
    store = SqlAlchemyStore(engine, tables=make_tables(schema=VIEWS_SCHEMA))
    store.create_schema()
    clock = FrozenClock(_HISTORY_ANCHOR)
    service = EnterpriseService(store, clock=clock)
    org = service.create_organisation(
        name="Bench Corp",
        admin_user_id=_ADMIN,
        admin_email="admin@bench.example",
        monthly_allowance=0,
    )
    clock.set(_HISTORY_NOW)
    service.close_due_periods()
    return ViewsFixture(engine, store, service, org.id)


def drop_views_fixture(fx: ViewsFixture) -> None:
    """Drop the benchmark's schema."""
    from sqlalchemy import text

    with fx.engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {VIEWS_SCHEMA} CASCADE"))
    fx.engine.dispose()


def add_members(fx: ViewsFixture, names: Sequence[tuple[str, str]]) -> None:
    """Add members ``(user id, display name)`` through the store's ports, in one transaction."""
    from armox_enterprise import Account, Membership, Role
    from armox_enterprise.domain.values import EmailAddress

    with fx.store.unit_of_work() as uow:
        for user, name in names:
            uow.memberships.add(
                Membership(
                    organisation_id=fx.org_id,
                    user_id=user,
                    email=EmailAddress.parse(f"{user}@bench.example"),
                    display_name=name,
                    role=Role.MEMBER,
                    joined_at=_HISTORY_ANCHOR,
                )
            )
            uow.ledger.open_account(Account(fx.org_id, member_account(user)))
        uow.commit()


_T = f"{VIEWS_SCHEMA}.armox_transfers"
_A = f"{VIEWS_SCHEMA}.armox_accounts"
_PT = f"{VIEWS_SCHEMA}.armox_period_totals"
_MEMBER_SPEND = "kind = 'spend' AND credit_account = 'usage' AND debit_account LIKE 'member:%'"
_PERIOD_START = "CAST(:anchor AS timestamp) + {p} * interval '1 month'"


def _top_ups_and_settle(connection: Any, org_id: str, slack: int) -> None:
    """Fund the bulk allocations with one top-up per period, then bring the account rows and
    period totals in line with the bulk transfers (ids ``bulk-...``), as the store keeps them:
    closed periods' spends in period totals, the current period's on the member's row."""
    from sqlalchemy import text

    params = {"o": org_id, "cur": _CURRENT, "slack": slack, "anchor": _naive(_HISTORY_ANCHOR)}
    start = _PERIOD_START.format(p="period_index")
    statements = [
        f"""INSERT INTO {_T} (id, organisation_id, kind, debit_account, credit_account, amount,
                period_index, actor, created_at)
            SELECT 'bulk-t-' || period_index, CAST(:o AS varchar), 'top_up', 'grant', 'pool',
                   sum(amount) + CASE WHEN period_index = :cur THEN :slack ELSE 0 END,
                   period_index, 'admin', {start} + interval '10 minutes'
            FROM {_T} WHERE organisation_id = :o AND id LIKE 'bulk-a-%' GROUP BY period_index""",
        f"""UPDATE {_A} a SET credits_posted = a.credits_posted + x.amount
            FROM (SELECT credit_account AS code, sum(amount) AS amount FROM {_T}
                  WHERE organisation_id = :o AND id LIKE 'bulk-%' AND NOT ({_MEMBER_SPEND})
                  GROUP BY credit_account) x
            WHERE a.organisation_id = :o AND a.code = x.code""",
        f"""UPDATE {_A} a SET debits_posted = a.debits_posted + x.amount
            FROM (SELECT debit_account AS code, sum(amount) AS amount FROM {_T}
                  WHERE organisation_id = :o AND id LIKE 'bulk-%' GROUP BY debit_account) x
            WHERE a.organisation_id = :o AND a.code = x.code""",
        f"""UPDATE {_A} a SET spent = a.spent + x.amount
            FROM (SELECT debit_account AS code, sum(amount) AS amount FROM {_T}
                  WHERE organisation_id = :o AND id LIKE 'bulk-%' AND {_MEMBER_SPEND}
                  GROUP BY debit_account) x
            WHERE a.organisation_id = :o AND a.code = x.code""",
        f"""UPDATE {_A} a SET spend_period = :cur,
                spend_total = CASE WHEN a.spend_period = :cur THEN a.spend_total ELSE 0 END
                    + x.amount,
                spend_at = GREATEST(a.spend_at, x.at)
            FROM (SELECT debit_account AS code, sum(amount) AS amount, max(created_at) AS at
                  FROM {_T}
                  WHERE organisation_id = :o AND id LIKE 'bulk-%' AND {_MEMBER_SPEND}
                    AND period_index = :cur
                  GROUP BY debit_account) x
            WHERE a.organisation_id = :o AND a.code = x.code""",
        f"""INSERT INTO {_PT} (organisation_id, account, period_index, side, kind, amount,
                last_activity)
            SELECT CAST(:o AS varchar), account, period_index, side, kind, sum(amount),
                   max(created_at)
            FROM (
                SELECT debit_account AS account, period_index, 'd' AS side, kind, amount,
                       created_at
                FROM {_T} WHERE organisation_id = :o AND id LIKE 'bulk-%'
                  AND NOT ({_MEMBER_SPEND} AND period_index = :cur)
                UNION ALL
                SELECT credit_account, period_index, 'c', kind, amount, created_at
                FROM {_T} WHERE organisation_id = :o AND id LIKE 'bulk-%'
                  AND NOT ({_MEMBER_SPEND} AND period_index = :cur)
            ) moved
            GROUP BY account, period_index, side, kind
            ON CONFLICT (organisation_id, account, period_index, side, kind) DO UPDATE SET
                amount = {_PT}.amount + excluded.amount,
                last_activity = GREATEST({_PT}.last_activity, excluded.last_activity)""",
    ]
    for statement in statements:
        connection.execute(text(statement), params)


def _naive(instant: datetime) -> datetime:
    return instant.astimezone(timezone.utc).replace(tzinfo=None)


def _analyze(engine: Any) -> None:
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("transfers", "accounts", "period_totals", "memberships"):
            connection.execute(text(f"VACUUM ANALYZE {VIEWS_SCHEMA}.armox_{table}"))


def check_ledger(fx: ViewsFixture) -> None:
    """Raise unless every account row holds what the transfers imply (the store's layout)."""
    from sqlalchemy import text

    posted = "kind NOT IN ('hold', 'release')"
    query = f"""
        WITH moved AS (
            SELECT credit_account AS code, amount AS credited, 0 AS debited, 0 AS spent
            FROM {_T} WHERE organisation_id = :o AND {posted} AND NOT ({_MEMBER_SPEND})
            UNION ALL
            SELECT debit_account, 0, amount,
                   CASE WHEN {_MEMBER_SPEND} THEN amount ELSE 0 END
            FROM {_T} WHERE organisation_id = :o AND {posted}
        ), sums AS (
            SELECT code, sum(credited) AS credited, sum(debited) AS debited, sum(spent) AS spent
            FROM moved GROUP BY code
        )
        SELECT a.code FROM {_A} a LEFT JOIN sums s ON s.code = a.code
        WHERE a.organisation_id = :o AND (
            a.credits_posted <> coalesce(s.credited, 0)
            OR a.debits_posted <> coalesce(s.debited, 0)
            OR a.spent <> coalesce(s.spent, 0))"""
    with fx.engine.connect() as connection:
        wrong = [row[0] for row in connection.execute(text(query), {"o": fx.org_id})]
    if wrong:
        raise RuntimeError(f"the bulk history left accounts inconsistent: {wrong[:5]}")


def load_member_history(fx: ViewsFixture, user: str, transfers: int) -> int:
    """Give ``user`` about ``transfers`` transfers over periods 0 to 11: each period an
    allocation and one-credit spends of all of it (the last period keeps 500 unspent).

    Returns how many transfers the member has.
    """
    from sqlalchemy import text

    periods = _CURRENT + 1
    per = max(1, transfers // periods - 1)
    code = member_account(user)
    start = _PERIOD_START.format(p="p")
    params = {
        "o": fx.org_id,
        "c": code,
        "u": user,
        "per": per,
        "cur": _CURRENT,
        "anchor": _naive(_HISTORY_ANCHOR),
    }
    with fx.engine.begin() as connection:
        connection.execute(
            text(
                f"""INSERT INTO {_T} (id, organisation_id, kind, debit_account, credit_account,
                        amount, period_index, actor, created_at)
                    SELECT 'bulk-a-' || :u || '-' || p, :o, 'allocate', 'pool', :c,
                           :per + CASE WHEN p = :cur THEN 500 ELSE 0 END, p, 'admin',
                           {start} + interval '30 minutes'
                    FROM generate_series(0, :cur) AS p"""
            ),
            params,
        )
        connection.execute(
            text(
                f"""INSERT INTO {_T} (id, organisation_id, kind, debit_account, credit_account,
                        amount, period_index, actor, created_at, idempotency_key, reference,
                        feature, model)
                    SELECT 'bulk-s-' || :u || '-' || p || '-' || g, :o, 'spend', :c, 'usage',
                           1, p, :u, {start} + interval '1 hour' + g * interval '1 millisecond',
                           'bulk-s-' || :u || '-' || p || '-' || g,
                           'bulk-s-' || :u || '-' || p || '-' || g, 'image', 'v2'
                    FROM generate_series(0, :cur) AS p, generate_series(1, :per) AS g"""
            ),
            params,
        )
    return periods * (per + 1)


def _statements_of(engine: Any, call: Callable[[], object]) -> int:
    """How many statements ``call`` sends (BEGIN and COMMIT included)."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(seen)


def _repeat(call: Callable[[], object], calls: int) -> Callable[[], Callable[[], None]]:
    def work() -> None:
        for _ in range(calls):
            call()

    return lambda: work


@benchmark(
    "pg-profile",
    "service.profile() on PostgreSQL for members with 1,000 and 1,000,000 transfers: time "
    "and statements (target: the longest history at most 1.3x the shortest)",
    unavailable=_pg_unavailable,
)
def pg_profile(options: Options) -> list[Row]:
    """Bulk-load each member's history, then time ``--view-calls`` profile views each."""
    from sqlalchemy import text

    url = _pg_url(options)
    assert url is not None
    sizes: list[int] = options.pg_history
    fx = views_fixture(url)
    try:
        users = [f"history-{i}" for i in range(len(sizes))]
        add_members(fx, [(u, f"History {n:,}") for u, n in zip(users, sizes, strict=True)])
        counts = [load_member_history(fx, u, n) for u, n in zip(users, sizes, strict=True)]
        with fx.engine.begin() as connection:
            _top_ups_and_settle(connection, fx.org_id, slack=1_000)
        _analyze(fx.engine)
        check_ledger(fx)
        with fx.engine.connect() as connection:
            stored = connection.execute(
                text(f"SELECT count(*) FROM {_T} WHERE organisation_id = :o"), {"o": fx.org_id}
            ).scalar_one()
        rows: list[Row] = []
        baseline: float | None = None
        profile = fx.service.profile
        for user, transfers in zip(users, counts, strict=True):
            section = profile(user).credits
            if section is None or section.remaining != 500:
                raise RuntimeError(f"the history of {user} was not loaded as planned")

            def call(user: str = user) -> object:
                return profile(user)

            statements = _statements_of(fx.engine, call)
            seconds = best_of(options.runs, _repeat(call, options.view_calls))
            per_call = seconds / options.view_calls
            baseline = per_call if baseline is None else baseline
            ratio = per_call / baseline
            rows.append(
                rate_row(
                    f"profile, {transfers:,} transfers",
                    options.view_calls,
                    seconds,
                    ms_per_view=round(per_call * 1e3, 3),
                    statements=statements,
                    vs_smallest=round(ratio, 2),
                    meets_target=ratio <= PROFILE_TARGET,
                    table_transfers=stored,
                )
            )
        return rows
    finally:
        drop_views_fixture(fx)


_FIRST = ["ana", "Bruno", "chloé", "Dmitri", "eve", "Fatima", "gus", "Hana", "Ivo", "jun"]
_LAST = ["Silva", "müller", "O'Brien", "nguyen", "Kowalski", "van Dijk", "Åberg", "lee"]


def load_organisation_history(fx: ViewsFixture, members: int) -> int:
    """Give ``members`` members eleven closed periods of history (3 credits allocated and
    spent each) and this period's allocation, spends and a few holds.

    Returns how many transfers were loaded.
    """
    from sqlalchemy import text

    users = [
        (f"m{i:05d}", f"{_FIRST[i % 10]} {_LAST[i * 7 % 8]} {i}") for i in range(1, members + 1)
    ]
    add_members(fx, users)
    start = _PERIOD_START.format(p="p")
    user = "'m' || lpad(i::text, 5, '0')"
    code = f"'member:' || {user}"
    params = {"o": fx.org_id, "n": members, "cur": _CURRENT, "anchor": _naive(_HISTORY_ANCHOR)}
    with fx.engine.begin() as connection:
        connection.execute(
            text(
                f"""INSERT INTO {_T} (id, organisation_id, kind, debit_account, credit_account,
                        amount, period_index, actor, created_at)
                    SELECT 'bulk-a-' || i || '-' || p, :o, 'allocate', 'pool', {code},
                           CASE WHEN p = :cur THEN 100 + i * 37 % 900 ELSE 3 END, p, 'admin',
                           {start} + interval '30 minutes' + i * interval '1 millisecond'
                    FROM generate_series(1, :n) AS i, generate_series(0, :cur) AS p"""
            ),
            params,
        )
        spend = f"""INSERT INTO {_T} (id, organisation_id, kind, debit_account, credit_account,
                        amount, period_index, actor, created_at, idempotency_key, reference,
                        feature, model)
                    SELECT 'bulk-s-' || i || '-' || p || '-' || g, :o, 'spend', {code}, 'usage',
                           {{amount}}, p, {user}, {start} + interval '2 hours'
                               + (i * 5 + g) * interval '1 second',
                           'bulk-s-' || i || '-' || p || '-' || g,
                           'bulk-s-' || i || '-' || p || '-' || g, 'image', 'v2'
                    FROM generate_series(1, :n) AS i, {{periods}},
                         generate_series(1, {{count}}) AS g
                    WHERE {{keep}}"""
        connection.execute(
            text(
                spend.format(
                    amount="1", periods="generate_series(0, :cur - 1) AS p", count="3", keep="true"
                )
            ),
            params,
        )
        connection.execute(
            text(
                spend.format(
                    amount="i * 13 % 20 + 1",
                    periods="(SELECT :cur AS p) AS current_period",
                    count="4",
                    keep="g <= i % 5",
                )
            ),
            params,
        )
        _top_ups_and_settle(connection, fx.org_id, slack=100_000)
        loaded = connection.execute(
            text(f"SELECT count(*) FROM {_T} WHERE organisation_id = :o AND id LIKE 'bulk-%'"),
            {"o": fx.org_id},
        ).scalar_one()
    for i in range(1, min(members, 200) + 1, 10):
        fx.service.reserve(f"m{i:05d}", fx.org_id, 7, generation_id=f"hold-{i}")
    for i in range(5, min(members, 200) + 1, 20):
        fx.service.request_credits(f"m{i:05d}", fx.org_id, 50)
    _analyze(fx.engine)
    check_ledger(fx)
    return int(loaded)


@benchmark(
    "pg-dashboard",
    "service.dashboard() on PostgreSQL: one page of 50 of an organisation with 10,000 members "
    "and eleven closed periods of history, by each sort key: time and statements",
    unavailable=_pg_unavailable,
)
def pg_dashboard(options: Options) -> list[Row]:
    """Time ``--view-calls`` dashboard pages per case, best of ``--runs``."""
    url = _pg_url(options)
    assert url is not None
    members: int = options.dashboard_members
    fx = views_fixture(url)
    try:
        transfers = load_organisation_history(fx, members)
        dashboard = fx.service.dashboard
        org_id = fx.org_id
        first = dashboard(_ADMIN, org_id, sort="used", descending=True)
        if first.total_members != members + 1 or len(first.members) != min(50, members + 1):
            raise RuntimeError("the organisation was not loaded as planned")
        top = first.members[0]
        section = fx.service.profile(top.user_id).credits
        if section is None or (section.used, section.remaining) != (top.used, top.remaining):
            raise RuntimeError("the member table and the profile disagree")
        cases: list[tuple[str, dict[str, Any]]] = [
            ("name", {"sort": "name"}),
            ("name, last page", {"sort": "name", "offset": members - 49}),
            ("allocated desc", {"sort": "allocated", "descending": True}),
            ("used desc", {"sort": "used", "descending": True}),
            ("remaining", {"sort": "remaining"}),
            ("last_activity desc", {"sort": "last_activity", "descending": True}),
        ]
        rows: list[Row] = []
        for case, page in cases:

            def call(page: dict[str, Any] = page) -> object:
                return dashboard(_ADMIN, org_id, limit=50, **page)

            statements = _statements_of(fx.engine, call)
            seconds = best_of(options.runs, _repeat(call, options.view_calls))
            rows.append(
                rate_row(
                    f"page of 50, {case}",
                    options.view_calls,
                    seconds,
                    ms_per_page=round(seconds / options.view_calls * 1e3, 2),
                    statements=statements,
                    members=members,
                    transfers=transfers,
                )
            )
        return rows
    finally:
        drop_views_fixture(fx)


# ---------------------------------------------------------------------------- usage analytics

#: The analytics benchmarks work in a schema of their own, dropped afterwards.
REPORTS_SCHEMA = "armox_bench_reports"
#: Peak memory (RSS) the CSV export of the benchmark's transfers may reach, in MiB.
EXPORT_RSS_TARGET_MIB = 150

_REPORT_ANCHOR = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
#: The month reported on: period 1, from 15 Feb to 15 Mar 2026 (09:00 UTC).
_REPORTED = 1
#: When the reports are asked for: periods 0 to 2 have closed.
_REPORT_NOW = datetime(2026, 4, 20, 9, 0, tzinfo=timezone.utc)
_REPORT_MEMBERS = 100


def _reports_unavailable() -> str | None:
    missing = _sql_unavailable()
    if missing is None and not os.environ.get("ARMOX_TEST_POSTGRESQL_URL"):
        missing = "needs ARMOX_TEST_POSTGRESQL_URL"
    return missing


def _reports_store(url: str) -> tuple[Any, Any, EnterpriseService]:
    """An engine, a store on :data:`REPORTS_SCHEMA` and a service whose clock reads
    :data:`_REPORT_NOW` (the schema must exist)."""
    from sqlalchemy import create_engine

    from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore, make_tables

    engine = create_engine(url, pool_size=2)
    store = SqlAlchemyStore(engine, tables=make_tables(schema=REPORTS_SCHEMA))
    return engine, store, EnterpriseService(store, clock=FrozenClock(_REPORT_NOW))


@dataclass
class ReportsFixture:
    """An organisation with ``transfers`` usage transfers in period 0, in its own schema."""

    url: str
    engine: Any
    service: EnterpriseService
    org_id: str
    transfers: int
    usage_transfers: int


def _bulk_usage(connection: Any, org_id: str, prefix: str, count: int, period: int) -> None:
    """Insert ``count`` usage transfers of 100 members in one statement, spread evenly over
    period ``period``: 1 in 50 a refund, 1 in 20 of the others a capture, the rest spends
    (1 in 100 is both: a refund).

    Only the transfers are written (the account rows keep their zero balances): enough for
    reports and exports, which read transfers only.
    """
    from sqlalchemy import text

    from armox_enterprise.domain.periods import period_by_index

    bounds = period_by_index(_REPORT_ANCHOR, period)
    step_ms = (bounds.end - bounds.start) // timedelta(milliseconds=1) // (count + 1)
    statement = f"""
        INSERT INTO {REPORTS_SCHEMA}.armox_transfers (id, organisation_id, kind, debit_account,
            credit_account, amount, period_index, actor, created_at, idempotency_key,
            reference, feature, model)
        SELECT :prefix || g, :o, k.kind,
               CASE WHEN k.kind = 'refund' THEN 'usage' ELSE 'member:m-' || g % 100 END,
               CASE WHEN k.kind = 'refund' THEN 'member:m-' || g % 100 ELSE 'usage' END,
               1 + g % 7, :p, 'm-' || g % 100,
               CAST(:start AS timestamp) + g * (:step * interval '1 millisecond'),
               CASE WHEN k.kind = 'spend' THEN :prefix || g END, :prefix || g,
               (ARRAY['chat', 'image', 'video', 'audio'])[1 + g % 4], 'model-' || g % 8
        FROM generate_series(1, :n) AS g,
             LATERAL (SELECT CASE WHEN g % 50 = 0 THEN 'refund' WHEN g % 20 = 0 THEN 'capture'
                                  ELSE 'spend' END AS kind) AS k"""
    connection.execute(
        text(statement),
        {
            "prefix": prefix,
            "o": org_id,
            "p": period,
            "n": count,
            "step": step_ms,
            "start": bounds.start.replace(tzinfo=None),
        },
    )


def reports_fixture(url: str, transfers: int) -> ReportsFixture:
    """Create :data:`REPORTS_SCHEMA` anew: an organisation of 100 members with ``transfers``
    usage transfers in each of three months (periods 0 to 2; the reports read period 1), and
    another organisation with a quarter as many in period 1: a table of 3.25 times
    ``transfers`` rows, a third of which the reports read."""
    from sqlalchemy import text

    from armox_enterprise import Account, Membership, Role
    from armox_enterprise.domain.values import EmailAddress

    engine, store, _ = _reports_store(url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {REPORTS_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {REPORTS_SCHEMA}"))
    store.create_schema()
    setup = EnterpriseService(store, clock=FrozenClock(_REPORT_ANCHOR))
    org_ids = []
    for name, admin in (("Bench Corp", _ADMIN), ("Other Corp", "other-admin")):
        org = setup.create_organisation(
            name=name, admin_user_id=admin, admin_email=f"{admin}@bench.example"
        )
        org_ids.append(org.id)
        with store.unit_of_work() as uow:
            for i in range(_REPORT_MEMBERS):
                user = f"m-{i}"
                if admin == _ADMIN:
                    uow.memberships.add(
                        Membership(
                            organisation_id=org.id,
                            user_id=user,
                            email=EmailAddress.parse(f"{user}@bench.example"),
                            display_name=user,
                            role=Role.MEMBER,
                            joined_at=_REPORT_ANCHOR,
                        )
                    )
                # The other organisation only needs the accounts its transfers name.
                uow.ledger.open_account(Account(org.id, member_account(user)))
            uow.commit()
    org_id, other = org_ids
    with engine.begin() as connection:
        for period in (0, 1, 2):
            _bulk_usage(connection, org_id, f"p{period}-", transfers, period)
        _bulk_usage(connection, other, "o-", max(1, transfers // 4), _REPORTED)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM ANALYZE {REPORTS_SCHEMA}.armox_transfers"))
    engine.dispose()
    _, _, service = _reports_store(url)
    usage_transfers = transfers - transfers // 50
    return ReportsFixture(url, service_engine(service), service, org_id, transfers, usage_transfers)


def service_engine(service: EnterpriseService) -> Any:
    """The engine under a service on the SQLAlchemy store."""
    return service._store.engine  # type: ignore[attr-defined]


def drop_reports_fixture(fx: ReportsFixture) -> None:
    """Drop the benchmark's schema."""
    from sqlalchemy import text

    with fx.engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {REPORTS_SCHEMA} CASCADE"))
    fx.engine.dispose()


def _once(call: Callable[[], object]) -> Callable[[], Callable[[], None]]:
    """A :func:`best_of` setup whose work calls ``call`` once."""

    def work() -> None:
        call()

    return lambda: work


def _explain(engine: Any, call: Callable[[], object], marker: str) -> tuple[int, list[str]]:
    """Run ``call``; return how many statements it sent and the ``EXPLAIN (ANALYZE, BUFFERS)``
    plan of the one containing ``marker``."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statement, parameters = next((s, p) for s, p in seen if marker in s)
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
        ).all()
    return len(seen), [line[0] for line in plan]


@benchmark(
    "pg-usage-by-day",
    "service.usage_report() on PostgreSQL for a closed month of an organisation with "
    "1,000,000 transfers in it: time, statements and the query plan (index use)",
    unavailable=_reports_unavailable,
)
def pg_usage_by_day(options: Options) -> list[Row]:
    """Time each grouping of the month's usage, best of ``--runs``; print the by-day plan."""
    url = _pg_url(options)
    assert url is not None
    fx = reports_fixture(url, options.report_transfers)
    try:
        report = fx.service.usage_report
        org_id = fx.org_id
        days = report(_ADMIN, org_id, by="day", first_period=_REPORTED, last_period=_REPORTED)
        # The month runs from 15 Feb 09:00 to 15 Mar 09:00: 29 UTC days.
        if sum(row.transfers for row in days) != fx.usage_transfers or len(days) != 29:
            raise RuntimeError(f"unexpected report: {len(days)} days")
        rows: list[Row] = []
        for by in ("day", "week", "month", "member", "model"):

            def call(by: Any = by) -> object:
                return report(_ADMIN, org_id, by=by, first_period=_REPORTED, last_period=_REPORTED)

            statements, plan = _explain(fx.engine, call, "GROUP BY")
            if by == "day":
                print("\nEXPLAIN (ANALYZE, BUFFERS) of usage by day:")
                print("\n".join(f"    {line}" for line in plan))
            scans = [line.strip() for line in plan if " Scan " in line or "Scan using" in line]
            seconds = best_of(options.runs, _once(call))
            rows.append(
                {
                    "case": f"usage by {by}, one month",
                    "transfers": fx.transfers,
                    "ms": round(seconds * 1e3, 1),
                    "rows": len(call()),  # type: ignore[arg-type]
                    "statements": statements,
                    "index_used": any("Index" in s for s in scans),
                    "scan": scans[0].split("  (")[0].lstrip("-> ") if scans else None,
                }
            )
        return rows
    finally:
        drop_reports_fixture(fx)


def _export_in_child(url: str, org_id: str, which: str, results: Any) -> None:
    """Export the reported month as CSV in this (fresh) process; send the figures back."""
    import resource

    _, _, service = _reports_store(url)
    export = service.export_ledger_csv if which == "ledger" else service.export_usage_csv
    service.usage_report(_ADMIN, org_id, by="month", first_period=_REPORTED, last_period=_REPORTED)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    lines = size = 0
    for line in export(_ADMIN, org_id, first_period=_REPORTED, last_period=_REPORTED):
        lines += 1
        size += len(line)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results.put((seconds, lines, size, before, peak))


@benchmark(
    "pg-export-csv",
    "CSV export of 1,000,000 transfers from PostgreSQL through the service, streamed: time "
    f"and peak memory of the process (target under {EXPORT_RSS_TARGET_MIB} MiB)",
    unavailable=_reports_unavailable,
)
def pg_export_csv(options: Options) -> list[Row]:
    """Export the ledger and the usage of the month, each in a fresh process (so its peak
    RSS is the export's alone, not the fixture's)."""
    import multiprocessing

    url = _pg_url(options)
    assert url is not None
    fx = reports_fixture(url, options.report_transfers)
    context = multiprocessing.get_context("spawn")
    rows: list[Row] = []
    try:
        for which, expected in (("ledger", fx.transfers), ("usage", fx.transfers)):
            results = context.Queue()
            child = context.Process(target=_export_in_child, args=(url, fx.org_id, which, results))
            child.start()
            seconds, lines, size, before, peak = results.get(timeout=3600)
            child.join()
            if lines != expected + 1:
                raise RuntimeError(f"the {which} export has {lines} lines, not {expected + 1}")
            rows.append(
                {
                    **rate_row(f"{which} CSV, {expected:,} transfers", expected, seconds),
                    "mib": round(size / 2**20, 1),
                    "rss_before_mib": round(before / 1024, 1),
                    "peak_rss_mib": round(peak / 1024, 1),
                    "meets_target": peak / 1024 < EXPORT_RSS_TARGET_MIB,
                }
            )
        return rows
    finally:
        drop_reports_fixture(fx)


# ---------------------------------------------------------------------------- command line


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ints: {value!r}") from None
    if not sizes or any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {number}")
    return number


def parse(argv: Sequence[str] | None) -> Options:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Run armox-enterprise benchmarks (no names: every available one)."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--runs", type=_positive, default=5, help="runs per case; best counts")
    parser.add_argument(
        "--spends", type=_positive, default=20_000, help="spends per run (memory-spend)"
    )
    parser.add_argument(
        "--members", type=_positive, default=4, help="members spending, round-robin"
    )
    parser.add_argument(
        "--calls", type=_positive, default=2_000, help="profile views per run (memory-profile)"
    )
    parser.add_argument(
        "--history",
        type=_sizes,
        default=[1_000, 100_000],
        help="comma-separated history sizes in transfers (memory-profile)",
    )
    parser.add_argument(
        "--pg-history",
        type=_sizes,
        default=[1_000, 1_000_000],
        help="comma-separated history sizes in transfers (pg-profile)",
    )
    parser.add_argument(
        "--dashboard-members",
        type=_positive,
        default=10_000,
        help="members of the organisation (pg-dashboard)",
    )
    parser.add_argument(
        "--view-calls",
        type=_positive,
        default=200,
        help="views per run (pg-profile, pg-dashboard)",
    )
    parser.add_argument(
        "--clock",
        choices=("system", "frozen"),
        default="system",
        help="the service's clock: the real one (default) or a FrozenClock",
    )
    parser.add_argument(
        "--sql-spends", type=_positive, default=1_000, help="spends per run (SQL benchmarks)"
    )
    parser.add_argument(
        "--report-transfers",
        type=_positive,
        default=1_000_000,
        help="transfers in the reported month (pg-usage-by-day, pg-export-csv)",
    )
    parser.add_argument(
        "--postgresql-url",
        default=None,
        help="SQLAlchemy URL of PostgreSQL (default: $ARMOX_TEST_POSTGRESQL_URL)",
    )
    parser.add_argument(
        "--json", type=Path, default=RESULTS, help=f"where to write results (default {RESULTS})"
    )
    parser.add_argument("--no-json", action="store_true", help="do not write the JSON file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; return the process exit status."""
    options = parse(argv)
    if options.list:
        for bench in REGISTRY.values():
            reason = bench.unavailable()
            suffix = f"  (unavailable: {reason})" if reason else ""
            print(f"{bench.name:<16} {bench.description}{suffix}")
        return 0
    unknown = [name for name in options.names if name not in REGISTRY]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; try --list", file=sys.stderr)
        return 2
    selected = [REGISTRY[name] for name in options.names] or list(REGISTRY.values())
    results: dict[str, list[Row]] = {}
    env = environment()
    print(f"Python {env['python']} ({env['implementation']}) on {env['platform']}")
    for bench in selected:
        reason = bench.unavailable()
        if reason is not None:
            if options.names:
                print(f"{bench.name}: unavailable: {reason}", file=sys.stderr)
                return 2
            print(f"\n{bench.name}: skipped ({reason})")
            continue
        print(f"\n{bench.name}: {bench.description}", flush=True)
        started = time.perf_counter()
        rows = bench.run(options)
        results[bench.name] = rows
        print(table(rows))
        print(f"({time.perf_counter() - started:.1f} s including setup)")
    if not options.no_json:
        write_results(options.json, options, results)
        print(f"\nresults written to {options.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
