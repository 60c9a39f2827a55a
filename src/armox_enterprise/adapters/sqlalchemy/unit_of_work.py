"""The SQLAlchemy store's unit of work: one transaction (or SAVEPOINT) over every repository.

It rolls back unless committed; the events recorded in it are stored in the same transaction
(the outbox) and handed out only after the commit.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from typing_extensions import Self

from armox_enterprise.adapters.sqlalchemy.connection import BoundConnection
from armox_enterprise.adapters.sqlalchemy.credit_requests import SqlCreditRequests
from armox_enterprise.adapters.sqlalchemy.domain_claims import SqlDomainClaims
from armox_enterprise.adapters.sqlalchemy.errors import translate
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
from armox_enterprise.adapters.sqlalchemy.views import SqlViews
from armox_enterprise.domain.events import Event
from armox_enterprise.ports import StoredEvent

__all__ = ["SqlAlchemyUnitOfWork"]


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
        except sa_exc.SQLAlchemyError as exc:
            self._close()
            raise translate(exc) from exc
        return self

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
        """Commit (or, when joining a host, release the SAVEPOINT)."""
        if self._connection is None or self._done:
            raise RuntimeError("commit() needs an entered, unfinished unit of work")
        stored = [StoredEvent.of(event) for event in self._events]
        insert_events(self._db(), stored)
        try:
            if self._session is not None:
                self._session.commit()
            else:
                self._transaction.commit()
        except sa_exc.SQLAlchemyError as exc:
            self._done = True
            raise translate(exc) from exc
        self._done = True
        self._committed.extend(self._events)
        self._events.clear()

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
            if self._connection is not None:
                self._connection.invalidate()

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
