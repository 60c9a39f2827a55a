"""The memory store's stored events: the outbox and the audit log.

The unit of work appends an organisation's events on commit; whether an event was published
is kept apart (``published``), so marking it is a journalled write like any other.  A claim
needs no lock of its own: the unit of work holds the store's lock until it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.ports import StoredEvent

__all__ = ["MemoryEvents"]


class MemoryEvents(MemoryRepository):
    """The :class:`~armox_enterprise.ports.EventRepository` of the memory store."""

    def _with_state(self, event: StoredEvent) -> StoredEvent:
        published = self._s.published.get(event.id)
        return event if published is None else attrs.evolve(event, published_at=published)

    def claim(self, *, limit: int) -> list[StoredEvent]:
        claimed: list[StoredEvent] = []
        for organisation_id in sorted(self._s.stored_events):
            for event in self._s.stored_events[organisation_id]:
                if len(claimed) >= limit:
                    return claimed
                if event.id not in self._s.published:
                    claimed.append(event)
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
            e
            for e in self._s.stored_events.get(organisation_id, ())
            if (names is None or e.name in names)
            and (actor is None or e.actor == actor)
            and (since is None or e.occurred_at >= since)
            and (until is None or e.occurred_at < until)
        ]
        found.sort(key=lambda e: (e.occurred_at, e.id), reverse=True)
        return [self._with_state(e) for e in found[offset : offset + limit]]
