"""Stored events on SQLAlchemy: the outbox a relay drains, and the audit log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, Table, insert, select, update

from armox_enterprise.ports import StoredEvent

if TYPE_CHECKING:
    from armox_enterprise.adapters.sqlalchemy.store import _Base

__all__ = ["SqlEvents", "insert_events"]


def _row(row: Row[Any]) -> StoredEvent:
    m = row._mapping
    return StoredEvent(
        id=m["id"],
        organisation_id=m["organisation_id"],
        name=m["name"],
        actor=m["actor"],
        occurred_at=m["occurred_at"],
        payload=json.loads(m["payload"]),
        published_at=m["published_at"],
    )


def insert_events(base: _Base, events: Sequence[StoredEvent]) -> None:
    """Store ``events`` in the unit of work's transaction (one statement for all)."""
    if not events:
        return
    base.write(
        insert(base.t.events),
        [
            {
                "id": e.id,
                "organisation_id": e.organisation_id,
                "name": e.name,
                "actor": e.actor,
                "occurred_at": e.occurred_at,
                "payload": json.dumps(dict(e.payload), sort_keys=True),
                "published_at": None,
            }
            for e in events
        ],
    )


class SqlEvents:
    """The :class:`~armox_enterprise.ports.EventRepository` of the SQLAlchemy store."""

    def __init__(self, base: _Base) -> None:
        self._b = base
        self._t: Table = base.t.events

    def claim(self, *, limit: int) -> list[StoredEvent]:
        t = self._t
        locks = self._b.t.relay_locks
        pending = select(t.c.organisation_id).where(t.c.published_at.is_(None)).distinct()
        lock = (
            select(locks.c.organisation_id)
            .where(locks.c.organisation_id.in_(pending))
            .order_by(locks.c.organisation_id)
            .limit(limit)
        )
        if self._b.dialect != "sqlite":  # SQLite's writers are serialised already
            lock = lock.with_for_update(skip_locked=True)
        organisations = [row[0] for row in self._b.rows(lock)]
        if not organisations:
            return []
        query = (
            select(t)
            .where(t.c.organisation_id.in_(organisations), t.c.published_at.is_(None))
            .order_by(t.c.organisation_id, t.c.id)
            .limit(limit)
        )
        return [_row(row) for row in self._b.rows(query)]

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        if not event_ids:
            return
        t = self._t
        self._b.write(update(t).where(t.c.id.in_(list(event_ids))).values(published_at=at))

    def list(
        self,
        organisation_id: str,
        *,
        names: Sequence[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> list[StoredEvent]:
        t = self._t
        query = select(t).where(t.c.organisation_id == organisation_id)
        if names is not None:
            query = query.where(t.c.name.in_(list(names)))
        if actor is not None:
            query = query.where(t.c.actor == actor)
        if since is not None:
            query = query.where(t.c.occurred_at >= since)
        if until is not None:
            query = query.where(t.c.occurred_at < until)
        query = query.order_by(t.c.occurred_at.desc(), t.c.id.desc()).offset(offset).limit(limit)
        return [_row(row) for row in self._b.rows(query)]
