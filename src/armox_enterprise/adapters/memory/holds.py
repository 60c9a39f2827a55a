"""The memory store's holds: a hold resolves at most once."""

from __future__ import annotations

from datetime import datetime

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.domain.ledger import Hold, HoldStatus
from armox_enterprise.exceptions import HoldAlreadyResolved, NotFound, StorageError

__all__ = ["MemoryHolds"]


class MemoryHolds(MemoryRepository):
    """The :class:`~armox_enterprise.ports.HoldRepository` of the memory store."""

    def add(self, hold: Hold) -> None:
        if (hold.organisation_id, hold.id) in self._s.holds:
            raise StorageError(f"hold {hold.id} already exists")
        self._put("holds", self._s.holds, (hold.organisation_id, hold.id), hold)

    def get(self, organisation_id: str, hold_id: str) -> Hold | None:
        return self._s.holds.get((organisation_id, hold_id))

    def resolve(self, hold: Hold) -> None:
        key = (hold.organisation_id, hold.id)
        stored = self._s.holds.get(key)
        if stored is None:
            raise NotFound(f"hold {hold.id} does not exist")
        if stored.status is not HoldStatus.PENDING:
            raise HoldAlreadyResolved(f"hold {hold.id} is already {stored.status.value}")
        self._put("holds", self._s.holds, key, hold)

    def pending(
        self,
        organisation_id: str,
        *,
        user_id: str | None = None,
        expiring_before: datetime | None = None,
    ) -> list[Hold]:
        found = [
            h
            for h in self._of("holds", organisation_id)
            if h.status is HoldStatus.PENDING
            and (user_id is None or h.user_id == user_id)
            and (expiring_before is None or h.expires_at <= expiring_before)
        ]
        return sorted(found, key=lambda h: (h.created_at, h.id))
