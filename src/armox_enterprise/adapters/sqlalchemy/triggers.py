"""The triggers that keep the ledger's history as it was written, whoever writes SQL.

The library never changes a transfer, a decided credit request or join request, or a resolved
hold; these triggers make the database refuse it too, to a host's script or a console as much
as to a bug:

- **transfers are append-only**: every ``UPDATE`` and ``DELETE`` of a ``transfers`` row is
  refused (``INSERT`` fires nothing on PostgreSQL and MariaDB, so the spend path is unchanged);
- **decided stays decided**: an ``UPDATE`` that changes a decided credit request's state
  (anything but its two free-text notes, which a host may need to erase), a resolved hold, or
  a decided join request's state is refused;
- on **SQLite only**, a transfer must name two accounts of its own organisation, and an
  account that transfers name can neither be deleted nor renamed: the composite foreign keys
  say so already, but SQLite enforces foreign keys only on connections that enabled them
  (``PRAGMA foreign_keys``), and these triggers hold on every connection.

How each backend refuses: PostgreSQL by a trigger function per guard raising SQLSTATE
``23000`` (``integrity_constraint_violation``); MariaDB/MySQL by ``BEFORE`` triggers that
``SIGNAL SQLSTATE '45000'``; SQLite by ``RAISE(ABORT, ...)`` (an integrity error).

:func:`create_statements` and :func:`drop_statements` are what the migration ``ae0002``
runs; :func:`attach` hangs the same statements on a set of tables, so ``metadata.create_all``
installs them as well.  The statements are part of the schema's history: change them only in
a new revision, and keep what ``ae0002`` installs reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
from sqlalchemy import DDL, Table, event

__all__ = [
    "APPEND_ONLY",
    "DIALECTS",
    "SETTLED",
    "Settled",
    "attach",
    "create_statements",
    "ddl",
    "drop_statements",
]

#: What the database says to an ``UPDATE`` or ``DELETE`` of a transfer.
APPEND_ONLY = "transfers are append-only: a transfer is never changed or deleted"
#: What SQLite says to a transfer naming an account of another organisation, or none.  It
#: reads like SQLite's own foreign-key error, which the store reports the same way.
_FOREIGN_ACCOUNT = "foreign key: a transfer names accounts of its own organisation only"
#: What SQLite says to deleting or renaming an account that transfers name.
_ACCOUNT_IN_USE = "foreign key: transfers name this account"
_POSTGRESQL = ("postgresql",)
_MYSQL = ("mysql", "mariadb")
_SQLITE = ("sqlite",)
#: The dialects that get triggers; on any other, :func:`create_statements` returns nothing.
DIALECTS = _POSTGRESQL + _MYSQL + _SQLITE


@attrs.frozen
class Settled:
    """A table whose rows settle: once ``status`` leaves ``pending``, ``columns`` stay.

    Attributes:
        table: the table's name without the prefix.
        name: the trigger's name without the prefix.
        columns: what may not change once the row has settled.
        message: what the database says to a change.
    """

    table: str
    name: str
    columns: tuple[str, ...]
    message: str


#: The tables whose settled rows the triggers freeze.
SETTLED: tuple[Settled, ...] = (
    Settled(
        "credit_requests",
        "credit_requests_decided",
        (
            "id",
            "organisation_id",
            "user_id",
            "amount",
            "period_index",
            "created_at",
            "status",
            "approved_amount",
            "decided_by",
            "decided_at",
        ),
        "a decided credit request cannot change",
    ),
    Settled(
        "holds",
        "holds_resolved",
        (
            "id",
            "organisation_id",
            "user_id",
            "amount",
            "period_index",
            "created_at",
            "expires_at",
            "reference",
            "status",
            "captured",
            "resolved_at",
            "feature",
            "model",
        ),
        "a resolved hold cannot change",
    ),
    Settled(
        "join_requests",
        "join_requests_decided",
        (
            "id",
            "organisation_id",
            "user_id",
            "created_at",
            "status",
            "decided_by",
            "decided_at",
        ),
        "a decided join request cannot change",
    ),
)


@attrs.frozen
class _Names:
    """How the statements name things, for one prefix and schema."""

    prefix: str
    schema: str | None

    def table(self, table: str) -> str:
        """The table's name, schema-qualified when there is a schema."""
        return self.qualified(self.prefix + table)

    def qualified(self, name: str) -> str:
        """``name`` in the schema (a function, or a MariaDB or SQLite trigger)."""
        return f"{self.schema}.{name}" if self.schema else name


@attrs.frozen
class _Statement:
    """One statement: the table whose creation installs it, the SQL, and how to undo it.

    ``function``: it creates a PostgreSQL function, which dropping the table leaves behind.
    """

    table: str
    create: str
    drop: str
    function: bool = False


def _kind(dialect: str) -> str | None:
    for group in (_POSTGRESQL, _MYSQL, _SQLITE):
        if dialect in group:
            return group[0]
    return None


def _statements(dialect: str, prefix: str, schema: str | None) -> list[_Statement]:
    names = _Names(prefix, schema)
    kind = _kind(dialect)
    if kind == "postgresql":
        return list(_postgresql(names))
    if kind == "mysql":
        return list(_mysql(names))
    if kind == "sqlite":
        return list(_sqlite(names))
    return []


def create_statements(
    dialect: str, *, prefix: str = "armox_", schema: str | None = None
) -> list[str]:
    """Return the SQL that installs the triggers on ``dialect`` (``"postgresql"``,
    ``"mysql"``/``"mariadb"``, ``"sqlite"``), for tables made with ``prefix`` and ``schema``.

    The tables must exist.  On any other dialect the list is empty.
    """
    return [s.create for s in _statements(dialect, prefix, schema)]


def drop_statements(
    dialect: str, *, prefix: str = "armox_", schema: str | None = None
) -> list[str]:
    """Return the SQL that removes what :func:`create_statements` installs, in reverse."""
    return [s.drop for s in reversed(_statements(dialect, prefix, schema))]


def attach(tables: dict[str, Table], *, prefix: str, schema: str | None) -> None:
    """Install the triggers with the tables: after ``CREATE TABLE`` of each of ``tables``
    (keyed by the name without the prefix), each dialect's statements for it run; after
    ``DROP TABLE`` on PostgreSQL, its trigger functions go too."""
    for dialect in DIALECTS:
        for statement in _statements(dialect, prefix, schema):
            table = tables[statement.table]
            event.listen(table, "after_create", ddl(statement.create).execute_if(dialect=dialect))
            if statement.function:
                event.listen(table, "after_drop", ddl(statement.drop).execute_if(dialect=dialect))


def ddl(statement: str) -> DDL:
    """``statement`` as a :class:`~sqlalchemy.schema.DDL` element (it holds no ``%``)."""
    return DDL(statement)  # type: ignore[no-untyped-call]


# -- PostgreSQL ---------------------------------------------------------------------------


def _pg_function(names: _Names, name: str, message: str) -> tuple[str, str]:
    function = names.qualified(names.prefix + name)
    create = (
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n"
        f"    RAISE EXCEPTION USING ERRCODE = '23000', MESSAGE = '{message}';\n"
        f"END\n$$"
    )
    return function, create


def _postgresql(names: _Names) -> Iterator[_Statement]:
    function, create = _pg_function(names, "transfers_append_only", APPEND_ONLY)
    yield _Statement("transfers", create, f"DROP FUNCTION IF EXISTS {function}()", function=True)
    table = names.table("transfers")
    trigger = f"{names.prefix}transfers_append_only"
    yield _Statement(
        "transfers",
        f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        f"DROP TRIGGER IF EXISTS {trigger} ON {table}",
    )
    for settled in SETTLED:
        function, create = _pg_function(names, settled.name, settled.message)
        yield _Statement(
            settled.table, create, f"DROP FUNCTION IF EXISTS {function}()", function=True
        )
        table = names.table(settled.table)
        trigger = names.prefix + settled.name
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in settled.columns)
        yield _Statement(
            settled.table,
            f"CREATE TRIGGER {trigger} BEFORE UPDATE ON {table} FOR EACH ROW "
            f"WHEN (OLD.status <> 'pending' AND ({changed})) EXECUTE FUNCTION {function}()",
            f"DROP TRIGGER IF EXISTS {trigger} ON {table}",
        )


# -- MariaDB / MySQL ----------------------------------------------------------------------


def _signal(message: str) -> str:
    return f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'"


def _mysql(names: _Names) -> Iterator[_Statement]:
    table = names.table("transfers")
    for event_name in ("UPDATE", "DELETE"):
        trigger = names.qualified(f"{names.prefix}transfers_no_{event_name.lower()}")
        yield _Statement(
            "transfers",
            f"CREATE TRIGGER {trigger} BEFORE {event_name} ON {table} FOR EACH ROW "
            + _signal(APPEND_ONLY),
            f"DROP TRIGGER IF EXISTS {trigger}",
        )
    for settled in SETTLED:
        trigger = names.qualified(names.prefix + settled.name)
        same = " AND ".join(f"NEW.{c} <=> OLD.{c}" for c in settled.columns)
        yield _Statement(
            settled.table,
            f"CREATE TRIGGER {trigger} BEFORE UPDATE ON {names.table(settled.table)} "
            f"FOR EACH ROW IF OLD.status <> 'pending' AND NOT ({same}) THEN "
            f"{_signal(settled.message)}; END IF",
            f"DROP TRIGGER IF EXISTS {trigger}",
        )


# -- SQLite -------------------------------------------------------------------------------


def _sqlite_trigger(names: _Names, table: str, name: str, when: str, message: str) -> _Statement:
    # A trigger's body names tables of its own schema unqualified; only its name is qualified.
    trigger = names.qualified(names.prefix + name)
    return _Statement(
        table,
        f"CREATE TRIGGER {trigger} {when} BEGIN SELECT RAISE(ABORT, '{message}'); END",
        f"DROP TRIGGER IF EXISTS {trigger}",
    )


def _sqlite(names: _Names) -> Iterator[_Statement]:
    p = names.prefix
    transfers, accounts = f"{p}transfers", f"{p}accounts"
    yield _sqlite_trigger(
        names, "transfers", "transfers_no_update", f"BEFORE UPDATE ON {transfers}", APPEND_ONLY
    )
    yield _sqlite_trigger(
        names, "transfers", "transfers_no_delete", f"BEFORE DELETE ON {transfers}", APPEND_ONLY
    )

    def account(column: str) -> str:
        return (
            f"NOT EXISTS (SELECT 1 FROM {accounts} "
            f"WHERE organisation_id = NEW.organisation_id AND code = NEW.{column})"
        )

    yield _sqlite_trigger(
        names,
        "transfers",
        "transfers_own_accounts",
        f"BEFORE INSERT ON {transfers} FOR EACH ROW "
        f"WHEN {account('debit_account')} OR {account('credit_account')}",
        _FOREIGN_ACCOUNT,
    )
    named = (
        f"(EXISTS (SELECT 1 FROM {transfers} WHERE organisation_id = OLD.organisation_id "
        f"AND debit_account = OLD.code) OR EXISTS (SELECT 1 FROM {transfers} "
        f"WHERE organisation_id = OLD.organisation_id AND credit_account = OLD.code))"
    )
    yield _sqlite_trigger(
        names,
        "accounts",
        "accounts_keep_deleted",
        f"BEFORE DELETE ON {accounts} FOR EACH ROW WHEN {named}",
        _ACCOUNT_IN_USE,
    )
    yield _sqlite_trigger(
        names,
        "accounts",
        "accounts_keep_renamed",
        f"BEFORE UPDATE OF organisation_id, code ON {accounts} FOR EACH ROW "
        f"WHEN (NEW.organisation_id IS NOT OLD.organisation_id OR NEW.code IS NOT OLD.code) "
        f"AND {named}",
        _ACCOUNT_IN_USE,
    )
    for settled in SETTLED:
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in settled.columns)
        yield _sqlite_trigger(
            names,
            settled.table,
            settled.name,
            f"BEFORE UPDATE ON {p}{settled.table} FOR EACH ROW "
            f"WHEN OLD.status <> 'pending' AND ({changed})",
            settled.message,
        )
