"""The double-entry ledger: accounts, transfers and holds.

Every movement of credits is one immutable :class:`Transfer` from a debit account to a credit
account of the same organisation.  Accounts cache three running totals in TigerBeetle's manner
(``credits_posted``, ``debits_posted``, ``debits_pending``); :func:`apply_transfer` is the one
place that says how a transfer changes them, and :func:`reconcile` recomputes them from the
transfers to prove the cache right.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from armox_enterprise.exceptions import (
    AccountClosed,
    HoldAlreadyResolved,
    InsufficientCredits,
    InvalidAmount,
)

__all__ = [
    "EXPIRED",
    "GRANT",
    "POOL",
    "SPENDING_KINDS",
    "USAGE",
    "Account",
    "AccountKind",
    "Hold",
    "HoldStatus",
    "Transfer",
    "TransferKind",
    "account_kind",
    "apply_transfer",
    "member_account",
    "member_of",
    "reconcile",
]

GRANT = "grant"
POOL = "pool"
USAGE = "usage"
EXPIRED = "expired"
_MEMBER_PREFIX = "member:"


class AccountKind(str, enum.Enum):
    """The role of an account in an organisation's ledger."""

    GRANT = "grant"
    POOL = "pool"
    MEMBER = "member"
    USAGE = "usage"
    EXPIRED = "expired"

    @property
    def guarded(self) -> bool:
        """Whether the account's available balance may never go below zero."""
        return self in (AccountKind.POOL, AccountKind.MEMBER)


def member_account(user_id: str) -> str:
    """Return the code of the account holding ``user_id``'s credits."""
    return _MEMBER_PREFIX + user_id


def member_of(code: str) -> str | None:
    """Return the user id of a member account code, or ``None`` for other accounts."""
    return code[len(_MEMBER_PREFIX) :] if code.startswith(_MEMBER_PREFIX) else None


def account_kind(code: str) -> AccountKind:
    """Return the kind of the account with ``code``."""
    if code.startswith(_MEMBER_PREFIX):
        return AccountKind.MEMBER
    return AccountKind(code)


class TransferKind(str, enum.Enum):
    """Why credits moved.  ``HOLD``, ``CAPTURE`` and ``RELEASE`` are the two-phase kinds."""

    GRANT = "grant"
    TOP_UP = "top_up"
    ALLOCATE = "allocate"
    ALLOT = "allot"
    APPROVE = "approve"
    RECLAIM = "reclaim"
    RETURN = "return"
    SPEND = "spend"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    EXPIRE = "expire"

    @property
    def posts(self) -> bool:
        """Whether the transfer moves posted credits (a hold or release only reserves)."""
        return self not in (TransferKind.HOLD, TransferKind.RELEASE)


#: The kinds that start spending a member's credits: closed accounts refuse them, and only
#: they carry a generation id as their idempotency key.
SPENDING_KINDS = frozenset({TransferKind.SPEND, TransferKind.HOLD})


@attrs.frozen
class Account:
    """One account of an organisation's ledger, with its cached totals.

    A ``closed`` member account (its owner left the organisation) refuses new spends and
    holds; everything else (captures, releases, refunds, returns) still posts.
    """

    organisation_id: str
    code: str
    credits_posted: int = 0
    debits_posted: int = 0
    debits_pending: int = 0
    closed: bool = False

    @property
    def kind(self) -> AccountKind:
        """The account's role."""
        return account_kind(self.code)

    @property
    def balance(self) -> int:
        """Posted credits minus posted debits (pending reservations still count as held)."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What the account can give now: the balance less pending reservations."""
        return self.credits_posted - self.debits_posted - self.debits_pending


@attrs.frozen
class Transfer:
    """An immutable movement of ``amount`` credits from ``debit_account`` to ``credit_account``.

    ``reference`` ties it to what caused it (a generation id, a credit request id, a hold id);
    ``feature`` and ``model`` are optional usage tags for analytics.
    """

    id: str
    organisation_id: str
    kind: TransferKind
    debit_account: str
    credit_account: str
    amount: int
    period_index: int
    actor: str
    created_at: datetime
    idempotency_key: str | None = None
    reference: str | None = None
    feature: str | None = None
    model: str | None = None


def apply_transfer(debit: Account, credit: Account, transfer: Transfer) -> tuple[Account, Account]:
    """Return the two accounts as ``transfer`` leaves them.

    Raises:
        InsufficientCredits: the debit account is guarded and would go below zero available.
        InvalidAmount: the transfer's amount is not positive.
        AccountClosed: a closed account would start a spend or a hold.
    """
    amount = transfer.amount
    if amount <= 0:
        raise InvalidAmount(f"a transfer moves a positive amount, got {amount}")
    kind = transfer.kind
    if debit.closed and kind in SPENDING_KINDS:
        raise AccountClosed(f"account {debit.code} is closed to new spending")
    if kind is TransferKind.HOLD:
        new_debit = attrs.evolve(debit, debits_pending=debit.debits_pending + amount)
    elif kind is TransferKind.RELEASE:
        new_debit = attrs.evolve(debit, debits_pending=debit.debits_pending - amount)
    elif kind is TransferKind.CAPTURE:
        new_debit = attrs.evolve(
            debit,
            debits_pending=debit.debits_pending - amount,
            debits_posted=debit.debits_posted + amount,
        )
    else:
        new_debit = attrs.evolve(debit, debits_posted=debit.debits_posted + amount)
    if debit.kind.guarded and new_debit.available < 0:
        raise InsufficientCredits(
            f"account {debit.code} has {debit.available} credits available, "
            f"{amount} were asked for",
            available=debit.available,
            requested=amount,
        )
    if kind.posts:
        new_credit = attrs.evolve(credit, credits_posted=credit.credits_posted + amount)
    else:
        new_credit = credit
    return new_debit, new_credit


def reconcile(accounts: Iterable[Account], transfers: Iterable[Transfer]) -> list[str]:
    """Recompute every account's totals from ``transfers`` and list each mismatch.

    An empty list means the ledger is consistent: every cached total equals what the transfers
    imply, no guarded account is below zero, and credits are conserved (all balances sum to
    zero, which is what double entry means).
    """
    cached: Mapping[str, Account] = {a.code: a for a in accounts}
    fresh: dict[str, Account] = {
        code: Account(account.organisation_id, code) for code, account in cached.items()
    }
    problems: list[str] = []
    for transfer in transfers:
        debit = fresh.get(transfer.debit_account)
        credit = fresh.get(transfer.credit_account)
        if debit is None or credit is None:
            problems.append(f"transfer {transfer.id} names an unknown account")
            continue
        amount = transfer.amount
        kind = transfer.kind
        pending = debit.debits_pending
        posted = debit.debits_posted
        if kind is TransferKind.HOLD:
            pending += amount
        elif kind is TransferKind.RELEASE:
            pending -= amount
        elif kind is TransferKind.CAPTURE:
            pending -= amount
            posted += amount
        else:
            posted += amount
        fresh[debit.code] = attrs.evolve(debit, debits_pending=pending, debits_posted=posted)
        credit = fresh[transfer.credit_account]
        if kind.posts:
            fresh[credit.code] = attrs.evolve(credit, credits_posted=credit.credits_posted + amount)
    for code, account in cached.items():
        expected = fresh[code]
        if (account.credits_posted, account.debits_posted, account.debits_pending) != (
            expected.credits_posted,
            expected.debits_posted,
            expected.debits_pending,
        ):
            problems.append(
                f"account {code}: cached ({account.credits_posted}, {account.debits_posted}, "
                f"{account.debits_pending}) but transfers imply ({expected.credits_posted}, "
                f"{expected.debits_posted}, {expected.debits_pending})"
            )
        if account.kind.guarded and account.available < 0:
            problems.append(f"account {code} is below zero available: {account.available}")
        if account.debits_pending < 0:
            problems.append(f"account {code} has negative pending debits")
    total = sum(a.balance for a in cached.values())
    if total != 0:
        problems.append(f"credits are not conserved: balances sum to {total}")
    return problems


class HoldStatus(str, enum.Enum):
    """Where a hold stands; only ``PENDING`` moves."""

    PENDING = "pending"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


@attrs.frozen
class Hold:
    """A reservation of a member's credits for a generation still running.

    It resolves exactly once: captured (in whole or part, the rest released), released, or
    expired after ``expires_at``.
    """

    id: str
    organisation_id: str
    user_id: str
    amount: int
    period_index: int
    created_at: datetime
    expires_at: datetime
    reference: str
    status: HoldStatus = HoldStatus.PENDING
    captured: int = 0
    resolved_at: datetime | None = None
    feature: str | None = None
    model: str | None = None

    def capture(self, amount: int, at: datetime) -> Hold:
        """Return the hold captured for ``amount`` (at most what it reserved).

        Raises:
            HoldAlreadyResolved: the hold is no longer pending.
            InvalidAmount: ``amount`` exceeds the reservation.
        """
        self._ensure_pending()
        if amount > self.amount:
            raise InvalidAmount(f"cannot capture {amount} credits from a hold of {self.amount}")
        return attrs.evolve(self, status=HoldStatus.CAPTURED, captured=amount, resolved_at=at)

    def release(self, at: datetime, *, expired: bool = False) -> Hold:
        """Return the hold released (or expired) without capturing anything.

        Raises:
            HoldAlreadyResolved: the hold is no longer pending.
        """
        self._ensure_pending()
        status = HoldStatus.EXPIRED if expired else HoldStatus.RELEASED
        return attrs.evolve(self, status=status, resolved_at=at)

    def _ensure_pending(self) -> None:
        if self.status is not HoldStatus.PENDING:
            raise HoldAlreadyResolved(f"hold {self.id} is already {self.status.value}")
