"""Soft limits: the organisation's grace setting and the automatic credit requests.

Revision ID: ae0011
Revises: ae0009
Create Date: 2026-12-02

- ``organisations.soft_limit_credits`` and ``organisations.soft_limit_percent``: the grace a
  member who ran out may still spend in a period, a number of credits or a percentage of
  what they were given (at most one is set; both ``NULL``: no soft limit, as before).
- ``credit_requests.automatic``: the request was filed by the library for a member who ran
  out and spent on grace (``false`` for every request made before).

Grace itself is a transfer kind (``grace``), which needs no column.  The downgrade refuses
while any ``grace`` transfer is stored, since an earlier version cannot read one; otherwise
it drops the three columns (and with them the setting and the mark on requests).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for

revision = "ae0011"
down_revision = "ae0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the soft-limit columns and the automatic mark."""
    P, S, _ = names_for(op.get_context())
    op.add_column(
        P + "organisations",
        sa.Column("soft_limit_credits", sa.BigInteger(), nullable=True),
        schema=S,
    )
    op.add_column(
        P + "organisations", sa.Column("soft_limit_percent", sa.Integer(), nullable=True), schema=S
    )
    op.add_column(
        P + "credit_requests",
        sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=S,
    )


def downgrade() -> None:
    """Drop them, unless grace transfers are stored (an earlier version cannot read them).

    Raises:
        RuntimeError: the ledger holds ``grace`` transfers.
    """
    P, S, _ = names_for(op.get_context())
    transfers = sa.table(P + "transfers", sa.column("kind"), schema=S)
    found = op.get_bind().execute(
        sa.select(sa.func.count()).select_from(transfers).where(transfers.c.kind == "grace")
    )
    if found.scalar_one():
        raise RuntimeError(
            "the ledger holds grace transfers, which revision ae0009 cannot read: "
            "this revision cannot be downgraded"
        )
    op.drop_column(P + "credit_requests", "automatic", schema=S)
    op.drop_column(P + "organisations", "soft_limit_percent", schema=S)
    op.drop_column(P + "organisations", "soft_limit_credits", schema=S)
