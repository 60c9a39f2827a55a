"""Each member's figures of the period kept on the member's account row.

Revision ID: ae0004
Revises: ae0003
Create Date: 2026-12-01

- ``accounts.figures_period``, ``figures_allocated``, ``figures_used`` and ``figures_at``:
  what every transfer but the member's spends did to the member's account in
  ``figures_period`` (what the allocated kinds credited, what the spent kinds debited less
  what refunds credited, the latest of them), kept by the transfers that count in
  ``period_totals``; the dashboard sorts its member table by them instead of summing every
  member's period totals.

The upgrade fills the member rows from ``period_totals`` for each organisation's current
period (one ``UPDATE``); other rows keep the defaults (period 0, nothing).  Run it with no
process of an earlier version still posting: a transfer such a process posts afterwards counts
in ``period_totals`` but not in the figures.  The downgrade drops the columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for
from armox_enterprise.adapters.sqlalchemy.tables import UtcDateTime

revision = "ae0004"
down_revision = "ae0003"
branch_labels = None
depends_on = None

_COLUMNS = ("figures_period", "figures_allocated", "figures_used", "figures_at")
# The domain's kind sets as this revision stores them (ALLOCATED_KINDS, SPENT_KINDS,
# REFUND_KINDS of armox_enterprise.domain.ledger), written out: a revision does not change.
_ALLOCATED = ("allocate", "allot", "approve")
_SPENT = ("capture", "spend")
_REFUND = ("refund",)


def backfill(prefix: str, schema: str | None) -> sa.Update:
    """The ``UPDATE`` that sets every member row's kept figures to what ``period_totals``
    holds for its organisation's current period."""
    accounts = sa.table(
        prefix + "accounts",
        *(sa.column(name) for name in ("organisation_id", "code", *_COLUMNS)),
        schema=schema,
    )
    totals = sa.table(
        prefix + "period_totals",
        *(
            sa.column(name)
            for name in (
                "organisation_id",
                "account",
                "period_index",
                "side",
                "kind",
                "amount",
                "last_activity",
            )
        ),
        schema=schema,
    )
    organisations = sa.table(
        prefix + "organisations", sa.column("id"), sa.column("current_period_index"), schema=schema
    )
    current = (
        sa.select(organisations.c.current_period_index)
        .where(organisations.c.id == accounts.c.organisation_id)
        .correlate(accounts)
        .scalar_subquery()
    )

    def of_the_period(column: sa.ColumnElement[object]) -> sa.ScalarSelect[object]:
        return (
            sa.select(column)
            .where(
                totals.c.organisation_id == accounts.c.organisation_id,
                totals.c.account == accounts.c.code,
                totals.c.period_index == current,
            )
            .correlate(accounts)
            .scalar_subquery()
        )

    allocated = sa.case(
        (sa.and_(totals.c.side == "c", totals.c.kind.in_(_ALLOCATED)), totals.c.amount), else_=0
    )
    used = sa.case(
        (sa.and_(totals.c.side == "d", totals.c.kind.in_(_SPENT)), totals.c.amount),
        (sa.and_(totals.c.side == "c", totals.c.kind.in_(_REFUND)), -totals.c.amount),
        else_=0,
    )
    return (
        sa.update(accounts)
        .where(accounts.c.code.like("member:%"))
        .values(
            figures_allocated=sa.func.coalesce(of_the_period(sa.func.sum(allocated)), 0),
            figures_used=sa.func.coalesce(of_the_period(sa.func.sum(used)), 0),
            figures_at=of_the_period(sa.func.max(totals.c.last_activity)),
            figures_period=current,
        )
    )


def upgrade() -> None:
    """Add the member figures to the account rows and fill them."""
    P, S, _ = names_for(op.get_context())
    table = P + "accounts"
    zero = sa.text("0")
    op.add_column(
        table,
        sa.Column("figures_period", sa.Integer(), nullable=False, server_default=zero),
        schema=S,
    )
    for name in ("figures_allocated", "figures_used"):
        op.add_column(
            table, sa.Column(name, sa.BigInteger(), nullable=False, server_default=zero), schema=S
        )
    op.add_column(table, sa.Column("figures_at", UtcDateTime(), nullable=True), schema=S)
    op.execute(backfill(P, S))


def downgrade() -> None:
    """Drop the member figures."""
    P, S, _ = names_for(op.get_context())
    for name in reversed(_COLUMNS):
        op.drop_column(P + "accounts", name, schema=S)
