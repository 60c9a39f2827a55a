"""A store composed from repositories proves one repository at a time, and the race contracts
catch a repository that checks and then writes.

The repositories here keep their records in a :class:`Table` of their own, outside the memory
store: a small stand-in for a database table, with read-committed reads, row locks held to the
end of the transaction, and writers of a locked row waiting for it.  Each comes in two kinds:
the correct one checks and writes in one step under the row lock (as a unique key or a
conditional ``UPDATE`` does), the racy one reads, pauses, then writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import pytest

from armox_enterprise.adapters.memory import MemoryStore, MemoryUnitOfWork
from armox_enterprise.domain.organisation import DomainClaim
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import (
    DomainAlreadyClaimed,
    DuplicateIdempotencyKey,
    InvalidTransition,
    NotFound,
    StorageError,
    TransientStorageError,
)
from armox_enterprise.ports import IdempotencyRecord, Store
from armox_enterprise.testing import ComposedStore, ComposedUnitOfWork, TransactionalRepository
from armox_enterprise.testing.contracts import (
    CreditRequestContract,
    DomainClaimContract,
    IdempotencyContract,
    RepositoryRaceContract,
    StoreContract,
)

K = TypeVar("K")
V = TypeVar("V")

#: Seconds between a racy repository's check and its write (and after a correct one's write).
PAUSE = 0.05


class Table(Generic[K, V]):
    """Committed rows shared by every unit of work, and the row locks of open transactions.

    Attributes:
        pause: seconds each guarded write pauses (0 outside the race proofs).
        most_in_flight: the most guarded writes that were ever under way at once.
    """

    def __init__(self, *, pause: float = 0.0, lock_timeout: float = 10.0) -> None:
        self.rows: dict[K, V] = {}
        self.owners: dict[K, object] = {}
        self.changed = threading.Condition()
        self.pause = pause
        self.lock_timeout = lock_timeout
        self.in_flight = 0
        self.most_in_flight = 0

    @contextmanager
    def guarded_write(self) -> Iterator[None]:
        """Count a guarded write as under way while the block runs."""
        with self.changed:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self.changed:
                self.in_flight -= 1


class Transaction(Generic[K, V]):
    """One unit of work's writes to a table: invisible to others until committed."""

    def __init__(self, table: Table[K, V]) -> None:
        self.table = table
        self.writes: dict[K, V | None] = {}  # None: the row is deleted

    def read(self, key: K) -> V | None:
        """This transaction's row, else the committed one."""
        if key in self.writes:
            return self.writes[key]
        with self.table.changed:
            return self.table.rows.get(key)

    def every_row(self) -> list[V]:
        """The committed rows as this transaction sees them."""
        with self.table.changed:
            merged: dict[K, V | None] = dict(self.table.rows)
        merged.update(self.writes)
        return [row for row in merged.values() if row is not None]

    def write(
        self, key: K, row: V | None, check: Callable[[V | None], None], *, racy: bool
    ) -> None:
        """Write ``row`` if ``check`` passes on the current one.

        Correct: take the row lock (waiting for another writer to finish), check and write in
        one step.  Racy: read, pause, write, with no lock; the last to commit wins.
        """
        table = self.table
        with table.guarded_write():
            if racy:
                check(self.read(key))
                time.sleep(table.pause)
                self.writes[key] = row
                return
            with table.changed:
                mine = table.changed.wait_for(
                    lambda: table.owners.get(key, self) is self, timeout=table.lock_timeout
                )
                if not mine:
                    raise TransientStorageError("lock wait timeout")
                table.owners[key] = self
                check(self.read(key))
                self.writes[key] = row
            time.sleep(table.pause)

    def commit(self) -> None:
        """Make the writes visible and let go of the row locks."""
        with self.table.changed:
            for key, row in self.writes.items():
                if row is None:
                    self.table.rows.pop(key, None)
                else:
                    self.table.rows[key] = row
            self._release()

    def rollback(self) -> None:
        """Forget the writes and let go of the row locks."""
        with self.table.changed:
            self._release()

    def _release(self) -> None:
        self.writes.clear()
        for key in [k for k, owner in self.table.owners.items() if owner is self]:
            del self.table.owners[key]
        self.table.changed.notify_all()


def absent(error: Callable[[], Exception]) -> Callable[[object | None], None]:
    """A check that refuses with ``error()`` when the row exists."""

    def check(current: object | None) -> None:
        if current is not None:
            raise error()

    return check


def anything(_: object | None) -> None:
    """A check that lets every write through."""


class TableRepository(Generic[K, V]):
    """A replacement repository on a table, committing and rolling back with the unit of work."""

    def __init__(self, table: Table[K, V], *, racy: bool = False) -> None:
        self._tx = Transaction(table)
        self._racy = racy

    def commit(self) -> None:
        """Commit this unit of work's writes to the table."""
        self._tx.commit()

    def rollback(self) -> None:
        """Discard this unit of work's writes to the table."""
        self._tx.rollback()


class TableRequests(TableRepository[tuple[str, str], CreditRequest]):
    """The credit-requests port, decided once by a check under the row lock (or racily)."""

    def add(self, request: CreditRequest) -> None:
        error = absent(lambda: StorageError(f"credit request {request.id} exists"))
        self._tx.write((request.organisation_id, request.id), request, error, racy=False)

    def get(self, organisation_id: str, request_id: str) -> CreditRequest | None:
        return self._tx.read((organisation_id, request_id))

    def decide(self, request: CreditRequest) -> None:
        def pending(stored: CreditRequest | None) -> None:
            if stored is None:
                raise NotFound(f"credit request {request.id} does not exist")
            if stored.status is not RequestStatus.PENDING:
                raise InvalidTransition(f"credit request {request.id} is {stored.status.value}")

        key = (request.organisation_id, request.id)
        self._tx.write(key, request, pending, racy=self._racy)

    def list(
        self,
        organisation_id: str,
        *,
        status: RequestStatus | None = None,
        user_id: str | None = None,
        period_index: int | None = None,
    ) -> list[CreditRequest]:
        found = [
            r
            for r in self._tx.every_row()
            if r.organisation_id == organisation_id
            and (status is None or r.status is status)
            and (user_id is None or r.user_id == user_id)
            and (period_index is None or r.period_index == period_index)
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))


class TableIdempotency(TableRepository[tuple[str, str], IdempotencyRecord]):
    """The idempotency port, one record per key by a check under the row lock (or racily)."""

    def get(self, organisation_id: str, key: str) -> IdempotencyRecord | None:
        return self._tx.read((organisation_id, key))

    def add(self, record: IdempotencyRecord) -> None:
        error = absent(lambda: DuplicateIdempotencyKey(f"key {record.key!r} was used"))
        self._tx.write((record.organisation_id, record.key), record, error, racy=self._racy)


class TableDomains(TableRepository[str, DomainClaim]):
    """The domain-claims port, one claim per domain by a check under the row lock (or racily)."""

    def add(self, claim: DomainClaim) -> None:
        error = absent(lambda: DomainAlreadyClaimed(f"{claim.domain} is already claimed"))
        self._tx.write(claim.domain.value, claim, error, racy=self._racy)

    def get(self, domain: DomainName) -> DomainClaim | None:
        return self._tx.read(domain.value)

    def update(self, claim: DomainClaim) -> None:
        self._tx.write(claim.domain.value, claim, anything, racy=False)

    def remove(self, domain: DomainName) -> None:
        self._tx.write(domain.value, None, anything, racy=False)

    def list(self, organisation_id: str) -> list[DomainClaim]:
        claims = [c for c in self._tx.every_row() if c.organisation_id == organisation_id]
        return sorted(claims, key=lambda c: c.domain.value)


Composed = ComposedStore[MemoryUnitOfWork]
REPOSITORIES: dict[str, type[TableRepository[Any, Any]]] = {
    "requests": TableRequests,
    "idempotency": TableIdempotency,
    "domains": TableDomains,
}


def composed(
    port: str, *, racy: bool = False, pause: float = 0.0, serialised: bool = False
) -> tuple[Composed, Table[Any, Any]]:
    """A memory store with ``port``'s repository replaced by a table-backed one, and the table.

    ``serialised`` enters the base unit of work (and with it the memory store's lock) as soon
    as the replacement is built, so that units of work run one at a time.
    """
    table: Table[Any, Any] = Table(pause=pause)

    def build(uow: ComposedUnitOfWork[MemoryUnitOfWork]) -> TableRepository[Any, Any]:
        if serialised:
            _ = uow.base
        return REPOSITORIES[port](table, racy=racy)

    store: Composed = ComposedStore(MemoryStore(), **{port: build})  # type: ignore[arg-type]
    return store, table


# ---------------------------------------------------------------------- one port at a time


class TestSwappedCreditRequests(CreditRequestContract):
    """The credit-requests contract, on a memory store whose requests live in a table."""

    def make_store(self) -> Store:
        """A memory store with the table-backed credit-requests repository."""
        return composed("requests")[0]


class TestSwappedIdempotency(IdempotencyContract):
    """The idempotency contract, on a memory store whose records live in a table."""

    def make_store(self) -> Store:
        """A memory store with the table-backed idempotency repository."""
        return composed("idempotency")[0]


class TestSwappedDomainClaims(DomainClaimContract):
    """The domain-claims contract, on a memory store whose claims live in a table."""

    def make_store(self) -> Store:
        """A memory store with the table-backed domain-claims repository."""
        return composed("domains")[0]


class TestComposedStore(StoreContract):
    """The whole contract, on a memory store with three repositories replaced: composing
    changes nothing the service or the contract can see, rollback and races included."""

    def make_store(self) -> Store:
        """A memory store with table-backed requests, idempotency and domain claims."""
        requests: Table[tuple[str, str], CreditRequest] = Table()
        records: Table[tuple[str, str], IdempotencyRecord] = Table()
        claims: Table[str, DomainClaim] = Table()
        return ComposedStore(
            MemoryStore(),
            requests=lambda _: TableRequests(requests),
            idempotency=lambda _: TableIdempotency(records),
            domains=lambda _: TableDomains(claims),
        )


def test_units_of_work_are_the_bases_with_the_replacements() -> None:
    """A replaced repository is built once per unit of work, is transactional, and commits
    with it; the others, record() and collect_events() are the base unit of work's."""
    base = MemoryStore()
    built: list[TableRequests] = []
    table: Table[tuple[str, str], CreditRequest] = Table()

    def requests(_: ComposedUnitOfWork[MemoryUnitOfWork]) -> TableRequests:
        built.append(TableRequests(table))
        return built[-1]

    store = ComposedStore(base, requests=requests)
    assert store.replaced == {"requests"}
    with store.unit_of_work() as uow:
        assert uow.requests is uow.requests
        assert isinstance(uow.requests, TransactionalRepository)
        assert uow.requests.list("org") == []
        assert uow.idempotency is uow.base.idempotency
        uow.commit()
        assert uow.collect_events() == []
    assert len(built) == 1
    with pytest.raises(RuntimeError):
        _ = uow.requests


def test_the_base_is_entered_only_when_needed() -> None:
    """A unit of work that uses only replacements leaves the base store free for others; one
    that uses the base holds it (the memory store's lock) until it ends."""
    base = MemoryStore()
    table: Table[tuple[str, str], IdempotencyRecord] = Table()
    store = ComposedStore(base, idempotency=lambda _: TableIdempotency(table))

    def open_one() -> None:
        with base.unit_of_work():
            pass

    def use_the_base() -> threading.Thread:
        """Open and leave a unit of work of the base store in another thread."""
        other = threading.Thread(target=open_one)
        other.start()
        return other

    with store.unit_of_work() as uow:
        assert uow.idempotency.get("org", "key") is None
        free = use_the_base()
        free.join(timeout=10)
        assert not free.is_alive()
        assert uow.organisations.get("org") is None
        waiting = use_the_base()
        waiting.join(timeout=0.2)
        assert waiting.is_alive()
    waiting.join(timeout=10)
    assert not waiting.is_alive()


# ---------------------------------------------------------------------- the races catch races

#: The race case of each replaceable port.
RACES: dict[str, Callable[[RepositoryRaceContract], None]] = {
    "idempotency": RepositoryRaceContract.test_concurrent_adds_of_one_idempotency_key_keep_one,
    "requests": RepositoryRaceContract.test_concurrent_decisions_of_one_credit_request_keep_one,
    "domains": RepositoryRaceContract.test_concurrent_claims_of_one_domain_keep_one,
}


class RacesOn(RepositoryRaceContract):
    """The repository race cases, called by hand on one given store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def make_store(self) -> Store:
        """The store given."""
        return self._store


@pytest.mark.parametrize("port", sorted(RACES))
def test_a_race_case_fails_on_a_repository_that_checks_then_writes(port: str) -> None:
    """In a store whose units of work overlap, a repository that checks, pauses and then
    writes lets several racing units of work commit, and the port's race case fails."""
    store, table = composed(port, racy=True, pause=PAUSE)
    with pytest.raises(AssertionError, match=r"^([2-9]|\d{2,}) .* committed"):
        RACES[port](RacesOn(store))
    assert table.most_in_flight > 1


@pytest.mark.parametrize("port", sorted(RACES))
def test_the_same_race_case_passes_on_a_repository_that_writes_atomically(port: str) -> None:
    """In the same store, a repository that checks and writes in one step under a row lock
    (and pauses as long) passes the race case, though the racing writes overlapped."""
    store, table = composed(port, pause=PAUSE)
    RACES[port](RacesOn(store))
    assert table.most_in_flight > 1


@pytest.mark.parametrize("port", sorted(RACES))
def test_a_store_that_serialises_its_units_of_work_hides_the_race(port: str) -> None:
    """Behind the memory store's lock (entered as soon as the replacement is built), the racy
    repository passes the race case: why the races must run on a store that overlaps."""
    store, table = composed(port, racy=True, pause=PAUSE, serialised=True)
    RACES[port](RacesOn(store))
    assert table.most_in_flight == 1
