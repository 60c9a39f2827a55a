"""Idempotency records on SQL: the key is unique per organisation in the table itself."""

from __future__ import annotations

from sqlalchemy import insert, select

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import idempotency_from_row, idempotency_values
from armox_enterprise.exceptions import DuplicateIdempotencyKey
from armox_enterprise.ports import IdempotencyRecord

__all__ = ["SqlIdempotency"]


class SqlIdempotency(Repository):
    """The :class:`~armox_enterprise.ports.IdempotencyRepository` of the SQLAlchemy store."""

    def get(self, organisation_id: str, key: str) -> IdempotencyRecord | None:
        """Return the record of ``key`` in the organisation, or ``None``."""
        t = self._t.idempotency
        row = self._db.one(select(t).where(t.c.organisation_id == organisation_id, t.c.key == key))
        return None if row is None else idempotency_from_row(row)

    def add(self, record: IdempotencyRecord) -> None:
        """Store a new record (``DuplicateIdempotencyKey`` if the key was used)."""
        error = DuplicateIdempotencyKey(f"idempotency key {record.key!r} was already used")
        self._db.write(
            insert(self._t.idempotency).values(**idempotency_values(record)), error=error
        )
