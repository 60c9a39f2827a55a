"""Credit requests on SQL: only a pending request is decided (``UPDATE ... WHERE pending``),
so of two admins deciding at once exactly one wins."""

from __future__ import annotations

from sqlalchemy import and_, insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import (
    credit_request_from_row,
    credit_request_values,
)
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.exceptions import InvalidTransition, NotFound

__all__ = ["SqlCreditRequests"]


class SqlCreditRequests(Repository):
    """The :class:`~armox_enterprise.ports.CreditRequestRepository` of the SQLAlchemy store."""

    def add(self, request: CreditRequest) -> None:
        """Store a new credit request."""
        self._db.write(insert(self._t.credit_requests).values(**credit_request_values(request)))

    def get(self, organisation_id: str, request_id: str) -> CreditRequest | None:
        """Return the credit request, or ``None``."""
        t = self._t.credit_requests
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.id == request_id)
        )
        return None if row is None else credit_request_from_row(row)

    def decide(self, request: CreditRequest) -> None:
        """Store the decision on a pending request.

        Raises:
            NotFound: there is no such request.
            InvalidTransition: it was decided already.
        """
        t = self._t.credit_requests
        where = and_(t.c.organisation_id == request.organisation_id, t.c.id == request.id)
        count = self._db.write(
            update(t)
            .where(where, t.c.status == RequestStatus.PENDING.value)
            .values(
                status=request.status.value,
                approved_amount=request.approved_amount,
                decided_by=request.decided_by,
                decided_at=request.decided_at,
                decision_note=request.decision_note,
            )
        )
        if not count:
            row = self._db.one(select(t.c.status).where(where))
            if row is None:
                raise NotFound(f"credit request {request.id} does not exist")
            raise InvalidTransition(f"credit request {request.id} is already {row[0]}")

    def list(
        self,
        organisation_id: str,
        *,
        status: RequestStatus | None = None,
        user_id: str | None = None,
        period_index: int | None = None,
    ) -> list[CreditRequest]:
        """Return the matching requests, oldest first."""
        t = self._t.credit_requests
        query = select(t).where(t.c.organisation_id == organisation_id)
        if status is not None:
            query = query.where(t.c.status == status.value)
        if user_id is not None:
            query = query.where(t.c.user_id == user_id)
        if period_index is not None:
            query = query.where(t.c.period_index == period_index)
        rows = self._db.rows(query.order_by(t.c.created_at, t.c.id))
        return [credit_request_from_row(row) for row in rows]
