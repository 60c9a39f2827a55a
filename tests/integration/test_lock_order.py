"""One lock order for the whole library: opposing use cases on the same rows never deadlock.

Threads run use cases that move credits between the same accounts in opposite directions
(allocations pool → member against reclaims member → pool, top-ups against grants, refunds
usage → member against spends member → usage), resolve holds whose credits come back late,
and turn the period over while they run.  Every statement's failure is seen by a
``handle_error`` listener on the engine: the test fails on the first deadlock the database
reports, which a retry would otherwise hide.  See ``docs/assurance.md`` ("Lock order").
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event

from armox_enterprise import (
    EnterpriseService,
    HoldAlreadyResolved,
    InsufficientCredits,
    InvalidTransition,
    MemberRemainder,
    RolloverPolicy,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.adapters.sqlalchemy.errors import Failure, classify
from armox_enterprise.testing import enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


#: Refusals a use case may answer with under this traffic: each is the rule's answer, not a
#: failure of the store (a reclaim of more than the member holds, a refund of a refunded spend).
EXPECTED = (InsufficientCredits, InvalidTransition, HoldAlreadyResolved)


class _Deadlocks:
    """Counts the deadlocks (and lock-wait timeouts) the database reported to the engine."""

    def __init__(self, engine: Any) -> None:
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._engine = engine
        event.listen(engine, "handle_error", self._on_error)

    def _on_error(self, context: Any) -> None:
        failure = classify(context.sqlalchemy_exception)
        if failure in (Failure.DEADLOCK, Failure.LOCK_TIMEOUT):
            with self._lock:
                self.seen[failure.name] += 1

    def close(self) -> None:
        event.remove(self._engine, "handle_error", self._on_error)


def _run(threads: list[Callable[[], None]]) -> None:
    barrier = threading.Barrier(len(threads))

    def run(work: Callable[[], None]) -> None:
        barrier.wait()
        work()

    with ThreadPoolExecutor(max_workers=len(threads)) as pool:
        for future in [pool.submit(run, work) for work in threads]:
            future.result()


@pytest.mark.parametrize(
    "remainder",
    [MemberRemainder.RETURN_TO_POOL, MemberRemainder.EXPIRE],
    ids=["return-to-pool", "expire"],
)
def test_opposing_use_cases_and_a_turnover_never_deadlock(
    server_backend: Backend, remainder: MemberRemainder
) -> None:
    """(SQLite locks the whole database: it has no row lock order to prove.)"""
    backend = server_backend
    store = SqlAlchemyStore(backend.engine)
    scenario = enterprise(
        store=store,
        members=2,
        allowance=100_000,
        allocate=5_000,
        rollover=RolloverPolicy(member_remainder=remainder),
    )
    org, admin = scenario.org_id, scenario.admin
    clock = scenario.clock
    service = EnterpriseService(store, clock=clock, dns=scenario.dns, max_attempts=50)
    service.update_settings(admin, org, allow_pool_spend=True)
    first, second = scenario.members
    # Spends and holds of the first period, refunded and released after it closed.
    old_spends = [service.spend(first, org, 3, generation_id=f"old-{n}").id for n in range(40)]
    old_holds = [
        service.reserve(first, org, 2, generation_id=f"old-hold-{n}").id for n in range(40)
    ]
    deadlocks = _Deadlocks(backend.engine)
    turned = threading.Event()
    rounds = 40

    def quietly(call: Callable[[], object]) -> None:
        with contextlib.suppress(*EXPECTED):
            call()

    def allocator() -> None:
        for _ in range(rounds):
            quietly(lambda: service.allocate_credits(admin, org, first, 7))

    def reclaimer() -> None:
        for _ in range(rounds):
            quietly(lambda: service.reclaim_credits(admin, org, first, 5))

    def spender() -> None:
        for n in range(rounds):
            quietly(lambda n=n: service.spend(first, org, 2, generation_id=f"new-{n}"))
            quietly(lambda n=n: service.spend(second, org, 2, generation_id=f"second-{n}"))

    def refunder() -> None:
        for spend_id in old_spends:
            quietly(lambda spend_id=spend_id: service.refund(admin, org, spend_id, 1))

    def resolver() -> None:
        rng = random.Random(7)
        for hold_id in old_holds:
            if rng.random() < 0.5:
                quietly(lambda hold_id=hold_id: service.capture_hold(first, org, hold_id, 1))
            else:
                quietly(lambda hold_id=hold_id: service.release_hold(first, org, hold_id))

    def topper() -> None:
        for _ in range(rounds // 2):
            quietly(lambda: service.top_up(admin, org, 11))

    def turner() -> None:
        for n in range(rounds):
            if n == rounds // 4:
                clock.advance(timedelta(days=32))
                turned.set()
            service.close_due_periods()
            quietly(lambda: service.release_expired_holds(org))

    try:
        _run([allocator, reclaimer, spender, refunder, resolver, topper, turner])
    finally:
        deadlocks.close()

    assert turned.is_set()
    assert deadlocks.seen == Counter(), f"the database reported {dict(deadlocks.seen)}"
    assert service.reconcile(org) == []
