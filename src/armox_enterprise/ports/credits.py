"""Where the credits are: the ledger, holds, credit requests and idempotency records.

The store makes every check that keeps credits right atomically, against concurrent writers:
no guarded account (the pool, a member) goes below zero available, a hold resolves and a
credit request is decided at most once, and an idempotency key (or a spend's generation id)
is used at most once per organisation.  What a transfer does to its two accounts is the
domain's table (:data:`~armox_enterprise.domain.ledger.EFFECTS`), never the store's own idea.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from armox_enterprise.domain.ledger import Account, Hold, Transfer, TransferKind
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.ports.records import IdempotencyRecord, PeriodTotals

__all__ = [
    "CreditRequestRepository",
    "HoldRepository",
    "IdempotencyRepository",
    "Ledger",
]


class Ledger(Protocol):
    """Stores accounts and transfers and keeps the cached balances right."""

    def open_account(self, account: Account) -> None:
        """Create an account (with zero totals unless given), or do nothing if it exists."""
        ...

    def get_account(
        self, organisation_id: str, code: str, *, for_update: bool = False
    ) -> Account | None:
        """Return the account, or ``None``.

        With ``for_update`` the store locks the account until the unit of work ends, so an
        amount read from it can be posted without a concurrent spend changing it in between.
        """
        ...

    def accounts(self, organisation_id: str) -> list[Account]:
        """Return all of the organisation's accounts."""
        ...

    def lock_accounts(self, organisation_id: str, codes: Iterable[str] | None = None) -> None:
        """Lock the accounts ``codes`` until the unit of work ends (``None``: every account
        but the usage sink), in the library's lock order
        (:func:`~armox_enterprise.domain.ledger.in_lock_order`; members among themselves in
        any one order the store always uses, such as its key's).

        A unit of work about to move credits between several accounts (a period turnover,
        releasing many members' holds) locks them first, so that it never waits for a row
        while holding one that comes after it.  A store without row locks (one that runs
        its units of work one at a time) does nothing.
        """
        ...

    def set_closed(self, organisation_id: str, code: str, closed: bool) -> None:
        """Close an account to new spends and holds (its owner left), or reopen it."""
        ...

    def set_spend_cap(self, organisation_id: str, code: str, cap: int | None) -> None:
        """Keep ``cap``, the member's effective monthly cap
        (:func:`~armox_enterprise.domain.caps.effective_cap`), where :meth:`post` checks it.

        From then on a spend or hold debiting the member account ``code`` is refused with
        :class:`~armox_enterprise.exceptions.CapReached` when what the member used and holds in
        the spend's period, plus its amount, would pass ``cap``; the check is part of the
        posting's own atomic write (so a cap changed concurrently applies either before or
        after a given spend, never halfway).  A new account has no cap until this is called.

        Raises:
            NotFound: the account does not exist.
        """
        ...

    def post(self, transfer: Transfer) -> None:
        """Record ``transfer`` and update both accounts' totals, atomically.

        The effect on the totals is :func:`armox_enterprise.domain.ledger.apply_transfer`'s.
        Spends and holds carry their generation id as ``idempotency_key``, unique in the
        organisation; other transfers carry none.

        Raises:
            InsufficientCredits: the debit account is guarded (pool or member) and has too
                little available; nothing is written and the unit of work stays usable (the
                service may try another posting in it).
            AccountClosed: a spend or hold from a closed account, or an allocation, allotment
                or approval to one; nothing is written.
            InvalidAmount: the amount is not positive, or a capture or release settles more
                than the debit account has pending; nothing is written.
            LimitExceeded: a total of either account would pass ``MAX_CREDITS`` (the usage
                sink's credits excepted: they are a sum); nothing is written.
            CapReached: a spend or hold would take the member past the cap kept by
                :meth:`set_spend_cap` (checked after ``AccountClosed``, before
                ``InsufficientCredits``); nothing is written.
            DuplicateIdempotencyKey: the transfer's idempotency key is already used in the
                organisation (the unit of work may then be unusable: the service retries).
            NotFound: either account does not exist.
            TransientStorageError: the transfer is stamped with a period the organisation
                has closed (its use case read the period before a turnover committed:
                :func:`~armox_enterprise.domain.ledger.period_refusal`), whatever else would
                refuse it; nothing is written, and the service runs the call again, in the
                new period.
        """
        ...

    def transfer_by_key(self, organisation_id: str, key: str) -> Transfer | None:
        """Return the spend or hold recorded under the generation id ``key``, or ``None``."""
        ...

    def seal_period(self, organisation_id: str, period_index: int) -> None:
        """Say that no transfer will be posted in ``period_index`` any more (it has closed).

        A store that keeps its current period's totals in a faster form may settle them here;
        :meth:`period_totals` answers the same before and after.
        """
        ...

    def get_transfer(self, organisation_id: str, transfer_id: str) -> Transfer | None:
        """Return the transfer, or ``None``."""
        ...

    def transfers(
        self,
        organisation_id: str,
        *,
        account: str | None = None,
        period_index: int | None = None,
        kinds: Sequence[TransferKind] | None = None,
        reference: str | None = None,
    ) -> list[Transfer]:
        """Return the organisation's transfers matching every given filter, oldest first."""
        ...

    def period_totals(self, organisation_id: str, account: str, period_index: int) -> PeriodTotals:
        """Return what moved in and out of ``account`` during one period, by kind."""
        ...


class HoldRepository(Protocol):
    """Stores holds; a hold resolves at most once."""

    def add(self, hold: Hold) -> None:
        """Store a new pending hold."""
        ...

    def get(self, organisation_id: str, hold_id: str) -> Hold | None:
        """Return the hold, or ``None``."""
        ...

    def resolve(self, hold: Hold) -> None:
        """Store ``hold``'s resolution if the stored hold is still pending.

        Raises:
            HoldAlreadyResolved: the stored hold is no longer ``pending``.
        """
        ...

    def pending(
        self,
        organisation_id: str,
        *,
        user_id: str | None = None,
        expiring_before: datetime | None = None,
    ) -> list[Hold]:
        """Return pending holds matching the filters, oldest first."""
        ...


class CreditRequestRepository(Protocol):
    """Stores credit requests; only a pending request may change."""

    def add(self, request: CreditRequest) -> None:
        """Store a new pending request."""
        ...

    def get(self, organisation_id: str, request_id: str) -> CreditRequest | None:
        """Return the request, or ``None``."""
        ...

    def decide(self, request: CreditRequest) -> None:
        """Store ``request``'s new state if the stored request is still pending.

        Raises:
            InvalidTransition: the stored request is no longer pending (someone decided first).
        """
        ...

    def list(
        self,
        organisation_id: str,
        *,
        status: RequestStatus | None = None,
        user_id: str | None = None,
        period_index: int | None = None,
    ) -> list[CreditRequest]:
        """Return matching requests, oldest first."""
        ...


class IdempotencyRepository(Protocol):
    """Remembers what each idempotency key did, unique per organisation."""

    def get(self, organisation_id: str, key: str) -> IdempotencyRecord | None:
        """Return the record stored under ``key``, or ``None``."""
        ...

    def add(self, record: IdempotencyRecord) -> None:
        """Store a record.

        Raises:
            DuplicateIdempotencyKey: a record with the same organisation and key exists.
        """
        ...
