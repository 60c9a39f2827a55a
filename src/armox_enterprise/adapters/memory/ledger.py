"""The memory store's ledger: accounts, transfers, and each account's totals per period.

What a transfer does to its two accounts is decided by
:func:`~armox_enterprise.domain.ledger.apply_transfer` from the domain's
:data:`~armox_enterprise.domain.ledger.EFFECTS` table, which also refuses an overdraft or a
spend from a closed account, a credit from the pool to a closed account, a settlement of more
than is pending, or a total past ``MAX_CREDITS``, before anything is written.  The period
totals are each account's :class:`~armox_enterprise.adapters.memory.tables.Tally` per period,
counted in place by :func:`count_posting` on each side a transfer's effect moves (a hold or a
release on the debit side only) by :func:`~armox_enterprise.domain.ledger.period_count`; a
reader gets a copy.  :func:`plan_posting` works out what a posting leaves in the accounts, and
is all the checking there is: the unit of work writes a posting through its journal, the
store's ``post_spend`` straight into the tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from armox_enterprise.adapters.memory.tables import Journal, MemoryRepository, MemoryTables, Tally
from armox_enterprise.domain.caps import cap_refusal, counted_against_cap
from armox_enterprise.domain.ledger import (
    EFFECTS,
    REFUND_KINDS,
    SPENT_KINDS,
    Account,
    Transfer,
    TransferKind,
    apply_spend,
    apply_transfer,
    period_count,
    period_refusal,
)
from armox_enterprise.exceptions import DuplicateIdempotencyKey, NotFound, StorageError
from armox_enterprise.ports import PeriodTotals

__all__ = ["MemoryLedger", "Posting", "count_posting", "plan_posting"]


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
        # Raises before any write, so a refused posting leaves the unit of work usable.
        debit, credit = plan_posting(self._s, transfer)
        org = transfer.organisation_id
        journal = self._j
        journal.set(self._s.accounts, (org, transfer.debit_account), debit)
        journal.set(self._s.accounts, (org, transfer.credit_account), credit)
        journal.append(self._s.transfers[org], transfer)
        journal.set(self._s.transfers_by_id, (org, transfer.id), transfer)
        if transfer.idempotency_key is not None:
            journal.set(self._s.transfers_by_key, (org, transfer.idempotency_key), transfer)
        count_posting(self._s, transfer, journal)

    def get_transfer(self, organisation_id: str, transfer_id: str) -> Transfer | None:
        return self._s.transfers_by_id.get((organisation_id, transfer_id))

    def transfer_by_key(self, organisation_id: str, key: str) -> Transfer | None:
        return self._s.transfers_by_key.get((organisation_id, key))

    def set_closed(self, organisation_id: str, code: str, closed: bool) -> None:
        account = self._s.accounts.get((organisation_id, code))
        if account is None:
            raise NotFound(f"account {code} does not exist in organisation {organisation_id}")
        self._j.set(self._s.accounts, (organisation_id, code), attrs.evolve(account, closed=closed))

    def set_spend_cap(self, organisation_id: str, code: str, cap: int | None) -> None:
        key = (organisation_id, code)
        if key not in self._s.accounts:
            raise NotFound(f"account {code} does not exist in organisation {organisation_id}")
        if cap is None:
            self._j.delete(self._s.spend_caps, key)
        else:
            self._j.set(self._s.spend_caps, key, cap)

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
        tally = self._s.totals.get((organisation_id, account, period_index))
        return PeriodTotals() if tally is None else tally.totals()


#: What posting one transfer leaves in the accounts table: its debit and credit accounts.
Posting = tuple[Account, Account]


def plan_posting(tables: MemoryTables, transfer: Transfer) -> Posting:
    """Check ``transfer`` against the tables and return its two accounts as posting it leaves
    them; write nothing.

    The one definition of a posting on the memory store, with :func:`count_posting` (which
    cannot refuse): :meth:`MemoryLedger.post` writes the two through its unit of work's
    journal, :meth:`~armox_enterprise.adapters.memory.MemoryStore.post_spend` straight into
    the tables.

    Raises:
        NotFound: either account does not exist.
        TransientStorageError: the organisation's period has moved past the transfer's
            (:func:`~armox_enterprise.domain.ledger.period_refusal`).
        StorageError: a transfer with this id exists.
        DuplicateIdempotencyKey: the transfer's idempotency key is already used.
        CapReached: a spend or hold would take the member past their cap.
        ArmoxError: what :func:`~armox_enterprise.domain.ledger.apply_transfer` refuses.
    """
    org = transfer.organisation_id
    accounts = tables.accounts
    debit = accounts.get((org, transfer.debit_account))
    credit = accounts.get((org, transfer.credit_account))
    if debit is None or credit is None:
        missing = transfer.debit_account if debit is None else transfer.credit_account
        raise NotFound(f"account {missing} does not exist in organisation {org}")
    organisation = tables.organisations.get(org)
    if organisation is not None:
        stale = period_refusal(transfer, organisation.current_period_index)
        if stale is not None:
            raise stale
    if (org, transfer.id) in tables.transfers_by_id:
        raise StorageError(f"transfer {transfer.id} already exists")
    key = transfer.idempotency_key
    if key is not None and (org, key) in tables.transfers_by_key:
        raise DuplicateIdempotencyKey(f"generation id {key!r} was already used")
    kind = transfer.kind
    cap = tables.spend_caps.get((org, debit.code))
    if cap is not None and kind.effect.starts_spending:
        _check_cap(tables, transfer, debit, cap)
    # A spend (the common posting) by the domain's short form; anything else, and the reason
    # for any refusal, by apply_transfer.
    applied = apply_spend(debit, credit, transfer) if kind is TransferKind.SPEND else None
    return applied or apply_transfer(debit, credit, transfer)


#: Per kind, whether a posting counts in its debit account's tally (a kind that moves a debit
#: total) and in its credit account's (one that posts: a hold or a release only reserves).
_COUNTED: dict[TransferKind, tuple[bool, bool]] = {
    kind: (bool(effect.debit_posted or effect.debit_pending), bool(effect.credit_posted))
    for kind, effect in EFFECTS.items()
}


def count_posting(tables: MemoryTables, transfer: Transfer, journal: Journal | None) -> None:
    """Count ``transfer`` in the period tallies of the sides its effect moves, by
    :func:`~armox_enterprise.domain.ledger.period_count`, each tally's last activity its
    instant; through ``journal`` (``None``: straight into the tables).  It refuses nothing:
    call it once :func:`plan_posting` has accepted the transfer."""
    kind, amount, at = transfer.kind, transfer.amount, transfer.created_at
    org, period, stored = transfer.organisation_id, transfer.period_index, tables.totals
    on_debit, on_credit = _COUNTED[kind]
    for counted, code, debit in (
        (on_debit, transfer.debit_account, True),
        (on_credit, transfer.credit_account, False),
    ):
        if not counted:
            continue
        key = (org, code, period)
        tally = stored.get(key)
        if tally is None:
            tally = Tally()
            if journal is None:
                stored[key] = tally
            else:
                journal.set(stored, key, tally)
        counts = tally.debits if debit else tally.credits
        count = period_count(kind, counts.get(kind, 0), amount)
        if journal is None:
            counts[kind] = count
            tally.last_activity = at
        else:
            journal.set(counts, kind, count)
            journal.assign(tally, "last_activity", at)


def _check_cap(tables: MemoryTables, transfer: Transfer, debit: Account, cap: int) -> None:
    """Refuse a spend or hold that would take the member past ``cap`` in the transfer's period
    (:func:`~armox_enterprise.domain.caps.cap_refusal`); a closed account's refusal comes
    first, as on the SQL store."""
    if debit.closed or transfer.amount <= 0:
        return  # apply_transfer's refusal is the answer
    tally = tables.totals.get((transfer.organisation_id, debit.code, transfer.period_index))
    used = 0
    if tally is not None:
        totals = PeriodTotals(tally.credits, tally.debits)  # read here and dropped: no copy
        used = totals.debited(*SPENT_KINDS) - totals.credited(*REFUND_KINDS)
    counted = counted_against_cap(used=used, held=debit.debits_pending)
    refusal = cap_refusal(cap, counted, transfer.amount)
    if refusal is not None:
        raise refusal
