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
  (``PRAGMA foreign_keys``), and these triggers hold on every connection;
- on **SQLite only** too (since ``ae0003``), the foreign keys that keep the rules spanning
  organisations: an active membership must name its user's row in ``active_members``, and a
  domain claim its domain's row in ``domain_owners``, of its own organisation; such a row can
  be neither deleted nor changed while a membership or claim names it.

How each backend refuses: PostgreSQL by a trigger function per guard raising SQLSTATE
``23000`` (``integrity_constraint_violation``); MariaDB/MySQL by ``BEFORE`` triggers that
``SIGNAL SQLSTATE '45000'``; SQLite by ``RAISE(ABORT, ...)`` (an integrity error).

:func:`create_statements` and :func:`drop_statements` are what the migrations run, each
for the revision it reaches (``revision="ae0002"``, ``"ae0003"``: every statement of that
revision and the ones before); :func:`attach` hangs the newest set on a set of tables, so
``metadata.create_all`` installs them as well.  The statements are part of the schema's
history: change them only in a new revision, and keep what each revision installs
reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
from sqlalchemy import DDL, Table, event

__all__ = [
    "APPEND_ONLY",
    "DIALECTS",
    "REVISIONS",
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
#: The revisions that install triggers, oldest first; the last is what ``create_all`` installs.
REVISIONS = ("ae0002", "ae0003")


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
    revision: str = "ae0002"


def _kind(dialect: str) -> str | None:
    for group in (_POSTGRESQL, _MYSQL, _SQLITE):
        if dialect in group:
            return group[0]
    return None


def _statements(
    dialect: str, prefix: str, schema: str | None, revision: str | None = None
) -> list[_Statement]:
    names = _Names(prefix, schema)
    kind = _kind(dialect)
    if kind == "postgresql":
        found = list(_postgresql(names))
    elif kind == "mysql":
        found = list(_mysql(names))
    elif kind == "sqlite":
        found = list(_sqlite(names))
    else:
        return []
    if revision is None:
        return found
    if revision not in REVISIONS:
        raise ValueError(f"no revision {revision!r} installs triggers (known: {REVISIONS})")
    reached = REVISIONS[: REVISIONS.index(revision) + 1]
    return [s for s in found if s.revision in reached]


def create_statements(
    dialect: str,
    *,
    prefix: str = "armox_",
    schema: str | None = None,
    revision: str | None = None,
) -> list[str]:
    """Return the SQL that installs the triggers on ``dialect`` (``"postgresql"``,
    ``"mysql"``/``"mariadb"``, ``"sqlite"``), for tables made with ``prefix`` and ``schema``,
    as they stand at ``revision`` (one of :data:`REVISIONS`; by default the newest).

    The tables must exist.  On any other dialect the list is empty.

    Raises:
        ValueError: ``revision`` is not one of :data:`REVISIONS`.
    """
    return [s.create for s in _statements(dialect, prefix, schema, revision)]


def drop_statements(
    dialect: str,
    *,
    prefix: str = "armox_",
    schema: str | None = None,
    revision: str | None = None,
) -> list[str]:
    """Return the SQL that removes what :func:`create_statements` installs, in reverse.

    Raises:
        ValueError: ``revision`` is not one of :data:`REVISIONS`.
    """
    return [s.drop for s in reversed(_statements(dialect, prefix, schema, revision))]


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


def _sqlite_trigger(
    names: _Names, table: str, name: str, when: str, message: str, revision: str = "ae0002"
) -> _Statement:
    # A trigger's body names tables of its own schema unqualified; only its name is qualified.
    trigger = names.qualified(names.prefix + name)
    return _Statement(
        table,
        f"CREATE TRIGGER {trigger} {when} BEGIN SELECT RAISE(ABORT, '{message}'); END",
        f"DROP TRIGGER IF EXISTS {trigger}",
        revision=revision,
    )


@attrs.frozen
class _Reference:
    """A foreign key of ``ae0003`` that SQLite must keep without ``PRAGMA foreign_keys``.

    ``child`` rows whose ``columns`` are both set must find a ``parent`` row whose
    ``parent_columns`` equal them (``missing``: what SQLite says otherwise), and such a parent
    row is neither deleted nor changed (``in_use``).
    """

    child: str
    columns: tuple[str, str]
    parent: str
    parent_columns: tuple[str, str]
    missing: str
    in_use: str


#: The references of the rules that span organisations (the reference tables).
_REFERENCES = (
    _Reference(
        "memberships",
        ("organisation_id", "active_user_id"),
        "active_members",
        ("organisation_id", "user_id"),
        "foreign key: an active membership needs its user in active_members, in its organisation",
        "foreign key: an active membership names this user",
    ),
    _Reference(
        "domain_claims",
        ("organisation_id", "domain"),
        "domain_owners",
        ("organisation_id", "domain"),
        "foreign key: a domain claim needs its domain in domain_owners, in its organisation",
        "foreign key: a domain claim names this domain",
    ),
)


def _sqlite_references(names: _Names) -> Iterator[_Statement]:
    p = names.prefix
    for ref in _REFERENCES:
        child, parent = p + ref.child, p + ref.parent
        (a, b), (pa, pb) = ref.columns, ref.parent_columns
        missing = (
            f"NEW.{a} IS NOT NULL AND NEW.{b} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
            f"{parent} WHERE {pa} = NEW.{a} AND {pb} = NEW.{b})"
        )
        yield _sqlite_trigger(
            names,
            ref.child,
            f"{ref.child}_{ref.parent}_insert",
            f"BEFORE INSERT ON {child} FOR EACH ROW WHEN {missing}",
            ref.missing,
            "ae0003",
        )
        yield _sqlite_trigger(
            names,
            ref.child,
            f"{ref.child}_{ref.parent}_update",
            f"BEFORE UPDATE OF {a}, {b} ON {child} FOR EACH ROW WHEN {missing}",
            ref.missing,
            "ae0003",
        )
        named = f"EXISTS (SELECT 1 FROM {child} WHERE {a} = OLD.{pa} AND {b} = OLD.{pb})"
        yield _sqlite_trigger(
            names,
            ref.parent,
            f"{ref.parent}_keep_deleted",
            f"BEFORE DELETE ON {parent} FOR EACH ROW WHEN {named}",
            ref.in_use,
            "ae0003",
        )
        yield _sqlite_trigger(
            names,
            ref.parent,
            f"{ref.parent}_keep_changed",
            f"BEFORE UPDATE OF {pa}, {pb} ON {parent} FOR EACH ROW "
            f"WHEN (NEW.{pa} IS NOT OLD.{pa} OR NEW.{pb} IS NOT OLD.{pb}) AND {named}",
            ref.in_use,
            "ae0003",
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
    yield from _sqlite_references(names)
