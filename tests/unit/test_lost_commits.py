"""A COMMIT whose answer is lost: every use case that writes has one effect and answers with
its first result.

The store here is the memory store with one fault: its unit of work's ``commit`` keeps every
write and then raises :class:`CommitOutcomeUnknown`, as the SQL store does when the connection
drops after the server committed.  The service runs the call again; each case proves that the
state after the call is the state the lost commit left (nothing ran twice), that it is the
state a call without the fault leaves, and that the caller and the event handlers see what
they would have seen without the fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest

from armox_enterprise import (
    CommitOutcomeUnknown,
    EnterpriseService,
    ExistingUser,
    JoinMode,
    Role,
)
from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.adapters.memory.unit_of_work import MemoryUnitOfWork
from armox_enterprise.domain.events import Event
from armox_enterprise.testing import Scenario, enterprise

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX = re.compile(r"\b[0-9a-f]{32}\b")


def _normalised(value: object) -> str:
    """``repr(value)`` with ids and random tokens blanked: two runs compare equal."""
    return _HEX.sub("<hex>", _UUID.sub("<id>", repr(value)))


class LosingUnitOfWork(MemoryUnitOfWork):
    """A memory unit of work whose commit, when armed and if it wrote something, keeps the
    writes and then fails."""

    def __init__(self, store: LosingStore) -> None:
        super().__init__(store)
        self._losing = store

    def commit(self) -> None:
        wrote = bool(self._journal._undo)
        super().commit()
        if self._losing.armed and wrote:
            self._losing.armed = False
            self._losing.lost.append(state(self._losing))
            raise CommitOutcomeUnknown("the connection dropped while COMMIT was in flight")


class LosingStore(MemoryStore):
    """A memory store that loses the answer to the next commit that writes, once
    :attr:`armed`."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        #: The state of the tables right after each commit whose answer was lost.
        self.lost: list[list[str]] = []

    def unit_of_work(self) -> LosingUnitOfWork:
        return LosingUnitOfWork(self)


def state(store: MemoryStore) -> list[str]:
    """Every record of the store, normalised and sorted: what a call's effects compare by."""
    records: list[object] = [
        *store.organisations.values(),
        *store.memberships.values(),
        *store.active_member_of.items(),
        *store.domains.values(),
        *store.invitations.values(),
        *store.join_requests.values(),
        *store.accounts.values(),
        *(t for transfers in store.transfers.values() for t in transfers),
        *store.totals.items(),
        *store.holds.values(),
        *store.requests.values(),
        *store.idempotency.values(),
        *store.outbox,
        *(e for events in store.stored_events.values() for e in events),
        *store.published.items(),
    ]
    return sorted(_normalised(record) for record in records)


Call = Callable[[Scenario], Callable[[], object]]
"""Sets a case up on a scenario and returns the call whose commit answer is lost."""

CASES: dict[str, Call] = {}


def case(name: str) -> Callable[[Call], Call]:
    """Register a case under ``name``."""

    def register(setup: Call) -> Call:
        CASES[name] = setup
        return setup

    return register


def _held(s: Scenario, lifetime: timedelta | None = None) -> str:
    hold = s.service.reserve(
        s.members[0], s.org_id, 10, generation_id="gen-hold", lifetime=lifetime
    )
    return hold.id


def _requested(s: Scenario) -> str:
    return s.service.request_credits(s.members[0], s.org_id, 30, note="more").id


@case("top_up")
def _top_up(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.top_up(s.admin, s.org_id, 50)


@case("top_up with a key")
def _top_up_keyed(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.top_up(s.admin, s.org_id, 50, idempotency_key="k")


@case("allocate_credits")
def _allocate(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.allocate_credits(s.admin, s.org_id, s.members[0], 10)


@case("allocate_credits with a key")
def _allocate_keyed(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.allocate_credits(
        s.admin, s.org_id, s.members[0], 10, idempotency_key="k"
    )


@case("reclaim_credits")
def _reclaim(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.reclaim_credits(s.admin, s.org_id, s.members[0], 10)


@case("refund")
def _refund(s: Scenario) -> Callable[[], object]:
    spent = s.service.spend(s.members[0], s.org_id, 10, generation_id="gen-setup").id
    return lambda: s.service.refund(s.admin, s.org_id, spent)


@case("spend")
def _spend(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.spend(s.members[0], s.org_id, 10, generation_id="g")


@case("spend on the full path")
def _spend_in_full(s: Scenario) -> Callable[[], object]:
    # A service that has not read the organisation yet cannot take the fast path.
    service = EnterpriseService(s.store, clock=s.clock, dns=s.dns)
    return lambda: service.spend(s.members[0], s.org_id, 10, generation_id="g")


@case("reserve")
def _reserve(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.reserve(s.members[0], s.org_id, 10, generation_id="g")


@case("capture_hold")
def _capture(s: Scenario) -> Callable[[], object]:
    hold = _held(s)
    return lambda: s.service.capture_hold(s.members[0], s.org_id, hold, 4)


@case("capture_hold with a key")
def _capture_keyed(s: Scenario) -> Callable[[], object]:
    hold = _held(s)
    return lambda: s.service.capture_hold(s.members[0], s.org_id, hold, 4, idempotency_key="k")


@case("release_hold")
def _release(s: Scenario) -> Callable[[], object]:
    hold = _held(s)
    return lambda: s.service.release_hold(s.members[0], s.org_id, hold)


@case("release_expired_holds")
def _release_expired(s: Scenario) -> Callable[[], object]:
    _held(s, timedelta(minutes=1))
    s.clock.advance(minutes=2)
    return lambda: s.service.release_expired_holds(s.org_id)


@case("request_credits")
def _request(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.request_credits(s.members[0], s.org_id, 30, note="more")


@case("approve_request")
def _approve(s: Scenario) -> Callable[[], object]:
    request = _requested(s)
    return lambda: s.service.approve_request(s.admin, s.org_id, request)


@case("approve_request with a key")
def _approve_keyed(s: Scenario) -> Callable[[], object]:
    request = _requested(s)
    return lambda: s.service.approve_request(s.admin, s.org_id, request, idempotency_key="k")


@case("reject_request")
def _reject(s: Scenario) -> Callable[[], object]:
    request = _requested(s)
    return lambda: s.service.reject_request(s.admin, s.org_id, request)


@case("cancel_request")
def _cancel(s: Scenario) -> Callable[[], object]:
    request = _requested(s)
    return lambda: s.service.cancel_request(s.members[0], s.org_id, request)


@case("remove_member")
def _remove(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.remove_member(s.admin, s.org_id, s.members[0])


@case("change_role")
def _change_role(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.change_role(s.admin, s.org_id, s.members[0], Role.ADMIN)


@case("set_standing_allotment")
def _allotment(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.set_standing_allotment(s.admin, s.org_id, s.members[0], 25)


@case("invite")
def _invite(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.invite(s.admin, s.org_id, "guest@elsewhere.example")


@case("capture_existing_users")
def _capture_users(s: Scenario) -> Callable[[], object]:
    early = ExistingUser("early-bird", f"early@{s.domain}", email_verified=True)
    return lambda: s.service.capture_existing_users(s.admin, s.org_id, [early])


@case("decide_join_request")
def _decide_join(s: Scenario) -> Callable[[], object]:
    s.service.update_settings(s.admin, s.org_id, join_mode=JoinMode.REQUEST)
    s.service.sign_up("newcomer", f"newcomer@{s.domain}", email_verified=True)
    request = s.service.list_join_requests(s.admin, s.org_id)[0].id
    return lambda: s.service.decide_join_request(s.admin, s.org_id, request, approve=True)


@case("sign_up")
def _sign_up(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.sign_up("newcomer", f"newcomer@{s.domain}", email_verified=True)


@case("enrol")
def _enrol(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.enrol("newcomer", f"newcomer@{s.domain}", email_verified=True)


@case("create_organisation")
def _create(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.create_organisation(
        name="Globex", admin_user_id="gil", admin_email="gil@globex.example", monthly_allowance=5
    )


@case("claim_domain")
def _claim(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.claim_domain(s.admin, s.org_id, "labs.example")


@case("verify_domain")
def _verify(s: Scenario) -> Callable[[], object]:
    claim = s.service.claim_domain(s.admin, s.org_id, "labs.example")
    s.dns.publish("labs.example", claim.txt_record)
    return lambda: s.service.verify_domain(s.admin, s.org_id, "labs.example")


@case("remove_domain")
def _remove_domain(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.remove_domain(s.admin, s.org_id, s.domain)


@case("set_monthly_allowance")
def _allowance(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.set_monthly_allowance(s.admin, s.org_id, 700)


@case("update_settings")
def _settings(s: Scenario) -> Callable[[], object]:
    return lambda: s.service.update_settings(s.admin, s.org_id, max_open_requests=3)


@case("check_alerts")
def _alerts(s: Scenario) -> Callable[[], object]:
    s.service.spend(s.members[0], s.org_id, 90, generation_id="gen-alert")
    return lambda: s.service.check_alerts(s.org_id)


@case("close_due_periods")
def _turnover(s: Scenario) -> Callable[[], object]:
    s.service.set_standing_allotment(s.admin, s.org_id, s.members[0], 25)
    s.clock.advance(days=32)
    return s.service.close_due_periods


def _run(case: Call, *, lose: bool) -> tuple[object, list[str], list[Event], LosingStore]:
    store = LosingStore()
    scenario = enterprise(store=store, members=2, allocate=100)
    call = case(scenario)
    seen: list[Event] = []
    scenario.service.subscribe(seen.append)
    store.armed = lose
    result = call()
    return result, state(store), seen, store


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_lost_commit_answer_has_one_effect_and_the_first_result(name: str) -> None:
    """The call whose COMMIT answer is lost leaves what one call leaves, and answers so."""
    expected, expected_state, expected_events, _ = _run(CASES[name], lose=False)
    result, after, events, store = _run(CASES[name], lose=True)
    assert len(store.lost) == 1, "the fault did not fire"
    assert not store.armed
    assert after == store.lost[0], "something was written after the lost commit"
    assert after == expected_state
    assert _normalised(result) == _normalised(expected)
    assert [_normalised(e) for e in events] == [_normalised(e) for e in expected_events]


def test_a_call_with_its_own_key_records_it_once_and_only_where_it_writes() -> None:
    """A keyless call that writes records one key of its own; a read records none."""
    store = LosingStore()
    scenario = enterprise(store=store, members=1)
    keys = set(store.idempotency)
    scenario.service.top_up(scenario.admin, scenario.org_id, 5)
    added = set(store.idempotency) - keys
    assert [key.split(":")[:2] for _, key in added] == [["armox", "call"]]
    scenario.service.dashboard(scenario.admin, scenario.org_id)
    scenario.service.release_expired_holds(scenario.org_id)  # a job that changed nothing
    assert set(store.idempotency) - keys == added


def test_the_last_attempt_losing_its_answer_reaches_the_caller() -> None:
    """With no attempt left, the caller learns that the outcome is unknown."""
    store = LosingStore()
    scenario = enterprise(store=store, members=1)
    service = EnterpriseService(store, clock=scenario.clock, max_attempts=1)
    store.armed = True
    with pytest.raises(CommitOutcomeUnknown):
        service.top_up(scenario.admin, scenario.org_id, 5, idempotency_key="k")
    # The same key tells the caller what happened: the top-up did commit.
    replayed = service.top_up(scenario.admin, scenario.org_id, 5, idempotency_key="k")
    assert replayed.amount == 5


def test_a_joined_store_records_no_key_of_its_own() -> None:
    """A store that never retries needs no key to resolve a lost answer."""
    store = LosingStore()
    scenario = enterprise(store=store, members=1)
    store.retry_transient = False  # type: ignore[attr-defined]
    service = EnterpriseService(store, clock=scenario.clock)
    keys = set(store.idempotency)
    service.top_up(scenario.admin, scenario.org_id, 5)
    assert set(store.idempotency) == keys


def test_the_relay_hands_a_committed_batch_over_once_after_a_lost_commit_answer() -> None:
    """The relay records no key of its own (its delivery is at least once): when the answer
    to its COMMIT is lost, the attempt after it finds the batch published, and hands nothing
    over twice."""
    store = LosingStore()
    scenario = enterprise(store=store, members=1)
    handed: list[str] = []
    store.armed = True
    scenario.service.relay(lambda events: handed.extend(e.id for e in events), limit=1_000)
    assert len(store.lost) == 1
    assert handed
    assert len(handed) == len(set(handed))
    assert scenario.service.relay(lambda events: handed.extend(e.id for e in events)) == 0
