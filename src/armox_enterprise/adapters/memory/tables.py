"""The memory store's tables, its undo journal, and the base of its repositories.

Every record lives in a plain dictionary of :class:`MemoryTables`, keyed as the SQL tables
are (organisation id first).  A repository never writes a dictionary itself: it writes
through its unit of work's :class:`Journal`, which remembers how to undo each write, so a unit
of work that does not commit is undone in reverse order.  The one record that changes in
place is an account's :class:`Tally` of a period (through the journal all the same): a
posting adds to one of its counts rather than replacing it, and readers get a copy.  The
tables are a class of their own, apart from
:class:`~armox_enterprise.adapters.memory.MemoryStore` (the tables plus the factory of units
of work), so the repositories and the unit of work can name their type without importing
the store that imports them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import Any, TypeVar

from armox_enterprise.domain.directory import DirectoryLink
from armox_enterprise.domain.events import Event
from armox_enterprise.domain.ledger import Account, Hold, Transfer, TransferKind
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinRequest,
    Membership,
    Organisation,
)
from armox_enterprise.domain.requests import CreditRequest
from armox_enterprise.domain.teams import Team, TeamMember
from armox_enterprise.ports import IdempotencyRecord, PeriodTotals

__all__ = ["Journal", "MemoryRepository", "MemoryTables", "Tally"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class Tally:
    """One account's movements in one billing period, as the memory store keeps them.

    Unlike the :class:`~armox_enterprise.ports.PeriodTotals` a reader gets (a copy, made by
    :meth:`totals`), a tally is counted in place: a posting adds its amount to one entry of
    :attr:`credits` or :attr:`debits` and sets :attr:`last_activity`, through the unit of
    work's journal (so a rollback takes it back) or, on the store's short path, directly.
    It never leaves the tables, so nobody outside the store's lock sees it change.
    """

    __slots__ = ("credits", "debits", "last_activity")

    def __init__(self) -> None:
        self.credits: dict[TransferKind, int] = {}
        self.debits: dict[TransferKind, int] = {}
        self.last_activity: datetime | None = None

    def totals(self) -> PeriodTotals:
        """Return a copy of the tally as the period totals a reader gets."""
        return PeriodTotals(dict(self.credits), dict(self.debits), self.last_activity)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tally):
            return NotImplemented
        return (self.credits, self.debits, self.last_activity) == (
            other.credits,
            other.debits,
            other.last_activity,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: equal by value, never a key

    def __repr__(self) -> str:
        return (
            f"Tally(credits={self.credits!r}, debits={self.debits!r}, "
            f"last_activity={self.last_activity!r})"
        )


class MemoryTables:
    """The dictionaries a memory store keeps its records in, and the lock of its units of work.

    Attributes:
        outbox: the events of every committed unit of work, in commit order.
    """

    def __init__(self) -> None:
        # Re-entrant, held by a unit of work from ``__enter__`` to ``__exit__``: one unit of
        # work at a time, which is all the isolation the memory store needs.
        self._lock = threading.RLock()
        self.organisations: dict[str, Organisation] = {}
        self.memberships: dict[tuple[str, str], Membership] = {}
        self.active_member_of: dict[str, str] = {}
        self.domains: dict[str, DomainClaim] = {}
        self.invitations: dict[tuple[str, str], Invitation] = {}
        self.join_requests: dict[tuple[str, str], JoinRequest] = {}
        self.accounts: dict[tuple[str, str], Account] = {}
        # Each member account's effective monthly cap (Ledger.set_spend_cap); absent: none.
        self.spend_caps: dict[tuple[str, str], int] = {}
        self.transfers: dict[str, list[Transfer]] = defaultdict(list)
        self.transfers_by_id: dict[tuple[str, str], Transfer] = {}
        self.transfers_by_key: dict[tuple[str, str], Transfer] = {}
        # (organisation, account, period) -> the account's tally of that period.
        self.totals: dict[tuple[str, str, int], Tally] = {}
        self.holds: dict[tuple[str, str], Hold] = {}
        self.requests: dict[tuple[str, str], CreditRequest] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.teams: dict[tuple[str, str], Team] = {}
        # (organisation, the name's key) -> team id: one team per name.
        self.team_names: dict[tuple[str, str], str] = {}
        # (organisation, user) -> assignment: one team per member.
        self.team_members: dict[tuple[str, str], TeamMember] = {}
        # (organisation, user) -> the directory's link; (organisation, external id) -> user.
        self.directory_links: dict[tuple[str, str], DirectoryLink] = {}
        self.external_ids: dict[tuple[str, str], str] = {}
        self.outbox: list[Event] = []
        # Each organisation's committed events with the ids they are stored under, in commit
        # order; their stored form (a StoredEvent) is built when they are read.
        self.stored_events: dict[str, list[tuple[str, Event]]] = defaultdict(list)
        self.published: dict[str, datetime] = {}
        # Per-organisation views of the records above, so lists scan one organisation only.
        self.by_org: dict[str, dict[str, dict[tuple[str, str], object]]] = defaultdict(
            lambda: defaultdict(dict)
        )


class Journal:
    """Writes to the tables' dictionaries, remembering how to undo each one."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def set(self, mapping: MutableMapping[_K, _V], key: _K, value: _V) -> None:
        """Set ``mapping[key]`` to ``value``."""
        if key in mapping:
            old = mapping[key]
            self._undo.append(lambda: mapping.__setitem__(key, old))
        else:
            self._undo.append(lambda: mapping.__delitem__(key))
        mapping[key] = value

    def assign(self, record: object, name: str, value: object) -> None:
        """Set attribute ``name`` of ``record`` (one of the tables' own mutable records)."""
        old = getattr(record, name)
        self._undo.append(lambda: setattr(record, name, old))
        setattr(record, name, value)

    def delete(self, mapping: MutableMapping[_K, _V], key: _K) -> None:
        """Remove ``key`` from ``mapping`` (nothing if it is not there)."""
        if key in mapping:
            old = mapping.pop(key)
            self._undo.append(lambda: mapping.__setitem__(key, old))

    def append(self, items: list[_V], item: _V) -> None:
        """Append ``item`` to ``items``."""
        items.append(item)
        self._undo.append(lambda: items.__delitem__(-1))

    def keep(self) -> None:
        """Forget how to undo the writes so far: they are committed."""
        self._undo.clear()

    def rollback(self) -> None:
        """Undo every write not yet kept, the latest first."""
        while self._undo:
            self._undo.pop()()


class MemoryRepository:
    """The tables and the journal every repository of the memory store works with."""

    def __init__(self, store: MemoryTables, journal: Journal) -> None:
        self._s = store
        self._j = journal

    def _put(
        self,
        kind: str,
        mapping: MutableMapping[tuple[str, str], _V],
        key: tuple[str, str],
        value: _V,
    ) -> None:
        """Store ``value`` in ``mapping`` and in the per-organisation view of ``kind``."""
        self._j.set(mapping, key, value)
        self._j.set(self._s.by_org[key[0]][kind], key, value)

    def _of(self, kind: str, organisation_id: str) -> list[Any]:
        """Return the organisation's records of ``kind``, from the per-organisation view."""
        return list(self._s.by_org[organisation_id][kind].values())
