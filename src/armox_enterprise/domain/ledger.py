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
from types import MappingProxyType

import attrs

from armox_enterprise.exceptions import (
    AccountClosed,
    HoldAlreadyResolved,
    InsufficientCredits,
    InvalidAmount,
)

__all__ = [
    "ALLOCATED_KINDS",
    "EFFECTS",
    "EXPIRED",
    "GRANT",
    "POOL",
    "REFUND_KINDS",
    "SPENDING_KINDS",
    "SPENT_KINDS",
    "USAGE",
    "Account",
    "AccountKind",
    "Effect",
    "Hold",
    "HoldStatus",
    "Side",
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
    def effect(self) -> Effect:
        """What a transfer of this kind does to its two accounts (see :data:`EFFECTS`)."""
        return EFFECTS[self]

    @property
    def posts(self) -> bool:
        """Whether the transfer moves posted credits (a hold or release only reserves)."""
        return EFFECTS[self].credit_posted != 0


@attrs.frozen
class Effect:
    """What one transfer kind does to the totals of its debit and credit accounts.

    Each field is the multiple of the transfer's amount added to one cached total:
    ``+1`` adds the amount, ``-1`` takes it away, ``0`` leaves the total alone.

    Attributes:
        debit_posted: change to the debit account's ``debits_posted``.
        debit_pending: change to the debit account's ``debits_pending``.
        credit_posted: change to the credit account's ``credits_posted``.
        starts_spending: a closed account refuses it (it begins a new spend), and its
            idempotency key is the caller's generation id.
    """

    debit_posted: int
    debit_pending: int
    credit_posted: int
    starts_spending: bool = False

    @property
    def draws(self) -> bool:
        """Whether it lowers the debit account's available balance (so a guard applies)."""
        return self.debit_posted + self.debit_pending > 0

    @property
    def settles_pending(self) -> bool:
        """Whether it consumes a reservation (the debit must have that much pending)."""
        return self.debit_pending < 0

    def apply(self, account: Account, amount: int, *, side: Side) -> Account:
        """Return ``account`` with this effect of a transfer of ``amount`` applied on ``side``."""
        if side is Side.CREDIT:
            if not self.credit_posted:
                return account
            return attrs.evolve(
                account, credits_posted=account.credits_posted + self.credit_posted * amount
            )
        return attrs.evolve(
            account,
            debits_posted=account.debits_posted + self.debit_posted * amount,
            debits_pending=account.debits_pending + self.debit_pending * amount,
        )


class Side(str, enum.Enum):
    """The side of a transfer an account is on."""

    DEBIT = "d"
    CREDIT = "c"


_POSTED = Effect(debit_posted=1, debit_pending=0, credit_posted=1)

#: THE table of the ledger: what each transfer kind does to the debit and credit sides.
#: :func:`apply_transfer`, :func:`reconcile`, the memory store and the SQL store's
#: statements are all derived from it.
EFFECTS: Mapping[TransferKind, Effect] = MappingProxyType(
    {
        TransferKind.GRANT: _POSTED,
        TransferKind.TOP_UP: _POSTED,
        TransferKind.ALLOCATE: _POSTED,
        TransferKind.ALLOT: _POSTED,
        TransferKind.APPROVE: _POSTED,
        TransferKind.RECLAIM: _POSTED,
        TransferKind.RETURN: _POSTED,
        TransferKind.SPEND: Effect(1, 0, 1, starts_spending=True),
        TransferKind.HOLD: Effect(0, 1, 0, starts_spending=True),
        TransferKind.CAPTURE: Effect(1, -1, 1),
        TransferKind.RELEASE: Effect(0, -1, 0),
        TransferKind.REFUND: _POSTED,
        TransferKind.EXPIRE: _POSTED,
    }
)

#: The kinds that start spending a member's credits: closed accounts refuse them, and only
#: they carry a generation id as their idempotency key.
SPENDING_KINDS: frozenset[TransferKind] = frozenset(
    kind for kind, effect in EFFECTS.items() if effect.starts_spending
)
#: The kinds that count as a member's usage (debited from the member, credited to usage).
SPENT_KINDS: frozenset[TransferKind] = frozenset({TransferKind.SPEND, TransferKind.CAPTURE})
#: The kinds that give usage back to a member (credited to the member, debited from usage).
REFUND_KINDS: frozenset[TransferKind] = frozenset({TransferKind.REFUND})
#: The kinds that give a member credits from the pool in a period: "allocated".
ALLOCATED_KINDS: frozenset[TransferKind] = frozenset(
    {TransferKind.ALLOCATE, TransferKind.ALLOT, TransferKind.APPROVE}
)


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

    @property
    def totals(self) -> tuple[int, int, int]:
        """The cached totals: ``(credits_posted, debits_posted, debits_pending)``."""
        return (self.credits_posted, self.debits_posted, self.debits_pending)


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
    """Return the two accounts as ``transfer`` leaves them, by the :data:`EFFECTS` table.

    Raises:
        InsufficientCredits: the debit account is guarded and would go below zero available.
        InvalidAmount: the transfer's amount is not positive.
        AccountClosed: a closed account would start a spend or a hold.
    """
    amount = transfer.amount
    if amount <= 0:
        raise InvalidAmount(f"a transfer moves a positive amount, got {amount}")
    effect = EFFECTS[transfer.kind]
    if debit.closed and effect.starts_spending:
        raise AccountClosed(f"account {debit.code} is closed to new spending")
    new_debit = effect.apply(debit, amount, side=Side.DEBIT)
    if debit.kind.guarded and new_debit.available < 0:
        raise InsufficientCredits(
            f"account {debit.code} has {debit.available} credits available, "
            f"{amount} were asked for",
            available=debit.available,
            requested=amount,
        )
    return new_debit, effect.apply(credit, amount, side=Side.CREDIT)


def reconcile(accounts: Iterable[Account], transfers: Iterable[Transfer]) -> list[str]:
    """Recompute every account's totals from ``transfers`` and list each mismatch.

    An empty list means the ledger is consistent: every cached total equals what the transfers
    imply (by the same :data:`EFFECTS` table that posted them), no guarded account is below
    zero, and credits are conserved (all balances sum to zero, which is what double entry
    means).
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
        effect = EFFECTS[transfer.kind]
        fresh[debit.code] = effect.apply(debit, transfer.amount, side=Side.DEBIT)
        credit = fresh[transfer.credit_account]
        fresh[credit.code] = effect.apply(credit, transfer.amount, side=Side.CREDIT)
    for code, account in cached.items():
        problems.extend(_mismatches(account, fresh[code]))
    total = sum(a.balance for a in cached.values())
    if total != 0:
        problems.append(f"credits are not conserved: balances sum to {total}")
    return problems


def _mismatches(account: Account, expected: Account) -> list[str]:
    problems = []
    if account.totals != expected.totals:
        problems.append(
            f"account {account.code}: cached {account.totals} but transfers imply {expected.totals}"
        )
    if account.kind.guarded and account.available < 0:
        problems.append(f"account {account.code} is below zero available: {account.available}")
    if account.debits_pending < 0:
        problems.append(f"account {account.code} has negative pending debits")
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
