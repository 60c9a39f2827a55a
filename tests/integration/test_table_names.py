"""The tables can take another prefix, or live in their own schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import MetaData, inspect, text

from armox_enterprise.adapters.sqlalchemy import NAMING_CONVENTION, SqlAlchemyStore, make_tables
from armox_enterprise.adapters.sqlalchemy.migrations import downgrade, upgrade
from armox_enterprise.testing import enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


def test_a_host_metadata_with_another_prefix_works_end_to_end(backend: Backend) -> None:
    """Tables built on a host's MetaData with prefix ``hx_`` serve the whole story."""
    host = MetaData(naming_convention=NAMING_CONVENTION)
    tables = make_tables(host, prefix="hx_")
    assert {t.name for t in host.sorted_tables} == {
        t.name.replace("armox_", "hx_") for t in make_tables().metadata.sorted_tables
    }
    host.create_all(backend.engine)
    try:
        store = SqlAlchemyStore(backend.engine, tables=tables)
        scenario = enterprise(store=store, members=1, allocate=50)
        member = scenario.members[0]
        scenario.service.spend(member, scenario.org_id, 20, generation_id="g1")
        scenario.clock.advance(days=40)
        profile = scenario.service.profile(member)
        assert profile.credits is not None
        assert profile.credits.remaining == 0  # expired at the period's end
        assert scenario.service.reconcile(scenario.org_id) == []
        names = set(inspect(backend.engine).get_table_names())
        assert "hx_transfers" in names
    finally:
        host.drop_all(backend.engine)


def test_migrations_honour_the_prefix(backend: Backend) -> None:
    """The shipped revisions create and drop tables under the configured prefix."""
    upgrade(backend.engine, prefix="mg_")
    try:
        names = set(inspect(backend.engine).get_table_names())
        assert {"mg_organisations", "mg_transfers", "mg_alembic_version"} <= names
    finally:
        downgrade(backend.engine, prefix="mg_")
        with backend.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS mg_alembic_version"))
    assert not [n for n in inspect(backend.engine).get_table_names() if n.startswith("mg_")]


@pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)
def test_tables_can_live_in_their_own_postgresql_schema(backend: Backend) -> None:
    """With ``schema=...`` every table, key and foreign key stays inside that schema."""
    with backend.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS armox_schema_test CASCADE"))
        connection.execute(text("CREATE SCHEMA armox_schema_test"))
    try:
        tables = make_tables(schema="armox_schema_test")
        tables.metadata.create_all(backend.engine)
        store = SqlAlchemyStore(backend.engine, tables=tables)
        scenario = enterprise(store=store, members=1, allocate=50)
        scenario.service.spend(scenario.members[0], scenario.org_id, 5, generation_id="g1")
        assert scenario.service.reconcile(scenario.org_id) == []
        assert "armox_transfers" in inspect(backend.engine).get_table_names(
            schema="armox_schema_test"
        )
    finally:
        with backend.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA armox_schema_test CASCADE"))
