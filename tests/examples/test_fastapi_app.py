"""examples/fastapi_app.py: an asyncio FastAPI host that joins the async service to each
request's ``AsyncSession``.

Each test runs the application on a new SQLite file, through aiosqlite.  The organisation and
its verified domain are set up with the synchronous library directly (an operator's job), and
the figures are read back synchronously; everything else goes through HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from fastapi_app import create_app, generations, host_metadata, users
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.ext.asyncio import create_async_engine

from armox_enterprise import EnterpriseService
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore, configure_sqlite
from armox_enterprise.testing import FrozenClock, StaticDnsResolver


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """The host's engine on a new SQLite file, with the library's tables and the host's."""
    engine = create_engine(f"sqlite:///{tmp_path / 'host.sqlite3'}")
    configure_sqlite(engine)
    SqlAlchemyStore(engine).create_schema()
    host_metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(
    engine: Engine, tmp_path: Path, track_store: Callable[..., None]
) -> Iterator[TestClient]:
    """The application, with Acme (admin Ana, 1,000 credits a month, acme.example verified)."""
    clock, dns = FrozenClock(), StaticDnsResolver()
    operator = EnterpriseService(SqlAlchemyStore(engine), clock=clock, dns=dns)
    org = operator.create_organisation(
        name="Acme", admin_user_id="ana", admin_email="ana@acme.example", monthly_allowance=1_000
    )
    dns.publish("acme.example", operator.claim_domain("ana", org.id, "acme.example").txt_record)
    operator.verify_domain("ana", org.id, "acme.example")
    track_store(operator, lambda: operator.reconcile(org.id))
    # The application's own engine: async, on the same file; it disposes of it when it stops.
    app_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'host.sqlite3'}")
    configure_sqlite(app_engine.sync_engine)
    with TestClient(create_app(app_engine, dns=dns, clock=clock)) as test_client:
        yield test_client


def as_user(user: str) -> dict[str, str]:
    return {"X-User-Id": user}


def sign_up(client: TestClient, user: str, email: str) -> dict[str, Any]:
    response = client.post("/signup", json={"user_id": user, "email": email})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def count(engine: Engine, query: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


@pytest.fixture
def bruno(client: TestClient) -> TestClient:
    """Bruno has signed up with his company address and Ana has given him 100 credits."""
    sign_up(client, "bruno", "bruno@acme.example")
    response = client.post(
        "/admin/allocations", json={"user_id": "bruno", "credits": 100}, headers=as_user("ana")
    )
    assert response.status_code == 201, response.text
    return client


def test_sign_up_stores_the_host_user_and_enrols_company_addresses_only(
    client: TestClient, engine: Engine
) -> None:
    """The sign-up hook runs in the host's transaction: both users are stored, one enrols."""
    company = sign_up(client, "bruno", "bruno@acme.example")
    personal = sign_up(client, "dani", "dani@gmail.com")
    assert (company["enrolled"], company["reason"]) == (True, "domain_match")
    assert (personal["enrolled"], personal["reason"]) == (False, "free_mail_provider")
    assert count(engine, select(func.count()).select_from(users)) == 2


def test_a_generation_is_recorded_and_paid_for_once(bruno: TestClient, engine: Engine) -> None:
    """POST /generations spends once per generation id; the host's row commits with the spend."""
    body = {"generation_id": "gen-1", "credits": 30, "feature": "image", "prompt": "a cat"}
    first = bruno.post("/generations", json=body, headers=as_user("bruno"))
    retry = bruno.post("/generations", json=body, headers=as_user("bruno"))
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert (first.json()["spent"], first.json()["remaining"]) == (30, 70)
    assert count(engine, select(func.count()).select_from(generations)) == 1


def test_running_out_answers_402_and_rolls_back_the_host_row(
    bruno: TestClient, engine: Engine
) -> None:
    """402 carries what is available and whether a request can be made; nothing is kept."""
    response = bruno.post(
        "/generations",
        json={"generation_id": "gen-big", "credits": 150},
        headers=as_user("bruno"),
    )
    assert response.status_code == 402
    assert response.json() == {
        "error": "InsufficientCredits",
        "detail": response.json()["detail"],
        "available": 100,
        "requested": 150,
        "can_request": True,
    }
    assert count(engine, select(func.count()).select_from(generations)) == 0
    credits = bruno.get("/me/profile", headers=as_user("bruno")).json()["credits"]
    assert (credits["used"], credits["remaining"]) == (0, 100)


def test_the_profile_shows_the_badge_and_the_credits_section(bruno: TestClient) -> None:
    """GET /me/profile: an Enterprise member's view, and a personal user's empty one."""
    bruno.post(
        "/generations", json={"generation_id": "gen-1", "credits": 40}, headers=as_user("bruno")
    )
    sign_up(bruno, "dani", "dani@gmail.com")
    member = bruno.get("/me/profile", headers=as_user("bruno")).json()
    personal = bruno.get("/me/profile", headers=as_user("dani")).json()
    assert member["badge"] == "Acme"
    assert member["role"] == "member"
    assert member["subscription_management_hidden"] is True
    credits = member["credits"]
    assert (credits["allocated"], credits["used"], credits["remaining"]) == (100, 40, 60)
    assert credits["can_request"] is True
    assert personal["is_enterprise"] is False
    assert personal["credits"] is None


def test_a_member_requests_credits_and_the_admin_approves_another_amount(
    bruno: TestClient,
) -> None:
    """The request button, the one-open-request rule (409) and an approval for less."""
    made = bruno.post(
        "/me/credit-requests", json={"credits": 200, "note": "launch"}, headers=as_user("bruno")
    )
    assert made.status_code == 201
    assert (made.json()["status"], made.json()["amount"]) == ("pending", 200)
    again = bruno.post("/me/credit-requests", json={"credits": 50}, headers=as_user("bruno"))
    assert (again.status_code, again.json()["error"]) == (409, "TooManyOpenRequests")

    request_id = made.json()["id"]
    approved = bruno.post(
        f"/admin/credit-requests/{request_id}/approve",
        json={"credits": 150},
        headers=as_user("ana"),
    )
    assert approved.status_code == 200
    assert (approved.json()["status"], approved.json()["approved_amount"]) == ("approved", 150)
    twice = bruno.post(
        f"/admin/credit-requests/{request_id}/reject", json={}, headers=as_user("ana")
    )
    assert (twice.status_code, twice.json()["error"]) == (409, "InvalidTransition")
    credits = bruno.get("/me/profile", headers=as_user("bruno")).json()["credits"]
    assert (credits["allocated"], credits["remaining"]) == (250, 250)


def test_the_dashboard_shows_the_pool_and_the_members(bruno: TestClient) -> None:
    """GET /admin/dashboard: pool figures and one row per member, with their figures."""
    bruno.post(
        "/generations", json={"generation_id": "gen-1", "credits": 25}, headers=as_user("bruno")
    )
    response = bruno.get("/admin/dashboard?sort=used&descending=true", headers=as_user("ana"))
    assert response.status_code == 200
    dashboard = response.json()
    pool = dashboard["pool"]
    assert (pool["granted"], pool["allocated"], pool["used"], pool["unallocated"]) == (
        1_000,
        100,
        25,
        900,
    )
    rows = [(m["user_id"], m["allocated"], m["used"], m["remaining"]) for m in dashboard["members"]]
    assert rows == [("bruno", 100, 25, 75), ("ana", 0, 0, 0)]
    assert dashboard["total_members"] == 2


@pytest.mark.parametrize(
    ("method", "path", "user", "json", "status", "error"),
    [
        ("get", "/admin/dashboard", "bruno", None, 403, "PermissionDenied"),
        ("get", "/admin/dashboard", "stranger", None, 404, "OrganisationNotFound"),
        ("get", "/admin/dashboard?sort=mood", "ana", None, 422, "InvalidInput"),
        ("post", "/admin/credit-requests/nope/approve", "ana", {}, 404, "CreditRequestNotFound"),
        (
            "post",
            "/generations",
            "bruno",
            {"generation_id": "gen-0", "credits": 0},
            422,
            "InvalidAmount",
        ),
        (
            "post",
            "/admin/allocations",
            "ana",
            {"user_id": "bruno", "credits": 5_000},
            409,
            "InsufficientPoolCredits",
        ),
    ],
)
def test_library_errors_map_to_http_statuses(
    bruno: TestClient,
    method: str,
    path: str,
    user: str,
    json: dict[str, Any] | None,
    status: int,
    error: str,
) -> None:
    """NotFound 404, PermissionDenied 403, InvalidInput 422, Conflict 409, with the error name."""
    response = bruno.request(method, path, json=json, headers=as_user(user))
    assert (response.status_code, response.json()["error"]) == (status, error)


def test_reusing_a_generation_id_for_another_amount_is_a_conflict(bruno: TestClient) -> None:
    """The same generation id with other parameters answers 409 and spends nothing more."""
    bruno.post(
        "/generations", json={"generation_id": "gen-1", "credits": 10}, headers=as_user("bruno")
    )
    clash = bruno.post(
        "/generations", json={"generation_id": "gen-1", "credits": 20}, headers=as_user("bruno")
    )
    assert (clash.status_code, clash.json()["error"]) == (409, "IdempotencyConflict")
    credits = bruno.get("/me/profile", headers=as_user("bruno")).json()["credits"]
    assert credits["remaining"] == 90


def test_a_request_without_a_user_is_refused(client: TestClient) -> None:
    """No X-User-Id header: 401, before the library is asked anything."""
    response = client.get("/me/profile")
    assert response.status_code == 401


def test_concurrent_requests_spending_at_once_never_overdraw(
    bruno: TestClient, engine: Engine, tmp_path: Path
) -> None:
    """Twelve generations of 10 credits each, requested at once against 100: ten are paid
    for with their host rows, two answer 402 with theirs rolled back."""

    async def burst() -> list[int]:
        app_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'host.sqlite3'}")
        configure_sqlite(app_engine.sync_engine)
        app = create_app(app_engine, dns=StaticDnsResolver(), clock=FrozenClock())
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://host") as http:
                responses = await asyncio.gather(
                    *(
                        http.post(
                            "/generations",
                            json={"generation_id": f"burst-{n}", "credits": 10},
                            headers=as_user("bruno"),
                        )
                        for n in range(12)
                    )
                )
        finally:
            await app_engine.dispose()
        return sorted(response.status_code for response in responses)

    assert asyncio.run(burst()) == [200] * 10 + [402] * 2
    assert count(engine, select(func.count()).select_from(generations)) == 10
    credits = bruno.get("/me/profile", headers=as_user("bruno")).json()["credits"]
    assert (credits["used"], credits["remaining"]) == (100, 0)
