"""The benchmark script's smallest run, on SQLite and the memory store: it must not rot.

``benchmarks/run.py`` is run as ``nox -s bench`` runs it, as a script in a process of its own,
with every default benchmark at its smallest (two rounds of a few operations each) and no
server; the test reads the results file and checks that every expected case is there with a
figure that makes sense.  The figures themselves are not judged: on a shared machine they say
nothing in a run this small.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "run.py"
SORTS = ("name", "allocated", "used", "remaining", "last_activity")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The results file of the smallest run of every default benchmark."""
    results = tmp_path_factory.mktemp("bench") / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARMOX_TEST_")}
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--only",
            "memory,sqlite",
            "--rounds",
            "2",
            "--spends",
            "8",
            "--memory-spends",
            "200",
            "--history",
            "100,600",
            "--profile-calls",
            "3",
            "--dashboard-members",
            "60",
            "--dashboard-calls",
            "1",
            "--closed-periods",
            "2",
            "--json",
            str(results),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    document: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
    return document


def _cases(report: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return {row["case"]: row for row in report["benchmarks"][name]}


def _sane(stat: dict[str, Any], rounds: int = 2) -> None:
    assert stat["rounds"] == rounds
    assert len(stat["values"]) == rounds
    assert 0 < stat["min"] <= stat["median"] <= stat["max"] < float("inf")


def test_every_default_benchmark_reports(report: dict[str, Any]) -> None:
    """Each default benchmark ran; those that need a server report nothing without one."""
    assert set(report["benchmarks"]) == {
        "spend",
        "concurrent-spend",
        "memory-spend",
        "profile",
        "dashboard",
    }
    assert report["benchmarks"]["concurrent-spend"] == []
    assert report["options"]["rounds"] == 2
    assert "sqlite" in report["servers"]


def test_spend_pairs_the_library_with_its_baseline(report: dict[str, Any]) -> None:
    """The SQLite spend compares the library with raw sqlite3, per round, counting statements:
    the baseline sends the three writes between BEGIN IMMEDIATE and COMMIT."""
    cases = _cases(report, "spend")
    assert set(cases) == {"sqlite: library", "sqlite: sqlite3"}
    for row in cases.values():
        _sane(row["spends/s"])
        _sane(row["us/spend"])
        assert row["round trips"] is None
    assert cases["sqlite: sqlite3"]["statements"] == 3
    assert cases["sqlite: sqlite3"]["BEGIN/COMMIT"] == 2
    assert cases["sqlite: library"]["statements"] >= 1
    ratio = cases["sqlite: sqlite3"]["library/this"]
    _sane(ratio)
    assert 0.01 < ratio["median"] < 100


def test_memory_spend_compares_the_service_with_the_port(report: dict[str, Any]) -> None:
    """The memory store's spends through the service and through the raw port, paired."""
    cases = _cases(report, "memory-spend")
    assert set(cases) == {"memory: service.spend", "memory: port: ledger.post + commit"}
    service = cases["memory: service.spend"]
    _sane(service["spends/s"])
    _sane(service["spends/CPU s"])
    assert isinstance(service["meets target (CPU)"], bool)
    _sane(cases["memory: port: ledger.post + commit"]["service/this"])


def test_profile_compares_a_long_history_with_a_short_one(report: dict[str, Any]) -> None:
    """Both histories on both stores, each against the shortest in the same round."""
    cases = _cases(report, "profile")
    assert len(cases) == 4
    for backend in ("memory", "sqlite"):
        rows = [row for case, row in cases.items() if case.startswith(f"{backend}: ")]
        assert len(rows) == 2
        assert rows[0]["vs smallest"]["values"] == [1.0, 1.0]
        _sane(rows[1]["vs smallest"])
        _sane(rows[1]["ms/view"])
        assert isinstance(rows[1]["meets target"], bool)
    assert all(row["statements"] for case, row in cases.items() if case.startswith("sqlite"))


def test_dashboard_covers_every_sort_both_ways_and_both_ends(report: dict[str, Any]) -> None:
    """Every sort key the dashboard offers, ascending and descending, first and last page."""
    cases = _cases(report, "dashboard")
    expected = {
        f"sqlite: {sort} {way}, {end} page"
        for sort in SORTS
        for way in ("asc", "desc")
        for end in ("first", "last")
    }
    assert set(cases) == expected
    for row in cases.values():
        _sane(row["ms/page"])
        _sane(row["vs name asc, first"])
        assert row["statements"] > 0
    assert cases["sqlite: name asc, first page"]["vs name asc, first"]["values"] == [1.0, 1.0]
