"""The shipped Alembic migrations build exactly the tables of the exported ``MetaData``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from armox_enterprise.adapters.sqlalchemy import metadata
from armox_enterprise.adapters.sqlalchemy.migrations import downgrade, upgrade

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


def test_upgrade_to_head_matches_the_metadata_and_downgrade_removes_everything(
    backend: Backend,
) -> None:
    """Upgrading an empty database gives the MetaData's tables exactly; downgrade empties it."""
    engine = backend.engine
    metadata.drop_all(engine)
    try:
        assert not [t for t in inspect(engine).get_table_names() if t.startswith("armox_")]
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "version_table": "armox_alembic_version",
                    # The shared test database may hold other tables: compare the library's.
                    "include_name": lambda name, kind, _parent: (
                        kind != "table" or str(name).startswith("armox_")
                    ),
                },
            )
            differences = compare_metadata(context, metadata)
        assert differences == []
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= tables
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM armox_alembic_version"))
            assert version.scalar_one() == "ae0001"
        downgrade(engine)
        left = {t for t in inspect(engine).get_table_names() if t.startswith("armox_")}
        assert left == {"armox_alembic_version"}
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS armox_alembic_version"))
        metadata.drop_all(engine)
        metadata.create_all(engine)
