"""The domain re-check job's state on each domain claim.

Revision ID: ae0006
Revises: ae0005
Create Date: 2026-12-01

- ``domain_claims.last_checked_at``: the claim's last passing check (its verification, or the
  re-check job's latest pass);
- ``domain_claims.failing_since`` and ``lapses_at``: the grace window a failing re-check
  opened, while it is open (and, once the claim lapsed, the window it lapsed from);
- ``domain_claims.lapsed_at``: when the window passed with no passing check; a lapsed claim
  enrols nobody until it is verified again.

All four are nullable.  The upgrade sets ``last_checked_at`` to ``verified_at`` on verified
claims (their one passing check so far); the downgrade drops the columns, which makes a
lapsed claim verified again: lapse the domain by removing it before downgrading if that
matters.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for
from armox_enterprise.adapters.sqlalchemy.tables import UtcDateTime

revision = "ae0006"
down_revision = "ae0005"
branch_labels = None
depends_on = None

_COLUMNS = ("last_checked_at", "failing_since", "lapses_at", "lapsed_at")


def upgrade() -> None:
    """Add the re-check columns to the domain claims; verified claims were checked once."""
    P, S, _ = names_for(op.get_context())
    table = P + "domain_claims"
    for name in _COLUMNS:
        op.add_column(table, sa.Column(name, UtcDateTime(), nullable=True), schema=S)
    claims = sa.table(table, sa.column("verified_at"), sa.column("last_checked_at"), schema=S)
    op.execute(
        sa.update(claims)
        .where(claims.c.verified_at.is_not(None))
        .values(last_checked_at=claims.c.verified_at)
    )


def downgrade() -> None:
    """Drop the re-check columns."""
    P, S, _ = names_for(op.get_context())
    for name in reversed(_COLUMNS):
        op.drop_column(P + "domain_claims", name, schema=S)
