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

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from armox_enterprise.adapters.sqlalchemy.errors import translate
from armox_enterprise.adapters.sqlalchemy.tables import Tables
from armox_enterprise.adapters.sqlalchemy.tables import tables as default_tables
from armox_enterprise.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from armox_enterprise.exceptions import StorageError

__all__ = ["SqlAlchemyStore", "SqlAlchemyUnitOfWork", "configure_sqlite"]


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
        file for work from several threads.
        """
        options = dict(engine_options)
        if url.startswith("sqlite") and url.split("///", 1)[-1] in ("", ":memory:", "sqlite:"):
            options.setdefault("poolclass", StaticPool)
            options.setdefault("connect_args", {"check_same_thread": False})
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

    def unit_of_work(self) -> SqlAlchemyUnitOfWork:
        """Return a new unit of work (enter it with ``with``)."""
        bind = self._bind
        if isinstance(bind, Engine) and bind.dialect.name in ("mysql", "mariadb"):
            bind = self._read_committed(bind)
        return SqlAlchemyUnitOfWork(bind, self.tables)

    def _read_committed(self, engine: Engine) -> Engine:
        # InnoDB's REPEATABLE READ (its default) reads a snapshot taken at the first read, so
        # an amount read and then written (a period closing's expiry, a member's remainder)
        # could be stale.  Units of work that the store owns run at READ COMMITTED unless the
        # engine chose a level itself; SERIALIZABLE is kept as it is.
        if self._checked_engine is None:
            with engine.connect() as connection:
                level = connection.get_isolation_level()
            chosen = engine.get_execution_options().get("isolation_level")
            if chosen is None and level == "REPEATABLE READ":
                engine = engine.execution_options(isolation_level="READ COMMITTED")
            self._checked_engine = engine
        return self._checked_engine
