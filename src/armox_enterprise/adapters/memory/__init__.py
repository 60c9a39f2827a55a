"""A real, thread-safe, in-memory store.

It is not a mock: it keeps every promise of :mod:`armox_enterprise.ports` and raises the same
errors as the SQL adapter, so policies and host code can be tested against it in microseconds.
Units of work are serialised by one re-entrant lock held from ``__enter__`` to ``__exit__``;
every write is journalled, and a unit of work that does not commit is undone in reverse order.
The spend's short path, :meth:`MemoryStore.post_spend`, takes the same lock and writes only
once every check has passed, so it needs no journal.

The modules, each importing only those before it in this list:

* :mod:`~armox_enterprise.adapters.memory.tables`: the dictionaries, the accounts' period
  tallies, the undo journal and the base of the repositories.
* one module per kind of record: :mod:`~armox_enterprise.adapters.memory.organisations`
  (organisations and memberships), :mod:`~armox_enterprise.adapters.memory.enrolment`
  (domain claims, invitations, join requests), :mod:`~armox_enterprise.adapters.memory.ledger`
  (accounts, transfers, period totals), :mod:`~armox_enterprise.adapters.memory.holds`,
  :mod:`~armox_enterprise.adapters.memory.requests`,
  :mod:`~armox_enterprise.adapters.memory.idempotency`,
  :mod:`~armox_enterprise.adapters.memory.events` and
  :mod:`~armox_enterprise.adapters.memory.reads` (usage reports, the member table).
* :mod:`~armox_enterprise.adapters.memory.unit_of_work`: :class:`MemoryUnitOfWork`.
* :mod:`~armox_enterprise.adapters.memory.store`: :class:`MemoryStore`.
"""

from __future__ import annotations

from armox_enterprise.adapters.memory.store import MemoryStore
from armox_enterprise.adapters.memory.unit_of_work import MemoryUnitOfWork

__all__ = ["MemoryStore", "MemoryUnitOfWork"]
