"""Bounds and closed accounts, the same on every store: memory, SQLite, PostgreSQL, MariaDB.

Amounts are generated at and around the bounds (1, MAX_CREDITS - 1, MAX_CREDITS, halves of it)
and anywhere between.  Each test runs the same calls on the memory store and on the backend,
checks what the rule says, and checks that both stores answer alike: the same outcome of each
call (posted, or the same error class), the same totals, the same figures.  After each test
every organisation's ledger must reconcile (see ``conftest.py``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armox_enterprise import (
    MAX_CREDITS,
    ArmoxError,
    EnterpriseService,
    InvalidAmount,
    InvalidInput,
    LimitExceeded,
    MemberRemainder,
    MemoryStore,
    RolloverPolicy,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import (
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    Account,
    TransferKind,
    member_account,
    reconcile,
)
from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import AccountClosed
from armox_enterprise.ports import Store
from armox_enterprise.testing import FrozenClock, Scenario, StaticDnsResolver
from armox_enterprise.testing.contracts.base import T0, a_transfer, an_organisation

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

MAX = MAX_CREDITS
K = TransferKind
ALICE, BOB = member_account("alice"), member_account("bob")
EDGES = [1, 2, MAX // 2, MAX // 2 + 1, MAX - 1, MAX]
amounts = st.one_of(st.sampled_from(EDGES), st.integers(1, MAX))
#: Few examples: each one runs on a database.
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _stores(backend: Backend) -> list[Store]:
    """The memory store (the reference) and the backend's store."""
    return [MemoryStore(), SqlAlchemyStore(backend.engine)]


def enterprise(
    *,
    store: Store,
    members: int = 2,
    allowance: int = 10_000,
    rollover: RolloverPolicy | None = None,
    name: str = "Acme",
    tag: str | None = None,
) -> Scenario:
    """An organisation like :func:`armox_enterprise.testing.enterprise` builds, with users and
    a domain named after ``tag`` (a new one by default), so that many can share a database and
    two stores can hold the same one."""
    tag = _tag() if tag is None else tag
    domain = f"o{tag}.example"
    clock, dns = FrozenClock(), StaticDnsResolver()
    service = EnterpriseService(store, clock=clock, dns=dns)
    admin = f"admin-{tag}"
    org = service.create_organisation(
        name=name,
        admin_user_id=admin,
        admin_email=f"admin@{domain}",
        admin_display_name="Admin",
        monthly_allowance=allowance,
        rollover=rollover,
    )
    claim = service.claim_domain(admin, org.id, domain)
    dns.publish(domain, claim.txt_record)
    service.verify_domain(admin, org.id, domain)
    users = tuple(f"m{i}-{tag}" for i in range(1, members + 1))
    for user in users:
        service.enrol(user, f"{user}@{domain}", email_verified=True, display_name=user.title())
    return Scenario(service, store, clock, dns, org, admin, users, domain)


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _outcome(call: Callable[[], object]) -> str:
    """What a call did: ``"ok"``, or the class of the library error it raised."""
    try:
        call()
    except ArmoxError as error:
        return type(error).__name__
    return "ok"


def _bounded(account: Account) -> bool:
    """Whether every total the rule bounds is within 0..MAX_CREDITS (the usage sink's
    credits are a sum and may pass it)."""
    credits_ok = account.code == USAGE or 0 <= account.credits_posted <= MAX
    return credits_ok and all(0 <= t <= MAX for t in account.totals[1:])


# ---------------------------------------------------------------------------- the ledger port

#: Every kind between the accounts the service uses it on, for two members.  A grant is left
#: out: it moves credits as a top-up does, and the SQL schema takes one per organisation and
#: period (docs/decisions.md, note 21), while a script posts many in period 0.
ROUTES = [
    (K.TOP_UP, GRANT, POOL),
    (K.EXPIRE, POOL, EXPIRED),
    *[(k, POOL, m) for k in (K.ALLOCATE, K.ALLOT, K.APPROVE) for m in (ALICE, BOB)],
    *[(k, m, POOL) for k in (K.RECLAIM, K.RETURN) for m in (ALICE, BOB)],
    *[(k, m, USAGE) for k in (K.SPEND, K.HOLD, K.CAPTURE, K.RELEASE) for m in (ALICE, BOB)],
    *[(K.REFUND, USAGE, m) for m in (ALICE, BOB)],
    *[(K.EXPIRE, m, EXPIRED) for m in (ALICE, BOB)],
]
CODES = (GRANT, POOL, USAGE, EXPIRED, ALICE, BOB)
Step = tuple[Any, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(ROUTES), amounts),
        st.tuples(st.sampled_from(["close bob", "reopen bob"]), st.just(0)),
    ),
    max_size=24,
)


def _seed(store: Store) -> str:
    """An organisation with its accounts and two member accounts (the ledger port alone)."""
    org_id = new_id(T0)
    with store.unit_of_work() as uow:
        uow.organisations.add(an_organisation(org_id))
        for code in CODES:
            uow.ledger.open_account(Account(org_id, code))
        uow.commit()
    return org_id


def _ledger_state(store: Store, org_id: str) -> dict[str, Any]:
    """The accounts and this period's totals of every account, before and after sealing."""
    with store.unit_of_work() as uow:
        accounts = uow.ledger.accounts(org_id)
        transfers = uow.ledger.transfers(org_id)
        live = [uow.ledger.period_totals(org_id, code, 0) for code in CODES]
    assert reconcile(accounts, transfers) == []
    assert all(_bounded(a) for a in accounts), accounts
    with store.unit_of_work() as uow:
        uow.ledger.seal_period(org_id, 0)
        uow.commit()
    with store.unit_of_work() as uow:
        sealed = [uow.ledger.period_totals(org_id, code, 0) for code in CODES]
    return {
        "accounts": [(a.code, a.totals, a.closed) for a in accounts],
        "totals": live,
        "sealed": sealed,
    }


def _play(store: Store, script: Sequence[Step]) -> tuple[list[str], dict[str, Any]]:
    """Post each step in a unit of work of its own, committed even after a refusal (so a
    refusal that wrote anything shows); return each step's outcome and the ledger after."""
    org_id = _seed(store)
    outcomes = []
    for minutes, (step, amount) in enumerate(script):
        with store.unit_of_work() as uow:
            if isinstance(step, str):
                uow.ledger.set_closed(org_id, BOB, step == "close bob")
                outcome = step
            else:
                kind, debit, credit = step
                transfer = a_transfer(org_id, kind, debit, credit, amount, minutes=minutes)
                outcome = _outcome(partial(uow.ledger.post, transfer))
            uow.commit()
        outcomes.append(outcome)
    return outcomes, _ledger_state(store, org_id)


def test_every_store_posts_and_refuses_any_sequence_at_the_bounds_alike(backend: Backend) -> None:
    """Transfers of every kind, of amounts at the bounds, posted in any order on accounts that
    open and close: each posting is refused (with the same error) or posted on the database
    exactly as in memory, no total leaves 0..MAX_CREDITS, and the period totals agree before
    and after the period is sealed."""
    sql = SqlAlchemyStore(backend.engine)

    @SETTINGS
    @given(steps)
    def check(script: list[Step]) -> None:
        assert _play(sql, script) == _play(MemoryStore(), script)

    check()


def test_the_sequence_that_passes_every_bound_is_refused_on_every_store(backend: Backend) -> None:
    """A fixed sequence through each bound: the source's debits, the pool's and a member's
    credits, the usage sink's debits, and a settlement of more than is pending."""
    half = MAX // 2
    script: list[Step] = [
        ((K.TOP_UP, GRANT, POOL), MAX),
        ((K.TOP_UP, GRANT, POOL), 1),  # the source has given MAX_CREDITS
        ((K.ALLOCATE, POOL, ALICE), half),
        ((K.SPEND, ALICE, USAGE), half),
        ((K.REFUND, USAGE, ALICE), half),
        ((K.SPEND, ALICE, USAGE), half),
        ((K.ALLOCATE, POOL, ALICE), MAX - half),  # alice was credited 2 * half before
        ((K.ALLOCATE, POOL, BOB), MAX - half),
        ((K.SPEND, BOB, USAGE), MAX - half - 5),  # the usage sink's credits pass MAX_CREDITS
        ((K.RECLAIM, BOB, POOL), 1),  # the pool was credited MAX_CREDITS
        ((K.HOLD, BOB, USAGE), 1),
        ((K.CAPTURE, BOB, USAGE), 2),  # more than is pending
        ((K.RELEASE, BOB, USAGE), 2),
        ((K.REFUND, USAGE, BOB), MAX - half - 5),
        ((K.REFUND, USAGE, BOB), 6),  # the usage sink's debits would pass MAX_CREDITS
    ]
    memory, sql = (_play(store, script) for store in _stores(backend))
    assert memory[0] == [
        "ok",
        "LimitExceeded",
        "ok",
        "ok",
        "ok",
        "ok",
        "LimitExceeded",
        "ok",
        "ok",
        "LimitExceeded",
        "ok",
        "InvalidAmount",
        "InvalidAmount",
        "ok",
        "LimitExceeded",
    ]
    assert sql == memory
    accounts = {code: totals for code, totals, _ in memory[1]["accounts"]}
    assert accounts[USAGE] == (MAX + half - 5, MAX - 5, 0)


@pytest.mark.parametrize("kind", [K.ALLOCATE, K.ALLOT, K.APPROVE])
def test_a_closed_member_account_refuses_credits_from_the_pool(
    backend: Backend, kind: TransferKind
) -> None:
    """An allocation, allotment or approval that reaches the account of a member who left is
    refused with AccountClosed naming the account; nothing of it is written, and the unit of
    work goes on (the SQL store takes its debit back)."""
    for store in _stores(backend):
        org_id = _seed(store)
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, K.GRANT, GRANT, POOL, 100))
            uow.ledger.set_closed(org_id, ALICE, True)
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(AccountClosed, match=ALICE):
                uow.ledger.post(a_transfer(org_id, kind, POOL, ALICE, 10, minutes=1))
            uow.ledger.post(a_transfer(org_id, K.ALLOCATE, POOL, BOB, 7, minutes=2))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.ledger.get_account(org_id, POOL) == Account(org_id, POOL, 100, 7)
            assert uow.ledger.get_account(org_id, ALICE) == Account(org_id, ALICE, closed=True)
            assert uow.ledger.period_totals(org_id, ALICE, 0).credits == {}
            assert [t.kind for t in uow.ledger.transfers(org_id)] == [K.GRANT, K.ALLOCATE]


def test_a_closed_member_account_still_settles_and_returns(backend: Backend) -> None:
    """Captures, releases, refunds, reclaims, returns and expiries still post on the account of
    a member who left."""
    for store in _stores(backend):
        org_id = _seed(store)
        with store.unit_of_work() as uow:
            for minutes, (kind, debit, credit, amount) in enumerate(
                [
                    (K.GRANT, GRANT, POOL, 100),
                    (K.ALLOCATE, POOL, ALICE, 100),
                    (K.SPEND, ALICE, USAGE, 20),
                    (K.HOLD, ALICE, USAGE, 30),
                ]
            ):
                uow.ledger.post(a_transfer(org_id, kind, debit, credit, amount, minutes=minutes))
            uow.ledger.set_closed(org_id, ALICE, True)
            uow.commit()
        with store.unit_of_work() as uow:
            for minutes, (kind, debit, credit, amount) in enumerate(
                [
                    (K.CAPTURE, ALICE, USAGE, 10),
                    (K.RELEASE, ALICE, USAGE, 20),
                    (K.REFUND, USAGE, ALICE, 5),
                    (K.RECLAIM, ALICE, POOL, 5),
                    (K.RETURN, ALICE, POOL, 5),
                    (K.EXPIRE, ALICE, EXPIRED, 5),
                ],
                start=10,
            ):
                uow.ledger.post(a_transfer(org_id, kind, debit, credit, amount, minutes=minutes))
            uow.commit()
        with store.unit_of_work() as uow:
            alice = uow.ledger.get_account(org_id, ALICE)
        assert alice == Account(org_id, ALICE, 105, 20 + 10 + 15, 0, closed=True)


@pytest.mark.parametrize("kind", [K.CAPTURE, K.RELEASE])
def test_a_settlement_of_more_than_is_pending_is_an_invalid_amount_everywhere(
    backend: Backend, kind: TransferKind
) -> None:
    """A capture or release of more than the account has reserved is refused with
    InvalidAmount naming what is pending, on every store, and changes nothing."""
    for store in _stores(backend):
        org_id = _seed(store)
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, K.GRANT, GRANT, POOL, 100))
            uow.ledger.post(a_transfer(org_id, K.ALLOCATE, POOL, ALICE, 100))
            uow.ledger.post(a_transfer(org_id, K.HOLD, ALICE, USAGE, 10))
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(InvalidAmount, match=f"{ALICE}.* 10 pending"):
                uow.ledger.post(a_transfer(org_id, kind, ALICE, USAGE, 11))
            uow.ledger.post(a_transfer(org_id, kind, ALICE, USAGE, 10))
            uow.commit()
        with store.unit_of_work() as uow:
            alice = uow.ledger.get_account(org_id, ALICE)
        assert alice is not None
        assert alice.debits_pending == 0


def test_holds_cycled_past_the_bound_count_up_to_max_credits(backend: Backend) -> None:
    """Reserving and releasing a member's MAX_CREDITS again and again is allowed; the period's
    count of holds and releases stops at MAX_CREDITS on every store."""
    script: list[Step] = [
        ((K.TOP_UP, GRANT, POOL), MAX),
        ((K.ALLOCATE, POOL, ALICE), MAX),
        *[((kind, ALICE, USAGE), MAX) for _ in range(3) for kind in (K.HOLD, K.RELEASE)],
        ((K.HOLD, ALICE, USAGE), MAX),
        ((K.CAPTURE, ALICE, USAGE), MAX),
    ]
    memory, sql = (_play(store, script) for store in _stores(backend))
    assert memory[0] == ["ok"] * len(script)
    assert sql == memory
    alice = memory[1]["totals"][CODES.index(ALICE)]
    assert (alice.debited(K.HOLD), alice.debited(K.RELEASE), alice.debited(K.CAPTURE)) == (
        MAX,
        MAX,
        MAX,
    )


# ---------------------------------------------------------------------------- the service


@SETTINGS
@given(held=st.sampled_from([0, 1, 10_000, MAX // 2, MAX - 1, MAX]), top_up=amounts)
def test_a_top_up_past_the_range_is_refused_in_memory(held: int, top_up: int) -> None:
    """On the memory store, a top-up is refused exactly when the organisation's source would
    pass MAX_CREDITS, naming the account and the operation; nothing is written."""
    _check_top_up(MemoryStore(), held, top_up)


def _check_top_up(store: Store, held: int, top_up: int) -> tuple[str, int]:
    world = enterprise(store=store, members=0, allowance=held)
    service, org_id = world.service, world.org_id
    before = service.dashboard(world.admin, org_id).pool
    try:
        service.top_up(world.admin, org_id, top_up)
    except LimitExceeded as error:
        assert held + top_up > MAX
        message = str(error)
        assert "top_up" in message
        assert "account grant" in message
        assert "UPDATE" not in message
        assert "SELECT" not in message
        assert service.dashboard(world.admin, org_id).pool == before
        return "LimitExceeded", service.dashboard(world.admin, org_id).pool.topped_up
    assert held + top_up <= MAX
    assert service.reconcile(org_id) == []
    return "ok", service.dashboard(world.admin, org_id).pool.topped_up


def test_a_top_up_past_the_range_is_refused_on_every_store(backend: Backend) -> None:
    """The case that broke every store (top_up(MAX_CREDITS) on a pool holding 10,000) and
    generated ones around it: refused by LimitExceeded, or posted, as in memory."""
    sql = SqlAlchemyStore(backend.engine)
    assert _check_top_up(sql, 10_000, MAX) == ("LimitExceeded", 0)

    @SETTINGS
    @given(held=st.sampled_from([0, 1, 10_000, MAX // 2, MAX - 1, MAX]), top_up=amounts)
    def check(held: int, top_up: int) -> None:
        assert _check_top_up(sql, held, top_up) == _check_top_up(MemoryStore(), held, top_up)

    check()


def _sums_past_the_range(store: Store, tag: str) -> dict[str, Any]:
    """Two members whose spends add up past MAX_CREDITS (a spend refunded and spent again),
    read by every report, then after the period closed."""
    half = MAX // 2
    world = enterprise(store=store, members=2, allowance=0, tag=tag)
    service, org_id = world.service, world.org_id
    one, two = world.members
    service.top_up(world.admin, org_id, MAX)
    service.allocate_credits(world.admin, org_id, one, half)
    first = service.spend(one, org_id, half, generation_id="g-1", feature="video", model="m")
    service.refund(world.admin, org_id, first.id)
    service.spend(one, org_id, half, generation_id="g-2", feature="video", model="m")
    service.allocate_credits(world.admin, org_id, two, MAX - half - 10)
    service.spend(two, org_id, MAX - half - 20, generation_id="g-3", feature="video", model="m")
    hold = service.reserve(two, org_id, 10, generation_id="g-4", feature="video", model="m")
    service.capture_hold(two, org_id, hold.id)

    def reports(period: int) -> dict[str, Any]:
        return {
            by: service.usage_report(
                world.admin, org_id, by=by, first_period=period, last_period=period
            )
            for by in ("member", "feature", "model", "day", "week", "month")
        } | {"pool": service.pool_utilisation(world.admin, org_id, first_period=period)}

    current = reports(0)
    feature = current["feature"]
    assert [(r.key, r.spent, r.refunded) for r in feature] == [("video", MAX + half - 10, half)]
    figures: dict[str, Any] = {
        "reports": current,
        "profiles": [service.profile(user).credits for user in world.members],
        "dashboard": service.dashboard(world.admin, org_id, sort="used").members,
    }
    world.clock.advance(timedelta(days=40))
    assert service.close_due_periods() == [org_id]
    figures["closed"] = reports(0)
    assert figures["closed"]["feature"] == feature
    with store.unit_of_work() as uow:
        usage = uow.ledger.get_account(org_id, USAGE)
        figures["usage"] = None if usage is None else usage.totals
        figures["usage_period"] = uow.ledger.period_totals(org_id, USAGE, 0)
    assert figures["usage"] == (MAX + half - 10, half, 0)
    assert service.reconcile(org_id) == []
    return figures


def test_sums_past_max_credits_are_exact_on_every_store(backend: Backend) -> None:
    """The usage sink's credits, a period's spends, usage reports and pool figures that add up
    past MAX_CREDITS are computed exactly (no overflow, no float) and alike on every store,
    before and after the period is sealed."""
    tag = _tag()
    memory, sql = (_sums_past_the_range(store, tag) for store in _stores(backend))
    assert sql == memory


def _huge_allowance(store: Store, tag: str) -> dict[str, Any]:
    """An organisation whose allowance is MAX_CREDITS, turning over twice, beside an ordinary
    one; remainders return to the pool and a standing allotment is due each period."""
    world = enterprise(
        store=store,
        members=2,
        allowance=10_000,
        rollover=RolloverPolicy(member_remainder=MemberRemainder.RETURN_TO_POOL),
        tag=tag,
    )
    other = enterprise(store=store, members=1, allowance=500, name="Other", tag=f"{tag}-2")
    service, org_id = world.service, world.org_id
    one, two = world.members
    events: list[ev.Event] = []
    service.subscribe(events.append)
    service.allocate_credits(world.admin, org_id, one, 5_000)
    service.set_standing_allotment(world.admin, org_id, two, MAX // 2)
    service.set_monthly_allowance(world.admin, org_id, MAX)
    answers: dict[str, Any] = {}
    for period in (1, 2):
        world.clock.advance(timedelta(days=32))
        other.clock.set(world.clock.now())
        turned = service.close_due_periods()
        assert sorted(turned) == sorted([org_id, other.org_id])
        answers[f"period {period}"] = {
            "events": [
                (e.name, attrs.asdict(e, filter=lambda a, _: a.name not in _EVENT_NOISE))
                for e in events
            ],
            "dashboard": service.dashboard(world.admin, org_id).pool,
            "spend": _outcome(
                partial(service.spend, two, org_id, 1, generation_id=f"after-{period}")
            ),
            "top_up": _outcome(lambda: service.top_up(world.admin, org_id, 1)),
            "profile": service.profile(two).credits,
        }
        events.clear()
    assert answers["period 1"]["top_up"] == "LimitExceeded"
    assert answers["period 1"]["spend"] == "ok"
    shortfalls = [e for name, e in answers["period 1"]["events"] if name == "GrantShortfall"]
    # The pool was credited 10,000 by the first grant and 5,000 by the returned remainder.
    assert shortfalls == [{"period_index": 1, "wanted": MAX, "granted": MAX - 15_000}]
    later = answers["period 2"]["events"]
    assert [e for name, e in later if name == "GrantShortfall"] == [
        {"period_index": 2, "wanted": MAX, "granted": 0}
    ]
    assert [e["user_id"] for name, e in later if name == "AllotmentShortfall"] == [two]
    assert service.reconcile(org_id) == []
    assert service.reconcile(other.org_id) == []
    return answers


_EVENT_NOISE = {"organisation_id", "occurred_at", "actor"}


def test_an_allowance_of_max_credits_never_stops_a_turnover(backend: Backend) -> None:
    """set_monthly_allowance(MAX_CREDITS) is legal: every later turnover grants what the totals
    can take (a GrantShortfall reports the rest), the job turns the organisations after it
    over too, and the organisation keeps working, alike on every store."""
    tag = _tag()
    memory, sql = (_huge_allowance(store, tag) for store in _stores(backend))
    assert sql == memory


def test_a_lazy_turnover_with_an_allowance_of_max_credits_answers_the_call(
    backend: Backend,
) -> None:
    """The first call after the boundary turns the period over in its own unit of work: it
    answers, on every store."""
    for store in _stores(backend):
        world = enterprise(store=store, members=1, allowance=10_000)
        world.service.set_monthly_allowance(world.admin, world.org_id, MAX)
        world.clock.advance(timedelta(days=32))
        view = world.service.profile(world.members[0])
        assert view.credits is not None
        assert world.service.dashboard(world.admin, world.org_id).pool.granted == MAX - 10_000


# ---------------------------------------------------------------------------- paging

OFFSETS = [0, 1, 3, 4, 5, 2**31, 2**62, 2**63 - 1, 2**63, 2**64, 2**70, 10**40]


def _paged(store: Store, tag: str) -> Scenario:
    world = enterprise(store=store, members=4, allowance=1_000, tag=tag)
    for i, user in enumerate(world.members):
        world.service.allocate_credits(world.admin, world.org_id, user, 10 * (i + 1))
    return world


def test_any_dashboard_offset_gives_a_page_on_every_store(backend: Backend) -> None:
    """Every non-negative offset, however large, gives the page the memory store gives: the
    members from there on, or an empty page past the end, with the member count."""
    tag = _tag()
    worlds = [_paged(store, tag) for store in _stores(backend)]

    @settings(max_examples=60, deadline=None)
    @given(
        offset=st.one_of(st.sampled_from(OFFSETS), st.integers(0, 2**80)),
        limit=st.sampled_from([1, 2, 50, 500]),
        sort=st.sampled_from(["name", "allocated", "used", "remaining", "last_activity"]),
        descending=st.booleans(),
    )
    def check(offset: int, limit: int, sort: Any, descending: bool) -> None:
        pages = [
            w.service.dashboard(
                w.admin, w.org_id, offset=offset, limit=limit, sort=sort, descending=descending
            )
            for w in worlds
        ]
        rows = [[(m.user_id, m.allocated, m.remaining) for m in p.members] for p in pages]
        assert rows[1] == rows[0]
        assert [p.total_members for p in pages] == [5, 5]
        assert len(rows[0]) == max(0, min(limit, 5 - offset))
        assert [p.page.offset for p in pages] == [offset, offset]

    check()


def test_any_audit_log_offset_in_its_range_gives_a_page_on_every_store(backend: Backend) -> None:
    """Offsets up to 2**31 page through the audit log alike on every store (empty past the
    end); a larger one is refused as bad input everywhere."""
    tag = _tag()
    worlds = [_paged(store, tag) for store in _stores(backend)]
    logs = [w.service.audit_log(w.admin, w.org_id, limit=500) for w in worlds]
    names = [[e.name for e in log] for log in logs]
    assert names[0] == names[1]

    @settings(max_examples=40, deadline=None)
    @given(
        offset=st.one_of(st.sampled_from([0, 1, len(names[0]), 2**31]), st.integers(0, 2**31)),
        limit=st.sampled_from([1, 3, 500]),
    )
    def check(offset: int, limit: int) -> None:
        for w, full in zip(worlds, names, strict=True):
            page = w.service.audit_log(w.admin, w.org_id, offset=offset, limit=limit)
            assert [e.name for e in page] == full[offset : offset + limit]

    check()
    for w in worlds:
        for offset in (2**31 + 1, 2**63, 2**70):
            with pytest.raises(InvalidInput):
                w.service.audit_log(w.admin, w.org_id, offset=offset)


# ---------------------------------------------------------------------------- the jobs


def test_the_jobs_report_a_failing_organisation_and_carry_on_with_the_others(
    backend: Backend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An organisation whose turnover (or alert check) fails is left as it was, logged with
    its id on the ``armox_enterprise`` logger and passed to on_failure; the organisations
    after it are still turned over (checked), on every store."""
    from armox_enterprise.application import jobs, turnover
    from armox_enterprise.domain import alerts

    for store in _stores(backend):
        worlds = [enterprise(store=store, name=f"Org {i}", members=1) for i in range(3)]
        broken = worlds[1].org_id
        open_period, due_alerts = turnover.open_period, alerts.due_alerts

        def failing_turnover(ctx: Any, real: Any = open_period, broken: str = broken) -> None:
            if ctx.org.id == broken:
                raise RuntimeError("the grant could not be written")
            real(ctx)

        def failing_alerts(
            org_id: str, *args: Any, real: Any = due_alerts, broken: str = broken, **kwargs: Any
        ) -> Any:
            if org_id == broken:
                raise RuntimeError("the alerts could not be read")
            return real(org_id, *args, **kwargs)

        monkeypatch.setattr(turnover, "open_period", failing_turnover)
        monkeypatch.setattr(jobs, "due_alerts", failing_alerts)
        failures: list[tuple[str, str]] = []

        def failed(org_id: str, error: Exception, failures: Any = failures) -> None:
            failures.append((org_id, str(error)))

        service = EnterpriseService(store, clock=worlds[0].clock)
        worlds[0].clock.advance(timedelta(days=32))
        with caplog.at_level(logging.ERROR, logger="armox_enterprise"):
            turned = service.close_due_periods(on_failure=failed)
            assert turned == [w.org_id for w in worlds if w.org_id != broken]
            monkeypatch.setattr(turnover, "open_period", open_period)
            service.check_alerts(on_failure=failed)
        assert failures == [
            (broken, "the grant could not be written"),
            (broken, "the alerts could not be read"),
        ]
        logged = [(r.organisation_id, r.job) for r in caplog.records]  # type: ignore[attr-defined]
        assert logged == [(broken, "close_due_periods"), (broken, "check_alerts")]
        with pytest.raises(RuntimeError):
            service.check_alerts(broken)
        caplog.clear()
        monkeypatch.setattr(jobs, "due_alerts", due_alerts)
        assert service.close_due_periods() == [broken]
