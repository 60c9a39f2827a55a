"""The one place where driver and SQLAlchemy errors become the library's own.

A translated error says which operation failed and what kind of failure the database reported
(a unique, foreign-key or check violation, a serialization failure, a deadlock, a lost
connection, a missing table ...), and nothing else.  SQLAlchemy's and the drivers' own messages
carry the statement's text and its bound parameters (user ids, notes, domains, keys), so they
never reach the library's message: the driver's error stays reachable as ``__cause__``, and its
SQLSTATE, MySQL error number or SQLite error name is what the kind is read from.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import dml, selectable
from sqlalchemy.sql.ddl import ExecutableDDLElement
from sqlalchemy.sql.util import find_tables

from armox_enterprise.exceptions import StorageError, TransientStorageError

__all__ = [
    "Failure",
    "classify",
    "constraint",
    "describe",
    "is_transient",
    "message",
    "translate",
]

_MIGRATE = (
    "run the migrations ('armox-enterprise migrate', or 'alembic upgrade armox_enterprise@head')"
)


class Failure(enum.Enum):
    """The kinds of database failure a translated error names; the value is the wording."""

    UNIQUE = "the database refused it (unique violation)"
    FOREIGN_KEY = "the database refused it (foreign-key violation)"
    CHECK = "the database refused it (check violation)"
    NOT_NULL = "the database refused it (not-null violation)"
    TRIGGER = "the database refused it (a trigger raised an error)"
    INTEGRITY = "the database refused it (integrity violation)"
    TOO_LONG = "the database refused a value too long for its column"
    OUT_OF_RANGE = "the database refused a number out of its column's range"
    SERIALIZATION = "serialization failure: a concurrent transaction changed the same rows"
    DEADLOCK = "deadlock with a concurrent transaction"
    LOCK_TIMEOUT = "a lock wait timed out"
    BUSY = "the database is locked by another connection"
    CONNECTION_LOST = "the connection to the database was lost"
    MISSING_TABLE = (
        f"a table it needs does not exist: {_MIGRATE}, and check the tables' prefix and schema"
    )
    MISSING_COLUMN = f"a column it needs does not exist (the tables are older): {_MIGRATE}"
    PERMISSION = "the database user lacks a privilege it needs"
    FAILED_TRANSACTION = "an earlier statement of the transaction had already failed"
    OTHER = "the database failed"

    @property
    def transient(self) -> bool:
        """Whether a fresh attempt of the same transaction may not meet this failure."""
        return self in _TRANSIENT


_TRANSIENT = frozenset(
    {
        Failure.SERIALIZATION,
        Failure.DEADLOCK,
        Failure.LOCK_TIMEOUT,
        Failure.BUSY,
        Failure.CONNECTION_LOST,
    }
)

# PostgreSQL (and the engines that speak its protocol) report a SQLSTATE.
_BY_SQLSTATE = {
    "23505": Failure.UNIQUE,
    "23503": Failure.FOREIGN_KEY,
    "23514": Failure.CHECK,
    "23502": Failure.NOT_NULL,
    "23P01": Failure.INTEGRITY,
    "23000": Failure.INTEGRITY,
    "P0001": Failure.TRIGGER,
    "45000": Failure.TRIGGER,
    "22001": Failure.TOO_LONG,
    "22003": Failure.OUT_OF_RANGE,
    "40001": Failure.SERIALIZATION,
    "40P01": Failure.DEADLOCK,
    "55P03": Failure.LOCK_TIMEOUT,
    "57P01": Failure.CONNECTION_LOST,
    "57P02": Failure.CONNECTION_LOST,
    "57P03": Failure.CONNECTION_LOST,
    "08000": Failure.CONNECTION_LOST,
    "08001": Failure.CONNECTION_LOST,
    "08003": Failure.CONNECTION_LOST,
    "08004": Failure.CONNECTION_LOST,
    "08006": Failure.CONNECTION_LOST,
    "42P01": Failure.MISSING_TABLE,
    "3F000": Failure.MISSING_TABLE,
    "42703": Failure.MISSING_COLUMN,
    "42501": Failure.PERMISSION,
    "25P02": Failure.FAILED_TRANSACTION,
}

# MySQL and MariaDB report an error number (the SQLSTATE they add is often the generic 23000).
_BY_MYSQL_ERRNO = {
    1062: Failure.UNIQUE,
    1586: Failure.UNIQUE,
    1022: Failure.UNIQUE,
    1451: Failure.FOREIGN_KEY,
    1452: Failure.FOREIGN_KEY,
    1216: Failure.FOREIGN_KEY,
    1217: Failure.FOREIGN_KEY,
    3819: Failure.CHECK,
    4025: Failure.CHECK,
    1048: Failure.NOT_NULL,
    1364: Failure.NOT_NULL,
    1644: Failure.TRIGGER,
    1406: Failure.TOO_LONG,
    1264: Failure.OUT_OF_RANGE,
    1690: Failure.OUT_OF_RANGE,
    1213: Failure.DEADLOCK,
    1205: Failure.LOCK_TIMEOUT,
    2006: Failure.CONNECTION_LOST,
    2013: Failure.CONNECTION_LOST,
    1927: Failure.CONNECTION_LOST,
    4031: Failure.CONNECTION_LOST,
    1146: Failure.MISSING_TABLE,
    1049: Failure.MISSING_TABLE,
    1054: Failure.MISSING_COLUMN,
    1142: Failure.PERMISSION,
    1044: Failure.PERMISSION,
}

# SQLite names its (extended) result codes.
_BY_SQLITE_NAME = {
    "SQLITE_CONSTRAINT_UNIQUE": Failure.UNIQUE,
    "SQLITE_CONSTRAINT_PRIMARYKEY": Failure.UNIQUE,
    "SQLITE_CONSTRAINT_FOREIGNKEY": Failure.FOREIGN_KEY,
    "SQLITE_CONSTRAINT_CHECK": Failure.CHECK,
    "SQLITE_CONSTRAINT_NOTNULL": Failure.NOT_NULL,
    "SQLITE_CONSTRAINT_TRIGGER": Failure.TRIGGER,
    "SQLITE_TOOBIG": Failure.TOO_LONG,
    "SQLITE_BUSY": Failure.BUSY,
    "SQLITE_BUSY_TIMEOUT": Failure.BUSY,
    "SQLITE_BUSY_RECOVERY": Failure.BUSY,
    "SQLITE_BUSY_SNAPSHOT": Failure.SERIALIZATION,
    "SQLITE_LOCKED": Failure.BUSY,
    "SQLITE_LOCKED_SHAREDCACHE": Failure.BUSY,
}

# The last resort, for a driver that gives no code: words of its message (read, never shown).
# SQLite's generic SQLITE_ERROR is told apart by how its message begins; another driver's
# message is searched only when it carries no code at all (a connection library's own error).
_SQLITE_STARTS = (
    ("database is locked", Failure.BUSY),
    ("database table is locked", Failure.BUSY),
    ("no such table", Failure.MISSING_TABLE),
    ("no such column", Failure.MISSING_COLUMN),
    ("unique constraint failed", Failure.UNIQUE),
    ("foreign key constraint failed", Failure.FOREIGN_KEY),
    ("check constraint failed", Failure.CHECK),
    ("not null constraint failed", Failure.NOT_NULL),
    ("cannot operate on a closed database", Failure.CONNECTION_LOST),
)
_UNCODED_WORDS = (
    ("deadlock", Failure.DEADLOCK),
    ("could not serialize", Failure.SERIALIZATION),
    ("serialization failure", Failure.SERIALIZATION),
    ("server closed the connection", Failure.CONNECTION_LOST),
    ("terminating connection", Failure.CONNECTION_LOST),
    ("connection is closed", Failure.CONNECTION_LOST),
    ("lost connection", Failure.CONNECTION_LOST),
)


def _sqlstate(orig: object) -> str | None:
    for attr in ("sqlstate", "pgcode"):
        value = getattr(orig, attr, None)
        if isinstance(value, str):
            return value
    return None


def _errno(orig: object) -> int | None:
    args = getattr(orig, "args", ())
    if isinstance(args, tuple) and args and type(args[0]) is int:
        return args[0]
    return None


def _coded(orig: BaseException) -> Failure | None:
    """The failure the driver's own code names: a MySQL error number (more precise than the
    SQLSTATE MySQL adds), a SQLSTATE, or a SQLite error name."""
    errno = _errno(orig)
    if errno is not None and errno in _BY_MYSQL_ERRNO:
        return _BY_MYSQL_ERRNO[errno]
    state = _sqlstate(orig)
    if state is not None and state in _BY_SQLSTATE:
        return _BY_SQLSTATE[state]
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str):
        return _BY_SQLITE_NAME.get(name)
    return None


def _driver_error(error: BaseException) -> BaseException | None:
    """The driver's own error in ``error``; ``None`` for an error SQLAlchemy raised itself
    (whose wrapped exception, if any, is Python's, not the database's)."""
    if isinstance(error, sa_exc.DBAPIError):
        return error.orig if isinstance(error.orig, BaseException) else None
    if isinstance(error, sa_exc.SQLAlchemyError):
        return None
    return error


def _by_words(orig: BaseException) -> Failure | None:
    if _errno(orig) is not None or _sqlstate(orig) is not None:
        # A code the tables do not know: the message's words may be the values'.
        return None
    message = str(orig).lower()
    if type(orig).__module__.startswith("sqlite3"):
        if "has no column named" in message.split(":", 1)[0]:
            return Failure.MISSING_COLUMN
        return next((f for start, f in _SQLITE_STARTS if message.startswith(start)), None)
    return next((f for words, f in _UNCODED_WORDS if words in message), None)


def classify(error: BaseException) -> Failure:
    """Return the kind of failure ``error`` (a SQLAlchemy error, or a driver's) reports.

    The kind comes from the driver's code (a MySQL error number, a SQLSTATE, an SQLite error
    name), from SQLAlchemy's finding that the connection was lost, and only failing those
    from the words of a message that carries no code.
    """
    orig = _driver_error(error)
    coded = None if orig is None else _coded(orig)
    if coded is not None:
        return coded
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return Failure.CONNECTION_LOST
    worded = None if orig is None else _by_words(orig)
    if worded is not None:
        return worded
    if isinstance(error, sa_exc.IntegrityError):
        return Failure.INTEGRITY
    return Failure.OTHER


def constraint(error: BaseException) -> str:
    """Return what the driver says was violated, as names only (a constraint, or columns), or
    ``""``: never the values, which e.g. PostgreSQL's detail and MySQL's message repeat."""
    orig = getattr(error, "orig", None)
    diag = getattr(orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if isinstance(name, str):
        return name
    args = getattr(orig, "args", ())
    message = args[-1] if isinstance(args, tuple) and args else None
    if not isinstance(message, str):
        return ""
    if _errno(orig) is not None:
        # MySQL: "Duplicate entry '<values>' for key '<name>'", "... CONSTRAINT `<name>` ...".
        for marker in (" for key ", "CONSTRAINT "):
            if marker in message:
                return message.rsplit(marker, 1)[1].split()[0].strip("'`")
        return ""
    # SQLite: "UNIQUE constraint failed: <table>.<column>, ..." (names, no values).
    head, _, names = message.partition(" constraint failed: ")
    return names if head.isupper() else ""


def is_transient(error: BaseException) -> bool:
    """Return whether ``error`` is a serialization failure, deadlock, lock timeout or a lost
    connection: a failure that a fresh attempt of the same transaction may not meet."""
    return classify(error).transient


def _names(tables: list[Any]) -> str:
    names = sorted({str(getattr(t, "name", "")) for t in tables} - {""})
    if not names:
        return "the database"
    if len(names) > 3:
        return ", ".join(names[:3]) + " and others"
    return " and ".join(names) if len(names) < 3 else f"{names[0]}, {names[1]} and {names[2]}"


def describe(statement: object) -> str:
    """Name what ``statement`` does by its verb and table (``write to armox_transfers``): an
    operation for a message, without the statement's text or any of its values."""
    if isinstance(statement, dml.Insert):
        return f"write to {_names([statement.table])}"
    if isinstance(statement, dml.Update):
        return f"change rows of {_names([statement.table])}"
    if isinstance(statement, dml.Delete):
        return f"remove rows from {_names([statement.table])}"
    if isinstance(statement, (selectable.Select, selectable.CompoundSelect)):
        found = find_tables(statement, include_aliases=False, check_columns=False)
        return f"read {_names(found)}"
    if isinstance(statement, ExecutableDDLElement):
        return "change the schema"
    return "run a statement"


_VERBS = {
    "insert": "write to the database",
    "update": "change rows",
    "delete": "remove rows",
    "select": "read from the database",
    "with": "read from the database",
    "create": "change the schema",
    "alter": "change the schema",
    "drop": "change the schema",
}


def _verb(error: BaseException) -> str:
    """An operation named by the statement's first word alone, for callers that give none."""
    statement = getattr(error, "statement", None)
    words = statement.split(None, 1) if isinstance(statement, str) else []
    verb = words[0].lower() if words else ""
    return _VERBS.get(verb, "complete a database call")


def _detail(error: BaseException, failure: Failure) -> str:
    """For a failure of no known kind: the driver's error class and code (never its text)."""
    if failure is not Failure.OTHER:
        return ""
    orig = _driver_error(error)
    codes = [type(orig if orig is not None else error).__name__]
    state, errno = _sqlstate(orig), _errno(orig)
    if errno is not None:
        codes.append(f"error {errno}")
    elif state is not None:
        codes.append(f"SQLSTATE {state}")
    return f" ({', '.join(codes)})"


def message(error: BaseException, operation: str | None = None) -> str:
    """Return what a translated error says: "the store could not <operation>: <kind>".

    For a store's own errors built from a driver error (e.g. ``CommitOutcomeUnknown``): the
    operation and the kind of failure, never the statement's text nor its parameters.
    """
    failure = classify(error)
    if operation is None:
        operation = _verb(error)
    text = f"the store could not {operation}: {failure.value}{_detail(error, failure)}"
    return f"{text} (the call may be retried)" if failure.transient else text


def translate(error: sa_exc.SQLAlchemyError, operation: str | None = None) -> StorageError:
    """Return the library error for a SQLAlchemy error (raise it ``from`` the original).

    Args:
        error: what SQLAlchemy raised.
        operation: what the store was doing, said as "the store could not <operation>" (e.g.
            ``"post a transfer"``, or :func:`describe` of the statement); never user data.
            Without it, the statement's first word names it ("write to the database").

    Returns:
        A ``TransientStorageError`` for a failure a retry may not meet, else a
        ``StorageError``; either names the operation and the kind of failure (see
        :func:`message`), and neither the statement's text nor its parameters.
    """
    if classify(error).transient:
        return TransientStorageError(message(error, operation))
    return StorageError(message(error, operation))
