"""The memory store's idempotency records: one per key in an organisation."""

from __future__ import annotations

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.exceptions import DuplicateIdempotencyKey
from armox_enterprise.ports import IdempotencyRecord

__all__ = ["MemoryIdempotency"]


class MemoryIdempotency(MemoryRepository):
    """The :class:`~armox_enterprise.ports.IdempotencyRepository` of the memory store."""

    def get(self, organisation_id: str, key: str) -> IdempotencyRecord | None:
        return self._s.idempotency.get((organisation_id, key))

    def add(self, record: IdempotencyRecord) -> None:
        key = (record.organisation_id, record.key)
        if key in self._s.idempotency:
            raise DuplicateIdempotencyKey(f"idempotency key {record.key!r} was already used")
        self._j.set(self._s.idempotency, key, record)
