"""Read models the SQLAlchemy store computes in the database: the dashboard's member table.

One page of members costs two statements whatever the size of the organisation's history: the
page (sorted and cut in the database, its members' figures summed there from their account
rows and this period's totals) and a count of the active members.  The figures are the ones
:func:`armox_enterprise.views.build_profile` shows each member.

Every figure here is bounded by construction, so no sum overflows a ``BIGINT``: a member's
allocated kinds add up to at most its ``credits_posted``, its spent kinds to at most its
``debits_posted``, and its refunds to at most its ``credits_posted`` (each within
``MAX_CREDITS``, see :mod:`armox_enterprise.domain.ledger`), so every partial sum stays within
``-MAX_CREDITS..MAX_CREDITS``.  The usage sink, whose credits may pass ``MAX_CREDITS``, is not
a member.  The offset is the caller's to bound (:class:`armox_enterprise.views.Page` asks for at
most ``2**62``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    LargeBinary,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    null,
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


def _later(first: ColumnElement[Any], second: ColumnElement[Any]) -> ColumnElement[Any]:
    """The later of two instants, either of which may be NULL (GREATEST differs by backend)."""
    return case(
        (first.is_(None), second),
        (second.is_(None), first),
        (first > second, first),
        else_=second,
    )


def _allocated(pt: Table) -> ColumnElement[Any]:
    """Per period_totals row: what it credited the account by the allocated kinds."""
    return case(
        (and_(pt.c.side == Side.CREDIT.value, pt.c.kind.in_(_ALLOCATED)), pt.c.amount), else_=0
    )


def _net_used(pt: Table) -> ColumnElement[Any]:
    """Per period_totals row: what it spent (the spent kinds) less what it refunded."""
    return case(
        (and_(pt.c.side == Side.DEBIT.value, pt.c.kind.in_(_SPENT)), pt.c.amount),
        (and_(pt.c.side == Side.CREDIT.value, pt.c.kind.in_(_REFUND)), -pt.c.amount),
        else_=0,
    )


def _figures(
    allocated: ColumnElement[Any],
    net_used: ColumnElement[Any],
    last_activity: ColumnElement[Any],
    a: FromClause,
    period_index: int,
) -> dict[str, ColumnElement[Any]]:
    """A member's figures from this period's sums in period_totals and the account row ``a``.

    The period's spends still on the account row (they are settled into period_totals when
    the period closes) count when the row counts this period.
    """
    live = and_(a.c.spend_period == period_index, a.c.spend_total > 0)
    net = func.coalesce(net_used, 0) + case((live, a.c.spend_total), else_=0)
    return {
        "allocated": func.coalesce(allocated, 0),
        # Refunds count in the period they are made: one of an earlier period's spend must
        # not show this period's use below zero.
        "used": case((net > 0, net), else_=0),
        "remaining": func.coalesce(a.c.credits_posted - a.c.debits_posted - a.c.debits_pending, 0),
        "on_hold": func.coalesce(a.c.debits_pending, 0),
        "last_activity": type_coerce(
            _later(last_activity, case((live, a.c.spend_at), else_=null())), UtcDateTime
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

        One statement: an inner query picks the page, joining only what the sort key needs
        (nothing for names, the account rows for remaining credits, and this period's totals
        grouped by account for the other figures); the outer query adds the page's own
        figures from their account rows and period totals.  A second statement counts.
        """
        t = self._db.tables
        m, pt = t.memberships, t.period_totals
        dialect = self._db.dialect
        active = and_(
            m.c.organisation_id == organisation_id, m.c.status == MemberStatus.ACTIVE.value
        )

        # -- the page: user ids and sort keys, sorted and cut in the database
        code = literal(_MEMBER_PREFIX, String) + m.c.user_id
        source: Any = m
        keys: list[tuple[ColumnElement[Any], bool]]  # (key, compared as text)
        if sort == "name":
            keys = [(m.c.name_key, True)]
        else:
            held = t.accounts.alias("sort_account")
            source = source.outerjoin(
                held, and_(held.c.organisation_id == organisation_id, held.c.code == code)
            )
            if sort == "remaining":
                figures = _figures(null(), null(), null(), held, period_index)
            else:
                # This period's rows of every account, through the index on organisation,
                # period and account, summed per account.
                totals = (
                    select(
                        pt.c.account,
                        func.sum(_allocated(pt)).label("allocated"),
                        func.sum(_net_used(pt)).label("net_used"),
                        func.max(pt.c.last_activity).label("last_activity"),
                    )
                    .where(
                        pt.c.organisation_id == organisation_id, pt.c.period_index == period_index
                    )
                    .group_by(pt.c.account)
                    .subquery("totals")
                )
                source = source.outerjoin(totals, totals.c.account == code)
                figures = _figures(
                    totals.c.allocated,
                    totals.c.net_used,
                    totals.c.last_activity,
                    held,
                    period_index,
                )
            if sort == "last_activity":
                last = figures["last_activity"]
                # Members without activity first ascending, last descending.
                keys = [(case((last.is_(None), 0), else_=1), False), (last, False)]
            else:
                keys = [(figures[sort], False)]
        chosen = (
            select(m.c.user_id, *(key.label(f"k{i}") for i, (key, _) in enumerate(keys)))
            .select_from(source)
            .where(active)
        )

        def ordering(columns: list[ColumnElement[Any]], user_id: ColumnElement[Any]) -> list[Any]:
            terms = [
                by_code_point(c, dialect) if text else c
                for c, (_, text) in zip(columns, keys, strict=True)
            ]
            terms.append(by_code_point(user_id, dialect))
            return [term.desc() if descending else term.asc() for term in terms]

        key_columns = [key for key, _ in keys]
        page = (
            chosen.order_by(*ordering(key_columns, m.c.user_id))
            .offset(offset)
            .limit(limit)
            .subquery("page")
        )

        # -- the page's members with their figures (correlated to each of the page's rows)
        a = t.accounts

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

        shown = _figures(
            summed(func.sum(_allocated(pt))),
            summed(func.sum(_net_used(pt))),
            summed(func.max(pt.c.last_activity)),
            a,
            period_index,
        )
        query = (
            select(m, *(expression.label(f"fig_{name}") for name, expression in shown.items()))
            .select_from(
                page.join(
                    m, and_(m.c.organisation_id == organisation_id, m.c.user_id == page.c.user_id)
                ).outerjoin(a, and_(a.c.organisation_id == organisation_id, a.c.code == code))
            )
            .order_by(*ordering([page.c[f"k{i}"] for i in range(len(keys))], page.c.user_id))
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
        count = self._db.one(select(func.count()).select_from(m).where(active))
        return found, 0 if count is None else int(count[0])
