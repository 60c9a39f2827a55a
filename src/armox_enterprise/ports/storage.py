"""Storage: the store and its units of work, the transaction every use case runs in.

A store hands out :class:`UnitOfWork` objects; each holds one repository per kind of record.
Everything read or written through one unit of work is one transaction: it becomes visible to
others only on :meth:`UnitOfWork.commit`, and leaving the ``with`` block without committing
discards it all.  Repositories raise the library's own errors (never a driver's).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from typing_extensions import Self

from armox_enterprise.domain.events import Event
from armox_enterprise.domain.ledger import Transfer
from armox_enterprise.exceptions import ArmoxError, CommitOutcomeUnknown
from armox_enterprise.ports.credits import (
    CreditRequestRepository,
    HoldRepository,
    IdempotencyRepository,
    Ledger,
)
from armox_enterprise.ports.events import EventRepository
from armox_enterprise.ports.organisations import (
    DomainClaimRepository,
    InvitationRepository,
    JoinRequestRepository,
    MembershipRepository,
    OrganisationRepository,
)
from armox_enterprise.ports.reads import ReportRepository, ViewRepository
from armox_enterprise.ports.teams import TeamRepository

__all__ = ["Store", "UnitOfWork", "spend_in_unit_of_work"]


class UnitOfWork(Protocol):
    """One transaction over every repository; discarded unless committed.

    Use it as a context manager.  Events recorded with :meth:`record` are kept with the
    transaction and handed out by :meth:`collect_events` once it committed.  A unit of work
    that has committed or rolled back is finished: work after that needs a new one (the
    service never reuses one, and a store may refuse it).
    """

    @property
    def organisations(self) -> OrganisationRepository:
        """The unit of work's organisations repository."""
        ...

    @property
    def memberships(self) -> MembershipRepository:
        """The unit of work's memberships repository."""
        ...

    @property
    def domains(self) -> DomainClaimRepository:
        """The unit of work's domains repository."""
        ...

    @property
    def invitations(self) -> InvitationRepository:
        """The unit of work's invitations repository."""
        ...

    @property
    def join_requests(self) -> JoinRequestRepository:
        """The unit of work's join requests repository."""
        ...

    @property
    def ledger(self) -> Ledger:
        """The unit of work's ledger repository."""
        ...

    @property
    def holds(self) -> HoldRepository:
        """The unit of work's holds repository."""
        ...

    @property
    def requests(self) -> CreditRequestRepository:
        """The unit of work's requests repository."""
        ...

    @property
    def idempotency(self) -> IdempotencyRepository:
        """The unit of work's idempotency repository."""
        ...

    @property
    def teams(self) -> TeamRepository:
        """The unit of work's teams repository."""
        ...

    @property
    def reports(self) -> ReportRepository:
        """The unit of work's report queries."""
        ...

    @property
    def views(self) -> ViewRepository:
        """The unit of work's bulk read models."""
        ...

    @property
    def events(self) -> EventRepository:
        """The unit of work's stored events."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make everything written in this unit of work durable and visible."""
        ...

    def rollback(self) -> None:
        """Discard everything written in this unit of work."""
        ...

    def record(self, event: Event) -> None:
        """Keep ``event`` with this unit of work's changes."""
        ...

    def collect_events(self) -> list[Event]:
        """Return (and forget) the events of the committed unit of work."""
        ...


class Store(Protocol):
    """Where an organisation's data lives: a factory of units of work.

    A store may also have:

    * a ``retry_transient`` attribute: when it is false (a store that joins its host's
      transaction), the service lets a :class:`~armox_enterprise.TransientStorageError` reach
      the caller instead of retrying the unit of work;
    * a ``post_spend(transfer, event) -> bool`` method, the spend's short path: post the
      member's spend ``transfer`` (a :class:`~armox_enterprise.domain.ledger.Transfer` of
      kind ``spend`` from a member's account to the usage sink) and store ``event`` (its
      ``CreditsSpent``) with it, committed at once, in as few round trips as the store can.
      It returns ``True`` once committed, and ``False``, having written nothing, when
      anything refused it: too few credits, a closed or missing account, a generation id
      already used, a period already sealed, or any error the database answered (the
      service then takes the full path, which finds the precise answer).  It raises
      :class:`~armox_enterprise.exceptions.CommitOutcomeUnknown` when the commit may have
      happened (the service then looks the generation id up).  Without it the service does
      the same in a unit of work.
    """

    def unit_of_work(self) -> UnitOfWork:
        """Return a new, not yet entered, unit of work."""
        ...


def spend_in_unit_of_work(
    store: Store,
    transfer: Transfer,
    event: Event,
    *,
    admits: Callable[[UnitOfWork], bool] | None = None,
) -> bool:
    """The spend's short path (``post_spend``, see :class:`Store`) done in one of ``store``'s
    units of work: post ``transfer``, record ``event``, commit.

    Args:
        store: the store.
        transfer: the member's spend.
        event: its ``CreditsSpent`` event.
        admits: a check the unit of work must pass first (``False``: nothing is written).

    Returns:
        ``True`` once committed; ``False`` when anything refused it (nothing written).

    Raises:
        CommitOutcomeUnknown: the commit may have happened.
    """
    try:
        with store.unit_of_work() as uow:
            if admits is not None and not admits(uow):
                return False
            uow.ledger.post(transfer)
            uow.record(event)
            uow.commit()
    except CommitOutcomeUnknown:
        raise
    except ArmoxError:
        return False
    return True
