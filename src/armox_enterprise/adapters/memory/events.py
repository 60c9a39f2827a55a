"""The memory store's stored events: the outbox and the audit log.

The unit of work appends an organisation's events on commit, each with the id it is stored
under; an event's stored form (:class:`~armox_enterprise.ports.StoredEvent`, its payload
read from the event's own fields) is built when it is read, so committing an event costs only
its id.  Whether an event was published is kept apart (``published``), so marking it is a
journalled write like any other.  A claim needs no lock of its own: the unit of work holds the
store's lock until it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.ports import StoredEvent

__all__ = ["MemoryEvents"]


class MemoryEvents(MemoryRepository):
    """The :class:`~armox_enterprise.ports.EventRepository` of the memory store."""

    def claim(self, *, limit: int) -> list[StoredEvent]:
        claimed: list[StoredEvent] = []
        published = self._s.published
        for organisation_id in sorted(self._s.stored_events):
            for event_id, event in self._s.stored_events[organisation_id]:
                if len(claimed) >= limit:
                    return claimed
                if event_id not in published:
                    claimed.append(StoredEvent.of(event, stored_id=event_id))
        return claimed

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        for event_id in event_ids:
            self._j.set(self._s.published, event_id, at)

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
        found = [
            (event_id, e)
            for event_id, e in self._s.stored_events.get(organisation_id, ())
            if (names is None or e.name in names)
            and (actor is None or e.actor == actor)
            and (since is None or e.occurred_at >= since)
            and (until is None or e.occurred_at < until)
        ]
        found.sort(key=lambda entry: (entry[1].occurred_at, entry[0]), reverse=True)
        published = self._s.published
        return [
            StoredEvent.of(e, stored_id=event_id, published_at=published.get(event_id))
            for event_id, e in found[offset : offset + limit]
        ]
