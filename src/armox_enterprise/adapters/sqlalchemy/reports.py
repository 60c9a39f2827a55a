"""Usage analytics on SQL: the database sums, Python only folds the groups it returns.

Usage is grouped by transfer kind and one key (a member's account, a tag, or the UTC date
bucket of ``created_at``), so the database returns one row per kind and key, never one per
transfer.  Dates are bucketed in SQL for each backend: ``date_trunc`` to a ``date`` on
PostgreSQL (cheaper per row than formatting; the few keys are formatted in Python),
``DATE_FORMAT`` on MySQL/MariaDB and ``strftime`` on SQLite (whose ISO week is computed from
the Thursday of the week, as ISO 8601 defines it).  Instants are stored as naive UTC, so the
buckets are UTC days, weeks and months whatever the session's time zone.

The transfers index on ``(organisation_id, period_index, kind, created_at, amount)`` covers the
date groupings, so PostgreSQL answers them from the index alone.

A group's sum may pass ``MAX_CREDITS`` (spends refunded and spent again, over several periods):
it is summed exactly (:class:`~armox_enterprise.adapters.sqlalchemy.sums.ExactSum`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    LargeBinary,
    String,
    and_,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy import exc as sa_exc

from armox_enterprise.adapters.sqlalchemy.connection import BoundConnection
from armox_enterprise.adapters.sqlalchemy.errors import translate
from armox_enterprise.adapters.sqlalchemy.records import transfer_from_row
from armox_enterprise.adapters.sqlalchemy.sums import ExactSum
from armox_enterprise.domain.ledger import (
    REFUND_KINDS,
    SPENT_KINDS,
    Transfer,
    TransferKind,
    member_account,
    member_of,
)
from armox_enterprise.domain.usage import USAGE_GROUPINGS, UsageGrouping, date_bucket
from armox_enterprise.exceptions import InvalidInput, StorageError
from armox_enterprise.ports import UsageRow

__all__ = ["SqlReports"]

# The domain's kind sets as stored, in a fixed order (a set's order changes between processes).
_SPENT = sorted(kind.value for kind in SPENT_KINDS)
_REFUND = sorted(kind.value for kind in REFUND_KINDS)
#: Rows fetched per round trip while streaming transfers.
STREAM_BATCH = 2_000

_MYSQL_FORMATS = {"day": "%Y-%m-%d", "week": "%x-W%v", "month": "%Y-%m"}


def _sql_text(value: str) -> ColumnElement[str]:
    """A constant string written into the SQL (not a bound parameter), so that the same
    expression in SELECT and GROUP BY is the same text to the database."""
    return literal_column("'" + value.replace("'", "''") + "'", String)


def _sql_int(value: int) -> ColumnElement[int]:
    return literal_column(str(int(value)), Integer)


def _date_bucket(dialect: str, column: Any, by: UsageGrouping) -> ColumnElement[Any]:
    """The bucket :func:`~armox_enterprise.domain.usage.date_bucket` gives a naive UTC
    timestamp column (UTC day, ISO week or month), computed by the database: as that string,
    or (PostgreSQL) as the ``date`` the bucket starts on, which :func:`_key` formats."""
    if dialect == "postgresql":
        if by == "day":
            return cast(column, Date)
        return cast(func.date_trunc(_sql_text(by), column), Date)
    if dialect in ("mysql", "mariadb"):
        return func.date_format(column, _sql_text(_MYSQL_FORMATS[by]))
    if dialect == "sqlite":
        # SQLite keeps the timestamp as text, "YYYY-MM-DD HH:MM:SS.ffffff": the date is its
        # first ten characters.  (Its date functions would round 23:59:59.9999995 up to the
        # next day, so they only ever see the date.)
        if by == "day":
            return func.substr(column, _sql_int(1), _sql_int(10))
        if by == "month":
            return func.substr(column, _sql_int(1), _sql_int(7))
        # The ISO week of a day is the week of its week's Thursday: the Thursday's year is the
        # ISO year, and its day of the year gives the week number.
        day = func.substr(column, _sql_int(1), _sql_int(10))
        thursday = func.date(day, _sql_text("-3 days"), _sql_text("weekday 4"))
        day_of_year = cast(func.strftime(_sql_text("%j"), thursday), Integer)
        week = (day_of_year + _sql_int(6)) // _sql_int(7)
        return func.printf(_sql_text("%s-W%02d"), func.strftime(_sql_text("%Y"), thursday), week)
    raise StorageError(f"the {dialect} dialect is not supported (PostgreSQL, MySQL, SQLite are)")


def _exact(dialect: str, column: Any) -> ColumnElement[Any]:
    """``column`` compared byte for byte: MySQL's usual collations would group ``GPT`` and
    ``gpt`` together."""
    if dialect in ("mysql", "mariadb"):
        return cast(column, LargeBinary)
    return column  # type: ignore[no-any-return]


def _key(value: object, by: UsageGrouping) -> str:
    """A group's key as the report gives it, from what the database returned."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8")
    if isinstance(value, date):
        # The first day of the bucket: its bucket is the domain's to name.
        start = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
        return date_bucket(by, start)
    return str(value)


class SqlReports:
    """The report queries of one unit of work: a
    :class:`~armox_enterprise.ports.ReportRepository`."""

    def __init__(self, db: BoundConnection) -> None:
        self._db = db
        self._t = db.tables

    def usage(
        self,
        organisation_id: str,
        *,
        first_period: int,
        last_period: int,
        by: UsageGrouping,
        user_id: str | None = None,
    ) -> list[UsageRow]:
        """Return usage in the periods grouped ``by`` one key, ordered by key."""
        if by not in USAGE_GROUPINGS:
            raise InvalidInput(f"unknown usage grouping {by!r}")
        t = self._t.transfers
        dialect = self._db.dialect
        conditions: list[ColumnElement[bool]] = [
            t.c.organisation_id == organisation_id,
            t.c.period_index >= first_period,
            t.c.period_index <= last_period,
            t.c.kind.in_([*_SPENT, *_REFUND]),
        ]
        if user_id is not None:
            code = member_account(user_id)
            conditions.append(
                or_(
                    and_(t.c.kind.in_(_SPENT), t.c.debit_account == code),
                    and_(t.c.kind.in_(_REFUND), t.c.credit_account == code),
                )
            )
        keys: list[ColumnElement[Any]]
        if by == "member":
            # A spend's member is its debit account, a refund's its credit account.
            keys = [t.c.debit_account, t.c.credit_account]
        elif by in ("feature", "model"):
            keys = [_exact(dialect, t.c[by])]
        else:
            keys = [_date_bucket(dialect, t.c.created_at, by)]
        summed = ExactSum.of(dialect, t.c.amount, "amount")
        query = (
            select(
                t.c.kind,
                *(key.label(f"key_{i}") for i, key in enumerate(keys)),
                *summed.columns,
                func.count().label("count"),
            )
            .where(*conditions)
            .group_by(t.c.kind, *keys)
        )
        sums: dict[str, tuple[int, int, int]] = {}
        for row in self._db.rows(query):
            m = row._mapping
            amount, count = summed.value(m), int(m["count"])
            refund = TransferKind(m["kind"]) in REFUND_KINDS
            if by == "member":
                code = m["key_1"] if refund else m["key_0"]
                key = member_of(code) or code
            else:
                key = _key(m["key_0"], by)
            spent, refunded, transfers = sums.get(key, (0, 0, 0))
            if refund:
                refunded += amount
            else:
                spent += amount
                transfers += count
            sums[key] = (spent, refunded, transfers)
        # Sorted here, by code point, so every backend orders keys alike whatever its collation.
        return [UsageRow(key, *sums[key]) for key in sorted(sums)]

    def stream_transfers(
        self, organisation_id: str, *, first_period: int, last_period: int
    ) -> Iterator[Transfer]:
        """Yield the periods' transfers oldest first, through a server-side cursor where the
        driver has one, ``STREAM_BATCH`` rows at a time."""
        t = self._t.transfers
        query = (
            select(t)
            .where(
                t.c.organisation_id == organisation_id,
                t.c.period_index >= first_period,
                t.c.period_index <= last_period,
            )
            .order_by(t.c.created_at, t.c.id)
            .execution_options(stream_results=True, yield_per=STREAM_BATCH)
        )
        try:
            result = self._db.connection.execute(query)
            try:
                for row in result:
                    yield transfer_from_row(row)
            finally:
                result.close()
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, "read the ledger's transfers") from exc
