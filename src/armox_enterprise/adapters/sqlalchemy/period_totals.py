"""Per-period totals of each account on SQL: what the read side sums instead of the history.

Every transfer but a member's spend adds its amount to one ``period_totals`` row per side
(organisation, account, period, side, kind), upserted.  A member's spend, the hot path, counts
on the member's own account row instead (``spend_total`` of ``spend_period``), so that spends
never queue on a shared row; sealing a period moves those counts into ``period_totals``, and
reading a period's totals adds the counts still on the rows.

A member's row also keeps the dashboard's figures of one period (``figures_period``), counted
with the same transfers (every one but the member's spends, which are ``spend_total`` and
``spend_at`` already): what the allocated kinds credited (``figures_allocated``), what the
spent kinds debited less what refunds credited (``figures_used``), and the latest of them
(``figures_at``).  The row is locked already (the transfer's own ``UPDATE`` of it came first),
so keeping them takes one more ``UPDATE`` of that row and no lock; spends write nothing more.
The member table sorts by them instead of summing every member's period totals
(:mod:`~armox_enterprise.adapters.sqlalchemy.views`).

Every stored count is bounded: a kind that posts never counts more on an account than the
account's own cached total it is part of, and a kind that only reserves stops at
``MAX_CREDITS`` (:func:`~armox_enterprise.domain.ledger.period_count`).  The usage sink's
credits are not stored at all, since they are a sum over its members that may pass
``MAX_CREDITS`` (:attr:`~armox_enterprise.domain.ledger.AccountKind.bounded_credits`): they
are read as the sum of the spent kinds' debits of the period, computed exactly
(:class:`~armox_enterprise.adapters.sqlalchemy.sums.ExactSum`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Executable,
    Integer,
    Table,
    Update,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    update,
)

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.postings import counted_on_senders
from armox_enterprise.adapters.sqlalchemy.sums import ExactSum
from armox_enterprise.adapters.sqlalchemy.tables import Tables, UtcDateTime
from armox_enterprise.domain.ledger import (
    ALLOCATED_KINDS,
    REFUND_KINDS,
    SPENT_KINDS,
    AccountKind,
    Side,
    Transfer,
    TransferKind,
    account_kind,
)
from armox_enterprise.domain.values import MAX_CREDITS
from armox_enterprise.exceptions import StorageError
from armox_enterprise.ports import PeriodTotals

__all__ = ["SqlPeriodTotals", "figures_update", "upsert_add"]

_SPENT = sorted(kind.value for kind in SPENT_KINDS)


def _added(total: ColumnElement[int], amount: Any, *, saturate: bool) -> ColumnElement[int]:
    """``total + amount``, or with ``saturate`` at most ``MAX_CREDITS`` (never computed past
    it, so it cannot overflow)."""
    added: ColumnElement[int] = total + amount
    if not saturate:
        return added
    limit = literal(MAX_CREDITS, BigInteger)
    return case((total > limit - amount, limit), else_=added)


def upsert_add(
    dialect: str, table: Table, values: dict[str, Any], *, saturate: bool = False
) -> Executable:
    """An INSERT that, on a primary-key clash, adds ``amount`` and keeps the later activity.

    With ``saturate``, the sum stops at ``MAX_CREDITS`` (the count of a kind that only
    reserves: :func:`~armox_enterprise.domain.ledger.period_count`).

    Raises:
        StorageError: the dialect is not one the store supports.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table).values(**values)
        return pg.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={
                "amount": _added(table.c.amount, pg.excluded.amount, saturate=saturate),
                "last_activity": func.greatest(table.c.last_activity, pg.excluded.last_activity),
            },
        )
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as my_insert

        my = my_insert(table).values(**values)
        # MySQL assigns left to right: the activity is compared before the amount changes
        # nothing it reads, and the amount reads its own old value.
        return my.on_duplicate_key_update(
            amount=_added(table.c.amount, my.inserted.amount, saturate=saturate),
            last_activity=func.greatest(table.c.last_activity, my.inserted.last_activity),
        )
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        lite = lite_insert(table).values(**values)
        return lite.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={
                "amount": _added(table.c.amount, lite.excluded.amount, saturate=saturate),
                "last_activity": func.max(table.c.last_activity, lite.excluded.last_activity),
            },
        )
    raise StorageError(f"the {dialect} dialect is not supported (PostgreSQL, MySQL, SQLite are)")


def _is_member(code: str) -> bool:
    """Whether ``code`` is a member's account (the rows that keep the dashboard's figures)."""
    try:
        return account_kind(code) is AccountKind.MEMBER
    except ValueError:  # not an account code the ledger knows: no row will match it
        return False


def figure_moves(transfer: Transfer, side: Side) -> tuple[int, int]:
    """What ``transfer``, counted on a member's ``side``, adds to the member's kept figures:
    ``(allocated, used)``, from the domain's kind sets (used goes down by a refund)."""
    kind, amount = transfer.kind, transfer.amount
    if side is Side.CREDIT:
        allocated = amount if kind in ALLOCATED_KINDS else 0
        return allocated, -amount if kind in REFUND_KINDS else 0
    return 0, amount if kind in SPENT_KINDS else 0


# Keyed by the tables themselves (not their id(), which a later set of tables could reuse).
_figures_cache: dict[Tables, Update] = {}


def figures_update(tables: Tables) -> Update:
    """The ``UPDATE`` that adds a transfer to a member row's kept figures, built once per set
    of tables.

    Parameters: ``o`` (organisation), ``c`` (account code), ``p`` (the transfer's period),
    ``da`` and ``du`` (what it adds to allocated and used, see :func:`figure_moves`) and
    ``t`` (its instant).  A row that keeps an older period starts again on ``p``; a row that
    already keeps a later period is left as it is (the transfer counts in ``period_totals``
    only, under its own period).
    """
    found = _figures_cache.get(tables)
    if found is not None:
        return found
    a = tables.accounts
    period = bindparam("p", type_=Integer)
    at = bindparam("t", type_=UtcDateTime)
    same, older = a.c.figures_period == period, a.c.figures_period < period

    def moved(column: ColumnElement[int], name: str) -> ColumnElement[int]:
        amount = bindparam(name, type_=BigInteger)
        return case((same, column + amount), (older, amount), else_=column)

    later = or_(older, and_(same, or_(a.c.figures_at.is_(None), a.c.figures_at < at)))
    built = (
        update(a)
        .where(a.c.organisation_id == bindparam("o"), a.c.code == bindparam("c"))
        # MySQL assigns left to right: the period changes last, after every figure read it.
        .ordered_values(
            (a.c.figures_allocated, moved(a.c.figures_allocated, "da")),
            (a.c.figures_used, moved(a.c.figures_used, "du")),
            (a.c.figures_at, case((later, at), else_=a.c.figures_at)),
            (a.c.figures_period, case((older, period), else_=a.c.figures_period)),
        )
    )
    _figures_cache[tables] = built
    return built


class SqlPeriodTotals(Repository):
    """The period totals of one unit of work: counted, sealed and read."""

    def count(self, transfer: Transfer, account: str, side: Side) -> None:
        """Add ``transfer`` to ``account``'s totals of its period on ``side``.

        Nothing is stored for a credit to the usage sink: its credits are read from the
        debits of its senders (see :meth:`read`).  A member's row keeps the transfer in its
        figures too (:func:`figures_update`).
        """
        if side is Side.CREDIT and counted_on_senders(account):
            return
        self._add(
            transfer.organisation_id,
            account,
            transfer.period_index,
            side,
            transfer.kind,
            transfer.amount,
            transfer.created_at,
        )
        if _is_member(account):
            allocated, used = figure_moves(transfer, side)
            self._db.write(
                figures_update(self._t),
                {
                    "o": transfer.organisation_id,
                    "c": account,
                    "p": transfer.period_index,
                    "da": allocated,
                    "du": used,
                    "t": transfer.created_at,
                },
            )

    def _add(
        self,
        organisation_id: str,
        account: str,
        period_index: int,
        side: Side,
        kind: TransferKind,
        amount: int,
        at: datetime,
    ) -> None:
        # Only a kind that reserves can count past MAX_CREDITS (see period_count).
        saturate = not kind.posts
        values = {
            "organisation_id": organisation_id,
            "account": account,
            "period_index": period_index,
            "side": side.value,
            "kind": kind.value,
            "amount": amount,
            "last_activity": at,
        }
        statement = upsert_add(self._db.dialect, self._t.period_totals, values, saturate=saturate)
        self._db.write(statement)

    def seal(self, organisation_id: str, period_index: int) -> None:
        """Move the period's spend counts from the account rows into ``period_totals``, and
        start the rows on the next period."""
        accounts = self._t.accounts
        spent = self._db.rows(
            select(accounts.c.code, accounts.c.spend_total, accounts.c.spend_at).where(
                accounts.c.organisation_id == organisation_id,
                accounts.c.spend_period == period_index,
                accounts.c.spend_total > 0,
            )
        )
        # The usage sink's side of these spends is not stored: it is read from these rows.
        for row in spent:
            m = row._mapping
            self._add(
                organisation_id,
                m["code"],
                period_index,
                Side.DEBIT,
                TransferKind.SPEND,
                m["spend_total"],
                m["spend_at"],
            )
        self._db.write(
            update(accounts)
            .where(
                accounts.c.organisation_id == organisation_id,
                accounts.c.spend_period <= period_index,
            )
            .values(spend_period=period_index + 1, spend_total=0)
        )

    def _members_spend(
        self, organisation_id: str, period_index: int
    ) -> tuple[int, datetime | None]:
        """What the organisation's members spent in the period, still on their rows, and when
        they last did."""
        accounts = self._t.accounts
        total = ExactSum.of(self._db.dialect, accounts.c.spend_total, "total")
        row = self._db.one(
            select(*total.columns, func.max(accounts.c.spend_at).label("at")).where(
                accounts.c.organisation_id == organisation_id,
                accounts.c.spend_period == period_index,
            )
        )
        if row is None:
            return 0, None
        return total.value(row._mapping), row._mapping["at"]

    def _sent_to_usage(
        self, organisation_id: str, period_index: int
    ) -> tuple[dict[TransferKind, int], datetime | None]:
        """What the spent kinds debited every account in the period (what they credited the
        usage sink), by kind, from the stored counts, and when that last happened."""
        t = self._t.period_totals
        amount = ExactSum.of(self._db.dialect, t.c.amount, "amount")
        query = (
            select(t.c.kind, *amount.columns, func.max(t.c.last_activity).label("at"))
            .where(
                t.c.organisation_id == organisation_id,
                t.c.period_index == period_index,
                t.c.side == Side.DEBIT.value,
                t.c.kind.in_(_SPENT),
            )
            .group_by(t.c.kind)
        )
        sent: dict[TransferKind, int] = {}
        last: datetime | None = None
        for row in self._db.rows(query):
            m = row._mapping
            sent[TransferKind(m["kind"])] = amount.value(m)
            if m["at"] is not None and (last is None or m["at"] > last):
                last = m["at"]
        return sent, last

    def read(self, organisation_id: str, account: str, period_index: int) -> PeriodTotals:
        """Return what each kind credited and debited ``account`` in the period."""
        t = self._t.period_totals
        query = select(t.c.side, t.c.kind, t.c.amount, t.c.last_activity).where(
            t.c.organisation_id == organisation_id,
            t.c.account == account,
            t.c.period_index == period_index,
        )
        sums_credits = counted_on_senders(account)
        credits: dict[TransferKind, int] = {}
        debits: dict[TransferKind, int] = {}
        last: datetime | None = None
        for row in self._db.rows(query):
            m = row._mapping
            side, kind, amount, at = m["side"], m["kind"], m["amount"], m["last_activity"]
            if side == Side.CREDIT.value and sums_credits:
                continue  # (counted before its credits were read from its senders)
            (credits if side == Side.CREDIT.value else debits)[TransferKind(kind)] = int(amount)
            if at is not None and (last is None or at > last):
                last = at
        # This period's spends are still on the account rows.
        if sums_credits:
            credits, at = self._sent_to_usage(organisation_id, period_index)
            if at is not None and (last is None or at > last):
                last = at
            side_totals = credits
            amount, at = self._members_spend(organisation_id, period_index)
        else:
            accounts = self._t.accounts
            live = self._db.one(
                select(accounts.c.spend_total, accounts.c.spend_at).where(
                    accounts.c.organisation_id == organisation_id,
                    accounts.c.code == account,
                    accounts.c.spend_period == period_index,
                )
            )
            side_totals = debits
            amount = 0 if live is None else int(live._mapping["spend_total"])
            at = None if live is None else live._mapping["spend_at"]
        if amount:
            side_totals[TransferKind.SPEND] = side_totals.get(TransferKind.SPEND, 0) + int(amount)
            if at is not None and (last is None or at > last):
                last = at
        return PeriodTotals(credits, debits, last)
