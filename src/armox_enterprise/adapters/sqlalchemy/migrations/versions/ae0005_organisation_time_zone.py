"""Each organisation's time zone and alert thresholds.

Revision ID: ae0005
Revises: ae0004
Create Date: 2026-12-01

- ``organisations.time_zone``: the IANA time zone the organisation's periods are counted in;
  every existing organisation gets ``UTC``, which counts them as before, so no
  ``current_period_end`` moves;
- ``organisations.member_alert_thresholds`` and ``pool_alert_thresholds``: the percentages
  at which the alert job raises usage alerts, as comma-separated text (``"80,100"``, ``""``
  for none); existing organisations get the thresholds every organisation used before
  (``80,100`` and ``90``).

The upgrade adds the columns with those server defaults (no row is rewritten); the downgrade
drops them, and organisations in another zone than UTC would then be counted in UTC: run it
only where every organisation is in UTC.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for

revision = "ae0005"
down_revision = "ae0004"
branch_labels = None
depends_on = None

# The column sizes as this revision writes them (TIME_ZONE_LENGTH, and four characters for
# each of MAX_THRESHOLDS percentages), written out: a revision does not change.
_ZONE = 64
_THRESHOLDS = 40
_COLUMNS = (
    ("time_zone", _ZONE, "UTC"),
    ("member_alert_thresholds", _THRESHOLDS, "80,100"),
    ("pool_alert_thresholds", _THRESHOLDS, "90"),
)


def upgrade() -> None:
    """Add the time zone and the alert thresholds to the organisations."""
    P, S, _ = names_for(op.get_context())
    for name, length, default in _COLUMNS:
        op.add_column(
            P + "organisations",
            sa.Column(name, sa.String(length), nullable=False, server_default=default),
            schema=S,
        )


def downgrade() -> None:
    """Drop the time zone and the alert thresholds."""
    P, S, _ = names_for(op.get_context())
    for name, _length, _default in reversed(_COLUMNS):
        op.drop_column(P + "organisations", name, schema=S)
