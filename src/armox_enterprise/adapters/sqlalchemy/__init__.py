"""The SQLAlchemy adapter (install the ``sqlalchemy`` extra: ``pip install '.[sqlalchemy]'``).

``SqlAlchemyStore`` keeps everything in the library's own tables, defined as SQLAlchemy Core on
an exported ``MetaData``; SQLite, PostgreSQL (psycopg 3) and MariaDB/MySQL are tested.
"""

from __future__ import annotations

try:
    import sqlalchemy  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in the no-extras nox session
    raise ImportError(
        "armox_enterprise.adapters.sqlalchemy needs SQLAlchemy: "
        "install the extra: `pip install '.[sqlalchemy]'` from a checkout of armox-enterprise"
    ) from exc

from armox_enterprise.adapters.sqlalchemy.errors import is_transient, translate
from armox_enterprise.adapters.sqlalchemy.store import (
    SqlAlchemyStore,
    SqlAlchemyUnitOfWork,
    configure_sqlite,
)
from armox_enterprise.adapters.sqlalchemy.tables import (
    NAMING_CONVENTION,
    Tables,
    make_tables,
    metadata,
    tables,
)

__all__ = [
    "NAMING_CONVENTION",
    "SqlAlchemyStore",
    "SqlAlchemyUnitOfWork",
    "Tables",
    "configure_sqlite",
    "is_transient",
    "make_tables",
    "metadata",
    "tables",
    "translate",
]
