"""The ledger on SQL: accounts, transfers, and the period totals the read side sums.

A transfer is posted by the conditional statements of
:mod:`~armox_enterprise.adapters.sqlalchemy.postings` (derived from the domain's
:data:`~armox_enterprise.domain.ledger.EFFECTS`), then inserted, then counted in
``period_totals``; a member's spend to the usage sink takes the two-statement fast path
instead, its counts kept on the member's row until the period is sealed.  When a guarded
statement matches no row, the row is read once and the domain says why
(:func:`~armox_enterprise.domain.ledger.debit_refusal`,
:func:`~armox_enterprise.domain.ledger.credit_refusal`), so the SQL store raises what the
memory store raises: ``InsufficientCredits``, ``AccountClosed``, ``InvalidAmount`` for a
settlement of more than is pending, ``LimitExceeded`` for a total past ``MAX_CREDITS``.  A
refused credit side takes the debit side back first, so nothing is written.

The usage sink's credits are its own row's plus what its members' rows count as ``spent``,
summed exactly (:class:`~armox_enterprise.adapters.sqlalchemy.sums.ExactSum`): the sum may
pass ``MAX_CREDITS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs
from sqlalchemy import Executable, Row, and_, insert, or_, select, update
from sqlalchemy import exc as sa_exc

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.errors import (
    Failure,
    classify,
    constraint,
    translate,
)
from armox_enterprise.adapters.sqlalchemy.period_totals import SqlPeriodTotals
from armox_enterprise.adapters.sqlalchemy.postings import (
    caps_apply,
    credit_undo,
    credit_update,
    debit_undo,
    debit_update,
    spend_statements,
)
from armox_enterprise.adapters.sqlalchemy.records import (
    account_from_row,
    transfer_from_row,
    transfer_values,
)
from armox_enterprise.adapters.sqlalchemy.sums import ExactSum
from armox_enterprise.domain.caps import cap_refusal, counted_against_cap
from armox_enterprise.domain.ledger import (
    LOCK_ORDER,
    USAGE,
    Account,
    AccountKind,
    Side,
    Transfer,
    TransferKind,
    account_kind,
    credit_locked_first,
    credit_refusal,
    debit_refusal,
    member_account,
    period_refusal,
    team_account,
)
from armox_enterprise.domain.values import MAX_CREDITS
from armox_enterprise.exceptions import (
    AccountClosed,
    CapReached,
    DuplicateIdempotencyKey,
    InsufficientCredits,
    NotFound,
    StorageError,
)
from armox_enterprise.ports import PeriodTotals

__all__ = ["SqlLedger"]


class SqlLedger(Repository):
    """The :class:`~armox_enterprise.ports.Ledger` of the SQLAlchemy store."""

    # -- accounts ---------------------------------------------------------------------

    def open_account(self, account: Account) -> None:
        """Create ``account`` unless it exists."""
        t = self._t.accounts
        where = and_(t.c.organisation_id == account.organisation_id, t.c.code == account.code)
        if self._db.one(select(t.c.code).where(where)) is not None:
            return
        orgs = self._t.organisations
        self._db.write(
            insert(t).values(
                organisation_id=account.organisation_id,
                code=account.code,
                guarded=account.kind.guarded,
                credits_posted=account.credits_posted,
                debits_posted=account.debits_posted,
                debits_pending=account.debits_pending,
                closed=account.closed,
                spent=0,
                # Start at the organisation's current period, so that a spend stamped with
                # an already closed period (a process whose clock lags) is refused.
                spend_period=select(orgs.c.current_period_index)
                .where(orgs.c.id == account.organisation_id)
                .scalar_subquery(),
                spend_total=0,
                spend_at=None,
            )
        )

    def _members_spent(self, organisation_id: str, code: str) -> int:
        """The usage account's credits from spends: the sum of what its members spent."""
        if code != USAGE:
            return 0
        t = self._t.accounts
        spent = ExactSum.of(self._db.dialect, t.c.spent, "spent")
        row = self._db.one(select(*spent.columns).where(t.c.organisation_id == organisation_id))
        return 0 if row is None else spent.value(row._mapping)

    def get_account(
        self, organisation_id: str, code: str, *, for_update: bool = False
    ) -> Account | None:
        """Return the account (locked with ``for_update``), or ``None``."""
        t = self._t.accounts
        query = select(t).where(t.c.organisation_id == organisation_id, t.c.code == code)
        # FOR NO KEY UPDATE on PostgreSQL, as an UPDATE of the row takes: the foreign-key
        # checks of transfers naming the account (FOR KEY SHARE) do not wait for it.
        row = self._db.one(query.with_for_update(key_share=True) if for_update else query)
        if row is None:
            return None
        account = account_from_row(row)
        extra = self._members_spent(organisation_id, code)
        return attrs.evolve(account, credits_posted=account.credits_posted + extra)

    def accounts(self, organisation_id: str) -> list[Account]:
        """Return the organisation's accounts ordered by code."""
        t = self._t.accounts
        query = select(t).where(t.c.organisation_id == organisation_id).order_by(t.c.code)
        found = [account_from_row(row) for row in self._db.rows(query)]
        extra = self._members_spent(organisation_id, USAGE)
        return [
            attrs.evolve(a, credits_posted=a.credits_posted + extra) if a.code == USAGE else a
            for a in found
        ]

    def lock_accounts(self, organisation_id: str, codes: Iterable[str] | None = None) -> None:
        """Lock the accounts ``codes`` (``None``: every account but the usage sink) until the
        unit of work ends, in the library's lock order.

        The members' rows in one statement, in the primary key's order, then the teams' rows
        likewise (PostgreSQL locks
        the rows as the ordered scan returns them, InnoDB as its range scan reaches them),
        then each other account by :data:`~armox_enterprise.domain.ledger.LOCK_ORDER`.
        """
        t = self._t.accounts
        # Every account but the usage sink, which no turnover or release writes to.
        wanted = set(codes) if codes is not None else None
        for kind in LOCK_ORDER:
            where = [t.c.organisation_id == organisation_id]
            if kind in (AccountKind.MEMBER, AccountKind.TEAM):
                prefix = member_account("") if kind is AccountKind.MEMBER else team_account("")
                if wanted is None:
                    where.append(t.c.code.startswith(prefix, autoescape=True))
                else:
                    listed = [code for code in wanted if code.startswith(prefix)]
                    if not listed:
                        continue
                    where.append(t.c.code.in_(listed))
            elif (kind is not AccountKind.USAGE) if wanted is None else (kind.value in wanted):
                where.append(t.c.code == kind.value)
            else:
                continue
            query = select(t.c.code).where(*where).order_by(t.c.code)
            self._db.rows(query.with_for_update(key_share=True))

    def set_closed(self, organisation_id: str, code: str, closed: bool) -> None:
        """Close an account to new spending, or open it again."""
        t = self._t.accounts
        count = self._db.write(
            update(t)
            .where(t.c.organisation_id == organisation_id, t.c.code == code)
            .values(closed=closed)
        )
        if not count:
            raise NotFound(f"account {code} does not exist in organisation {organisation_id}")

    def set_spend_cap(self, organisation_id: str, code: str, cap: int | None) -> None:
        """Keep the member's effective cap on their account row, where the spend's and the
        hold's conditional ``UPDATE`` compares it (an ``UPDATE`` of the row: it waits for a
        spend that holds the row, and a spend after it sees the new cap)."""
        t = self._t.accounts
        count = self._db.write(
            update(t)
            .where(t.c.organisation_id == organisation_id, t.c.code == code)
            .values(spend_cap=cap)
        )
        if not count:
            raise NotFound(f"account {code} does not exist in organisation {organisation_id}")

    # -- posting ----------------------------------------------------------------------

    def post(self, transfer: Transfer) -> None:
        """Apply ``transfer`` to both accounts and record it, atomically in the database."""
        if not 0 < transfer.amount <= MAX_CREDITS:
            # No statement runs with an amount no BIGINT holds: the domain says why not.
            self._refuse(transfer)
        if (
            transfer.kind is TransferKind.SPEND
            and transfer.credit_account == USAGE
            and account_kind(transfer.debit_account) is AccountKind.MEMBER
        ):
            self._post_spend(transfer)
        else:
            self._post_any(transfer)

    def _insert_transfer(self, transfer: Transfer, statement: Executable | None = None) -> None:
        operation = "post a transfer"
        try:
            if statement is None:
                values = transfer_values(transfer)
                self._db.run(insert(self._t.transfers).values(**values), operation=operation)
            else:
                self._db.run(statement, transfer_values(transfer), operation)
        except sa_exc.IntegrityError as exc:
            # Told apart by the driver's code and the constraint's name, never by the text
            # of its message, which repeats the values (a key may read "foreign key").
            failure = classify(exc)
            if failure is Failure.FOREIGN_KEY:
                raise NotFound(
                    f"account {transfer.debit_account} or {transfer.credit_account} "
                    f"does not exist in {transfer.organisation_id}"
                ) from exc
            if failure is Failure.UNIQUE and "idempotency_key" in constraint(exc):
                raise DuplicateIdempotencyKey(
                    f"generation id {transfer.idempotency_key!r} was already used"
                ) from exc
            raise translate(exc, operation) from exc

    def _post_spend(self, transfer: Transfer) -> None:
        """A spend in two statements: the member's row, and the transfer.

        The member's row carries the debit, what the member spent in all (the usage
        account's side of the spend) and this period's spend total.
        """
        statements = spend_statements(self._t, self._db.dialect)
        params = {
            "o": transfer.organisation_id,
            "c": transfer.debit_account,
            "a": transfer.amount,
            "p": transfer.period_index,
            "t": transfer.created_at,
        }
        # The row first: InnoDB's foreign-key check on the transfer would otherwise take a
        # shared lock on it that two concurrent spends then both try to upgrade (a deadlock).
        if self._db.write(statements.debit, params) != 1:
            self._refuse(transfer)
        self._insert_transfer(transfer, statements.insert)

    def _refused_row(self, transfer: Transfer, code: str) -> Row[Any]:
        t = self._t.accounts
        row = self._db.one(
            select(t).where(t.c.organisation_id == transfer.organisation_id, t.c.code == code)
        )
        if row is None:
            raise NotFound(f"account {code} does not exist in {transfer.organisation_id}")
        return row

    def _refuse(self, transfer: Transfer) -> None:
        """Raise why ``transfer``'s guarded debit matched no row (the domain's reason)."""
        row = self._refused_row(transfer, transfer.debit_account)
        _refuse_closed_period(row, transfer)
        account = account_from_row(row)
        refusal = debit_refusal(account, transfer)
        if isinstance(refusal, AccountClosed):
            raise refusal
        if caps_apply(transfer) and transfer.amount > 0:
            over = _cap_refusal(row, account, transfer)
            if over is not None:
                raise over
        if refusal is not None:
            raise refusal
        # The row changed since the statement refused it (a concurrent commit, read at a
        # later snapshot): the guard it met was the balance's.
        raise InsufficientCredits(
            f"account {account.code} has {account.available} credits available, "
            f"{transfer.amount} were asked for",
            available=account.available,
            requested=transfer.amount,
        )

    def _refuse_credit(self, transfer: Transfer, *, debited: bool) -> None:
        """Raise why ``transfer``'s credit matched no row, taking back its debit first if it
        was applied.  When the credit row is updated first, a refusal the debit would have
        met is the answer, as on a store that checks the debit first."""
        if debited:
            self._db.write(debit_undo(self._t.accounts, transfer))
        else:
            debit_row = self._refused_row(transfer, transfer.debit_account)
            # Every row of the organisation is sealed on at once: the debit's tells as well.
            _refuse_closed_period(debit_row, transfer)
            refusal = debit_refusal(account_from_row(debit_row), transfer)
            if refusal is not None:
                raise refusal
        row = self._refused_row(transfer, transfer.credit_account)
        _refuse_closed_period(row, transfer)
        refusal = credit_refusal(account_from_row(row), transfer)
        if refusal is None:
            raise StorageError(
                f"account {transfer.credit_account} refused transfer {transfer.id}; try again"
            )
        raise refusal

    def _post_any(self, transfer: Transfer) -> None:
        """Post a transfer that is not a member's spend, locking its rows in the library's
        lock order (:func:`~armox_enterprise.domain.ledger.in_lock_order`)."""
        t = self._t.accounts
        # A CHECK constraint refusing the row is the same refusal as the guard's.
        insufficient = InsufficientCredits(
            f"account {transfer.debit_account} has too few credits available",
            available=0,
            requested=transfer.amount,
        )
        credit = credit_update(t, transfer)
        if credit is not None and credit_locked_first(transfer):
            if self._db.write(credit) != 1:
                self._refuse_credit(transfer, debited=False)
            if self._db.write(debit_update(t, transfer), error=insufficient) != 1:
                self._db.write(credit_undo(t, transfer))
                self._refuse(transfer)
        else:
            if self._db.write(debit_update(t, transfer), error=insufficient) != 1:
                self._refuse(transfer)
            if credit is not None and self._db.write(credit) != 1:
                self._refuse_credit(transfer, debited=True)
        self._insert_transfer(transfer)
        totals = SqlPeriodTotals(self._db)
        totals.count(transfer, transfer.debit_account, Side.DEBIT)
        if transfer.kind.posts:
            totals.count(transfer, transfer.credit_account, Side.CREDIT)

    # -- period totals ----------------------------------------------------------------

    def seal_period(self, organisation_id: str, period_index: int) -> None:
        """Move the period's spend totals from the account rows into ``period_totals``."""
        SqlPeriodTotals(self._db).seal(organisation_id, period_index)

    def period_totals(self, organisation_id: str, account: str, period_index: int) -> PeriodTotals:
        """Return what each kind credited and debited ``account`` in the period."""
        return SqlPeriodTotals(self._db).read(organisation_id, account, period_index)

    # -- transfers --------------------------------------------------------------------

    def get_transfer(self, organisation_id: str, transfer_id: str) -> Transfer | None:
        """Return the transfer, or ``None``."""
        t = self._t.transfers
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.id == transfer_id)
        )
        return None if row is None else transfer_from_row(row)

    def transfer_by_key(self, organisation_id: str, key: str) -> Transfer | None:
        """Return the transfer posted with idempotency key ``key``, or ``None``."""
        t = self._t.transfers
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.idempotency_key == key)
        )
        return None if row is None else transfer_from_row(row)

    def transfers(
        self,
        organisation_id: str,
        *,
        account: str | None = None,
        period_index: int | None = None,
        kinds: Sequence[TransferKind] | None = None,
        reference: str | None = None,
    ) -> list[Transfer]:
        """Return the matching transfers, oldest first."""
        t = self._t.transfers
        query = select(t).where(t.c.organisation_id == organisation_id)
        if account is not None:
            query = query.where(or_(t.c.debit_account == account, t.c.credit_account == account))
        if period_index is not None:
            query = query.where(t.c.period_index == period_index)
        if kinds is not None:
            query = query.where(t.c.kind.in_([k.value for k in kinds]))
        if reference is not None:
            query = query.where(t.c.reference == reference)
        query = query.order_by(t.c.created_at, t.c.id)
        return [transfer_from_row(row) for row in self._db.rows(query)]


def _refuse_closed_period(row: Row[Any], transfer: Transfer) -> None:
    """Raise when the refused row was sealed on past ``transfer``'s period
    (:func:`~armox_enterprise.adapters.sqlalchemy.postings.period_guard`): a turnover
    committed after the use case read its period, which running it again reads anew
    (:func:`~armox_enterprise.domain.ledger.period_refusal`), whatever else the row says."""
    refusal = period_refusal(transfer, int(row._mapping["spend_period"]))
    if refusal is not None:
        raise refusal


def _cap_refusal(row: Row[Any], account: Account, transfer: Transfer) -> CapReached | None:
    """Why the member's cap refuses ``transfer``, read from the refused row: what
    :func:`~armox_enterprise.adapters.sqlalchemy.postings.cap_guard` compared, by the
    domain's rule."""
    m = row._mapping
    cap = m["spend_cap"]
    period = transfer.period_index
    spends = m["spend_total"] if m["spend_period"] == period else 0
    others = m["figures_used"] if m["figures_period"] == period else 0
    counted = counted_against_cap(used=spends + others, held=account.debits_pending)
    return cap_refusal(None if cap is None else int(cap), counted, transfer.amount)
