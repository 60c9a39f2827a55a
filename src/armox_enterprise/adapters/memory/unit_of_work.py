"""The memory store's unit of work: exclusive while open, undone unless committed.

It holds the store's one re-entrant lock from ``__enter__`` to ``__exit__``, so units of work
on one store run one after another, and every write goes through its journal, so leaving it
without committing undoes them all, the latest first.  Events are stored (and handed out) only
on commit.
"""

from __future__ import annotations

from types import TracebackType

from typing_extensions import Self

from armox_enterprise.adapters.memory.enrolment import (
    MemoryDomainClaims,
    MemoryInvitations,
    MemoryJoinRequests,
)
from armox_enterprise.adapters.memory.events import MemoryEvents
from armox_enterprise.adapters.memory.holds import MemoryHolds
from armox_enterprise.adapters.memory.idempotency import MemoryIdempotency
from armox_enterprise.adapters.memory.ledger import MemoryLedger
from armox_enterprise.adapters.memory.organisations import MemoryMemberships, MemoryOrganisations
from armox_enterprise.adapters.memory.reads import MemoryReports, MemoryViews
from armox_enterprise.adapters.memory.requests import MemoryCreditRequests
from armox_enterprise.adapters.memory.tables import Journal, MemoryTables
from armox_enterprise.adapters.memory.teams import MemoryTeams
from armox_enterprise.domain.events import Event
from armox_enterprise.domain.values import new_id

__all__ = ["MemoryUnitOfWork"]


class MemoryUnitOfWork:
    """A unit of work on a :class:`MemoryStore`: exclusive while open, undone unless committed."""

    def __init__(self, store: MemoryTables) -> None:
        self._store = store
        self._journal = Journal()
        self._events: list[Event] = []
        self._committed: list[Event] = []
        self._entered = False
        journal = self._journal
        self.events = MemoryEvents(store, journal)
        self.organisations = MemoryOrganisations(store, journal)
        self.memberships = MemoryMemberships(store, journal)
        self.domains = MemoryDomainClaims(store, journal)
        self.invitations = MemoryInvitations(store, journal)
        self.join_requests = MemoryJoinRequests(store, journal)
        self.ledger = MemoryLedger(store, journal)
        self.holds = MemoryHolds(store, journal)
        self.requests = MemoryCreditRequests(store, journal)
        self.idempotency = MemoryIdempotency(store, journal)
        self.teams = MemoryTeams(store, journal)
        self.reports = MemoryReports(store, journal)
        self.views = MemoryViews(store, journal)

    def __enter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a unit of work can be entered only once")
        self._store._lock.acquire()
        self._entered = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self._store._lock.release()

    def commit(self) -> None:
        """Keep every write made so far; later writes still need another commit."""
        self._require_open()
        self._journal.keep()
        self._store.outbox.extend(self._events)
        stored = self._store.stored_events
        for event in self._events:
            stored[event.organisation_id].append((new_id(event.occurred_at), event))
        self._committed.extend(self._events)
        self._events.clear()

    def rollback(self) -> None:
        """Undo every write made since the last commit."""
        self._journal.rollback()
        self._events.clear()

    def record(self, event: Event) -> None:
        """Keep ``event`` with this unit of work's writes."""
        self._require_open()
        self._events.append(event)

    def collect_events(self) -> list[Event]:
        """Return and forget the events committed so far."""
        events, self._committed = self._committed, []
        return events

    def _require_open(self) -> None:
        if not self._entered:
            raise RuntimeError("use the unit of work as a context manager")
