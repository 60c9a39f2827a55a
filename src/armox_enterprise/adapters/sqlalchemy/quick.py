"""The spend's short path: the member's debit, the transfer and its event, committed at once.

A spend is what every generation of every member calls, so the store runs it as close to the
database's own cost as it can, on a pooled connection's driver cursor, with statements
compiled once per set of tables and dialect (the same statements the unit of work runs:
:func:`~armox_enterprise.adapters.sqlalchemy.postings.spend_statements`, derived from the
domain's :data:`~armox_enterprise.domain.ledger.EFFECTS`):

* **PostgreSQL**: one statement whose data-modifying CTEs debit the member's row, insert the
  transfer and insert the event, in autocommit: one round trip, BEGIN and COMMIT included.
  The statement is atomic: any guard refusing the debit inserts nothing, and any error
  (a generation id already used, a trigger) undoes the whole statement.
* **MySQL and MariaDB**: the event's ``INSERT`` (whose foreign-key check takes the share lock
  on the organisation's row, first, in the library's lock order), the member's ``UPDATE``,
  the transfer's ``INSERT`` and ``COMMIT``: four round trips at the connection's isolation
  level.  Each value is converted and escaped once per spend, by the connection's own
  ``escape`` (what PyMySQL's cursor does to every parameter of every statement), and each
  statement's text takes the escaped literals: the bytes sent are the ones PyMySQL would send.
* **SQLite**: ``BEGIN IMMEDIATE``, the same three statements and ``COMMIT``, with the
  connection's pragmas (WAL, ``synchronous``, foreign keys).

A refusal of any kind (the guards, a unique key, a constraint, a deadlock) writes nothing and
answers ``False``: the service then takes the full path, which finds the precise answer.
Decision 25 in ``docs/decisions.md`` says why.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from sqlalchemy import ClauseElement, Engine, bindparam, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect

from armox_enterprise.adapters.sqlalchemy.errors import Failure, classify
from armox_enterprise.adapters.sqlalchemy.postings import spend_statements
from armox_enterprise.adapters.sqlalchemy.records import (
    TRANSFER_COLUMNS,
    payload_text,
    transfer_values,
)
from armox_enterprise.adapters.sqlalchemy.tables import Tables
from armox_enterprise.domain.events import Event
from armox_enterprise.domain.ledger import Transfer
from armox_enterprise.exceptions import CommitOutcomeUnknown
from armox_enterprise.ports import StoredEvent

__all__ = ["QuickSpend", "quick_spend", "stamped_alike"]

#: The drivers whose connections the short path drives directly (others use a unit of work).
_DRIVERS = {"postgresql": ("psycopg",), "mysql": ("pymysql",), "sqlite": ("pysqlite",)}
_DRIVERS["mariadb"] = _DRIVERS["mysql"]
_EVENT_COLUMNS = ("id", "organisation_id", "name", "actor", "occurred_at", "payload")
#: The transfer's columns whose value the debit binds already (see :func:`_values`).
_SHARED = {
    "organisation_id": "o",
    "debit_account": "c",
    "amount": "a",
    "period_index": "p",
    "created_at": "t",
}
#: The event's columns that take the transfer's values (:meth:`QuickSpend.run` checks it).
_SHARED_BY_EVENT = {"organisation_id": "o", "occurred_at": "t", "actor": "t_actor"}


@attrs.frozen
class _Statement:
    """A statement compiled once for a dialect, and how to bind its parameters."""

    sql: str
    #: The bind names in the order of a positional paramstyle (``None``: named).
    order: tuple[str, ...] | None
    #: Each bind's value converter (a ``TypeDecorator``'s, the dialect's), where it has one.
    converters: Mapping[str, Callable[[Any], Any]]
    #: The binds with a value of their own (literals of the statement).
    fixed: Mapping[str, Any]
    #: Each bind's type and dialect type, by class name (binds of one name across statements
    #: convert alike when they are the same).
    kinds: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect) -> _Statement:
        """Compile ``statement`` for ``dialect``."""
        compiled: Any = statement.compile(dialect=dialect)
        converters = {}
        fixed = {}
        kinds = {}
        for name, bind in compiled.binds.items():
            impl = bind.type.dialect_impl(dialect)
            convert = impl.bind_processor(dialect)
            if convert is not None:
                converters[name] = convert
            if not bind.required and bind.callable is None:
                fixed[name] = bind.value
            kinds[name] = (_qualname(bind.type), _qualname(impl), repr(bind.type))
        order = tuple(compiled.positiontup) if compiled.positional else None
        return cls(compiled.string, order, converters, fixed, kinds)

    def params(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for ``values`` (bind name → Python value)."""
        merged = {**self.fixed, **values}
        for name, convert in self.converters.items():
            merged[name] = convert(merged[name])
        if self.order is None:
            return merged
        return tuple(merged[name] for name in self.order)


#: A named bind in the text of a ``pyformat`` statement.
_PYFORMAT_BIND = re.compile(r"%\(([^)]+)\)s")


@attrs.frozen
class _Literals:
    """How a spend's values become the literals of ``pyformat`` statements run without
    parameters: each value converted once and escaped once, by the connection's ``escape``
    (PyMySQL's, which its cursor applies to each parameter of each statement it runs)."""

    #: The binds the statements' texts name.
    names: tuple[str, ...]
    converters: Mapping[str, Callable[[Any], Any]]
    fixed: Mapping[str, Any]

    @classmethod
    def of(cls, statements: Sequence[_Statement], dialect: Dialect) -> _Literals | None:
        """The literals of ``statements``; ``None`` unless the dialect is ``pyformat`` and a
        bind of one name converts alike in every statement that has it."""
        if dialect.paramstyle != "pyformat" or any(s.order is not None for s in statements):
            return None
        names: dict[str, None] = {}
        converters: dict[str, Callable[[Any], Any]] = {}
        fixed: dict[str, Any] = {}
        kinds: dict[str, tuple[str, ...]] = {}
        for statement in statements:
            for name in _PYFORMAT_BIND.findall(statement.sql):
                names[name] = None
                kind = statement.kinds.get(name, ())
                if kinds.setdefault(name, kind) != kind:
                    return None
                if name in statement.converters:
                    converters[name] = statement.converters[name]
                if name in statement.fixed:
                    fixed[name] = statement.fixed[name]
        return cls(tuple(names), converters, fixed)

    def escaped(self, escape: Callable[[Any], str], values: Mapping[str, Any]) -> dict[str, str]:
        """Each bind's literal for ``values`` (bind name → Python value)."""
        merged = {**self.fixed, **values}
        for name, convert in self.converters.items():
            merged[name] = convert(merged[name])
        return {name: escape(merged[name]) for name in self.names}


@attrs.frozen
class QuickSpend:
    """The short path's statements for one set of tables and one dialect.

    Attributes:
        dialect: the dialect's name (``postgresql``, ``mysql``, ``mariadb``, ``sqlite``).
        statements: what runs, in order (one on PostgreSQL: debit, transfer and event).
    """

    dialect: str
    statements: Sequence[_Statement]
    #: On PyMySQL, how the values become the statements' literals, once per spend.
    literals: _Literals | None = None

    def run(self, engine: Engine, transfer: Transfer, event: Event) -> bool:
        """Post ``transfer`` with ``event`` on a connection of ``engine``'s pool.

        Returns:
            ``True`` once committed; ``False`` when anything refused it (nothing written).

        Raises:
            CommitOutcomeUnknown: the connection failed while the commit was in flight.
            StorageError: no connection could be had (``TransientStorageError`` when the
                database is unreachable for now).
        """
        values = _values(transfer, event)
        try:
            fairy = engine.raw_connection()
        except sa_exc.SQLAlchemyError:
            return False  # the full path meets the same failure and reports it
        dialect = engine.dialect
        dbapi: Any = fairy.driver_connection
        committing = False
        #: Whether the connection is known to hold no transaction when it goes back.
        ended = False
        try:
            if self.dialect == "postgresql":
                committing = True
                done = self._in_autocommit(dialect, fairy, dbapi, values)
                ended = True
                return done
            cursor = _cursor(fairy, dbapi)
            if self.dialect == "sqlite":
                dialect.do_execute(cursor, "BEGIN IMMEDIATE", ())
            done = self._statements(dialect, cursor, dbapi, values)
            if not done:
                dialect.do_rollback(dbapi)
                ended = True
                return False
            committing = True
            dialect.do_commit(dbapi)
            ended = True
            return True
        except Exception as exc:
            fairy.info.pop(_CURSOR, None)
            return self._failed(engine, fairy, exc, committing=committing)
        except BaseException:
            fairy.info.pop(_CURSOR, None)
            # An interrupt: the server rolls back what a closed connection left open; a
            # PostgreSQL statement in flight may have committed (the service looks it up).
            fairy.invalidate()
            raise
        finally:
            _give_back(fairy, ended=ended)

    # The dialect's own hooks run each statement and the COMMIT (as SQLAlchemy's execution
    # does), so what observes or faults them there sees the short path too.

    def _in_autocommit(
        self, dialect: Dialect, fairy: Any, dbapi: Any, values: Mapping[str, Any]
    ) -> bool:
        (statement,) = self.statements
        cursor = _cursor(fairy, dbapi)
        dbapi.autocommit = True
        try:
            dialect.do_execute(cursor, statement.sql, statement.params(values))
            return bool(cursor.rowcount == 1)
        finally:
            dbapi.autocommit = False

    def _statements(
        self, dialect: Dialect, cursor: Any, dbapi: Any, values: Mapping[str, Any]
    ) -> bool:
        literals = self.literals
        if literals is not None:
            # The escaping reads the connection's state (NO_BACKSLASH_ESCAPES): this one's.
            escaped = literals.escaped(dbapi.escape, values)
            for statement in self.statements:
                dialect.do_execute_no_params(cursor, statement.sql % escaped)
                if cursor.rowcount != 1:
                    return False
            return True
        for statement in self.statements:
            dialect.do_execute(cursor, statement.sql, statement.params(values))
            if cursor.rowcount != 1:
                return False
        return True

    def _failed(self, engine: Engine, fairy: Any, error: Exception, *, committing: bool) -> bool:
        dialect = engine.dialect
        dbapi_error = getattr(dialect.loaded_dbapi, "Error", Exception)
        wrapped = (
            sa_exc.DBAPIError.instance(None, None, error, dbapi_error, dialect=dialect)
            if isinstance(error, dbapi_error)
            else None
        )
        lost = (
            wrapped is None
            or classify(wrapped) is Failure.CONNECTION_LOST
            or dialect.is_disconnect(error, fairy.dbapi_connection, None)  # type: ignore[arg-type]
        )
        if lost or not isinstance(wrapped, sa_exc.DBAPIError):
            fairy.invalidate(error)
            if committing and self.dialect != "sqlite":
                raise CommitOutcomeUnknown(
                    "the store lost the connection while a spend was committing: it may "
                    "have committed"
                ) from error
            return False
        # The database answered (a refusal, a deadlock): nothing of it stays.
        with contextlib.suppress(Exception):
            dialect.do_rollback(fairy.driver_connection)
        return False


#: Where a pooled connection keeps the cursor the short path runs on (``fairy.info``).
_CURSOR = "armox_enterprise.quick_cursor"


def _cursor(fairy: Any, dbapi: Any) -> Any:
    """The driver cursor the short path reuses on this connection: one per connection, kept
    with it in the pool (its statements return no rows, so it holds nothing between spends),
    dropped when a spend on it fails."""
    info = fairy.info
    kept = info.get(_CURSOR)
    if kept is not None and kept[0] is dbapi:
        return kept[1]
    cursor = dbapi.cursor()
    info[_CURSOR] = (dbapi, cursor)
    return cursor


def _give_back(fairy: Any, *, ended: bool) -> None:
    """Return the connection to the pool.  One whose transaction this path ended (committed,
    rolled back, or never opened in autocommit) goes back without the pool's reset, a
    ``ROLLBACK`` that would cost MySQL and MariaDB a round trip, as SQLAlchemy's own
    connections do after a commit; any other is reset by the pool as usual."""
    checkin = getattr(fairy, "_checkin", None)  # SQLAlchemy 2.0 and later
    if ended and checkin is not None:
        try:
            checkin(transaction_was_reset=True)
        except TypeError:  # a pool whose check-in takes no such argument
            fairy.close()
        return
    fairy.close()


def stamped_alike(transfer: Transfer, event: Event) -> bool:
    """Whether ``event`` has ``transfer``'s organisation, actor and time, as the service
    stamps a spend's event (the statements bind them once)."""
    return (
        event.organisation_id == transfer.organisation_id
        and event.actor == transfer.actor
        and event.occurred_at == transfer.created_at
    )


#: The bind of each of the transfer's columns, in the order of ``TRANSFER_COLUMNS``.
_TRANSFER_BINDS = tuple(_SHARED.get(c, f"t_{c}") for c in TRANSFER_COLUMNS)


def _values(transfer: Transfer, event: Event) -> dict[str, Any]:
    row = transfer_values(transfer)
    values = dict(zip(_TRANSFER_BINDS, map(row.__getitem__, TRANSFER_COLUMNS), strict=True))
    stored = StoredEvent.of(event)
    values["e_id"] = stored.id
    values["e_name"] = stored.name
    values["e_payload"] = payload_text(stored.payload)
    return values


_cache: dict[tuple[Tables, str, str], QuickSpend | None] = {}


def quick_spend(tables: Tables, dialect: Dialect) -> QuickSpend | None:
    """The short path for ``tables`` on ``dialect``, built once; ``None`` for a driver it does
    not drive (the store then posts the spend in a unit of work)."""
    key = (tables, dialect.name, dialect.driver)
    if key in _cache:
        return _cache[key]
    built = None
    if dialect.driver in _DRIVERS.get(dialect.name, ()):
        built = _build(tables, dialect)
    _cache[key] = built
    return built


def _build(tables: Tables, dialect: Dialect) -> QuickSpend:
    debit = spend_statements(tables, dialect.name).debit
    t, e = tables.transfers, tables.events
    transfer_columns = list(TRANSFER_COLUMNS)
    # A column that holds a value the debit already binds takes the debit's bind: the driver
    # then sends (and converts) it once.
    transfer_binds = [
        bindparam(_SHARED.get(c, f"t_{c}"), type_=t.c[c].type) for c in transfer_columns
    ]
    event_binds = [
        bindparam(_SHARED_BY_EVENT.get(c, f"e_{c}"), type_=e.c[c].type) for c in _EVENT_COLUMNS
    ]
    if dialect.name == "postgresql":
        debited = debit.returning(tables.accounts.c.organisation_id).cte("debit")
        moved = (
            insert(t)
            .from_select(transfer_columns, select(*transfer_binds).select_from(debited))
            .returning(t.c.id)
            .cte("moved")
        )
        one = (
            insert(e)
            .from_select(list(_EVENT_COLUMNS), select(*event_binds).select_from(moved))
            .add_cte(debited, moved)
        )
        return QuickSpend(dialect.name, (_Statement.of(one, dialect),))
    record_event = insert(e).values(dict(zip(_EVENT_COLUMNS, event_binds, strict=True)))
    record_transfer = insert(t).values(dict(zip(transfer_columns, transfer_binds, strict=True)))
    order = [debit, record_transfer, record_event]
    if dialect.name in ("mysql", "mariadb"):
        # The event first: its foreign-key check locks the organisation's row in share mode,
        # which comes before the member's row in the library's lock order.
        order = [record_event, debit, record_transfer]
    statements = tuple(_Statement.of(s, dialect) for s in order)
    literals = None
    if dialect.name in ("mysql", "mariadb"):
        literals = _Literals.of(statements, dialect)
    return QuickSpend(dialect.name, statements, literals)


def _qualname(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"
