"""The double-entry ledger: accounts, transfers and holds.

Every movement of credits is one immutable :class:`Transfer` from a debit account to a credit
account of the same organisation.  Accounts cache three running totals in TigerBeetle's manner
(``credits_posted``, ``debits_posted``, ``debits_pending``); :func:`apply_transfer` is the one
place that says how a transfer changes them, and :func:`reconcile` recomputes them from the
transfers to prove the cache right.

Every cached total stays within ``0..MAX_CREDITS`` (a signed 64-bit ``BIGINT``): a transfer
that would take one past it is refused with :class:`~armox_enterprise.exceptions.LimitExceeded`
before anything is written (:func:`debit_refusal`, :func:`credit_refusal`).  The one exception
is the usage sink's credits, which are a sum over its senders (see
:attr:`AccountKind.bounded_credits`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from armox_enterprise.domain.values import MAX_CREDITS
from armox_enterprise.exceptions import (
    AccountClosed,
    ArmoxError,
    HoldAlreadyResolved,
    InsufficientCredits,
    InvalidAmount,
    LimitExceeded,
    TransientStorageError,
)

__all__ = [
    "ALLOCATED_KINDS",
    "EFFECTS",
    "EXPIRED",
    "GRANT",
    "LOCK_ORDER",
    "POOL",
    "REFUND_KINDS",
    "SPENDING_KINDS",
    "SPENT_KINDS",
    "TEAM_KINDS",
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
    "apply_spend",
    "apply_transfer",
    "credit_locked_first",
    "credit_refusal",
    "debit_refusal",
    "in_lock_order",
    "lock_rank",
    "member_account",
    "member_of",
    "period_count",
    "period_refusal",
    "reconcile",
    "team_account",
    "team_of",
]

GRANT = "grant"
POOL = "pool"
USAGE = "usage"
EXPIRED = "expired"
_MEMBER_PREFIX = "member:"
_TEAM_PREFIX = "team:"


class AccountKind(str, enum.Enum):
    """The role of an account in an organisation's ledger."""

    GRANT = "grant"
    POOL = "pool"
    MEMBER = "member"
    TEAM = "team"
    USAGE = "usage"
    EXPIRED = "expired"

    @property
    def guarded(self) -> bool:
        """Whether the account's available balance may never go below zero."""
        return self in (AccountKind.POOL, AccountKind.MEMBER, AccountKind.TEAM)

    @property
    def bounded_credits(self) -> bool:
        """Whether the account's ``credits_posted`` is one total kept within ``MAX_CREDITS``.

        Every account's is except the usage sink's: every member credits it at once, so its
        credits are the sum of what each account sent it, and a store keeps them per sender
        (the SQL store on each member's row, so that spends never queue on one usage row).
        Each sender's part is bounded by its own ``debits_posted``; the sum is at most twice
        ``MAX_CREDITS`` (its balance is at most what the organisation was ever granted, and
        its debits, the refunds, are bounded), and stores compute it without overflow.
        """
        return self is not AccountKind.USAGE


#: The order in which a unit of work locks an organisation's accounts, by kind (after the
#: organisation's own row).  Members come first, as a member's own spend, release or return
#: locks its row before anything else; then the teams (a team's budget gives to and takes
#: back from its members, and gives back to the pool: it sits between the two, by code);
#: then where credits go at the end of a period (``expired``, then ``pool``); then the
#: source, and the usage sink last, as every spend's transfer names it.
LOCK_ORDER: tuple[AccountKind, ...] = (
    AccountKind.MEMBER,
    AccountKind.TEAM,
    AccountKind.EXPIRED,
    AccountKind.POOL,
    AccountKind.GRANT,
    AccountKind.USAGE,
)


def lock_rank(code: str) -> tuple[int, str]:
    """The sort key of the account ``code`` in the library's lock order (:data:`LOCK_ORDER`,
    members by code); a code the ledger does not know sorts last."""
    try:
        return LOCK_ORDER.index(account_kind(code)), code
    except ValueError:
        return len(LOCK_ORDER), code


def in_lock_order(codes: Iterable[str]) -> list[str]:
    """Return the account ``codes`` (once each) in the order a unit of work locks them.

    The library's one lock order: first the organisation's row, then its accounts by
    :data:`LOCK_ORDER`.  Two units of work that lock rows in one order can wait for each
    other but never deadlock; every store that locks rows follows it (see
    :func:`credit_locked_first`), and a use case that will move credits between several
    accounts locks them in this order before it posts.
    """
    return sorted(set(codes), key=lock_rank)


def credit_locked_first(transfer: Transfer) -> bool:
    """Whether a store locks ``transfer``'s credit account before its debit account.

    True when the credit account comes first in :func:`in_lock_order`: an allocation
    (``pool`` → ``member:…``) updates the member's row first, as a reclaim (``member:…`` →
    ``pool``) does, so the two never lock the same two rows in opposite orders.
    """
    return lock_rank(transfer.credit_account) < lock_rank(transfer.debit_account)


def member_account(user_id: str) -> str:
    """Return the code of the account holding ``user_id``'s credits."""
    return _MEMBER_PREFIX + user_id


def member_of(code: str) -> str | None:
    """Return the user id of a member account code, or ``None`` for other accounts."""
    return code[len(_MEMBER_PREFIX) :] if code.startswith(_MEMBER_PREFIX) else None


def team_account(team_id: str) -> str:
    """Return the code of the account holding team ``team_id``'s budget."""
    return _TEAM_PREFIX + team_id


def team_of(code: str) -> str | None:
    """Return the team id of a team account code, or ``None`` for other accounts."""
    return code[len(_TEAM_PREFIX) :] if code.startswith(_TEAM_PREFIX) else None


def account_kind(code: str) -> AccountKind:
    """Return the kind of the account with ``code``."""
    if code.startswith(_MEMBER_PREFIX):
        return AccountKind.MEMBER
    if code.startswith(_TEAM_PREFIX):
        return AccountKind.TEAM
    return AccountKind(code)


class TransferKind(str, enum.Enum):
    """Why credits moved.  ``HOLD``, ``CAPTURE`` and ``RELEASE`` are the two-phase kinds.

    ``FUND_TEAM`` moves credits from the pool to a team's budget and ``DEFUND_TEAM`` back
    (an admin's reclaim, a period's close, a team's deletion); a team's budget reaches its
    members by the member kinds (``ALLOCATE``, ``APPROVE`` debit the team's account,
    ``RECLAIM`` and ``RETURN`` credit it), so a member's figures count the same whatever
    funds them.  ``GRACE`` lends a member who ran out the shortfall of one spend, out of the
    pool or their team's budget, under the organisation's soft limit
    (:mod:`~armox_enterprise.domain.grace`); it is not "allocated".
    """

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
    FUND_TEAM = "fund_team"
    DEFUND_TEAM = "defund_team"
    GRACE = "grace"

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
        refused_by_closed_credit: a closed credit account refuses it (it gives a member new
            credits from the pool or a team's budget: an allocation, an allotment, an
            approval; or a team's budget new credits from the pool), so credits never land on
            the account of a member who left or of a team that was deleted.
    """

    debit_posted: int
    debit_pending: int
    credit_posted: int
    starts_spending: bool = False
    refused_by_closed_credit: bool = False

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
            return _with_totals(
                account,
                account.credits_posted + self.credit_posted * amount,
                account.debits_posted,
                account.debits_pending,
            )
        return _with_totals(
            account,
            account.credits_posted,
            account.debits_posted + self.debit_posted * amount,
            account.debits_pending + self.debit_pending * amount,
        )


def _with_totals(account: Account, credits_posted: int, debits: int, pending: int) -> Account:
    """``account`` with new cached totals: what ``attrs.evolve`` makes, built directly (every
    posting makes two; ``tests/unit/domain/test_ledger_speed.py`` keeps the field list)."""
    if type(account) is not Account:
        return attrs.evolve(
            account, credits_posted=credits_posted, debits_posted=debits, debits_pending=pending
        )
    # Positional, in the order of Account's fields (that test keeps it).
    return Account(
        account.organisation_id, account.code, credits_posted, debits, pending, account.closed
    )


class Side(str, enum.Enum):
    """The side of a transfer an account is on."""

    DEBIT = "d"
    CREDIT = "c"


_POSTED = Effect(debit_posted=1, debit_pending=0, credit_posted=1)
_FROM_POOL = Effect(debit_posted=1, debit_pending=0, credit_posted=1, refused_by_closed_credit=True)

#: THE table of the ledger: what each transfer kind does to the debit and credit sides.
#: :func:`apply_transfer`, :func:`reconcile`, the memory store and the SQL store's
#: statements are all derived from it.
EFFECTS: Mapping[TransferKind, Effect] = MappingProxyType(
    {
        TransferKind.GRANT: _POSTED,
        TransferKind.TOP_UP: _POSTED,
        TransferKind.ALLOCATE: _FROM_POOL,
        TransferKind.ALLOT: _FROM_POOL,
        TransferKind.APPROVE: _FROM_POOL,
        TransferKind.RECLAIM: _POSTED,
        TransferKind.RETURN: _POSTED,
        TransferKind.SPEND: Effect(1, 0, 1, starts_spending=True),
        TransferKind.HOLD: Effect(0, 1, 0, starts_spending=True),
        TransferKind.CAPTURE: Effect(1, -1, 1),
        TransferKind.RELEASE: Effect(0, -1, 0),
        TransferKind.REFUND: _POSTED,
        TransferKind.EXPIRE: _POSTED,
        TransferKind.FUND_TEAM: _FROM_POOL,
        TransferKind.DEFUND_TEAM: _POSTED,
        TransferKind.GRACE: _FROM_POOL,
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
#: The kinds that move credits between the pool and a team's budget.
TEAM_KINDS: frozenset[TransferKind] = frozenset({TransferKind.FUND_TEAM, TransferKind.DEFUND_TEAM})


@attrs.frozen
class Account:
    """One account of an organisation's ledger, with its cached totals.

    A ``closed`` member account (its owner left the organisation) refuses new spends and
    holds, and new credits from the pool (allocations, allotments, approvals); everything
    else (captures, releases, refunds, returns, expiries) still posts.
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

    @property
    def credit_room(self) -> int:
        """How many more credits the account can take before ``credits_posted`` would pass
        ``MAX_CREDITS``."""
        return MAX_CREDITS - self.credits_posted

    @property
    def debit_room(self) -> int:
        """How many more credits the account can give before ``debits_posted`` would pass
        ``MAX_CREDITS`` (what bounds the grants and top-ups of an organisation's source)."""
        return MAX_CREDITS - self.debits_posted


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


def debit_refusal(debit: Account, transfer: Transfer) -> ArmoxError | None:
    """Return why ``debit`` cannot be the debit account of ``transfer``, or ``None``.

    The checks, in order: the amount is positive; a closed account starts no spend or hold
    (:attr:`Effect.starts_spending`); a capture or release settles no more than is pending
    (:attr:`Effect.settles_pending`); a guarded account keeps zero or more available
    (:attr:`Effect.draws`); no total the transfer moves passes ``MAX_CREDITS``.  The memory
    store refuses by these through :func:`apply_transfer`; the SQL store's conditional
    ``UPDATE`` holds the same guards and, when one refuses, asks this function why.
    """
    amount = transfer.amount
    if amount <= 0:
        return InvalidAmount(f"a transfer moves a positive amount, got {amount}")
    effect = EFFECTS[transfer.kind]
    if debit.closed and effect.starts_spending:
        return AccountClosed(f"account {debit.code} is closed to new spending")
    pending = debit.debits_pending + effect.debit_pending * amount
    if pending < 0:
        return InvalidAmount(
            f"a {transfer.kind.value} of {amount} credits from account {debit.code} settles "
            f"more than its {debit.debits_pending} pending credits"
        )
    posted = debit.debits_posted + effect.debit_posted * amount
    # The balance first: the account's kind is only worth working out for an overdraft.
    if debit.credits_posted - posted - pending < 0 and debit.kind.guarded:
        return InsufficientCredits(
            f"account {debit.code} has {debit.available} credits available, "
            f"{amount} were asked for",
            available=debit.available,
            requested=amount,
        )
    if posted <= MAX_CREDITS and pending <= MAX_CREDITS:
        return None
    total = "debits_posted" if posted > MAX_CREDITS else "debits_pending"
    return _past_limit(debit, total, transfer)


def period_refusal(transfer: Transfer, current_period_index: int) -> TransientStorageError | None:
    """Return why ``transfer`` cannot be posted in its period, or ``None``.

    A transfer is stamped with the period its use case read as current.  When the store's
    period has moved past it (``current_period_index``: the organisation's current period, or
    on the SQL store the period an account row was sealed on to), a turnover committed after
    that read, and the period the transfer names is closed: nothing lands in it.  That is no
    answer to the call, only a stale read, so the refusal is transient: the call runs again
    and reads the new period.
    """
    if transfer.period_index >= current_period_index:
        return None
    return TransientStorageError(
        f"transfer {transfer.id} belongs to closed period {transfer.period_index} (the "
        f"period turned over to {current_period_index} meanwhile); run the call again"
    )


def credit_refusal(credit: Account, transfer: Transfer) -> ArmoxError | None:
    """Return why ``credit`` cannot be the credit account of ``transfer``, or ``None``.

    A closed account takes no new credits from the pool
    (:attr:`Effect.refused_by_closed_credit`), and its ``credits_posted`` does not pass
    ``MAX_CREDITS`` (unless the account's credits are a sum: :attr:`AccountKind.bounded_credits`).
    """
    effect = EFFECTS[transfer.kind]
    if credit.closed and effect.refused_by_closed_credit:
        return AccountClosed(
            f"account {credit.code} is closed: a {transfer.kind.value} cannot credit it"
        )
    if (
        effect.credit_posted
        and credit.credits_posted + effect.credit_posted * transfer.amount > MAX_CREDITS
        and credit.kind.bounded_credits
    ):
        return _past_limit(credit, "credits_posted", transfer)
    return None


def _past_limit(account: Account, total: str, transfer: Transfer) -> LimitExceeded:
    return LimitExceeded(
        f"a {transfer.kind.value} of {transfer.amount} credits would take account "
        f"{account.code}'s {total} past {MAX_CREDITS}, the most a store can hold"
    )


def apply_transfer(debit: Account, credit: Account, transfer: Transfer) -> tuple[Account, Account]:
    """Return the two accounts as ``transfer`` leaves them, by the :data:`EFFECTS` table.

    The debit side is checked first (:func:`debit_refusal`), then the credit side
    (:func:`credit_refusal`); nothing is returned for a refused transfer.

    Raises:
        InvalidAmount: the transfer's amount is not positive, or a capture or release
            settles more than the debit account has pending.
        AccountClosed: a closed account would start a spend or a hold, or take credits from
            the pool.
        InsufficientCredits: the debit account is guarded and would go below zero available.
        LimitExceeded: a total of either account would pass ``MAX_CREDITS``.
    """
    refusal = debit_refusal(debit, transfer) or credit_refusal(credit, transfer)
    if refusal is not None:
        raise refusal
    effect = EFFECTS[transfer.kind]
    return (
        effect.apply(debit, transfer.amount, side=Side.DEBIT),
        effect.apply(credit, transfer.amount, side=Side.CREDIT),
    )


def apply_spend(
    debit: Account, credit: Account, transfer: Transfer
) -> tuple[Account, Account] | None:
    """Return the two accounts as a ``spend`` leaves them, or ``None`` where
    :func:`apply_transfer` would refuse it (or ``transfer`` is no spend).

    The same checks by the same :data:`EFFECTS` row as :func:`debit_refusal` and
    :func:`credit_refusal`, in fewer steps, for the spend's short path; it answers only
    whether, so a caller that needs the reason asks :func:`apply_transfer`.
    ``tests/unit/domain/test_ledger_speed.py`` proves the two equal for every spend.
    """
    effect = _SPEND_EFFECT
    if (
        transfer.kind is not TransferKind.SPEND
        or type(debit) is not Account
        or type(credit) is not Account
    ):
        return None
    amount = transfer.amount
    posted = debit.debits_posted + effect.debit_posted * amount
    pending = debit.debits_pending + effect.debit_pending * amount
    credited = credit.credits_posted + effect.credit_posted * amount
    if (
        amount <= 0
        or (debit.closed and effect.starts_spending)
        or pending < 0
        or (debit.credits_posted - posted - pending < 0 and debit.kind.guarded)
        or posted > MAX_CREDITS
        or pending > MAX_CREDITS
        or (credit.closed and effect.refused_by_closed_credit)
        or (credited > MAX_CREDITS and effect.credit_posted and credit.kind.bounded_credits)
    ):
        return None
    return (
        Account(
            debit.organisation_id, debit.code, debit.credits_posted, posted, pending, debit.closed
        ),
        Account(
            credit.organisation_id,
            credit.code,
            credited,
            credit.debits_posted,
            credit.debits_pending,
            credit.closed,
        ),
    )


_SPEND_EFFECT = EFFECTS[TransferKind.SPEND]


def period_count(kind: TransferKind, total: int, amount: int) -> int:
    """Return an account's period total of ``kind`` once a transfer of ``amount`` adds to it.

    A kind that posts is bounded by the account's own cached totals, so its period total is
    exact and within ``MAX_CREDITS``.  A kind that only reserves (a hold, a release) moves no
    posted total: reserving and releasing the same credits again and again could count past
    ``MAX_CREDITS``, so that count stops there.
    """
    added = total + amount
    return added if EFFECTS[kind].credit_posted else min(added, MAX_CREDITS)


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
