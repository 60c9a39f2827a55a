"""Removing a member while a call for them is in flight, on every database backend.

Two threads released together by a barrier: an admin removes the member while the other
thread allocates to them, approves their request, files a request as them, spends or captures
as them, or turns the period over with a standing allotment for them.  Each race runs a few
rounds (the member re-enrols between rounds).  Whatever the order, after each round:

- no closed account holds credits (read from the account rows, and reconciliation agrees);
- no removed member has a pending request;
- each caller got a result or a specific library error saying what happened;
- a member who re-enrols starts from nothing: no credits of before become spendable again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from armox_enterprise import (
    EnterpriseService,
    InvalidTransition,
    MemberNotFound,
    OrganisationNotFound,
)
from armox_enterprise.domain.ledger import member_account, reconcile
from armox_enterprise.domain.organisation import MemberStatus
from armox_enterprise.domain.requests import RequestStatus
from armox_enterprise.testing import enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

ROUNDS = 5
AMOUNT = 10


class Race:
    """An organisation, its service, and the member who is removed in every round."""

    def __init__(self, backend: Backend) -> None:
        self.scenario = enterprise(store=backend.store(), members=2, allowance=100_000)
        s = self.scenario
        self.service = EnterpriseService(s.store, clock=s.clock, dns=s.dns, max_attempts=200)
        self.admin, self.org_id, self.member = s.admin, s.org_id, s.members[0]

    def enrolled(self) -> None:
        """Bring the member back if a round removed them, and give them credits."""
        s = self.scenario
        with s.store.unit_of_work() as uow:
            membership = uow.memberships.get(self.org_id, self.member)
        assert membership is not None
        if membership.status is MemberStatus.REMOVED:
            self.service.enrol(self.member, f"{self.member}@{s.domain}", email_verified=True)
            assert self.available() == 0, "credits of before became spendable again"
        self.service.allocate_credits(self.admin, self.org_id, self.member, 5 * AMOUNT)

    def available(self) -> int:
        with self.scenario.store.unit_of_work() as uow:
            account = uow.ledger.get_account(self.org_id, member_account(self.member))
            assert account is not None
            return account.available

    def check(self) -> None:
        """No credits on a closed account, no pending request of a removed member, and a
        ledger that reconciles."""
        with self.scenario.store.unit_of_work() as uow:
            accounts = uow.ledger.accounts(self.org_id)
            transfers = uow.ledger.transfers(self.org_id)
            active = {m.user_id for m in uow.memberships.list(self.org_id)}
            pending = uow.requests.list(self.org_id, status=RequestStatus.PENDING)
        assert [(a.code, a.available) for a in accounts if a.closed and a.available] == []
        assert [r.user_id for r in pending if r.user_id not in active] == []
        assert reconcile(accounts, transfers) == []


Prepare = Callable[[Race, int], Callable[[], object]]
"""Prepares a round and returns the call that races the removal."""

#: Each race: how a round is prepared, and the errors its caller may get.
RACES: dict[str, tuple[Prepare, tuple[type[Exception], ...]]] = {}


def race(name: str, *errors: type[Exception]) -> Callable[[Prepare], Prepare]:
    """Register a race whose caller may get ``errors`` (or a result)."""

    def register(prepare: Prepare) -> Prepare:
        RACES[name] = (prepare, errors)
        return prepare

    return register


@race("allocate", MemberNotFound)
def _allocate(r: Race, round_: int) -> Callable[[], object]:
    return lambda: r.service.allocate_credits(r.admin, r.org_id, r.member, AMOUNT)


@race("approve", InvalidTransition, MemberNotFound)
def _approve(r: Race, round_: int) -> Callable[[], object]:
    request = r.service.request_credits(r.member, r.org_id, AMOUNT, note=f"round {round_}").id
    return lambda: r.service.approve_request(r.admin, r.org_id, request)


@race("request", OrganisationNotFound)
def _request(r: Race, round_: int) -> Callable[[], object]:
    return lambda: r.service.request_credits(r.member, r.org_id, AMOUNT, note=f"round {round_}")


@race("spend", OrganisationNotFound)
def _spend(r: Race, round_: int) -> Callable[[], object]:
    return lambda: r.service.spend(r.member, r.org_id, AMOUNT, generation_id=f"spend-{round_}")


@race("spend on the full path", OrganisationNotFound)
def _spend_in_full(r: Race, round_: int) -> Callable[[], object]:
    s = r.scenario
    # A service that has not read the organisation yet cannot take the fast path.
    service = EnterpriseService(s.store, clock=s.clock, dns=s.dns, max_attempts=200)
    return lambda: service.spend(r.member, r.org_id, AMOUNT, generation_id=f"full-{round_}")


@race("capture")
def _capture(r: Race, round_: int) -> Callable[[], object]:
    hold = r.service.reserve(r.member, r.org_id, AMOUNT, generation_id=f"hold-{round_}").id
    return lambda: r.service.capture_hold(r.member, r.org_id, hold)


@race("period turnover with a standing allotment")
def _turnover(r: Race, round_: int) -> Callable[[], object]:
    r.service.set_standing_allotment(r.admin, r.org_id, r.member, AMOUNT)
    r.scenario.clock.advance(days=32)
    return r.service.close_due_periods


def _racing(remove: Callable[[], object], call: Callable[[], object]) -> list[object]:
    """Run both at once; return what each returned or raised."""
    barrier = threading.Barrier(2)

    def run(work: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return work()
        except Exception as exc:  # what each caller got is checked below
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, [remove, call]))


@pytest.mark.parametrize("name", sorted(RACES))
def test_a_removal_racing_a_call_for_the_member_leaves_no_credit_behind(
    backend: Backend, name: str
) -> None:
    """Whatever wins, the removed member keeps no credits and no pending request, and each
    caller got a result or a specific error."""
    prepare, errors = RACES[name]
    r = Race(backend)
    for round_ in range(ROUNDS):
        r.enrolled()
        call = prepare(r, round_)
        removed, outcome = _racing(
            lambda: r.service.remove_member(r.admin, r.org_id, r.member), call
        )
        assert not isinstance(removed, Exception), repr(removed)
        assert not isinstance(outcome, Exception) or isinstance(outcome, errors), repr(outcome)
        r.check()
