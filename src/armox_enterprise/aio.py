"""asyncio hosts: :class:`AsyncEnterpriseService`, every use case of the service as a coroutine.

The use cases are written once, in :class:`~armox_enterprise.EnterpriseService`.  The async
facade runs the synchronous service inside SQLAlchemy's greenlet bridge, the mechanism under
``AsyncSession`` itself: a call runs in a greenlet on the event loop's thread, and each time one
of its statements waits on the database, the greenlet hands the wait to the loop, which serves
other tasks meanwhile.  So every use case, its retries, its idempotency and its events are the
synchronous service's own, and a coroutine twin exists for each of its public methods (a test
fails when one is missing).

Three ways to build one:

* ``AsyncEnterpriseService(async_engine)`` (or an ``async_sessionmaker``): each call is a
  transaction of its own that the library commits, retried on transient failures;
* ``AsyncEnterpriseService.joining(async_session)`` (or an ``AsyncConnection``): each call is a
  SAVEPOINT in the host's transaction, which the library never commits;
* ``AsyncEnterpriseService.over(service)``: a service on a store that never waits (the
  :class:`~armox_enterprise.MemoryStore`), called straight from the coroutine, for tests.

Importing this module needs neither SQLAlchemy nor greenlet; the first two constructors do.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from armox_enterprise.application.service import EnterpriseService
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.enrolment import FreeMailList
from armox_enterprise.ports import Clock, DnsResolver

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import (
        AsyncConnection,
        AsyncEngine,
        AsyncSession,
        async_sessionmaker,
    )

    from armox_enterprise.adapters.sqlalchemy import Tables

__all__ = ["AsyncEnterpriseService"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class _Bridge:
    """How a call of the synchronous service runs from a coroutine."""

    async def run(self, call: Callable[[], _T]) -> _T:
        """Run ``call`` and return what it returns (or raise what it raises)."""
        raise NotImplementedError

    def stream(self, lines: Iterator[str]) -> AsyncGenerator[str, None]:
        """The lines of an export, read one at a time through :meth:`run`; closing the
        generator closes the export's unit of work."""
        return _streamed(self, lines)


async def _streamed(bridge: _Bridge, lines: Iterator[str]) -> AsyncGenerator[str, None]:
    try:
        while True:
            line = await bridge.run(lambda: next(lines, None))
            if line is None:
                return
            yield line
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            await bridge.run(close)


class _OnTheLoop(_Bridge):
    """A store that never waits (the memory store): the call runs at once, on the loop."""

    async def run(self, call: Callable[[], _T]) -> _T:
        """Run ``call`` now."""
        return call()

    def stream(self, lines: Iterator[str]) -> AsyncGenerator[str, None]:
        """Every line read now: the memory store's unit of work holds its lock until the
        export ends, and a task that waited on it would block the loop's other tasks."""
        return _listed(list(lines))


async def _listed(lines: list[str]) -> AsyncGenerator[str, None]:
    for line in lines:
        yield line


class _Greenlet(_Bridge):
    """A store on an ``AsyncEngine``'s synchronous facade: the call runs in a greenlet."""

    async def run(self, call: Callable[[], _T]) -> _T:
        """Run ``call`` in a greenlet whose database waits the event loop serves."""
        from sqlalchemy.util import greenlet_spawn

        return await greenlet_spawn(call)


class _HostSession(_Bridge):
    """A store joined to a host's ``AsyncSession`` or ``AsyncConnection``: the call runs
    through its ``run_sync``, on the synchronous session or connection underneath."""

    def __init__(self, host: AsyncSession | AsyncConnection) -> None:
        self._host = host

    async def run(self, call: Callable[[], _T]) -> _T:
        """Run ``call`` through the host's ``run_sync``."""
        return await self._host.run_sync(lambda _sync: call())


class _DnsOffTheLoop:
    """A resolver whose lookups run in a worker thread: a slow DNS server never holds up the
    loop.  Only used inside the greenlet bridge, which awaits the thread."""

    def __init__(self, dns: DnsResolver) -> None:
        self._dns = dns

    def txt_records(self, domain: str) -> Sequence[str]:
        """Return the TXT strings at ``domain``, looked up by the host's resolver in a thread."""
        from sqlalchemy.util import await_only

        return await_only(asyncio.to_thread(self._dns.txt_records, domain))


def _twin(
    method: Callable[Concatenate[EnterpriseService, _P], _T],
) -> Callable[Concatenate[AsyncEnterpriseService, _P], Coroutine[Any, Any, _T]]:
    """The coroutine twin of a use case: the same name, arguments, result, errors and
    docstring, awaited."""

    async def twin(self: AsyncEnterpriseService, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        service = self._service
        return await self._bridge.run(lambda: method(service, *args, **kwargs))

    functools.update_wrapper(twin, method)
    return twin


def _export_twin(
    method: Callable[Concatenate[EnterpriseService, _P], Iterator[str]],
) -> Callable[
    Concatenate[AsyncEnterpriseService, _P], Coroutine[Any, Any, AsyncGenerator[str, None]]
]:
    """The coroutine twin of a CSV export: awaiting it checks the permission and the range,
    as the call does; the lines then come from an async generator (``async for``), read in
    the export's own unit of work, which ``aclose()`` or exhausting it closes."""

    async def twin(
        self: AsyncEnterpriseService, /, *args: _P.args, **kwargs: _P.kwargs
    ) -> AsyncGenerator[str, None]:
        service, bridge = self._service, self._bridge
        lines = await bridge.run(lambda: method(service, *args, **kwargs))
        return bridge.stream(lines)

    functools.update_wrapper(twin, method)
    return twin


class AsyncEnterpriseService:
    """:class:`~armox_enterprise.EnterpriseService` for asyncio hosts: each use case and view
    a coroutine of the same name, arguments, result and errors.

    Built on an ``AsyncEngine`` (or an ``async_sessionmaker``), each call is a transaction of
    its own that the library commits, and transient failures (a deadlock, a serialization
    failure, a lost connection) are retried up to ``max_attempts`` times, as the
    synchronous service on :class:`~armox_enterprise.adapters.sqlalchemy.SqlAlchemyStore`
    does.  See :meth:`joining` for the host's transaction and :meth:`over` for the memory
    store.

    Calls run on the event loop's thread, in SQLAlchemy's greenlet bridge: while a statement
    waits on the database the loop serves other tasks; the library's own work between
    statements (and a retry's short pause) runs on the loop.  Domain verification asks the
    resolver in a worker thread.

    Args:
        bind: an ``AsyncEngine``, or an ``async_sessionmaker`` bound to one.  On SQLite
            (aiosqlite) configure it first with
            ``configure_sqlite(engine.sync_engine)``.
        tables: the library's tables (default: the standard ones; see
            :func:`~armox_enterprise.adapters.sqlalchemy.make_tables`).
        clock: the time source; defaults to the system clock.
        dns: resolves TXT records for domain verification; without one, verification fails.
        free_mail: the providers that can never be claimed (default: the bundled list).
        max_attempts: how often a unit of work is tried on transient failures.
        request_alert_after: how long a credit request may wait before :meth:`check_alerts`
            raises a ``RequestWaitingAlert``.

    Raises:
        TypeError: ``bind`` is neither, or the sessionmaker has no ``AsyncEngine`` bound.
    """

    _service: EnterpriseService
    _bridge: _Bridge

    def __init__(
        self,
        bind: AsyncEngine | async_sessionmaker[AsyncSession],
        *,
        tables: Tables | None = None,
        clock: Clock | None = None,
        dns: DnsResolver | None = None,
        free_mail: FreeMailList | None = None,
        max_attempts: int = 8,
        request_alert_after: timedelta = timedelta(hours=24),
    ) -> None:
        from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
        from sqlalchemy.orm import Session, sessionmaker

        from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
        from armox_enterprise.adapters.sqlalchemy import tables as default_tables

        sync_bind: Any
        if isinstance(bind, AsyncEngine):
            sync_bind = bind.sync_engine
        elif isinstance(bind, async_sessionmaker):
            engine = bind.kw.get("bind")
            if not isinstance(engine, AsyncEngine):
                raise TypeError("the async_sessionmaker has no AsyncEngine bound")
            session_class = bind.kw.get("sync_session_class") or Session
            sync_bind = sessionmaker(engine.sync_engine, class_=session_class)
        else:
            raise TypeError("bind must be an AsyncEngine or an async_sessionmaker")
        store = SqlAlchemyStore(sync_bind, tables=tables or default_tables)
        service = EnterpriseService(
            store,
            clock=clock,
            dns=None if dns is None else _DnsOffTheLoop(dns),
            free_mail=free_mail,
            max_attempts=max_attempts,
            request_alert_after=request_alert_after,
        )
        self._setup(service, _Greenlet())

    @classmethod
    def joining(
        cls,
        host: AsyncSession | AsyncConnection,
        *,
        tables: Tables | None = None,
        clock: Clock | None = None,
        dns: DnsResolver | None = None,
        free_mail: FreeMailList | None = None,
        max_attempts: int = 8,
        request_alert_after: timedelta = timedelta(hours=24),
    ) -> AsyncEnterpriseService:
        """Return a service whose calls run inside ``host``'s transaction.

        Each call is a SAVEPOINT of the transaction of ``host``, an ``AsyncSession`` or an
        (open) ``AsyncConnection``, as with ``SqlAlchemyStore.joining``: a call that raises
        undoes only its own writes, the library never commits, and the host awaits
        ``commit()`` or ``rollback()``.  Transient failures are not retried (the host's
        transaction is gone); they reach the host as
        :class:`~armox_enterprise.TransientStorageError`.  Building one is cheap: build one
        per request, on the request's session, and use it from that request's task only (an
        ``AsyncSession`` serves one task at a time).

        Raises:
            TypeError: ``host`` is neither, or the connection is not open.
        """
        from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

        from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
        from armox_enterprise.adapters.sqlalchemy import tables as default_tables

        if isinstance(host, AsyncSession):
            sync_host: Any = host.sync_session
        elif isinstance(host, AsyncConnection):
            sync_host = host.sync_connection
            if sync_host is None:
                raise TypeError("the AsyncConnection is not open: enter it with `async with`")
        else:
            raise TypeError("host must be an AsyncSession or an AsyncConnection")
        store = SqlAlchemyStore.joining(sync_host, tables=tables or default_tables)
        service = EnterpriseService(
            store,
            clock=clock,
            dns=None if dns is None else _DnsOffTheLoop(dns),
            free_mail=free_mail,
            max_attempts=max_attempts,
            request_alert_after=request_alert_after,
        )
        made = cls.__new__(cls)
        made._setup(service, _HostSession(host))
        return made

    @classmethod
    def over(cls, service: EnterpriseService) -> AsyncEnterpriseService:
        """Return the coroutines of ``service``, whose store never waits: each call runs at
        once, on the event loop.

        For the :class:`~armox_enterprise.MemoryStore` (tests of an asyncio host, small
        tools): the async service and ``service`` share the store, the clock and the event
        handlers.  A store that waits on a database would block the loop meanwhile: use the
        constructor or :meth:`joining` for SQLAlchemy.  A CSV export is read whole when
        awaited.

        Raises:
            TypeError: ``service`` is not an ``EnterpriseService``.
        """
        if not isinstance(service, EnterpriseService):
            raise TypeError("service must be an EnterpriseService")
        made = cls.__new__(cls)
        made._setup(service, _OnTheLoop())
        return made

    def _setup(self, service: EnterpriseService, bridge: _Bridge) -> None:
        self._service = service
        self._bridge = bridge

    def subscribe(self, handler: Callable[[ev.Event], None]) -> None:
        """Call ``handler`` with every event, after the unit of work that recorded it commits.

        The handler is a plain function, called on the event loop's thread before the awaited
        call returns: keep it short, and hand slow work to a task
        (``asyncio.get_running_loop().create_task(...)``) or a queue (``put_nowait``).  A
        handler that raises is logged and does not stop the others; the change stays made.
        """
        self._service.subscribe(handler)

    # The coroutine twins, one per public method of EnterpriseService (a test keeps the two
    # lists equal), in the order of the use-case modules.

    create_organisation = _twin(EnterpriseService.create_organisation)
    get_organisation = _twin(EnterpriseService.get_organisation)
    update_settings = _twin(EnterpriseService.update_settings)
    set_monthly_allowance = _twin(EnterpriseService.set_monthly_allowance)

    claim_domain = _twin(EnterpriseService.claim_domain)
    verify_domain = _twin(EnterpriseService.verify_domain)
    list_domains = _twin(EnterpriseService.list_domains)
    remove_domain = _twin(EnterpriseService.remove_domain)

    sign_up = _twin(EnterpriseService.sign_up)
    enrol = _twin(EnterpriseService.enrol)
    invite = _twin(EnterpriseService.invite)
    capture_existing_users = _twin(EnterpriseService.capture_existing_users)
    list_join_requests = _twin(EnterpriseService.list_join_requests)
    decide_join_request = _twin(EnterpriseService.decide_join_request)

    list_members = _twin(EnterpriseService.list_members)
    change_role = _twin(EnterpriseService.change_role)
    remove_member = _twin(EnterpriseService.remove_member)
    set_standing_allotment = _twin(EnterpriseService.set_standing_allotment)

    provision_member = _twin(EnterpriseService.provision_member)
    deactivate_member = _twin(EnterpriseService.deactivate_member)
    delete_member = _twin(EnterpriseService.delete_member)
    reactivate_member = _twin(EnterpriseService.reactivate_member)
    directory_member = _twin(EnterpriseService.directory_member)
    directory_members = _twin(EnterpriseService.directory_members)
    directory_user = _twin(EnterpriseService.directory_user)
    directory_users = _twin(EnterpriseService.directory_users)

    allocate_credits = _twin(EnterpriseService.allocate_credits)
    reclaim_credits = _twin(EnterpriseService.reclaim_credits)
    top_up = _twin(EnterpriseService.top_up)
    refund = _twin(EnterpriseService.refund)

    create_team = _twin(EnterpriseService.create_team)
    rename_team = _twin(EnterpriseService.rename_team)
    delete_team = _twin(EnterpriseService.delete_team)
    list_teams = _twin(EnterpriseService.list_teams)
    team_members = _twin(EnterpriseService.team_members)
    fund_team = _twin(EnterpriseService.fund_team)
    reclaim_team_budget = _twin(EnterpriseService.reclaim_team_budget)
    assign_team = _twin(EnterpriseService.assign_team)
    delegate_team = _twin(EnterpriseService.delegate_team)

    spend = _twin(EnterpriseService.spend)
    reserve = _twin(EnterpriseService.reserve)
    capture_hold = _twin(EnterpriseService.capture_hold)
    release_hold = _twin(EnterpriseService.release_hold)
    release_expired_holds = _twin(EnterpriseService.release_expired_holds)

    set_spend_cap = _twin(EnterpriseService.set_spend_cap)
    set_soft_limit = _twin(EnterpriseService.set_soft_limit)
    spend_cap_status = _twin(EnterpriseService.spend_cap_status)

    request_credits = _twin(EnterpriseService.request_credits)
    approve_request = _twin(EnterpriseService.approve_request)
    reject_request = _twin(EnterpriseService.reject_request)
    cancel_request = _twin(EnterpriseService.cancel_request)
    list_requests = _twin(EnterpriseService.list_requests)

    close_due_periods = _twin(EnterpriseService.close_due_periods)
    check_alerts = _twin(EnterpriseService.check_alerts)
    recheck_domains = _twin(EnterpriseService.recheck_domains)
    relay = _twin(EnterpriseService.relay)

    profile = _twin(EnterpriseService.profile)
    dashboard = _twin(EnterpriseService.dashboard)
    pool_utilisation = _twin(EnterpriseService.pool_utilisation)
    request_statistics = _twin(EnterpriseService.request_statistics)
    usage_report = _twin(EnterpriseService.usage_report)
    top_consumers = _twin(EnterpriseService.top_consumers)
    audit_log = _twin(EnterpriseService.audit_log)
    reconcile = _twin(EnterpriseService.reconcile)
    export_usage_csv = _export_twin(EnterpriseService.export_usage_csv)
    export_ledger_csv = _export_twin(EnterpriseService.export_ledger_csv)
