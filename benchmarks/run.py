"""Benchmarks for armox-enterprise: named, selectable, paired benchmarks.

Usage::

    python benchmarks/run.py                          # every default benchmark
    python benchmarks/run.py spend memory-spend       # some, by name
    python benchmarks/run.py --quick --only sqlite,memory   # a quick run, no servers
    python benchmarks/run.py --list                   # what there is

The cases a benchmark compares run in the same process on the same database, in rounds whose
order is shuffled anew each round; each case is reported as the median over the rounds with
the spread ``[min-max]``, and ratios are computed within each round, then summarised the same
way (see ``armox_bench/harness.py``).  Results are printed as tables and written, with the
machine, Python and server versions, to ``benchmarks/results/latest.json``.

PostgreSQL and MariaDB are reached through ``--postgresql-url`` and ``--mysql-url``
(default: ``$ARMOX_TEST_POSTGRESQL_URL`` and ``$ARMOX_TEST_MYSQL_URL``); each benchmark makes a
database of its own on the server and drops it at the end.  A server with no URL is skipped.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from armox_bench import reports, spends, views  # noqa: F401 - they register the benchmarks
from armox_bench.harness import (
    BACKENDS,
    REGISTRY,
    Options,
    Row,
    environment,
    markdown,
    table,
    write_results,
)
from armox_bench.scratch import server_versions

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"

#: What each option is when neither it nor ``--quick`` is given, and with ``--quick``.
DEFAULTS: dict[str, tuple[object, object]] = {
    "rounds": (9, 3),
    "spends": (300, 40),
    "memory_spends": (20_000, 2_000),
    "history": ([1_000, 1_000_000], [1_000, 10_000]),
    "profile_calls": (200, 20),
    "dashboard_members": (10_000, 300),
    "dashboard_calls": (5, 2),
    "report_transfers": (1_000_000, 10_000),
}


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


def _backends(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"backends are {', '.join(BACKENDS)}; got {value!r}")
    return names


def parse(argv: Sequence[str] | None) -> Options:
    """Parse the command line; fill in the defaults (or ``--quick``'s) of unset options."""
    parser = argparse.ArgumentParser(
        description="Run armox-enterprise benchmarks (no names: every default one)."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and 3 rounds: a check, not a figure"
    )
    parser.add_argument(
        "--only",
        type=_backends,
        default=None,
        help=f"comma-separated backends to cover (default: all of {','.join(BACKENDS)})",
    )
    parser.add_argument(
        "--rounds", "--runs", type=_positive, help="rounds per comparison (default 9)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the rounds' shuffles")
    parser.add_argument(
        "--spends", type=_positive, help="SQL spends per case and round (default 300)"
    )
    parser.add_argument(
        "--memory-spends", type=_positive, help="memory-store spends per case and round"
    )
    parser.add_argument("--members", type=_positive, default=4, help="members spending in turn")
    parser.add_argument(
        "--history", type=_sizes, help="history sizes of the profile view (default 1000,1000000)"
    )
    parser.add_argument("--profile-calls", type=_positive, help="profile views per case and round")
    parser.add_argument(
        "--dashboard-members", type=_positive, help="members of the dashboard's organisation"
    )
    parser.add_argument(
        "--dashboard-calls", type=_positive, help="dashboard pages per case and round"
    )
    parser.add_argument(
        "--closed-periods",
        type=_positive,
        default=11,
        help="closed periods of history before the current one (profile, dashboard)",
    )
    parser.add_argument(
        "--report-transfers",
        type=_positive,
        help="transfers in the reported month (pg-usage-by-day, pg-export-csv)",
    )
    parser.add_argument(
        "--postgresql-url", help="SQLAlchemy URL of a PostgreSQL server (default: env)"
    )
    parser.add_argument(
        "--mysql-url", help="SQLAlchemy URL of a MariaDB/MySQL server (default: env)"
    )
    parser.add_argument(
        "--json", type=Path, default=RESULTS, help=f"where to write results (default {RESULTS})"
    )
    parser.add_argument("--no-json", action="store_true", help="do not write the JSON file")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="also write the tables as Markdown to PATH"
    )
    options = parser.parse_args(argv)
    for name, (normal, quick) in DEFAULTS.items():
        if getattr(options, name) is None:
            setattr(options, name, quick if options.quick else normal)
    options.only_explicit = options.only is not None
    if options.only is None:
        options.only = BACKENDS
    return options


def _stop(signum: int, _frame: object) -> None:
    """A termination signal ends the run as an exception would: scratch databases are dropped."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; return the process exit status."""
    signal.signal(signal.SIGTERM, _stop)
    options = parse(argv)
    if options.list:
        for bench in REGISTRY.values():
            suffix = "" if bench.default else "  (only when named)"
            print(f"{bench.name:<18} {bench.description}{suffix}")
        return 0
    unknown = [name for name in options.names if name not in REGISTRY]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; try --list", file=sys.stderr)
        return 2
    selected = [REGISTRY[name] for name in options.names] or [
        bench for bench in REGISTRY.values() if bench.default
    ]
    env = environment()
    servers = server_versions(options)
    print(f"Python {env['python']} ({env['implementation']}) on {env['platform']}")
    source = env["source"]
    changed = " (src/ differs from it)" if source["src_changed"] else ""
    print(f"  commit: {source['commit']}{changed}; load average: {env['load_average']}")
    print(f"  sources: sha256 {source['src_sha256']}")
    print("  " + ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v))
    for backend, version in servers.items():
        print(f"  {backend}: {version}")
    print(f"  rounds: {options.rounds}, seed: {options.seed}, backends: {','.join(options.only)}")
    results: dict[str, list[Row]] = {}
    for bench in selected:
        print(f"\n{bench.name}: {bench.description}", flush=True)
        started = time.perf_counter()
        rows = bench.run(options)
        results[bench.name] = rows
        if rows:
            print(table(rows))
        else:
            print("  (nothing to run on the chosen backends)")
        print(f"({time.perf_counter() - started:.1f} s including setup)", flush=True)
    if not options.no_json:
        write_results(options.json, options, results, servers, env)
        print(f"\nresults written to {options.json}")
    if options.markdown is not None:
        sections = [f"### {name}\n\n{markdown(rows)}\n" for name, rows in results.items() if rows]
        options.markdown.write_text("\n".join(sections), encoding="utf-8")
        print(f"tables written to {options.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
