"""The library's tables, as SQLAlchemy Core on a :class:`~sqlalchemy.MetaData` of their own.

Amounts are ``BIGINT``; instants are stored as naive UTC with microseconds on every backend;
enumerations are short strings (no native enum types, so migrations stay simple).  The database
itself refuses a pool or member account below zero available, a second claim on a domain, a
second active membership of a user, a reused idempotency key in an organisation, and a second
grant of an organisation in one period; the triggers of
:mod:`~armox_enterprise.adapters.sqlalchemy.triggers`, installed with the tables, refuse
changing or deleting a transfer and changing a decided request or a resolved hold.

Every table but two is an organisation's: its primary key, its unique keys and its foreign keys
lead with ``organisation_id`` (the organisations' own key is ``id``), so a sharded or distributed
database can keep each organisation's rows together (``docs/scaling.md``).  The two rules that
span organisations live in small tables of their own, keyed by what they make unique, which
such a database keeps as reference tables (:data:`REFERENCE_TABLES`):

- ``active_members``: one row per user with an active membership, naming its organisation; an
  active membership's ``(organisation_id, active_user_id)`` is a foreign key to it;
- ``domain_owners``: one row per claimed domain, naming its organisation; a claim's
  ``(organisation_id, domain)`` is a foreign key to it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import attrs
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Dialect,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator

from armox_enterprise.adapters.sqlalchemy.triggers import attach as attach_triggers
from armox_enterprise.domain.alerts import MAX_THRESHOLDS
from armox_enterprise.domain.values import (
    ACCOUNT_CODE_LENGTH,
    DOMAIN_LENGTH,
    EMAIL_LENGTH,
    EXTERNAL_ID_LENGTH,
    ID_LENGTH,
    NAME_LENGTH,
    REF_LENGTH,
    STATE_LENGTH,
    STORED_KEY_LENGTH,
    TAG_LENGTH,
    TIME_ZONE_LENGTH,
    TOKEN_LENGTH,
)

__all__ = [
    "GRANT_PERIOD",
    "NAMING_CONVENTION",
    "REFERENCE_TABLES",
    "Tables",
    "UtcDateTime",
    "make_tables",
    "metadata",
    "tables",
]

#: Constraint and index names follow this convention so a host's Alembic sees stable names.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

_ID = ID_LENGTH
_USER = REF_LENGTH
_CODE = ACCOUNT_CODE_LENGTH
_NAME = NAME_LENGTH
_EMAIL = EMAIL_LENGTH
_DOMAIN = DOMAIN_LENGTH
_KEY = STORED_KEY_LENGTH
_TAG = TAG_LENGTH
_STATE = STATE_LENGTH
# Alert thresholds as text: at most MAX_THRESHOLDS percentages of up to three digits, commas.
_THRESHOLDS = 4 * MAX_THRESHOLDS
#: On MySQL/MariaDB, compare strings byte for byte like the other backends do: user ids
#: ``Bob`` and ``bob`` are two users, not one (the servers' default collations ignore case).
_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

#: ``transfers.grant_period``: the period of a grant, ``NULL`` for every other kind.  A unique
#: index on ``(organisation_id, grant_period)`` allows one grant per organisation and period.
#: Written as PostgreSQL and MariaDB give it back when reflected (``ELSE NULL`` included), so
#: Alembic's comparison sees the same expression on every backend.
GRANT_PERIOD = "CASE WHEN kind = 'grant' THEN period_index ELSE NULL END"
#: Which rows the grant index holds, where the database allows a partial index.
_GRANTS_ONLY = "kind = 'grant'"

#: The tables (names without the prefix) that span organisations, and the rule each one keeps.
#: Every other table leads its keys with the organisation.  A distributed database keeps these
#: as reference tables (a copy on every node): they are small, one row per active member or
#: claimed domain, written only when someone joins, leaves, claims or gives up a domain, and
#: they name no other table, so that no foreign key leads from them to an organisation's rows.
REFERENCE_TABLES: dict[str, str] = {
    "active_members": "one active membership per user: the user id is the primary key",
    "domain_owners": "one organisation per domain: the domain is the primary key",
}


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` stored as a naive UTC timestamp with microseconds."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


@attrs.frozen
class Tables:
    """The library's tables, built on one ``MetaData``."""

    metadata: MetaData
    organisations: Table
    memberships: Table
    domain_claims: Table
    invitations: Table
    join_requests: Table
    accounts: Table
    transfers: Table
    period_totals: Table
    holds: Table
    credit_requests: Table
    idempotency: Table
    events: Table
    relay_locks: Table
    active_members: Table
    domain_owners: Table
    teams: Table
    team_members: Table
    directory_links: Table


def make_tables(
    metadata: MetaData | None = None, *, prefix: str = "armox_", schema: str | None = None
) -> Tables:
    """Build the library's tables on ``metadata`` (a new one with the naming convention if
    omitted), named ``<prefix><name>``, optionally in ``schema``.

    Use it to put the tables on a host's own ``MetaData`` so one Alembic environment manages
    both; the default :data:`tables` uses its own ``MetaData`` and the ``armox_`` prefix.
    """
    md = metadata if metadata is not None else MetaData(naming_convention=NAMING_CONVENTION)
    p = prefix

    def fk(cols: list[str], table: str, refcols: list[str]) -> ForeignKeyConstraint:
        target = f"{schema}.{p}{table}" if schema else f"{p}{table}"
        return ForeignKeyConstraint(cols, [f"{target}.{c}" for c in refcols])

    organisations = Table(
        f"{p}organisations",
        md,
        Column("id", String(_ID), primary_key=True),
        Column("name", String(_NAME), nullable=False),
        Column("monthly_allowance", BigInteger, nullable=False),
        Column("cycle_anchor", UtcDateTime, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("current_period_index", Integer, nullable=False),
        Column("current_period_end", UtcDateTime, nullable=False),
        Column("join_mode", String(_STATE), nullable=False),
        Column("seat_limit", BigInteger, nullable=True),
        Column("pool_carry_over_cap", BigInteger, nullable=False),
        Column("member_remainder", String(_STATE), nullable=False),
        Column("max_open_requests", Integer, nullable=False),
        Column("allow_pool_spend", Boolean, nullable=False),
        Column("hold_lifetime_us", BigInteger, nullable=False),
        # The IANA zone the periods are counted in; current_period_end is computed in it.
        Column("time_zone", String(TIME_ZONE_LENGTH), nullable=False, server_default="UTC"),
        # Alert thresholds as comma-separated percentages ("80,100"; "" for none).
        Column(
            "member_alert_thresholds",
            String(_THRESHOLDS),
            nullable=False,
            server_default="80,100",
        ),
        Column("pool_alert_thresholds", String(_THRESHOLDS), nullable=False, server_default="90"),
        # The default monthly cap on each member's spending; NULL: no cap.
        Column("spend_cap", BigInteger, nullable=True),
        # The soft limit: a grace of so many credits, or of a percentage of what was given
        # (at most one is set; both NULL: no soft limit).
        Column("soft_limit_credits", BigInteger, nullable=True),
        Column("soft_limit_percent", Integer, nullable=True),
        CheckConstraint("monthly_allowance >= 0", name="allowance_not_negative"),
        Index(None, "current_period_end"),
        schema=schema,
        **_MYSQL,
    )
    # The reference tables: each names an organisation by its id, and nothing else.
    active_members = Table(
        f"{p}active_members",
        md,
        Column("user_id", String(_USER), primary_key=True),
        Column("organisation_id", String(_ID), nullable=False),
        # What an active membership's foreign key names.
        UniqueConstraint("organisation_id", "user_id"),
        schema=schema,
        **_MYSQL,
    )
    domain_owners = Table(
        f"{p}domain_owners",
        md,
        Column("domain", String(_DOMAIN), primary_key=True),
        Column("organisation_id", String(_ID), nullable=False),
        # What a claim's foreign key names.
        UniqueConstraint("organisation_id", "domain"),
        schema=schema,
        **_MYSQL,
    )
    memberships = Table(
        f"{p}memberships",
        md,
        Column("organisation_id", String(_ID), primary_key=True),
        Column("user_id", String(_USER), primary_key=True),
        # Equal to user_id while the membership is active, NULL once removed.  While it is set,
        # the user's row in active_members must name this organisation (the foreign key), and
        # that table holds one row per user: one active membership per user, on every backend.
        Column("active_user_id", String(_USER), nullable=True),
        Column("email", String(_EMAIL), nullable=False),
        Column("display_name", String(_NAME), nullable=False),
        # The display name case-folded (str.casefold, which may lengthen it up to three times):
        # the dashboard sorts members by it, compared by code point, on every backend alike.
        Column("name_key", String(3 * _NAME), nullable=False),
        Column("role", String(_STATE), nullable=False),
        Column("status", String(_STATE), nullable=False),
        Column("joined_at", UtcDateTime, nullable=False),
        Column("removed_at", UtcDateTime, nullable=True),
        Column("standing_allotment", BigInteger, nullable=False),
        # The member's own monthly cap, overriding the organisation's; NULL: the default.
        Column("spend_cap", BigInteger, nullable=True),
        CheckConstraint(
            "active_user_id IS NULL OR active_user_id = user_id", name="active_user_is_user"
        ),
        fk(["organisation_id"], "organisations", ["id"]),
        fk(["organisation_id", "active_user_id"], "active_members", ["organisation_id", "user_id"]),
        Index(f"ix_{p}memberships_org_status", "organisation_id", "status", "joined_at"),
        # The foreign key's own index: removing a member checks it (MariaDB would make one).
        Index(None, "organisation_id", "active_user_id"),
        schema=schema,
        **_MYSQL,
    )
    domain_claims = Table(
        f"{p}domain_claims",
        md,
        Column("domain", String(_DOMAIN), nullable=False),
        Column("organisation_id", String(_ID), nullable=False),
        Column("verification_token", String(TOKEN_LENGTH), nullable=False),
        Column("claimed_at", UtcDateTime, nullable=False),
        Column("include_subdomains", Boolean, nullable=False),
        Column("verified_at", UtcDateTime, nullable=True),
        # The re-check job's state (domain/claims.py, apply_check); migration ae0006.
        Column("last_checked_at", UtcDateTime, nullable=True),
        Column("failing_since", UtcDateTime, nullable=True),
        Column("lapses_at", UtcDateTime, nullable=True),
        Column("lapsed_at", UtcDateTime, nullable=True),
        PrimaryKeyConstraint("organisation_id", "domain"),
        fk(["organisation_id"], "organisations", ["id"]),
        # The domain's row in domain_owners names this organisation: one claim per domain.
        fk(["organisation_id", "domain"], "domain_owners", ["organisation_id", "domain"]),
        schema=schema,
        **_MYSQL,
    )
    invitations = Table(
        f"{p}invitations",
        md,
        Column("organisation_id", String(_ID), primary_key=True),
        Column("email_key", String(_EMAIL), primary_key=True),
        Column("email", String(_EMAIL), nullable=False),
        Column("role", String(_STATE), nullable=False),
        Column("invited_by", String(_USER), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("accepted_at", UtcDateTime, nullable=True),
        fk(["organisation_id"], "organisations", ["id"]),
        Index(None, "email_key"),
        schema=schema,
        **_MYSQL,
    )
    join_requests = Table(
        f"{p}join_requests",
        md,
        Column("id", String(_ID), nullable=False),
        Column("organisation_id", String(_ID), nullable=False),
        Column("user_id", String(_USER), nullable=False),
        Column("email", String(_EMAIL), nullable=False),
        Column("display_name", String(_NAME), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("status", String(_STATE), nullable=False),
        Column("decided_by", String(_USER), nullable=True),
        Column("decided_at", UtcDateTime, nullable=True),
        PrimaryKeyConstraint("organisation_id", "id"),
        fk(["organisation_id"], "organisations", ["id"]),
        Index(f"ix_{p}join_requests_org_status", "organisation_id", "status", "created_at"),
        Index(f"ix_{p}join_requests_user_status", "user_id", "status"),
        schema=schema,
        **_MYSQL,
    )
    accounts = Table(
        f"{p}accounts",
        md,
        Column("organisation_id", String(_ID), primary_key=True),
        Column("code", String(_CODE), primary_key=True),
        Column("guarded", Boolean, nullable=False),
        Column("credits_posted", BigInteger, nullable=False),
        Column("debits_posted", BigInteger, nullable=False),
        Column("debits_pending", BigInteger, nullable=False),
        Column("closed", Boolean, nullable=False),
        # What a member spent, kept on the row a spend updates anyway: every spend's credit to
        # the usage sink is counted here (the usage account's credits are its own row's plus
        # the sum of these), so spends of different members never queue on one usage row.
        Column("spent", BigInteger, nullable=False),
        # This period's spends, settled into period_totals when the period closes.
        Column("spend_period", Integer, nullable=False),
        Column("spend_total", BigInteger, nullable=False),
        Column("spend_at", UtcDateTime, nullable=True),
        # A member's figures of figures_period from every transfer but its spends (those are
        # the spend_* columns): what the allocated kinds credited, what the spent kinds debited
        # less what refunds credited, and when the latest was.  Kept by the transfers that count
        # in period_totals, so the dashboard sorts members by a figure from their rows alone.
        Column("figures_period", Integer, nullable=False, server_default=text("0")),
        Column("figures_allocated", BigInteger, nullable=False, server_default=text("0")),
        Column("figures_used", BigInteger, nullable=False, server_default=text("0")),
        Column("figures_at", UtcDateTime, nullable=True),
        # The member's effective monthly cap (domain.caps.effective_cap), kept on the row the
        # spend's conditional UPDATE matches, so that its guard needs no other row; NULL: none.
        Column("spend_cap", BigInteger, nullable=True),
        CheckConstraint(
            "NOT guarded OR credits_posted - debits_posted - debits_pending >= 0",
            name="available_not_negative",
        ),
        CheckConstraint("debits_pending >= 0", name="pending_not_negative"),
        fk(["organisation_id"], "organisations", ["id"]),
        schema=schema,
        **_MYSQL,
    )
    transfers = Table(
        f"{p}transfers",
        md,
        Column("id", String(_ID), nullable=False),
        Column("organisation_id", String(_ID), nullable=False),
        Column("kind", String(_STATE), nullable=False),
        Column("debit_account", String(_CODE), nullable=False),
        Column("credit_account", String(_CODE), nullable=False),
        Column("amount", BigInteger, nullable=False),
        Column("period_index", Integer, nullable=False),
        Column("actor", String(_USER), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("idempotency_key", String(_KEY), nullable=True),
        Column("reference", String(_KEY), nullable=True),
        Column("feature", String(_TAG), nullable=True),
        Column("model", String(_TAG), nullable=True),
        # STORED: PostgreSQL indexes no virtual column, and MariaDB has no partial index (so
        # its unique index holds every row, NULL for all but grants).
        Column("grant_period", Integer, Computed(GRANT_PERIOD, persisted=True), nullable=True),
        CheckConstraint("amount > 0", name="amount_positive"),
        PrimaryKeyConstraint("organisation_id", "id"),
        UniqueConstraint("organisation_id", "idempotency_key"),
        fk(["organisation_id", "debit_account"], "accounts", ["organisation_id", "code"]),
        fk(["organisation_id", "credit_account"], "accounts", ["organisation_id", "code"]),
        Index(f"ix_{p}transfers_org_time", "organisation_id", "created_at", "id"),
        Index(f"ix_{p}transfers_debit", "organisation_id", "debit_account", "period_index"),
        Index(f"ix_{p}transfers_credit", "organisation_id", "credit_account", "period_index"),
        Index(f"ix_{p}transfers_reference", "organisation_id", "reference"),
        # created_at and amount make it cover usage by day, week and month (index-only scans).
        Index(
            f"ix_{p}transfers_period_kind",
            "organisation_id",
            "period_index",
            "kind",
            "created_at",
            "amount",
        ),
        # One grant per organisation and period.  PostgreSQL and SQLite index the grants
        # only, so other transfers (spends) write no entry into it.
        Index(
            f"uq_{p}transfers_grant_period",
            "organisation_id",
            "grant_period",
            unique=True,
            postgresql_where=text(_GRANTS_ONLY),
            sqlite_where=text(_GRANTS_ONLY),
        ),
        schema=schema,
        **_MYSQL,
    )
    period_totals = Table(
        f"{p}period_totals",
        md,
        Column("organisation_id", String(_ID), primary_key=True),
        Column("account", String(_CODE), primary_key=True),
        Column("period_index", Integer, primary_key=True),
        Column("side", String(1), primary_key=True),
        Column("kind", String(_STATE), primary_key=True),
        Column("amount", BigInteger, nullable=False),
        Column("last_activity", UtcDateTime, nullable=False),
        fk(["organisation_id", "account"], "accounts", ["organisation_id", "code"]),
        # One period's rows of every account together: the dashboard's member table.
        Index(f"ix_{p}period_totals_period", "organisation_id", "period_index", "account"),
        schema=schema,
        **_MYSQL,
    )
    holds = Table(
        f"{p}holds",
        md,
        Column("id", String(_ID), nullable=False),
        Column("organisation_id", String(_ID), nullable=False),
        Column("user_id", String(_USER), nullable=False),
        Column("amount", BigInteger, nullable=False),
        Column("period_index", Integer, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("expires_at", UtcDateTime, nullable=False),
        Column("reference", String(_KEY), nullable=False),
        Column("status", String(_STATE), nullable=False),
        Column("captured", BigInteger, nullable=False),
        Column("resolved_at", UtcDateTime, nullable=True),
        Column("feature", String(_TAG), nullable=True),
        Column("model", String(_TAG), nullable=True),
        CheckConstraint("amount > 0", name="amount_positive"),
        PrimaryKeyConstraint("organisation_id", "id"),
        fk(["organisation_id"], "organisations", ["id"]),
        Index(f"ix_{p}holds_org_status", "organisation_id", "status", "expires_at"),
        Index(f"ix_{p}holds_user_status", "organisation_id", "user_id", "status"),
        schema=schema,
        **_MYSQL,
    )
    credit_requests = Table(
        f"{p}credit_requests",
        md,
        Column("id", String(_ID), nullable=False),
        Column("organisation_id", String(_ID), nullable=False),
        Column("user_id", String(_USER), nullable=False),
        Column("amount", BigInteger, nullable=False),
        Column("note", Text, nullable=False),
        Column("period_index", Integer, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("status", String(_STATE), nullable=False),
        Column("approved_amount", BigInteger, nullable=True),
        Column("decided_by", String(_USER), nullable=True),
        Column("decided_at", UtcDateTime, nullable=True),
        Column("decision_note", Text, nullable=False),
        # Filed by the library when the member ran out and spent on grace.
        Column("automatic", Boolean, nullable=False, server_default=false()),
        CheckConstraint("amount > 0", name="amount_positive"),
        PrimaryKeyConstraint("organisation_id", "id"),
        fk(["organisation_id"], "organisations", ["id"]),
        Index(f"ix_{p}credit_requests_org_status", "organisation_id", "status", "created_at"),
        Index(f"ix_{p}credit_requests_user_status", "organisation_id", "user_id", "status"),
        schema=schema,
        **_MYSQL,
    )
    idempotency = Table(
        f"{p}idempotency_keys",
        md,
        Column("organisation_id", String(_ID), primary_key=True),
        Column("key", String(_KEY), primary_key=True),
        Column("operation", String(32), nullable=False),
        Column("fingerprint", Text, nullable=False),
        Column("result_ref", String(_KEY), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        fk(["organisation_id"], "organisations", ["id"]),
        schema=schema,
        **_MYSQL,
    )
    events = Table(
        f"{p}events",
        md,
        Column("id", String(_ID), nullable=False),
        Column("organisation_id", String(_ID), nullable=False),
        Column("name", String(TOKEN_LENGTH), nullable=False),
        Column("actor", String(_USER), nullable=False),
        Column("occurred_at", UtcDateTime, nullable=False),
        Column("payload", Text, nullable=False),
        Column("published_at", UtcDateTime, nullable=True),
        PrimaryKeyConstraint("organisation_id", "id"),
        fk(["organisation_id"], "organisations", ["id"]),
        Index(f"ix_{p}events_org_time", "organisation_id", "occurred_at", "id"),
        Index(f"ix_{p}events_unpublished", "published_at", "organisation_id", "id"),
        schema=schema,
        **_MYSQL,
    )
    # One row per organisation: a relay locks it (SKIP LOCKED) while it hands the
    # organisation's events to the host, so events of one organisation go out in order.
    relay_locks = Table(
        f"{p}relay_locks",
        md,
        Column("organisation_id", String(_ID), primary_key=True),
        fk(["organisation_id"], "organisations", ["id"]),
        schema=schema,
        **_MYSQL,
    )
    # An organisation's teams; a team's budget is the account "team:<id>".
    teams = Table(
        f"{p}teams",
        md,
        Column("organisation_id", String(_ID), primary_key=True),
        Column("id", String(_ID), primary_key=True),
        Column("name", String(_NAME), nullable=False),
        # The name case-folded (str.casefold): one team per name in an organisation.
        Column("name_key", String(3 * _NAME), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        # The team's monthly cap on each member's spending (NULL: none); ae0009.
        Column("spend_cap", BigInteger, nullable=True),
        UniqueConstraint("organisation_id", "name_key"),
        fk(["organisation_id"], "organisations", ["id"]),
        schema=schema,
        **_MYSQL,
    )
    # A member's one assignment to a team (keyed by the member: at most one team each), and
    # the delegated grant to manage that team.
    team_members = Table(
        f"{p}team_members",
        md,
        Column("organisation_id", String(_ID), primary_key=True),
        Column("user_id", String(_USER), primary_key=True),
        Column("team_id", String(_ID), nullable=False),
        Column("manager", Boolean, nullable=False),
        fk(["organisation_id"], "organisations", ["id"]),
        fk(["organisation_id", "team_id"], "teams", ["organisation_id", "id"]),
        fk(["organisation_id", "user_id"], "memberships", ["organisation_id", "user_id"]),
        Index(None, "organisation_id", "team_id"),
        schema=schema,
        **_MYSQL,
    )
    # The company directory's link to a membership (ae0012): its own id of the user (SCIM
    # externalId, one user per id in an organisation; NULLs do not collide) and when it
    # deleted the user (NULL: not deleted).  The membership itself stays, removed.
    directory_links = Table(
        f"{p}directory_links",
        md,
        Column("organisation_id", String(_ID), primary_key=True),
        Column("user_id", String(_USER), primary_key=True),
        Column("external_id", String(EXTERNAL_ID_LENGTH), nullable=True),
        Column("deleted_at", UtcDateTime, nullable=True),
        UniqueConstraint("organisation_id", "external_id"),
        fk(["organisation_id"], "organisations", ["id"]),
        fk(["organisation_id", "user_id"], "memberships", ["organisation_id", "user_id"]),
        schema=schema,
        **_MYSQL,
    )
    attach_triggers(
        {
            "accounts": accounts,
            "transfers": transfers,
            "holds": holds,
            "credit_requests": credit_requests,
            "join_requests": join_requests,
            "memberships": memberships,
            "active_members": active_members,
            "domain_claims": domain_claims,
            "domain_owners": domain_owners,
        },
        prefix=p,
        schema=schema,
    )
    return Tables(
        md,
        organisations,
        memberships,
        domain_claims,
        invitations,
        join_requests,
        accounts,
        transfers,
        period_totals,
        holds,
        credit_requests,
        idempotency,
        events,
        relay_locks,
        active_members,
        domain_owners,
        teams,
        team_members,
        directory_links,
    )


#: The default tables (prefix ``armox_``, no schema).
tables: Tables = make_tables()

#: The ``MetaData`` of the default tables; give it to Alembic as (part of) ``target_metadata``.
metadata: MetaData = tables.metadata
