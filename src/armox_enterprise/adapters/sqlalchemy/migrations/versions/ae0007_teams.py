"""Teams with budgets: the teams, and each member's one assignment to a team.

Revision ID: ae0007
Revises: ae0006
Create Date: 2026-12-01

- ``teams``: an organisation's teams, keyed ``(organisation_id, id)``, one per case-folded
  name (``uq_…_organisation_id_name_key``).  A team's budget is the account ``team:<id>``
  (a guarded row of ``accounts``, as the pool and members are: the same conditional
  ``UPDATE`` and ``CHECK`` refuse an overdraft).
- ``team_members``: a member's assignment, keyed ``(organisation_id, user_id)`` (a member
  belongs to at most one team), naming its team and membership by foreign key, with
  ``manager``: the team's delegated permission held by that member.

Nothing is filled: organisations start with no teams.  The downgrade drops both tables (a
team's account rows and transfers stay in the ledger; an earlier version does not read them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for
from armox_enterprise.adapters.sqlalchemy.tables import UtcDateTime

revision = "ae0007"
down_revision = "ae0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``teams`` and ``team_members``."""
    P, S, R = names_for(op.get_context())
    op.create_table(
        P + "teams",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=600), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "teams_organisation_id"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", "id", name=op.f("pk_" + P + "teams")),
        sa.UniqueConstraint(
            "organisation_id", "name_key", name=op.f("uq_" + P + "teams_organisation_id_name_key")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_table(
        P + "team_members",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("team_id", sa.String(length=36), nullable=False),
        sa.Column("manager", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "team_members_organisation_id"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "team_id"],
            [R + "teams.organisation_id", R + "teams.id"],
            name=op.f("fk_" + P + "team_members_organisation_id_team_id"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "user_id"],
            [R + "memberships.organisation_id", R + "memberships.user_id"],
            name=op.f("fk_" + P + "team_members_organisation_id_user_id"),
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id", "user_id", name=op.f("pk_" + P + "team_members")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        op.f("ix_" + P + "team_members_organisation_id_team_id"),
        P + "team_members",
        ["organisation_id", "team_id"],
        unique=False,
        schema=S,
    )


def downgrade() -> None:
    """Drop ``team_members`` and ``teams``."""
    P, S, _ = names_for(op.get_context())
    # Dropping the table drops its index (MariaDB refuses to drop it alone: the foreign key
    # on (organisation_id, team_id) needs it).
    op.drop_table(P + "team_members", schema=S)
    op.drop_table(P + "teams", schema=S)
