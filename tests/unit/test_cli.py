"""The command line: the demo, the operations commands, their output and exit codes."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shlex
import sys
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

from armox_enterprise import (
    DomainVerificationFailed,
    EnterpriseService,
    MemoryStore,
    Organisation,
    StorageError,
    __version__,
    cli,
)
from armox_enterprise.__main__ import main
from armox_enterprise.testing import FrozenClock, Scenario

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
    assert steps == [str(n) for n in range(1, 14)]
    facts = [
        # the organisation, its pool and its verified domain
        "Period 0: 2026-01-31 00:00 Asia/Kolkata to 2026-02-28 00:00 Asia/Kolkata",
        "in UTC: 2026-01-30 18:30 UTC to 2026-02-27 18:30 UTC",
        "Pool: 10,000 credits unallocated.",
        "DNS TXT record to publish: armox-enterprise-verification=",
        "Claiming gmail.com is refused (DomainNotClaimable)",
        # who is enrolled, and why not
        "dani@gmail.com",
        "edu@bol.com.br",
        "unverified  -> not_enrolled (email_not_verified)",
        "gus@globex.example",
        "-> not_enrolled (no_organisation)",
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
        "The clock moves to 2026-02-27 18:31 UTC (2026-02-28 00:01 Asia/Kolkata)",
        "Bruno's pending request: expired with its period.",
        "Period 0 closed: 8,100 credits expired (the pool's 5,500 unallocated",
        "members' 2,600 unspent",
        "Period 1 opened: 10,000 credits granted.",
        "the pool has 8,000 unallocated.",
        "allocated 2,000 | used 0 | remaining 2,000 | on hold 0",
        "resets 2026-03-31 00:00 Asia/Kolkata (2026-03-30 18:30 UTC)",
        # the ledger
        "reconcile(): no problems.",
        "The memory store is discarded on exit.",
    ]
    missing = [fact for fact in facts if fact not in out]
    assert missing == []
    enrolled = re.findall(r"^\s+(\S+)\s+verified\s+-> enrolled \((\S+)\)$", out, re.MULTILINE)
    assert [reason for _, reason in enrolled] == ["domain_match"] * 2
    assert enrolled[0][0].startswith("bruno@acme-")
    free_mail = re.findall(r"-> not_enrolled \(free_mail_provider\)", out)
    assert len(free_mail) == 2
    assert "EnrolmentReason" not in out  # values, not the enum's reprs


def test_demo_shows_the_zone_the_valid_through_date_and_a_team(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo's organisation counts periods from local midnight in Asia/Kolkata, the
    profile gives the inclusive local last day, and a team's budget pays its members."""
    out = demo_output(capsys, "--database-url", "memory://", "demo")
    assert "Time zone Asia/Kolkata: periods start at local midnight on the 31st." in out
    # Period 0 ends at local midnight on 28 February, so its last local day is the 27th.
    assert "valid through 2026-02-27 (local)" in out
    profile_lines = re.findall(r"^\s+valid through (\S+) \((\S+)\); resets (.+)$", out, re.M)
    assert (
        profile_lines
        == [("2026-02-27", "Asia/Kolkata", "at local midnight, 2026-02-27 18:30 UTC")] * 2
    )
    assert "valid through 2026-03-30; resets 2026-03-31 00:00 Asia/Kolkata" in out
    team_step = out.split("11. A team with a budget of its own", 1)[1].split("\n12. ", 1)[0]
    for fact in (
        "Ana creates the team 'Video', funds its budget with 1,500 credits",
        "Ana allocates 600 credits to Carla: they come from the team's budget.",
        "Ana delegates the team to Carla, who allocates 400 of its budget to Bruno.",
        "Dashboard, team Video: 2 members | budget 1,500 | allocated 1,000 | used 250 | "
        "remaining 500",
        "Pool: 6,500 credits unallocated.",
        "Carla's profile: team 'Video', 500 credits left in its budget;",
        "Enterprise Credits: allocated 600 | used 250 | remaining 350 | on hold 0",
    ):
        assert fact in team_step
    limits = out.split("\n12. ", 1)[1].split("\n13. ", 1)[0]
    assert limits.startswith("A team cap and a soft limit\n")
    for fact in (
        "Bruno has 2,400 credits and spends 2,430 on gen-6: 30 are lent on grace by the team's",
        "(30 of his 240 of grace this period).",
        "A credit request for 240 credits was filed for Bruno automatically, once,",
        "Bruno's cap: 3,000 (his team's); 2,430 spent or held, 570 left under it.",
    ):
        assert fact in limits
    assert out.split("\n13. ", 1)[1].startswith("Reconciliation\n   reconcile(): no problems.")


def test_demo_reconciles_with_the_team_on_the_store() -> None:
    """After the demo, the store's ledger, the team's budget included, reconciles."""
    store = MemoryStore()
    assert cli.run_demo(store, io.StringIO(), run_id="tz") == 0
    [org] = store.organisations.values()
    assert org.time_zone == "Asia/Kolkata"
    assert org.current_period_index == 1
    service = EnterpriseService(store, clock=FrozenClock(datetime(2026, 3, 1, tzinfo=timezone.utc)))
    assert service.reconcile(org.id) == []
    [team] = service.dashboard("ana-tz", org.id).teams
    # The team's budget lent Bruno 30 credits on grace.
    assert (team.name, team.budget, team.remaining) == ("Video", 1_500, 470)
    [request] = service.list_requests("ana-tz", org.id)
    assert (request.user_id, request.automatic, request.amount) == ("bruno-tz", True, 240)


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
    assert "pip install '.[sqlalchemy]'" in captured.err
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


# ---------------------------------------------------------------------- operations commands


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr is in an interactive shell."""

    def isatty(self) -> bool:
        return True


class ClosedPipe(io.StringIO):
    """A stdout whose reader went away (``| head``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@attrs.frozen
class Result:
    """What one command line printed, and its exit code."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def no_database_url_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests choose their database themselves, whatever the shell exports."""
    monkeypatch.delenv(cli.DATABASE_URL_ENV, raising=False)


def command(
    scenario: Scenario | None,
    *argv: str,
    stderr: io.StringIO | None = None,
    stdout: io.StringIO | None = None,
    **options: Any,
) -> Result:
    """Run a command line on ``scenario``'s store, clock and DNS (a fresh memory store if none)."""
    out = io.StringIO() if stdout is None else stdout
    err = io.StringIO() if stderr is None else stderr
    if scenario is not None:
        options = {
            "store": scenario.store,
            "clock": scenario.clock,
            "dns": scenario.dns,
            **options,
        }
    elif "store" not in options:
        argv = ("--database-url", "memory://", *argv)
    code = cli.run(list(argv), stdout=out, stderr=err, **options)
    return Result(code, out.getvalue(), err.getvalue())


def ok(scenario: Scenario | None, *argv: str, **options: Any) -> Result:
    """Run a command line that must succeed without a word on stderr."""
    result = command(scenario, *argv, **options)
    assert (result.code, result.err) == (0, "")
    return result


def pool(scenario: Scenario) -> int:
    """The pool's unallocated credits now."""
    return scenario.service.dashboard(scenario.admin, scenario.org_id).pool.unallocated


def remaining(scenario: Scenario, user: str) -> int:
    credits = scenario.service.profile(user).credits
    assert credits is not None
    return credits.remaining


def test_org_create_prints_the_new_organisation_and_its_first_period() -> None:
    """``org create`` makes the organisation with its admin, pool grant and settings."""
    store = MemoryStore()
    clock = FrozenClock(datetime(2026, 1, 31, 9, 0, tzinfo=timezone.utc))
    argv = ["org", "create", "Acme", "--admin", "ana", "--admin-email", "ana@acme.example"]
    extra = ["--admin-name", "Ana", "--allowance", "10000", "--seat-limit", "25"]
    result = ok(None, *argv, *extra, "--join-mode", "request", store=store, clock=clock)
    [org] = store.organisations.values()
    assert result.out.splitlines() == [
        f"Created organisation 'Acme': {org.id}",
        "First admin: ana <ana@acme.example>",
        "Monthly allowance: 10,000 credits, granted each period",
        "Join mode: request; seat limit 25",
        "Time zone: UTC",
        "Period 0: 2026-01-31 09:00 UTC to 2026-02-28 09:00 UTC (valid through 2026-02-28, UTC)",
        "Alerts: members at 80%, 100%; pool at 90%",
    ]
    service = EnterpriseService(store, clock=clock)
    assert service.dashboard("ana", org.id).pool.granted == 10_000
    assert [m.display_name for m in service.list_members("ana", org.id)] == ["Ana"]


def test_org_create_json_is_the_organisation_with_its_current_period() -> None:
    """With ``--json`` the organisation comes back as one object, instants in ISO 8601."""
    store = MemoryStore()
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
    argv = ["--json", "org", "create", "Acme", "--admin", "ana", "--admin-email", "a@acme.example"]
    data = ok(None, *argv, store=store, clock=clock).json()
    assert data["id"] in store.organisations
    assert data["name"] == "Acme"
    assert data["monthly_allowance"] == 0
    assert data["join_mode"] == "automatic"
    assert data["seat_limit"] is None
    assert data["hold_lifetime"] == 3600.0
    assert data["rollover"] == {"pool_carry_over_cap": 0, "member_remainder": "expire"}
    assert data["current_period"] == {
        "index": 0,
        "start": "2026-03-01T00:00:00.000000Z",
        "end": "2026-04-01T00:00:00.000000Z",
    }


def test_org_create_with_a_bad_email_is_a_library_error() -> None:
    """The library's validation answers with exit code 1 and its message."""
    argv = ["org", "create", "Acme", "--admin", "ana", "--admin-email", "not-an-address"]
    result = command(None, *argv)
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("error: ")
    assert "not-an-address" in result.err


@pytest.mark.parametrize(
    "argv",
    [
        ["org", "create", "Acme", "--admin", "ana"],
        [
            "org",
            "create",
            "Acme",
            "--admin",
            "a",
            "--admin-email",
            "a@b.example",
            "--join-mode",
            "x",
        ],
        ["org", "create", "A", "--admin", "a", "--admin-email", "a@b.example", "--allowance", "-1"],
        ["org"],
        ["allocate", "bruno", "lots"],
        ["dashboard", "--page", "0"],
    ],
)
def test_malformed_command_lines_are_usage_errors(argv: list[str]) -> None:
    """Missing or malformed arguments and a group without its action exit with 2."""
    result = command(None, *argv)
    assert (result.code, result.out) == (2, "")
    assert "usage:" in result.err
    assert "error:" in result.err


def test_domains_add_prints_the_txt_record_to_publish(acme: Scenario) -> None:
    """The claim's TXT record is printed, and the claim enrols nobody until verified."""
    out = ok(acme, "--as", "admin", "domains", "add", "Beta.Example.").out
    [claim] = [c for c in acme.store.domains.values() if str(c.domain) == "beta.example"]
    assert out.splitlines() == [
        f"Claimed beta.example for organisation {acme.org_id}.",
        "It enrols nobody until it is verified. Publish this DNS TXT record on it:",
        f"  {claim.txt_record}",
        "then run: armox-enterprise domains verify beta.example",
    ]
    assert claim.verified_at is None


def test_domains_add_json_carries_the_claim_and_its_record(acme: Scenario) -> None:
    """``--json`` gives the claim with ``txt_record`` and ``verified``."""
    argv = ["--json", "--as", "admin", "domains", "add", "beta.example", "--include-subdomains"]
    data = ok(acme, *argv).json()
    assert data["domain"] == "beta.example"
    assert data["organisation_id"] == acme.org_id
    assert data["include_subdomains"] is True
    assert data["verified"] is False
    assert data["verified_at"] is None
    assert data["txt_record"].startswith("armox-enterprise-verification=")


def test_domains_verify_uses_the_resolver_it_is_given(acme: Scenario) -> None:
    """With the record published, ``domains verify`` marks the domain verified."""
    claim = acme.service.claim_domain("admin", acme.org_id, "beta.example")
    acme.dns.publish("beta.example", claim.txt_record)
    out = ok(acme, "domains", "verify", "beta.example", "--as", "admin").out
    assert out == (
        "beta.example is verified (since 2026-01-15 09:00 UTC): users who sign up with a "
        "verified address at it join the organisation.\n"
    )
    assert acme.service.sign_up("zoe", "zoe@beta.example", email_verified=True).enrolled


def test_domains_verify_without_the_record_fails_with_exit_one(acme: Scenario) -> None:
    """No TXT record: the library's DomainVerificationFailed, exit code 1."""
    acme.service.claim_domain("admin", acme.org_id, "beta.example")
    result = command(acme, "--as", "admin", "domains", "verify", "beta.example")
    assert result.code == 1
    assert result.err.startswith("error: TXT record 'armox-enterprise-verification=")
    assert "was not found on beta.example" in result.err


def test_domains_verify_without_dnspython_names_the_dns_extra(
    acme: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an injected resolver and without dnspython, exit 2 says which extra to install."""
    monkeypatch.setitem(sys.modules, "dns", None)
    monkeypatch.setitem(sys.modules, "dns.resolver", None)
    acme.service.claim_domain("admin", acme.org_id, "beta.example")
    result = command(acme, "--as", "admin", "domains", "verify", "beta.example", dns=None)
    assert (result.code, result.out) == (2, "")
    assert "pip install '.[dns]'" in result.err
    assert "'dns' extra" in result.err


def test_domains_verify_looks_up_dns_with_dnspython_by_default(
    acme: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an injected resolver the command asks dnspython, with its options."""
    claim = acme.service.claim_domain("admin", acme.org_id, "beta.example")
    asked = install_fake_dnspython(monkeypatch, {"beta.example": [[claim.txt_record.encode()]]})
    argv = ["domains", "verify", "beta.example", "--nameserver", "192.0.2.53"]
    ok(acme, "--as", "admin", *argv, "--dns-timeout", "2.5", dns=None)
    assert asked == [("beta.example", "TXT", 2.5, ["192.0.2.53"])]
    assert acme.service.list_domains("admin", acme.org_id)[-1].is_verified


def test_domains_list_and_remove(acme: Scenario) -> None:
    """``domains list`` shows each claim; ``domains remove`` gives one up."""
    acme.service.claim_domain("admin", acme.org_id, "beta.example")
    lines = ok(acme, "--as", "admin", "domains", "list").out.splitlines()
    assert lines[0].split() == ["domain", "status", "subdomains", "claimed", "TXT", "record"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["acme.example", "verified", "no"],
        ["beta.example", "unverified", "no"],
    ]
    out = ok(acme, "--as", "admin", "domains", "remove", "beta.example").out
    assert out == "Removed beta.example: it enrols nobody from now on; its members stay.\n"
    data = ok(acme, "--json", "--as", "admin", "domains", "list").json()
    assert [claim["domain"] for claim in data] == ["acme.example"]
    assert data[0]["verified"] is True


def test_removing_a_domain_the_organisation_does_not_hold_exits_with_one(acme: Scenario) -> None:
    """DomainNotFound is a library error."""
    result = command(acme, "--as", "admin", "domains", "remove", "nowhere.example")
    assert result.code == 1
    assert result.err == "error: the organisation holds no claim on nowhere.example\n"


def test_members_list_shows_every_active_member(acme: Scenario) -> None:
    """One row per member with role and standing allotment, then the count."""
    acme.service.set_standing_allotment("admin", acme.org_id, "member-1", 2_500)
    lines = ok(acme, "--as", "admin", "members", "list").out.splitlines()
    assert lines[0].split() == ["user", "role", "monthly", "name", "email", "joined"]
    assert [line.split()[:5] for line in lines[1:4]] == [
        ["admin", "admin", "0", "Admin", "admin@acme.example"],
        ["member-1", "member", "2,500", "Member-1", "member-1@acme.example"],
        ["member-2", "member", "0", "Member-2", "member-2@acme.example"],
    ]
    assert lines[4] == "3 active members."


def test_members_list_json_is_the_list_of_memberships(acme: Scenario) -> None:
    """``--json`` gives every membership's fields."""
    data = ok(acme, "--as", "admin", "--json", "members", "list").json()
    assert [m["user_id"] for m in data] == ["admin", "member-1", "member-2"]
    assert data[1] == {
        "organisation_id": acme.org_id,
        "user_id": "member-1",
        "email": "member-1@acme.example",
        "display_name": "Member-1",
        "role": "member",
        "joined_at": "2026-01-15T09:00:00.000000Z",
        "status": "active",
        "standing_allotment": 0,
        "removed_at": None,
        "spend_cap": None,
    }


def test_members_set_role_promotes_and_keeps_the_last_admin(acme: Scenario) -> None:
    """A member becomes an admin; the last admin cannot be demoted (exit 1)."""
    out = ok(acme, "--as", "admin", "members", "set-role", "member-1", "admin").out
    assert out == f"member-1 is now an admin of organisation {acme.org_id}.\n"
    ok(acme, "--as", "member-1", "members", "set-role", "admin", "member")
    result = command(acme, "--as", "member-1", "members", "set-role", "member-1", "member")
    assert result.code == 1
    assert result.err == "error: the organisation's last admin cannot be demoted\n"


def test_allocate_moves_credits_from_the_pool_to_the_member(acme: Scenario) -> None:
    """The pool goes down and the member's remaining credits up by the amount."""
    before_pool, before_member = pool(acme), remaining(acme, "member-1")
    out = ok(acme, "--as", "admin", "allocate", "member-1", "1500").out
    assert re.fullmatch(r"Allocated 1,500 credits from the pool to member-1 \(\S+\)\.\n", out)
    assert pool(acme) == before_pool - 1_500
    assert remaining(acme, "member-1") == before_member + 1_500


def test_allocate_json_is_the_transfer(acme: Scenario) -> None:
    """``--json`` gives the ledger transfer."""
    data = ok(acme, "--json", "--as", "admin", "allocate", "member-2", "40").json()
    assert data["kind"] == "allocate"
    assert (data["debit_account"], data["credit_account"]) == ("pool", "member:member-2")
    assert (data["amount"], data["actor"], data["period_index"]) == (40, "admin", 0)


def test_teams_commands_give_a_team_a_budget_its_member_draws_on(acme: Scenario) -> None:
    """``teams create``, ``fund``, ``assign``, ``delegate``, ``list``, ``reclaim``,
    ``rename`` and ``delete``; an allocation to the team's member names the team's budget."""
    team = ok(acme, "--json", "--as", "admin", "teams", "create", "Design").json()
    team_id = team["id"]
    assert team["name"] == "Design"
    out = ok(acme, "--as", "admin", "teams", "fund", team_id, "300").out
    assert re.fullmatch(rf"Moved 300 credits from the pool to team {team_id} \(\S+\)\.\n", out)
    out = ok(acme, "--as", "admin", "teams", "assign", "member-1", team_id).out
    assert out == f"member-1 is now in team {team_id}.\n"
    out = ok(acme, "--as", "admin", "allocate", "member-1", "100").out
    assert out.startswith(f"Allocated 100 credits from team {team_id}'s budget to member-1 (")
    out = ok(acme, "--as", "admin", "teams", "delegate", "member-1").out
    assert out == f"member-1 manages team {team_id}.\n"
    ok(acme, "--as", "member-1", "reclaim", "member-1", "10")
    lines = ok(acme, "--as", "admin", "teams", "list").out.splitlines()
    assert lines[1].split() == ["Design", team_id, "1", "300", "90", "0", "210"]
    ok(acme, "--as", "admin", "teams", "reclaim", team_id, "210")
    ok(acme, "--as", "admin", "teams", "rename", team_id, "Studio")
    refused = command(acme, "--as", "admin", "teams", "delete", team_id)
    assert (refused.code, refused.err) == (
        1,
        "error: team 'Studio' has 1 member(s): assign them elsewhere first\n",
    )
    ok(acme, "--as", "admin", "teams", "assign", "member-1", "--none")
    out = ok(acme, "--as", "admin", "teams", "delete", team_id).out
    assert out == f"Deleted team Studio ({team_id}).\n"
    assert ok(acme, "--as", "admin", "teams", "list").out == "No teams.\n"


def test_allocating_more_than_the_pool_holds_is_refused(acme: Scenario) -> None:
    """InsufficientPoolCredits exits with 1; with ``--json`` the error carries its figures."""
    available = pool(acme)
    argv = ["--as", "admin", "allocate", "member-1", str(available + 1)]
    result = command(acme, *argv)
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("error: ")
    result = command(acme, "--json", *argv)
    assert (result.code, result.out) == (1, "")
    error = json.loads(result.err)["error"]
    assert error["type"] == "InsufficientPoolCredits"
    assert (error["available"], error["requested"]) == (available, available + 1)
    assert error["exit_code"] == 1
    assert pool(acme) == available


def test_reclaim_returns_credits_to_the_pool(acme: Scenario) -> None:
    """``reclaim`` moves a member's credits back to the pool."""
    before = pool(acme)
    out = ok(acme, "--as", "admin", "reclaim", "member-2", "300").out
    assert out.startswith("Reclaimed 300 credits from member-2 to the pool (")
    assert (pool(acme), remaining(acme, "member-2")) == (before + 300, 700)


def test_top_up_with_a_key_happens_once(acme: Scenario) -> None:
    """The same idempotency key twice adds credits once and prints the same transfer."""
    before = pool(acme)
    first = ok(acme, "--as", "admin", "top-up", "5000", "--key", "invoice-7").out
    again = ok(acme, "--as", "admin", "top-up", "5000", "--key", "invoice-7").out
    assert re.fullmatch(r"Added 5,000 credits to the pool \((\S+)\)\.\n", first)
    transfer_id = first.split("(")[1].split(")")[0]
    assert again == (
        "Replay of idempotency key 'invoice-7': nothing changed. The first call added 5,000 "
        f"credits to the pool ({transfer_id}).\n"
    )
    assert pool(acme) == before + 5_000
    result = command(acme, "--as", "admin", "top-up", "6000", "--key", "invoice-7")
    assert result.code == 1
    assert result.err == (
        "error: idempotency key 'invoice-7' was used for another call: top_up with amount "
        "5,000 (this call has amount 6,000)\n"
    )


def test_requests_list_approve_and_reject(acme: Scenario) -> None:
    """An admin lists the pending requests, approves one for less and rejects the other."""
    first = acme.service.request_credits("member-1", acme.org_id, 800, note="launch")
    second = acme.service.request_credits("member-2", acme.org_id, 900)
    lines = ok(acme, "--as", "admin", "requests", "list").out.splitlines()
    assert lines[0].split() == ["request", "user", "amount", "approved", "status", "asked", "note"]
    assert [line.split()[:5] for line in lines[1:]] == [
        [first.id, "member-1", "800", "-", "pending"],
        [second.id, "member-2", "900", "-", "pending"],
    ]
    assert lines[1].endswith("launch")
    argv = ["requests", "approve", first.id, "--amount", "500", "--note", "for now"]
    out = ok(acme, "--as", "admin", *argv).out
    assert out == (
        f"Approved request {first.id}: 500 of the 800 credits member-1 asked for moved from "
        "the pool to them.\n"
    )
    assert remaining(acme, "member-1") == 1_500
    data = ok(
        acme, "--json", "--as", "admin", "requests", "reject", second.id, "--note", "no"
    ).json()
    assert (data["id"], data["status"], data["decision_note"]) == (second.id, "rejected", "no")
    assert ok(acme, "--as", "admin", "requests", "list").out == "No pending credit requests.\n"
    listed = ok(acme, "--json", "--as", "admin", "requests", "list", "--status", "all").json()
    assert [(r["status"], r["approved_amount"]) for r in listed] == [
        ("approved", 500),
        ("rejected", None),
    ]


def test_approving_a_team_members_request_names_the_teams_budget(acme: Scenario) -> None:
    """``requests approve`` says where the credits came from, as the approval transfer
    debited it: a team member's from their team's budget (for the team's manager, too, and on
    a replay), a member with no team's from the pool; the team's manager lists their team's
    requests, and another member's request is, for them, an unknown id."""
    svc, org = acme.service, acme.org_id
    team = svc.create_team("admin", org, "Design")
    svc.assign_team("admin", org, "member-1", team.id)
    svc.assign_team("admin", org, "member-2", team.id)
    svc.fund_team("admin", org, team.id, 300)
    svc.delegate_team("admin", org, "member-1")
    first = svc.request_credits("member-2", org, 100)
    loner = svc.request_credits("admin", org, 70)  # the admin is in no team
    listed = ok(acme, "--json", "--as", "member-1", "requests", "list").json()
    assert [r["id"] for r in listed] == [first.id]
    out = ok(acme, "--as", "admin", "requests", "approve", first.id).out
    assert out == (
        f"Approved request {first.id}: 100 of the 100 credits member-2 asked for moved from "
        f"team {team.id}'s budget to them.\n"
    )
    second = svc.request_credits("member-2", org, 50)
    out = ok(acme, "--as", "member-1", "requests", "approve", second.id, "--key", "k").out
    assert out.endswith(f"moved from team {team.id}'s budget to them.\n")
    again = ok(acme, "--as", "member-1", "requests", "approve", second.id, "--key", "k").out
    assert again.startswith("Replay of idempotency key 'k': nothing changed.")
    assert again.endswith(f"moved from team {team.id}'s budget to them.\n")
    hidden = command(acme, "--as", "member-1", "requests", "approve", loner.id)
    assert (hidden.code, hidden.err) == (1, f"error: credit request {loner.id} does not exist\n")
    out = ok(acme, "--as", "admin", "requests", "approve", loner.id).out
    assert out.endswith("70 credits admin asked for moved from the pool to them.\n")


def test_deciding_a_decided_request_exits_with_one(acme: Scenario) -> None:
    """A request is decided once; the second decision is an InvalidTransition."""
    request = acme.service.request_credits("member-1", acme.org_id, 100)
    ok(acme, "--as", "admin", "requests", "reject", request.id)
    result = command(acme, "--as", "admin", "requests", "approve", request.id)
    assert result.code == 1
    assert result.err.startswith("error: ")


def test_a_member_lists_only_their_own_requests(acme: Scenario) -> None:
    """``requests list`` acts as any member: a member sees their own requests."""
    mine = acme.service.request_credits("member-1", acme.org_id, 100)
    acme.service.request_credits("member-2", acme.org_id, 200)
    data = ok(acme, "--json", "--as", "member-1", "requests", "list").json()
    assert [r["id"] for r in data] == [mine.id]


def test_profile_shows_the_enterprise_credits_section(acme: Scenario) -> None:
    """A member's profile: badge, this period's figures, the request button."""
    acme.service.spend("member-1", acme.org_id, 250, generation_id="gen-1")
    request = acme.service.request_credits("member-1", acme.org_id, 400)
    lines = ok(acme, "profile", "member-1").out.splitlines()
    assert lines == [
        f"member-1: Enterprise badge 'Acme' (member of {acme.org_id})",
        "Enterprise Credits, 2026-01-15 09:00 UTC to 2026-02-15 09:00 UTC "
        "(valid through 2026-02-15, UTC):",
        "  allocated 1,000 | used 250 | remaining 750 | on hold 0",
        "  request button disabled (a credit request is already pending)",
        f"  pending request {request.id}: 400 credits, asked 2026-01-15 09:00 UTC",
        "Subscription management: hidden",
    ]


def test_profile_of_an_outsider_and_as_json(acme: Scenario) -> None:
    """An outsider's profile says so; ``--json`` gives the view's fields."""
    assert ok(acme, "profile", "stranger").out == (
        "stranger is not an Enterprise member: the host shows its usual page.\n"
    )
    data = ok(acme, "--json", "profile", "member-2").json()
    assert (data["is_enterprise"], data["badge"], data["role"]) == (True, "Acme", "member")
    assert data["credits"]["remaining"] == 1_000
    assert data["credits"]["resets_at"] == "2026-02-15T09:00:00.000000Z"
    assert data["subscription_management_hidden"] is True


def test_dashboard_shows_the_pool_members_and_pending_requests(acme: Scenario) -> None:
    """The pool line, a member table with figures and the pending requests."""
    acme.service.spend("member-2", acme.org_id, 600, generation_id="gen-1")
    acme.service.request_credits("member-2", acme.org_id, 700, note="more")
    lines = ok(acme, "--as", "admin", "dashboard").out.splitlines()
    assert lines[0] == f"Acme ({acme.org_id})"
    assert lines[1] == "Period 0: 2026-01-15 09:00 UTC to 2026-02-15 09:00 UTC"
    assert lines[2] == (
        "Pool: granted 10,000 | topped up 0 | carried over 0 | allocated 2,000 | "
        "unallocated 8,000 | used 600 (6%)"
    )
    table = [line.split()[:8] for line in lines[4:8]]
    assert table == [
        ["member", "user", "role", "allocated", "used", "remaining", "on", "hold"],
        ["Admin", "admin", "admin", "0", "0", "0", "0", "0"],
        ["Member-1", "member-1", "member", "1,000", "0", "1,000", "0", "0"],
        ["Member-2", "member-2", "member", "1,000", "600", "400", "0", "0"],
    ]
    assert lines[8] == "Members 1-3 of 3, sorted by name (ascending)."
    assert lines[10] == "Pending requests (1):"
    assert lines[12].split()[1:3] == ["member-2", "700"]


def test_dashboard_pages_and_sorts_the_member_table(acme: Scenario) -> None:
    """``--sort used --desc --page 2 --page-size 1`` shows the second biggest spender."""
    acme.service.spend("member-2", acme.org_id, 600, generation_id="gen-1")
    acme.service.spend("member-1", acme.org_id, 100, generation_id="gen-2")
    argv = ["dashboard", "--sort", "used", "--desc", "--page", "2", "--page-size", "1"]
    lines = ok(acme, "--as", "admin", *argv).out.splitlines()
    assert lines[5].split()[:2] == ["Member-1", "member-1"]
    assert lines[6] == "Members 2-2 of 3, sorted by used (descending)."
    assert lines[7] == "Next page: --page 3"
    data = ok(acme, "--json", "--as", "admin", *argv).json()
    assert [row["user_id"] for row in data["members"]] == ["member-1"]
    assert data["total_members"] == 3
    assert data["page"] == {"sort": "used", "descending": True, "offset": 1, "limit": 1}
    assert data["pool"]["used"] == 700
    assert data["pending_requests"] == []


def test_a_member_cannot_see_the_dashboard(acme: Scenario) -> None:
    """Admin commands refuse members: PermissionDenied, exit 1."""
    result = command(acme, "--as", "member-1", "dashboard")
    assert result.code == 1
    assert result.err.startswith("error: ")
    assert result.out == ""


def test_admin_commands_need_the_acting_user(acme: Scenario) -> None:
    """Without ``--as`` the command says what is missing and exits with 2."""
    result = command(acme, "members", "list")
    assert (result.code, result.out) == (2, "")
    assert (
        result.err == "error: 'members list' acts as a user of the organisation: pass --as USER\n"
    )
    result = command(acme, "--json", "allocate", "member-1", "5")
    error = json.loads(result.err)["error"]
    assert error == {
        "type": "UsageError",
        "message": "'allocate' acts as a user of the organisation: pass --as USER",
        "exit_code": 2,
    }


def test_the_organisation_defaults_to_the_acting_users(
    acme: Scenario, globex: Organisation
) -> None:
    """``--org`` is optional for members; an outsider is told to pass it; others' are hidden."""
    data = ok(acme, "--json", "--as", "globex-admin", "members", "list").json()
    assert [m["organisation_id"] for m in data] == [globex.id]
    result = command(acme, "--as", "stranger", "members", "list")
    assert result.code == 1
    assert result.err == (
        "error: user stranger is not an active member of any organisation: --as must name a "
        "member of the organisation 'members list' acts in (an admin, for the admin "
        "commands)\n"
    )
    assert "--org" not in result.err  # it cannot help a user who belongs nowhere
    result = command(acme, "--as", "globex-admin", "--org", acme.org_id, "members", "list")
    assert result.code == 1
    assert result.err == (
        f"error: organisation {acme.org_id} does not exist, or user globex-admin is not an "
        "active member of it\n"
    )


def test_common_options_are_accepted_after_the_command(acme: Scenario) -> None:
    """``--as``, ``--org`` and ``--json`` work before or after the command's name."""
    argv = ["members", "list", "--json", "--as", "admin", "--org", acme.org_id]
    assert len(ok(acme, *argv).json()) == 3


def test_export_usage_writes_the_services_csv_to_stdout(acme: Scenario) -> None:
    """``export usage`` prints exactly what ``export_usage_csv`` streams."""
    acme.service.spend("member-1", acme.org_id, 120, generation_id="g1", feature="image")
    acme.service.spend("member-2", acme.org_id, 80, generation_id="g2", feature="video")
    out = ok(acme, "--as", "admin", "export", "usage").out
    assert out == "".join(acme.service.export_usage_csv("admin", acme.org_id))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["user_id"], r["feature"], r["spent"]) for r in rows] == [
        ("member-1", "image", "120"),
        ("member-2", "video", "80"),
    ]
    out = ok(acme, "--as", "admin", "export", "usage", "--user", "member-2").out
    assert [r["user_id"] for r in csv.DictReader(io.StringIO(out))] == ["member-2"]


def test_export_ledger_to_a_file_reports_the_rows(acme: Scenario, tmp_path: Path) -> None:
    """``--output`` writes the file whole and says how many rows it holds."""
    target = tmp_path / "ledger.csv"
    out = ok(acme, "--as", "admin", "export", "ledger", "--output", str(target)).out
    expected = "".join(acme.service.export_ledger_csv("admin", acme.org_id))
    assert target.read_bytes() == expected.encode()
    rows = expected.count("\r\n") - 1
    assert rows == 3  # the grant and two allocations
    assert out == f"Wrote 3 ledger rows to {target}.\n"
    data = ok(acme, "--json", "--as", "admin", "export", "ledger", "-o", str(target)).json()
    assert data == {"export": "ledger", "output": str(target), "rows": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.csv"]


def test_export_refused_or_unwritable_leaves_no_file(acme: Scenario, tmp_path: Path) -> None:
    """A member's export fails with 1 and an unwritable path with 2; neither leaves a file."""
    target = tmp_path / "usage.csv"
    result = command(acme, "--as", "member-1", "export", "usage", "-o", str(target))
    assert result.code == 1
    result = command(acme, "--as", "admin", "export", "usage", "-o", str(tmp_path / "no" / "x"))
    assert result.code == 2
    assert result.err.startswith(f"error: cannot write {tmp_path / 'no' / 'x'}: ")
    assert list(tmp_path.iterdir()) == []


def test_export_of_periods_that_have_not_begun_is_refused(acme: Scenario) -> None:
    """The range of periods is checked before anything is written."""
    result = command(acme, "--as", "admin", "export", "usage", "--last-period", "5")
    assert (result.code, result.out) == (1, "")
    assert result.err == "error: last_period 5 has not begun: the current period is 0\n"


def test_export_progress_is_shown_on_a_terminal(acme: Scenario, tmp_path: Path) -> None:
    """On a terminal stderr counts the rows and ends with the total."""
    for n in range(5):
        acme.service.spend("member-1", acme.org_id, 10, generation_id=f"g{n}")
    terminal = Terminal()
    argv = ["--as", "admin", "export", "usage", "-o", str(tmp_path / "u.csv")]
    result = command(acme, *argv, stderr=terminal)
    assert result.code == 0
    assert result.err.startswith("\rexporting usage: 1 rows")
    assert result.err.endswith("\rexporting usage: 5 rows\n")


@pytest.mark.parametrize("quiet", [["--quiet"], ["-q"]])
def test_export_progress_is_off_with_quiet(
    acme: Scenario, tmp_path: Path, quiet: list[str]
) -> None:
    """``--quiet`` keeps a terminal's stderr silent."""
    argv = ["--as", "admin", "export", "usage", "-o", str(tmp_path / "u.csv"), *quiet]
    assert command(acme, *argv, stderr=Terminal()).err == ""


def test_export_progress_is_off_when_stderr_is_not_a_terminal(
    acme: Scenario, tmp_path: Path
) -> None:
    """Piped or redirected, stderr carries no progress line."""
    ok(acme, "--as", "admin", "export", "usage", "-o", str(tmp_path / "u.csv"))


def test_export_to_a_terminal_stdout_shows_no_progress(acme: Scenario) -> None:
    """CSV printed on the screen is not interleaved with a progress line."""
    acme.service.spend("member-1", acme.org_id, 10, generation_id="g1")
    result = command(acme, "--as", "admin", "export", "usage", stdout=Terminal(), stderr=Terminal())
    assert (result.code, result.err) == (0, "")
    assert result.out.count("\r\n") == 2


def test_periods_close_due_turns_over_every_due_organisation(
    acme: Scenario, globex: Organisation
) -> None:
    """After the boundary, the job turns both organisations over; run again, it finds none."""
    acme.clock.advance(days=40)
    result = ok(acme, "periods", "close-due")
    assert result.out == "Turned 2 organisation(s) over to their next period.\n"
    board = acme.service.dashboard("admin", acme.org_id)
    assert board.pool.period_index == 1
    assert ok(acme, "--json", "periods", "close-due").json() == {"turned_over": []}
    assert ok(acme, "periods", "close-due").out == "No organisation had a period to close.\n"


def test_periods_close_due_json_lists_the_organisations(acme: Scenario) -> None:
    """``--json`` gives the ids of the organisations turned over."""
    acme.clock.advance(days=31)
    assert ok(acme, "--json", "periods", "close-due").json() == {"turned_over": [acme.org_id]}


def test_periods_close_due_shows_progress_on_a_terminal(acme: Scenario) -> None:
    """The period job counts organisations against those due."""
    for n in range(3):
        acme.service.create_organisation(
            name=f"Org {n}", admin_user_id=f"boss-{n}", admin_email=f"boss@org{n}.example"
        )
    acme.clock.advance(days=31)
    result = command(acme, "periods", "close-due", stderr=Terminal())
    assert result.code == 0
    assert result.err.endswith("\rclosing due periods: 4/4 organisations\n")
    quiet = command(acme, "periods", "close-due", "--quiet", stderr=Terminal())
    assert quiet.err == ""


def test_ledger_verify_reconciles_every_organisation(acme: Scenario, globex: Organisation) -> None:
    """A consistent store: exit 0 and how many ledgers were checked."""
    acme.service.spend("member-1", acme.org_id, 50, generation_id="g1")
    assert ok(acme, "ledger", "verify").out == (
        "Verified the ledgers of 2 organisation(s): every cached balance matches its transfers "
        "and every balance sums to zero.\n"
    )
    assert ok(acme, "--json", "ledger", "verify", "--org", globex.id).json() == {
        "organisations": 1,
        "problems": [],
    }
    progress = command(acme, "ledger", "verify", stderr=Terminal()).err
    assert progress.endswith("\rverifying ledgers: 2/2 organisations\n")


def test_ledger_verify_reports_problems_and_exits_with_one(
    acme: Scenario, globex: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each problem is listed with its organisation; the exit code is 1."""

    def reconcile(self: EnterpriseService, org_id: str) -> list[str]:
        return ["pool: cached 10 != 12"] if org_id == globex.id else []

    monkeypatch.setattr(EnterpriseService, "reconcile", reconcile)
    result = command(acme, "ledger", "verify")
    assert result.code == 1
    assert result.out == f"{globex.id}: pool: cached 10 != 12\n"
    assert result.err == "error: the ledgers of 1 of 2 organisation(s) do not reconcile\n"
    result = command(acme, "--json", "ledger", "verify")
    assert result.code == 1
    assert result.json()["problems"] == [
        {"organisation_id": globex.id, "problem": "pool: cached 10 != 12"}
    ]


def test_ledger_verify_of_an_unknown_organisation_exits_with_one(acme: Scenario) -> None:
    """``--org`` naming nothing is OrganisationNotFound."""
    result = command(acme, "ledger", "verify", "--org", "nope")
    assert result.code == 1
    assert "does not exist" in result.err


def relayed(out: str) -> list[dict[str, Any]]:
    """The JSON lines ``events relay`` printed."""
    return [json.loads(line) for line in out.splitlines()]


def test_events_relay_prints_json_lines_and_marks_them_published(acme: Scenario) -> None:
    """Every unpublished event comes out once, oldest first, as one JSON object a line."""
    events = relayed(ok(acme, "events", "relay").out)
    assert events[0]["name"] == "OrganisationCreated"
    assert events[0]["payload"] == {"admin_user_id": "admin", "organisation_name": "Acme"}
    assert list(events[0]) == [
        "id",
        "organisation_id",
        "name",
        "actor",
        "occurred_at",
        "payload",
        "published_at",
    ]
    assert events[0]["published_at"] is None  # as read: marked published once printed
    assert len(events) == len(acme.store.outbox)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert ok(acme, "events", "relay").out == ""
    acme.service.top_up("admin", acme.org_id, 250)
    [event] = relayed(ok(acme, "events", "relay").out)
    assert (event["name"], event["actor"], event["payload"]) == (
        "PoolToppedUp",
        "admin",
        {"amount": 250},
    )
    assert event["occurred_at"] == "2026-01-15T09:00:00.000000Z"


def test_events_relay_limit_and_batch(acme: Scenario) -> None:
    """``--limit`` stops after that many events, whatever the batch size."""
    total = len(acme.store.outbox)
    first = relayed(ok(acme, "events", "relay", "--limit", "3", "--batch", "2").out)
    assert len(first) == 3
    rest = relayed(ok(acme, "events", "relay", "--batch", "2").out)
    assert len(rest) == total - 3
    assert {e["id"] for e in first}.isdisjoint(e["id"] for e in rest)


def test_events_relay_follow_polls_until_interrupted(acme: Scenario) -> None:
    """``--follow`` waits ``--interval`` between empty polls and stops cleanly on Ctrl-C."""
    ok(acme, "events", "relay")
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 1:
            acme.service.top_up("admin", acme.org_id, 10)
        else:
            raise KeyboardInterrupt

    result = ok(acme, "events", "relay", "--follow", "--interval", "0.5", sleep=sleep)
    assert [e["name"] for e in relayed(result.out)] == ["PoolToppedUp"]
    assert naps == [0.5, 0.5]


def test_events_relay_follow_stops_at_the_limit(acme: Scenario) -> None:
    """With ``--follow`` and ``--limit`` the relay exits once it has relayed that many."""
    ok(acme, "events", "relay")
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        acme.service.top_up("admin", acme.org_id, 10 + len(naps))

    out = ok(acme, "events", "relay", "--follow", "--limit", "2", sleep=sleep).out
    assert [e["payload"]["amount"] for e in relayed(out)] == [11, 12]
    assert len(naps) == 2


def test_events_relay_to_a_closed_pipe_marks_nothing(acme: Scenario) -> None:
    """If stdout breaks, the exit code is 1 and the events stay unpublished for the next run."""
    total = len(acme.store.outbox)
    result = command(acme, "events", "relay", stdout=ClosedPipe())
    assert (result.code, result.err) == (1, "")
    assert len(relayed(ok(acme, "events", "relay").out)) == total


def test_alerts_check_raises_each_alert_once(acme: Scenario) -> None:
    """A member past 80% of their credits raises one alert; the next run raises none."""
    acme.service.spend("member-1", acme.org_id, 850, generation_id="g1")
    assert ok(acme, "alerts", "check").out == (
        "Raised 1 alert(s); 'events relay' hands them to the host.\n"
    )
    assert ok(acme, "--json", "alerts", "check").json() == {"raised": 0}
    assert ok(acme, "alerts", "check").out == "No alerts were due.\n"
    names = [e["name"] for e in relayed(ok(acme, "events", "relay").out)]
    assert names.count("MemberUsageAlert") == 1


def test_alerts_check_waiting_requests_after_the_given_hours(acme: Scenario) -> None:
    """``--request-alert-after`` sets how long a request may wait before an alert."""
    acme.service.request_credits("member-1", acme.org_id, 100)
    acme.clock.advance(hours=3)
    assert ok(acme, "--json", "alerts", "check").json() == {"raised": 0}
    argv = ["alerts", "check", "--request-alert-after", "2", "--org", acme.org_id]
    assert ok(acme, "--json", *argv).json() == {"raised": 1}


def test_interrupting_a_command_exits_with_130(
    acme: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C outside ``--follow`` is reported without a traceback."""

    def interrupted(self: EnterpriseService) -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(EnterpriseService, "close_due_periods", interrupted)
    result = command(acme, "periods", "close-due")
    assert (result.code, result.err) == (130, "interrupted\n")


def test_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``--database-url`` the environment variable names the database."""
    monkeypatch.setenv(cli.DATABASE_URL_ENV, "memory://")
    argv = ["org", "create", "Acme", "--admin", "ana", "--admin-email", "ana@acme.example"]
    out, err = io.StringIO(), io.StringIO()
    assert cli.run(argv, stdout=out, stderr=err) == 0
    assert out.getvalue().startswith("Created organisation 'Acme': ")


@pytest.mark.parametrize("argv", [["migrate"], ["create-schema"]])
def test_schema_commands_need_an_sql_database(argv: list[str]) -> None:
    """The in-memory store has no tables: a configuration error."""
    result = command(None, *argv)
    assert (result.code, result.out) == (2, "")
    assert "the in-memory store has no tables" in result.err


COMMANDS = {
    "demo",
    "migrate",
    "create-schema",
    "org create",
    "org settings",
    "domains add",
    "domains verify",
    "domains remove",
    "domains list",
    "domains recheck",
    "sign-up",
    "members list",
    "members invite",
    "members set-role",
    "allocate",
    "reclaim",
    "top-up",
    "teams create",
    "teams list",
    "teams fund",
    "teams reclaim",
    "teams assign",
    "teams delegate",
    "teams rename",
    "teams delete",
    "spend",
    "holds reserve",
    "holds capture",
    "holds release",
    "caps set",
    "caps show",
    "grace set",
    "grace show",
    "requests list",
    "requests approve",
    "requests reject",
    "profile",
    "dashboard",
    "export usage",
    "export ledger",
    "directory provision",
    "directory deactivate",
    "directory reactivate",
    "directory list",
    "periods close-due",
    "ledger verify",
    "events relay",
    "alerts check",
}


def test_every_command_line_in_the_docs_parses_and_every_command_is_shown() -> None:
    """Each ``$ armox-enterprise ...`` line of docs/cli.md is valid, and all commands appear."""
    page = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
    shown = [
        shlex.split(line.removeprefix("$ armox-enterprise "))
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("$ armox-enterprise ")
    ]
    parser = cli._parser()
    invalid, documented = [], set()
    for argv in shown:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                args = parser.parse_args(argv)
        except SystemExit:
            invalid.append(shlex.join(argv))
            continue
        action = getattr(args, "action", None)
        documented.add(args.command if action is None else f"{args.command} {action}")
    assert invalid == []
    assert documented == COMMANDS


# ---------------------------------------------------------------------- dnspython resolver


def install_fake_dnspython(
    monkeypatch: pytest.MonkeyPatch, records: dict[str, list[list[bytes]]]
) -> list[tuple[str, str, float, list[str] | None]]:
    """Install stand-in ``dns.resolver`` and ``dns.exception`` modules answering ``records``.

    A domain maps to its TXT records, each a list of strings; ``"timeout.example"`` times out.
    Returns the list of look-ups made: (domain, type, lifetime, name servers).
    """
    asked: list[tuple[str, str, float, list[str] | None]] = []
    exception = types.ModuleType("dns.exception")
    resolver = types.ModuleType("dns.resolver")

    class DNSException(Exception):
        pass

    class NXDOMAIN(DNSException):
        pass

    class NoAnswer(DNSException):
        pass

    class LifetimeTimeout(DNSException):
        pass

    class Rdata:
        def __init__(self, strings: list[bytes]) -> None:
            self.strings = tuple(strings)

    class Resolver:
        def __init__(self, configure: bool = True) -> None:
            self.nameservers: list[str] | None = None if configure else []

        def resolve(self, qname: str, rdtype: str, *, lifetime: float) -> list[Rdata]:
            asked.append((qname, rdtype, lifetime, self.nameservers))
            if qname == "timeout.example":
                raise LifetimeTimeout("The resolution lifetime expired")
            if qname not in records:
                raise NXDOMAIN
            if not records[qname]:
                raise NoAnswer
            return [Rdata(strings) for strings in records[qname]]

    exception.DNSException = DNSException  # type: ignore[attr-defined]
    for cls in (NXDOMAIN, NoAnswer, LifetimeTimeout, Resolver):
        setattr(resolver, cls.__name__, cls)
    package = types.ModuleType("dns")
    monkeypatch.setitem(sys.modules, "dns", package)
    monkeypatch.setitem(sys.modules, "dns.resolver", resolver)
    monkeypatch.setitem(sys.modules, "dns.exception", exception)
    return asked


def test_dnspython_resolver_joins_the_strings_of_each_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A record split into several strings comes back as one; each record separately."""
    install_fake_dnspython(monkeypatch, {"acme.example": [[b"armox-", b"token"], [b"v=spf1 -all"]]})
    from armox_enterprise.adapters.dns import DnsPythonResolver

    assert DnsPythonResolver().txt_records("acme.example") == ["armox-token", "v=spf1 -all"]


def test_dnspython_resolver_answers_nothing_for_missing_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name that does not exist, or has no TXT records, has no records."""
    asked = install_fake_dnspython(monkeypatch, {"bare.example": []})
    from armox_enterprise.adapters.dns import DnsPythonResolver

    resolver = DnsPythonResolver(lifetime=1.5, nameservers=["192.0.2.1"])
    assert resolver.txt_records("nowhere.example") == []
    assert resolver.txt_records("bare.example") == []
    assert asked == [
        ("nowhere.example", "TXT", 1.5, ["192.0.2.1"]),
        ("bare.example", "TXT", 1.5, ["192.0.2.1"]),
    ]


def test_dnspython_resolver_failure_is_a_verification_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A look-up that cannot be made raises DomainVerificationFailed saying why."""
    install_fake_dnspython(monkeypatch, {})
    from armox_enterprise.adapters.dns import DnsPythonResolver

    with pytest.raises(DomainVerificationFailed, match=r"timeout\.example failed: The resolution"):
        DnsPythonResolver().txt_records("timeout.example")


def test_dnspython_resolver_without_dnspython_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Creating the resolver without dnspython raises ImportError naming the ``dns`` extra."""
    monkeypatch.setitem(sys.modules, "dns", None)
    monkeypatch.setitem(sys.modules, "dns.resolver", None)
    from armox_enterprise.adapters.dns import DnsPythonResolver

    with pytest.raises(ImportError, match=r"pip install '\.\[dns\]'"):
        DnsPythonResolver()


def test_dnspython_resolver_reads_real_txt_rdata(monkeypatch: pytest.MonkeyPatch) -> None:
    """With dnspython installed, its own TXT rdata objects are read correctly (no network)."""
    pytest.importorskip("dns.resolver", reason="the dns extra is not installed")
    import dns.rdata
    import dns.resolver

    from armox_enterprise.adapters.dns import DnsPythonResolver

    answer = [dns.rdata.from_text("IN", "TXT", '"armox-enterprise-" "verification=abc"')]

    def resolve(self: object, qname: str, rdtype: str, **options: object) -> object:
        assert (qname, rdtype) == ("acme.example", "TXT")
        return answer

    monkeypatch.setattr(dns.resolver.Resolver, "resolve", resolve)
    resolver = DnsPythonResolver(nameservers=["192.0.2.1"])
    assert resolver.txt_records("acme.example") == ["armox-enterprise-verification=abc"]


# ---------------------------------------------------------------------- on an SQLite file


def head_revision() -> str:
    """The newest of the shipped migrations' revisions (they are numbered ``aeNNNN``)."""
    import armox_enterprise as package

    versions = Path(package.__file__).parent / "adapters" / "sqlalchemy" / "migrations" / "versions"
    return max(path.name[:6] for path in versions.glob("ae[0-9][0-9][0-9][0-9]_*.py"))


def sqlite_url(tmp_path: Path) -> str:
    pytest.importorskip("sqlalchemy", reason="the sqlalchemy extra is not installed")
    return f"sqlite:///{tmp_path / 'armox.sqlite3'}"


def test_migrate_then_operate_on_an_sqlite_file(tmp_path: Path) -> None:
    """``migrate`` creates the tables; the operations then work on the file across runs."""
    pytest.importorskip("alembic", reason="the sqlalchemy extra is not installed")
    url = sqlite_url(tmp_path)
    db = ["--database-url", url]
    out = ok(None, *db, "migrate", store=None).out
    assert out == f"Created the armox-enterprise tables in {url} at revision {head_revision()}.\n"
    assert ok(None, *db, "migrate", store=None).out == (
        f"The armox-enterprise tables in {url} are up to date (revision {head_revision()}).\n"
    )
    argv = ["org", "create", "Acme", "--admin", "ana", "--admin-email", "ana@acme.example"]
    ok(None, *db, *argv, "--allowance", "500", store=None)
    ok(None, *db, "--as", "ana", "allocate", "ana", "200", store=None)
    board = ok(None, *db, "--json", "--as", "ana", "dashboard", store=None).json()
    assert (board["pool"]["allocated"], board["pool"]["unallocated"]) == (200, 300)
    assert ok(None, *db, "ledger", "verify", store=None).out.startswith(
        "Verified the ledgers of 1 organisation(s)"
    )
    events = relayed(ok(None, *db, "events", "relay", store=None).out)
    assert [e["name"] for e in events][-1] == "CreditsAllocated"


def test_operations_on_a_missing_sqlite_file_say_to_migrate(tmp_path: Path) -> None:
    """No file: exit 2, and no empty database file is left behind."""
    url = sqlite_url(tmp_path)
    result = command(None, "--database-url", url, "--as", "ana", "members", "list", store=None)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"error: there is no database file {tmp_path / 'armox.sqlite3'}: create it with "
        "'armox-enterprise migrate' (or pass --database-url)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_operations_on_a_database_without_tables_say_to_migrate(tmp_path: Path) -> None:
    """A database that answers but holds no tables: exit 2 naming ``migrate``."""
    url = sqlite_url(tmp_path)
    (tmp_path / "armox.sqlite3").touch()
    result = command(None, "--database-url", url, "ledger", "verify", store=None)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"error: the database {url} has no armox-enterprise tables yet: "
        "run 'armox-enterprise migrate' first\n"
    )


def test_tables_made_by_create_schema_are_stamped_not_migrated(tmp_path: Path) -> None:
    """After ``create-schema``, ``migrate`` refuses (exit 1) until ``--stamp`` records them."""
    pytest.importorskip("alembic", reason="the sqlalchemy extra is not installed")
    url = sqlite_url(tmp_path)
    db = ["--database-url", url]
    assert ok(None, *db, "--json", "create-schema", store=None).json() == {
        "database_url": url,
        "created": True,
    }
    result = command(None, *db, "migrate", store=None)
    assert result.code == 1
    assert "migrate --stamp" in result.err
    data = ok(None, *db, "--json", "migrate", "--stamp", store=None).json()
    assert data == {"database_url": url, "from": None, "to": head_revision(), "stamped": True}
    assert "up to date" in ok(None, *db, "migrate", store=None).out


def test_a_database_that_cannot_be_opened_is_a_configuration_error(tmp_path: Path) -> None:
    """``migrate`` on a database that cannot be reached exits with 2, without a traceback."""
    url = f"sqlite:///{tmp_path / 'missing-folder' / 'armox.sqlite3'}"
    pytest.importorskip("sqlalchemy", reason="the sqlalchemy extra is not installed")
    result = command(None, "--database-url", url, "migrate", store=None)
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(f"error: cannot open the database {url}: ")
    assert "Traceback" not in result.err


def test_domains_recheck_prints_what_the_job_found(acme: Scenario) -> None:
    """``domains recheck`` re-checks every verified domain; ``domains list`` shows the window,
    then the lapse; ``--json`` carries the report."""
    out = ok(acme, "domains", "recheck").out
    assert out == (
        "Checked 1 verified domain(s): 1 passed, 0 failing, 0 recovered, 0 lapsed, 0 unanswered.\n"
    )
    acme.dns.withdraw("acme.example")
    lines = ok(acme, "domains", "recheck", "--grace", "24").out.splitlines()
    assert lines == [
        "Checked 1 verified domain(s): 0 passed, 1 failing, 0 recovered, 0 lapsed, 0 unanswered.",
        "  failing: acme.example (still enrols until its grace window ends)",
    ]
    listed = ok(acme, "--as", "admin", "domains", "list").out.splitlines()[1]
    assert "failing since 2026-01-15 09:00 UTC (lapses at 2026-01-16 09:00 UTC)" in listed
    acme.clock.advance(hours=24)
    data = ok(acme, "--json", "domains", "recheck").json()
    assert (data["checked"], data["lapsed"], data["failing"]) == (1, ["acme.example"], [])
    listed = ok(acme, "--as", "admin", "domains", "list").out.splitlines()[1]
    assert "lapsed at 2026-01-16 09:00 UTC" in listed
    [claim] = ok(acme, "--json", "--as", "admin", "domains", "list").json()
    assert (claim["status"], claim["verified"]) == ("lapsed", False)


def test_domains_recheck_reports_a_resolver_that_cannot_answer(acme: Scenario) -> None:
    """An unanswered look-up is listed with the resolver's message and changes nothing."""
    acme.dns.make_unanswerable("acme.example")
    lines = ok(acme, "domains", "recheck").out.splitlines()
    assert lines[0].endswith("0 lapsed, 1 unanswered.")
    assert lines[1].startswith("  unanswered: acme.example: the DNS look-up")
    assert acme.service.list_domains("admin", acme.org_id)[0].is_verified


def test_domains_recheck_refuses_a_grace_that_is_not_positive(acme: Scenario) -> None:
    """``--grace 0`` is a usage error (exit 2), before anything is looked up."""
    result = command(acme, "domains", "recheck", "--grace", "0")
    assert result.code == 2
    assert "must be more than 0" in result.err


def test_grace_set_and_show_and_a_spend_on_grace(acme: Scenario) -> None:
    """``grace set`` sets the soft limit in credits or as a percentage, ``grace show`` prints
    it with what the acting member has left, a spend past the member's credits is lent and
    files the automatic request, and bad values exit with 2."""
    out = ok(acme, "--as", "admin", "grace", "set", "50").out
    assert out == (
        "Soft limit: a grace of 50 credits per member and period; "
        "the first spend on grace asks the admins for credits.\n"
    )
    profile = ok(acme, "--json", "--as", "member-1", "profile", "member-1").json()
    remaining = profile["credits"]["remaining"]
    ok(acme, "--as", "member-1", "spend", str(remaining + 10), "--generation-id", "g-1")
    out = ok(acme, "--as", "member-1", "grace", "show").out
    assert out.splitlines()[1] == "member-1 spent 10 on grace this period; 40 of 50 left."
    listed = ok(acme, "--json", "--as", "admin", "requests", "list").json()
    assert [(r["user_id"], r["automatic"], r["amount"]) for r in listed] == [("member-1", True, 50)]
    shown = ok(acme, "--json", "--as", "admin", "grace", "set", "10%").json()
    assert shown == {"credits": None, "percent": 10}
    out = ok(acme, "--as", "admin", "grace", "set", "none").out
    assert out == "Soft limit: none (a spend beyond a member's credits is refused).\n"
    for bad in ("lots", "0", "101%", "-5"):
        result = command(acme, "--as", "admin", "grace", "set", bad)
        assert result.code == 2, bad
        assert "error" in result.err
    assert command(acme, "--as", "member-1", "grace", "set", "5").code == 1


def test_caps_set_and_show_and_a_spend_the_cap_refuses(acme: Scenario) -> None:
    """``caps set`` sets the default and a member's own cap, ``caps show`` prints where a
    member stands, ``none`` clears a cap, and a spend past the cap exits with 1."""
    out = ok(acme, "--as", "admin", "caps", "set", "1000").out
    assert out == "Organisation default cap: 1,000 credits.\n"
    ok(acme, "--as", "member-1", "spend", "250", "--generation-id", "g-1")
    out = ok(acme, "--as", "admin", "caps", "set", "300", "--user", "member-1").out
    assert out == (
        "member-1's monthly cap: 300 credits (their own).\n"
        "Spent or held this period: 250; 50 left under it.\n"
    )
    shown = ok(acme, "--json", "--as", "member-1", "caps", "show").json()
    assert shown == {
        "organisation_cap": 1_000,
        "member_cap": 300,
        "cap": 300,
        "counted": 250,
        "user_id": "member-1",
        "team_cap": None,
        "team_id": None,
        "room": 50,
    }
    result = command(acme, "--as", "member-1", "spend", "51", "--generation-id", "g-2")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "error: the monthly cap of 300 credits is reached: 250 spent or held this period, "
        "51 more asked for\n"
    )
    out = ok(acme, "--as", "admin", "caps", "set", "none", "--user", "member-1").out
    assert out.startswith("member-1's monthly cap: 1,000 credits (the organisation's default).")
    out = ok(acme, "--as", "admin", "caps", "show", "--organisation").out
    assert out == "Organisation default cap: 1,000 credits.\n"
    assert command(acme, "--as", "admin", "caps", "set", "lots").code == 2
    assert command(acme, "--as", "member-1", "caps", "set", "5").code == 1


def test_caps_set_and_show_a_teams_cap(acme: Scenario) -> None:
    """``caps set N --team`` sets a team's cap, which then applies to its members with no cap
    of their own; ``caps show --team`` prints it alone; ``--team`` with ``--user`` is a
    usage error, a team's manager may not set it (exit 1)."""
    svc, org = acme.service, acme.org_id
    team = svc.create_team("admin", org, "Design").id
    svc.assign_team("admin", org, "member-1", team)
    ok(acme, "--as", "admin", "caps", "set", "1000")
    out = ok(acme, "--as", "admin", "caps", "set", "200", "--team", team).out
    assert out == (
        f"Team {team}'s monthly cap: 200 credits.\n"
        "Its members with no cap of their own: 200 credits (the team's).\n"
    )
    ok(acme, "--as", "member-1", "spend", "150", "--generation-id", "g-1")
    out = ok(acme, "--as", "member-1", "caps", "show").out
    assert out == (
        "member-1's monthly cap: 200 credits (their team's).\n"
        "Spent or held this period: 150; 50 left under it.\n"
    )
    shown = ok(acme, "--json", "--as", "admin", "caps", "show", "--team", team).json()
    assert shown == {
        "organisation_cap": 1_000,
        "member_cap": None,
        "cap": 200,
        "counted": 0,
        "user_id": None,
        "team_cap": 200,
        "team_id": team,
        "room": 200,
    }
    result = command(acme, "--as", "member-1", "spend", "51", "--generation-id", "g-2")
    assert (result.code, "monthly cap of 200 credits" in result.err) == (1, True)
    out = ok(acme, "--as", "admin", "caps", "set", "none", "--team", team).out
    assert out.endswith(
        "Its members with no cap of their own: 1,000 credits (the organisation's default).\n"
    )
    both = command(acme, "--as", "admin", "caps", "set", "5", "--team", team, "--user", "x")
    assert both.code == 2
    svc.delegate_team("admin", org, "member-1")
    assert command(acme, "--as", "member-1", "caps", "set", "5", "--team", team).code == 1
    assert command(acme, "--as", "admin", "caps", "show", "--team", "nope").code == 1
