"""The in-memory store passes the storage contract every adapter must pass."""

from __future__ import annotations

from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.testing.conformance import StoreContract


class TestMemoryStore(StoreContract):
    """The shipped conformance cases, run on :class:`MemoryStore`."""

    def make_store(self) -> MemoryStore:
        """Return a new, empty in-memory store."""
        return MemoryStore()
