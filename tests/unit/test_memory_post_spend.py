"""The memory store's spend short path, ``post_spend``, against its unit-of-work path.

``MemoryStore.post_spend(transfer, event)`` must leave the store exactly as a unit of work
that posts the spend, records its event and commits would leave it, and refuse (changing
nothing) exactly what that unit of work would refuse, and also a spend stamped with a period
the organisation has left.  The property below builds organisations in many states (balances,
holds, closed accounts, used generation ids, turned periods), copies the store, and runs
both paths on the copies.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import threading
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armox_enterprise import MemoryStore
from armox_enterprise.adapters.memory import MemoryUnitOfWork
from armox_enterprise.domain.events import CreditsSpent, Event
from armox_enterprise.domain.ledger import (
    POOL,
    USAGE,
    Transfer,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.organisation import MemberRemainder, RolloverPolicy
from armox_enterprise.domain.values import MAX_CREDITS, new_id
from armox_enterprise.exceptions import ArmoxError, CommitOutcomeUnknown, InsufficientCredits
from armox_enterprise.ports import PeriodTotals
from armox_enterprise.testing import Scenario, enterprise

USERS = ("member-1", "member-2", "admin", "ghost")


# ---------------------------------------------------------------------------- the two paths


def unit_of_work_path(store: MemoryStore, transfer: Transfer, event: Event) -> bool:
    """What the service does without ``post_spend``: post and record in one unit of work,
    ``False`` when anything refused.  A spend stamped with a period the organisation has
    left is refused first (the contract's "period already sealed")."""
    with store.unit_of_work() as uow:
        org = uow.organisations.get(transfer.organisation_id)
        if org is not None and org.current_period_index != transfer.period_index:
            return False
        try:
            uow.ledger.post(transfer)
        except ArmoxError:
            return False
        uow.record(event)
        uow.commit()
    return True


def clone(store: MemoryStore) -> MemoryStore:
    """A new store holding copies of every table of ``store`` (and a lock of its own)."""
    copied = MemoryStore()
    tables = {name: value for name, value in vars(store).items() if name != "_lock"}
    for name, value in copy.deepcopy(tables).items():
        setattr(copied, name, value)
    return copied


def state(store: MemoryStore) -> dict[str, Any]:
    """Every table of the store as plain values: empty entries dropped, stored events' ids
    (new on each path) blanked."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if v not in ({}, [])}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    tables = {name: plain(value) for name, value in vars(store).items() if name != "_lock"}
    tables["stored_events"] = {
        org: [event for _, event in events] for org, events in tables["stored_events"].items()
    }
    return tables


# ---------------------------------------------------------------------------- worlds


@attrs.frozen
class World:
    """An organisation in some state, and the spend to try on it."""

    scenario: Scenario
    transfer: Transfer
    event: CreditsSpent


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """An organisation after a few of: allocations, spends, a hold, a member closed (removed,
    or closed with credits left), a period turned over; and a spend that may overdraw, reuse
    a generation id or a transfer id, name a missing account or organisation, or carry a
    period other than the current one."""
    # Up to near the limit (a member's credits returned to a full pool would not fit).
    allowance = draw(st.sampled_from([0, 1_000, 10_000, MAX_CREDITS - 10_000]))
    remainder = draw(st.sampled_from(MemberRemainder))
    scenario = enterprise(
        members=2, allowance=allowance, rollover=RolloverPolicy(member_remainder=remainder)
    )
    service, org_id = scenario.service, scenario.org_id
    pool = allowance
    for user in ("member-1", "member-2"):
        amount = draw(st.integers(min_value=0, max_value=min(pool, 2_000)))
        if amount:
            service.allocate_credits("admin", org_id, user, amount)
            pool -= amount
    if draw(st.booleans()):
        _try(service.spend, "member-1", org_id, draw(st.integers(1, 300)), generation_id="used")
    if draw(st.booleans()):
        _try(service.reserve, "member-1", org_id, draw(st.integers(1, 300)), generation_id="held")
    closing = draw(st.sampled_from(["none", "removed", "closed"]))
    if closing == "removed":
        service.remove_member("admin", org_id, "member-2")
    elif closing == "closed":
        with scenario.store.unit_of_work() as uow:
            uow.ledger.set_closed(org_id, member_account("member-2"), True)
            uow.commit()
    if draw(st.booleans()):
        scenario.clock.advance(days=32)
        service.close_due_periods()
    store = scenario.store
    assert isinstance(store, MemoryStore)
    org = store.organisations[org_id]
    user = draw(st.sampled_from(USERS))
    account = store.accounts.get((org_id, member_account(user)))
    available = 0 if account is None else account.available
    amount = draw(
        st.one_of(
            st.integers(min_value=-1, max_value=2_500),
            st.integers(min_value=-2, max_value=2).map(lambda d: available + d),
            st.sampled_from([MAX_CREDITS, MAX_CREDITS + 1]),
        )
    )
    key = draw(st.sampled_from(["new", "used", "held"]))
    period = org.current_period_index + draw(st.sampled_from([0, 0, -1, 1]))
    now = scenario.clock.now()
    existing = [t.id for t in store.transfers.get(org_id, ())]
    reused = existing and draw(st.booleans())
    transfer_id = draw(st.sampled_from(existing)) if reused else new_id(now)
    organisation_id = draw(st.sampled_from([org_id, org_id, "no-such-org"]))
    transfer = Transfer(
        id=transfer_id,
        organisation_id=organisation_id,
        kind=TransferKind.SPEND,
        debit_account=member_account(user),
        credit_account=USAGE,
        amount=amount,
        period_index=period,
        actor=user,
        created_at=now,
        idempotency_key=key,
        reference=key,
    )
    event = CreditsSpent(
        organisation_id=organisation_id,
        actor=user,
        occurred_at=now,
        user_id=user,
        amount=amount,
        reference=key,
    )
    return World(scenario, transfer, event)


def _try(call: Any, *args: Any, **kwargs: Any) -> None:
    """Make the call; a refusal (too few credits) is part of the world too."""
    with contextlib.suppress(InsufficientCredits):
        call(*args, **kwargs)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(world=worlds())
def test_post_spend_does_what_its_unit_of_work_path_does(world: World) -> None:
    """Same answer and same tables after, on copies of one store; a refusal changes nothing."""
    store = world.scenario.store
    assert isinstance(store, MemoryStore)
    before = state(store)
    short, long = clone(store), clone(store)
    posted = short.post_spend(world.transfer, world.event)
    assert posted == unit_of_work_path(long, world.transfer, world.event)
    assert state(short) == state(long)
    if not posted:
        assert state(short) == before
    else:
        assert short.outbox[-1] is world.event
        stored_id, stored = short.stored_events[world.transfer.organisation_id][-1]
        assert stored is world.event
        assert stored_id != long.stored_events[world.transfer.organisation_id][-1][0]


def test_the_property_meets_both_answers() -> None:
    """The worlds above reach spends that post and spends that are refused for each reason."""
    seen: set[str] = set()

    @settings(
        max_examples=300, derandomize=True, suppress_health_check=list(HealthCheck), database=None
    )
    @given(world=worlds())
    def classify(world: World) -> None:
        store = world.scenario.store
        assert isinstance(store, MemoryStore)
        transfer = world.transfer
        org = store.organisations.get(transfer.organisation_id)
        account = store.accounts.get((transfer.organisation_id, transfer.debit_account))
        if clone(store).post_spend(transfer, world.event):
            seen.add("posted")
        elif org is None:
            seen.add("no organisation")
        elif org.current_period_index != transfer.period_index:
            seen.add("other period")
        elif account is None:
            seen.add("no account")
        elif account.closed:
            seen.add("closed")
        elif (transfer.organisation_id, transfer.idempotency_key) in store.transfers_by_key:
            seen.add("used generation id")
        elif (transfer.organisation_id, transfer.id) in store.transfers_by_id:
            seen.add("used transfer id")
        elif transfer.amount > account.available:
            seen.add("overdraft")

    classify()
    assert seen >= {
        "posted",
        "no organisation",
        "other period",
        "no account",
        "closed",
        "used generation id",
        "used transfer id",
        "overdraft",
    }


# ---------------------------------------------------------------------------- the contract


def spend_of(scenario: Scenario, user: str, amount: int, key: str) -> tuple[Transfer, Event]:
    """A spend of ``user`` in the organisation's current period, and its event."""
    store = scenario.store
    assert isinstance(store, MemoryStore)
    now = scenario.clock.now()
    org = store.organisations[scenario.org_id]
    transfer = Transfer(
        id=new_id(now),
        organisation_id=scenario.org_id,
        kind=TransferKind.SPEND,
        debit_account=member_account(user),
        credit_account=USAGE,
        amount=amount,
        period_index=org.current_period_index,
        actor=user,
        created_at=now,
        idempotency_key=key,
        reference=key,
    )
    event = CreditsSpent(
        organisation_id=scenario.org_id,
        actor=user,
        occurred_at=now,
        user_id=user,
        amount=amount,
        reference=key,
    )
    return transfer, event


@pytest.fixture
def funded() -> Scenario:
    """Two members with 1,000 credits each, on a memory store."""
    return enterprise(members=2, allowance=10_000, allocate=1_000)


def test_only_a_members_spend_to_usage_takes_the_short_path(funded: Scenario) -> None:
    """Another kind, another credit account or a debit that is no member's: refused, and
    nothing written (the service then takes its full path)."""
    store = funded.store
    assert isinstance(store, MemoryStore)
    transfer, event = spend_of(funded, "member-1", 10, "g-1")
    before = state(store)
    for other in (
        attrs.evolve(transfer, kind=TransferKind.HOLD),
        attrs.evolve(transfer, credit_account=POOL),
        attrs.evolve(transfer, debit_account=POOL),
    ):
        assert store.post_spend(other, event) is False
    assert state(store) == before
    assert store.post_spend(transfer, event) is True


def test_a_spend_on_the_short_path_reads_back_everywhere(funded: Scenario) -> None:
    """After post_spend the transfer, its generation id, the period totals, the profile and
    the outbox (relay and audit log alike) read as after a spend through the service."""
    store = funded.store
    assert isinstance(store, MemoryStore)
    service, org_id = funded.service, funded.org_id
    transfer, event = spend_of(funded, "member-1", 250, "g-1")
    assert store.post_spend(transfer, event)
    with store.unit_of_work() as uow:
        assert uow.ledger.transfer_by_key(org_id, "g-1") == transfer
        assert uow.ledger.get_transfer(org_id, transfer.id) == transfer
        totals = uow.ledger.period_totals(org_id, member_account("member-1"), 0)
        assert totals.debited(TransferKind.SPEND) == 250
        assert totals.last_activity == transfer.created_at
        logged = uow.events.list(org_id, names=["CreditsSpent"])
    credits = service.profile("member-1").credits
    assert credits is not None
    assert (credits.allocated, credits.used, credits.remaining) == (1_000, 250, 750)
    assert [e.payload for e in logged] == [
        {"user_id": "member-1", "amount": 250, "reference": "g-1"}
    ]
    assert logged[0].name == "CreditsSpent"
    assert logged[0].occurred_at == event.occurred_at
    relayed: list[Any] = []
    service.relay(relayed.extend, limit=1_000)
    assert logged[0] in relayed
    assert service.reconcile(org_id) == []
    # A replay through the service returns the first transfer and spends nothing more.
    assert service.spend("member-1", org_id, 250, generation_id="g-1") == transfer
    assert service.profile("member-1").credits == credits


def test_a_period_the_organisation_has_left_is_refused() -> None:
    """A spend stamped with the period before the organisation's current one (a service whose
    clock lags) is refused and changes nothing; the service's full path books it."""
    keeping = enterprise(
        members=1, allocate=100, rollover=RolloverPolicy(member_remainder=MemberRemainder.KEEP)
    )
    store = keeping.store
    assert isinstance(store, MemoryStore)
    transfer, event = spend_of(keeping, "member-1", 10, "late")
    keeping.clock.advance(days=32)
    keeping.service.close_due_periods()
    assert store.accounts[keeping.org_id, member_account("member-1")].available == 100
    before = state(store)
    assert store.post_spend(transfer, event) is False
    assert state(store) == before
    # Stamped with the organisation's period, the same spend posts.
    current = store.organisations[keeping.org_id].current_period_index
    assert store.post_spend(attrs.evolve(transfer, period_index=current), event) is True


class JournallingStore(MemoryStore):
    """A memory store whose units of work count their commits."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0

    def unit_of_work(self) -> MemoryUnitOfWork:
        store = self

        class Counting(MemoryUnitOfWork):
            def commit(self) -> None:
                super().commit()
                store.commits += 1

        return Counting(self)


class LosingStore(MemoryStore):
    """A memory store that, once armed, loses the answer to its next commit (which keeps
    its writes)."""

    armed = False

    def unit_of_work(self) -> MemoryUnitOfWork:
        store = self

        class Losing(MemoryUnitOfWork):
            def commit(self) -> None:
                super().commit()
                if store.armed:
                    store.armed = False
                    raise CommitOutcomeUnknown("the answer to COMMIT was lost")

        return Losing(self)


def test_a_store_with_units_of_work_of_its_own_spends_in_them() -> None:
    """A subclass that makes its own units of work gets the spend in one of them, so what its
    commit does (here: count, or lose its answer) applies to spends too."""
    counting = enterprise(store=JournallingStore(), members=1, allocate=100)
    store = counting.store
    assert isinstance(store, JournallingStore)
    commits = store.commits
    assert store.post_spend(*spend_of(counting, "member-1", 10, "g-1"))
    assert store.commits == commits + 1
    assert store.post_spend(*spend_of(counting, "member-1", 1_000, "g-2")) is False
    losing = enterprise(store=LosingStore(), members=1, allocate=100)
    lost = losing.store
    assert isinstance(lost, LosingStore)
    lost.armed = True
    with pytest.raises(CommitOutcomeUnknown):
        lost.post_spend(*spend_of(losing, "member-1", 10, "g-1"))
    assert (losing.org_id, "g-1") in lost.transfers_by_key


def test_the_period_totals_fields_are_pinned() -> None:
    """The memory ledger builds period totals positionally (credits, debits, last activity):
    a field added to PeriodTotals fails this test until it passes the field on."""
    assert [f.name for f in attrs.fields(PeriodTotals)] == ["credits", "debits", "last_activity"]


def test_the_transfer_fields_are_pinned() -> None:
    """The service's short spend builds its transfer positionally: a field added to Transfer,
    or two moved, fails this test until ``SpendingUseCases._fast_spend`` follows."""
    assert [f.name for f in attrs.fields(Transfer)] == [
        "id",
        "organisation_id",
        "kind",
        "debit_account",
        "credit_account",
        "amount",
        "period_index",
        "actor",
        "created_at",
        "idempotency_key",
        "reference",
        "feature",
        "model",
    ]


# ---------------------------------------------------------------------------- threads


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, to shake out races."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def test_threads_spending_at_once_never_overdraw(funded: Scenario, busy_switching: None) -> None:
    """Eight threads spend one member's 1,000 credits 1,600 times, some generation ids twice:
    exactly 1,000 credits are spent, each generation id once, and the ledger reconciles."""
    store = funded.store
    assert isinstance(store, MemoryStore)
    posted: list[Transfer] = []
    barrier = threading.Barrier(8)

    def spender(n: int) -> None:
        barrier.wait()
        for i in range(200):
            # Threads n and n+4 use the same generation ids: only one of each may post.
            transfer, event = spend_of(funded, "member-1", 1, f"g-{n % 4}-{i}")
            if store.post_spend(transfer, event):
                posted.append(transfer)

    threads = [threading.Thread(target=spender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(posted) == 800  # 4 x 200 distinct generation ids, each posted once
    assert len({t.idempotency_key for t in posted}) == 800
    account = store.accounts[funded.org_id, member_account("member-1")]
    assert account.available == 200
    assert funded.service.reconcile(funded.org_id) == []
    spent = [e for e in store.outbox if isinstance(e, CreditsSpent)]
    assert len(spent) == 800


def test_threads_spending_through_the_service_never_overdraw(
    funded: Scenario, busy_switching: None
) -> None:
    """The same through ``EnterpriseService.spend``: the short path's refusals fall back to
    the full path, which answers InsufficientCredits once the credits are gone."""
    service, org_id = funded.service, funded.org_id
    results: list[str] = []
    barrier = threading.Barrier(4)

    def spender(n: int) -> None:
        barrier.wait()
        for i in range(300):
            try:
                service.spend("member-2", org_id, 1, generation_id=f"s-{n}-{i}")
                results.append("spent")
            except InsufficientCredits:
                results.append("refused")

    threads = [threading.Thread(target=spender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("spent") == 1_000
    assert results.count("refused") == 200
    credits = service.profile("member-2").credits
    assert credits is not None
    assert (credits.used, credits.remaining) == (1_000, 0)
    assert service.reconcile(org_id) == []


def test_stored_events_read_back_the_same_every_time(funded: Scenario) -> None:
    """The memory store keeps events with their ids and builds their stored form when read:
    two reads agree, ids and all, before and after a relay publishes them."""
    store = funded.store
    assert isinstance(store, MemoryStore)
    assert store.post_spend(*spend_of(funded, "member-1", 5, "g-1"))
    with store.unit_of_work() as uow:
        first = uow.events.list(funded.org_id, limit=1_000)
        assert uow.events.list(funded.org_id, limit=1_000) == first
        claimed = uow.events.claim(limit=1_000)
    assert {e.id for e in first} <= {e.id for e in claimed}
    assert all(e.published_at is None for e in first)
    funded.service.relay(lambda events: None, limit=1_000)
    with store.unit_of_work() as uow:
        after = uow.events.list(funded.org_id, limit=1_000)
        assert uow.events.claim(limit=1_000) == []
    assert [attrs.evolve(e, published_at=None) for e in after] == first
    assert all(e.published_at is not None for e in after)
