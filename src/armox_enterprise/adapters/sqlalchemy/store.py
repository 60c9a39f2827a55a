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
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import attrs
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    CursorResult,
    Engine,
    Executable,
    Integer,
    Row,
    Table,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from typing_extensions import Self

from armox_enterprise.adapters.sqlalchemy.errors import translate
from armox_enterprise.adapters.sqlalchemy.events import SqlEvents, insert_events
from armox_enterprise.adapters.sqlalchemy.reports import SqlReports
from armox_enterprise.adapters.sqlalchemy.tables import Tables, UtcDateTime
from armox_enterprise.adapters.sqlalchemy.tables import tables as default_tables
from armox_enterprise.adapters.sqlalchemy.views import SqlViews
from armox_enterprise.domain.events import Event
from armox_enterprise.domain.ledger import (
    SPENDING_KINDS,
    USAGE,
    Account,
    AccountKind,
    Hold,
    HoldStatus,
    Transfer,
    TransferKind,
    account_kind,
)
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinMode,
    JoinRequest,
    JoinRequestStatus,
    MemberRemainder,
    Membership,
    MemberStatus,
    Organisation,
    Role,
    RolloverPolicy,
)
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.values import DomainName, EmailAddress
from armox_enterprise.exceptions import (
    AccountClosed,
    AlreadyMember,
    ArmoxError,
    DomainAlreadyClaimed,
    DuplicateIdempotencyKey,
    HoldAlreadyResolved,
    InsufficientCredits,
    InvalidTransition,
    NotFound,
    StorageError,
)
from armox_enterprise.ports import IdempotencyRecord, PeriodTotals, StoredEvent

__all__ = ["SqlAlchemyStore", "SqlAlchemyUnitOfWork", "configure_sqlite"]

_US = timedelta(microseconds=1)


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
        insert_events(self._repo(), stored)
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

    def _repo(self) -> _Base:
        if self._connection is None:
            raise RuntimeError("use the unit of work as a context manager")
        return _Base(self._connection, self._tables)

    @property
    def organisations(self) -> _Organisations:
        """The organisations repository."""
        return _Organisations(self._repo())

    @property
    def memberships(self) -> _Memberships:
        """The memberships repository."""
        return _Memberships(self._repo())

    @property
    def domains(self) -> _Domains:
        """The domain claims repository."""
        return _Domains(self._repo())

    @property
    def invitations(self) -> _Invitations:
        """The invitations repository."""
        return _Invitations(self._repo())

    @property
    def join_requests(self) -> _JoinRequests:
        """The join requests repository."""
        return _JoinRequests(self._repo())

    @property
    def ledger(self) -> _Ledger:
        """The ledger (accounts and transfers)."""
        return _Ledger(self._repo())

    @property
    def holds(self) -> _Holds:
        """The holds repository."""
        return _Holds(self._repo())

    @property
    def requests(self) -> _Requests:
        """The credit requests repository."""
        return _Requests(self._repo())

    @property
    def idempotency(self) -> _Idempotency:
        """The idempotency records repository."""
        return _Idempotency(self._repo())

    @property
    def reports(self) -> SqlReports:
        """The report queries (usage analytics, transfer streams)."""
        return SqlReports(self._repo())

    @property
    def views(self) -> SqlViews:
        """The bulk read models (the dashboard's member table)."""
        return SqlViews(self._repo())

    @property
    def events(self) -> SqlEvents:
        """The stored events: outbox and audit log."""
        return SqlEvents(self._repo())


class _Base:
    def __init__(self, connection: Connection, tables: Tables) -> None:
        self.c = connection
        self.t = tables

    def run(self, statement: Executable, params: Any = None) -> Any:
        try:
            return self.c.execute(statement, params)
        except sa_exc.IntegrityError:
            raise
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc) from exc

    def rows(self, statement: Executable) -> Sequence[Row[Any]]:
        result: CursorResult[Any] = self.run(statement)
        return result.all()

    def one(self, statement: Executable) -> Row[Any] | None:
        result: CursorResult[Any] = self.run(statement)
        return result.first()

    def write(
        self, statement: Executable, params: Any = None, error: ArmoxError | None = None
    ) -> int:
        try:
            result: CursorResult[Any] = self.run(statement, params)
        except sa_exc.IntegrityError as exc:
            raise (error or translate(exc)) from exc
        return result.rowcount

    @property
    def dialect(self) -> str:
        return self.c.dialect.name


class _Repository:
    def __init__(self, base: _Base) -> None:
        self._b = base
        self._t = base.t


# -- organisations -------------------------------------------------------------------


def _org_values(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "monthly_allowance": org.monthly_allowance,
        "cycle_anchor": org.cycle_anchor,
        "created_at": org.created_at,
        "current_period_index": org.current_period_index,
        "current_period_end": org.current_period.end,
        "join_mode": org.join_mode.value,
        "seat_limit": org.seat_limit,
        "pool_carry_over_cap": org.rollover.pool_carry_over_cap,
        "member_remainder": org.rollover.member_remainder.value,
        "max_open_requests": org.max_open_requests,
        "allow_pool_spend": org.allow_pool_spend,
        "hold_lifetime_us": org.hold_lifetime // _US,
    }


def _org(row: Row[Any]) -> Organisation:
    m = row._mapping
    return Organisation(
        id=m["id"],
        name=m["name"],
        monthly_allowance=m["monthly_allowance"],
        cycle_anchor=m["cycle_anchor"],
        created_at=m["created_at"],
        current_period_index=m["current_period_index"],
        join_mode=JoinMode(m["join_mode"]),
        seat_limit=m["seat_limit"],
        rollover=RolloverPolicy(m["pool_carry_over_cap"], MemberRemainder(m["member_remainder"])),
        max_open_requests=m["max_open_requests"],
        allow_pool_spend=bool(m["allow_pool_spend"]),
        hold_lifetime=m["hold_lifetime_us"] * _US,
    )


class _Organisations(_Repository):
    def add(self, organisation: Organisation) -> None:
        self._b.write(insert(self._t.organisations).values(**_org_values(organisation)))
        self._b.write(insert(self._t.relay_locks).values(organisation_id=organisation.id))

    def get(self, organisation_id: str, *, for_update: bool = False) -> Organisation | None:
        t = self._t.organisations
        query = select(t).where(t.c.id == organisation_id)
        if for_update:
            query = query.with_for_update()
        row = self._b.one(query)
        return None if row is None else _org(row)

    def update(self, organisation: Organisation) -> None:
        t = self._t.organisations
        values = _org_values(organisation)
        del values["id"]
        if not self._b.write(update(t).where(t.c.id == organisation.id).values(**values)):
            raise NotFound(f"organisation {organisation.id} does not exist")

    def all_ids(self) -> list[str]:
        t = self._t.organisations
        return [row[0] for row in self._b.rows(select(t.c.id).order_by(t.c.id))]

    def due_for_turnover(self, instant: datetime) -> list[str]:
        t = self._t.organisations
        query = select(t.c.id).where(t.c.current_period_end <= instant).order_by(t.c.id)
        return [row[0] for row in self._b.rows(query)]


# -- memberships ---------------------------------------------------------------------


def _membership_values(m: Membership) -> dict[str, Any]:
    return {
        "organisation_id": m.organisation_id,
        "user_id": m.user_id,
        "active_user_id": m.user_id if m.is_active else None,
        "email": str(m.email),
        "display_name": m.display_name,
        "name_key": m.display_name.casefold(),
        "role": m.role.value,
        "status": m.status.value,
        "joined_at": m.joined_at,
        "removed_at": m.removed_at,
        "standing_allotment": m.standing_allotment,
    }


def _membership(row: Row[Any]) -> Membership:
    m = row._mapping
    return Membership(
        organisation_id=m["organisation_id"],
        user_id=m["user_id"],
        email=EmailAddress.parse(m["email"]),
        display_name=m["display_name"],
        role=Role(m["role"]),
        joined_at=m["joined_at"],
        status=MemberStatus(m["status"]),
        standing_allotment=m["standing_allotment"],
        removed_at=m["removed_at"],
    )


class _Memberships(_Repository):
    def add(self, membership: Membership) -> None:
        error = AlreadyMember(f"user {membership.user_id} already has a membership")
        self._b.write(
            insert(self._t.memberships).values(**_membership_values(membership)), error=error
        )

    def get(self, organisation_id: str, user_id: str) -> Membership | None:
        t = self._t.memberships
        row = self._b.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.user_id == user_id)
        )
        return None if row is None else _membership(row)

    def active_for_user(self, user_id: str) -> Membership | None:
        t = self._t.memberships
        row = self._b.one(select(t).where(t.c.active_user_id == user_id))
        return None if row is None else _membership(row)

    def update(self, membership: Membership) -> None:
        t = self._t.memberships
        values = _membership_values(membership)
        error = AlreadyMember(f"user {membership.user_id} is already an enterprise member")
        count = self._b.write(
            update(t)
            .where(
                t.c.organisation_id == membership.organisation_id,
                t.c.user_id == membership.user_id,
            )
            .values(**values),
            error=error,
        )
        if not count:
            raise NotFound(f"user {membership.user_id} has no membership to update")

    def list(self, organisation_id: str, *, active_only: bool = True) -> list[Membership]:
        t = self._t.memberships
        query = select(t).where(t.c.organisation_id == organisation_id)
        if active_only:
            query = query.where(t.c.status == MemberStatus.ACTIVE.value)
        query = query.order_by(t.c.joined_at, t.c.user_id)
        return [_membership(row) for row in self._b.rows(query)]

    def count_active(self, organisation_id: str, *, admins_only: bool = False) -> int:
        t = self._t.memberships
        query = select(func.count()).where(
            t.c.organisation_id == organisation_id, t.c.status == MemberStatus.ACTIVE.value
        )
        if admins_only:
            query = query.where(t.c.role == Role.ADMIN.value)
        row = self._b.one(query)
        return int(row[0]) if row is not None else 0


# -- domains, invitations, join requests -------------------------------------------


def _claim(row: Row[Any]) -> DomainClaim:
    m = row._mapping
    return DomainClaim(
        domain=DomainName(m["domain"]),
        organisation_id=m["organisation_id"],
        verification_token=m["verification_token"],
        claimed_at=m["claimed_at"],
        include_subdomains=bool(m["include_subdomains"]),
        verified_at=m["verified_at"],
    )


def _claim_values(claim: DomainClaim) -> dict[str, Any]:
    return {
        "domain": claim.domain.value,
        "organisation_id": claim.organisation_id,
        "verification_token": claim.verification_token,
        "claimed_at": claim.claimed_at,
        "include_subdomains": claim.include_subdomains,
        "verified_at": claim.verified_at,
    }


class _Domains(_Repository):
    def add(self, claim: DomainClaim) -> None:
        error = DomainAlreadyClaimed(f"{claim.domain} is already claimed")
        self._b.write(insert(self._t.domain_claims).values(**_claim_values(claim)), error=error)

    def get(self, domain: DomainName) -> DomainClaim | None:
        t = self._t.domain_claims
        row = self._b.one(select(t).where(t.c.domain == domain.value))
        return None if row is None else _claim(row)

    def update(self, claim: DomainClaim) -> None:
        t = self._t.domain_claims
        values = _claim_values(claim)
        self._b.write(update(t).where(t.c.domain == claim.domain.value).values(**values))

    def remove(self, domain: DomainName) -> None:
        t = self._t.domain_claims
        self._b.write(delete(t).where(t.c.domain == domain.value))

    def list(self, organisation_id: str) -> list[DomainClaim]:
        t = self._t.domain_claims
        query = select(t).where(t.c.organisation_id == organisation_id).order_by(t.c.domain)
        return [_claim(row) for row in self._b.rows(query)]


def _invitation(row: Row[Any]) -> Invitation:
    m = row._mapping
    return Invitation(
        organisation_id=m["organisation_id"],
        email=EmailAddress.parse(m["email"]),
        role=Role(m["role"]),
        invited_by=m["invited_by"],
        created_at=m["created_at"],
        accepted_at=m["accepted_at"],
    )


class _Invitations(_Repository):
    def put(self, invitation: Invitation) -> None:
        t = self._t.invitations
        key = str(invitation.email).lower()
        values = {
            "email": str(invitation.email),
            "role": invitation.role.value,
            "invited_by": invitation.invited_by,
            "created_at": invitation.created_at,
            "accepted_at": invitation.accepted_at,
        }
        where = and_(t.c.organisation_id == invitation.organisation_id, t.c.email_key == key)
        if not self._b.write(update(t).where(where).values(**values)):
            self._b.write(
                insert(t).values(
                    organisation_id=invitation.organisation_id, email_key=key, **values
                )
            )

    def open_for(self, email: EmailAddress) -> list[Invitation]:
        t = self._t.invitations
        query = (
            select(t)
            .where(t.c.email_key == str(email).lower(), t.c.accepted_at.is_(None))
            .order_by(t.c.created_at, t.c.organisation_id)
        )
        return [_invitation(row) for row in self._b.rows(query)]

    def list(self, organisation_id: str) -> list[Invitation]:
        t = self._t.invitations
        query = (
            select(t)
            .where(t.c.organisation_id == organisation_id)
            .order_by(t.c.created_at, t.c.email_key)
        )
        return [_invitation(row) for row in self._b.rows(query)]


def _join_request(row: Row[Any]) -> JoinRequest:
    m = row._mapping
    return JoinRequest(
        id=m["id"],
        organisation_id=m["organisation_id"],
        user_id=m["user_id"],
        email=EmailAddress.parse(m["email"]),
        display_name=m["display_name"],
        created_at=m["created_at"],
        status=JoinRequestStatus(m["status"]),
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
    )


class _JoinRequests(_Repository):
    def add(self, request: JoinRequest) -> None:
        self._b.write(
            insert(self._t.join_requests).values(
                id=request.id,
                organisation_id=request.organisation_id,
                user_id=request.user_id,
                email=str(request.email),
                display_name=request.display_name,
                created_at=request.created_at,
                status=request.status.value,
                decided_by=request.decided_by,
                decided_at=request.decided_at,
            )
        )

    def get(self, organisation_id: str, request_id: str) -> JoinRequest | None:
        t = self._t.join_requests
        row = self._b.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.id == request_id)
        )
        return None if row is None else _join_request(row)

    def pending_for_user(self, user_id: str) -> JoinRequest | None:
        t = self._t.join_requests
        row = self._b.one(
            select(t)
            .where(t.c.user_id == user_id, t.c.status == JoinRequestStatus.PENDING.value)
            .order_by(t.c.created_at, t.c.id)
        )
        return None if row is None else _join_request(row)

    def update(self, request: JoinRequest) -> None:
        t = self._t.join_requests
        count = self._b.write(
            update(t)
            .where(
                t.c.organisation_id == request.organisation_id,
                t.c.id == request.id,
                t.c.status == JoinRequestStatus.PENDING.value,
            )
            .values(
                status=request.status.value,
                decided_by=request.decided_by,
                decided_at=request.decided_at,
            )
        )
        if not count:
            raise InvalidTransition(f"join request {request.id} is no longer pending")

    def list_pending(self, organisation_id: str) -> list[JoinRequest]:
        t = self._t.join_requests
        query = (
            select(t)
            .where(
                t.c.organisation_id == organisation_id,
                t.c.status == JoinRequestStatus.PENDING.value,
            )
            .order_by(t.c.created_at, t.c.id)
        )
        return [_join_request(row) for row in self._b.rows(query)]


# -- ledger ----------------------------------------------------------------------------


def _account(row: Row[Any]) -> Account:
    m = row._mapping
    return Account(
        organisation_id=m["organisation_id"],
        code=m["code"],
        credits_posted=m["credits_posted"],
        debits_posted=m["debits_posted"],
        debits_pending=m["debits_pending"],
        closed=bool(m["closed"]),
    )


def _transfer(row: Row[Any]) -> Transfer:
    m = row._mapping
    return Transfer(
        id=m["id"],
        organisation_id=m["organisation_id"],
        kind=TransferKind(m["kind"]),
        debit_account=m["debit_account"],
        credit_account=m["credit_account"],
        amount=m["amount"],
        period_index=m["period_index"],
        actor=m["actor"],
        created_at=m["created_at"],
        idempotency_key=m["idempotency_key"],
        reference=m["reference"],
        feature=m["feature"],
        model=m["model"],
    )


class _Ledger(_Repository):
    def open_account(self, account: Account) -> None:
        t = self._t.accounts
        where = and_(t.c.organisation_id == account.organisation_id, t.c.code == account.code)
        if self._b.one(select(t.c.code).where(where)) is not None:
            return
        self._b.write(
            insert(t).values(
                organisation_id=account.organisation_id,
                code=account.code,
                guarded=account.kind.guarded,
                credits_posted=account.credits_posted,
                debits_posted=account.debits_posted,
                debits_pending=account.debits_pending,
                closed=account.closed,
                spent=0,
                # Start at the organisation's current period, so that a spend stamped with
                # an already closed period (a process whose clock lags) is refused.
                spend_period=select(self._t.organisations.c.current_period_index)
                .where(self._t.organisations.c.id == account.organisation_id)
                .scalar_subquery(),
                spend_total=0,
                spend_at=None,
            )
        )

    def _members_spent(self, organisation_id: str, code: str) -> int:
        """The usage account's credits from spends: the sum of what its members spent."""
        if code != USAGE:
            return 0
        t = self._t.accounts
        row = self._b.one(
            select(func.coalesce(func.sum(t.c.spent), 0)).where(
                t.c.organisation_id == organisation_id
            )
        )
        return 0 if row is None else int(row[0])

    def get_account(
        self, organisation_id: str, code: str, *, for_update: bool = False
    ) -> Account | None:
        t = self._t.accounts
        query = select(t).where(t.c.organisation_id == organisation_id, t.c.code == code)
        row = self._b.one(query.with_for_update() if for_update else query)
        if row is None:
            return None
        account = _account(row)
        extra = self._members_spent(organisation_id, code)
        return attrs.evolve(account, credits_posted=account.credits_posted + extra)

    def accounts(self, organisation_id: str) -> list[Account]:
        t = self._t.accounts
        query = select(t).where(t.c.organisation_id == organisation_id).order_by(t.c.code)
        found = [_account(row) for row in self._b.rows(query)]
        extra = self._members_spent(organisation_id, USAGE)
        return [
            attrs.evolve(a, credits_posted=a.credits_posted + extra) if a.code == USAGE else a
            for a in found
        ]

    def set_closed(self, organisation_id: str, code: str, closed: bool) -> None:
        t = self._t.accounts
        count = self._b.write(
            update(t)
            .where(t.c.organisation_id == organisation_id, t.c.code == code)
            .values(closed=closed)
        )
        if not count:
            raise NotFound(f"account {code} does not exist in organisation {organisation_id}")

    def post(self, transfer: Transfer) -> None:
        if (
            transfer.kind is TransferKind.SPEND
            and transfer.credit_account == USAGE
            and account_kind(transfer.debit_account) is AccountKind.MEMBER
        ):
            self._post_spend(transfer)
        else:
            self._post_any(transfer)

    def _insert_transfer(self, transfer: Transfer, statement: Executable | None = None) -> None:
        try:
            if statement is None:
                self._b.run(insert(self._t.transfers).values(**_transfer_values(transfer)))
            else:
                self._b.run(statement, _transfer_values(transfer))
        except sa_exc.IntegrityError as exc:
            message = str(exc.orig).lower()
            if "foreign key" in message:
                raise NotFound(
                    f"account {transfer.debit_account} or {transfer.credit_account} "
                    f"does not exist in {transfer.organisation_id}"
                ) from exc
            if "idempotency_key" in message:
                raise DuplicateIdempotencyKey(
                    f"generation id {transfer.idempotency_key!r} was already used"
                ) from exc
            raise translate(exc) from exc

    def _post_spend(self, transfer: Transfer) -> None:
        """A spend in two statements: the transfer, and the member's row.

        The member's row carries the debit, what the member spent in all (the usage
        account's side of the spend) and this period's spend total.
        The statements are built once per set of tables and reused, so a spend costs no
        statement construction, only execution.
        """
        statements = _spend_statements(self._t, self._b.dialect)
        params = {
            "o": transfer.organisation_id,
            "c": transfer.debit_account,
            "a": transfer.amount,
            "p": transfer.period_index,
            "t": transfer.created_at,
        }
        # The row first: InnoDB's foreign-key check on the transfer would otherwise take a
        # shared lock on it that two concurrent spends then both try to upgrade (a deadlock).
        if self._b.write(statements.debit, params) != 1:
            self._refuse(transfer)
        self._insert_transfer(transfer, statements.insert)

    def _refuse(self, transfer: Transfer) -> None:
        t = self._t.accounts
        row = self._b.one(
            select(t).where(
                t.c.organisation_id == transfer.organisation_id,
                t.c.code == transfer.debit_account,
            )
        )
        if row is None:
            raise NotFound(
                f"account {transfer.debit_account} does not exist in {transfer.organisation_id}"
            )
        account = _account(row)
        if account.closed and transfer.kind in SPENDING_KINDS:
            raise AccountClosed(f"account {account.code} is closed to new spending")
        if row._mapping["spend_period"] > transfer.period_index:
            raise StorageError(
                f"transfer {transfer.id} belongs to closed period {transfer.period_index}"
            )
        raise InsufficientCredits(
            f"account {account.code} has {account.available} credits available, "
            f"{transfer.amount} were asked for",
            available=account.available,
            requested=transfer.amount,
        )

    def _post_any(self, transfer: Transfer) -> None:
        t = self._t.accounts
        org = transfer.organisation_id
        amount = transfer.amount
        kind = transfer.kind
        available = t.c.credits_posted - t.c.debits_posted - t.c.debits_pending
        condition: ColumnElement[bool] | None = None
        if kind is TransferKind.HOLD:
            values: dict[str, Any] = {"debits_pending": t.c.debits_pending + amount}
        elif kind is TransferKind.RELEASE:
            values = {"debits_pending": t.c.debits_pending - amount}
            condition = t.c.debits_pending >= amount
        elif kind is TransferKind.CAPTURE:
            values = {
                "debits_pending": t.c.debits_pending - amount,
                "debits_posted": t.c.debits_posted + amount,
            }
            condition = t.c.debits_pending >= amount
        else:
            values = {"debits_posted": t.c.debits_posted + amount}
        guarded = account_kind(transfer.debit_account).guarded
        if guarded and kind not in (TransferKind.RELEASE, TransferKind.CAPTURE):
            condition = available >= amount
        debit_where = and_(t.c.organisation_id == org, t.c.code == transfer.debit_account)
        statement = update(t).where(debit_where)
        if condition is not None:
            statement = statement.where(condition)
        if kind in SPENDING_KINDS:
            statement = statement.where(t.c.closed == false())
        insufficient = InsufficientCredits(
            f"account {transfer.debit_account} has too few credits available",
            available=0,
            requested=amount,
        )
        if self._b.write(statement.values(**values), error=insufficient) != 1:
            self._refuse(transfer)
        if kind.posts:
            credited = self._b.write(
                update(t)
                .where(t.c.organisation_id == org, t.c.code == transfer.credit_account)
                .values(credits_posted=t.c.credits_posted + amount)
            )
            if credited != 1:
                raise NotFound(f"account {transfer.credit_account} does not exist in {org}")
        self._insert_transfer(transfer)
        self._count(transfer, transfer.debit_account, "d")
        if kind.posts:
            self._count(transfer, transfer.credit_account, "c")

    def _count(self, transfer: Transfer, account: str, side: str) -> None:
        self._add_total(
            transfer.organisation_id,
            account,
            transfer.period_index,
            side,
            transfer.kind.value,
            transfer.amount,
            transfer.created_at,
        )

    def _add_total(
        self,
        organisation_id: str,
        account: str,
        period_index: int,
        side: str,
        kind: str,
        amount: int,
        at: datetime,
    ) -> None:
        values = {
            "organisation_id": organisation_id,
            "account": account,
            "period_index": period_index,
            "side": side,
            "kind": kind,
            "amount": amount,
            "last_activity": at,
        }
        self._b.write(_upsert_add(self._b.dialect, self._t.period_totals, values))

    def seal_period(self, organisation_id: str, period_index: int) -> None:
        """Move the period's spend totals from the account rows into ``period_totals``."""
        accounts = self._t.accounts
        spent = self._b.rows(
            select(accounts.c.code, accounts.c.spend_total, accounts.c.spend_at).where(
                accounts.c.organisation_id == organisation_id,
                accounts.c.spend_period == period_index,
                accounts.c.spend_total > 0,
            )
        )
        for row in spent:
            m = row._mapping
            self._add_total(
                organisation_id,
                m["code"],
                period_index,
                "d",
                "spend",
                m["spend_total"],
                m["spend_at"],
            )
        total, at = self._members_period_spend(organisation_id, period_index)
        if total:
            assert at is not None
            self._add_total(organisation_id, USAGE, period_index, "c", "spend", total, at)
        self._b.write(
            update(accounts)
            .where(
                accounts.c.organisation_id == organisation_id,
                accounts.c.spend_period <= period_index,
            )
            .values(spend_period=period_index + 1, spend_total=0)
        )

    def _members_period_spend(
        self, organisation_id: str, period_index: int
    ) -> tuple[int, datetime | None]:
        accounts = self._t.accounts
        row = self._b.one(
            select(
                func.sum(accounts.c.spend_total).label("total"),
                func.max(accounts.c.spend_at).label("at"),
            ).where(
                accounts.c.organisation_id == organisation_id,
                accounts.c.spend_period == period_index,
            )
        )
        if row is None:
            return 0, None
        total = row._mapping["total"]
        return (int(total) if total else 0), row._mapping["at"]

    def get_transfer(self, organisation_id: str, transfer_id: str) -> Transfer | None:
        t = self._t.transfers
        row = self._b.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.id == transfer_id)
        )
        return None if row is None else _transfer(row)

    def transfer_by_key(self, organisation_id: str, key: str) -> Transfer | None:
        t = self._t.transfers
        row = self._b.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.idempotency_key == key)
        )
        return None if row is None else _transfer(row)

    def transfers(
        self,
        organisation_id: str,
        *,
        account: str | None = None,
        period_index: int | None = None,
        kinds: Sequence[TransferKind] | None = None,
        reference: str | None = None,
    ) -> list[Transfer]:
        t = self._t.transfers
        query = select(t).where(t.c.organisation_id == organisation_id)
        if account is not None:
            query = query.where(or_(t.c.debit_account == account, t.c.credit_account == account))
        if period_index is not None:
            query = query.where(t.c.period_index == period_index)
        if kinds is not None:
            query = query.where(t.c.kind.in_([k.value for k in kinds]))
        if reference is not None:
            query = query.where(t.c.reference == reference)
        query = query.order_by(t.c.created_at, t.c.id)
        return [_transfer(row) for row in self._b.rows(query)]

    def period_totals(self, organisation_id: str, account: str, period_index: int) -> PeriodTotals:
        t = self._t.period_totals
        query = select(t.c.side, t.c.kind, t.c.amount, t.c.last_activity).where(
            t.c.organisation_id == organisation_id,
            t.c.account == account,
            t.c.period_index == period_index,
        )
        credits: dict[TransferKind, int] = {}
        debits: dict[TransferKind, int] = {}
        last: datetime | None = None
        for row in self._b.rows(query):
            m = row._mapping
            side, kind, amount, at = m["side"], m["kind"], m["amount"], m["last_activity"]
            (credits if side == "c" else debits)[TransferKind(kind)] = int(amount)
            if at is not None and (last is None or at > last):
                last = at
        # This period's spends are still on the account rows.
        if account == USAGE:
            side_totals = credits
            amount, at = self._members_period_spend(organisation_id, period_index)
        else:
            accounts = self._t.accounts
            live = self._b.one(
                select(accounts.c.spend_total, accounts.c.spend_at).where(
                    accounts.c.organisation_id == organisation_id,
                    accounts.c.code == account,
                    accounts.c.spend_period == period_index,
                )
            )
            side_totals = debits
            amount = 0 if live is None else int(live._mapping["spend_total"])
            at = None if live is None else live._mapping["spend_at"]
        if amount:
            side_totals[TransferKind.SPEND] = side_totals.get(TransferKind.SPEND, 0) + int(amount)
            if at is not None and (last is None or at > last):
                last = at
        return PeriodTotals(credits, debits, last)


@attrs.frozen
class _SpendStatements:
    insert: Executable
    debit: Executable


# Keyed by the tables themselves (not their id(), which a later set of tables could reuse).
_spend_cache: dict[tuple[Tables, str], _SpendStatements] = {}


def _spend_statements(tables: Tables, dialect: str) -> _SpendStatements:
    """The spend path's statements for ``tables``, built once and reused."""
    key = (tables, dialect)
    found = _spend_cache.get(key)
    if found is not None:
        return found
    accounts = tables.accounts
    amount = bindparam("a", type_=BigInteger)
    period = bindparam("p", type_=Integer)
    at = bindparam("t", type_=UtcDateTime)
    # MySQL assigns SET clauses left to right: the total reads the period before it changes.
    debit = (
        update(accounts)
        .where(
            accounts.c.organisation_id == bindparam("o"),
            accounts.c.code == bindparam("c"),
            accounts.c.credits_posted - accounts.c.debits_posted - accounts.c.debits_pending
            >= amount,
            accounts.c.closed == false(),
            accounts.c.spend_period <= period,
        )
        .ordered_values(
            (accounts.c.debits_posted, accounts.c.debits_posted + amount),
            (accounts.c.spent, accounts.c.spent + amount),
            (accounts.c.spend_total, _rolling(accounts.c.spend_period, accounts.c.spend_total)),
            (accounts.c.spend_period, period),
            (accounts.c.spend_at, at),
        )
    )
    built = _SpendStatements(insert(tables.transfers), debit)
    _spend_cache[key] = built
    return built


def _rolling(period_column: Any, total_column: Any) -> Any:
    """This period's running total: restart it when the row still counts an older period."""
    amount = bindparam("a", type_=BigInteger)
    return case(
        (period_column == bindparam("p", type_=Integer), total_column + amount), else_=amount
    )


def _transfer_values(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "organisation_id": transfer.organisation_id,
        "kind": transfer.kind.value,
        "debit_account": transfer.debit_account,
        "credit_account": transfer.credit_account,
        "amount": transfer.amount,
        "period_index": transfer.period_index,
        "actor": transfer.actor,
        "created_at": transfer.created_at,
        "idempotency_key": transfer.idempotency_key,
        "reference": transfer.reference,
        "feature": transfer.feature,
        "model": transfer.model,
    }


def _upsert_add(dialect: str, table: Table, values: dict[str, Any]) -> Executable:
    """An INSERT that, on a primary-key clash, adds ``amount`` and keeps the later activity."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table).values(**values)
        return pg.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={
                "amount": table.c.amount + pg.excluded.amount,
                "last_activity": func.greatest(table.c.last_activity, pg.excluded.last_activity),
            },
        )
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as my_insert

        my = my_insert(table).values(**values)
        return my.on_duplicate_key_update(
            amount=table.c.amount + my.inserted.amount,
            last_activity=func.greatest(table.c.last_activity, my.inserted.last_activity),
        )
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        lite = lite_insert(table).values(**values)
        return lite.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={
                "amount": table.c.amount + lite.excluded.amount,
                "last_activity": func.max(table.c.last_activity, lite.excluded.last_activity),
            },
        )
    raise StorageError(f"the {dialect} dialect is not supported (PostgreSQL, MySQL, SQLite are)")


# -- holds, requests, idempotency ----------------------------------------------------------


def _hold(row: Row[Any]) -> Hold:
    m = row._mapping
    return Hold(
        id=m["id"],
        organisation_id=m["organisation_id"],
        user_id=m["user_id"],
        amount=m["amount"],
        period_index=m["period_index"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        reference=m["reference"],
        status=HoldStatus(m["status"]),
        captured=m["captured"],
        resolved_at=m["resolved_at"],
        feature=m["feature"],
        model=m["model"],
    )


class _Holds(_Repository):
    def add(self, hold: Hold) -> None:
        self._b.write(
            insert(self._t.holds).values(
                id=hold.id,
                organisation_id=hold.organisation_id,
                user_id=hold.user_id,
                amount=hold.amount,
                period_index=hold.period_index,
                created_at=hold.created_at,
                expires_at=hold.expires_at,
                reference=hold.reference,
                status=hold.status.value,
                captured=hold.captured,
                resolved_at=hold.resolved_at,
                feature=hold.feature,
                model=hold.model,
            )
        )

    def get(self, organisation_id: str, hold_id: str) -> Hold | None:
        t = self._t.holds
        row = self._b.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.id == hold_id)
        )
        return None if row is None else _hold(row)

    def resolve(self, hold: Hold) -> None:
        t = self._t.holds
        where = and_(t.c.organisation_id == hold.organisation_id, t.c.id == hold.id)
        count = self._b.write(
            update(t)
            .where(where, t.c.status == HoldStatus.PENDING.value)
            .values(status=hold.status.value, captured=hold.captured, resolved_at=hold.resolved_at)
        )
        if not count:
            row = self._b.one(select(t.c.status).where(where))
            if row is None:
                raise NotFound(f"hold {hold.id} does not exist")
            raise HoldAlreadyResolved(f"hold {hold.id} is already {row[0]}")

    def pending(
        self,
        organisation_id: str,
        *,
        user_id: str | None = None,
        expiring_before: datetime | None = None,
    ) -> list[Hold]:
        t = self._t.holds
        query = select(t).where(
            t.c.organisation_id == organisation_id, t.c.status == HoldStatus.PENDING.value
        )
        if user_id is not None:
            query = query.where(t.c.user_id == user_id)
        if expiring_before is not None:
            query = query.where(t.c.expires_at <= expiring_before)
        return [_hold(row) for row in self._b.rows(query.order_by(t.c.created_at, t.c.id))]


def _request(row: Row[Any]) -> CreditRequest:
    m = row._mapping
    return CreditRequest(
        id=m["id"],
        organisation_id=m["organisation_id"],
        user_id=m["user_id"],
        amount=m["amount"],
        note=m["note"],
        period_index=m["period_index"],
        created_at=m["created_at"],
        status=RequestStatus(m["status"]),
        approved_amount=m["approved_amount"],
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
        decision_note=m["decision_note"],
    )


class _Requests(_Repository):
    def add(self, request: CreditRequest) -> None:
        self._b.write(
            insert(self._t.credit_requests).values(
                id=request.id,
                organisation_id=request.organisation_id,
                user_id=request.user_id,
                amount=request.amount,
                note=request.note,
                period_index=request.period_index,
                created_at=request.created_at,
                status=request.status.value,
                approved_amount=request.approved_amount,
                decided_by=request.decided_by,
                decided_at=request.decided_at,
                decision_note=request.decision_note,
            )
        )

    def get(self, organisation_id: str, request_id: str) -> CreditRequest | None:
        t = self._t.credit_requests
        row = self._b.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.id == request_id)
        )
        return None if row is None else _request(row)

    def decide(self, request: CreditRequest) -> None:
        t = self._t.credit_requests
        where = and_(t.c.organisation_id == request.organisation_id, t.c.id == request.id)
        count = self._b.write(
            update(t)
            .where(where, t.c.status == RequestStatus.PENDING.value)
            .values(
                status=request.status.value,
                approved_amount=request.approved_amount,
                decided_by=request.decided_by,
                decided_at=request.decided_at,
                decision_note=request.decision_note,
            )
        )
        if not count:
            row = self._b.one(select(t.c.status).where(where))
            if row is None:
                raise NotFound(f"credit request {request.id} does not exist")
            raise InvalidTransition(f"credit request {request.id} is already {row[0]}")

    def list(
        self,
        organisation_id: str,
        *,
        status: RequestStatus | None = None,
        user_id: str | None = None,
        period_index: int | None = None,
    ) -> list[CreditRequest]:
        t = self._t.credit_requests
        query = select(t).where(t.c.organisation_id == organisation_id)
        if status is not None:
            query = query.where(t.c.status == status.value)
        if user_id is not None:
            query = query.where(t.c.user_id == user_id)
        if period_index is not None:
            query = query.where(t.c.period_index == period_index)
        return [_request(row) for row in self._b.rows(query.order_by(t.c.created_at, t.c.id))]


class _Idempotency(_Repository):
    def get(self, organisation_id: str, key: str) -> IdempotencyRecord | None:
        t = self._t.idempotency
        row = self._b.one(select(t).where(t.c.organisation_id == organisation_id, t.c.key == key))
        if row is None:
            return None
        m = row._mapping
        return IdempotencyRecord(
            organisation_id=m["organisation_id"],
            key=m["key"],
            operation=m["operation"],
            fingerprint=m["fingerprint"],
            result_ref=m["result_ref"],
            created_at=m["created_at"],
        )

    def add(self, record: IdempotencyRecord) -> None:
        error = DuplicateIdempotencyKey(f"idempotency key {record.key!r} was already used")
        self._b.write(
            insert(self._t.idempotency).values(
                organisation_id=record.organisation_id,
                key=record.key,
                operation=record.operation,
                fingerprint=record.fingerprint,
                result_ref=record.result_ref,
                created_at=record.created_at,
            ),
            error=error,
        )
