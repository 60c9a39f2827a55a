"""Opening the store a command runs on: the in-memory store or an SQL database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.cli.errors import ConfigurationError
from armox_enterprise.ports import Store

if TYPE_CHECKING:
    from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "MEMORY_URL",
    "SchemaMode",
    "close",
    "masked",
    "open_store",
]

#: An SQLite file in the current directory: the embedded default.
DEFAULT_DATABASE_URL = "sqlite:///armox-enterprise.sqlite3"
#: The special URL that selects the in-memory store.
MEMORY_URL = "memory://"
#: Read when ``--database-url`` is not given, so a password need not appear on a command line.
DATABASE_URL_ENV = "ARMOX_ENTERPRISE_DATABASE_URL"

#: What :func:`open_store` does about the library's tables in an SQL database.
SchemaMode = Literal["create", "require", "connect"]


def open_store(url: str, *, schema: SchemaMode = "create") -> Store:
    """Return the store named by ``url``: ``memory://`` or an SQLAlchemy database URL.

    Args:
        url: ``memory://`` or an SQLAlchemy URL.
        schema: for an SQL database, ``"create"`` creates the library's tables that do not
            exist yet (what the demo does), ``"require"`` checks that they exist (what the
            operations commands do: ``migrate`` makes them), and ``"connect"`` only checks
            that the database answers.

    Raises:
        ConfigurationError: the ``sqlalchemy`` extra (or the database driver) is not
            installed, the database cannot be opened, or it has no tables where they are
            required.
    """
    if url == MEMORY_URL:
        return MemoryStore()
    try:
        from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
    except ImportError as exc:
        raise ConfigurationError(
            f"the SQL store needs the 'sqlalchemy' extra ({exc}); install it with "
            "pip install '.[sqlalchemy]' from a checkout of armox-enterprise, or pass "
            "--database-url memory://"
        ) from exc
    try:
        store = SqlAlchemyStore.from_url(url)
    except ImportError as exc:
        raise ConfigurationError(
            f"the database driver for {masked(url)} is not installed ({exc}); "
            "the 'postgresql' and 'mysql' extras bring psycopg and PyMySQL"
        ) from exc
    except Exception as exc:  # a URL we cannot use is a configuration error, whatever the cause
        raise ConfigurationError(f"cannot open the database {masked(url)}: {exc}") from exc
    try:
        if schema == "create":
            store.create_schema()
        else:
            _check_database(store, url, require_tables=schema == "require")
    except ConfigurationError:
        close(store)
        raise
    except Exception as exc:
        close(store)
        raise ConfigurationError(f"cannot open the database {masked(url)}: {exc}") from exc
    return store


def _check_database(store: SqlAlchemyStore, url: str, *, require_tables: bool) -> None:
    """Check that the database answers and, if asked, that it holds the library's tables."""
    from sqlalchemy import inspect

    engine = store.engine
    if not require_tables:
        with engine.connect():
            return
    path = engine.url.database
    if engine.dialect.name == "sqlite" and path and path != ":memory:" and not Path(path).exists():
        # Connecting would create an empty file; say what to run instead.
        raise ConfigurationError(
            f"there is no database file {path}: create it with 'armox-enterprise migrate' "
            "(or pass --database-url)"
        )
    table = store.tables.organisations
    if not inspect(engine).has_table(table.name, schema=table.schema):
        raise ConfigurationError(
            f"the database {masked(url)} has no armox-enterprise tables yet: "
            "run 'armox-enterprise migrate' first"
        )


def masked(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def close(store: Store) -> None:
    """Close the SQL store's pooled connections; the memory store holds none."""
    engine = getattr(store, "engine", None)
    if engine is not None:
        engine.dispose()
