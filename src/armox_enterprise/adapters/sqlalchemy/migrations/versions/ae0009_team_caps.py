"""Team caps: a team's own monthly cap on each of its members' spending.

Revision ID: ae0009
Revises: ae0008
Create Date: 2026-12-02

- ``teams.spend_cap``: the team's monthly cap, which applies to its members who have no cap
  of their own, before the organisation's default (``NULL``: the default applies to them).

The column is nullable and starts ``NULL``: no team had a cap before, so nothing is filled,
and every member's effective cap (``accounts.spend_cap``, ``ae0008``) is already right.  The
downgrade first gives each member of a team with a cap the effective cap ``ae0008`` knows
(their own, else the organisation's default; one ``UPDATE``), since an earlier version
would otherwise keep checking the team's cap it no longer stores, then drops the column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for

revision = "ae0009"
down_revision = "ae0008"
branch_labels = None
depends_on = None


# The member account's code as ae0008 stores it (armox_enterprise.domain.ledger.member_account),
# written out: a revision does not change.
_MEMBER = "member:"


def caps_without_teams(prefix: str, schema: str | None) -> sa.Update:
    """The ``UPDATE`` that gives every member of a team with a cap the effective cap of
    ``ae0008``: their own, else their organisation's default."""
    text = sa.String()
    accounts = sa.table(
        prefix + "accounts",
        sa.column("organisation_id", text),
        sa.column("code", text),
        sa.column("spend_cap", sa.BigInteger()),
        schema=schema,
    )
    memberships = sa.table(
        prefix + "memberships",
        sa.column("organisation_id", text),
        sa.column("user_id", text),
        sa.column("spend_cap", sa.BigInteger()),
        schema=schema,
    )
    organisations = sa.table(
        prefix + "organisations",
        sa.column("id", text),
        sa.column("spend_cap", sa.BigInteger()),
        schema=schema,
    )
    teams = sa.table(
        prefix + "teams",
        sa.column("organisation_id", text),
        sa.column("id", text),
        sa.column("spend_cap", sa.BigInteger()),
        schema=schema,
    )
    assigned = sa.table(
        prefix + "team_members",
        sa.column("organisation_id", text),
        sa.column("user_id", text),
        sa.column("team_id", text),
        schema=schema,
    )
    own_or_default = (
        sa.select(sa.func.coalesce(memberships.c.spend_cap, organisations.c.spend_cap))
        .select_from(
            memberships.join(organisations, organisations.c.id == memberships.c.organisation_id)
        )
        .where(
            memberships.c.organisation_id == accounts.c.organisation_id,
            sa.literal(_MEMBER, text) + memberships.c.user_id == accounts.c.code,
        )
        .correlate(accounts)
        .scalar_subquery()
    )
    in_a_capped_team = (
        sa.select(assigned.c.user_id)
        .select_from(
            assigned.join(
                teams,
                sa.and_(
                    teams.c.organisation_id == assigned.c.organisation_id,
                    teams.c.id == assigned.c.team_id,
                ),
            )
        )
        .where(
            teams.c.spend_cap.is_not(None),
            assigned.c.organisation_id == accounts.c.organisation_id,
            sa.literal(_MEMBER, text) + assigned.c.user_id == accounts.c.code,
        )
        .correlate(accounts)
        .exists()
    )
    return sa.update(accounts).where(in_a_capped_team).values(spend_cap=own_or_default)


def upgrade() -> None:
    """Add the team's cap column."""
    P, S, _ = names_for(op.get_context())
    op.add_column(P + "teams", sa.Column("spend_cap", sa.BigInteger(), nullable=True), schema=S)


def downgrade() -> None:
    """Give the members of capped teams the cap ``ae0008`` knows, and drop the column."""
    P, S, _ = names_for(op.get_context())
    op.execute(caps_without_teams(P, S))
    op.drop_column(P + "teams", "spend_cap", schema=S)
