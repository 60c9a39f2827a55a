"""The connection of one unit of work, as every repository of the SQLAlchemy store uses it.

Statements run through :class:`BoundConnection`, so that a driver error becomes the library's
own in this one place (by :func:`~armox_enterprise.adapters.sqlalchemy.errors.translate`);
an integrity error becomes the refusal the caller names (a key already used, a domain already
claimed), because only the caller knows which rule the database enforced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult, Executable, Row
from sqlalchemy import exc as sa_exc

from armox_enterprise.adapters.sqlalchemy.errors import describe, translate
from armox_enterprise.adapters.sqlalchemy.tables import Tables
from armox_enterprise.exceptions import ArmoxError

__all__ = ["BoundConnection", "Repository"]


class BoundConnection:
    """A unit of work's connection and tables, and the ways repositories run statements.

    Args:
        connection: the connection of the unit of work's transaction (or SAVEPOINT).
        tables: the library's tables in use.
    """

    def __init__(self, connection: Connection, tables: Tables) -> None:
        self.connection = connection
        self.tables = tables

    @property
    def dialect(self) -> str:
        """The backend's dialect name (``sqlite``, ``postgresql``, ``mysql``, ``mariadb``)."""
        return self.connection.dialect.name

    def run(self, statement: Executable, params: Any = None, operation: str | None = None) -> Any:
        """Execute ``statement``; integrity errors pass through untranslated (see :meth:`write`).

        ``operation`` names what the statement does in an error's message ("the store could
        not <operation>"); by default its verb and table (:func:`.errors.describe`).

        Raises:
            StorageError: any other database failure (``TransientStorageError`` for one a
                retry may not meet).
        """
        try:
            return self.connection.execute(statement, params)
        except sa_exc.IntegrityError:
            raise
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, operation or describe(statement)) from exc

    def rows(self, statement: Executable) -> Sequence[Row[Any]]:
        """Return every row ``statement`` selects."""
        result: CursorResult[Any] = self.run(statement)
        return result.all()

    def one(self, statement: Executable) -> Row[Any] | None:
        """Return the first row ``statement`` selects, or ``None``."""
        result: CursorResult[Any] = self.run(statement)
        return result.first()

    def write(
        self,
        statement: Executable,
        params: Any = None,
        error: ArmoxError | None = None,
        operation: str | None = None,
    ) -> int:
        """Execute a write and return how many rows it matched.

        Raises:
            ArmoxError: ``error`` when the database refused the write by a constraint (a
                ``StorageError`` naming ``operation`` when no ``error`` is given).
        """
        try:
            result: CursorResult[Any] = self.run(statement, params, operation)
        except sa_exc.IntegrityError as exc:
            raise (error or translate(exc, operation or describe(statement))) from exc
        return result.rowcount


class Repository:
    """The base of the store's repositories: one unit of work's connection and its tables."""

    def __init__(self, db: BoundConnection) -> None:
        self._db = db
        self._t = db.tables
