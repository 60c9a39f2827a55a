"""The memory store: the tables, and the units of work that read and write them.

Besides its units of work, the store has the spend's short path of the
:class:`~armox_enterprise.ports.Store` protocol, :meth:`MemoryStore.post_spend`: one member's
spend and its event, checked and written under the store's lock without a unit of work.  It
refuses exactly what a unit of work posting the spend would refuse (both ask
:func:`~armox_enterprise.adapters.memory.ledger.plan_posting`, and both count it by
:func:`~armox_enterprise.adapters.memory.ledger.count_posting`), and also a spend stamped with
a period the organisation has left.
"""

from __future__ import annotations

from armox_enterprise.adapters.memory.ledger import count_posting, plan_posting
from armox_enterprise.adapters.memory.tables import MemoryTables
from armox_enterprise.adapters.memory.unit_of_work import MemoryUnitOfWork
from armox_enterprise.domain.events import Event
from armox_enterprise.domain.ledger import USAGE, Transfer, TransferKind, member_of
from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import ArmoxError
from armox_enterprise.ports import UnitOfWork, spend_in_unit_of_work

__all__ = ["MemoryStore"]


class MemoryStore(MemoryTables):
    """Keeps every record in dictionaries; share one instance between threads freely.

    Attributes:
        outbox: the events of every committed unit of work, in commit order.
    """

    #: Whether the class makes this module's units of work (a subclass may make its own).
    _own_units_of_work = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._own_units_of_work = cls.unit_of_work is MemoryStore.unit_of_work

    def unit_of_work(self) -> MemoryUnitOfWork:
        """Return a new unit of work on this store."""
        return MemoryUnitOfWork(self)

    def post_spend(self, transfer: Transfer, event: Event) -> bool:
        """Post a member's spend and store its event at once; whether it was committed.

        ``transfer`` must be a ``spend`` from a member's account to the usage sink, stamped
        with the organisation's current period.  Under the store's lock it is checked as
        :meth:`~armox_enterprise.adapters.memory.ledger.MemoryLedger.post` checks it (both
        accounts exist, a new transfer id and generation id, and what
        :func:`~armox_enterprise.domain.ledger.apply_transfer` refuses: too few credits, a
        closed account, a total past ``MAX_CREDITS``), then the accounts, the transfer, its
        generation id, the period totals and ``event`` (outbox and stored events) are
        written, as a unit of work posting it and recording ``event`` would write them.

        A store whose units of work are not this class's (a subclass that makes its own)
        posts the spend in one of them instead, so whatever its units of work do on commit
        applies to spends too.  Like a second unit of work, it is not for a thread that has
        a unit of work of this store open: that one's rollback would undo part of the spend.

        Returns:
            ``True`` once written; ``False``, having written nothing, when anything refused
            the spend (the service then takes its full path, which finds the precise answer).

        Raises:
            CommitOutcomeUnknown: only from a subclass's unit of work whose commit did so.
        """
        if (
            transfer.kind is not TransferKind.SPEND
            or transfer.credit_account != USAGE
            or member_of(transfer.debit_account) is None
        ):
            return False
        if not self._own_units_of_work:
            return self._post_spend_in_unit_of_work(transfer, event)
        org = transfer.organisation_id
        with self._lock:
            organisation = self.organisations.get(org)
            # A spend stamped with a period the organisation has left (a service whose clock
            # lags another's, which turned the period over) belongs to the full path.
            if organisation is None or organisation.current_period_index != transfer.period_index:
                return False
            try:
                debit, credit = plan_posting(self, transfer)
            except ArmoxError:
                return False
            # Nothing below can refuse: every check is made, every record built.
            accounts = self.accounts
            accounts[org, transfer.debit_account] = debit
            accounts[org, USAGE] = credit
            self.transfers[org].append(transfer)
            self.transfers_by_id[org, transfer.id] = transfer
            if transfer.idempotency_key is not None:
                self.transfers_by_key[org, transfer.idempotency_key] = transfer
            count_posting(self, transfer, None)
            # As a unit of work's commit keeps its events: the outbox, then the stored events.
            self.outbox.append(event)
            self.stored_events[event.organisation_id].append((new_id(event.occurred_at), event))
        return True

    def _post_spend_in_unit_of_work(self, transfer: Transfer, event: Event) -> bool:
        """:meth:`post_spend` done in one of this store's units of work."""

        def in_its_period(uow: UnitOfWork) -> bool:
            organisation = uow.organisations.get(transfer.organisation_id)
            return organisation is not None and (
                organisation.current_period_index == transfer.period_index
            )

        return spend_in_unit_of_work(self, transfer, event, admits=in_its_period)
