"""A Flask backend that embeds armox-enterprise with a store that owns its transactions.

The application builds one ``EnterpriseService`` on a store made by
``SqlAlchemyStore.from_url(url)`` and shares it between requests (the service and the store are
thread-safe).  Each call is a transaction of its own that the library commits, and the service
retries it when the database reports a transient failure (a deadlock, a serialization failure,
a lost connection).  This suits a host whose own writes need not commit together with the
library's; ``fastapi_app.py`` shows a host that joins the library to its own transaction.

The caller is named by the ``X-User-Id`` header.  That stands in for the host's real
authentication: a real host takes the user id from its session cookie or token.

Run it on a local SQLite file::

    ARMOX_DATABASE_URL=sqlite:///armox-example.sqlite3 \\
        flask --app 'examples/flask_app:app_from_environment()' run
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from armox_enterprise import (
    ArmoxError,
    Conflict,
    EnterpriseService,
    InsufficientCredits,
    InsufficientPoolCredits,
    InvalidInput,
    NotFound,
    OrganisationNotFound,
    PermissionDenied,
    StorageError,
    TransientStorageError,
    to_json,
    watch_replays,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.ports import Clock, DnsResolver

EXTENSION = "armox_enterprise"

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


# ---------------------------------------------------------------- helpers for the views


def service() -> EnterpriseService:
    """The application's service."""
    enterprise: EnterpriseService = current_app.extensions[EXTENSION]
    return enterprise


def current_user() -> str:
    """The caller.  A real host asks its authentication instead of trusting a header."""
    user = request.headers.get("X-User-Id")
    if not user:
        abort(401, "send X-User-Id")
    return user


def body() -> dict[str, Any]:
    """The request's JSON object (an empty one when there is none)."""
    data = request.get_json(silent=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        abort(400, "the body must be a JSON object")
    return data


def required(data: dict[str, Any], name: str) -> Any:
    """A required field of the body; the library checks its value."""
    if name not in data:
        abort(400, f"missing field {name!r}")
    return data[name]


def organisation_of(user: str) -> str:
    """The organisation the user belongs to (a host may keep this with its user instead)."""
    organisation_id = service().profile(user).organisation_id
    if organisation_id is None:
        raise OrganisationNotFound(f"{user} is not a member of an Enterprise organisation")
    return organisation_id


# ---------------------------------------------------------------- the application


def create_app(
    store: SqlAlchemyStore, *, dns: DnsResolver | None = None, clock: Clock | None = None
) -> Flask:
    """Build the application on a store that owns its transactions (its tables must exist)."""
    app = Flask(__name__)
    app.extensions[EXTENSION] = EnterpriseService(store, dns=dns, clock=clock)

    @app.errorhandler(ArmoxError)
    def library_error(error: ArmoxError) -> tuple[Response, int]:
        return jsonify(error_body(error)), status_for(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        return jsonify(error=error.name, detail=error.description), error.code or 500

    @app.post("/signup")
    def sign_up() -> tuple[Response, int]:
        """The host's sign-up flow calls the library's sign-up hook."""
        data = body()
        user_id = required(data, "user_id")
        decision = service().sign_up(
            user_id,
            required(data, "email"),
            email_verified=data.get("email_verified", True),
            display_name=data.get("display_name", ""),
        )
        # The decision's JSON form carries ``enrolled`` as well as the outcome and reason.
        return jsonify(user_id=user_id, **to_json(decision)), 201

    @app.post("/generations")
    def generate() -> Response:
        """Spend a generation's credits; a retry with the same id spends nothing.

        A retry answers with the same body and an ``Idempotent-Replayed: true`` header.
        """
        user, data = current_user(), body()
        amount, generation_id = required(data, "credits"), required(data, "generation_id")
        enterprise = service()
        with watch_replays() as watch:
            transfer = enterprise.spend(
                user,
                organisation_of(user),
                amount,
                generation_id=generation_id,
                feature=data.get("feature"),
                model=data.get("model"),
            )
        credits = enterprise.profile(user).credits
        response = jsonify(
            generation_id=generation_id,
            spent=transfer.amount,
            transfer_id=transfer.id,
            remaining=credits.remaining if credits is not None else None,
        )
        response.headers["Idempotent-Replayed"] = "true" if watch.replayed else "false"
        return response

    @app.get("/me/profile")
    def profile() -> Response:
        """The profile page's data: the badge and the Enterprise Credits section, or nothing."""
        return jsonify(to_json(service().profile(current_user())))

    @app.post("/me/credit-requests")
    def request_credits() -> tuple[Response, int]:
        """The "request credits" button."""
        user, data = current_user(), body()
        made = service().request_credits(
            user, organisation_of(user), required(data, "credits"), note=data.get("note", "")
        )
        return jsonify(to_json(made)), 201

    @app.get("/admin/dashboard")
    def dashboard() -> Response:
        """The admin dashboard: pool figures, one page of members, pending requests."""
        user = current_user()
        view = service().dashboard(
            user,
            organisation_of(user),
            sort=request.args.get("sort", "name"),  # type: ignore[arg-type]  # checked: InvalidInput
            descending=request.args.get("descending", "false").lower() in ("1", "true"),
            offset=request.args.get("offset", 0, type=int),
            limit=request.args.get("limit", 50, type=int),
        )
        return jsonify(to_json(view))

    @app.post("/admin/allocations")
    def allocate() -> tuple[Response, int]:
        """Move credits from the pool to a member."""
        user, data = current_user(), body()
        transfer = service().allocate_credits(
            user, organisation_of(user), required(data, "user_id"), required(data, "credits")
        )
        return jsonify(to_json(transfer)), 201

    @app.post("/admin/credit-requests/<request_id>/approve")
    def approve(request_id: str) -> Response:
        """Approve a pending request, for the amount asked or for ``credits``."""
        user, data = current_user(), body()
        decided = service().approve_request(
            user,
            organisation_of(user),
            request_id,
            amount=data.get("credits"),
            note=data.get("note", ""),
        )
        return jsonify(to_json(decided))

    @app.post("/admin/credit-requests/<request_id>/reject")
    def reject(request_id: str) -> Response:
        """Reject a pending request."""
        user, data = current_user(), body()
        decided = service().reject_request(
            user, organisation_of(user), request_id, note=data.get("note", "")
        )
        return jsonify(to_json(decided))

    return app


def app_from_environment() -> Flask:
    """The application on ``$ARMOX_DATABASE_URL``, creating the tables that are missing.

    A production host runs the library's migrations instead of ``create_schema``.
    """
    url = os.environ.get("ARMOX_DATABASE_URL", "sqlite:///armox-example.sqlite3")
    store = SqlAlchemyStore.from_url(url)
    store.create_schema()
    return create_app(store)
