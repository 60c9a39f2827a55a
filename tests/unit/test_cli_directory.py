"""The command line's directory commands: provision, deactivate, reactivate and list."""

from __future__ import annotations

import io
import json

import pytest

from armox_enterprise import cli
from armox_enterprise.testing import Scenario, enterprise


@pytest.fixture(autouse=True)
def no_database_url_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests choose their database themselves, whatever the shell exports."""
    monkeypatch.delenv(cli.DATABASE_URL_ENV, raising=False)


def run(scenario: Scenario, *argv: str) -> tuple[int, str, str]:
    """Run a command line on ``scenario``'s store, clock and DNS."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(
        list(argv),
        store=scenario.store,
        clock=scenario.clock,
        dns=scenario.dns,
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


def test_an_operator_provisions_deactivates_and_reactivates() -> None:
    """Each command says what changed, and a second run that nothing did."""
    s = enterprise(members=1, allocate=40)
    org = s.org_id
    code, out, err = run(s, "directory", "provision", org, "hired", "hired@else.example")
    assert (code, err) == (0, "")
    assert out == f"hired (hired@else.example) is an active member of organisation {org}.\n"
    again = run(s, "directory", "provision", org, "hired", "hired@else.example")[1]
    assert again.endswith(": nothing changed.\n")
    out = run(s, "directory", "deactivate", org, "member-1")[1]
    assert out.startswith(f"member-1 is no longer a member of organisation {org}")
    assert not s.service.profile("member-1").is_enterprise
    assert run(s, "directory", "deactivate", org, "member-1")[1] == (
        f"member-1 already was removed from organisation {org}: nothing changed.\n"
    )
    out = run(s, "directory", "reactivate", org, "member-1")[1]
    assert out == f"member-1 is a member of organisation {org} again (role member, no credits).\n"
    credits = s.service.profile("member-1").credits
    assert credits is not None
    assert credits.remaining == 0


def test_the_json_form_says_whether_anything_changed() -> None:
    """``--json`` prints the result: the membership and ``changed``."""
    s = enterprise(members=1)
    code, out, _ = run(s, "--json", "directory", "deactivate", s.org_id, "member-1")
    data = json.loads(out)
    assert (code, data["changed"], data["membership"]["status"]) == (0, True, "removed")
    data = json.loads(run(s, "--json", "directory", "deactivate", s.org_id, "member-1")[1])
    assert data["changed"] is False


def test_the_list_shows_removed_members_too() -> None:
    """``directory list`` holds every membership, with its status."""
    s = enterprise(members=2)
    run(s, "directory", "deactivate", s.org_id, "member-2")
    code, out, _ = run(s, "directory", "list", s.org_id)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["user", "status", "role", "email", "since"]
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["admin", "active"],
        ["member-1", "active"],
        ["member-2", "removed"],
    ]
    assert lines[-1] == "3 membership(s), 2 active."


def test_refusals_exit_with_one() -> None:
    """The last admin, an unknown user: exit 1 with the library's message."""
    s = enterprise(members=1)
    code, _, err = run(s, "directory", "deactivate", s.org_id, "admin")
    assert code == 1
    assert "last" in err
    code, _, err = run(s, "directory", "reactivate", s.org_id, "nobody")
    assert code == 1
    assert "nobody" in err
