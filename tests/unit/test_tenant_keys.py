"""Every table of the SQL store can be distributed by organisation.

A sharded PostgreSQL (Citus, distributing by ``organisation_id``) or a distributed SQL engine
(CockroachDB, YugabyteDB) keeps an organisation's rows together only if every primary key,
unique key and foreign key of its tables leads with the organisation: Citus refuses a unique
key or a foreign key between distributed tables that leaves the distribution column out, and
CockroachDB and YugabyteDB order (or hash) rows by the primary key's first column.  This reads
the exported ``MetaData`` and fails on any table that breaks the rule, but the reference
tables listed below.
"""

from __future__ import annotations

import pytest

pytest.importorskip("sqlalchemy", reason="the sqlalchemy extra is not installed")

from sqlalchemy import (
    Column,
    ForeignKeyConstraint,
    Index,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from armox_enterprise.adapters.sqlalchemy.tables import (
    REFERENCE_TABLES,
    make_tables,
    metadata,
)

#: The tables that span organisations, without the prefix, and why each may: a distributed
#: database keeps them as reference tables (a full copy on every node), which need no
#: distribution column.  They are small (a row per active member, a row per claimed domain)
#: and written only when someone joins or leaves, or a domain is claimed or given up.
EXCEPTIONS = {
    "active_members": "one active membership per user: unique by user, across organisations",
    "domain_owners": "one organisation per domain: unique by domain, across organisations",
}
#: The column that names the organisation, where it is not ``organisation_id``.
TENANT_COLUMN = {"organisations": "id"}


def tenant_column(table: Table, prefix: str) -> str:
    """The column of ``table`` that names its organisation."""
    return TENANT_COLUMN.get(table.name.removeprefix(prefix), "organisation_id")


def problems(md: MetaData, prefix: str, exceptions: set[str]) -> list[str]:
    """What keeps the tables of ``md`` from being distributed by organisation.

    Each table not in ``exceptions`` (names without ``prefix``) must lead its primary key, its
    unique constraints and unique indexes, and its foreign keys with its organisation column,
    and a foreign key must name the organisation column of the table it points to in that
    place (or a reference table).  A reference table must name no other table: Citus refuses
    a foreign key from a reference table to a distributed one.
    """
    found: list[str] = []
    reference = {prefix + name for name in exceptions}
    for table in md.sorted_tables:
        name = table.name
        if name in reference:
            found.extend(
                f"{name}: the reference table has a foreign key to {fk.referred_table.name}"
                for fk in table.foreign_key_constraints
            )
            continue
        tenant = tenant_column(table, prefix)
        keys: list[tuple[str, list[str]]] = [
            ("primary key", [c.name for c in table.primary_key.columns])
        ]
        keys += [
            (f"unique constraint {c.name}", [col.name for col in c.columns])
            for c in table.constraints
            if isinstance(c, UniqueConstraint)
        ]
        keys += [
            (f"unique index {i.name}", [col.name for col in i.columns])
            for i in table.indexes
            if i.unique
        ]
        for what, columns in keys:
            if not columns or columns[0] != tenant:
                found.append(f"{name}: {what} {columns} does not lead with {tenant}")
        for fk in table.foreign_key_constraints:
            local = [c.name for c in fk.columns]
            target = fk.referred_table
            if not local or local[0] != tenant:
                found.append(f"{name}: foreign key {fk.name} {local} does not lead with {tenant}")
                continue
            if target.name in reference:
                continue
            remote = fk.elements[0].column.name
            expected = tenant_column(target, prefix)
            if remote != expected:
                found.append(
                    f"{name}: foreign key {fk.name} pairs {tenant} with {target.name}.{remote}, "
                    f"not with its organisation column {expected}"
                )
    return found


def test_every_tenant_table_keys_by_organisation() -> None:
    """The exported MetaData: every key of every table but the reference tables leads with
    the organisation."""
    assert problems(metadata, "armox_", set(EXCEPTIONS)) == []


def test_the_rule_holds_under_another_prefix() -> None:
    """Tables made by ``make_tables`` under another prefix (and schema) keep it too."""
    tables = make_tables(prefix="hx_", schema="billing")
    assert problems(tables.metadata, "hx_", set(EXCEPTIONS)) == []


def test_the_exceptions_are_the_reference_tables_and_exist() -> None:
    """The exceptions here are exactly the tables the module names as reference tables, and
    each is a table of the MetaData: no table is left out of the rule unnoticed."""
    assert set(EXCEPTIONS) == set(REFERENCE_TABLES)
    assert {"armox_" + name for name in EXCEPTIONS} <= set(metadata.tables)


def test_every_organisation_table_names_the_organisation() -> None:
    """Every table but the reference tables points at the organisation (or is it), so a
    distributed database can co-locate it with the organisation's row."""
    reference = {"armox_" + name for name in EXCEPTIONS}
    for table in metadata.sorted_tables:
        if table.name in reference or table.name == "armox_organisations":
            continue
        targets = {fk.referred_table.name for fk in table.foreign_key_constraints}
        assert targets & {"armox_organisations", "armox_accounts"}, table.name


def test_a_table_keyed_by_id_alone_is_reported() -> None:
    """The check itself: a table keyed by ``id``, with a unique key and a foreign key that
    leave the organisation out, or pair it with the wrong column, is reported on each."""
    md = MetaData()
    Table("t_organisations", md, Column("id", String(36), primary_key=True))
    Table(
        "t_things",
        md,
        Column("id", String(36), primary_key=True),
        Column("organisation_id", String(36), nullable=False),
        Column("other_id", String(36), nullable=False),
        Column("code", String(36), nullable=False),
        UniqueConstraint("code", "organisation_id", name="uq_code"),
        ForeignKeyConstraint(["other_id"], ["t_organisations.id"], name="fk_other"),
        Index("uq_by_code", "code", unique=True),
    )
    Table(
        "t_parts",
        md,
        Column("organisation_id", String(36), primary_key=True),
        Column("thing_id", String(36), primary_key=True),
        ForeignKeyConstraint(["organisation_id"], ["t_things.id"], name="fk_wrong_pair"),
    )
    found = problems(md, "t_", set())
    assert len(found) == 5, found
    assert any("t_things: primary key ['id']" in p for p in found)
    assert any("uq_code" in p for p in found)
    assert any("uq_by_code" in p for p in found)
    assert any("fk_other" in p for p in found)
    assert any("fk_wrong_pair" in p and "t_things.id" in p for p in found)


def test_a_reference_table_pointing_at_an_organisation_table_is_reported() -> None:
    """A reference table with a foreign key to a distributed table is reported."""
    md = MetaData()
    Table("t_organisations", md, Column("id", String(36), primary_key=True))
    Table(
        "t_lookup",
        md,
        Column("key", String(36), primary_key=True),
        Column("organisation_id", String(36), nullable=False),
        ForeignKeyConstraint(["organisation_id"], ["t_organisations.id"], name="fk_lookup"),
    )
    assert problems(md, "t_", {"lookup"}) == [
        "t_lookup: the reference table has a foreign key to t_organisations"
    ]
