"""The ledger in the database: one grant per period, append-only transfers, settled rows.

Revision ID: ae0002
Revises: ae0001
Create Date: 2026-12-01

- ``transfers.grant_period``, a generated column (the period of a grant, ``NULL`` for other
  kinds), and the unique index ``uq_<prefix>transfers_grant_period`` on
  ``(organisation_id, grant_period)``: one grant per organisation and period (partial, grants
  only, on PostgreSQL and SQLite);
- the triggers of :mod:`armox_enterprise.adapters.sqlalchemy.triggers`: transfers refuse
  ``UPDATE`` and ``DELETE``; decided credit and join requests and resolved holds refuse
  changes; on SQLite, transfers must name accounts of their own organisation.

Adding the column rewrites the transfers table on PostgreSQL and MariaDB (the column is
stored).  SQLite's ``ALTER TABLE`` can add only a virtual generated column: the values and the
index are the same.  The upgrade fails if an organisation already has two grants in a period.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for
from armox_enterprise.adapters.sqlalchemy.tables import GRANT_PERIOD
from armox_enterprise.adapters.sqlalchemy.triggers import create_statements, ddl, drop_statements

revision = "ae0002"
down_revision = "ae0001"
branch_labels = None
depends_on = None

_GRANTS_ONLY = "kind = 'grant'"


def upgrade() -> None:
    """Add the grant constraint and the triggers."""
    P, S, _ = names_for(op.get_context())
    dialect = op.get_bind().dialect.name
    op.add_column(
        P + "transfers",
        sa.Column(
            "grant_period",
            sa.Integer(),
            sa.Computed(GRANT_PERIOD, persisted=dialect != "sqlite"),
            nullable=True,
        ),
        schema=S,
    )
    op.create_index(
        "uq_" + P + "transfers_grant_period",
        P + "transfers",
        ["organisation_id", "grant_period"],
        unique=True,
        schema=S,
        postgresql_where=sa.text(_GRANTS_ONLY),
        sqlite_where=sa.text(_GRANTS_ONLY),
    )
    for statement in create_statements(dialect, prefix=P, schema=S, revision=revision):
        op.execute(ddl(statement))


def downgrade() -> None:
    """Remove the triggers and the grant constraint."""
    P, S, _ = names_for(op.get_context())
    dialect = op.get_bind().dialect.name
    for statement in drop_statements(dialect, prefix=P, schema=S, revision=revision):
        op.execute(ddl(statement))
    op.drop_index("uq_" + P + "transfers_grant_period", table_name=P + "transfers", schema=S)
    op.drop_column(P + "transfers", "grant_period", schema=S)
