"""A store composed from repositories: another store's units of work, with some of their
repositories replaced.

An adapter author proves a new adapter one repository at a time: compose a store from the
in-memory store (or any other) and the one repository written so far, and run that port's
contract on it (see :mod:`armox_enterprise.testing.contracts`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Generic, Protocol, TypeVar, cast, runtime_checkable

from typing_extensions import Self

from armox_enterprise.domain.events import Event
from armox_enterprise.ports import (
    CreditRequestRepository,
    DomainClaimRepository,
    EventRepository,
    HoldRepository,
    IdempotencyRepository,
    InvitationRepository,
    JoinRequestRepository,
    Ledger,
    MembershipRepository,
    OrganisationRepository,
    ReportRepository,
    TeamRepository,
    UnitOfWork,
    ViewRepository,
)

__all__ = ["ComposedStore", "ComposedUnitOfWork", "TransactionalRepository", "UnitOfWorkSource"]

U = TypeVar("U", bound=UnitOfWork)
U_co = TypeVar("U_co", bound=UnitOfWork, covariant=True)
_R = TypeVar("_R")


class UnitOfWorkSource(Protocol[U_co]):
    """Anything that hands out units of work of one type: a store, as the base of a
    composition."""

    def unit_of_work(self) -> U_co:
        """Return a new, not yet entered, unit of work."""
        ...


@runtime_checkable
class TransactionalRepository(Protocol):
    """A replacement repository with a transaction of its own, ended with the unit of work's.

    A replacement that has these two methods is told when the composed unit of work commits
    (before the base does) and when it ends: ``rollback()`` runs on an explicit rollback and
    whenever the unit of work is left, also after a commit (then it has nothing to discard).
    """

    def commit(self) -> None:
        """Make what the repository wrote in this unit of work durable and visible."""
        ...

    def rollback(self) -> None:
        """Discard what the repository wrote since its last commit."""
        ...


class ComposedStore(Generic[U]):
    """A store whose units of work are ``base``'s, with the named repositories replaced.

    Each keyword names a repository of :class:`~armox_enterprise.ports.UnitOfWork` and gives a
    factory: it receives the composed unit of work (from which ``uow.base`` reaches the base
    one) and returns the repository to use instead, once per unit of work, when the
    repository is first used.  The other repositories, ``record()`` and ``collect_events()``
    are the base unit of work's::

        table = IdempotencyTable()  # the adapter's storage, shared by its units of work
        store = ComposedStore(MemoryStore(), idempotency=lambda uow: TableIdempotency(table))

    A replacement keeps its data where it likes.  If it has ``commit()`` and ``rollback()``
    (:class:`TransactionalRepository`), the unit of work calls them, so that the replacement
    commits and rolls back with the rest; one that shares the base's transaction (its
    connection, say, through ``uow.base``) needs neither.

    The base unit of work is entered when it is first needed (a repository that was not
    replaced, ``record()``, or ``uow.base``), not when the composed one is.  So units of work
    that use only replacements are not serialised by the base: the in-memory store holds one
    lock for the whole of each unit of work, which would hide a race in the replacement from
    the race contracts.  The two commits (the replacements', then the base's) are not atomic
    together: the composition proves repositories, it is not a production store.

    Args:
        base: the store that provides every repository not replaced.
        organisations: a factory of the organisations repository.
        memberships: a factory of the memberships repository.
        domains: a factory of the domain-claims repository.
        invitations: a factory of the invitations repository.
        join_requests: a factory of the join-requests repository.
        ledger: a factory of the ledger.
        holds: a factory of the holds repository.
        requests: a factory of the credit-requests repository.
        idempotency: a factory of the idempotency repository.
        teams: a factory of the teams repository.
        events: a factory of the events repository.
        reports: a factory of the reports repository.
        views: a factory of the views repository.

    Attributes:
        base: the store given.
        retry_transient: the base's (see :class:`~armox_enterprise.ports.Store`).
    """

    def __init__(
        self,
        base: UnitOfWorkSource[U],
        *,
        organisations: Callable[[ComposedUnitOfWork[U]], OrganisationRepository] | None = None,
        memberships: Callable[[ComposedUnitOfWork[U]], MembershipRepository] | None = None,
        domains: Callable[[ComposedUnitOfWork[U]], DomainClaimRepository] | None = None,
        invitations: Callable[[ComposedUnitOfWork[U]], InvitationRepository] | None = None,
        join_requests: Callable[[ComposedUnitOfWork[U]], JoinRequestRepository] | None = None,
        ledger: Callable[[ComposedUnitOfWork[U]], Ledger] | None = None,
        holds: Callable[[ComposedUnitOfWork[U]], HoldRepository] | None = None,
        requests: Callable[[ComposedUnitOfWork[U]], CreditRequestRepository] | None = None,
        idempotency: Callable[[ComposedUnitOfWork[U]], IdempotencyRepository] | None = None,
        teams: Callable[[ComposedUnitOfWork[U]], TeamRepository] | None = None,
        events: Callable[[ComposedUnitOfWork[U]], EventRepository] | None = None,
        reports: Callable[[ComposedUnitOfWork[U]], ReportRepository] | None = None,
        views: Callable[[ComposedUnitOfWork[U]], ViewRepository] | None = None,
    ) -> None:
        self.base = base
        self.retry_transient: bool = getattr(base, "retry_transient", True)
        factories: dict[str, Callable[[ComposedUnitOfWork[U]], object] | None] = {
            "organisations": organisations,
            "memberships": memberships,
            "domains": domains,
            "invitations": invitations,
            "join_requests": join_requests,
            "ledger": ledger,
            "holds": holds,
            "requests": requests,
            "idempotency": idempotency,
            "teams": teams,
            "events": events,
            "reports": reports,
            "views": views,
        }
        self._factories = {name: f for name, f in factories.items() if f is not None}

    @property
    def replaced(self) -> frozenset[str]:
        """The names of the repositories this store replaces."""
        return frozenset(self._factories)

    def unit_of_work(self) -> ComposedUnitOfWork[U]:
        """Return a new, not yet entered, unit of work over a new one of the base's."""
        return ComposedUnitOfWork(self.base.unit_of_work(), self._factories)


class ComposedUnitOfWork(Generic[U]):
    """A unit of work of a :class:`ComposedStore`: the base's, with replacements.

    Args:
        base: a new, not yet entered, unit of work of the base store.
        factories: the replacement factories by repository name.
    """

    def __init__(
        self, base: U, factories: dict[str, Callable[[ComposedUnitOfWork[U]], object]]
    ) -> None:
        self._base = base
        self._factories = factories
        self._built: dict[str, object] = {}
        self._building: set[str] = set()
        self._base_entered = False
        self._state = "new"

    # -- lifecycle --------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError("a unit of work can be entered only once")
        self._state = "open"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = "closed"
        try:
            self._roll_back_replacements()
        finally:
            if self._base_entered:
                self._base.__exit__(exc_type, exc, tb)

    @property
    def base(self) -> U:
        """The base store's unit of work, entered now if it was not yet."""
        self._require_open()
        if not self._base_entered:
            self._base = self._base.__enter__()
            self._base_entered = True
        return self._base

    def commit(self) -> None:
        """Commit the replacements that keep a transaction, then the base (if it was used)."""
        self._require_open()
        for repository in self._transactional():
            repository.commit()
        if self._base_entered:
            self._base.commit()

    def rollback(self) -> None:
        """Discard what the replacements and the base wrote since the last commit."""
        if self._state != "open":
            return
        try:
            self._roll_back_replacements()
        finally:
            if self._base_entered:
                self._base.rollback()

    def record(self, event: Event) -> None:
        """Keep ``event`` with the base unit of work's changes."""
        self.base.record(event)

    def collect_events(self) -> list[Event]:
        """Return (and forget) the committed events of the base unit of work."""
        return self._base.collect_events() if self._base_entered else []

    def _roll_back_replacements(self) -> None:
        """Roll every transactional replacement back, the later ones even if one fails."""
        failures: list[Exception] = []
        for repository in self._transactional():
            try:
                repository.rollback()
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise failures[0]

    def _transactional(self) -> list[TransactionalRepository]:
        return [r for r in self._built.values() if isinstance(r, TransactionalRepository)]

    def _require_open(self) -> None:
        if self._state != "open":
            raise RuntimeError("use the unit of work as a context manager, once")

    def _repository(self, name: str, of_base: Callable[[U], _R]) -> _R:
        """The replacement called ``name`` (built on first use), or the base's repository.

        While a factory builds a replacement, asking for that same name gives the base's
        repository, so a replacement may wrap the one it replaces.
        """
        self._require_open()
        factory = self._factories.get(name)
        if factory is None or name in self._building:
            return of_base(self.base)
        if name not in self._built:
            self._building.add(name)
            try:
                self._built[name] = factory(self)
            finally:
                self._building.discard(name)
        return cast("_R", self._built[name])

    # -- repositories -------------------------------------------------------------

    @property
    def organisations(self) -> OrganisationRepository:
        """The replacement organisations repository, or the base's."""
        return self._repository("organisations", lambda base: base.organisations)

    @property
    def memberships(self) -> MembershipRepository:
        """The replacement memberships repository, or the base's."""
        return self._repository("memberships", lambda base: base.memberships)

    @property
    def domains(self) -> DomainClaimRepository:
        """The replacement domain-claims repository, or the base's."""
        return self._repository("domains", lambda base: base.domains)

    @property
    def invitations(self) -> InvitationRepository:
        """The replacement invitations repository, or the base's."""
        return self._repository("invitations", lambda base: base.invitations)

    @property
    def join_requests(self) -> JoinRequestRepository:
        """The replacement join-requests repository, or the base's."""
        return self._repository("join_requests", lambda base: base.join_requests)

    @property
    def ledger(self) -> Ledger:
        """The replacement ledger, or the base's."""
        return self._repository("ledger", lambda base: base.ledger)

    @property
    def holds(self) -> HoldRepository:
        """The replacement holds repository, or the base's."""
        return self._repository("holds", lambda base: base.holds)

    @property
    def requests(self) -> CreditRequestRepository:
        """The replacement credit-requests repository, or the base's."""
        return self._repository("requests", lambda base: base.requests)

    @property
    def idempotency(self) -> IdempotencyRepository:
        """The replacement idempotency repository, or the base's."""
        return self._repository("idempotency", lambda base: base.idempotency)

    @property
    def teams(self) -> TeamRepository:
        """The replacement teams repository, or the base's."""
        return self._repository("teams", lambda base: base.teams)

    @property
    def events(self) -> EventRepository:
        """The replacement events repository, or the base's."""
        return self._repository("events", lambda base: base.events)

    @property
    def reports(self) -> ReportRepository:
        """The replacement reports repository, or the base's."""
        return self._repository("reports", lambda base: base.reports)

    @property
    def views(self) -> ViewRepository:
        """The replacement views repository, or the base's."""
        return self._repository("views", lambda base: base.views)
