"""Monthly spending caps: the organisation's default, a member's own, and the effective cap
kept on the member's account row.

Revision ID: ae0008
Revises: ae0007
Create Date: 2026-12-01

- ``organisations.spend_cap``: the default monthly cap on each member's spending (``NULL``:
  no cap).
- ``memberships.spend_cap``: the member's own cap, overriding the default (``NULL``: the
  default applies).
- ``accounts.spend_cap``: the member's effective cap, which the spend's and the hold's
  conditional ``UPDATE`` of the row compares with the period's spending (``NULL``: no cap).

Every column is nullable and starts ``NULL``: no organisation had a cap before, so nothing is
filled.  The downgrade drops the three columns (and with them every cap that was set).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for

revision = "ae0008"
down_revision = "ae0007"
branch_labels = None
depends_on = None

_TABLES = ("organisations", "memberships", "accounts")


def upgrade() -> None:
    """Add the cap columns."""
    P, S, _ = names_for(op.get_context())
    for table in _TABLES:
        op.add_column(P + table, sa.Column("spend_cap", sa.BigInteger(), nullable=True), schema=S)


def downgrade() -> None:
    """Drop the cap columns."""
    P, S, _ = names_for(op.get_context())
    for table in reversed(_TABLES):
        op.drop_column(P + table, "spend_cap", schema=S)
