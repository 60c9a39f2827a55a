"""Usage analytics on PostgreSQL: a month of 1,000,000 transfers reported and exported.

* ``pg-usage-by-day``: ``service.usage_report()`` by day, week, month, member and model for a
  closed month, each grouping a case of shuffled rounds; the statements sent and the query
  plan of the by-day report (whether it uses the covering index).
* ``pg-export-csv``: the ledger and usage CSV exports of the month, each once in a fresh
  process, so that its peak memory (RSS) is the export's own.

Both work in a schema of their own inside a scratch database (:mod:`armox_bench.scratch`)
and run only when named: loading 3.25 million transfers takes minutes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from armox_bench.harness import Options, Row, Stat, benchmark, interleaved
from armox_bench.scratch import backends, scratch
from armox_enterprise import EnterpriseService
from armox_enterprise.domain.ledger import member_account
from armox_enterprise.testing import FrozenClock

_ADMIN = "admin"


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
    """A case of a round whose work calls ``call`` once."""

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
    default=False,
)
def pg_usage_by_day(options: Options) -> list[Row]:
    """Each grouping of the month's usage a case of ``--rounds`` shuffled rounds; print the
    by-day plan."""
    if not backends(options, ("postgresql",)):
        return []
    with scratch(options, "postgresql", "reports") as target:
        fx = reports_fixture(target.url, options.report_transfers)
        try:
            return _usage_rows(fx, options)
        finally:
            drop_reports_fixture(fx)


def _usage_rows(fx: ReportsFixture, options: Options) -> list[Row]:
    report = fx.service.usage_report
    org_id = fx.org_id
    days = report(_ADMIN, org_id, by="day", first_period=_REPORTED, last_period=_REPORTED)
    # The month runs from 15 Feb 09:00 to 15 Mar 09:00: 29 UTC days.
    if sum(row.transfers for row in days) != fx.usage_transfers or len(days) != 29:
        raise RuntimeError(f"unexpected report: {len(days)} days")
    cases = {}
    facts: dict[str, Row] = {}
    for by in ("day", "week", "month", "member", "model"):

        def call(by: Any = by) -> object:
            return report(_ADMIN, org_id, by=by, first_period=_REPORTED, last_period=_REPORTED)

        statements, plan = _explain(fx.engine, call, "GROUP BY")
        if by == "day":
            print("\nEXPLAIN (ANALYZE, BUFFERS) of usage by day:")
            print("\n".join(f"    {line}" for line in plan))
        scans = [line.strip() for line in plan if " Scan " in line or "Scan using" in line]
        name = f"usage by {by}, one month"
        cases[name] = _once(call)
        facts[name] = {
            "rows": len(call()),  # type: ignore[arg-type]
            "statements": statements,
            "index used": any("Index" in s for s in scans),
            "scan": scans[0].split("  (")[0].lstrip("-> ") if scans else None,
        }
    seconds = interleaved(cases, options.rounds, random.Random(options.seed))
    return [
        {
            "case": name,
            "transfers": fx.transfers,
            "ms": Stat.of((s * 1e3 for s in seconds[name]), 1),
            **facts[name],
        }
        for name in cases
    ]


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
    "CSV export of 1,000,000 transfers from PostgreSQL through the service, streamed, once "
    f"each in a fresh process: time and peak RSS (target under {EXPORT_RSS_TARGET_MIB} MiB)",
    default=False,
)
def pg_export_csv(options: Options) -> list[Row]:
    """Export the ledger and the usage of the month, each in a fresh process (so its peak
    RSS is the export's alone, not the fixture's)."""
    import multiprocessing

    if not backends(options, ("postgresql",)):
        return []
    rows: list[Row] = []
    with scratch(options, "postgresql", "exports") as target:
        url = target.url
        fx = reports_fixture(url, options.report_transfers)
        context = multiprocessing.get_context("spawn")
        try:
            for which, expected in (("ledger", fx.transfers), ("usage", fx.transfers)):
                results = context.Queue()
                child = context.Process(
                    target=_export_in_child, args=(url, fx.org_id, which, results)
                )
                child.start()
                seconds, lines, size, before, peak = results.get(timeout=3600)
                child.join()
                if lines != expected + 1:
                    raise RuntimeError(f"the {which} export has {lines} lines, not {expected + 1}")
                rows.append(
                    {
                        "case": f"{which} CSV, {expected:,} transfers",
                        "s (one run)": round(seconds, 2),
                        "rows/s": round(expected / seconds),
                        "MiB": round(size / 2**20, 1),
                        "RSS before, MiB": round(before / 1024, 1),
                        "peak RSS, MiB": round(peak / 1024, 1),
                        "meets target": peak / 1024 < EXPORT_RSS_TARGET_MIB,
                    }
                )
        finally:
            drop_reports_fixture(fx)
    return rows
