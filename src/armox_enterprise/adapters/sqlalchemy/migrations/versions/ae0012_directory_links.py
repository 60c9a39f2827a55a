"""The company directory's links to memberships: its own id of each user, and deletions.

Revision ID: ae0012
Revises: ae0011
Create Date: 2026-12-02

- ``directory_links``: keyed ``(organisation_id, user_id)`` and naming its membership by
  foreign key, with ``external_id`` (the directory's own id of the user, SCIM ``externalId``;
  ``uq_…_organisation_id_external_id`` holds one user per id in an organisation, ``NULL``
  for none) and ``deleted_at`` (when the directory deleted the user; ``NULL``: not deleted).

Nothing is filled: no membership has a link yet, so every user keeps answering the directory
as before.  The downgrade drops the table: the external ids are lost, and a user the directory
deleted is, to an earlier version, the removed member their membership still says they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for
from armox_enterprise.adapters.sqlalchemy.tables import UtcDateTime

revision = "ae0012"
down_revision = "ae0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``directory_links``."""
    P, S, R = names_for(op.get_context())
    op.create_table(
        P + "directory_links",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("deleted_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "directory_links_organisation_id"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "user_id"],
            [R + "memberships.organisation_id", R + "memberships.user_id"],
            name=op.f("fk_" + P + "directory_links_organisation_id_user_id"),
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id", "user_id", name=op.f("pk_" + P + "directory_links")
        ),
        sa.UniqueConstraint(
            "organisation_id",
            "external_id",
            name=op.f("uq_" + P + "directory_links_organisation_id_external_id"),
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )


def downgrade() -> None:
    """Drop ``directory_links``."""
    P, S, _ = names_for(op.get_context())
    op.drop_table(P + "directory_links", schema=S)
