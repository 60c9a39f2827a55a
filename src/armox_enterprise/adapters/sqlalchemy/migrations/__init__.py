"""Alembic migrations for the library's tables, shipped in the package.

Standalone (the library's tables in a database of their own, or beside a host that does not use
Alembic)::

    from armox_enterprise.adapters.sqlalchemy.migrations import upgrade

    upgrade(engine)  # to the newest revision

Inside a host's Alembic environment, add :data:`VERSIONS` to ``version_locations`` and the
library's ``metadata`` to ``target_metadata``; the revisions carry the branch label
``armox_enterprise`` (``alembic upgrade armox_enterprise@head``).  The docs page "Alembic" shows
the recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine

__all__ = [
    "BRANCH",
    "SCRIPT_LOCATION",
    "VERSIONS",
    "alembic_config",
    "downgrade",
    "names_for",
    "upgrade",
]

#: The folder with Alembic's ``env.py`` for standalone use.
SCRIPT_LOCATION = str(Path(__file__).parent)
#: The folder of the library's revisions; add it to a host's ``version_locations``.
VERSIONS = str(Path(__file__).parent / "versions")
#: The branch label of the library's revisions.
BRANCH = "armox_enterprise"

_PREFIX = "armox_enterprise_prefix"
_SCHEMA = "armox_enterprise_schema"


def names_for(context: MigrationContext) -> tuple[str, str | None, str]:
    """Return ``(prefix, schema, reference_prefix)`` for the revisions run by ``context``.

    They come from the Alembic config's attributes or main options ``armox_enterprise_prefix``
    and ``armox_enterprise_schema`` (defaults: ``armox_`` and none); ``reference_prefix`` is what
    foreign keys put before a table name (the schema-qualified prefix).
    """
    config: Config | None = getattr(context, "config", None)
    if config is None:
        config = context.opts.get("armox_config")
    prefix = "armox_"
    schema: str | None = None
    if config is not None:
        prefix = config.attributes.get(_PREFIX) or config.get_main_option(_PREFIX) or prefix
        schema = config.attributes.get(_SCHEMA) or config.get_main_option(_SCHEMA) or None
    reference = f"{schema}.{prefix}" if schema else prefix
    return prefix, schema, reference


def alembic_config(
    bind: Engine | Connection, *, prefix: str = "armox_", schema: str | None = None
) -> Config:
    """Return an Alembic ``Config`` that runs the library's revisions on ``bind``.

    The version table is ``<prefix>alembic_version``, apart from any host's own.
    """
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    config.attributes["bind"] = bind
    config.attributes[_PREFIX] = prefix
    config.attributes[_SCHEMA] = schema
    return config


def upgrade(bind: Engine | Connection, revision: str = "heads", **names: Any) -> None:
    """Upgrade the library's tables on ``bind`` to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(bind, **names), revision)


def downgrade(bind: Engine | Connection, revision: str = "base", **names: Any) -> None:
    """Downgrade the library's tables on ``bind`` to ``revision`` (default: none left)."""
    command.downgrade(alembic_config(bind, **names), revision)
