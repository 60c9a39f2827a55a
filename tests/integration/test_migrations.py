"""The shipped Alembic migrations build exactly the tables of the exported ``MetaData``, with
the triggers ``create_all`` installs, and each revision downgrades to the one before."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, exc, insert, inspect, select, text

from armox_enterprise.adapters.sqlalchemy import Tables, make_tables, metadata
from armox_enterprise.adapters.sqlalchemy import tables as default_tables
from armox_enterprise.adapters.sqlalchemy.migrations import alembic_config, downgrade, upgrade

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

FIRST = "ae0001"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def head(engine: Engine) -> str:
    """The newest revision of the library's branch."""
    found = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert found is not None
    return found


def differences(engine: Engine) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write to bring the database to the
    exported MetaData (the library's tables only: the shared database may hold others)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table": "armox_alembic_version",
                "include_name": lambda name, kind, _parent: (
                    kind != "table" or str(name).startswith("armox_")
                ),
            },
        )
        return list(compare_metadata(context, metadata))


def guards(engine: Engine, *, schema: str | None = None, prefix: str = "armox_") -> set[str]:
    """The triggers (and, on PostgreSQL, trigger functions) named ``<prefix>...`` in the
    run's schema or database (or in ``schema``)."""
    name = engine.dialect.name
    if name == "sqlite":
        queries = ["SELECT name FROM sqlite_master WHERE type = 'trigger'"]
    elif name == "postgresql":
        where = "n.nspname = " + (f"'{schema}'" if schema else "current_schema()")
        queries = [
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {where}",
            "SELECT 'function ' || p.proname FROM pg_proc p "
            f"JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {where}",
        ]
    else:
        queries = [
            "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
        ]
    with engine.connect() as connection:
        found = {row[0] for query in queries for row in connection.execute(text(query))}
    return {n for n in found if n.removeprefix("function ").startswith(prefix)}


def armox_tables(engine: Engine) -> set[str]:
    """The library's tables in the run's database."""
    return {t for t in inspect(engine).get_table_names() if t.startswith("armox_")}


def add_ledger(connection: Connection, tables: Tables, org_id: str = "org-1") -> None:
    """Write an organisation with a grant and a top-up in period 0, row by row (no store:
    the store reads columns an older revision may not have)."""
    connection.execute(
        insert(tables.organisations).values(
            id=org_id,
            name="Acme",
            monthly_allowance=1_000,
            cycle_anchor=NOW,
            created_at=NOW,
            current_period_index=0,
            current_period_end=NOW.replace(month=2),
            join_mode="invite",
            seat_limit=None,
            pool_carry_over_cap=0,
            member_remainder="expire",
            max_open_requests=1,
            allow_pool_spend=False,
            hold_lifetime_us=3_600_000_000,
        )
    )
    for code, guarded in (("grant", False), ("pool", True)):
        connection.execute(
            insert(tables.accounts).values(
                organisation_id=org_id,
                code=code,
                guarded=guarded,
                credits_posted=1_500 if code == "pool" else 0,
                debits_posted=1_500 if code == "grant" else 0,
                debits_pending=0,
                closed=False,
                spent=0,
                spend_period=0,
                spend_total=0,
            )
        )
    for transfer_id, kind, amount in (("t-grant", "grant", 1_000), ("t-top-up", "top_up", 500)):
        add_transfer(connection, tables, transfer_id, kind, amount, org_id=org_id)


def add_transfer(
    connection: Connection,
    tables: Tables,
    transfer_id: str,
    kind: str,
    amount: int,
    *,
    org_id: str = "org-1",
    period: int = 0,
) -> None:
    """Insert one transfer from the grant account to the pool."""
    connection.execute(
        insert(tables.transfers).values(
            id=transfer_id,
            organisation_id=org_id,
            kind=kind,
            debit_account="grant",
            credit_account="pool",
            amount=amount,
            period_index=period,
            actor="system",
            created_at=NOW,
        )
    )


def _restore(engine: Engine) -> None:
    """Put back what the other tests expect: the tables of ``create_all``, no version table."""
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS armox_alembic_version"))
    metadata.drop_all(engine)
    metadata.create_all(engine)


def test_upgrade_to_head_matches_the_metadata_and_downgrade_removes_everything(
    backend: Backend,
) -> None:
    """Upgrading an empty database gives the MetaData's tables exactly, and the triggers that
    ``create_all`` installs; downgrade empties it."""
    engine = backend.engine
    installed = guards(engine)
    assert installed, "create_all installed no triggers"
    metadata.drop_all(engine)
    try:
        assert not armox_tables(engine)
        assert guards(engine) == set()  # dropping the tables leaves no trigger function behind
        upgrade(engine)
        assert differences(engine) == []
        assert {t.name for t in metadata.sorted_tables} <= armox_tables(engine)
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM armox_alembic_version"))
            assert version.scalar_one() == head(engine)
        assert guards(engine) == installed
        downgrade(engine)
        assert armox_tables(engine) == {"armox_alembic_version"}
        assert guards(engine) == set()
    finally:
        _restore(engine)


def test_each_revision_upgrades_a_ledger_in_place_and_downgrades_to_the_one_before(
    backend: Backend,
) -> None:
    """A ledger written at ``ae0001`` gains the grant column and the triggers on upgrade,
    keeps its rows, and loses both again on downgrade to ``ae0001``."""
    engine = backend.engine
    metadata.drop_all(engine)
    try:
        upgrade(engine, FIRST)
        assert guards(engine) == set()
        # ae0001 is the MetaData but for the grant column and its index.
        changes = {(d[0], d[-1].name) for d in differences(engine)}
        assert changes == {
            ("add_column", "grant_period"),
            ("add_index", "uq_armox_transfers_grant_period"),
        }
        with engine.begin() as connection:
            add_ledger(connection, default_tables)
        upgrade(engine)
        assert differences(engine) == []
        assert guards(engine)
        transfers = default_tables.transfers
        with engine.connect() as connection:
            rows = connection.execute(select(transfers.c.id, transfers.c.grant_period))
            assert dict(rows.all()) == {"t-grant": 0, "t-top-up": None}
        with pytest.raises(exc.IntegrityError), engine.begin() as connection:
            add_transfer(connection, default_tables, "t-grant-2", "grant", 1)
        with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(transfers.delete())

        downgrade(engine, FIRST)
        assert guards(engine) == set()
        columns = {c["name"] for c in inspect(engine).get_columns("armox_transfers")}
        assert "grant_period" not in columns
        with engine.begin() as connection:
            # ae0001 had neither the constraint nor the triggers.
            connection.execute(
                text(
                    "INSERT INTO armox_transfers (id, organisation_id, kind, debit_account, "
                    "credit_account, amount, period_index, actor, created_at) "
                    "SELECT 't-grant-2', organisation_id, kind, debit_account, credit_account, "
                    "amount, period_index, actor, created_at FROM armox_transfers "
                    "WHERE id = 't-grant'"
                )
            )
            connection.execute(text("DELETE FROM armox_transfers WHERE id = 't-grant-2'"))
            count = connection.execute(text("SELECT count(*) FROM armox_transfers"))
            assert count.scalar_one() == 2
        downgrade(engine)
        assert armox_tables(engine) == {"armox_alembic_version"}
    finally:
        _restore(engine)


SCHEMA = "armox_migrated_schema"


@pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)
def test_migrations_put_the_triggers_in_the_tables_schema_under_their_prefix(
    backend: Backend,
) -> None:
    """With ``schema=`` and ``prefix=``, the trigger functions live in that schema, carry the
    prefix, guard those tables, and go with the downgrade."""
    engine = backend.engine
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    names = {"prefix": "sx_", "schema": SCHEMA}
    try:
        upgrade(engine, **names)
        found = guards(engine, schema=SCHEMA, prefix="sx_")
        assert "function sx_transfers_append_only" in found
        assert "sx_credit_requests_decided" in found
        assert not guards(engine, prefix="sx_")  # nothing in the run's own schema
        tables = make_tables(prefix="sx_", schema=SCHEMA)
        with engine.begin() as connection:
            add_ledger(connection, tables)
        with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(tables.transfers.update().values(amount=1))
        with pytest.raises(exc.IntegrityError), engine.begin() as connection:
            add_transfer(connection, tables, "t-grant-2", "grant", 1)
        downgrade(engine, **names)
        assert guards(engine, schema=SCHEMA, prefix="sx_") == set()
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
