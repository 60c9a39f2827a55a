"""A FastAPI backend that embeds armox-enterprise in its own database transactions, on asyncio.

Each request gets one SQLAlchemy ``AsyncSession`` from the ``db_session`` dependency, and the
library joins it with ``AsyncEnterpriseService.joining(session)``: every use case is a
coroutine that runs in a SAVEPOINT of the request's transaction, and the library never
commits.  A handler commits once, at its end, so the host's own rows (its users, its
generations) and the library's ledger are written together or not at all.  A handler that
raises leaves the session uncommitted, and closing the session rolls everything back.

The caller is named by the ``X-User-Id`` header.  That stands in for the host's real
authentication: a real host takes the user id from its session cookie or token.

Run it on a local SQLite file through aiosqlite (needs ``uvicorn``, ``aiosqlite`` and
``greenlet``)::

    ARMOX_DATABASE_URL=sqlite+aiosqlite:///armox-example.sqlite3 \\
        uvicorn fastapi_app:app_from_environment --factory --app-dir examples
"""

from __future__ import annotations

import enum
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any

import attrs
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from armox_enterprise import (
    ArmoxError,
    AsyncEnterpriseService,
    Conflict,
    InsufficientCredits,
    InsufficientPoolCredits,
    InvalidInput,
    NotFound,
    OrganisationNotFound,
    PermissionDenied,
    StorageError,
    TransientStorageError,
)
from armox_enterprise.adapters.sqlalchemy import configure_sqlite
from armox_enterprise.adapters.sqlalchemy import metadata as library_metadata
from armox_enterprise.ports import Clock, DnsResolver

# The host's own tables: its users and the generations it ran.  They live in the same database
# as the library's tables, so one transaction covers both.
host_metadata = MetaData()
users = Table(
    "app_users",
    host_metadata,
    Column("id", String(64), primary_key=True),
    Column("email", String(320), nullable=False),
)
generations = Table(
    "app_generations",
    host_metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("app_users.id"), nullable=False),
    Column("credits", Integer, nullable=False),
    Column("prompt", String(2000), nullable=False),
)


# ---------------------------------------------------------------- request and response bodies


class SignUpIn(BaseModel):
    user_id: str
    email: str
    email_verified: bool = True
    display_name: str = ""


class GenerationIn(BaseModel):
    generation_id: str
    credits: int
    feature: str | None = None
    model: str | None = None
    prompt: str = ""


class CreditRequestIn(BaseModel):
    credits: int
    note: str = ""


class AllocationIn(BaseModel):
    user_id: str
    credits: int


class DecisionIn(BaseModel):
    credits: int | None = None
    note: str = ""


# ---------------------------------------------------------------- errors


#: Library errors and the HTTP status each answers with, the most specific first; the other
#: refusals (an unclaimable domain, a failed DNS check ...) answer 400.
STATUSES: tuple[tuple[type[ArmoxError], int], ...] = (
    (InsufficientPoolCredits, 409),  # an admin's approval or allocation the pool cannot cover
    (InsufficientCredits, 402),
    (NotFound, 404),
    (PermissionDenied, 403),
    (InvalidInput, 422),
    (Conflict, 409),
    (TransientStorageError, 503),  # the host's transaction failed; the client may try again
    (StorageError, 500),
)


def status_for(error: ArmoxError) -> int:
    """The HTTP status a library error answers with."""
    return next((status for kind, status in STATUSES if isinstance(error, kind)), 400)


def error_body(error: ArmoxError) -> dict[str, Any]:
    """The JSON body of an error response."""
    body: dict[str, Any] = {"error": type(error).__name__, "detail": str(error)}
    if isinstance(error, InsufficientCredits):
        body.update(
            available=error.available, requested=error.requested, can_request=error.can_request
        )
    return body


def to_json(value: object) -> Any:
    """A library record (an attrs class, possibly nested) as JSON-ready data."""
    kind = type(value)
    if attrs.has(kind):
        return {field.name: to_json(getattr(value, field.name)) for field in attrs.fields(kind)}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return _scalar(value)


def _scalar(value: object) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # EmailAddress, DomainName


# ---------------------------------------------------------------- dependencies


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session, and so one transaction, per request; closing it rolls back."""
    async with request.app.state.sessions() as session:
        yield session


def current_user(x_user_id: Annotated[str | None, Header()] = None) -> str:
    """The caller.  A real host asks its authentication instead of trusting a header."""
    if not x_user_id:
        raise HTTPException(status_code=401, detail="send X-User-Id")
    return x_user_id


DbSession = Annotated[AsyncSession, Depends(db_session)]
User = Annotated[str, Depends(current_user)]


async def enterprise(request: Request, session: DbSession) -> AsyncEnterpriseService:
    """The library, joined to the request's transaction.  Building it is cheap (and async
    here only so that FastAPI calls it on the loop, not in its thread pool)."""
    state = request.app.state
    return AsyncEnterpriseService.joining(session, dns=state.dns, clock=state.clock)


Service = Annotated[AsyncEnterpriseService, Depends(enterprise)]


async def organisation_of(service: AsyncEnterpriseService, user: str) -> str:
    """The organisation the user belongs to (a host may keep this with its user instead)."""
    organisation_id = (await service.profile(user)).organisation_id
    if organisation_id is None:
        raise OrganisationNotFound(f"{user} is not a member of an Enterprise organisation")
    return organisation_id


# ---------------------------------------------------------------- endpoints

router = APIRouter()


@router.post("/signup", status_code=201)
async def sign_up(body: SignUpIn, session: DbSession, service: Service) -> dict[str, Any]:
    """The host's sign-up: its own user row and the enrolment decision, in one commit."""
    await session.execute(insert(users).values(id=body.user_id, email=body.email))
    decision = await service.sign_up(
        body.user_id,
        body.email,
        email_verified=body.email_verified,
        display_name=body.display_name,
    )
    await session.commit()
    return {"user_id": body.user_id, "enrolled": decision.enrolled, **to_json(decision)}


@router.post("/generations")
async def generate(body: GenerationIn, user: User, session: DbSession, service: Service) -> Any:
    """Record a generation and spend its credits; a retry with the same id spends nothing."""
    organisation_id = await organisation_of(service, user)
    known = (
        await session.execute(
            select(generations.c.id).where(generations.c.id == body.generation_id)
        )
    ).first()
    if known is None:
        await session.execute(
            insert(generations).values(
                id=body.generation_id, user_id=user, credits=body.credits, prompt=body.prompt
            )
        )
    transfer = await service.spend(
        user,
        organisation_id,
        body.credits,
        generation_id=body.generation_id,
        feature=body.feature,
        model=body.model,
    )
    credits = (await service.profile(user)).credits
    await session.commit()
    return {
        "generation_id": body.generation_id,
        "spent": transfer.amount,
        "transfer_id": transfer.id,
        "remaining": credits.remaining if credits is not None else None,
    }


@router.get("/me/profile")
async def profile(user: User, service: Service) -> Any:
    """The profile page's data: the badge and the Enterprise Credits section, or nothing."""
    return to_json(await service.profile(user))


@router.post("/me/credit-requests", status_code=201)
async def request_credits(
    body: CreditRequestIn, user: User, session: DbSession, service: Service
) -> Any:
    """The "request credits" button."""
    organisation_id = await organisation_of(service, user)
    made = await service.request_credits(user, organisation_id, body.credits, note=body.note)
    await session.commit()
    return to_json(made)


@router.get("/admin/dashboard")
async def dashboard(
    user: User,
    service: Service,
    sort: str = "name",
    descending: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> Any:
    """The admin dashboard: pool figures, one page of members, pending requests."""
    view = await service.dashboard(
        user,
        await organisation_of(service, user),
        sort=sort,  # type: ignore[arg-type]  # the library checks it: InvalidInput
        descending=descending,
        offset=offset,
        limit=limit,
    )
    return to_json(view)


@router.post("/admin/allocations", status_code=201)
async def allocate(body: AllocationIn, user: User, session: DbSession, service: Service) -> Any:
    """Move credits from the pool to a member."""
    organisation_id = await organisation_of(service, user)
    transfer = await service.allocate_credits(user, organisation_id, body.user_id, body.credits)
    await session.commit()
    return to_json(transfer)


@router.post("/admin/credit-requests/{request_id}/approve")
async def approve(
    request_id: str, body: DecisionIn, user: User, session: DbSession, service: Service
) -> Any:
    """Approve a pending request, for the amount asked or for ``credits``."""
    organisation_id = await organisation_of(service, user)
    decided = await service.approve_request(
        user, organisation_id, request_id, amount=body.credits, note=body.note
    )
    await session.commit()
    return to_json(decided)


@router.post("/admin/credit-requests/{request_id}/reject")
async def reject(
    request_id: str, body: DecisionIn, user: User, session: DbSession, service: Service
) -> Any:
    """Reject a pending request."""
    organisation_id = await organisation_of(service, user)
    decided = await service.reject_request(user, organisation_id, request_id, note=body.note)
    await session.commit()
    return to_json(decided)


# ---------------------------------------------------------------- the application


def library_error(request: Request, error: Exception) -> JSONResponse:
    """Answer a library error with its status and a JSON body."""
    if not isinstance(error, ArmoxError):  # pragma: no cover - registered for ArmoxError only
        raise error
    return JSONResponse(error_body(error), status_code=status_for(error))


def create_app(
    engine: AsyncEngine,
    *,
    dns: DnsResolver | None = None,
    clock: Clock | None = None,
    create_tables: bool = False,
) -> FastAPI:
    """Build the application on the host's async engine, which it disposes of when it stops.

    With ``create_tables``, the library's tables and the host's that are missing are created
    when it starts; a production host runs the library's migrations instead.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if create_tables:
            async with engine.begin() as connection:
                await connection.run_sync(library_metadata.create_all)
                await connection.run_sync(host_metadata.create_all)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="armox-enterprise on FastAPI", lifespan=lifespan)
    app.state.sessions = async_sessionmaker(engine)
    app.state.dns = dns
    app.state.clock = clock
    app.add_exception_handler(ArmoxError, library_error)
    app.include_router(router)
    return app


def app_from_environment() -> FastAPI:
    """The application on ``$ARMOX_DATABASE_URL`` (an async driver's URL), creating the tables
    that are missing when it starts."""
    url = os.environ.get("ARMOX_DATABASE_URL", "sqlite+aiosqlite:///armox-example.sqlite3")
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine.sync_engine)  # SAVEPOINTs on SQLite need it
    return create_app(engine, create_tables=True)
