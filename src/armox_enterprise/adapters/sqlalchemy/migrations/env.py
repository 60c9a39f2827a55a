"""Alembic environment for running the library's revisions on their own.

Used by :func:`armox_enterprise.adapters.sqlalchemy.migrations.upgrade`; the engine or
connection arrives in ``config.attributes["bind"]`` (or the URL in ``sqlalchemy.url``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine, create_engine

from armox_enterprise.adapters.sqlalchemy.tables import make_tables

config = context.config
prefix = config.attributes.get("armox_enterprise_prefix") or "armox_"
schema = config.attributes.get("armox_enterprise_schema")
target_metadata = make_tables(prefix=prefix, schema=schema).metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=f"{prefix}alembic_version",
        version_table_schema=schema,
    )
    with context.begin_transaction():
        context.run_migrations()


bind = config.attributes.get("bind")
if isinstance(bind, Connection):
    _run(bind)
else:
    engine = (
        bind
        if isinstance(bind, Engine)
        else create_engine(config.get_main_option("sqlalchemy.url") or "")
    )
    with engine.connect() as connection:
        _run(connection)
        connection.commit()
