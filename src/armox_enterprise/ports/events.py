"""The stored events: the transactional outbox and the organisation's audit log.

Events are stored in the same transaction as the changes they describe, so a relay publishes
exactly the events of committed work, at least once; a claim keeps two relays from handing
out the same organisation's events at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from armox_enterprise.ports.records import StoredEvent

__all__ = ["EventRepository"]


class EventRepository(Protocol):
    """The stored events: an outbox for the relay, and the organisation's audit log.

    Events recorded in a unit of work are stored by :meth:`UnitOfWork.commit`, in the same
    transaction as the changes they describe.
    """

    def claim(self, *, limit: int) -> list[StoredEvent]:
        """Return up to ``limit`` unpublished events, oldest first within each organisation,
        of organisations no other unit of work is relaying now; they stay claimed (locked)
        until this unit of work ends."""
        ...

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        """Record that the events were handed to the host at ``at``."""
        ...

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
        """Return the organisation's events matching every filter, newest first
        (``since <= occurred_at < until``)."""
        ...
