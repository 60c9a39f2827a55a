"""The one place where driver and SQLAlchemy errors become the library's own."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from armox_enterprise.exceptions import StorageError, TransientStorageError

__all__ = ["is_transient", "translate"]

# SQLSTATE classes and MySQL/MariaDB error numbers that mean "try the transaction again".
_TRANSIENT_SQLSTATES = {
    "40001",
    "40P01",
    "55P03",
    "57P01",
    "57P02",
    "57P03",
    "08000",
    "08003",
    "08006",
    "08001",
    "08004",
}
_TRANSIENT_MYSQL = {1205, 1213, 2006, 2013, 1927, 4031}
_TRANSIENT_TEXT = (
    "database is locked",
    "deadlock",
    "could not serialize",
    "serialization failure",
    "server closed the connection",
    "terminating connection",
)


def _sqlstate(orig: BaseException | None) -> str | None:
    for attr in ("sqlstate", "pgcode"):
        value = getattr(orig, attr, None)
        if isinstance(value, str):
            return value
    return None


def is_transient(error: BaseException) -> bool:
    """Return whether ``error`` is a serialization failure, deadlock, lock timeout or a lost
    connection: a failure that a fresh attempt of the same transaction may not meet."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    orig = getattr(error, "orig", None)
    if _sqlstate(orig) in _TRANSIENT_SQLSTATES:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _TRANSIENT_MYSQL:
        return True
    message = str(orig if orig is not None else error).lower()
    return any(text in message for text in _TRANSIENT_TEXT)


def translate(error: sa_exc.SQLAlchemyError) -> StorageError:
    """Return the library error for a SQLAlchemy error (raise it ``from`` the original)."""
    if is_transient(error):
        return TransientStorageError(f"transient database failure, retry: {error}")
    return StorageError(f"database error: {error}")
