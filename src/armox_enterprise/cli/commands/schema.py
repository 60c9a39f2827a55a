"""The schema commands (``migrate``, ``create-schema``) and ``demo``, which makes its own."""

from __future__ import annotations

import contextlib

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_OK, ConfigurationError
from armox_enterprise.cli.store import masked
from armox_enterprise.exceptions import StorageError

__all__ = ["create_schema", "demo", "migrate"]

#: The Alembic version table of the library's default tables (prefix ``armox_``).
VERSION_TABLE = "armox_alembic_version"


def demo(context: Context) -> int:
    """``demo``: tell the story on the command's store."""
    # The demo reports reconciliation problems on sys.stderr, which is the context's here.
    with contextlib.redirect_stderr(context.err):
        return context.demo(context.store, context.out, database_url=context.url)


def create_schema(context: Context) -> int:
    """``create-schema``: create the library's tables that do not exist yet."""
    create = getattr(context.store, "create_schema", None)
    if create is None:
        raise ConfigurationError(
            "the in-memory store has no tables to create: pass an SQL --database-url"
        )
    create()
    where = masked(context.url)
    context.emit(
        {"database_url": where, "created": True},
        [
            f"Created the armox-enterprise tables missing from {where}.",
            "In production prefer 'migrate': migrations are how later versions change the tables.",
        ],
    )
    return EXIT_OK


def migrate(context: Context) -> int:
    """``migrate``: bring the tables to the newest revision, or ``--stamp`` unrecorded ones."""
    engine = getattr(context.store, "engine", None)
    if engine is None:
        raise ConfigurationError(
            "the in-memory store has no tables to migrate: pass an SQL --database-url"
        )
    try:
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.util import CommandError
        from sqlalchemy import exc as sa_exc
        from sqlalchemy import inspect

        from armox_enterprise.adapters.sqlalchemy import migrations
    except ImportError as exc:
        raise ConfigurationError(
            f"migrations need the 'sqlalchemy' extra, with Alembic ({exc}); install it with "
            "pip install '.[sqlalchemy]' from a checkout of armox-enterprise"
        ) from exc

    def revision() -> str | None:
        with engine.connect() as connection:
            options = {"version_table": VERSION_TABLE}
            heads = MigrationContext.configure(connection, opts=options).get_current_heads()
        return ",".join(heads) or None

    where = masked(context.url)
    try:
        before = revision()
        table = context.store.tables.organisations  # type: ignore[attr-defined]
        unrecorded = before is None and inspect(engine).has_table(table.name, schema=table.schema)
        if unrecorded and not context.args.stamp:
            raise StorageError(
                f"the armox-enterprise tables in {where} exist but no migration was recorded "
                "(create-schema or the demo made them); if this version of the library made "
                "them, run 'armox-enterprise migrate --stamp' to record them as up to date"
            )
        if unrecorded:
            command.stamp(migrations.alembic_config(engine), "heads")
        else:
            migrations.upgrade(engine)
        after = revision()
    except (sa_exc.SQLAlchemyError, CommandError) as exc:
        raise StorageError(f"the migration of {where} failed: {exc}") from exc
    context.emit(
        {"database_url": where, "from": before, "to": after, "stamped": unrecorded},
        [_migration_line(where, before, after, stamped=unrecorded)],
    )
    return EXIT_OK


def _migration_line(where: str, before: str | None, after: str | None, *, stamped: bool) -> str:
    """Say what ``migrate`` did, from the revisions before and after it."""
    if stamped:
        return f"Recorded the armox-enterprise tables in {where} as at revision {after}."
    if before is None:
        return f"Created the armox-enterprise tables in {where} at revision {after}."
    if before == after:
        return f"The armox-enterprise tables in {where} are up to date (revision {after})."
    return f"Migrated the armox-enterprise tables in {where} from {before} to {after}."
