"""Concurrent replays: one idempotency key, the same parameters, 8 callers at once.

Every idempotent use case is called from 8 threads released together by a barrier, with one
key (or generation id) and the same parameters, a few rounds in a row, on every database
backend.  Every caller must get the first result, and the ledger and the audit log must show
one effect.  Balances are tight on purpose: the pool or the member holds exactly what one call
moves, so a caller that runs after the winner meets "too few credits", "already captured" or
"already decided" unless it looks the key up again.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from armox_enterprise import EnterpriseService, HoldAlreadyResolved
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.domain.ledger import POOL, Hold, Transfer, member_account
from armox_enterprise.domain.requests import CreditRequest
from armox_enterprise.testing import enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

THREADS = 8
ROUNDS = 3
AMOUNT = 10

Result = Transfer | Hold | CreditRequest
Call = Callable[[], Result]


class Case:
    """An organisation whose member holds exactly what one call moves, and its service."""

    def __init__(self, backend: Backend, isolation: str | None) -> None:
        engine = backend.engine
        if isolation is not None:
            engine = engine.execution_options(isolation_level=isolation)
        store = SqlAlchemyStore(engine)
        self.scenario = enterprise(store=store, members=2, allowance=1_000)
        self.service = self.new_service()
        self.admin = self.scenario.admin
        self.org_id = self.scenario.org_id
        self.member = self.scenario.members[0]

    def new_service(self) -> EnterpriseService:
        """A service on the scenario's store that retries patiently under contention."""
        s = self.scenario
        return EnterpriseService(s.store, clock=s.clock, dns=s.dns, max_attempts=200)

    def available(self, code: str) -> int:
        with self.scenario.store.unit_of_work() as uow:
            account = uow.ledger.get_account(self.org_id, code)
            assert account is not None
            return account.available

    def pool_holds_one_call(self) -> None:
        """Leave exactly AMOUNT in the pool (the rest goes to the second member)."""
        extra = self.available(POOL) - AMOUNT
        if extra > 0:
            self.service.allocate_credits(self.admin, self.org_id, self.scenario.members[1], extra)
        elif extra < 0:
            self.service.top_up(self.admin, self.org_id, -extra)

    def member_holds_one_call(self) -> None:
        """Leave exactly AMOUNT on the member's account."""
        extra = self.available(member_account(self.member)) - AMOUNT
        if extra > 0:
            self.service.reclaim_credits(self.admin, self.org_id, self.member, extra)
        elif extra < 0:
            self.service.allocate_credits(self.admin, self.org_id, self.member, -extra)

    def effects(self) -> Counter[str]:
        """What the organisation's ledger, requests, holds and audit log hold, counted."""
        with self.scenario.store.unit_of_work() as uow:
            counted = Counter(f"transfer:{t.kind.value}" for t in uow.ledger.transfers(self.org_id))
            requests = uow.requests.list(self.org_id, status=None)
            counted.update(f"request:{r.status.value}" for r in requests)
            counted["holds pending"] = len(uow.holds.pending(self.org_id))
            events = uow.events.list(self.org_id, limit=100_000)
            counted.update(f"event:{e.name}" for e in events)
        return counted


Prepare = Callable[[Case, str], Call]
"""Prepares one round and returns the call the 8 threads make with key ``key``."""

#: Each case: how a round is prepared, and what one call adds to :meth:`Case.effects`.
CASES: dict[str, tuple[Prepare, dict[str, int]]] = {}


def case(name: str, **effect: int) -> Callable[[Prepare], Prepare]:
    """Register a case; ``effect`` maps :meth:`Case.effects` keys (``__`` for ``:``) to deltas."""

    def register(prepare: Prepare) -> Prepare:
        CASES[name] = (prepare, {k.replace("__", ":"): v for k, v in effect.items()})
        return prepare

    return register


@case("top_up", transfer__top_up=1, event__PoolToppedUp=1)
def _top_up(c: Case, key: str) -> Call:
    return lambda: c.service.top_up(c.admin, c.org_id, AMOUNT, idempotency_key=key)


@case("allocate_credits", transfer__allocate=1, event__CreditsAllocated=1)
def _allocate(c: Case, key: str) -> Call:
    c.pool_holds_one_call()
    return lambda: c.service.allocate_credits(
        c.admin, c.org_id, c.member, AMOUNT, idempotency_key=key
    )


@case("reclaim_credits", transfer__reclaim=1, event__CreditsReclaimed=1)
def _reclaim(c: Case, key: str) -> Call:
    c.member_holds_one_call()
    return lambda: c.service.reclaim_credits(
        c.admin, c.org_id, c.member, AMOUNT, idempotency_key=key
    )


@case("refund", transfer__refund=1)
def _refund(c: Case, key: str) -> Call:
    c.member_holds_one_call()
    spent = c.service.spend(c.member, c.org_id, AMOUNT, generation_id=f"spent-{key}").id
    return lambda: c.service.refund(c.admin, c.org_id, spent, idempotency_key=key)


@case("capture_hold", transfer__capture=1, **{"holds pending": -1}, event__CreditsSpent=1)
def _capture(c: Case, key: str) -> Call:
    c.member_holds_one_call()
    hold = c.service.reserve(c.member, c.org_id, AMOUNT, generation_id=f"held-{key}").id
    return lambda: c.service.capture_hold(c.member, c.org_id, hold, idempotency_key=key)


@case("release_hold", transfer__release=1, **{"holds pending": -1})
def _release(c: Case, key: str) -> Call:
    c.member_holds_one_call()
    hold = c.service.reserve(c.member, c.org_id, AMOUNT, generation_id=f"held-{key}").id
    return lambda: c.service.release_hold(c.member, c.org_id, hold, idempotency_key=key)


@case("request_credits", request__pending=1, event__CreditRequestSubmitted=1)
def _request(c: Case, key: str) -> Call:
    # The member may have one pending request: the previous round's is rejected first.
    for request in c.service.list_requests(c.admin, c.org_id):
        c.service.reject_request(c.admin, c.org_id, request.id)
    return lambda: c.service.request_credits(c.member, c.org_id, AMOUNT, idempotency_key=key)


def _pending_request(c: Case, key: str) -> str:
    return c.service.request_credits(c.member, c.org_id, AMOUNT, note=key).id


@case(
    "approve_request",
    transfer__approve=1,
    request__pending=-1,
    request__approved=1,
    event__CreditRequestDecided=1,
    event__CreditsAllocated=1,
)
def _approve(c: Case, key: str) -> Call:
    c.pool_holds_one_call()
    request = _pending_request(c, key)
    return lambda: c.service.approve_request(c.admin, c.org_id, request, idempotency_key=key)


@case("reject_request", request__pending=-1, request__rejected=1, event__CreditRequestDecided=1)
def _reject(c: Case, key: str) -> Call:
    request = _pending_request(c, key)
    return lambda: c.service.reject_request(c.admin, c.org_id, request, idempotency_key=key)


@case("spend", transfer__spend=1, event__CreditsSpent=1)
def _spend(c: Case, key: str) -> Call:
    c.member_holds_one_call()
    return lambda: c.service.spend(c.member, c.org_id, AMOUNT, generation_id=key)


@case("spend on the full path", transfer__spend=1, event__CreditsSpent=1)
def _spend_in_full(c: Case, key: str) -> Call:
    c.member_holds_one_call()
    # A service that has not read the organisation yet sends every caller down the full path.
    service = c.new_service()
    return lambda: service.spend(c.member, c.org_id, AMOUNT, generation_id=key)


@case("reserve", transfer__hold=1, **{"holds pending": 1})
def _reserve(c: Case, key: str) -> Call:
    c.member_holds_one_call()
    service = c.new_service()
    return lambda: service.reserve(c.member, c.org_id, AMOUNT, generation_id=key)


def _answer(result: Result) -> tuple[object, ...]:
    """What every caller must see alike: the first result."""
    if isinstance(result, Transfer):
        return ("transfer", result.id, result.kind, result.amount, result.idempotency_key)
    if isinstance(result, Hold):
        return ("hold", result.id, result.status, result.captured)
    return ("request", result.id, result.status, result.approved_amount)


def _together(call: Call) -> list[Result]:
    """Make ``call`` from every thread at once; return what each caller got."""
    barrier = threading.Barrier(THREADS)

    def run(_: int) -> Result:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


@pytest.mark.parametrize("isolation", [None, "SERIALIZABLE"], ids=["default", "serializable"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_eight_callers_with_one_key_get_the_first_result_and_one_effect(
    backend: Backend, name: str, isolation: str | None
) -> None:
    """Every caller gets the same result, and the call took effect once, round after round
    (on the servers at their default isolation level and at SERIALIZABLE)."""
    if isolation is not None and backend.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time whatever the level")
    prepare, effect = CASES[name]
    c = Case(backend, isolation)
    for round_ in range(ROUNDS):
        call = prepare(c, f"{name}-{round_}")
        before = c.effects()
        results = _together(call)
        after = c.effects()
        assert len({_answer(r) for r in results}) == 1, [_answer(r) for r in results]
        change = {k: after[k] - before[k] for k in after | before if after[k] != before[k]}
        assert change == effect


def _stale_hold(c: Case, round_: int) -> str:
    """A hold of everything the member has, past its lifetime and not yet released."""
    c.member_holds_one_call()
    hold = c.service.reserve(
        c.member, c.org_id, AMOUNT, generation_id=f"stale-{round_}", lifetime=timedelta(minutes=1)
    )
    c.scenario.clock.advance(minutes=2)
    return hold.id


def _spend_in_full_after(c: Case, round_: int) -> Callable[[], object]:
    service = c.new_service()
    return lambda: service.spend(c.member, c.org_id, AMOUNT, generation_id=f"full-{round_}")


STALE_RACERS: dict[str, Callable[[Case, int], Callable[[], object]]] = {
    "the job": lambda c, _round: lambda: c.service.release_expired_holds(c.org_id),
    "a spend": lambda c, round_: (
        lambda: c.service.spend(c.member, c.org_id, AMOUNT, generation_id=f"after-{round_}")
    ),
    "a spend on the full path": _spend_in_full_after,
}


def _both(first: Callable[[], object], second: Callable[[], object]) -> list[object]:
    """Run both at once; return what each returned or raised."""
    barrier = threading.Barrier(2)

    def run(work: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return work()
        except Exception as exc:  # what each caller got is checked by the test
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, [first, second]))


@pytest.mark.parametrize("racer", sorted(STALE_RACERS))
def test_a_stale_hold_released_by_its_owner_meanwhile_is_skipped(
    backend: Backend, racer: str
) -> None:
    """The owner releases a hold past its lifetime while the job (or a spend that needs its
    credits) releases it too: the job and the spend skip it, and neither fails."""
    c = Case(backend, None)
    for round_ in range(ROUNDS * 2):
        hold = _stale_hold(c, round_)
        released, raced = _both(
            lambda hold=hold: c.service.release_hold(c.member, c.org_id, hold),
            STALE_RACERS[racer](c, round_),
        )
        # The owner is told if the job or the spend released it first.
        assert isinstance(released, Hold | HoldAlreadyResolved), repr(released)
        assert isinstance(raced, int | Transfer), repr(raced)
        with c.scenario.store.unit_of_work() as uow:
            assert uow.holds.pending(c.org_id) == []
