"""The command line's operator commands: sign-up, invite, spend and holds, and replays.

A command run again with the same idempotency key (or generation id) says it was a replay;
with ``--json`` the record carries ``"replayed"``.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import attrs
import pytest

from armox_enterprise import EnterpriseService, HoldStatus, Role, cli
from armox_enterprise.testing import Scenario


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


def command(scenario: Scenario, *argv: str) -> Result:
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
    return Result(code, out.getvalue(), err.getvalue())


def ok(scenario: Scenario, *argv: str) -> Result:
    """Run a command line that must succeed without a word on stderr."""
    result = command(scenario, *argv)
    assert (result.code, result.err) == (0, ""), result
    return result


def remaining(service: EnterpriseService, user: str) -> int:
    section = service.profile(user).credits
    assert section is not None
    return section.remaining


# ---------------------------------------------------------------------- sign-up and invite


def test_sign_up_enrols_a_verified_company_address(acme: Scenario) -> None:
    """``sign-up`` runs the host's sign-up: a verified company address joins the organisation."""
    out = ok(acme, "sign-up", "nina", "nina@acme.example", "--verified", "--name", "Nina").out
    assert out == (
        f"nina signed up with nina@acme.example: enrolled in organisation {acme.org_id} "
        "(domain_match).\n"
    )
    members = acme.service.list_members(acme.admin, acme.org_id)
    assert [m.display_name for m in members if m.user_id == "nina"] == ["Nina"]


def test_sign_up_of_a_personal_or_unverified_address_enrols_nobody(acme: Scenario) -> None:
    """A free-mail address or an unverified one is not enrolled; the reason is its value."""
    out = ok(acme, "sign-up", "dani", "dani@gmail.com", "--verified").out
    assert out == "dani signed up with dani@gmail.com: not enrolled (free_mail_provider).\n"
    data = ok(acme, "--json", "sign-up", "fabi", "fabi@acme.example", "--unverified").json()
    assert data == {
        "user_id": "fabi",
        "outcome": "not_enrolled",
        "reason": "email_not_verified",
        "organisation_id": acme.org_id,
        "enrolled": False,
    }
    assert acme.service.profile("fabi").is_enterprise is False


def test_sign_up_require_enrolment_exits_with_one_and_the_reason(acme: Scenario) -> None:
    """``--require-enrolment`` is the service's ``enrol``: a refusal is EnrolmentRefused."""
    result = command(
        acme, "--json", "sign-up", "dani", "dani@gmail.com", "--verified", "--require-enrolment"
    )
    assert (result.code, result.out) == (1, "")
    error = json.loads(result.err)["error"]
    assert (error["type"], error["reason"]) == ("EnrolmentRefused", "free_mail_provider")


def test_sign_up_needs_to_be_told_whether_the_address_is_verified(acme: Scenario) -> None:
    """Neither ``--verified`` nor ``--unverified``: a usage error, nothing written."""
    result = command(acme, "sign-up", "nina", "nina@acme.example")
    assert result.code == 2
    assert acme.service.profile("nina").is_enterprise is False


def test_members_invite_lets_an_outside_address_join(acme: Scenario) -> None:
    """An invited contractor joins on signing up with the invited address."""
    out = ok(acme, "--as", "admin", "members", "invite", "eve@studio.example", "--role", "admin")
    assert out.out == (
        f"Invited eve@studio.example to organisation {acme.org_id} as an admin: they join when "
        "they sign up with that address, verified.\n"
    )
    data = ok(acme, "--json", "sign-up", "eve", "eve@studio.example", "--verified").json()
    assert (data["enrolled"], data["reason"]) == (True, "invited")
    assert acme.service.profile("eve").role is Role.ADMIN


def test_members_invite_is_for_admins(acme: Scenario) -> None:
    """A member cannot invite: PermissionDenied, exit 1."""
    result = command(acme, "--as", "member-1", "members", "invite", "eve@studio.example")
    assert result.code == 1
    assert result.err == "error: user member-1 is not an admin of the organisation\n"


# ---------------------------------------------------------------------- spend and holds


def test_spend_acts_as_the_member_once_per_generation(acme: Scenario) -> None:
    """``spend`` spends once; the same generation id again is a replay that says so."""
    argv = ("--as", "member-1", "spend", "250", "--generation-id", "gen-1", "--feature", "image")
    first = ok(acme, *argv).out
    found = re.fullmatch(
        r"Spent 250 credits of member-1's on generation gen-1 \((\S+)\)\.\n", first
    )
    assert found is not None
    again = ok(acme, *argv).out
    assert again == (
        "Replay of generation id 'gen-1': nothing changed. The first call spent 250 credits of "
        f"member-1's on generation gen-1 ({found.group(1)}).\n"
    )
    assert remaining(acme.service, "member-1") == 750


def test_spend_json_is_the_transfer_with_replayed(acme: Scenario) -> None:
    """With ``--json`` the transfer's JSON form comes with ``replayed`` false, then true."""
    argv = ("--json", "--as", "member-1", "spend", "40", "--key", "gen-9", "--model", "flux")
    first, again = ok(acme, *argv).json(), ok(acme, *argv).json()
    assert (first["kind"], first["amount"], first["model"], first["replayed"]) == (
        "spend",
        40,
        "flux",
        False,
    )
    assert again == {**first, "replayed": True}


def test_a_generation_id_used_again_for_other_parameters_is_a_conflict(acme: Scenario) -> None:
    """The conflict names the operation, the parameter and both amounts."""
    ok(acme, "--as", "member-1", "spend", "500", "--generation-id", "gen-1", "--model", "x")
    result = command(acme, "--as", "member-1", "spend", "600", "--generation-id", "gen-1")
    assert result.err == (
        "error: generation id 'gen-1' was used for another call: spend with amount 500 and "
        "model 'x' (this call has amount 600 and model none)\n"
    )
    ok(acme, "--as", "member-1", "holds", "reserve", "100", "--generation-id", "gen-2")
    result = command(acme, "--as", "member-1", "spend", "200", "--generation-id", "gen-2")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "error: generation id 'gen-2' was used for another call: reserve (this call is spend)\n"
    )


def test_spend_beyond_the_balance_is_refused_with_the_figures(acme: Scenario) -> None:
    """Too few credits: exit 1, amounts with thousands separators; JSON carries them."""
    result = command(acme, "--as", "member-1", "spend", "5000", "--generation-id", "gen-1")
    assert result.err == "error: 1,000 credits available, 5,000 needed\n"
    result = command(
        acme, "--json", "--as", "member-1", "spend", "5000", "--generation-id", "gen-1"
    )
    error = json.loads(result.err)["error"]
    assert (error["available"], error["requested"], error["can_request"]) == (1_000, 5_000, True)


def test_holds_reserve_capture_and_release(acme: Scenario) -> None:
    """A hold reserves, captures part (the rest released), and another is released."""
    data = ok(
        acme, "--json", "--as", "member-1", "holds", "reserve", "600", "--generation-id", "gen-3"
    ).json()
    hold_id = data["id"]
    assert (data["status"], data["amount"], data["replayed"]) == ("pending", 600, False)
    assert data["expires_at"] == "2026-01-15T10:00:00.000000Z"
    out = ok(acme, "--as", "member-1", "holds", "capture", hold_id, "450", "--key", "c-1").out
    assert out == f"Captured 450 of the 600 credits of hold {hold_id}; 150 released.\n"
    again = ok(acme, "--as", "member-1", "holds", "capture", hold_id, "450", "--key", "c-1").out
    assert again == (
        "Replay of idempotency key 'c-1': nothing changed. The first call captured 450 of the "
        f"600 credits of hold {hold_id}; 150 released.\n"
    )
    assert remaining(acme.service, "member-1") == 550
    other = acme.service.reserve("member-1", acme.org_id, 100, generation_id="gen-4")
    out = ok(acme, "--as", "admin", "holds", "release", other.id).out
    assert out == f"Released hold {other.id}: its 100 credits are no longer reserved.\n"
    assert acme.service.dashboard(acme.admin, acme.org_id).members[1].on_hold == 0
    held = acme.store.holds[(acme.org_id, other.id)] if hasattr(acme.store, "holds") else None
    if held is not None:
        assert held.status is HoldStatus.RELEASED


def test_holds_reserve_with_a_lifetime(acme: Scenario) -> None:
    """``--lifetime SECONDS`` shortens the hold's life."""
    data = ok(
        acme,
        "--json",
        "--as",
        "member-2",
        "holds",
        "reserve",
        "10",
        "--generation-id",
        "gen-5",
        "--lifetime",
        "600",
    ).json()
    assert data["expires_at"] == "2026-01-15T09:10:00.000000Z"


def test_a_capture_key_reused_for_a_release_is_a_conflict(acme: Scenario) -> None:
    """The conflict names both operations by their service methods."""
    hold = acme.service.reserve("member-1", acme.org_id, 100, generation_id="gen-6")
    ok(acme, "--as", "member-1", "holds", "capture", hold.id, "--key", "k-1")
    result = command(acme, "--as", "member-1", "holds", "release", hold.id, "--key", "k-1")
    assert result.err == (
        "error: idempotency key 'k-1' was used for another call: capture_hold "
        "(this call is release_hold)\n"
    )


# ---------------------------------------------------------------------- replays of admin commands


@pytest.mark.parametrize(
    ("argv", "done"),
    [
        (["allocate", "member-1", "300", "--key", "a-1"], "allocated 300 credits from the pool"),
        (["reclaim", "member-1", "300", "--key", "r-1"], "reclaimed 300 credits from member-1"),
        (["top-up", "5000", "--key", "t-1"], "added 5,000 credits to the pool"),
    ],
)
def test_admin_commands_run_again_with_their_key_say_it_was_a_replay(
    acme: Scenario, argv: list[str], done: str
) -> None:
    """The second run with a key says nothing changed, and what the first did."""
    first = ok(acme, "--as", "admin", *argv).out
    again = ok(acme, "--as", "admin", *argv).out
    key = argv[-1]
    assert not first.startswith("Replay")
    assert again.startswith(f"Replay of idempotency key {key!r}: nothing changed. The first call ")
    assert done in again
    data = ok(acme, "--json", "--as", "admin", *argv).json()
    assert data["replayed"] is True


def test_request_decisions_run_again_say_it_was_a_replay(acme: Scenario) -> None:
    """Approving with the same key twice approves once and says so the second time."""
    request = acme.service.request_credits("member-1", acme.org_id, 400)
    argv = ("--as", "admin", "requests", "approve", request.id, "--key", "ok-1")
    assert ok(acme, *argv).out.startswith(f"Approved request {request.id}: 400 of the 400")
    assert ok(acme, *argv).out.startswith("Replay of idempotency key 'ok-1': nothing changed.")
    assert remaining(acme.service, "member-1") == 1_400


def test_a_command_without_a_key_is_never_a_replay(acme: Scenario) -> None:
    """Without ``--key`` each run acts: two allocations, no replay line."""
    for _ in range(2):
        assert ok(acme, "--as", "admin", "allocate", "member-2", "10").out.startswith("Allocated")
    assert remaining(acme.service, "member-2") == 1_020
