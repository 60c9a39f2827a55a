"""The profile view and the admin dashboard on every database backend.

A scenario whose figures were worked out by hand is read back through the service; then the
statements each view sends are counted: the same for ten members and ten transfers as for
three hundred of each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event

from armox_enterprise import EnterpriseCredits, ProfileView, Role
from armox_enterprise.domain.periods import valid_through
from armox_enterprise.ports import MemberSort
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


@contextmanager
def statements(backend: Backend) -> Iterator[list[str]]:
    """Collect the SQL of every statement sent on the backend's engine inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(backend.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(backend.engine, "before_cursor_execute", record)


def count(backend: Backend, call: Callable[[], object]) -> int:
    """How many statements ``call`` sends (BEGIN and COMMIT included)."""
    with statements(backend) as seen:
        call()
    return len(seen)


# ---------------------------------------------------------------------------- by hand


class Story:
    """Acme with four members, what each did this period, and when each last moved credits."""

    def __init__(self, backend: Backend) -> None:
        s = enterprise(store=backend.store(), members=0, allowance=10_000)
        self.s = s
        svc, org, admin = s.service, s.org_id, s.admin
        for user, name in [
            ("zoe", "Zo\u00eb Quinn"),
            ("bob", "bob stone"),
            ("ann", "Ann Lee"),
            ("cy", "Cy Young"),
        ]:
            svc.enrol(user, f"{user}@acme.example", email_verified=True, display_name=name)
        self.last: dict[str, datetime] = {}

        def step() -> None:
            s.clock.advance(minutes=1)

        svc.top_up(admin, org, 2_000)
        for user, amount in [("ann", 1_000), ("bob", 500), ("zoe", 800), ("cy", 300)]:
            step()
            svc.allocate_credits(admin, org, user, amount)
        step()
        svc.spend("ann", org, 400, generation_id="g1", feature="image")
        step()
        svc.reserve("ann", org, 100, generation_id="g2")
        self.last["ann"] = s.clock.now()
        step()
        hold = svc.reserve("bob", org, 300, generation_id="g3")
        step()
        svc.capture_hold("bob", org, hold.id, 200)
        self.last["bob"] = s.clock.now()
        step()
        spend = svc.spend("zoe", org, 50, generation_id="g4")
        step()
        request = svc.request_credits("cy", org, 200)
        svc.approve_request(admin, org, request.id, amount=150)
        step()
        svc.refund(admin, org, spend.id, 20)
        self.last["zoe"] = s.clock.now()
        step()
        svc.reclaim_credits(admin, org, "cy", 100)
        self.last["cy"] = s.clock.now()
        step()
        self.bob_request = svc.request_credits("bob", org, 100)
        step()
        self.ann_request = svc.request_credits("ann", org, 50)


@pytest.fixture
def story(backend: Backend) -> Story:
    """The hand-computed scenario on the backend."""
    return Story(backend)


def users(s: Scenario, **page: Any) -> list[str]:
    """The user ids of one dashboard page, in order."""
    return [r.user_id for r in s.service.dashboard(s.admin, s.org_id, **page).members]


def test_the_dashboard_shows_the_hand_computed_figures(story: Story) -> None:
    """Every member row and the pool figures equal the figures worked out by hand."""
    s = story.s
    board = s.service.dashboard(s.admin, s.org_id)
    rows = {
        r.user_id: (r.display_name, r.allocated, r.used, r.remaining, r.on_hold, r.last_activity)
        for r in board.members
    }
    assert rows == {
        "admin": ("Admin", 0, 0, 0, 0, None),
        "ann": ("Ann Lee", 1_000, 400, 500, 100, story.last["ann"]),
        "bob": ("bob stone", 500, 200, 300, 0, story.last["bob"]),
        "cy": ("Cy Young", 450, 0, 350, 0, story.last["cy"]),
        "zoe": ("Zo\u00eb Quinn", 800, 30, 770, 0, story.last["zoe"]),
    }
    assert board.total_members == 5
    pool = board.pool
    assert (pool.granted, pool.topped_up, pool.carried_over, pool.available_total) == (
        10_000,
        2_000,
        0,
        12_000,
    )
    assert (pool.allocated, pool.reclaimed, pool.returned) == (2_750, 100, 0)
    assert (pool.unallocated, pool.used, pool.expired) == (9_350, 630, 0)
    assert pool.utilisation == pytest.approx(630 / 12_000)
    assert board.pending_requests == [story.bob_request, story.ann_request]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["admin", "ann", "bob", "cy", "zoe"]),
        ("allocated", ["admin", "cy", "bob", "zoe", "ann"]),
        ("used", ["admin", "cy", "zoe", "bob", "ann"]),
        ("remaining", ["admin", "bob", "cy", "ann", "zoe"]),
        ("last_activity", ["admin", "ann", "bob", "zoe", "cy"]),
    ],
)
def test_the_member_table_sorts_and_pages_alike_on_every_backend(
    story: Story, sort: MemberSort, expected: list[str]
) -> None:
    """Each sort key gives the hand-sorted order, descending its reverse, in pages of two."""
    s = story.s
    assert users(s, sort=sort) == expected
    assert users(s, sort=sort, descending=True) == expected[::-1]
    pages = [users(s, sort=sort, offset=offset, limit=2) for offset in (0, 2, 4, 6)]
    assert pages == [expected[0:2], expected[2:4], expected[4:], []]


def test_the_profile_shows_the_hand_computed_section(story: Story) -> None:
    """A member's profile has the badge and this period's figures; a removed member's
    profile is the personal one, and the dashboard drops them and returns their credits."""
    s = story.s
    profile = s.service.profile("ann")
    period = s.organisation.current_period
    assert profile == ProfileView(
        user_id="ann",
        is_enterprise=True,
        subscription_management_hidden=True,
        organisation_id=s.org_id,
        badge="Acme",
        role=Role.MEMBER,
        credits=EnterpriseCredits(
            allocated=1_000,
            carried_in=0,
            used=400,
            remaining=500,
            on_hold=100,
            period_start=period.start,
            resets_at=period.end,
            valid_through=valid_through(period),
            time_zone="UTC",
            can_request=False,
            request_blocked_reason="a credit request is already pending",
            pending_request=story.ann_request,
            cap_counted=500,
        ),
    )
    s.service.remove_member(s.admin, s.org_id, "cy")
    assert s.service.profile("cy") == ProfileView.personal("cy")
    board = s.service.dashboard(s.admin, s.org_id, sort="remaining")
    assert [r.user_id for r in board.members] == ["admin", "bob", "ann", "zoe"]
    assert board.total_members == 4
    assert (board.pool.returned, board.pool.unallocated) == (350, 9_700)


# ---------------------------------------------------------------------------- bounded cost


def grown(backend: Backend, size: int) -> Scenario:
    """Acme with ``size`` members holding credits, the first of whom spent ``size`` times."""
    s = enterprise(store=backend.store(), members=size, allowance=1_000_000, allocate=500)
    for i in range(size):
        s.service.spend("member-1", s.org_id, 1, generation_id=f"g{i}")
    s.service.reserve("member-2", s.org_id, 5, generation_id="hold")
    s.service.request_credits("member-3", s.org_id, 10)
    return s


def costs(backend: Backend, s: Scenario, sort: MemberSort) -> tuple[int, int]:
    """The statements of member-1's profile view and of the first page of the dashboard."""
    profile = count(backend, lambda: s.service.profile("member-1"))
    dashboard = count(backend, lambda: s.service.dashboard(s.admin, s.org_id, sort=sort))
    return profile, dashboard


@pytest.mark.parametrize("sort", ["name", "used", "last_activity"])
def test_views_cost_the_same_statements_for_10_and_300_members_and_transfers(
    backend: Backend, sort: MemberSort
) -> None:
    """The profile view and one dashboard page send as many statements for 10 members and
    10 transfers as for 300 of each, and only a handful."""
    counts = []
    for size in (10, 300):
        backend.empty()
        s = grown(backend, size)
        section = s.service.profile("member-1").credits
        assert section is not None
        assert section.used == size
        board = s.service.dashboard(s.admin, s.org_id, sort=sort, limit=50)
        assert len(board.members) == min(size + 1, 50)
        counts.append(costs(backend, s, sort))
    assert counts[0] == counts[1]
    profile, dashboard = counts[0]
    # The profile reads the member's team assignment (one statement; two more for a member
    # in a team: the team and its budget), the dashboard the organisation's teams.
    assert profile <= 9
    assert dashboard <= 15
