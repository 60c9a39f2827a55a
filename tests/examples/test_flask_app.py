"""examples/flask_app.py: a Flask host whose store owns its transactions.

Each test runs the application on a new SQLite file.  The organisation and its verified domain
are set up with the library directly (an operator's job); everything else goes through HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_app import EXTENSION, create_app

from armox_enterprise import EnterpriseService, to_json
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.testing import FrozenClock, StaticDnsResolver


@pytest.fixture
def client(tmp_path: Path, track_store: Callable[..., None]) -> Iterator[FlaskClient]:
    """The application, with Acme (admin Ana, 1,000 credits a month, acme.example verified)."""
    clock, dns = FrozenClock(), StaticDnsResolver()
    store = SqlAlchemyStore.from_url(f"sqlite:///{tmp_path / 'host.sqlite3'}")
    store.create_schema()
    app = create_app(store, dns=dns, clock=clock)
    service: EnterpriseService = app.extensions[EXTENSION]
    org = service.create_organisation(
        name="Acme", admin_user_id="ana", admin_email="ana@acme.example", monthly_allowance=1_000
    )
    dns.publish("acme.example", service.claim_domain("ana", org.id, "acme.example").txt_record)
    service.verify_domain("ana", org.id, "acme.example")
    track_store(store, lambda: service.reconcile(org.id))
    yield app.test_client()
    store.engine.dispose()


def as_user(user: str) -> dict[str, str]:
    return {"X-User-Id": user}


def sign_up(client: FlaskClient, user: str, email: str) -> dict[str, Any]:
    response = client.post("/signup", json={"user_id": user, "email": email})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.get_json()
    return body


@pytest.fixture
def bruno(client: FlaskClient) -> FlaskClient:
    """Bruno has signed up with his company address and Ana has given him 100 credits."""
    sign_up(client, "bruno", "bruno@acme.example")
    response = client.post(
        "/admin/allocations", json={"user_id": "bruno", "credits": 100}, headers=as_user("ana")
    )
    assert response.status_code == 201, response.text
    assert response.get_json()["amount"] == 100
    return client


def test_sign_up_enrols_company_addresses_only(client: FlaskClient) -> None:
    """The sign-up hook enrols the company address and says why the personal one is not."""
    company = sign_up(client, "bruno", "bruno@acme.example")
    personal = sign_up(client, "dani", "dani@gmail.com")
    assert (company["enrolled"], company["reason"]) == (True, "domain_match")
    assert (personal["enrolled"], personal["reason"]) == (False, "free_mail_provider")


def test_a_generation_is_paid_for_once(bruno: FlaskClient) -> None:
    """POST /generations spends once per generation id; a retry answers the same."""
    body = {"generation_id": "gen-1", "credits": 30, "feature": "image"}
    first = bruno.post("/generations", json=body, headers=as_user("bruno"))
    retry = bruno.post("/generations", json=body, headers=as_user("bruno"))
    assert first.status_code == retry.status_code == 200
    assert first.get_json() == retry.get_json()
    assert (first.get_json()["spent"], first.get_json()["remaining"]) == (30, 70)
    replayed = (first.headers["Idempotent-Replayed"], retry.headers["Idempotent-Replayed"])
    assert replayed == ("false", "true")


def test_answers_use_the_librarys_json_forms(bruno: FlaskClient) -> None:
    """Records come back in their JSON forms: instants in UTC with ``Z``, enum values."""
    profile = bruno.get("/me/profile", headers=as_user("bruno")).get_json()
    assert profile["credits"]["resets_at"].endswith(".000000Z")
    assert profile["role"] == "member"
    service = bruno.application.extensions["armox_enterprise"]
    assert profile == to_json(service.profile("bruno"))


def test_running_out_answers_402_with_the_available_amount(bruno: FlaskClient) -> None:
    """402 carries what is available and whether a request can be made; nothing is spent."""
    response = bruno.post(
        "/generations",
        json={"generation_id": "gen-big", "credits": 150},
        headers=as_user("bruno"),
    )
    assert response.status_code == 402
    body = response.get_json()
    assert (body["error"], body["available"], body["requested"], body["can_request"]) == (
        "InsufficientCredits",
        100,
        150,
        True,
    )
    credits = bruno.get("/me/profile", headers=as_user("bruno")).get_json()["credits"]
    assert (credits["used"], credits["remaining"]) == (0, 100)


def test_the_profile_shows_the_badge_and_the_credits_section(bruno: FlaskClient) -> None:
    """GET /me/profile: an Enterprise member's view, and a personal user's empty one."""
    bruno.post(
        "/generations", json={"generation_id": "gen-1", "credits": 40}, headers=as_user("bruno")
    )
    sign_up(bruno, "dani", "dani@gmail.com")
    member = bruno.get("/me/profile", headers=as_user("bruno")).get_json()
    personal = bruno.get("/me/profile", headers=as_user("dani")).get_json()
    assert (member["badge"], member["role"], member["subscription_management_hidden"]) == (
        "Acme",
        "member",
        True,
    )
    credits = member["credits"]
    assert (credits["allocated"], credits["used"], credits["remaining"]) == (100, 40, 60)
    assert personal["is_enterprise"] is False
    assert personal["credits"] is None


def test_a_member_requests_credits_and_the_admin_decides(bruno: FlaskClient) -> None:
    """The request button, the one-open-request rule (409), a rejection, then an approval."""
    first = bruno.post(
        "/me/credit-requests", json={"credits": 80, "note": "demo day"}, headers=as_user("bruno")
    )
    assert first.status_code == 201
    assert (first.get_json()["status"], first.get_json()["amount"]) == ("pending", 80)
    again = bruno.post("/me/credit-requests", json={"credits": 50}, headers=as_user("bruno"))
    assert (again.status_code, again.get_json()["error"]) == (409, "TooManyOpenRequests")

    rejected = bruno.post(
        f"/admin/credit-requests/{first.get_json()['id']}/reject",
        json={"note": "not this month"},
        headers=as_user("ana"),
    )
    assert (rejected.status_code, rejected.get_json()["status"]) == (200, "rejected")

    second = bruno.post("/me/credit-requests", json={"credits": 60}, headers=as_user("bruno"))
    approved = bruno.post(
        f"/admin/credit-requests/{second.get_json()['id']}/approve", headers=as_user("ana")
    )
    assert (approved.status_code, approved.get_json()["approved_amount"]) == (200, 60)
    credits = bruno.get("/me/profile", headers=as_user("bruno")).get_json()["credits"]
    assert (credits["allocated"], credits["remaining"]) == (160, 160)


def test_the_dashboard_shows_the_pool_and_the_members(bruno: FlaskClient) -> None:
    """GET /admin/dashboard: pool figures, one row per member, and the pending requests."""
    bruno.post(
        "/generations", json={"generation_id": "gen-1", "credits": 25}, headers=as_user("bruno")
    )
    bruno.post("/me/credit-requests", json={"credits": 300}, headers=as_user("bruno"))
    response = bruno.get("/admin/dashboard?sort=used&descending=true", headers=as_user("ana"))
    assert response.status_code == 200
    dashboard = response.get_json()
    pool = dashboard["pool"]
    assert (pool["granted"], pool["allocated"], pool["used"], pool["unallocated"]) == (
        1_000,
        100,
        25,
        900,
    )
    rows = [(m["user_id"], m["allocated"], m["used"], m["remaining"]) for m in dashboard["members"]]
    assert rows == [("bruno", 100, 25, 75), ("ana", 0, 0, 0)]
    assert [r["amount"] for r in dashboard["pending_requests"]] == [300]


@pytest.mark.parametrize(
    ("method", "path", "user", "json", "status", "error"),
    [
        ("get", "/admin/dashboard", "bruno", None, 403, "PermissionDenied"),
        ("get", "/admin/dashboard", "stranger", None, 404, "OrganisationNotFound"),
        ("get", "/admin/dashboard?limit=0", "ana", None, 422, "InvalidInput"),
        ("post", "/admin/credit-requests/nope/approve", "ana", {}, 404, "CreditRequestNotFound"),
        (
            "post",
            "/generations",
            "bruno",
            {"generation_id": "gen-0", "credits": "ten"},
            422,
            "AmountTypeError",
        ),
        (
            "post",
            "/admin/allocations",
            "ana",
            {"user_id": "bruno", "credits": 5_000},
            409,
            "InsufficientPoolCredits",
        ),
        (
            "post",
            "/admin/allocations",
            "ana",
            {"user_id": "dani", "credits": 5},
            404,
            "MemberNotFound",
        ),
    ],
)
def test_library_errors_map_to_http_statuses(
    bruno: FlaskClient,
    method: str,
    path: str,
    user: str,
    json: dict[str, Any] | None,
    status: int,
    error: str,
) -> None:
    """NotFound 404, PermissionDenied 403, InvalidInput 422, Conflict 409, with the error name."""
    response = bruno.open(path, method=method.upper(), json=json, headers=as_user(user))
    assert (response.status_code, response.get_json()["error"]) == (status, error)


def test_reusing_a_generation_id_for_another_amount_is_a_conflict(bruno: FlaskClient) -> None:
    """The same generation id with other parameters answers 409 and spends nothing more."""
    bruno.post(
        "/generations", json={"generation_id": "gen-1", "credits": 10}, headers=as_user("bruno")
    )
    clash = bruno.post(
        "/generations", json={"generation_id": "gen-1", "credits": 20}, headers=as_user("bruno")
    )
    assert (clash.status_code, clash.get_json()["error"]) == (409, "IdempotencyConflict")
    credits = bruno.get("/me/profile", headers=as_user("bruno")).get_json()["credits"]
    assert credits["remaining"] == 90


def test_requests_without_a_user_or_a_field_are_refused(client: FlaskClient) -> None:
    """No X-User-Id header: 401; a missing field: 400; both before the library is asked."""
    assert client.get("/me/profile").status_code == 401
    missing = client.post("/generations", json={"credits": 5}, headers=as_user("bruno"))
    assert (missing.status_code, missing.get_json()["error"]) == (400, "Bad Request")
