"""The storage guarantees under concurrent load, on every database backend.

Threads use separate connections (one per unit of work, from the engine's pool); PostgreSQL
and MariaDB run each case at their default isolation level and at SERIALIZABLE, where the
service's retries on serialization failures and deadlocks are part of what is proven.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import pytest

from armox_enterprise import (
    CapReached,
    EnterpriseService,
    InsufficientCredits,
    InsufficientPoolCredits,
    InsufficientTeamCredits,
    InvalidTransition,
    RequestStatus,
    SoftLimit,
    TooManyOpenRequests,
    TransferKind,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.domain.ledger import POOL, member_account, member_of, team_account
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

T = TypeVar("T")

ISOLATION = [
    pytest.param(None, id="default-isolation"),
    pytest.param("SERIALIZABLE", id="serializable"),
]


def _store(backend: Backend, isolation: str | None) -> SqlAlchemyStore:
    if isolation is None or backend.name == "sqlite":
        return SqlAlchemyStore(backend.engine)
    return SqlAlchemyStore(backend.engine.execution_options(isolation_level=isolation))


def _service(scenario: Scenario) -> EnterpriseService:
    """A service on the scenario's store and clock that retries patiently under contention."""
    return EnterpriseService(
        scenario.store, clock=scenario.clock, dns=scenario.dns, max_attempts=200
    )


def _in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _balance(scenario: Scenario, code: str) -> tuple[int, int]:
    with scenario.store.unit_of_work() as uow:
        account = uow.ledger.get_account(scenario.org_id, code)
        assert account is not None
        return account.available, account.debits_pending


@pytest.mark.parametrize("isolation", ISOLATION)
def test_concurrent_spends_never_overdraw(backend: Backend, isolation: str | None) -> None:
    """8 threads spending 3 credits 200 times each from 1,000: exactly 333 spends succeed."""
    scenario = enterprise(store=_store(backend, isolation), members=1, allocate=1_000)
    service = _service(scenario)
    member = scenario.members[0]

    seen_available: list[int] = []

    def spender(thread: int) -> Counter[str]:
        outcome: Counter[str] = Counter()
        for attempt in range(200):
            try:
                service.spend(member, scenario.org_id, 3, generation_id=f"g-{thread}-{attempt}")
                outcome["spent"] += 1
            except InsufficientCredits as exc:
                seen_available.append(exc.available)
                outcome["refused"] += 1
        return outcome

    total = sum(_in_threads(8, spender), Counter())
    assert max(seen_available) < 3
    assert total["spent"] == 333
    assert total["refused"] == 8 * 200 - 333
    assert _balance(scenario, member_account(member)) == (1, 0)


@pytest.mark.parametrize("isolation", ISOLATION)
def test_concurrent_allocations_never_oversubscribe_the_pool(
    backend: Backend, isolation: str | None
) -> None:
    """Allocations asking for twice what the pool holds: the pool ends at zero, never below."""
    scenario = enterprise(store=_store(backend, isolation), members=8, allowance=1_000)
    service = _service(scenario)

    seen_available: list[int] = []

    def allocator(thread: int) -> int:
        granted = 0
        for _ in range(5):
            try:
                service.allocate_credits(
                    scenario.admin, scenario.org_id, scenario.members[thread], 50
                )
                granted += 50
            except InsufficientPoolCredits as exc:
                seen_available.append(exc.available)
        return granted

    assert sum(_in_threads(8, allocator)) == 1_000
    assert len(seen_available) == 20
    assert max(seen_available) < 50
    assert _balance(scenario, POOL) == (0, 0)


@pytest.mark.parametrize("isolation", ISOLATION)
def test_concurrent_allocations_never_overdraw_a_team_budget(
    backend: Backend, isolation: str | None
) -> None:
    """8 threads allocating from one team's budget of 600 to its members, asking for twice
    what it holds: the sum allocated is the budget, never more; the pool is untouched; the
    ledger reconciles."""
    scenario = enterprise(store=_store(backend, isolation), members=8, allowance=1_000)
    service = _service(scenario)
    org, admin = scenario.org_id, scenario.admin
    team = service.create_team(admin, org, "Research")
    for member in scenario.members:
        service.assign_team(admin, org, member, team.id)
    service.fund_team(admin, org, team.id, 600)

    seen_available: list[int] = []

    def allocator(thread: int) -> int:
        granted = 0
        for _ in range(4):
            try:
                service.allocate_credits(admin, org, scenario.members[thread], 30)
                granted += 30
            except InsufficientTeamCredits as exc:
                seen_available.append(exc.available)
        return granted

    assert sum(_in_threads(8, allocator)) == 600
    assert len(seen_available) == 8 * 4 - 20
    assert max(seen_available) < 30
    assert _balance(scenario, team_account(team.id)) == (0, 0)
    assert _balance(scenario, POOL) == (400, 0)
    assert service.reconcile(org) == []


@pytest.mark.parametrize("isolation", ISOLATION)
def test_two_admins_deciding_one_request_make_exactly_one_decision(
    backend: Backend, isolation: str | None
) -> None:
    """Two admins deciding the same request at once: one wins, the other gets an error."""
    scenario = enterprise(store=_store(backend, isolation), members=2, allowance=10_000)
    service = _service(scenario)
    second_admin = scenario.members[1]
    service.change_role(scenario.admin, scenario.org_id, second_admin, "admin")  # type: ignore[arg-type]
    requester = scenario.members[0]
    wins: Counter[str] = Counter()
    for round_ in range(10):
        request = service.request_credits(requester, scenario.org_id, 100, note=f"round {round_}")

        def decide(thread: int, request_id: str = request.id) -> str:
            admin = scenario.admin if thread == 0 else second_admin
            try:
                if thread == 0:
                    service.approve_request(admin, scenario.org_id, request_id)
                    return "approved"
                service.reject_request(admin, scenario.org_id, request_id)
                return "rejected"
            except InvalidTransition:
                return "lost"

        outcomes = sorted(_in_threads(2, decide))
        assert outcomes.count("lost") == 1, outcomes
        wins.update(o for o in outcomes if o != "lost")
    with scenario.store.unit_of_work() as uow:
        approvals = uow.ledger.transfers(scenario.org_id, kinds=[TransferKind.APPROVE])
    assert len(approvals) == wins["approved"]
    assert _balance(scenario, member_account(requester))[0] == 100 * wins["approved"]


@pytest.mark.parametrize("isolation", ISOLATION)
def test_one_idempotency_key_from_eight_threads_has_one_effect(
    backend: Backend, isolation: str | None
) -> None:
    """The same generation id sent from 8 threads at once: one transfer, one debit."""
    scenario = enterprise(store=_store(backend, isolation), members=1, allocate=100)
    service = _service(scenario)
    member = scenario.members[0]
    for round_ in range(5):
        results = _in_threads(
            8, lambda _t, r=round_: service.spend(member, scenario.org_id, 7, generation_id=f"k{r}")
        )
        assert len({t.id for t in results}) == 1
    with scenario.store.unit_of_work() as uow:
        spends = uow.ledger.transfers(scenario.org_id, kinds=[TransferKind.SPEND])
    assert len(spends) == 5
    assert _balance(scenario, member_account(member)) == (100 - 5 * 7, 0)


@pytest.mark.parametrize("isolation", ISOLATION)
def test_several_workers_turning_a_period_over_grant_once(
    backend: Backend, isolation: str | None
) -> None:
    """Job runs and lazy turnovers racing past a boundary post one grant per period."""
    scenario = enterprise(store=_store(backend, isolation), members=2, allowance=1_000)
    service = _service(scenario)
    scenario.clock.advance(days=62)  # two boundaries: periods 1 and 2 open

    def worker(thread: int) -> None:
        if thread % 2:
            service.close_due_periods()
        else:
            service.profile(scenario.members[thread % 2])

    _in_threads(6, worker)
    service.close_due_periods()
    with scenario.store.unit_of_work() as uow:
        grants = uow.ledger.transfers(scenario.org_id, kinds=[TransferKind.GRANT])
        org = uow.organisations.get(scenario.org_id)
    assert org is not None
    assert org.current_period_index == 2
    assert sorted(g.period_index for g in grants) == [0, 1, 2]
    assert _balance(scenario, POOL) == (1_000, 0)


@pytest.mark.parametrize("isolation", ISOLATION)
def test_racing_domain_rechecks_record_each_transition_once(
    backend: Backend, isolation: str | None
) -> None:
    """Six workers re-checking the same failing domains at once open each grace window once,
    and racing again past the window lapse each domain once."""
    scenario = enterprise(store=_store(backend, isolation), members=1)
    service = _service(scenario)
    names = [f"d{i}.example" for i in range(4)]
    for name in names:
        claim = service.claim_domain(scenario.admin, scenario.org_id, name)
        scenario.dns.publish(name, claim.txt_record)
        service.verify_domain(scenario.admin, scenario.org_id, name)
        scenario.dns.withdraw(name)
    grace = timedelta(hours=1)
    opened = _in_threads(6, lambda _: service.recheck_domains(grace=grace))
    assert all(report.errors == () for report in opened)
    assert all(report.failing == tuple(names) for report in opened)
    scenario.clock.advance(hours=2)
    lapsed = _in_threads(6, lambda _: service.recheck_domains(grace=grace))
    # Each domain is lapsed by exactly one run; the others find it lapsed and skip it.
    assert Counter(d for report in lapsed for d in report.lapsed) == Counter(names)
    names_seen = ["DomainCheckFailing", "DomainRecovered", "DomainLapsed"]
    stored = service.audit_log(scenario.admin, scenario.org_id, names=names_seen, limit=500)
    assert Counter((e.payload["domain"], e.name) for e in stored) == Counter(
        [(n, "DomainCheckFailing") for n in names] + [(n, "DomainLapsed") for n in names]
    )
    claims = service.list_domains(scenario.admin, scenario.org_id)
    assert [c.status.value for c in claims if c.domain.value in names] == ["lapsed"] * 4


@pytest.mark.parametrize("isolation", ISOLATION)
def test_concurrent_spends_never_pass_a_members_cap(
    backend: Backend, isolation: str | None
) -> None:
    """8 threads spending 3 credits 60 times each from 1,000 under a cap of 200 (the short
    path: the period is known): exactly 66 spends succeed, every other one raises CapReached,
    and the row's period spend never passes the cap."""
    scenario = enterprise(store=_store(backend, isolation), members=1, allocate=1_000)
    service = _service(scenario)
    member, org = scenario.members[0], scenario.org_id
    service.set_spend_cap(scenario.admin, org, 200)
    service.profile(member)  # the period is known: spends take the short path

    def spender(thread: int) -> Counter[str]:
        outcomes: Counter[str] = Counter()
        for i in range(60):
            try:
                service.spend(member, org, 3, generation_id=f"cap-{thread}-{i}")
            except CapReached as refused:
                outcomes[f"capped at {refused.cap}"] += 1
            else:
                outcomes["spent"] += 1
        return outcomes

    total = sum(_in_threads(8, spender), Counter())
    assert total == Counter({"spent": 66, "capped at 200": 8 * 60 - 66})
    assert _balance(scenario, member_account(member)) == (1_000 - 198, 0)
    assert service.spend_cap_status(member, org).counted == 198
    assert service.reconcile(org) == []


@pytest.mark.parametrize("isolation", ISOLATION)
def test_concurrent_holds_and_spends_never_pass_a_members_cap(
    backend: Backend, isolation: str | None
) -> None:
    """8 threads, half reserving and half spending 5 credits 30 times each under a cap of
    100: spent plus held ends at exactly 100."""
    scenario = enterprise(store=_store(backend, isolation), members=1, allocate=1_000)
    service = _service(scenario)
    member, org = scenario.members[0], scenario.org_id
    service.set_spend_cap(scenario.admin, org, 100)
    service.profile(member)

    def worker(thread: int) -> int:
        done = 0
        for i in range(30):
            key = f"mix-{thread}-{i}"
            try:
                if thread % 2:
                    service.reserve(member, org, 5, generation_id=key)
                else:
                    service.spend(member, org, 5, generation_id=key)
            except CapReached:
                continue
            done += 1
        return done

    assert sum(_in_threads(8, worker)) == 20
    status = service.spend_cap_status(member, org)
    assert status.counted == 100
    assert status.room == 0
    assert service.reconcile(org) == []


@pytest.mark.parametrize("isolation", ISOLATION)
def test_concurrent_spends_on_grace_file_one_request_per_run_out(
    backend: Backend, isolation: str | None
) -> None:
    """8 threads spending 4 credits 25 times each for a member with none left, under a grace
    of 300: exactly 75 spends are lent (300 credits, from the pool), every other one raises
    InsufficientCredits, and the run-out files exactly one automatic request."""
    scenario = enterprise(store=_store(backend, isolation), members=1, allocate=0)
    service = _service(scenario)
    member, org = scenario.members[0], scenario.org_id
    service.set_soft_limit(scenario.admin, org, SoftLimit(credits=300))
    pool = _balance(scenario, POOL)[0]
    service.profile(member)  # the period is known: each spend tries the short path first

    def spender(thread: int) -> Counter[str]:
        outcomes: Counter[str] = Counter()
        for i in range(25):
            try:
                service.spend(member, org, 4, generation_id=f"grace-{thread}-{i}")
            except InsufficientCredits:
                outcomes["refused"] += 1
            else:
                outcomes["spent"] += 1
        return outcomes

    total = sum(_in_threads(8, spender), Counter())
    assert total == Counter({"spent": 75, "refused": 8 * 25 - 75})
    assert _balance(scenario, POOL)[0] == pool - 300
    assert _balance(scenario, member_account(member)) == (0, 0)
    requests = service.list_requests(scenario.admin, org, status=None)
    assert [(r.user_id, r.automatic, r.status) for r in requests] == [
        (member, True, RequestStatus.PENDING)
    ]
    credits = service.profile(member).credits
    assert credits is not None
    assert (credits.grace_drawn, credits.used) == (300, 300)
    assert service.reconcile(org) == []


@pytest.mark.parametrize("isolation", ISOLATION)
def test_run_outs_racing_approvals_and_own_requests_keep_one_open_request(
    backend: Backend, isolation: str | None
) -> None:
    """Members on grace spend while an admin approves whatever is pending and the members
    ask for credits themselves: no member ever has two pending requests (the organisation's
    limit is one), every automatic request comes from a run-out, and the ledger reconciles."""
    scenario = enterprise(store=_store(backend, isolation), members=4, allocate=0)
    service = _service(scenario)
    org, members = scenario.org_id, scenario.members
    service.set_soft_limit(scenario.admin, org, SoftLimit(credits=1_000))
    service.profile(members[0])
    stop = threading.Event()

    finished: list[int] = []

    def worker(thread: int) -> int:
        if thread == 0:
            approved = 0
            while not stop.is_set():
                for request in service.list_requests(scenario.admin, org):
                    try:
                        service.approve_request(scenario.admin, org, request.id, amount=3)
                    except InvalidTransition:
                        continue  # decided meanwhile
                    approved += 1
            return approved
        member = members[(thread - 1) % len(members)]
        try:
            for i in range(20):
                try:
                    if i % 7 == 3:
                        service.request_credits(member, org, 5)
                    else:
                        service.spend(member, org, 2, generation_id=f"mix-{thread}-{i}")
                except (TooManyOpenRequests, InsufficientCredits):
                    continue
        finally:
            finished.append(thread)
            if len(finished) == 7:
                stop.set()
        return 0

    _in_threads(8, worker)
    requests = service.list_requests(scenario.admin, org, status=None)
    with scenario.store.unit_of_work() as uow:
        grace = uow.ledger.transfers(org, kinds=[TransferKind.GRACE])
    lent_at = {(member_of(t.credit_account), t.created_at) for t in grace}
    for member in members:
        mine = [r for r in requests if r.user_id == member]
        assert sum(r.is_pending for r in mine) <= 1
        # Each automatic request was filed by a spend on grace, in its unit of work.
        assert all((member, r.created_at) in lent_at for r in mine if r.automatic)
    assert any(r.automatic for r in requests)
    assert service.reconcile(org) == []
