"""Create the tables of armox-enterprise.

Revision ID: ae0001
Revises:
Create Date: 2026-11-26

Table names take the prefix and schema configured for the migration environment (see
:func:`armox_enterprise.adapters.sqlalchemy.migrations.names_for`): ``armox_`` and no schema
by default.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from armox_enterprise.adapters.sqlalchemy.migrations import names_for
from armox_enterprise.adapters.sqlalchemy.tables import UtcDateTime

revision = "ae0001"
down_revision = None
branch_labels = ("armox_enterprise",)
depends_on = None


def _names() -> tuple[str, str | None, str]:
    return names_for(op.get_context())


def upgrade() -> None:
    """Create the tables of armox-enterprise."""
    P, S, R = _names()
    op.create_table(
        P + "organisations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("monthly_allowance", sa.BigInteger(), nullable=False),
        sa.Column("cycle_anchor", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("current_period_index", sa.Integer(), nullable=False),
        sa.Column("current_period_end", UtcDateTime(), nullable=False),
        sa.Column("join_mode", sa.String(length=16), nullable=False),
        sa.Column("seat_limit", sa.BigInteger(), nullable=True),
        sa.Column("pool_carry_over_cap", sa.BigInteger(), nullable=False),
        sa.Column("member_remainder", sa.String(length=16), nullable=False),
        sa.Column("max_open_requests", sa.Integer(), nullable=False),
        sa.Column("allow_pool_spend", sa.Boolean(), nullable=False),
        sa.Column("hold_lifetime_us", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "monthly_allowance >= 0", name=op.f("ck_" + P + "organisations_allowance_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_" + P + "organisations")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        op.f("ix_" + P + "organisations_current_period_end"),
        P + "organisations",
        ["current_period_end"],
        unique=False,
        schema=S,
    )
    op.create_table(
        P + "accounts",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=160), nullable=False),
        sa.Column("guarded", sa.Boolean(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("spend_period", sa.Integer(), nullable=False),
        sa.Column("spend_total", sa.BigInteger(), nullable=False),
        sa.Column("spend_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "NOT guarded OR credits_posted - debits_posted - debits_pending >= 0",
            name=op.f("ck_" + P + "accounts_available_not_negative"),
        ),
        sa.CheckConstraint(
            "debits_pending >= 0", name=op.f("ck_" + P + "accounts_pending_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "accounts_organisation_id"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", "code", name=op.f("pk_" + P + "accounts")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_table(
        P + "credit_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approved_amount", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_" + P + "credit_requests_amount_positive")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "credit_requests_organisation_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_" + P + "credit_requests")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        "ix_" + P + "credit_requests_org_status",
        P + "credit_requests",
        ["organisation_id", "status", "created_at"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_" + P + "credit_requests_user_status",
        P + "credit_requests",
        ["organisation_id", "user_id", "status"],
        unique=False,
        schema=S,
    )
    op.create_table(
        P + "domain_claims",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("verification_token", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.Column("include_subdomains", sa.Boolean(), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "domain_claims_organisation_id"),
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_" + P + "domain_claims")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        op.f("ix_" + P + "domain_claims_organisation_id"),
        P + "domain_claims",
        ["organisation_id"],
        unique=False,
        schema=S,
    )
    op.create_table(
        P + "events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "events_organisation_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_" + P + "events")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        "ix_" + P + "events_org_time",
        P + "events",
        ["organisation_id", "occurred_at", "id"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_" + P + "events_unpublished",
        P + "events",
        ["published_at", "organisation_id", "id"],
        unique=False,
        schema=S,
    )
    op.create_table(
        P + "holds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("reference", sa.String(length=160), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("captured", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("feature", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_" + P + "holds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "holds_organisation_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_" + P + "holds")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        "ix_" + P + "holds_org_status",
        P + "holds",
        ["organisation_id", "status", "expires_at"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_" + P + "holds_user_status",
        P + "holds",
        ["organisation_id", "user_id", "status"],
        unique=False,
        schema=S,
    )
    op.create_table(
        P + "idempotency_keys",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("result_ref", sa.String(length=160), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "idempotency_keys_organisation_id"),
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id", "key", name=op.f("pk_" + P + "idempotency_keys")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_table(
        P + "invitations",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("accepted_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "invitations_organisation_id"),
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id", "email_key", name=op.f("pk_" + P + "invitations")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        op.f("ix_" + P + "invitations_email_key"),
        P + "invitations",
        ["email_key"],
        unique=False,
        schema=S,
    )
    op.create_table(
        P + "join_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "join_requests_organisation_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_" + P + "join_requests")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        "ix_" + P + "join_requests_org_status",
        P + "join_requests",
        ["organisation_id", "status", "created_at"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_" + P + "join_requests_user_status",
        P + "join_requests",
        ["user_id", "status"],
        unique=False,
        schema=S,
    )
    op.create_table(
        P + "memberships",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("active_user_id", sa.String(length=128), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=600), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("joined_at", UtcDateTime(), nullable=False),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.Column("standing_allotment", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "memberships_organisation_id"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", "user_id", name=op.f("pk_" + P + "memberships")),
        sa.UniqueConstraint("active_user_id", name=op.f("uq_" + P + "memberships_active_user_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        "ix_" + P + "memberships_org_status",
        P + "memberships",
        ["organisation_id", "status", "joined_at"],
        unique=False,
        schema=S,
    )
    op.create_table(
        P + "relay_locks",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            [R + "organisations.id"],
            name=op.f("fk_" + P + "relay_locks_organisation_id"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_" + P + "relay_locks")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_table(
        P + "period_totals",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("account", sa.String(length=160), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("last_activity", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id", "account"],
            [R + "accounts.organisation_id", R + "accounts.code"],
            name=op.f("fk_" + P + "period_totals_organisation_id_account"),
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id",
            "account",
            "period_index",
            "side",
            "kind",
            name=op.f("pk_" + P + "period_totals"),
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        "ix_" + P + "period_totals_period",
        P + "period_totals",
        ["organisation_id", "period_index", "account"],
        unique=False,
        schema=S,
    )
    op.create_table(
        P + "transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("debit_account", sa.String(length=160), nullable=False),
        sa.Column("credit_account", sa.String(length=160), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=True),
        sa.Column("reference", sa.String(length=160), nullable=True),
        sa.Column("feature", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_" + P + "transfers_amount_positive")),
        sa.ForeignKeyConstraint(
            ["organisation_id", "credit_account"],
            [R + "accounts.organisation_id", R + "accounts.code"],
            name=op.f("fk_" + P + "transfers_organisation_id_credit_account"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "debit_account"],
            [R + "accounts.organisation_id", R + "accounts.code"],
            name=op.f("fk_" + P + "transfers_organisation_id_debit_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_" + P + "transfers")),
        sa.UniqueConstraint(
            "organisation_id",
            "idempotency_key",
            name=op.f("uq_" + P + "transfers_organisation_id_idempotency_key"),
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        schema=S,
    )
    op.create_index(
        "ix_" + P + "transfers_credit",
        P + "transfers",
        ["organisation_id", "credit_account", "period_index"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_" + P + "transfers_debit",
        P + "transfers",
        ["organisation_id", "debit_account", "period_index"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_" + P + "transfers_org_time",
        P + "transfers",
        ["organisation_id", "created_at", "id"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_" + P + "transfers_period_kind",
        P + "transfers",
        ["organisation_id", "period_index", "kind", "created_at", "amount"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_" + P + "transfers_reference",
        P + "transfers",
        ["organisation_id", "reference"],
        unique=False,
        schema=S,
    )


def downgrade() -> None:
    """Drop the tables of armox-enterprise and everything in them."""
    P, S, _ = _names()
    # Dropping a table drops its indexes (MariaDB refuses to drop one a foreign key uses).
    op.drop_table(P + "transfers", schema=S)
    op.drop_table(P + "period_totals", schema=S)
    op.drop_table(P + "relay_locks", schema=S)
    op.drop_table(P + "memberships", schema=S)
    op.drop_table(P + "join_requests", schema=S)
    op.drop_table(P + "invitations", schema=S)
    op.drop_table(P + "idempotency_keys", schema=S)
    op.drop_table(P + "holds", schema=S)
    op.drop_table(P + "events", schema=S)
    op.drop_table(P + "domain_claims", schema=S)
    op.drop_table(P + "credit_requests", schema=S)
    op.drop_table(P + "accounts", schema=S)
    op.drop_table(P + "organisations", schema=S)
