"""Join requests on SQL: a request moves only while pending (``UPDATE ... WHERE pending``)."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import (
    join_request_from_row,
    join_request_values,
)
from armox_enterprise.domain.organisation import JoinRequest, JoinRequestStatus
from armox_enterprise.exceptions import InvalidTransition

__all__ = ["SqlJoinRequests"]


class SqlJoinRequests(Repository):
    """The :class:`~armox_enterprise.ports.JoinRequestRepository` of the SQLAlchemy store."""

    def add(self, request: JoinRequest) -> None:
        """Store a new join request."""
        self._db.write(insert(self._t.join_requests).values(**join_request_values(request)))

    def get(self, organisation_id: str, request_id: str) -> JoinRequest | None:
        """Return the join request, or ``None``."""
        t = self._t.join_requests
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.id == request_id)
        )
        return None if row is None else join_request_from_row(row)

    def pending_for_user(self, user_id: str) -> JoinRequest | None:
        """Return the user's oldest pending join request, or ``None``.

        The one query of join requests across organisations (by the index on ``user_id``,
        ``status``): on a database distributed by organisation it asks every shard.
        """
        t = self._t.join_requests
        row = self._db.one(
            select(t)
            .where(t.c.user_id == user_id, t.c.status == JoinRequestStatus.PENDING.value)
            .order_by(t.c.created_at, t.c.id)
        )
        return None if row is None else join_request_from_row(row)

    def update(self, request: JoinRequest) -> None:
        """Store the decision on a pending request (``InvalidTransition`` if it is not)."""
        t = self._t.join_requests
        count = self._db.write(
            update(t)
            .where(
                t.c.organisation_id == request.organisation_id,
                t.c.id == request.id,
                t.c.status == JoinRequestStatus.PENDING.value,
            )
            .values(
                status=request.status.value,
                decided_by=request.decided_by,
                decided_at=request.decided_at,
            )
        )
        if not count:
            raise InvalidTransition(f"join request {request.id} is no longer pending")

    def list_pending(self, organisation_id: str) -> list[JoinRequest]:
        """Return the organisation's pending join requests, oldest first."""
        t = self._t.join_requests
        query = (
            select(t)
            .where(
                t.c.organisation_id == organisation_id,
                t.c.status == JoinRequestStatus.PENDING.value,
            )
            .order_by(t.c.created_at, t.c.id)
        )
        return [join_request_from_row(row) for row in self._db.rows(query)]
