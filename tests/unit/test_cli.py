"""The command line: ``python -m armox_enterprise demo`` and its exit codes."""

from __future__ import annotations

import io
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from armox_enterprise import EnterpriseService, MemoryStore, StorageError, __version__, cli
from armox_enterprise.__main__ import main

ADAPTER = "armox_enterprise.adapters.sqlalchemy"


def demo_output(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI with ``argv``, assert it succeeded quietly, and return its stdout."""
    assert cli.run(list(argv)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def fake_adapter(monkeypatch: pytest.MonkeyPatch, from_url: Any) -> None:
    """Install a stand-in SQLAlchemy adapter whose ``SqlAlchemyStore.from_url`` is ``from_url``."""
    module = types.ModuleType(ADAPTER)
    store_class = type("SqlAlchemyStore", (), {"from_url": staticmethod(from_url)})
    setattr(module, "SqlAlchemyStore", store_class)  # noqa: B010 - a module built at run time
    monkeypatch.setitem(sys.modules, ADAPTER, module)


def test_demo_tells_the_story_with_the_right_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo on the memory store shows every step of the brief with consistent figures."""
    out = demo_output(capsys, "--database-url", "memory://", "demo")
    steps = re.findall(r"^(\d+)\. ", out, flags=re.MULTILINE)
    assert steps == [str(n) for n in range(1, 12)]
    facts = [
        # the organisation, its pool and its verified domain
        "Period 0: 2026-01-31 09:00 UTC to 2026-02-28 09:00 UTC",
        "Pool: 10,000 credits unallocated.",
        "DNS TXT record to publish: armox-enterprise-verification=",
        "Claiming gmail.com is refused (DomainNotClaimable)",
        # who is enrolled, and why not
        "dani@gmail.com",
        "edu@bol.com.br",
        "unverified  -> not_enrolled (EnrolmentReason.EMAIL_NOT_VERIFIED)",
        "gus@globex.example",
        "-> not_enrolled (EnrolmentReason.NO_ORGANISATION)",
        # allocation and generations
        "Pool: 6,000 credits unallocated.",
        "it gets the same transfer back; nothing is charged twice.",
        "It finishes: 450 are captured, the other 150 released.",
        "Remaining: Bruno 2,350, Carla 550.",
        # running out, requests and decisions
        "InsufficientCredits(available=550, requested=800, can_request=True)",
        "Carla requests 1,000 credits: pending.",
        "Ana approves Carla's request for 500 of the 1,000 asked: approved",
        "Ana rejects Bruno's: rejected",
        "Carla retries gen-4: 800 credits spent.",
        # the profile view and the dashboard
        "Enterprise Credits: allocated 1,500 | used 1,250 | remaining 250 | on hold 0",
        "request button disabled (a credit request is already pending)",
        "subscription management hidden: True",
        "Dani (signed up with gmail.com): is_enterprise=False",
        "granted 10,000 | allocated 4,500 | unallocated 5,500 | used 1,900 (19%)",
        "Pending: Bruno asks for 300",
        # the period turning over
        "The clock moves to 2026-02-28 09:01 UTC",
        "Bruno's pending request: expired with its period.",
        "Period 0 closed: 8,100 credits expired (the pool's 5,500 unallocated",
        "members' 2,600 unspent",
        "Period 1 opened: 10,000 credits granted.",
        "the pool has 8,000 unallocated.",
        "allocated 2,000 | used 0 | remaining 2,000 | on hold 0",
        "resets 2026-03-31 09:00 UTC",
        # the ledger
        "reconcile(): no problems.",
        "The memory store is discarded on exit.",
    ]
    missing = [fact for fact in facts if fact not in out]
    assert missing == []
    enrolled = re.findall(r"^\s+(\S+)\s+verified\s+-> enrolled \((\S+)\)$", out, re.MULTILINE)
    assert [reason for _, reason in enrolled] == ["EnrolmentReason.DOMAIN_MATCH"] * 2
    assert enrolled[0][0].startswith("bruno@acme-")
    free_mail = re.findall(r"-> not_enrolled \(EnrolmentReason.FREE_MAIL_PROVIDER\)", out)
    assert len(free_mail) == 2


def test_dashboard_table_lists_each_member_with_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The admin's table shows allocated, used, remaining, on hold and standing allotment."""
    out = demo_output(capsys, "--database-url", "memory://", "demo")
    rows = {
        cells[0]: cells[1:]
        for cells in (line.split() for line in out.splitlines())
        if cells and cells[0] in {"Ana", "Bruno", "Carla"} and len(cells) == 7
    }
    assert rows == {
        "Ana": ["admin", "0", "0", "0", "0", "0"],
        "Bruno": ["member", "3,000", "650", "2,350", "0", "2,000"],
        "Carla": ["member", "1,500", "1,250", "250", "0", "0"],
    }


def test_database_url_is_also_accepted_after_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``demo --database-url memory://`` works like the global option."""
    out = demo_output(capsys, "demo", "--database-url", "memory://")
    assert "store memory://" in out


def test_each_run_uses_a_fresh_organisation_on_the_same_store() -> None:
    """Running the demo twice on one store succeeds: ids, domain and users are per run."""
    store = MemoryStore()
    first, second = io.StringIO(), io.StringIO()
    assert cli.run_demo(store, first, run_id="one") == 0
    assert cli.run_demo(store, second, run_id="two") == 0
    assert "Organisation 'Acme one' created" in first.getvalue()
    assert "Organisation 'Acme two' created" in second.getvalue()
    assert len(store.organisations) == 2
    assert "reconcile(): no problems." in second.getvalue()


def test_a_random_run_id_is_used_when_none_is_given() -> None:
    """Two runs without a run id name their organisations differently."""
    store = MemoryStore()
    for _ in range(2):
        assert cli.run_demo(store, io.StringIO()) == 0
    names = {org.name for org in store.organisations.values()}
    assert len(names) == 2


def test_main_module_runs_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m armox_enterprise`` calls the same entry point."""
    assert main(["--database-url", "memory://", "demo"]) == 0
    assert "reconcile(): no problems." in capsys.readouterr().out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``--version`` prints the version and exits with 0."""
    assert cli.run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == __version__


def test_help_exits_with_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` documents the command and the database option."""
    assert cli.run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "demo" in out
    assert "--database-url" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command the CLI prints its usage on stderr and exits with 2."""
    assert cli.run([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "usage:" in captured.err
    assert "error: choose a command" in captured.err


@pytest.mark.parametrize("argv", [["frobnicate"], ["demo", "--bogus"], ["--database-url"]])
def test_bad_arguments_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown commands and options, or a missing value, exit with 2."""
    assert cli.run(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_default_database_is_an_sqlite_file_in_the_current_directory() -> None:
    """The default URL names ``armox-enterprise.sqlite3`` beside the caller."""
    assert cli.DEFAULT_DATABASE_URL == "sqlite:///armox-enterprise.sqlite3"


def test_memory_url_opens_a_memory_store() -> None:
    """``memory://`` selects a new in-memory store, without SQLAlchemy."""
    first, second = cli.open_store("memory://"), cli.open_store("memory://")
    assert isinstance(first, MemoryStore)
    assert first is not second


def test_missing_sqlalchemy_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the adapter's dependencies the CLI names the extra and exits with 2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, ADAPTER, None)  # makes the import raise ImportError
    assert cli.run(["demo"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "'sqlalchemy' extra" in captured.err
    assert "pip install 'armox-enterprise[sqlalchemy]'" in captured.err
    assert list(tmp_path.iterdir()) == []


def test_missing_database_driver_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL whose driver is not installed exits with 2 and points at the extras."""

    def from_url(url: str) -> object:
        raise ModuleNotFoundError("No module named 'psycopg'")

    fake_adapter(monkeypatch, from_url)
    assert cli.run(["--database-url", "postgresql+psycopg://app@db/armox", "demo"]) == 2
    err = capsys.readouterr().err
    assert "driver" in err
    assert "'postgresql' and 'mysql' extras" in err


def test_unusable_database_is_a_configuration_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database that cannot be opened exits with 2; the message hides the password."""

    def from_url(url: str) -> object:
        raise RuntimeError("connection refused")

    fake_adapter(monkeypatch, from_url)
    url = "postgresql+psycopg://app:s3cret@db.internal:5432/armox"
    assert cli.run(["--database-url", url, "demo"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the database postgresql+psycopg://app:***@db.internal:5432/armox" in err
    assert "connection refused" in err
    assert "s3cret" not in err


def test_sql_store_is_opened_from_the_url_with_its_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``open_store`` builds the SQL store from the URL and creates its tables."""
    calls: list[str] = []

    class Store(MemoryStore):
        def create_schema(self) -> None:
            calls.append("create_schema")

    def from_url(url: str) -> Store:
        calls.append(url)
        return Store()

    fake_adapter(monkeypatch, from_url)
    store = cli.open_store("sqlite:///somewhere.sqlite3")
    assert isinstance(store, Store)
    assert calls == ["sqlite:///somewhere.sqlite3", "create_schema"]


def test_library_error_exits_with_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An error raised by the library is printed as ``error: <message>`` with exit code 1."""

    def failing_demo(*args: object, **kwargs: object) -> int:
        raise StorageError("the disk is full")

    monkeypatch.setattr(cli, "run_demo", failing_demo)
    assert cli.run(["--database-url", "memory://", "demo"]) == 1
    assert capsys.readouterr().err == "error: the disk is full\n"


def test_ledger_that_does_not_reconcile_exits_with_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """If reconciliation finds problems, the demo lists them on stderr and exits with 1."""
    monkeypatch.setattr(EnterpriseService, "reconcile", lambda self, org_id: ["pool is off by 1"])
    assert cli.run(["--database-url", "memory://", "demo"]) == 1
    captured = capsys.readouterr()
    assert "error: pool is off by 1" in captured.err
    assert "1 problem(s)" in captured.out
    assert "Done." not in captured.out


def test_demo_runs_twice_on_the_same_sqlite_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default embedded SQLite database takes any number of demo runs."""
    pytest.importorskip("sqlalchemy", reason="the sqlalchemy extra is not installed")
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        out = demo_output(capsys, "demo")
        assert "reconcile(): no problems." in out
        assert "The data stays in sqlite:///armox-enterprise.sqlite3" in out
    assert (tmp_path / "armox-enterprise.sqlite3").is_file()
