"""The memory store: the tables, and the units of work that read and write them."""

from __future__ import annotations

from armox_enterprise.adapters.memory.tables import MemoryTables
from armox_enterprise.adapters.memory.unit_of_work import MemoryUnitOfWork

__all__ = ["MemoryStore"]


class MemoryStore(MemoryTables):
    """Keeps every record in dictionaries; share one instance between threads freely.

    Attributes:
        outbox: the events of every committed unit of work, in commit order.
    """

    def unit_of_work(self) -> MemoryUnitOfWork:
        """Return a new unit of work on this store."""
        return MemoryUnitOfWork(self)
