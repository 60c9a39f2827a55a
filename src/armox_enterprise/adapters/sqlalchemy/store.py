"""The SQLAlchemy store: every port of :mod:`armox_enterprise.ports` on SQLAlchemy Core.

Two ways to own the transaction:

* ``SqlAlchemyStore(engine)`` (or a ``sessionmaker``): each unit of work opens its own
  transaction and commits it; the service retries it on serialization failures and deadlocks.
* ``SqlAlchemyStore.joining(session_or_connection)``: each unit of work runs inside the host's
  transaction, in a SAVEPOINT, and never commits it: the host's writes and the library's commit
  or roll back together.

Invariants are kept by the database, not by reading then writing in Python: balances change by
conditional ``UPDATE ... WHERE available >= amount`` (and a CHECK constraint backs it up),
requests and holds move by ``UPDATE ... WHERE status = 'pending'``, and unique keys guard
idempotency keys, domain claims and active memberships.

The package is layered so that imports point one way: :mod:`.tables` and :mod:`.errors` at the
bottom; :mod:`.connection` (statements run, errors translated) and :mod:`.records` (rows to
records) above them; :mod:`.postings` (the ledger's statements, derived from the domain's
:data:`~armox_enterprise.domain.ledger.EFFECTS`); one repository module per record kind;
:mod:`.unit_of_work` over the repositories; and this module, the store, on top.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from armox_enterprise.adapters.sqlalchemy.errors import translate
from armox_enterprise.adapters.sqlalchemy.quick import quick_spend, stamped_alike
from armox_enterprise.adapters.sqlalchemy.tables import Tables
from armox_enterprise.adapters.sqlalchemy.tables import tables as default_tables
from armox_enterprise.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from armox_enterprise.domain.events import Event
from armox_enterprise.domain.ledger import Transfer
from armox_enterprise.exceptions import StorageError
from armox_enterprise.ports import spend_in_unit_of_work

__all__ = ["SqlAlchemyStore", "SqlAlchemyUnitOfWork", "configure_sqlite"]

#: The level the store's own transactions run at on MariaDB and MySQL (see ``_isolate``).
READ_COMMITTED: Final = "READ COMMITTED"
_LEVEL_SET = "armox_enterprise.isolation_level"
_MYSQL = ("mysql", "mariadb")


def configure_sqlite(engine: Engine, *, synchronous: str = "FULL") -> None:
    """Make a SQLite engine safe for concurrent units of work.

    Every transaction starts with ``BEGIN IMMEDIATE`` (writers queue on the busy timeout instead
    of failing with "database is locked" when a reader upgrades), file databases use WAL
    journaling, and foreign keys are enforced.  :meth:`SqlAlchemyStore.from_url` does this for
    you; call it yourself for an engine you create.
    """
    if engine.dialect.name != "sqlite":
        raise StorageError("configure_sqlite() applies to SQLite engines only")
    memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 60000")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class SqlAlchemyStore:
    """Stores everything in the library's tables through SQLAlchemy Core.

    Args:
        bind: an ``Engine`` or a ``sessionmaker``: each unit of work opens, and commits, its
            own transaction.
        tables: the tables to use (see :func:`~armox_enterprise.adapters.sqlalchemy.make_tables`
            for a schema or another prefix).
    """

    def __init__(
        self, bind: Engine | sessionmaker[Session], *, tables: Tables = default_tables
    ) -> None:
        if not isinstance(bind, (Engine, sessionmaker)):
            raise TypeError("bind must be an Engine or a sessionmaker")
        self._bind: Engine | sessionmaker[Session] | Session | Connection = bind
        self.tables = tables
        #: Whether the service may retry a unit of work after a transient failure.
        self.retry_transient = True
        self._checked_engine: Engine | None = None

    @classmethod
    def from_url(
        cls, url: str, *, tables: Tables = default_tables, **engine_options: Any
    ) -> SqlAlchemyStore:
        """Create an engine for ``url`` (SQLite is configured with :func:`configure_sqlite`).

        An in-memory SQLite database (``sqlite://``) lives on one shared connection, so use a
        file for work from several threads.  On MariaDB and MySQL the engine's connections run
        at READ COMMITTED unless ``isolation_level`` (or an execution option) says otherwise.
        """
        options = dict(engine_options)
        if url.startswith("sqlite") and url.split("///", 1)[-1] in ("", ":memory:", "sqlite:"):
            options.setdefault("poolclass", StaticPool)
            options.setdefault("connect_args", {"check_same_thread": False})
        chosen = options.get("execution_options", {}).get("isolation_level")
        if make_url(url).get_backend_name() in _MYSQL and chosen is None:
            # Set once on each new connection by SQLAlchemy itself (see _isolate).
            options.setdefault("isolation_level", READ_COMMITTED)
        engine = create_engine(url, **options)
        if engine.dialect.name == "sqlite":
            configure_sqlite(engine)
        return cls(engine, tables=tables)

    @classmethod
    def joining(
        cls, host: Session | Connection, *, tables: Tables = default_tables
    ) -> SqlAlchemyStore:
        """Return a store whose units of work run inside ``host``'s transaction.

        Each unit of work is a SAVEPOINT: a failed use case undoes only its own writes, and
        nothing is ever committed; the host commits or rolls back its transaction.  Transient
        failures are not retried (the host's transaction is gone); they reach the host as
        :class:`~armox_enterprise.TransientStorageError`.
        """
        if not isinstance(host, (Session, Connection)):
            raise TypeError("host must be a Session or a Connection")
        store = cls.__new__(cls)
        store._bind = host
        store.tables = tables
        store.retry_transient = False
        store._checked_engine = None
        return store

    @property
    def engine(self) -> Engine:
        """The engine underneath (of the host's session or connection when joining)."""
        bind = self._bind
        if isinstance(bind, Engine):
            return bind
        if isinstance(bind, Connection):
            return bind.engine
        if isinstance(bind, Session):
            return bind.get_bind().engine
        engine = bind.kw.get("bind")
        if not isinstance(engine, Engine):
            raise StorageError("the sessionmaker has no engine bound")
        return engine

    def create_schema(self) -> None:
        """Create the library's tables that do not exist yet (prefer migrations in production).

        Raises:
            StorageError: the database refused (unreachable, no permission ...).
        """
        try:
            with self.engine.begin() as connection:
                self.tables.metadata.create_all(connection)
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc) from exc

    def drop_schema(self) -> None:
        """Drop the library's tables and everything in them.

        Raises:
            StorageError: the database refused.
        """
        try:
            with self.engine.begin() as connection:
                self.tables.metadata.drop_all(connection)
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc) from exc

    def post_spend(self, transfer: Transfer, event: Event) -> bool:
        """The spend's short path (see :class:`~armox_enterprise.ports.Store`): the member's
        debit, the transfer and its event, committed at once on a pooled connection, in one
        round trip on PostgreSQL (psycopg), four on MySQL and MariaDB (PyMySQL); other
        drivers in a unit of work (:mod:`~armox_enterprise.adapters.sqlalchemy.quick`), and
        so is an ``event`` whose organisation, actor or time is not the transfer's (the short
        path binds them once).

        Returns:
            ``True`` once committed; ``False`` when anything refused it (nothing written).

        Raises:
            CommitOutcomeUnknown: the connection failed while the commit was in flight.
        """
        engine = self.engine
        if engine is not self._checked_engine:
            self._isolate(engine)
        quick = quick_spend(self.tables, engine.dialect) if self.retry_transient else None
        if quick is not None and stamped_alike(transfer, event):
            return quick.run(engine, transfer, event)
        return spend_in_unit_of_work(self, transfer, event)

    def unit_of_work(self) -> SqlAlchemyUnitOfWork:
        """Return a new unit of work (enter it with ``with``).

        Raises:
            StorageError: on MariaDB or MySQL, the first call could not read the engine's
                isolation level (``TransientStorageError`` when the connection was lost).
        """
        bind = self._bind
        if isinstance(bind, Engine) and bind is not self._checked_engine:
            self._isolate(bind)
        return SqlAlchemyUnitOfWork(bind, self.tables)

    def _isolate(self, engine: Engine) -> None:
        # InnoDB's REPEATABLE READ (its default) reads a snapshot taken at the first read, so
        # an amount read and then written (a period closing's expiry, a member's remainder)
        # could be stale.  The store's own transactions run at READ COMMITTED unless the
        # engine chose a level itself (SERIALIZABLE is kept).  The level is set once per
        # connection, as the connection's session default, never switched per unit of work:
        # from_url passes it to create_engine, and on an engine made elsewhere a pool
        # listener sets it on each connection the first time the pool hands it out.
        if engine.dialect.name in _MYSQL and not _level_chosen(engine):
            try:
                with engine.connect() as connection:
                    level = connection.get_isolation_level()
            except sa_exc.SQLAlchemyError as exc:
                raise translate(exc, "read the isolation level") from exc
            if level == "REPEATABLE READ" and not event.contains(
                engine, "checkout", _read_committed_once
            ):
                event.listen(engine, "checkout", _read_committed_once)
                # SQLAlchemy restores a connection whose level a host changed for a while
                # (execution_options) to the dialect's default: make that this one too.
                engine.dialect.default_isolation_level = READ_COMMITTED
        self._checked_engine = engine


def _level_chosen(engine: Engine) -> bool:
    """Whether the engine was given an isolation level (an execution option or
    ``create_engine(isolation_level=...)``), or the store already set its own."""
    if engine.get_execution_options().get("isolation_level") is not None:
        return True
    if getattr(engine.dialect, "_on_connect_isolation_level", None) is not None:
        return True
    return event.contains(engine, "checkout", _read_committed_once)


def _read_committed_once(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Make a MariaDB/MySQL connection's transactions READ COMMITTED, once per connection.

    A connection that cannot take the statement (killed while idle in the pool) is reported
    to the pool as disconnected: the pool discards it and hands out a fresh one.
    """
    if record.info.get(_LEVEL_SET) == READ_COMMITTED:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {READ_COMMITTED}")
        finally:
            cursor.close()
    except Exception as exc:
        raise sa_exc.DisconnectionError("the pooled connection is gone") from exc
    record.info[_LEVEL_SET] = READ_COMMITTED
