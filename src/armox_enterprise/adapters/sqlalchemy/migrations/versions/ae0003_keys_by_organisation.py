"""Keys by organisation: every table distributable by ``organisation_id``.

Revision ID: ae0003
Revises: ae0002
Create Date: 2026-12-02

- the primary keys of ``transfers``, ``holds``, ``credit_requests``, ``events`` and
  ``join_requests`` become ``(organisation_id, id)``, and that of ``domain_claims``
  ``(organisation_id, domain)``; the index ``ix_<prefix>domain_claims_organisation_id``, which
  the new key makes redundant, goes;
- two reference tables keep the rules that span organisations, filled from the rows there are:
  ``active_members`` (a user's one active membership: ``user_id`` is its key) and
  ``domain_owners`` (a domain's one organisation: ``domain`` is its key);
- ``memberships`` loses the unique column ``active_user_id`` (the column stays): an active
  membership's ``(organisation_id, active_user_id)`` is a foreign key to ``active_members``
  (with its index), and a check says ``active_user_id`` is ``NULL`` or the user; a claim's
  ``(organisation_id, domain)`` is a foreign key to ``domain_owners``;
- on SQLite, the triggers of ``ae0002`` come back after the tables are rebuilt, with those
  of this revision, which keep the two new foreign keys on connections without
  ``PRAGMA foreign_keys``.  The triggers elsewhere name no key this revision changes.

PostgreSQL builds each new primary key's index; MariaDB and MySQL rebuild each of the seven
tables once (a primary key is InnoDB's clustered index); SQLite copies them into new tables.
The upgrade fails if a membership's ``active_user_id`` is neither ``NULL`` nor its user (the
library never wrote one).  The downgrade fails if two organisations hold rows of one table with
the same id (the library's ids are time-ordered UUIDs, unique in practice).
"""

from __future__ import annotations

from typing import Any

import attrs
import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from armox_enterprise.adapters.sqlalchemy.migrations import names_for
from armox_enterprise.adapters.sqlalchemy.tables import GRANT_PERIOD, UtcDateTime
from armox_enterprise.adapters.sqlalchemy.triggers import create_statements, ddl, drop_statements

revision = "ae0003"
down_revision = "ae0002"
branch_labels = None
depends_on = None

#: The tables whose key was their ``id`` alone.
_BY_ID = ("transfers", "holds", "credit_requests", "events", "join_requests")
_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
_ACTIVE_IS_USER = "active_user_id IS NULL OR active_user_id = user_id"
#: The tables (and columns) the rebuilt tables' foreign keys name.
_TARGETS = {
    "organisations": ("id",),
    "accounts": ("organisation_id", "code"),
    "active_members": ("organisation_id", "user_id"),
    "domain_owners": ("organisation_id", "domain"),
}
_GRANTS_ONLY = "kind = 'grant'"


@attrs.frozen
class _Names:
    """The tables' prefix and schema, and what foreign keys put before a table's name."""

    prefix: str
    schema: str | None
    reference: str

    @classmethod
    def current(cls) -> _Names:
        """The names the running migration was configured with."""
        return cls(*names_for(op.get_context()))

    def table(self, name: str) -> str:
        """The prefixed name of a table."""
        return self.prefix + name

    def qualified(self, name: str) -> str:
        """The prefixed name of a table, schema-qualified when there is a schema."""
        table = self.prefix + name
        return f"{self.schema}.{table}" if self.schema else table


def upgrade() -> None:
    """Lead every key with the organisation; add the two reference tables."""
    n = _Names.current()
    dialect = op.get_bind().dialect.name
    before = create_statements(dialect, prefix=n.prefix, schema=n.schema, revision="ae0002")
    after = create_statements(dialect, prefix=n.prefix, schema=n.schema, revision=revision)
    sqlite = dialect == "sqlite"
    if sqlite:  # rebuilding a table drops its triggers; those naming it would stop a rename
        for statement in drop_statements(
            dialect, prefix=n.prefix, schema=n.schema, revision="ae0002"
        ):
            op.execute(ddl(statement))
    _create_reference_tables(n)
    if sqlite:
        for name in (*_BY_ID, "domain_claims", "memberships"):
            _sqlite_rebuild(n, name, upgraded=True)
    else:
        for name in _BY_ID:
            _set_primary_key(n, name, ["organisation_id", "id"], dialect)
        _upgrade_domain_claims(n, dialect)
        _upgrade_memberships(n)
    for statement in after if sqlite else [s for s in after if s not in before]:
        op.execute(ddl(statement))


def downgrade() -> None:
    """Key the five tables by id and the claims by domain again; drop the reference tables."""
    n = _Names.current()
    dialect = op.get_bind().dialect.name
    before = create_statements(dialect, prefix=n.prefix, schema=n.schema, revision="ae0002")
    kept = drop_statements(dialect, prefix=n.prefix, schema=n.schema, revision="ae0002")
    drops = drop_statements(dialect, prefix=n.prefix, schema=n.schema, revision=revision)
    sqlite = dialect == "sqlite"
    for statement in drops if sqlite else [s for s in drops if s not in kept]:
        op.execute(ddl(statement))
    if sqlite:
        for name in ("memberships", "domain_claims", *_BY_ID):
            _sqlite_rebuild(n, name, upgraded=False)
    else:
        _downgrade_memberships(n)
        _downgrade_domain_claims(n, dialect)
        for name in _BY_ID:
            _set_primary_key(n, name, ["id"], dialect)
    op.drop_table(n.table("domain_owners"), schema=n.schema)
    op.drop_table(n.table("active_members"), schema=n.schema)
    if sqlite:
        for statement in before:
            op.execute(ddl(statement))


# -- the reference tables -----------------------------------------------------------------


def _create_reference_tables(n: _Names) -> None:
    p, s = n.prefix, n.schema
    op.create_table(
        p + "active_members",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_" + p + "active_members")),
        sa.UniqueConstraint(
            "organisation_id",
            "user_id",
            name=op.f("uq_" + p + "active_members_organisation_id_user_id"),
        ),
        schema=s,
        **_MYSQL,
    )
    op.create_table(
        p + "domain_owners",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_" + p + "domain_owners")),
        sa.UniqueConstraint(
            "organisation_id",
            "domain",
            name=op.f("uq_" + p + "domain_owners_organisation_id_domain"),
        ),
        schema=s,
        **_MYSQL,
    )
    # The rules held before (a unique active_user_id, a claim keyed by its domain), so the
    # rows fit the new keys.
    op.execute(
        f"INSERT INTO {n.qualified('active_members')} (user_id, organisation_id) "
        f"SELECT active_user_id, organisation_id FROM {n.qualified('memberships')} "
        f"WHERE active_user_id IS NOT NULL"
    )
    op.execute(
        f"INSERT INTO {n.qualified('domain_owners')} (domain, organisation_id) "
        f"SELECT domain, organisation_id FROM {n.qualified('domain_claims')}"
    )


# -- PostgreSQL, MariaDB and MySQL: ALTER TABLE --------------------------------------------


def _set_primary_key(n: _Names, name: str, columns: list[str], dialect: str) -> None:
    """Make ``columns`` the table's primary key, in one rebuild on MariaDB and MySQL."""
    if dialect in ("mysql", "mariadb"):
        op.execute(
            f"ALTER TABLE {n.qualified(name)} DROP PRIMARY KEY, "
            f"ADD PRIMARY KEY ({', '.join(columns)})"
        )
        return
    key = op.f("pk_" + n.table(name))
    op.drop_constraint(key, n.table(name), schema=n.schema, type_="primary")
    op.create_primary_key(key, n.table(name), columns, schema=n.schema)


def _claims_to_owners(n: _Names) -> str:
    return op.f("fk_" + n.table("domain_claims") + "_organisation_id_domain")


def _claims_by_organisation(n: _Names) -> str:
    return op.f("ix_" + n.table("domain_claims") + "_organisation_id")


def _upgrade_domain_claims(n: _Names, dialect: str) -> None:
    # The new key leads with organisation_id, so the organisation's foreign key (which
    # MariaDB wants an index for) keeps one when the old index goes.
    _set_primary_key(n, "domain_claims", ["organisation_id", "domain"], dialect)
    op.drop_index(_claims_by_organisation(n), table_name=n.table("domain_claims"), schema=n.schema)
    op.create_foreign_key(
        _claims_to_owners(n),
        n.table("domain_claims"),
        n.table("domain_owners"),
        ["organisation_id", "domain"],
        ["organisation_id", "domain"],
        source_schema=n.schema,
        referent_schema=n.schema,
    )


def _downgrade_domain_claims(n: _Names, dialect: str) -> None:
    table = n.table("domain_claims")
    op.drop_constraint(_claims_to_owners(n), table, schema=n.schema, type_="foreignkey")
    op.create_index(_claims_by_organisation(n), table, ["organisation_id"], schema=n.schema)
    _set_primary_key(n, "domain_claims", ["domain"], dialect)


def _memberships_names(n: _Names) -> tuple[str, str, str, str]:
    """The names of the unique column, the index, the check and the foreign key."""
    t = n.table("memberships")
    return (
        op.f("uq_" + t + "_active_user_id"),
        op.f("ix_" + t + "_organisation_id_active_user_id"),
        op.f("ck_" + t + "_active_user_is_user"),
        op.f("fk_" + t + "_organisation_id_active_user_id"),
    )


def _upgrade_memberships(n: _Names) -> None:
    t, s = n.table("memberships"), n.schema
    unique, index, check, key = _memberships_names(n)
    op.drop_constraint(unique, t, schema=s, type_="unique")
    # Before the foreign key, so that MariaDB uses it rather than make an index of its own.
    op.create_index(index, t, ["organisation_id", "active_user_id"], schema=s)
    op.create_check_constraint(check, t, _ACTIVE_IS_USER, schema=s)
    op.create_foreign_key(
        key,
        t,
        n.table("active_members"),
        ["organisation_id", "active_user_id"],
        ["organisation_id", "user_id"],
        source_schema=s,
        referent_schema=s,
    )


def _downgrade_memberships(n: _Names) -> None:
    t, s = n.table("memberships"), n.schema
    unique, index, check, key = _memberships_names(n)
    op.drop_constraint(key, t, schema=s, type_="foreignkey")
    op.drop_constraint(check, t, schema=s, type_="check")
    op.drop_index(index, table_name=t, schema=s)
    op.create_unique_constraint(unique, t, ["active_user_id"], schema=s)


# -- SQLite: copy into a table of the new shape --------------------------------------------


def _sqlite_rebuild(n: _Names, name: str, *, upgraded: bool) -> None:
    """Copy the rows of ``name`` into a new table of its shape at ``ae0003`` (``upgraded``)
    or ``ae0002``, which then takes its name and its indexes."""
    temporary = n.table("ae0003_" + name)
    table, indexes = _shape(n, name, temporary, upgraded=upgraded)
    bind = op.get_bind()
    table.create(bind)
    columns = ", ".join(c.name for c in table.columns if c.computed is None)
    op.execute(
        f"INSERT INTO {n.qualified('ae0003_' + name)} ({columns}) "
        f"SELECT {columns} FROM {n.qualified(name)}"
    )
    op.execute(f"DROP TABLE {n.qualified(name)}")
    op.execute(f"ALTER TABLE {n.qualified('ae0003_' + name)} RENAME TO {n.table(name)}")
    for index in indexes:
        op.create_index(
            index.name,
            n.table(name),
            index.columns,
            unique=index.unique,
            schema=n.schema,
            sqlite_where=sa.text(index.where) if index.where else None,
        )


@attrs.frozen
class _Index:
    """An index to make again after a rebuild."""

    name: str
    columns: list[str]
    unique: bool = False
    where: str | None = None


@attrs.frozen
class _Shaper:
    """Makes the constraints of one table to rebuild, named as ``ae0001`` named them."""

    n: _Names
    name: str
    upgraded: bool

    @property
    def t(self) -> str:
        """The table's prefixed name."""
        return self.n.table(self.name)

    def fk(
        self, columns: list[str], target: str, targets: list[str], key: str
    ) -> sa.ForeignKeyConstraint:
        """A foreign key from ``columns`` to ``targets`` of ``target``."""
        return sa.ForeignKeyConstraint(
            columns,
            [f"{self.n.reference}{target}.{c}" for c in targets],
            name=op.f("fk_" + self.t + "_" + key),
        )

    def by_organisation(self) -> sa.ForeignKeyConstraint:
        """The foreign key to the organisation."""
        return self.fk(["organisation_id"], "organisations", ["id"], "organisation_id")

    def pk(self, *columns: str) -> sa.PrimaryKeyConstraint:
        """The primary key."""
        return sa.PrimaryKeyConstraint(*columns, name=op.f("pk_" + self.t))

    def by_id(self) -> sa.PrimaryKeyConstraint:
        """The primary key of a table of ``_BY_ID`` at this revision or the one before."""
        return self.pk("organisation_id", "id") if self.upgraded else self.pk("id")

    def ck(self, text: str, key: str) -> sa.CheckConstraint:
        """A check constraint."""
        return sa.CheckConstraint(text, name=op.f("ck_" + self.t + "_" + key))

    def index(
        self, key: str, columns: list[str], *, unique: bool = False, where: str | None = None
    ) -> _Index:
        """An index named ``ix_<table>_<key>`` (``uq_`` if unique)."""
        return _Index(f"{'uq' if unique else 'ix'}_{self.t}_{key}", columns, unique, where)


Shape = tuple[list[SchemaItem], list[_Index]]


def _id(nullable: bool = False) -> sa.Column[str]:
    return sa.Column("id", sa.String(length=36), nullable=nullable)


def _organisation() -> sa.Column[str]:
    return sa.Column("organisation_id", sa.String(length=36), nullable=False)


def _transfers(s: _Shaper) -> Shape:
    return [
        _id(),
        _organisation(),
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
        # Stored now, as create_all makes it (ae0002 could add it only as virtual).
        sa.Column("grant_period", sa.Integer(), sa.Computed(GRANT_PERIOD, persisted=True)),
        s.ck("amount > 0", "amount_positive"),
        s.fk(
            ["organisation_id", "credit_account"],
            "accounts",
            ["organisation_id", "code"],
            "organisation_id_credit_account",
        ),
        s.fk(
            ["organisation_id", "debit_account"],
            "accounts",
            ["organisation_id", "code"],
            "organisation_id_debit_account",
        ),
        s.by_id(),
        sa.UniqueConstraint(
            "organisation_id",
            "idempotency_key",
            name=op.f("uq_" + s.t + "_organisation_id_idempotency_key"),
        ),
    ], [
        s.index("credit", ["organisation_id", "credit_account", "period_index"]),
        s.index("debit", ["organisation_id", "debit_account", "period_index"]),
        s.index("org_time", ["organisation_id", "created_at", "id"]),
        s.index("period_kind", ["organisation_id", "period_index", "kind", "created_at", "amount"]),
        s.index("reference", ["organisation_id", "reference"]),
        s.index(
            "grant_period", ["organisation_id", "grant_period"], unique=True, where=_GRANTS_ONLY
        ),
    ]


def _holds(s: _Shaper) -> Shape:
    return [
        _id(),
        _organisation(),
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
        s.ck("amount > 0", "amount_positive"),
        s.by_organisation(),
        s.by_id(),
    ], [
        s.index("org_status", ["organisation_id", "status", "expires_at"]),
        s.index("user_status", ["organisation_id", "user_id", "status"]),
    ]


def _credit_requests(s: _Shaper) -> Shape:
    return [
        _id(),
        _organisation(),
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
        s.ck("amount > 0", "amount_positive"),
        s.by_organisation(),
        s.by_id(),
    ], [
        s.index("org_status", ["organisation_id", "status", "created_at"]),
        s.index("user_status", ["organisation_id", "user_id", "status"]),
    ]


def _events(s: _Shaper) -> Shape:
    return [
        _id(),
        _organisation(),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        s.by_organisation(),
        s.by_id(),
    ], [
        s.index("org_time", ["organisation_id", "occurred_at", "id"]),
        s.index("unpublished", ["published_at", "organisation_id", "id"]),
    ]


def _join_requests(s: _Shaper) -> Shape:
    return [
        _id(),
        _organisation(),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        s.by_organisation(),
        s.by_id(),
    ], [
        s.index("org_status", ["organisation_id", "status", "created_at"]),
        s.index("user_status", ["user_id", "status"]),
    ]


def _domain_claims(s: _Shaper) -> Shape:
    elements: list[SchemaItem] = [
        sa.Column("domain", sa.String(length=253), nullable=False),
        _organisation(),
        sa.Column("verification_token", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.Column("include_subdomains", sa.Boolean(), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=True),
        s.by_organisation(),
    ]
    if not s.upgraded:
        return [*elements, s.pk("domain")], [s.index("organisation_id", ["organisation_id"])]
    owner = s.fk(
        ["organisation_id", "domain"],
        "domain_owners",
        ["organisation_id", "domain"],
        "organisation_id_domain",
    )
    return [*elements, owner, s.pk("organisation_id", "domain")], []


def _memberships(s: _Shaper) -> Shape:
    elements: list[SchemaItem] = [
        _organisation(),
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
        s.by_organisation(),
        s.pk("organisation_id", "user_id"),
    ]
    indexes = [s.index("org_status", ["organisation_id", "status", "joined_at"])]
    if not s.upgraded:
        unique = sa.UniqueConstraint("active_user_id", name=op.f("uq_" + s.t + "_active_user_id"))
        return [*elements, unique], indexes
    active = s.fk(
        ["organisation_id", "active_user_id"],
        "active_members",
        ["organisation_id", "user_id"],
        "organisation_id_active_user_id",
    )
    check = s.ck(_ACTIVE_IS_USER, "active_user_is_user")
    by_active = s.index("organisation_id_active_user_id", ["organisation_id", "active_user_id"])
    return [*elements, check, active], [*indexes, by_active]


_SHAPES = {
    "transfers": _transfers,
    "holds": _holds,
    "credit_requests": _credit_requests,
    "events": _events,
    "join_requests": _join_requests,
    "domain_claims": _domain_claims,
    "memberships": _memberships,
}


def _shape(n: _Names, name: str, as_name: str, *, upgraded: bool) -> tuple[sa.Table, list[_Index]]:
    """The table ``name`` at ``ae0003`` (``upgraded``) or ``ae0002``, named ``as_name``, with
    the indexes it has (its columns are those of ``ae0001`` and ``ae0002``)."""
    md = sa.MetaData()
    # What the foreign keys name, for SQLAlchemy to render them (the tables exist already).
    for target, columns in _TARGETS.items():
        sa.Table(
            n.table(target), md, *(sa.Column(c, sa.String()) for c in columns), schema=n.schema
        )
    elements, indexes = _SHAPES[name](_Shaper(n, name, upgraded))
    return sa.Table(as_name, md, *elements, schema=n.schema), indexes
