"""The memory store's ledger: accounts, transfers, and each account's totals per period.

What a transfer does to its two accounts is decided by
:func:`~armox_enterprise.domain.ledger.apply_transfer` from the domain's
:data:`~armox_enterprise.domain.ledger.EFFECTS` table, which also refuses an overdraft or a
spend from a closed account, a credit from the pool to a closed account, a settlement of more
than is pending, or a total past ``MAX_CREDITS``, before anything is written.  The period
totals count a transfer on each side its effect moves (a hold or a release on the debit side
only) by :func:`~armox_enterprise.domain.ledger.period_count`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.domain.ledger import (
    Account,
    Side,
    Transfer,
    TransferKind,
    apply_transfer,
    period_count,
)
from armox_enterprise.exceptions import DuplicateIdempotencyKey, NotFound, StorageError
from armox_enterprise.ports import PeriodTotals

__all__ = ["MemoryLedger"]


class MemoryLedger(MemoryRepository):
    """The :class:`~armox_enterprise.ports.Ledger` of the memory store."""

    def open_account(self, account: Account) -> None:
        key = (account.organisation_id, account.code)
        if key not in self._s.accounts:
            self._j.set(self._s.accounts, key, account)

    def get_account(
        self, organisation_id: str, code: str, *, for_update: bool = False
    ) -> Account | None:
        # Nothing to lock: the unit of work holds the whole store's lock while it is open.
        return self._s.accounts.get((organisation_id, code))

    def accounts(self, organisation_id: str) -> list[Account]:
        return sorted(
            (a for (org, _), a in self._s.accounts.items() if org == organisation_id),
            key=lambda a: a.code,
        )

    def lock_accounts(self, organisation_id: str, codes: Iterable[str] | None = None) -> None:
        # Nothing to lock, as in get_account.
        return None

    def post(self, transfer: Transfer) -> None:
        org = transfer.organisation_id
        debit = self._s.accounts.get((org, transfer.debit_account))
        credit = self._s.accounts.get((org, transfer.credit_account))
        if debit is None or credit is None:
            missing = transfer.debit_account if debit is None else transfer.credit_account
            raise NotFound(f"account {missing} does not exist in organisation {org}")
        if (org, transfer.id) in self._s.transfers_by_id:
            raise StorageError(f"transfer {transfer.id} already exists")
        key = transfer.idempotency_key
        if key is not None and (org, key) in self._s.transfers_by_key:
            raise DuplicateIdempotencyKey(f"generation id {key!r} was already used")
        # Raises before any write, so a refused posting leaves the unit of work usable.
        new_debit, new_credit = apply_transfer(debit, credit, transfer)
        self._j.set(self._s.accounts, (org, debit.code), new_debit)
        self._j.set(self._s.accounts, (org, credit.code), new_credit)
        self._j.append(self._s.transfers[org], transfer)
        self._j.set(self._s.transfers_by_id, (org, transfer.id), transfer)
        if key is not None:
            self._j.set(self._s.transfers_by_key, (org, key), transfer)
        effect = transfer.kind.effect
        if effect.debit_posted or effect.debit_pending:
            self._count(transfer, debit.code, Side.DEBIT)
        # A hold or a release only reserves: nothing reaches the credit side yet.
        if transfer.kind.posts:
            self._count(transfer, credit.code, Side.CREDIT)

    def _count(self, transfer: Transfer, code: str, side: Side) -> None:
        """Add ``transfer`` to account ``code``'s totals of its period, on ``side``."""
        key = (transfer.organisation_id, code, transfer.period_index)
        totals = self._s.totals.get(key) or PeriodTotals()
        moved = dict(totals.credits if side is Side.CREDIT else totals.debits)
        moved[transfer.kind] = period_count(
            transfer.kind, moved.get(transfer.kind, 0), transfer.amount
        )
        if side is Side.CREDIT:
            totals = attrs.evolve(totals, credits=moved, last_activity=transfer.created_at)
        else:
            totals = attrs.evolve(totals, debits=moved, last_activity=transfer.created_at)
        self._j.set(self._s.totals, key, totals)

    def get_transfer(self, organisation_id: str, transfer_id: str) -> Transfer | None:
        return self._s.transfers_by_id.get((organisation_id, transfer_id))

    def transfer_by_key(self, organisation_id: str, key: str) -> Transfer | None:
        return self._s.transfers_by_key.get((organisation_id, key))

    def set_closed(self, organisation_id: str, code: str, closed: bool) -> None:
        account = self._s.accounts.get((organisation_id, code))
        if account is None:
            raise NotFound(f"account {code} does not exist in organisation {organisation_id}")
        self._j.set(self._s.accounts, (organisation_id, code), attrs.evolve(account, closed=closed))

    def seal_period(self, organisation_id: str, period_index: int) -> None:
        """Nothing to settle: the memory store keeps every period's totals the same way."""

    def transfers(
        self,
        organisation_id: str,
        *,
        account: str | None = None,
        period_index: int | None = None,
        kinds: Sequence[TransferKind] | None = None,
        reference: str | None = None,
    ) -> list[Transfer]:
        return [
            t
            for t in self._s.transfers.get(organisation_id, ())
            if (account is None or account in (t.debit_account, t.credit_account))
            and (period_index is None or t.period_index == period_index)
            and (kinds is None or t.kind in kinds)
            and (reference is None or t.reference == reference)
        ]

    def period_totals(self, organisation_id: str, account: str, period_index: int) -> PeriodTotals:
        return self._s.totals.get((organisation_id, account, period_index)) or PeriodTotals()
