"""The runner: one unit of work per use case, retries, idempotent replays, event dispatch.

Every use case goes through :meth:`Runner.run` (or :meth:`Runner.as_member`, which also
checks who is acting).  The runner opens a unit of work, brings the organisation into its
current period, runs the work, commits, and only then hands the recorded events to the
subscribed handlers.  A transient store failure (a serialization failure, a deadlock, a lost
connection) runs the whole unit of work again, unless the store joins a host's transaction.

A use case that writes declares its :class:`Replay`, so that running it again answers as its
first run did:

- Under the caller's idempotency key (or a spend's generation id) a call made again returns
  the first result.  A keyed call that fails looks its key up once more, in a fresh unit of
  work, before it raises: its conflict ("already approved", "already captured", too few
  credits) may come from a concurrent call with the same key that committed first.
- Without a key, the runner gives the call a key of its own (``armox:call:<uuid>``), recorded
  in the call's unit of work when the store may be retried.  When the answer to a COMMIT is
  lost (:class:`~armox_enterprise.exceptions.CommitOutcomeUnknown`), the next attempt looks
  that key up first: found, the call answers with the result of the attempt that committed
  (kept in memory), and runs nothing again; not found, it runs again.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Generic, NoReturn, TypeVar

import attrs

from armox_enterprise.application import arguments as args
from armox_enterprise.application.context import SYSTEM, Context
from armox_enterprise.application.turnover import bring_current
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission, authorise
from armox_enterprise.domain.idempotency import check_replay, fingerprint, internal_key
from armox_enterprise.domain.organisation import Membership, Organisation
from armox_enterprise.domain.values import ensure_utc
from armox_enterprise.exceptions import (
    ArmoxError,
    CommitOutcomeUnknown,
    DuplicateIdempotencyKey,
    IdempotencyConflict,
    InvalidInput,
    OrganisationNotFound,
    StorageError,
    TransientStorageError,
)
from armox_enterprise.ports import Clock, IdempotencyRecord, Store, UnitOfWork

__all__ = [
    "Found",
    "GenerationReplay",
    "Replay",
    "ReplayWatch",
    "Runner",
    "active_membership",
    "watch_replays",
]

_log = logging.getLogger("armox_enterprise")
_T = TypeVar("_T")

#: Errors that a second look at a key cannot change: bad input, a key used for another call,
#: and the store's own failures (retried, or not, apart).
_FINAL_ERRORS = (InvalidInput, IdempotencyConflict, StorageError)


@attrs.define
class ReplayWatch:
    """Counts the calls made while it watches that answered with an earlier call's result.

    A replay is a call made again under a caller's idempotency key (or a spend's or hold's
    generation id) that returned the first call's result and changed nothing.  A call whose
    own first attempt committed (its COMMIT answer lost) is not a replay.

    Attributes:
        replays: how many of the watched calls were replays.
    """

    replays: int = 0

    @property
    def replayed(self) -> bool:
        """Whether any watched call was a replay."""
        return self.replays > 0


#: The watches open in this thread or asyncio task (a thread that ``asyncio.to_thread`` starts
#: runs in a copy of the task's context: the same watches).
_watches: contextvars.ContextVar[tuple[ReplayWatch, ...]] = contextvars.ContextVar(
    "armox_enterprise_replay_watches", default=()
)


@contextlib.contextmanager
def watch_replays() -> Iterator[ReplayWatch]:
    """Tell whether the service calls made in the ``with`` block were replays.

    A replay is a call made again under an idempotency key (or a generation id) that
    returned the first call's result and changed nothing; a host may answer it differently
    (an HTTP ``Idempotent-Replayed`` header, a "nothing changed" line)::

        with watch_replays() as watch:
            transfer = service.top_up(admin, org_id, 5_000, idempotency_key="inv-1")
        if watch.replayed:
            ...

    The calls of every service made in the block, in this thread or asyncio task, count;
    ``watch.replays`` is how many of them were replays.  Watches nest.
    """
    watch = ReplayWatch()
    token = _watches.set((*_watches.get(), watch))
    try:
        yield watch
    finally:
        _watches.reset(token)


@attrs.frozen
class Found(Generic[_T]):
    """The result of an earlier run of a call, and the reference it was recorded with."""

    value: _T
    reference: str


def _never_loaded(ctx: Context, reference: str) -> NoReturn:
    raise AssertionError("only a call under a caller's key is loaded from storage")


def _no_reference(result: object) -> str:
    return ""


def _changed_something(result: object) -> bool:
    return bool(result)


@attrs.frozen
class Replay(Generic[_T]):
    """How a use case that writes answers when the same call comes again.

    Attributes:
        operation: the use case's name, stored with the key.
        key: the caller's idempotency key; ``None``: the runner gives the call a key of its
            own, so that a lost COMMIT answer never runs it twice.
        parameters: what a replay under the caller's key must repeat exactly.
        load: finds the first call's result from the reference stored with the caller's key.
        reference: the reference to store for a result (its id).
        kept: whether a result is worth recording under the call's own key, which is then
            recorded after the work (a job that changed nothing answers the same when it runs
            again).  Without it, the call's own key is recorded before the work: where the
            record's reference to the organisation takes the organisation's row (shared, on
            MariaDB and MySQL), it takes it before any other row, the order every unit of work
            keeps, so none of them deadlock on it.
    """

    operation: str
    key: str | None = None
    parameters: Sequence[object] = ()
    load: Callable[[Context, str], _T] = _never_loaded
    reference: Callable[[_T], str] = _no_reference
    kept: Callable[[_T], bool] | None = None

    def first(self, ctx: Context) -> Found[_T] | None:
        """Return the first result of the call made under the caller's key, if there was one.

        Raises:
            IdempotencyConflict: the key was used for another call.
        """
        if self.key is None:
            return None
        record = ctx.uow.idempotency.get(ctx.org.id, self.key)
        if record is None:
            return None
        check_replay(
            self.key,
            recorded_operation=record.operation,
            recorded_fingerprint=record.fingerprint,
            operation=self.operation,
            parameters=self.parameters,
        )
        return Found(self.load(ctx, record.result_ref), record.result_ref)

    def keep(self, ctx: Context, result: _T) -> None:
        """Record the caller's key with the result's reference (a second record is refused
        by the store: the call that loses replays the first)."""
        if self.key is None:
            return
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


@attrs.frozen
class GenerationReplay(Replay[_T]):
    """A spend or a hold: idempotent by the generation id (``key``) its transfer carries.

    ``find`` returns what the generation id already made, after checking that it was the same
    call; nothing else is recorded, the transfer's unique key is the record.
    """

    find: Callable[[Context], _T | None] = attrs.field(kw_only=True)

    def first(self, ctx: Context) -> Found[_T] | None:
        """Return what the generation id already made, if anything.

        Raises:
            IdempotencyConflict: the generation id was used for another call.
        """
        found = self.find(ctx)
        return None if found is None else Found(found, self.reference(found))

    def keep(self, ctx: Context, result: _T) -> None:
        """Nothing to record: the transfer carries the generation id."""


class _Call(Generic[_T]):
    """One call of a use case across the runner's attempts at it."""

    def __init__(self, replay: Replay[_T] | None, *, own_key: bool) -> None:
        self.replay = replay
        #: The call's own key: it has no caller's key, and the store may lose a COMMIT answer.
        self.key = (
            internal_key("call", uuid.uuid4().hex)
            if own_key and replay is not None and replay.key is None
            else None
        )
        self.attempt = 0
        self.reached = False
        self.replayed: str | None = None
        #: Whether the result is an earlier call's, found under the caller's key.
        self.earlier = False
        self.recorded_in: str | None = None
        #: Attempts whose COMMIT answer was lost: (result, events) by recorded reference.
        self.lost: dict[str, tuple[_T, list[ev.Event]]] = {}
        self.lost_in: set[str] = set()
        #: The error that a fresh look at the key decides (one look, then it is raised).
        self.recheck: ArmoxError | None = None

    def begin(self, attempt: int) -> None:
        """Start an attempt."""
        self.attempt = attempt
        self.reached = False
        self.replayed = None
        self.recorded_in = None

    def resolved(self, uow: UnitOfWork) -> Found[_T] | None:
        """After a lost COMMIT answer, the result of the attempt that committed, if one did.

        Raises:
            ArmoxError: the error a fresh look was to decide, when none committed.
        """
        if self.key is None or not self.lost_in:
            return None
        for organisation_id in sorted(self.lost_in):
            record = uow.idempotency.get(organisation_id, self.key)
            if record is not None:
                self.replayed = record.result_ref
                return Found(self.lost[record.result_ref][0], record.result_ref)
        if self.recheck is not None:
            raise self.recheck
        return None

    def apply(self, ctx: Context, act: Callable[[Context], _T]) -> _T:
        """Answer a call made again with its first result; otherwise act and record the call.

        Raises:
            IdempotencyConflict: the caller's key was used for another call.
        """
        replay = self.replay
        if replay is None:
            return act(ctx)
        self.reached = True
        found = replay.first(ctx)
        if found is not None:
            # Found under a reference of this call's own lost attempt: still not a replay.
            self.earlier = self.earlier or found.reference not in self.lost
            self.replayed = found.reference
            return found.value
        self.earlier = False
        if self.recheck is not None and replay.key is not None:
            raise self.recheck
        if replay.kept is None:
            self.keep_own(ctx.uow, ctx.org.id, ctx.now)
        result = act(ctx)
        replay.keep(ctx, result)
        if replay.kept is not None and replay.kept(result):
            self.keep_own(ctx.uow, ctx.org.id, ctx.now)
        return result

    def keep_own(self, uow: UnitOfWork, organisation_id: str | None, now: datetime) -> None:
        """Record the call's own key in the organisation (``None``: nowhere)."""
        replay = self.replay
        if self.key is None or replay is None or organisation_id is None:
            return
        uow.idempotency.add(
            IdempotencyRecord(
                organisation_id, self.key, replay.operation, "", str(self.attempt), now
            )
        )
        self.recorded_in = organisation_id

    def lose(self, result: _T, events: list[ev.Event]) -> None:
        """Remember an attempt whose COMMIT answer was lost, to answer with if it committed."""
        if self.recorded_in is not None:
            self.lost[str(self.attempt)] = (result, events)
            self.lost_in.add(self.recorded_in)
        elif self.replay is not None and self.replay.key is not None:
            reference = self.replayed or self.replay.reference(result)
            self.lost[reference] = (result, events)

    def events(self, committed: list[ev.Event]) -> list[ev.Event]:
        """What to dispatch: the events of the lost attempt answered with, then this one's."""
        if self.replayed is None or self.replayed not in self.lost:
            return committed
        return [*self.lost.pop(self.replayed)[1], *committed]

    def rechecks(self, error: ArmoxError) -> bool:
        """Whether to look the key up once more, in a fresh unit of work, before raising.

        A keyed call's conflict may be a concurrent call with the same key that committed
        first; a call whose COMMIT answer was lost may find that its own attempt committed.
        """
        if self.recheck is not None or isinstance(error, _FINAL_ERRORS):
            return False
        keyed = self.reached and self.replay is not None and self.replay.key is not None
        if not keyed and not self.lost_in:
            return False
        self.recheck = error
        return True


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

    def run(
        self,
        work: Callable[[UnitOfWork, datetime], _T],
        *,
        replay: Replay[_T] | None = None,
        scope: Callable[[_T], str | None] | None = None,
    ) -> _T:
        """Run ``work`` in a unit of work, commit, dispatch its events, return its result.

        Args:
            work: what to do, given the unit of work and the instant.
            replay: for work that writes and takes no caller's key: its operation.
            scope: the organisation the call's own key is recorded in, given the result
                (``None``: the call wrote nothing worth recording).
        """
        call = _Call(replay, own_key=self.retry_transient)

        def unit(uow: UnitOfWork, now: datetime) -> _T:
            result = work(uow, now)
            if scope is not None:
                call.keep_own(uow, scope(result), now)
            return result

        return self._attempts(unit, call)

    def _attempts(self, unit: Callable[[UnitOfWork, datetime], _T], call: _Call[_T]) -> _T:
        for attempt in range(1, self.max_attempts + 1):
            call.begin(attempt)
            try:
                result, events = self._attempt(unit, call)
            except DuplicateIdempotencyKey:
                # Another caller committed the same key first: a fresh attempt replays it.
                if attempt == self.max_attempts:
                    raise
                continue
            except TransientStorageError as error:
                if not self.retry_transient:
                    raise
                if attempt == self.max_attempts:
                    # The driver's error stays the cause, as on every library error.
                    raise _exhausted(error, attempt) from (error.__cause__ or error)
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            except ArmoxError as error:
                if attempt == self.max_attempts or not call.rechecks(error):
                    raise
                continue
            if call.earlier:
                for watch in _watches.get():
                    watch.replays += 1
            self.dispatch(call.events(events))
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self, unit: Callable[[UnitOfWork, datetime], _T], call: _Call[_T]
    ) -> tuple[_T, list[ev.Event]]:
        now = self.now()
        with self.store.unit_of_work() as uow:
            found = call.resolved(uow)
            if found is not None:
                return found.value, []
            result = unit(uow, now)
            try:
                uow.commit()
            except CommitOutcomeUnknown:
                call.lose(result, uow.collect_events())
                raise
            return result, uow.collect_events()

    def dispatch(self, events: list[ev.Event]) -> None:
        """Hand committed events to every handler; a failing handler is logged and skipped."""
        for event in events:
            for handler in self.handlers:
                try:
                    handler(event)
                except Exception:
                    _log.exception("event handler %r failed on %s", handler, event.name)

    def in_context(
        self,
        enter: Callable[[UnitOfWork, datetime], Context],
        work: Callable[[Context], _T],
        *,
        replay: Replay[_T] | None = None,
    ) -> _T:
        """Run ``work`` in the context that ``enter`` makes in each attempt's unit of work,
        answering a call made again as ``replay`` says."""
        call = _Call(replay, own_key=self.retry_transient)

        def unit(uow: UnitOfWork, now: datetime) -> _T:
            return call.apply(enter(uow, now), work)

        return self._attempts(unit, call)

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

        A use case that writes passes its ``replay``; one that only reads passes none.

        Raises:
            OrganisationNotFound: no such organisation, or ``actor`` is not a member of it.
            PermissionDenied: the member's role does not hold ``permission``.
        """

        organisation_id = args.ref(organisation_id, "organisation_id")

        def enter(uow: UnitOfWork, now: datetime) -> Context:
            return self.enter(uow, now, organisation_id, actor, permission, lock=lock)

        return self.in_context(enter, work, replay=replay)

    def as_system(
        self,
        organisation_id: str,
        work: Callable[[Context], _T],
        *,
        replay: Replay[_T] | None = None,
        lock: bool = False,
    ) -> _T:
        """Run ``work`` as the system (a job) on the organisation, in its current period.

        Without a ``replay``, a job whose result is truthy (it changed something) is recorded
        under the call's own key, so a lost COMMIT answer returns its first result.  With
        ``lock``, the organisation's row is locked first (as :meth:`enter` locks it).
        """

        organisation_id = args.ref(organisation_id, "organisation_id")

        def enter(uow: UnitOfWork, now: datetime) -> Context:
            org = self.organisation(uow, organisation_id, now=now, for_update=lock)
            ctx = Context(uow, now, org, SYSTEM)
            bring_current(ctx)
            return ctx

        job: Replay[_T] = Replay("job", kept=_changed_something)
        return self.in_context(enter, work, replay=job if replay is None else replay)

    def organisation(
        self,
        uow: UnitOfWork,
        organisation_id: str,
        *,
        now: datetime | None = None,
        for_update: bool = False,
        actor: str | None = None,
    ) -> Organisation:
        """Load the organisation (as others see it: before this unit of work wrote anything).

        The organisation's row is the first row a unit of work locks (the library's lock
        order, :func:`~armox_enterprise.domain.ledger.in_lock_order`).  With ``for_update``
        it is locked for writing its columns now, never upgraded later; so it is too when
        its period is known to have ended by ``now`` (the unit of work's instant), since
        bringing it current writes them.

        Raises:
            OrganisationNotFound: there is none with that id (for an ``actor``, in the words
                an outsider gets: it does not exist, or they are not a member).
        """
        organisation_id = args.ref(organisation_id, "organisation_id")
        known = self.periods.get(organisation_id)
        due = known is not None and now is not None and known[1] <= now
        org = uow.organisations.get(organisation_id, for_update=for_update or due)
        if org is None:
            raise OrganisationNotFound.for_user(organisation_id, actor)
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
        org = self.organisation(uow, organisation_id, now=now, for_update=lock, actor=actor)
        membership = active_membership(uow, org.id, actor)
        authorise(membership, permission)
        ctx = Context(uow, now, org, actor, membership)
        bring_current(ctx)
        return ctx


def _exhausted(error: TransientStorageError, attempts: int) -> TransientStorageError:
    """The error a call raises when its last attempt failed transiently: the same class,
    saying how often it was tried and whether running it again is safe."""
    if isinstance(error, CommitOutcomeUnknown):
        advice = (
            "the last COMMIT may have taken effect: run the call again with the same "
            "idempotency key (it then returns the first result), never without one"
        )
    else:
        advice = (
            "nothing of the call was committed: it is safe to run again (with the same "
            "idempotency key, if it has one)"
        )
    return type(error)(f"{error} (tried {attempts} times; {advice})")


def active_membership(uow: UnitOfWork, organisation_id: str, actor: str) -> Membership:
    """Return ``actor``'s active membership of the organisation.

    Raises:
        OrganisationNotFound: ``actor`` is not an active member (answered as if the
            organisation did not exist: its ids leak nothing to outsiders).
    """
    membership = uow.memberships.get(organisation_id, actor)
    if membership is None or not membership.is_active:
        raise OrganisationNotFound.for_user(organisation_id, actor)
    return membership
