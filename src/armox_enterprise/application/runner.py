"""The runner: one unit of work per use case, retries, idempotent replays, event dispatch.

Every use case goes through :meth:`Runner.run` (or :meth:`Runner.as_member`, which also
checks who is acting).  The runner opens a unit of work, brings the organisation into its
current period, runs the work, commits, and only then hands the recorded events to the
subscribed handlers.  A transient store failure (a serialization failure, a deadlock, a lost
connection) runs the whole unit of work again, unless the store joins a host's transaction.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

import attrs

from armox_enterprise.application import arguments as args
from armox_enterprise.application.context import SYSTEM, Context
from armox_enterprise.application.turnover import bring_current
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission, authorise
from armox_enterprise.domain.idempotency import check_replay, fingerprint
from armox_enterprise.domain.organisation import Membership, Organisation
from armox_enterprise.domain.values import ensure_utc
from armox_enterprise.exceptions import (
    DuplicateIdempotencyKey,
    OrganisationNotFound,
    TransientStorageError,
)
from armox_enterprise.ports import Clock, IdempotencyRecord, Store, UnitOfWork

__all__ = ["Replay", "Runner"]

_log = logging.getLogger("armox_enterprise")
_T = TypeVar("_T")


@attrs.frozen
class Replay(Generic[_T]):
    """How a use case is made idempotent by a caller's key.

    Attributes:
        operation: the use case's name, stored with the key.
        key: the caller's key (``None``: the call is not idempotent by key).
        parameters: what a replay must repeat exactly.
        load: finds the first call's result from the reference stored with the key.
        reference: the reference to store for a result (its id).
    """

    operation: str
    key: str | None
    parameters: Sequence[object]
    load: Callable[[Context, str], _T]
    reference: Callable[[_T], str]

    def apply(self, ctx: Context, act: Callable[[Context], _T]) -> _T:
        """Run ``act`` once per key: a replay returns the first result and does nothing.

        Raises:
            IdempotencyConflict: the key was used for another call.
        """
        if self.key is None:
            return act(ctx)
        record = ctx.uow.idempotency.get(ctx.org.id, self.key)
        if record is not None:
            check_replay(
                self.key,
                recorded_operation=record.operation,
                recorded_fingerprint=record.fingerprint,
                operation=self.operation,
                parameters=self.parameters,
            )
            return self.load(ctx, record.result_ref)
        result = act(ctx)
        ctx.uow.idempotency.add(
            IdempotencyRecord(
                ctx.org.id,
                self.key,
                self.operation,
                fingerprint(self.parameters),
                self.reference(result),
                ctx.now,
            )
        )
        return result


class Runner:
    """Runs use cases on a store: the service's one path to storage.

    Args:
        store: where the data lives.
        clock: the time source.
        max_attempts: how often a unit of work is tried on transient failures.
    """

    def __init__(self, store: Store, clock: Clock, max_attempts: int) -> None:
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        # A store that joins its host's transaction cannot retry it: that is the host's call.
        self.retry_transient = bool(getattr(store, "retry_transient", True))
        self.handlers: list[Callable[[ev.Event], None]] = []
        #: Each organisation's current period as last read (index, end): until the period's
        #: end that index is the organisation's, whoever turns the period over.
        self.periods: dict[str, tuple[int, datetime]] = {}

    def now(self) -> datetime:
        """The clock's current instant, checked to be aware."""
        return ensure_utc(self.clock.now(), name="clock.now()")

    def run(self, work: Callable[[UnitOfWork, datetime], _T]) -> _T:
        """Run ``work`` in a unit of work, commit, dispatch its events, return its result."""
        for attempt in range(1, self.max_attempts + 1):
            now = self.now()
            try:
                with self.store.unit_of_work() as uow:
                    result = work(uow, now)
                    uow.commit()
                    events = uow.collect_events()
            except DuplicateIdempotencyKey:
                # Another caller committed the same key first: a fresh attempt replays it.
                if attempt == self.max_attempts:
                    raise
                continue
            except TransientStorageError:
                if attempt == self.max_attempts or not self.retry_transient:
                    raise
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            self.dispatch(events)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def dispatch(self, events: list[ev.Event]) -> None:
        """Hand committed events to every handler; a failing handler is logged and skipped."""
        for event in events:
            for handler in self.handlers:
                try:
                    handler(event)
                except Exception:
                    _log.exception("event handler %r failed on %s", handler, event.name)

    def as_member(
        self,
        actor: str,
        organisation_id: str,
        permission: Permission,
        work: Callable[[Context], _T],
        *,
        replay: Replay[_T] | None = None,
        lock: bool = False,
    ) -> _T:
        """Run ``work`` for an active member of the organisation who holds ``permission``.

        Raises:
            OrganisationNotFound: no such organisation, or ``actor`` is not a member of it.
            PermissionDenied: the member's role does not hold ``permission``.
        """

        organisation_id = args.ref(organisation_id, "organisation_id")

        def unit(uow: UnitOfWork, now: datetime) -> _T:
            ctx = self.enter(uow, now, organisation_id, actor, permission, lock=lock)
            return work(ctx) if replay is None else replay.apply(ctx, work)

        return self.run(unit)

    def as_system(self, organisation_id: str, work: Callable[[Context], _T]) -> _T:
        """Run ``work`` as the system (a job) on the organisation, in its current period."""

        organisation_id = args.ref(organisation_id, "organisation_id")

        def unit(uow: UnitOfWork, now: datetime) -> _T:
            ctx = Context(uow, now, self.organisation(uow, organisation_id), SYSTEM)
            bring_current(ctx)
            return work(ctx)

        return self.run(unit)

    def organisation(self, uow: UnitOfWork, organisation_id: str) -> Organisation:
        """Load the organisation (as others see it: before this unit of work wrote anything).

        Raises:
            OrganisationNotFound: there is none with that id.
        """
        org = uow.organisations.get(args.ref(organisation_id, "organisation_id"))
        if org is None:
            raise OrganisationNotFound(f"organisation {organisation_id} does not exist")
        period = org.current_period
        self.periods[org.id] = (period.index, period.end)
        return org

    def enter(
        self,
        uow: UnitOfWork,
        now: datetime,
        organisation_id: str,
        actor: str,
        permission: Permission,
        *,
        lock: bool = False,
    ) -> Context:
        """Return the context of ``actor`` acting in the organisation, checked and current.

        With ``lock``, the organisation row is locked first: writers of its columns (settings,
        turnover) never overwrite each other.
        """
        org = self.organisation(uow, organisation_id)
        membership = active_membership(uow, org.id, actor)
        authorise(membership, permission)
        ctx = Context(uow, now, org, actor, membership)
        bring_current(ctx)
        if lock:
            locked = uow.organisations.get(org.id, for_update=True)
            assert locked is not None
            ctx.org = locked
            bring_current(ctx)
        return ctx


def active_membership(uow: UnitOfWork, organisation_id: str, actor: str) -> Membership:
    """Return ``actor``'s active membership of the organisation.

    Raises:
        OrganisationNotFound: ``actor`` is not an active member (answered as if the
            organisation did not exist: its ids leak nothing to outsiders).
    """
    membership = uow.memberships.get(organisation_id, actor)
    if membership is None or not membership.is_active:
        raise OrganisationNotFound(f"organisation {organisation_id} does not exist")
    return membership
