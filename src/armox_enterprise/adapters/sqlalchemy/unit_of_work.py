"""The SQLAlchemy store's unit of work: one transaction (or SAVEPOINT) over every repository.

It rolls back unless committed; the events recorded in it are stored in the same transaction
(the outbox) and handed out only after the commit.

A connection the unit of work owns never goes back to the pool in a state it cannot vouch for.
When BEGIN or COMMIT raises, whatever raised it (a driver error, a lost connection, an interrupt,
a timeout, a host's event listener), the connection is invalidated: closed and replaced in the
pool, so that an open transaction on it is rolled back by the server and never committed by a
later call.  A COMMIT that fails without the database having answered it is reported as
:class:`~armox_enterprise.exceptions.CommitOutcomeUnknown`: it may have committed.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from typing_extensions import Self

from armox_enterprise.adapters.sqlalchemy.connection import BoundConnection
from armox_enterprise.adapters.sqlalchemy.credit_requests import SqlCreditRequests
from armox_enterprise.adapters.sqlalchemy.domain_claims import SqlDomainClaims
from armox_enterprise.adapters.sqlalchemy.errors import Failure, classify, translate
from armox_enterprise.adapters.sqlalchemy.events import SqlEvents, insert_events
from armox_enterprise.adapters.sqlalchemy.holds import SqlHolds
from armox_enterprise.adapters.sqlalchemy.idempotency import SqlIdempotency
from armox_enterprise.adapters.sqlalchemy.invitations import SqlInvitations
from armox_enterprise.adapters.sqlalchemy.join_requests import SqlJoinRequests
from armox_enterprise.adapters.sqlalchemy.ledger import SqlLedger
from armox_enterprise.adapters.sqlalchemy.memberships import SqlMemberships
from armox_enterprise.adapters.sqlalchemy.organisations import SqlOrganisations
from armox_enterprise.adapters.sqlalchemy.reports import SqlReports
from armox_enterprise.adapters.sqlalchemy.tables import Tables
from armox_enterprise.adapters.sqlalchemy.teams import SqlTeams
from armox_enterprise.adapters.sqlalchemy.views import SqlViews
from armox_enterprise.domain.events import Event
from armox_enterprise.exceptions import CommitOutcomeUnknown
from armox_enterprise.ports import StoredEvent

__all__ = ["SqlAlchemyUnitOfWork", "refused_by_the_database"]

#: MySQL and MariaDB number the errors their server sends below 2000; 2000 and up are the
#: client library's own (a lost connection, a timeout, a protocol error).
_MYSQL_CLIENT_ERRORS = 2000


def refused_by_the_database(error: BaseException) -> bool:
    """Return whether a failed COMMIT was answered by the database with an error.

    Only then is its outcome known: the database refused to commit, and nothing of the
    transaction stays.  That is an error the driver read from the server and coded (a SQLSTATE
    outside the connection class ``08``, a MySQL server error number), or any error of SQLite,
    which commits in the process.  A lost connection, an error of no code, or anything that
    is not the driver's (an interrupt, a timeout, a host's event listener raising) may have
    come after the server committed.
    """
    if not isinstance(error, sa_exc.DBAPIError) or error.connection_invalidated:
        return False
    if classify(error) is Failure.CONNECTION_LOST:
        return False
    orig = error.orig
    if type(orig).__module__.split(".", 1)[0] == "sqlite3":
        return True
    args = getattr(orig, "args", ())
    if isinstance(args, tuple) and args and type(args[0]) is int:
        return 0 < args[0] < _MYSQL_CLIENT_ERRORS
    state = getattr(orig, "sqlstate", None)
    return isinstance(state, str) and not state.startswith("08")


def _interrupted(error: BaseException, step: str, *, discarded: bool) -> None:
    """Say in an interrupt's notes what it interrupted (the interrupt itself is raised)."""
    add_note = getattr(error, "add_note", None)  # Python 3.11 and later
    if add_note is not None:
        done = "; the connection was discarded" if discarded else ""
        add_note(f"armox_enterprise: raised during {step}{done}")


class SqlAlchemyUnitOfWork:
    """One transaction (or, when joining a host, one SAVEPOINT) over every repository."""

    def __init__(
        self, bind: Engine | sessionmaker[Session] | Session | Connection, tables: Tables
    ) -> None:
        self._bind = bind
        self._tables = tables
        self._connection: Connection | None = None
        self._session: Session | None = None
        self._transaction: Any = None
        self._owned = isinstance(bind, (Engine, sessionmaker))
        self._events: list[Event] = []
        self._committed: list[Event] = []
        self._done = False

    # -- lifecycle --------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._connection is not None or self._done:
            raise RuntimeError("a unit of work can be entered only once")
        try:
            self._begin()
        except BaseException as exc:
            failure = self._failed_begin(exc)
            if failure is None:
                raise
            raise failure from exc
        return self

    def _begin(self) -> None:
        bind = self._bind
        if isinstance(bind, Engine):
            self._connection = bind.connect()
            self._transaction = self._connection.begin()
        elif isinstance(bind, sessionmaker):
            self._session = bind()
            self._connection = self._session.connection()
        elif isinstance(bind, Session):
            self._connection = bind.connection()
            self._transaction = self._connection.begin_nested()
        else:
            self._connection = bind
            self._transaction = bind.begin_nested()

    def _failed_begin(self, error: BaseException) -> BaseException | None:
        """Clean up after BEGIN (or the checkout before it) raised; return what to raise
        instead of ``error`` (``None``: ``error`` itself)."""
        self._done = True
        if self._owned:
            self._discard()
            with contextlib.suppress(Exception):
                self._close()
        if isinstance(error, sa_exc.SQLAlchemyError):
            return translate(error, "begin a transaction")
        if not isinstance(error, Exception):
            _interrupted(error, "BEGIN", discarded=self._owned)
            return None
        driver = _unwrapped_driver_error(self._bind, error)
        if driver is not None:
            # A driver error that SQLAlchemy let through (raised by an engine_connect event,
            # e.g. a per-checkout isolation level).  Its frames hold the half-made connection;
            # dropped, the connection goes back to the pool now rather than at collection.
            error.__traceback__ = None
            return translate(driver, "begin a transaction")
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._done:
                self.rollback()
        finally:
            self._close()

    def commit(self) -> None:
        """Commit (or, when joining a host, release the SAVEPOINT).

        Raises:
            CommitOutcomeUnknown: COMMIT failed without the database answering it (a lost
                connection, an interrupt, a timeout): it may have committed.  The connection
                was discarded.
            TransientStorageError: the database refused the COMMIT for a reason a retry may
                not meet (a serialization failure): nothing was committed.
            StorageError: the database refused the COMMIT: nothing was committed.
        """
        if self._connection is None or self._done:
            raise RuntimeError("commit() needs an entered, unfinished unit of work")
        stored = [StoredEvent.of(event) for event in self._events]
        insert_events(self._db(), stored)
        self._done = True
        try:
            if self._session is not None:
                self._session.commit()
            else:
                self._transaction.commit()
        except BaseException as exc:
            failure = self._failed_commit(exc)
            if failure is None:
                raise
            raise failure from exc
        self._committed.extend(self._events)
        self._events.clear()

    def _failed_commit(self, error: BaseException) -> BaseException | None:
        """Clean up after COMMIT raised; return what to raise instead of ``error`` (``None``:
        ``error`` itself, an interrupt or exit, raised as it came)."""
        if not self._owned:
            # Joining a host: releasing the SAVEPOINT failed, and the host's transaction decides.
            if isinstance(error, sa_exc.SQLAlchemyError):
                return translate(error, "release the unit of work's savepoint")
            return None
        self._discard()
        if not isinstance(error, Exception):
            _interrupted(error, "COMMIT (it may or may not have committed)", discarded=True)
            return None
        if isinstance(error, sa_exc.DBAPIError) and refused_by_the_database(error):
            return translate(error, "commit")
        if isinstance(error, sa_exc.SQLAlchemyError):
            cause = classify(error).value
        else:
            cause = f"{type(error).__name__} raised while it was in flight"
        return CommitOutcomeUnknown(
            f"the store could not tell whether the commit happened: {cause}; the "
            "connection was discarded (resolve the outcome before running the call again)"
        )

    def rollback(self) -> None:
        """Discard everything written in this unit of work."""
        self._events.clear()
        if self._connection is None or self._done:
            return
        self._done = True
        try:
            if self._session is not None:
                self._session.rollback()
            elif self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        except sa_exc.SQLAlchemyError:
            # The connection is gone (killed backend, network): nothing was committed, and the
            # pool will discard the connection.
            self._discard(joined_too=True)
        except Exception:
            if not self._owned:
                raise
            self._discard()  # closing it rolls the transaction back: the rollback is done
        except BaseException as exc:
            if self._owned:
                self._discard()
            _interrupted(exc, "ROLLBACK", discarded=self._owned)
            raise

    def _discard(self, *, joined_too: bool = False) -> None:
        """Invalidate the connection: the pool closes it and opens another in its place, so
        it never serves a later call with this unit of work's transaction still open."""
        connection = self._connection
        if connection is None or not (self._owned or joined_too):
            return
        if connection.closed or connection.invalidated:
            return
        with contextlib.suppress(Exception):
            connection.invalidate()

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
        elif self._owned and self._connection is not None:
            self._connection.close()

    def record(self, event: Event) -> None:
        """Keep ``event`` with this unit of work's changes."""
        self._events.append(event)

    def collect_events(self) -> list[Event]:
        """Return (and forget) the events of the committed unit of work."""
        events, self._committed = self._committed, []
        return events

    # -- repositories -------------------------------------------------------------

    def _db(self) -> BoundConnection:
        if self._connection is None:
            raise RuntimeError("use the unit of work as a context manager")
        return BoundConnection(self._connection, self._tables)

    @property
    def organisations(self) -> SqlOrganisations:
        """The organisations repository."""
        return SqlOrganisations(self._db())

    @property
    def memberships(self) -> SqlMemberships:
        """The memberships repository."""
        return SqlMemberships(self._db())

    @property
    def domains(self) -> SqlDomainClaims:
        """The domain claims repository."""
        return SqlDomainClaims(self._db())

    @property
    def invitations(self) -> SqlInvitations:
        """The invitations repository."""
        return SqlInvitations(self._db())

    @property
    def join_requests(self) -> SqlJoinRequests:
        """The join requests repository."""
        return SqlJoinRequests(self._db())

    @property
    def ledger(self) -> SqlLedger:
        """The ledger (accounts and transfers)."""
        return SqlLedger(self._db())

    @property
    def holds(self) -> SqlHolds:
        """The holds repository."""
        return SqlHolds(self._db())

    @property
    def requests(self) -> SqlCreditRequests:
        """The credit requests repository."""
        return SqlCreditRequests(self._db())

    @property
    def idempotency(self) -> SqlIdempotency:
        """The idempotency records repository."""
        return SqlIdempotency(self._db())

    @property
    def teams(self) -> SqlTeams:
        """The teams repository (teams and members' assignments)."""
        return SqlTeams(self._db())

    @property
    def reports(self) -> SqlReports:
        """The report queries (usage analytics, transfer streams)."""
        return SqlReports(self._db())

    @property
    def views(self) -> SqlViews:
        """The bulk read models (the dashboard's member table)."""
        return SqlViews(self._db())

    @property
    def events(self) -> SqlEvents:
        """The stored events: outbox and audit log."""
        return SqlEvents(self._db())


def _unwrapped_driver_error(
    bind: Engine | sessionmaker[Session] | Session | Connection, error: BaseException
) -> sa_exc.DBAPIError | None:
    """``error`` wrapped as SQLAlchemy wraps its driver's errors, if it is a driver error."""
    try:
        if isinstance(bind, sessionmaker):
            engine = bind.kw.get("bind")
            dialect = engine.dialect if isinstance(engine, Engine) else None
        elif isinstance(bind, Session):
            dialect = bind.get_bind().dialect
        else:
            dialect = bind.dialect
        dbapi = None if dialect is None else dialect.loaded_dbapi
    except (sa_exc.SQLAlchemyError, AttributeError):
        return None
    if dialect is None or dbapi is None or not isinstance(error, dbapi.Error):
        return None
    lost = dialect.is_disconnect(error, None, None)
    wrapped = sa_exc.DBAPIError.instance(
        None, None, error, dbapi.Error, connection_invalidated=bool(lost), dialect=dialect
    )
    return wrapped if isinstance(wrapped, sa_exc.DBAPIError) else None
