"""The dashboard's member table on every store: the same rows, in the same order, on every page.

Hypothesis builds organisations: members who join with names that tie when case-folded,
allocations, standing allotments, approved requests, reclaims, spends, holds captured or
released, refunds, removals, and time passing, across period boundaries (holds made before a
close and settled after it, refunds of an earlier period's spends).  The same history is
played on the memory store and on a SQL backend.  Then, for every sort key, both directions
and every page, both stores must show the same rows in the same order, and those rows must be
the ones a model computed here from each store's own transfers gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from armox_enterprise import EnterpriseService, MemoryStore
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.domain.ledger import (
    ALLOCATED_KINDS,
    EFFECTS,
    REFUND_KINDS,
    SPENT_KINDS,
    Transfer,
    member_account,
)
from armox_enterprise.exceptions import ArmoxError
from armox_enterprise.ports import MemberSort, Store
from armox_enterprise.testing import FrozenClock, StaticDnsResolver

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

SORTS: list[MemberSort] = ["name", "allocated", "used", "remaining", "last_activity"]
#: Display names that tie once case-folded ("straße" and "STRASSE" too), and names that sort
#: differently by code point than by any locale ("Zoë" after "Zoe", "Émile" after "Zed").
NAMES = ["ann", "Ann", "ANN", "Zoë", "zoe", "Zoe", "Émile", "emile", "Zed", "straße", "STRASSE"]
#: User ids that differ only by case, or by a character outside ASCII, to test the ties.
USERS = ["bob", "Bob", "ann", "émile", "Zed", "zed", "m1", "m10", "m2"]
ROW = Callable[[Any], tuple[Any, ...]]

amounts = st.integers(1, 400)
members = st.integers(0, 20)
#: Three members with credits, then the history.
START = [("join", 0, 0), ("join", 1, 1), ("join", 2, 9), *(("allocate", n, 300) for n in range(3))]
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.integers(0, len(USERS) - 1), st.integers(0, len(NAMES) - 1)),
        st.tuples(st.just("allocate"), members, amounts),
        st.tuples(st.just("allot"), members, st.integers(0, 300)),
        st.tuples(st.just("approve"), members, amounts),
        st.tuples(st.just("reclaim"), members, amounts),
        st.tuples(st.just("spend"), members, st.integers(1, 150)),
        st.tuples(st.just("reserve"), members, st.integers(1, 150)),
        st.tuples(st.just("capture"), st.integers(0, 20), st.integers(0, 100)),
        st.tuples(st.just("release"), st.integers(0, 20)),
        st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 100)),
        st.tuples(st.just("remove"), members),
        st.tuples(st.just("wait"), st.integers(0, 3 * 24 * 60)),
        st.tuples(st.just("close"), st.integers(0, 120)),
    ),
    max_size=40,
)
#: Histories worth playing every time: a member who spent all of a period's credits before it
#: closed (nothing of the period is left on the row but its spends, now in period_totals); a
#: hold made before a close and captured or released after it; a refund of an earlier
#: period's spend; a member who leaves and comes back.
EXAMPLES: list[list[tuple[Any, ...]]] = [
    [("spend", 0, 150), ("spend", 0, 150), ("close", 0), ("allocate", 1, 10)],
    [("reserve", 0, 100), ("reserve", 1, 50), ("close", 5), ("capture", 0, 60), ("release", 1)],
    [("spend", 2, 120), ("close", 0), ("refund", 0, 50), ("wait", 10), ("refund", 0, 100)],
    [("remove", 1), ("join", 1, 4), ("allocate", 1, 20), ("close", 0), ("spend", 1, 5)],
]
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Player:
    """One store's organisation, and the history played on it.

    Every user id carries the organisation's ``tag``, so that many organisations share a
    database (a user has one active membership); both stores of an example get the same tag,
    the same clock and the same calls, so they hold the same members and figures.
    """

    def __init__(self, store: Store, tag: str) -> None:
        self.clock = FrozenClock()
        dns = StaticDnsResolver()
        self.service = EnterpriseService(store, clock=self.clock, dns=dns)
        self.store = store
        self.tag = tag
        self.domain = f"o{tag}.example"
        self.admin = f"admin-{tag}"
        self.org_id = self.service.create_organisation(
            name="Acme",
            admin_user_id=self.admin,
            admin_email=f"admin@{self.domain}",
            admin_display_name="Admin",
            monthly_allowance=5_000,
        ).id
        claim = self.service.claim_domain(self.admin, self.org_id, self.domain)
        dns.publish(self.domain, claim.txt_record)
        self.service.verify_domain(self.admin, self.org_id, self.domain)
        self.joined: list[str] = []
        self.spends: list[Transfer] = []
        self.holds: list[str] = []
        self.outcomes: list[str] = []
        self.generation = 0

    def user(self, n: int) -> str:
        """One of the users who joined (removed or not), or the admin before anyone did."""
        return self.joined[n % len(self.joined)] if self.joined else self.admin

    def play(self, actions: list[tuple[Any, ...]]) -> None:
        """Play every action, recording what each did (a result or the error's type)."""
        for action in actions:
            try:
                getattr(self, action[0])(*action[1:])
                self.outcomes.append("ok")
            except ArmoxError as exc:
                self.outcomes.append(type(exc).__name__)

    def _key(self) -> str:
        self.generation += 1
        return f"gen-{self.generation}"

    def join(self, n: int, name: int) -> None:
        user = f"{USERS[n]}-{self.tag}"
        self.service.enrol(
            user, f"u{n}@{self.domain}", email_verified=True, display_name=NAMES[name]
        )
        if user not in self.joined:
            self.joined.append(user)

    def allocate(self, n: int, amount: int) -> None:
        self.service.allocate_credits(self.admin, self.org_id, self.user(n), amount)

    def allot(self, n: int, amount: int) -> None:
        self.service.set_standing_allotment(self.admin, self.org_id, self.user(n), amount)

    def approve(self, n: int, amount: int) -> None:
        request = self.service.request_credits(self.user(n), self.org_id, amount)
        self.service.approve_request(self.admin, self.org_id, request.id)

    def reclaim(self, n: int, amount: int) -> None:
        self.service.reclaim_credits(self.admin, self.org_id, self.user(n), amount)

    def spend(self, n: int, amount: int) -> None:
        spent = self.service.spend(self.user(n), self.org_id, amount, generation_id=self._key())
        self.spends.append(spent)

    def reserve(self, n: int, amount: int) -> None:
        hold = self.service.reserve(self.user(n), self.org_id, amount, generation_id=self._key())
        self.holds.append(hold.id)

    def capture(self, i: int, percent: int) -> None:
        hold_id = self.holds[i % len(self.holds)] if self.holds else "no-hold"
        with self.store.unit_of_work() as uow:
            hold = uow.holds.get(self.org_id, hold_id)
        amount = 1 if hold is None else max(1, hold.amount * percent // 100)
        user = self.admin if hold is None else hold.user_id
        self.service.capture_hold(user, self.org_id, hold_id, amount)

    def release(self, i: int) -> None:
        hold_id = self.holds[i % len(self.holds)] if self.holds else "no-hold"
        self.service.release_hold(self.admin, self.org_id, hold_id)  # an admin may

    def refund(self, i: int, percent: int) -> None:
        if not self.spends:
            raise ArmoxError("nothing to refund")
        spent = self.spends[i % len(self.spends)]
        amount = max(1, spent.amount * percent // 100)
        self.service.refund(self.admin, self.org_id, spent.id, amount)

    def remove(self, n: int) -> None:
        self.service.remove_member(self.admin, self.org_id, self.user(n))

    def wait(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes, seconds=1)

    def close(self, minutes: int) -> None:
        """Pass the period's end (its turnover runs with the next call)."""
        self.clock.advance(days=31, minutes=minutes)

    # -- reading

    def page(self, sort: MemberSort, descending: bool, offset: int, limit: int) -> list[Any]:
        """One page of the member table."""
        board = self.service.dashboard(
            self.admin, self.org_id, sort=sort, descending=descending, offset=offset, limit=limit
        )
        return list(board.members)

    def current_period(self) -> int:
        """The current period (the dashboard turns the organisation over when it is due)."""
        return self.service.dashboard(self.admin, self.org_id, limit=1).pool.period_index

    def stored_page(self, period: int, sort: MemberSort, descending: bool) -> list[Any]:
        """The whole member table of any period, from the store's views repository."""
        with self.store.unit_of_work() as uow:
            found, _ = uow.views.member_page(
                self.org_id, period, sort=sort, descending=descending, offset=0, limit=500
            )
        return found

    def model(self, period: int) -> list[tuple[Any, ...]]:
        """The member table of the active members in ``period``, unsorted, as the store's
        transfers give it: ``(user id, name, allocated, used, remaining, on hold, last
        activity)`` for each (remaining and on hold are the account's now)."""
        with self.store.unit_of_work() as uow:
            transfers = uow.ledger.transfers(self.org_id)
            active = uow.memberships.list(self.org_id)
        rows = []
        for membership in active:
            code = member_account(membership.user_id)
            allocated = used = available = pending = 0
            last: datetime | None = None
            for t in transfers:
                effect = EFFECTS[t.kind]
                if t.credit_account == code:
                    available += effect.credit_posted * t.amount
                if t.debit_account == code:
                    available -= (effect.debit_posted + effect.debit_pending) * t.amount
                    pending += effect.debit_pending * t.amount
                if t.period_index != period or code not in (t.debit_account, t.credit_account):
                    continue
                last = t.created_at if last is None else max(last, t.created_at)
                if t.credit_account == code and t.kind in ALLOCATED_KINDS:
                    allocated += t.amount
                if t.debit_account == code and t.kind in SPENT_KINDS:
                    used += t.amount
                if t.credit_account == code and t.kind in REFUND_KINDS:
                    used -= t.amount
            rows.append(
                (
                    membership.user_id,
                    membership.display_name,
                    allocated,
                    max(0, used),
                    available,
                    pending,
                    last,
                )
            )
        return rows


def shown(row: Any) -> tuple[Any, ...]:
    """A member row (or the views repository's figures) as the model computes it."""
    if hasattr(row, "membership"):
        m = row.membership
        return (
            m.user_id,
            m.display_name,
            row.allocated,
            row.used,
            row.remaining,
            row.on_hold,
            row.last_activity,
        )
    return (
        row.user_id,
        row.display_name,
        row.allocated,
        row.used,
        row.remaining,
        row.on_hold,
        row.last_activity,
    )


def everything(row: Any) -> tuple[Any, ...]:
    """Every field of a member row."""
    return (*shown(row), row.email, row.role, row.standing_allotment)


def model_order(rows: list[tuple[Any, ...]], sort: MemberSort, descending: bool) -> list[Any]:
    """The model's rows in the documented order: the key, then the user id, by code point;
    no activity before any; ``descending`` is exactly the reverse."""
    index = {"allocated": 2, "used": 3, "remaining": 4}

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        if sort == "name":
            return (row[1].casefold(), row[0])
        if sort == "last_activity":
            last = row[6]
            return (last is not None, 0.0 if last is None else last.timestamp(), row[0])
        return (row[index[sort]], row[0])

    return sorted(rows, key=key, reverse=descending)


def check_alike(limit: int, reference: Player, other: Player | None = None) -> None:
    """Every sort key, direction and page: the model's rows, and the same rows on both
    stores."""
    players = [reference]
    if other is not None:
        assert other.outcomes == reference.outcomes, "the stores did not play the same history"
        players.append(other)
    for player in players:
        period = player.current_period()
        rows = player.model(period)
        for sort in SORTS:
            for descending in (False, True):
                expected = model_order(rows, sort, descending)
                whole = player.page(sort, descending, 0, 500)
                assert [shown(r) for r in whole] == expected, (sort, descending, period)
                for offset in range(0, len(expected) + limit + 1, limit):
                    page = [everything(r) for r in player.page(sort, descending, offset, limit)]
                    assert page == [everything(r) for r in whole[offset : offset + limit]]
                    if player is other:
                        theirs = reference.page(sort, descending, offset, limit)
                        assert page == [everything(r) for r in theirs], (sort, descending, offset)
        # The views repository answers for the periods before too (the dashboard asks for the
        # current one only).
        for earlier in range(period):
            rows = player.model(earlier)
            for sort in SORTS:
                for descending in (False, True):
                    expected = model_order(rows, sort, descending)
                    found = [shown(f) for f in player.stored_page(earlier, sort, descending)]
                    assert found == expected, (earlier, sort, descending)


def test_the_model_orders_as_documented() -> None:
    """The test's own model follows the documented order (ties by user id, no activity
    first, descending the exact reverse), on a table worked out by hand."""
    early, late = datetime(2026, 1, 1), datetime(2026, 1, 2)
    rows = [
        ("b", "STRASSE", 5, 0, 1, 0, late),
        ("a", "straße", 5, 0, 1, 0, None),
        ("c", "Zoë", 1, 0, 2, 0, early),
        ("B", "Zoe", 1, 0, 0, 0, None),
    ]
    users = {
        sort: [r[0] for r in model_order(rows, sort, False)]
        for sort in ("name", "allocated", "remaining", "last_activity")
    }
    assert users == {
        "name": ["a", "b", "B", "c"],
        "allocated": ["B", "c", "a", "b"],
        "remaining": ["B", "a", "b", "c"],
        "last_activity": ["B", "a", "c", "b"],
    }
    assert [r[0] for r in model_order(rows, "last_activity", True)] == ["b", "c", "a", "B"]


def with_examples(test: Callable[..., None]) -> Callable[..., None]:
    """``test`` with :data:`EXAMPLES`, each with pages of two."""
    for actions in EXAMPLES:
        test = example(actions=actions, limit=2)(test)
    return test


@SETTINGS
@given(actions=ACTIONS, limit=st.integers(1, 4))
@with_examples
def test_every_sort_and_page_is_the_same_on_the_memory_store_and_the_model(
    actions: list[tuple[Any, ...]], limit: int
) -> None:
    """On the memory store, every page of every sort key is the model's."""
    player = Player(MemoryStore(), uuid.uuid4().hex[:8])
    player.play([*START, *actions])
    check_alike(limit, player)


def test_every_sort_and_page_is_the_same_on_sql_as_on_the_memory_store(
    backend: Backend,
) -> None:
    """On each SQL backend, every page of every sort is the memory store's and the model's."""

    @SETTINGS
    @given(actions=ACTIONS, limit=st.integers(1, 4))
    @with_examples
    def check(actions: list[tuple[Any, ...]], limit: int) -> None:
        tag = uuid.uuid4().hex[:8]
        players = [Player(MemoryStore(), tag), Player(SqlAlchemyStore(backend.engine), tag)]
        for player in players:
            player.play([*START, *actions])
        check_alike(limit, *players)

    check()
