"""Stored events on SQLAlchemy: the outbox a relay drains, and the audit log.

An event is its organisation's row, keyed ``(organisation_id, id)``.  The port marks events
published by id; the repository remembers, on the connection, which organisation each event of
its last claim belongs to, so the ``UPDATE`` names the organisations too (one shard each on a
database distributed by organisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, and_, insert, or_, select, update

from armox_enterprise.adapters.sqlalchemy.connection import BoundConnection
from armox_enterprise.adapters.sqlalchemy.records import payload_text, stored_event_from_row
from armox_enterprise.ports import StoredEvent

__all__ = ["SqlEvents", "insert_events"]

#: Where a claim leaves, in the connection's ``info``, the organisation of each event it returned.
_CLAIMED = "armox_enterprise.claimed_events"


def insert_events(db: BoundConnection, events: Sequence[StoredEvent]) -> None:
    """Store ``events`` in the unit of work's transaction (one statement for all), unpublished."""
    if not events:
        return
    db.write(
        insert(db.tables.events),
        [
            {
                "id": e.id,
                "organisation_id": e.organisation_id,
                "name": e.name,
                "actor": e.actor,
                "occurred_at": e.occurred_at,
                "payload": payload_text(e.payload),
                "published_at": None,
            }
            for e in events
        ],
    )


class SqlEvents:
    """The :class:`~armox_enterprise.ports.EventRepository` of the SQLAlchemy store."""

    def __init__(self, db: BoundConnection) -> None:
        self._db = db
        self._t: Table = db.tables.events

    def claim(self, *, limit: int) -> list[StoredEvent]:
        """Return up to ``limit`` unpublished events of organisations no other relay holds.

        Each organisation's relay-lock row is locked (``SKIP LOCKED``) until the unit of work
        ends, so concurrent relays take different organisations and each organisation's
        events go out in order.
        """
        t = self._t
        locks = self._db.tables.relay_locks
        pending = select(t.c.organisation_id).where(t.c.published_at.is_(None)).distinct()
        lock = (
            select(locks.c.organisation_id)
            .where(locks.c.organisation_id.in_(pending))
            .order_by(locks.c.organisation_id)
            .limit(limit)
        )
        if self._db.dialect != "sqlite":  # SQLite's writers are serialised already
            lock = lock.with_for_update(skip_locked=True)
        organisations = [row[0] for row in self._db.rows(lock)]
        if not organisations:
            return []
        query = (
            select(t)
            .where(t.c.organisation_id.in_(organisations), t.c.published_at.is_(None))
            .order_by(t.c.organisation_id, t.c.id)
            .limit(limit)
        )
        events = [stored_event_from_row(row) for row in self._db.rows(query)]
        self._db.connection.info[_CLAIMED] = {e.id: e.organisation_id for e in events}
        return events

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        """Record that the events were handed to the host at ``at``.

        The events of the last claim on this connection are looked for in their
        organisations only; any other id in every organisation (ids are time-ordered UUIDs,
        unique in practice, though the key is ``(organisation_id, id)``).
        """
        if not event_ids:
            return
        t = self._t
        claimed: dict[str, str] = self._db.connection.info.get(_CLAIMED, {})
        known = [i for i in event_ids if i in claimed]
        unknown = [i for i in event_ids if i not in claimed]
        where = []
        if known:
            organisations = sorted({claimed[i] for i in known})
            where.append(and_(t.c.organisation_id.in_(organisations), t.c.id.in_(known)))
        if unknown:
            where.append(t.c.id.in_(unknown))
        self._db.write(update(t).where(or_(*where)).values(published_at=at))

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
        """Return the organisation's events (the audit log), newest first, filtered and paged."""
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
        return [stored_event_from_row(row) for row in self._db.rows(query)]
