"""Hostile arguments to every public call, on the memory store and every SQL backend.

For each argument of each use case, values of the wrong type, out of range, or text no store
can hold (lone surrogates, NUL, far too long) are refused with an error from the library's tree,
the same error class on every store, and nothing changes.  A seeded generator adds random
hostile strings to the fixed cases, so every run tries new ones and each failure reproduces.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from armox_enterprise import (
    ArmoxError,
    EnterpriseService,
    ExistingUser,
    MemoryStore,
    Role,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.ports import Store
from armox_enterprise.testing import enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

START = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)


def _random_hostile_text(seed: int, count: int = 4) -> list[str]:
    """Strings built from the characters stores choke on, around ordinary ones."""
    rng = random.Random(seed)
    pieces = ["\ud800", "\udbff", "\udfff", "\x00", "a", "é", "\u200b", "x" * 300]
    return [
        "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) + "\ud800"
        for _ in range(count)
    ]


#: Hostile values by the kind of argument.  Each is invalid for every argument of its kind.
WRONG_TYPES = [5, 1.5, ["x"], b"x", {"a": 1}, object()]
HOSTILE: dict[str, list[object]] = {
    "text": [None, *WRONG_TYPES, "", "   ", "a\ud800b", "\x00", "x" * 5000],
    "optional_text": [*WRONG_TYPES, "", "a\ud800b", "\x00", "x" * 5000],
    # None keeps a directory's id of a user and "" removes it: neither is hostile.
    "external_id": [*WRONG_TYPES, "   ", "a\ud800b", "\x00", "a\nb", "\x1b[0m", "x" * 256],
    "note": [None, *WRONG_TYPES, "a\ud800b", "x\x00", "x" * 5000],
    "amount": [None, True, 1.0, "5", 0, -1, 2**63, 2**70, [1]],
    "optional_amount": [True, 1.0, "5", 0, -1, 2**63],
    "allowance": [None, True, 1.0, "5", -1, 2**63],
    "flag": [None, 1, "yes", 0.0, [True]],
    "period": [-1, True, "1", 1.5, [0]],
    "limit": [0, -1, True, "10", 2**70, 1.5],
    "role": [None, "owner", 5, "ADMIN", ["admin"]],
    "grouping": [None, "year", 5, ["member"]],
    "sort": [None, "email", 5],
    "status": ["open", 5, ["pending"]],
    "instant": ["2026-01-01", 5, datetime(2026, 1, 1)],  # the last one is naive
    "lifetime": [timedelta(0), timedelta(seconds=-1), timedelta(days=400), 5, "1h"],
    "email": [
        None,
        *WRONG_TYPES,
        "",
        "no-at-sign",
        "a@b",
        "a\ud800@acme.example",
        "a@\u0430cme.example",
    ],
    "domain": [
        None,
        *WRONG_TYPES,
        "",
        "localhost",
        "xn--zz.example",
        "\u0430cme.example",
        "a\ud800.com",
    ],
    "users": [None, 5, "member-9", [5], [{"user_id": "x"}], {"user_id": "x"}],
    "names": [5, "CreditsSpent", ["NoSuchEvent"], [5], {"CreditsSpent": 1}],
    "callable": [None, 42, "handler"],
}


@attrs.define
class World:
    """One organisation with an admin, a member, a hold, a request, a spend and a join request."""

    service: EnterpriseService
    org: str
    hold: str
    request: str
    spend: str
    join_request: str


def _world(store: Store) -> World:
    acme = enterprise(store=store, members=2, allocate=500, start=START)
    service, org = acme.service, acme.org_id
    hold = service.reserve("member-1", org, 10, generation_id="hold-1")
    request = service.request_credits("member-2", org, 50)
    spend = service.spend("member-1", org, 5, generation_id="spend-1")
    service.update_settings("admin", org, join_mode="request")  # type: ignore[arg-type]
    service.sign_up("joiner", "joiner@acme.example", email_verified=True)
    join_request = service.list_join_requests("admin", org)[0].id
    service.update_settings("admin", org, join_mode="automatic")  # type: ignore[arg-type]
    return World(service, org, hold.id, request.id, spend.id, join_request)


def _state(world: World) -> tuple[object, ...]:
    """What a refused call must leave as it was, read through the service."""
    service, org = world.service, world.org
    board = service.dashboard("admin", org, limit=10)
    return (
        board.pool,
        [(m.user_id, m.allocated, m.used, m.remaining, m.on_hold) for m in board.members],
        len(service.audit_log("admin", org, limit=500)),
        [(r.id, r.status) for r in service.list_requests("admin", org, status=None)],
        service.reconcile(org),
    )


#: Each use case: the good arguments (built from the world), and the kind of each argument.
Call = Callable[[World], tuple[Callable[..., Any], dict[str, Any], dict[str, str]]]


def _cases() -> dict[str, Call]:
    def m(name: str, good: Callable[[World], dict[str, Any]], kinds: dict[str, str]) -> Call:
        return lambda w: (getattr(w.service, name), good(w), kinds)

    actor_org = {"actor": "text", "organisation_id": "text"}
    return {
        "spend": m(
            "spend",
            lambda w: {
                "actor": "member-1",
                "organisation_id": w.org,
                "amount": 1,
                "generation_id": "g-new",
                "feature": "f",
                "model": "m",
            },
            {
                **actor_org,
                "amount": "amount",
                "generation_id": "text",
                "feature": "optional_text",
                "model": "optional_text",
            },
        ),
        "reserve": m(
            "reserve",
            lambda w: {
                "actor": "member-1",
                "organisation_id": w.org,
                "amount": 1,
                "generation_id": "r-new",
                "lifetime": timedelta(minutes=5),
            },
            {**actor_org, "amount": "amount", "generation_id": "text", "lifetime": "lifetime"},
        ),
        "capture_hold": m(
            "capture_hold",
            lambda w: {
                "actor": "member-1",
                "organisation_id": w.org,
                "hold_id": w.hold,
                "amount": 5,
                "idempotency_key": "k",
            },
            {
                **actor_org,
                "hold_id": "text",
                "amount": "optional_amount",
                "idempotency_key": "optional_text",
            },
        ),
        "release_hold": m(
            "release_hold",
            lambda w: {"actor": "member-1", "organisation_id": w.org, "hold_id": w.hold},
            {**actor_org, "hold_id": "text"},
        ),
        "top_up": m(
            "top_up",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "amount": 5,
                "idempotency_key": "k",
            },
            {**actor_org, "amount": "amount", "idempotency_key": "optional_text"},
        ),
        "allocate_credits": m(
            "allocate_credits",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "user_id": "member-2",
                "amount": 5,
            },
            {**actor_org, "user_id": "text", "amount": "amount"},
        ),
        "reclaim_credits": m(
            "reclaim_credits",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "user_id": "member-2",
                "amount": 5,
            },
            {**actor_org, "user_id": "text", "amount": "amount"},
        ),
        "refund": m(
            "refund",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "transfer_id": w.spend,
                "amount": 1,
            },
            {**actor_org, "transfer_id": "text", "amount": "optional_amount"},
        ),
        "request_credits": m(
            "request_credits",
            lambda w: {"actor": "member-1", "organisation_id": w.org, "amount": 5, "note": "n"},
            {**actor_org, "amount": "amount", "note": "note"},
        ),
        "approve_request": m(
            "approve_request",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "request_id": w.request,
                "amount": 5,
                "note": "ok",
            },
            {**actor_org, "request_id": "text", "amount": "optional_amount", "note": "note"},
        ),
        "reject_request": m(
            "reject_request",
            lambda w: {"actor": "admin", "organisation_id": w.org, "request_id": w.request},
            {**actor_org, "request_id": "text"},
        ),
        "cancel_request": m(
            "cancel_request",
            lambda w: {"actor": "member-2", "organisation_id": w.org, "request_id": w.request},
            {**actor_org, "request_id": "text"},
        ),
        "decide_join_request": m(
            "decide_join_request",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "request_id": w.join_request,
                "approve": True,
            },
            {**actor_org, "request_id": "text", "approve": "flag"},
        ),
        "capture_existing_users": m(
            "capture_existing_users",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "users": [ExistingUser("old-1", "old-1@acme.example", True)],
            },
            {**actor_org, "users": "users"},
        ),
        "invite": m(
            "invite",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "email": "guest@elsewhere.example",
                "role": Role.MEMBER,
            },
            {**actor_org, "email": "email", "role": "role"},
        ),
        "claim_domain": m(
            "claim_domain",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "domain": "acme.dev",
                "include_subdomains": False,
            },
            {**actor_org, "domain": "domain", "include_subdomains": "flag"},
        ),
        "change_role": m(
            "change_role",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "user_id": "member-2",
                "role": Role.ADMIN,
            },
            {**actor_org, "user_id": "text", "role": "role"},
        ),
        "remove_member": m(
            "remove_member",
            lambda w: {"actor": "admin", "organisation_id": w.org, "user_id": "member-2"},
            {**actor_org, "user_id": "text"},
        ),
        "provision_member": m(
            "provision_member",
            lambda w: {
                "organisation_id": w.org,
                "user_id": "hired",
                "email": "hired@else.example",
                "display_name": "Hired",
                "external_id": "ext-hired",
            },
            {
                "organisation_id": "text",
                "user_id": "text",
                "email": "email",
                "display_name": "note",
                "external_id": "external_id",
            },
        ),
        "deactivate_member": m(
            "deactivate_member",
            lambda w: {"organisation_id": w.org, "user_id": "member-2", "external_id": "ext-2"},
            {"organisation_id": "text", "user_id": "text", "external_id": "external_id"},
        ),
        "delete_member": m(
            "delete_member",
            lambda w: {"organisation_id": w.org, "user_id": "member-2"},
            {"organisation_id": "text", "user_id": "text"},
        ),
        "directory_users": m(
            "directory_users", lambda w: {"organisation_id": w.org}, {"organisation_id": "text"}
        ),
        "directory_user": m(
            "directory_user",
            lambda w: {"organisation_id": w.org, "user_id": "member-2"},
            {"organisation_id": "text", "user_id": "text"},
        ),
        "reactivate_member": m(
            "reactivate_member",
            lambda w: {"organisation_id": w.org, "user_id": "member-2"},
            {"organisation_id": "text", "user_id": "text"},
        ),
        "directory_members": m(
            "directory_members", lambda w: {"organisation_id": w.org}, {"organisation_id": "text"}
        ),
        "directory_member": m(
            "directory_member",
            lambda w: {"organisation_id": w.org, "user_id": "member-2"},
            {"organisation_id": "text", "user_id": "text"},
        ),
        "set_standing_allotment": m(
            "set_standing_allotment",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "user_id": "member-2",
                "amount": 5,
            },
            {**actor_org, "user_id": "text", "amount": "allowance"},
        ),
        "set_monthly_allowance": m(
            "set_monthly_allowance",
            lambda w: {"actor": "admin", "organisation_id": w.org, "amount": 5},
            {**actor_org, "amount": "allowance"},
        ),
        "audit_log": m(
            "audit_log",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "names": ["CreditsSpent"],
                "by": "member-1",
                "since": START,
                "limit": 5,
            },
            {
                **actor_org,
                "names": "names",
                "by": "optional_text",
                "since": "instant",
                "limit": "limit",
            },
        ),
        "usage_report": m(
            "usage_report",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "by": "member",
                "first_period": 0,
                "user_id": "member-1",
            },
            {**actor_org, "by": "grouping", "first_period": "period", "user_id": "optional_text"},
        ),
        "top_consumers": m(
            "top_consumers",
            lambda w: {"actor": "admin", "organisation_id": w.org, "limit": 5},
            {**actor_org, "limit": "limit"},
        ),
        "dashboard": m(
            "dashboard",
            lambda w: {
                "actor": "admin",
                "organisation_id": w.org,
                "sort": "used",
                "descending": True,
                "limit": 5,
            },
            {**actor_org, "sort": "sort", "descending": "flag", "limit": "limit"},
        ),
        "list_requests": m(
            "list_requests",
            lambda w: {"actor": "admin", "organisation_id": w.org, "status": None},
            {**actor_org, "status": "status"},
        ),
        "profile": m("profile", lambda w: {"user_id": "member-1"}, {"user_id": "text"}),
        "sign_up": m(
            "sign_up",
            lambda w: {
                "user_id": "newcomer",
                "email": "newcomer@acme.example",
                "email_verified": True,
                "display_name": "New",
            },
            {"user_id": "text", "email": "email", "email_verified": "flag", "display_name": "note"},
        ),
        "create_organisation": m(
            "create_organisation",
            lambda w: {
                "name": "Other",
                "admin_user_id": "founder",
                "admin_email": "founder@other.example",
                "monthly_allowance": 5,
            },
            {
                "name": "text",
                "admin_user_id": "text",
                "admin_email": "email",
                "monthly_allowance": "allowance",
            },
        ),
        "subscribe": m("subscribe", lambda w: {"handler": print}, {"handler": "callable"}),
        "relay": m(
            "relay",
            lambda w: {"publish": print, "limit": 5},
            {"publish": "callable", "limit": "limit"},
        ),
        "check_alerts": m(
            "check_alerts",
            lambda w: {"organisation_id": w.org},
            {"organisation_id": "optional_text"},
        ),
        "reconcile": m(
            "reconcile", lambda w: {"organisation_id": w.org}, {"organisation_id": "text"}
        ),
    }


CASES = _cases()


def _outcome(call: Callable[..., Any], kwargs: dict[str, Any]) -> str:
    try:
        result = call(**kwargs)
        if hasattr(result, "__next__"):
            list(result)
    except ArmoxError as exc:
        return type(exc).__name__
    except Exception as exc:
        return f"ESCAPED {type(exc).__name__}: {exc!r}"[:300]
    return "accepted"


def _refuses_everything(world: World, seed: int) -> None:
    escaped: list[str] = []
    accepted: list[str] = []
    tried = 0
    before = _state(world)
    for name, case in CASES.items():
        call, good, kinds = case(world)
        for argument, kind in kinds.items():
            values = list(HOSTILE[kind])
            if kind in ("text", "optional_text", "note"):
                values += _random_hostile_text(seed + len(argument))
            for value in values:
                tried += 1
                outcome = _outcome(call, {**good, argument: value})
                label = f"{name}({argument}={value!r:.40})"
                if outcome.startswith("ESCAPED"):
                    escaped.append(f"{label}: {outcome}")
                elif outcome == "accepted":
                    accepted.append(label)
    assert tried > 600
    assert escaped == []
    assert accepted == []
    assert _state(world) == before


def test_every_hostile_argument_is_refused_in_memory() -> None:
    """On the memory store, every use case refuses every hostile value of every argument with
    the library's own error, and the organisation's state is as it was."""
    _refuses_everything(_world(MemoryStore()), random.randrange(1 << 16))


def test_every_hostile_argument_is_refused_by_sql(backend: Backend) -> None:
    """On every SQL backend, every use case refuses every hostile value of every argument with
    the library's own error, and the organisation's state is as it was."""
    _refuses_everything(_world(SqlAlchemyStore(backend.engine)), random.randrange(1 << 16))


@pytest.fixture(scope="module")
def memory_answers() -> dict[str, str]:
    """Each hostile call's answer on the memory store: what every store must answer."""
    answers: dict[str, str] = {}
    world = _world(MemoryStore())
    for name, case in CASES.items():
        call, good, kinds = case(world)
        for argument, kind in kinds.items():
            for index, value in enumerate(HOSTILE[kind]):
                answers[f"{name}:{argument}:{index}"] = _outcome(call, {**good, argument: value})
    return answers


def test_every_store_answers_a_hostile_call_as_the_memory_store_does(
    backend: Backend, memory_answers: dict[str, str]
) -> None:
    """The same hostile call gets the same error class on every SQL backend as in memory."""
    world = _world(SqlAlchemyStore(backend.engine))
    differ = []
    for name, case in CASES.items():
        call, good, kinds = case(world)
        for argument, kind in kinds.items():
            for index, value in enumerate(HOSTILE[kind]):
                got = _outcome(call, {**good, argument: value})
                expected = memory_answers[f"{name}:{argument}:{index}"]
                if got != expected:
                    differ.append(f"{name}({argument}={value!r:.40}): {got} != {expected}")
    assert differ == []
