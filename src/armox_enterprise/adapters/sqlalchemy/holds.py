"""Holds on SQL: a hold resolves once (``UPDATE ... WHERE status = 'pending'``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import hold_from_row, hold_values
from armox_enterprise.domain.ledger import Hold, HoldStatus
from armox_enterprise.exceptions import HoldAlreadyResolved, NotFound

__all__ = ["SqlHolds"]


class SqlHolds(Repository):
    """The :class:`~armox_enterprise.ports.HoldRepository` of the SQLAlchemy store."""

    def add(self, hold: Hold) -> None:
        """Store a new hold."""
        self._db.write(insert(self._t.holds).values(**hold_values(hold)))

    def get(self, organisation_id: str, hold_id: str) -> Hold | None:
        """Return the hold, or ``None``."""
        t = self._t.holds
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.id == hold_id)
        )
        return None if row is None else hold_from_row(row)

    def resolve(self, hold: Hold) -> None:
        """Store the resolution of a pending hold.

        Raises:
            NotFound: there is no such hold.
            HoldAlreadyResolved: it was resolved already (by a concurrent call, say).
        """
        t = self._t.holds
        where = and_(t.c.organisation_id == hold.organisation_id, t.c.id == hold.id)
        count = self._db.write(
            update(t)
            .where(where, t.c.status == HoldStatus.PENDING.value)
            .values(status=hold.status.value, captured=hold.captured, resolved_at=hold.resolved_at)
        )
        if not count:
            row = self._db.one(select(t.c.status).where(where))
            if row is None:
                raise NotFound(f"hold {hold.id} does not exist")
            raise HoldAlreadyResolved(f"hold {hold.id} is already {row[0]}")

    def pending(
        self,
        organisation_id: str,
        *,
        user_id: str | None = None,
        expiring_before: datetime | None = None,
    ) -> list[Hold]:
        """Return the pending holds (of one user, or expiring by an instant), oldest first."""
        t = self._t.holds
        query = select(t).where(
            t.c.organisation_id == organisation_id, t.c.status == HoldStatus.PENDING.value
        )
        if user_id is not None:
            query = query.where(t.c.user_id == user_id)
        if expiring_before is not None:
            query = query.where(t.c.expires_at <= expiring_before)
        return [hold_from_row(row) for row in self._db.rows(query.order_by(t.c.created_at, t.c.id))]
