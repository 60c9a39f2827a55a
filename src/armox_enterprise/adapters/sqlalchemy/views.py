"""Read models the SQLAlchemy store computes in the database: the dashboard's member table.

One page of members costs two statements whatever the size of the organisation's history: the
page (sorted and cut in the database) and a count of the active members.  The figures are the
ones :func:`armox_enterprise.views.build_profile` shows each member.  For the current period
they come from each member's account row alone, which keeps the period's figures as transfers
are posted (:mod:`~armox_enterprise.adapters.sqlalchemy.period_totals`), so sorting by a
figure joins one row per member and sums nothing; for an earlier period, a row that has moved
on is summed from its period totals, as the profile view sums them.

Every figure here is bounded by construction, so no sum overflows a ``BIGINT``: a member's
allocated kinds add up to at most its ``credits_posted``, its spent kinds to at most its
``debits_posted``, and its refunds to at most its ``credits_posted`` (each within
``MAX_CREDITS``, see :mod:`armox_enterprise.domain.ledger`), so every partial sum, kept on the
row or summed, stays within ``-MAX_CREDITS..MAX_CREDITS``.  The usage sink, whose credits may
pass ``MAX_CREDITS``, is not a member.  The offset is the caller's to bound
(:class:`armox_enterprise.views.Page` asks for at most ``2**62``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    LargeBinary,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
)

from armox_enterprise.adapters.sqlalchemy.connection import BoundConnection
from armox_enterprise.adapters.sqlalchemy.records import membership_from_row
from armox_enterprise.adapters.sqlalchemy.tables import UtcDateTime
from armox_enterprise.domain.ledger import (
    ALLOCATED_KINDS,
    REFUND_KINDS,
    SPENT_KINDS,
    Side,
    member_account,
)
from armox_enterprise.domain.organisation import MemberStatus
from armox_enterprise.ports import MemberFigures, MemberSort

__all__ = ["SqlViews"]

# The domain's kind sets as stored, in a fixed order (a set's order changes between processes).
_ALLOCATED = sorted(kind.value for kind in ALLOCATED_KINDS)
_SPENT = sorted(kind.value for kind in SPENT_KINDS)
_REFUND = sorted(kind.value for kind in REFUND_KINDS)
_MEMBER_PREFIX = member_account("")


def by_code_point(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """``column`` as compared by code point (UTF-8 bytes), whatever the column's collation.

    Python compares strings that way, so the memory store and every database order text alike
    (PostgreSQL's default collation follows the locale; MariaDB's ignores case).
    """
    if dialect == "postgresql":
        return column.collate("C")
    if dialect in ("mysql", "mariadb"):
        return cast(column, LargeBinary)
    return column  # SQLite compares text bytewise unless told otherwise


def _later(dialect: str, first: ColumnElement[Any], second: ColumnElement[Any]) -> Any:
    """The later of two instants, either of which may be NULL.

    PostgreSQL's ``GREATEST`` skips NULLs; MariaDB's ``GREATEST`` and SQLite's ``max`` give
    NULL if either is, so each takes the other's place there.
    """
    if dialect == "postgresql":
        return func.greatest(first, second)
    both = (func.coalesce(first, second), func.coalesce(second, first))
    return func.max(*both) if dialect == "sqlite" else func.greatest(*both)


def _at_least_zero(dialect: str, value: ColumnElement[Any]) -> Any:
    """``value``, or 0 when it is below (``value`` is never NULL)."""
    zero = literal(0, BigInteger)
    return func.max(value, zero) if dialect == "sqlite" else func.greatest(value, zero)


def _allocated(pt: FromClause) -> ColumnElement[Any]:
    """Per period_totals row: what it credited the account by the allocated kinds."""
    return case(
        (and_(pt.c.side == Side.CREDIT.value, pt.c.kind.in_(_ALLOCATED)), pt.c.amount), else_=0
    )


def _net_used(pt: FromClause) -> ColumnElement[Any]:
    """Per period_totals row: what it spent (the spent kinds) less what it refunded."""
    return case(
        (and_(pt.c.side == Side.DEBIT.value, pt.c.kind.in_(_SPENT)), pt.c.amount),
        (and_(pt.c.side == Side.CREDIT.value, pt.c.kind.in_(_REFUND)), -pt.c.amount),
        else_=0,
    )


def _figures(
    db: BoundConnection, organisation_id: str, period_index: int, a: FromClause, code: Any
) -> dict[str, ColumnElement[Any]]:
    """A member's figures in the period, from its account row ``a`` (``NULL`` columns when the
    member has none) and, only when the row has moved past the period, its period totals.

    The row keeps what every transfer but the member's spends did in ``figures_period``
    (``figures_*``) and the spends of ``spend_period`` (``spend_*``).  While neither is past
    the period, period_totals holds nothing of the period that the row does not keep (counting
    a transfer of a period moves ``figures_period`` to it; sealing a period, the only other
    writer, moves ``spend_period`` past it), so the row alone has the figures: always so for
    the current period.  A row past the period (an earlier period asked for) is summed from
    period_totals, as the profile view sums them; the database evaluates those sums for such
    rows only.
    """
    pt = db.tables.period_totals
    dialect = db.dialect

    def summed(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return (
            select(column)
            .where(
                pt.c.organisation_id == organisation_id,
                pt.c.account == code,
                pt.c.period_index == period_index,
            )
            .scalar_subquery()
        )

    f, p = a.c.figures_period, period_index
    kept = f == p
    # A current period's usual row: it keeps the period, and its spends are the period's.  The
    # sort key reads it in the first branch, with the fewest steps per row.
    usual = and_(kept, a.c.spend_period == p)
    on_the_row = or_(
        f.is_(None),  # no account row: nothing in period_totals either
        and_(f <= p, a.c.spend_period <= p),
    )

    def summed_total(per_row: ColumnElement[Any]) -> Any:
        # Each sum is a member's, within -MAX_CREDITS..MAX_CREDITS (see the module's
        # docstring): summed as a BIGINT, so every branch sorts alike (PostgreSQL's sum of
        # BIGINTs is a NUMERIC).
        return func.coalesce(cast(summed(func.sum(per_row)), BigInteger), 0)

    spends = case((a.c.spend_period == p, a.c.spend_total), else_=0)
    net = case(
        (usual, a.c.figures_used + a.c.spend_total),
        (on_the_row, case((kept, a.c.figures_used), else_=0) + spends),
        else_=summed_total(_net_used(pt)) + spends,
    )
    spent_at = case((and_(a.c.spend_period == p, a.c.spend_total > 0), a.c.spend_at), else_=null())
    return {
        # The allocated kinds are never a spend: the row keeps all of them when it keeps the
        # period, whatever became of its spends.
        "allocated": case(
            (kept, a.c.figures_allocated),
            (or_(f.is_(None), f < p), 0),
            else_=summed_total(_allocated(pt)),
        ),
        # Refunds count in the period they are made: one of an earlier period's spend must
        # not show this period's use below zero.
        "used": _at_least_zero(dialect, net),
        "remaining": func.coalesce(a.c.credits_posted - a.c.debits_posted - a.c.debits_pending, 0),
        "on_hold": func.coalesce(a.c.debits_pending, 0),
        "last_activity": type_coerce(
            case(
                # The period's spends are the row's: the later of their time and the figures'.
                (
                    usual,
                    case(
                        (
                            and_(
                                a.c.spend_total > 0,
                                or_(a.c.figures_at.is_(None), a.c.spend_at > a.c.figures_at),
                            ),
                            a.c.spend_at,
                        ),
                        else_=a.c.figures_at,
                    ),
                ),
                (on_the_row, _later(dialect, case((kept, a.c.figures_at), else_=null()), spent_at)),
                else_=_later(dialect, summed(func.max(pt.c.last_activity)), spent_at),
            ),
            UtcDateTime,
        ),
    }


class SqlViews:
    """The :class:`~armox_enterprise.ports.ViewRepository` of the SQLAlchemy store."""

    def __init__(self, db: BoundConnection) -> None:
        self._db = db

    def member_page(
        self,
        organisation_id: str,
        period_index: int,
        *,
        sort: MemberSort,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[MemberFigures], int]:
        """Return one page of active members with their figures, and how many there are.

        Two statements: a count of the active members, then the page, in which an inner query
        picks the page, joining only what the sort key needs (nothing for names, each member's
        account row for the figures), and the outer query adds the page's own figures from
        their account rows.  No page is asked for past the last member.

        On SQLite, whose sort keeps the first ``offset + limit`` rows it meets, a page nearer
        the end than the start is picked in the other direction from the other end (the order
        is total, ties going by user id, so that is the same page), and each sort key is
        computed once per member, ordered by its label.  The count and the page are read in
        one ``BEGIN IMMEDIATE`` transaction there, so they agree.
        """
        t = self._db.tables
        m = t.memberships
        dialect = self._db.dialect
        active = and_(
            m.c.organisation_id == organisation_id, m.c.status == MemberStatus.ACTIVE.value
        )
        counted = self._db.one(select(func.count()).select_from(m).where(active))
        total = 0 if counted is None else int(counted[0])
        if offset >= total or limit <= 0:
            return [], total
        code = literal(_MEMBER_PREFIX, String) + m.c.user_id

        # -- the page: user ids and sort keys, sorted and cut in the database
        source: Any = m
        keys: list[tuple[ColumnElement[Any], bool]]  # (key, compared as text)
        if sort == "name":
            keys = [(m.c.name_key, True)]
        else:
            held = t.accounts.alias("sort_account")
            source = source.outerjoin(
                held, and_(held.c.organisation_id == organisation_id, held.c.code == code)
            )
            keys = [(_figures(self._db, organisation_id, period_index, held, code)[sort], False)]
        labelled = [key.label(f"k{i}") for i, (key, _) in enumerate(keys)]
        chosen = select(m.c.user_id, *labelled).select_from(source).where(active)

        def ordering(
            columns: list[ColumnElement[Any]], user_id: ColumnElement[Any], down: bool
        ) -> list[Any]:
            terms: list[Any] = []
            for column, (_, text) in zip(columns, keys, strict=True):
                term = by_code_point(column, dialect) if text else column
                term = term.desc() if down else term.asc()
                if sort == "last_activity" and dialect == "postgresql":
                    # Members without activity first ascending, last descending: where the
                    # other databases put NULL by themselves.
                    term = term.nulls_last() if down else term.nulls_first()
                terms.append(term)
            user = by_code_point(user_id, dialect)
            terms.append(user.desc() if down else user.asc())
            return terms

        inner_descending, inner_offset, inner_limit = descending, offset, limit
        if dialect == "sqlite":
            # SQLite's ORDER BY would compute the key's expression again: each of its bound
            # parameters is one of its own, so SQLite does not find it among the columns.
            key_columns: list[ColumnElement[Any]] = list(labelled)
            from_end = total - offset - limit  # members after the page
            if from_end < offset:
                inner_descending = not descending
                inner_offset, inner_limit = max(0, from_end), min(limit, total - offset)
        else:
            key_columns = [key for key, _ in keys]
        page = (
            chosen.order_by(*ordering(key_columns, m.c.user_id, inner_descending))
            .offset(inner_offset)
            .limit(inner_limit)
            .subquery("page")
        )

        # -- the page's members with their figures, computed as the sort key was
        a = t.accounts
        shown = _figures(self._db, organisation_id, period_index, a, code)
        query = (
            select(m, *(expression.label(f"fig_{name}") for name, expression in shown.items()))
            .select_from(
                page.join(
                    m, and_(m.c.organisation_id == organisation_id, m.c.user_id == page.c.user_id)
                ).outerjoin(a, and_(a.c.organisation_id == organisation_id, a.c.code == code))
            )
            .order_by(
                *ordering([page.c[f"k{i}"] for i in range(len(keys))], page.c.user_id, descending)
            )
        )
        found = []
        for row in self._db.rows(query):
            f = row._mapping
            found.append(
                MemberFigures(
                    membership=membership_from_row(row),
                    allocated=int(f["fig_allocated"]),
                    used=int(f["fig_used"]),
                    remaining=int(f["fig_remaining"]),
                    on_hold=int(f["fig_on_hold"]),
                    last_activity=f["fig_last_activity"],
                )
            )
        return found, total
