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
            fx.engine.dispose()
    return rows


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
    fx.engine.dispose()
    return rows


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
        "--clock",
        choices=("system", "frozen"),
        default="system",
        help="the service's clock: the real one (default) or a FrozenClock",
    )
    parser.add_argument(
        "--sql-spends", type=_positive, default=1_000, help="spends per run (SQL benchmarks)"
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
