"""The measuring part of the harness: benchmarks by name, paired rounds, and their summaries.

Every comparison is *paired*: the cases being compared run in the same process, on the same
database, in rounds, and each round runs every case once, in an order shuffled anew for the
round (``A B C``, then ``C A B``, ...).  A drift of the machine (another process waking up, the
disk's cache filling) then falls on every case alike.  A case's figure is the median of its
rounds, with the spread ``[min-max]`` beside it; a ratio between two cases is computed within
each round first, and those per-round ratios are summarised the same way.  On a shared
two-core machine the absolute figures move between runs far more than these ratios do.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

Row = dict[str, Any]
Options = argparse.Namespace
#: A case of a round: its setup (untimed) returns the work to time.
Setup = Callable[[], Callable[[], None]]

#: The backends a benchmark may run on, in the order they are reported.
BACKENDS = ("memory", "sqlite", "postgresql", "mariadb")


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: what it measures, how to run it, and whether it runs by default."""

    name: str
    description: str
    run: Callable[[Options], list[Row]]
    default: bool = True


REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    name: str, description: str, *, default: bool = True
) -> Callable[[Callable[[Options], list[Row]]], Callable[[Options], list[Row]]]:
    """Register the decorated function under ``name``.

    ``default`` says whether a run that names no benchmark includes it (the long analytics
    ones and the aliases kept for older commands do not).
    """

    def register(func: Callable[[Options], list[Row]]) -> Callable[[Options], list[Row]]:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = Benchmark(name, description, func, default)
        return func

    return register


# ---------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class Stat:
    """A figure measured once per round: its median and spread over the rounds.

    Attributes:
        values: one value per round, in round order.
        digits: decimals to print (``None``: chosen by size).
    """

    values: tuple[float, ...]
    digits: int | None = None

    @classmethod
    def of(cls, values: Iterable[float], digits: int | None = None) -> Stat:
        """A summary of ``values`` (at least one)."""
        found = tuple(float(v) for v in values)
        if not found:
            raise ValueError("a Stat needs at least one value")
        return cls(found, digits)

    @property
    def median(self) -> float:
        """The median over the rounds."""
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        """The smallest value of a round."""
        return min(self.values)

    @property
    def high(self) -> float:
        """The largest value of a round."""
        return max(self.values)

    def text(self) -> str:
        """``median [min-max]``, as the tables print it."""
        return f"{_number(self.median, self.digits)} [{self._bounds()}]"

    def _bounds(self) -> str:
        return f"{_number(self.low, self.digits)}\u2013{_number(self.high, self.digits)}"

    def as_json(self) -> dict[str, Any]:
        """The summary and the per-round values, for the JSON file."""
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "rounds": len(self.values),
            "values": list(self.values),
        }


def _number(value: float, digits: int | None) -> str:
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
    return f"{value:,.{digits}f}"


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """The per-round ratios ``numerators[i] / denominators[i]`` of two paired series."""
    if len(numerators) != len(denominators):
        raise ValueError("paired series must have one value per round each")
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


# ---------------------------------------------------------------------------- rounds


def timed(setup: Setup) -> tuple[float, float]:
    """Build ``setup``'s fixture (untimed), collect its young garbage, then time its work:
    ``(wall seconds, this process's CPU seconds)``.

    The collector stays enabled while the work runs, as in a host.  Only the young
    generations are collected here (a full collection takes tens of milliseconds once
    SQLAlchemy is loaded); :func:`interleaved` makes a full one before each round.
    """
    work = setup()
    gc.collect(1)
    cpu = time.process_time()
    start = time.perf_counter()
    work()
    wall = time.perf_counter() - start
    return wall, time.process_time() - cpu


def interleaved(
    cases: Mapping[str, Setup],
    rounds: int,
    rng: random.Random,
    *,
    warm_up: bool = True,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Run every case once per round, in an order shuffled per round; return each case's
    wall seconds, one per round (and, into ``cpu`` when given, its CPU seconds).

    With ``warm_up``, one round is run first and not kept (connections opened, statements
    prepared, caches filled).
    """
    names = list(cases)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds + (1 if warm_up else 0)):
        order = names[:]
        rng.shuffle(order)
        gc.collect()
        for name in order:
            wall, used = timed(cases[name])
            if not warm_up or index > 0:
                seconds[name].append(wall)
                if cpu is not None:
                    cpu.setdefault(name, []).append(used)
    return seconds


# ---------------------------------------------------------------------------- tables


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Stat):
        return value.text()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number(value, None)
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


def markdown(rows: Sequence[Row]) -> str:
    """Return ``rows`` as a Markdown table (the first column left-aligned, the rest right)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(["---", *("---:" for _ in columns[1:])]) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(row.get(col)) for col in columns) + " |" for row in rows)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- results


_PACKAGES = ("armox-enterprise", "sqlalchemy", "psycopg", "psycopg-binary", "pymysql")


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _source() -> dict[str, Any]:
    """The commit the library was measured at, and whether ``src/`` differed from it."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "src")
    digest = hashlib.sha256()
    for path in sorted((root / "src").rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "commit": git("rev-parse", "HEAD"),
        "src_changed": bool(changed) if changed is not None else None,
        # What was measured when src/ differed from the commit: the sources' digest.
        "src_sha256": digest.hexdigest(),
    }


def environment() -> dict[str, Any]:
    """Describe where the figures were measured: machine, Python, packages, commit."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "packages": _versions(),
        "source": _source(),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Stat):
        return value.as_json()
    return value


def write_results(
    path: Path,
    options: Options,
    results: Mapping[str, list[Row]],
    servers: Mapping[str, str],
    env: Mapping[str, Any],
) -> None:
    """Write the run's results, options, environment (as :func:`environment` described it
    when the run started) and server versions to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "options": {
            k: v
            for k, v in vars(options).items()
            if k not in ("names", "list") and not k.endswith("_url")
        },
        "environment": dict(env),
        "servers": dict(servers),
        "benchmarks": {
            name: [{k: _jsonable(v) for k, v in row.items()} for row in rows]
            for name, rows in results.items()
        },
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
