"""Read models: the profile page and the admin dashboard."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from armox_enterprise import (
    Dashboard,
    EnterpriseCredits,
    InvalidInput,
    Organisation,
    OrganisationNotFound,
    PermissionDenied,
    ProfileView,
    Role,
)
from armox_enterprise.testing import Scenario, enterprise

UTC = timezone.utc
START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def credits_of(s: Scenario, user: str) -> EnterpriseCredits:
    """The Enterprise Credits section of ``user``'s profile."""
    section = s.service.profile(user).credits
    assert section is not None
    return section


# ---------------------------------------------------------------------------- profile


def test_a_members_profile_shows_the_badge_and_enterprise_credits(acme: Scenario) -> None:
    """Members see the organisation's badge, this period's credits, and no subscription."""
    acme.service.spend("member-1", acme.org_id, 150, generation_id="g1")
    acme.service.reserve("member-1", acme.org_id, 50, generation_id="g2")
    profile = acme.service.profile("member-1")
    assert profile == ProfileView(
        user_id="member-1",
        is_enterprise=True,
        subscription_management_hidden=True,
        organisation_id=acme.org_id,
        badge="Acme",
        role=Role.MEMBER,
        credits=EnterpriseCredits(
            allocated=1_000,
            carried_in=0,
            used=150,
            remaining=800,
            on_hold=50,
            period_start=START,
            resets_at=datetime(2026, 2, 15, 9, 0, tzinfo=UTC),
            valid_through=date(2026, 2, 15),
            time_zone="UTC",
            can_request=True,
            request_blocked_reason=None,
            pending_request=None,
            spend_cap=None,
            cap_counted=200,
            cap_room=None,
        ),
    )


def test_allocated_counts_allocations_allotments_and_approvals(acme: Scenario) -> None:
    """Everything credited to the member this period counts as allocated; reclaims do not."""
    request = acme.service.request_credits("member-1", acme.org_id, 200)
    acme.service.approve_request(acme.admin, acme.org_id, request.id)
    acme.service.reclaim_credits(acme.admin, acme.org_id, "member-1", 100)
    section = credits_of(acme, "member-1")
    assert (section.allocated, section.remaining) == (1_200, 1_100)


def test_used_counts_spends_and_captures_less_refunds(acme: Scenario) -> None:
    """Used is spends plus captured holds minus refunds, this period."""
    spend = acme.service.spend("member-1", acme.org_id, 100, generation_id="g1")
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="g2")
    acme.service.capture_hold("member-1", acme.org_id, hold.id, 200)
    acme.service.refund(acme.admin, acme.org_id, spend.id, 40)
    section = credits_of(acme, "member-1")
    assert (section.used, section.remaining, section.on_hold) == (260, 740, 0)


def test_an_admins_profile_is_an_enterprise_profile_too(acme: Scenario) -> None:
    """Admins are members with the admin role; their profile shows the badge as well."""
    profile = acme.service.profile(acme.admin)
    assert (profile.is_enterprise, profile.role, profile.badge) == (True, Role.ADMIN, "Acme")
    assert profile.subscription_management_hidden


def test_a_non_member_sees_the_personal_profile(acme: Scenario) -> None:
    """Anyone else gets a view that says so, with subscription management shown."""
    profile = acme.service.profile("stranger")
    assert profile == ProfileView.personal("stranger")
    assert (profile.is_enterprise, profile.subscription_management_hidden) == (False, False)
    assert (profile.organisation_id, profile.badge, profile.role, profile.credits) == (
        None,
        None,
        None,
        None,
    )


def test_a_removed_member_sees_the_personal_profile_again(acme: Scenario) -> None:
    """Leaving the organisation brings back the user's own subscription page."""
    acme.service.remove_member(acme.admin, acme.org_id, "member-1")
    assert acme.service.profile("member-1") == ProfileView.personal("member-1")


def test_the_request_button_is_disabled_while_a_request_is_pending(acme: Scenario) -> None:
    """With the one allowed request pending, the button is off and the request is shown."""
    request = acme.service.request_credits("member-1", acme.org_id, 300)
    section = credits_of(acme, "member-1")
    assert (section.can_request, section.pending_request) == (False, request)
    assert section.request_blocked_reason
    acme.service.reject_request(acme.admin, acme.org_id, request.id)
    section = credits_of(acme, "member-1")
    assert (section.can_request, section.request_blocked_reason, section.pending_request) == (
        True,
        None,
        None,
    )


def test_the_request_button_follows_the_open_request_cap(acme: Scenario) -> None:
    """With a cap of two, one pending request leaves the button on and shows the oldest."""
    acme.service.update_settings(acme.admin, acme.org_id, max_open_requests=2)
    first = acme.service.request_credits("member-1", acme.org_id, 100)
    acme.clock.advance(seconds=1)
    section = credits_of(acme, "member-1")
    assert (section.can_request, section.pending_request) == (True, first)
    acme.service.request_credits("member-1", acme.org_id, 200)
    section = credits_of(acme, "member-1")
    assert (section.can_request, section.pending_request) == (False, first)


def test_other_members_requests_do_not_disable_the_button(acme: Scenario) -> None:
    """The button is per member."""
    acme.service.request_credits("member-2", acme.org_id, 100)
    assert credits_of(acme, "member-1").can_request is True


# ---------------------------------------------------------------------------- dashboard


def test_the_dashboard_shows_this_periods_pool_figures(acme: Scenario) -> None:
    """Granted, topped up, allocated, reclaimed, returned, used and unallocated add up."""
    svc, org = acme.service, acme.org_id
    svc.top_up(acme.admin, org, 2_000)
    svc.reclaim_credits(acme.admin, org, "member-2", 300)
    spend = svc.spend("member-1", org, 400, generation_id="g1")
    svc.refund(acme.admin, org, spend.id, 100)
    svc.remove_member(acme.admin, org, "member-2")
    pool = svc.dashboard(acme.admin, org).pool
    assert (pool.period_index, pool.period_start, pool.monthly_allowance) == (0, START, 10_000)
    assert (pool.granted, pool.topped_up, pool.carried_over) == (10_000, 2_000, 0)
    assert (pool.allocated, pool.reclaimed, pool.returned) == (2_000, 300, 700)
    assert (pool.used, pool.expired) == (300, 0)
    assert pool.unallocated == 12_000 - 2_000 + 300 + 700
    assert pool.available_total == 12_000
    assert pool.utilisation == pytest.approx(300 / 12_000)


def test_utilisation_is_zero_when_nothing_was_available() -> None:
    """An organisation with an empty pool has zero utilisation, not a division error."""
    s = enterprise(allowance=0, members=0)
    pool = s.service.dashboard(s.admin, s.org_id).pool
    assert (pool.available_total, pool.utilisation) == (0, 0.0)


def test_the_dashboard_lists_active_members_with_their_figures(acme: Scenario) -> None:
    """Each row has the member's figures for the period and their standing allotment."""
    acme.service.set_standing_allotment(acme.admin, acme.org_id, "member-2", 250)
    acme.clock.advance(minutes=5)
    acme.service.spend("member-1", acme.org_id, 100, generation_id="g1")
    acme.service.reserve("member-1", acme.org_id, 30, generation_id="g2")
    dashboard = acme.service.dashboard(acme.admin, acme.org_id)
    assert (dashboard.organisation_id, dashboard.name, dashboard.total_members) == (
        acme.org_id,
        "Acme",
        3,
    )
    rows = {r.user_id: r for r in dashboard.members}
    one = rows["member-1"]
    assert (one.display_name, one.email, one.role) == (
        "Member-1",
        "member-1@acme.example",
        Role.MEMBER,
    )
    assert (one.allocated, one.used, one.remaining, one.on_hold) == (1_000, 100, 870, 30)
    assert one.last_activity == acme.clock.now()
    two = rows["member-2"]
    assert (two.standing_allotment, two.last_activity) == (250, START)
    assert rows[acme.admin].last_activity is None


def _many_members() -> Scenario:
    s = enterprise(members=0, allowance=100_000)
    for n, name in enumerate(["dora", "Bea", "cleo", "ava", "Eve"]):
        s.clock.advance(minutes=1)
        s.service.enrol(
            name.lower(), f"{name.lower()}@acme.example", email_verified=True, display_name=name
        )
        s.service.allocate_credits(s.admin, s.org_id, name.lower(), 100 * (n + 1))
    s.service.spend("cleo", s.org_id, 250, generation_id="g1")
    return s


def _names(dashboard: Dashboard) -> list[str]:
    return [r.user_id for r in dashboard.members]


def test_the_member_table_sorts_by_name_case_insensitively(acme: Scenario) -> None:
    """Name order ignores case; descending reverses it."""
    s = _many_members()
    assert _names(s.service.dashboard(s.admin, s.org_id)) == [
        "admin",
        "ava",
        "bea",
        "cleo",
        "dora",
        "eve",
    ]
    assert _names(s.service.dashboard(s.admin, s.org_id, descending=True))[0] == "eve"


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("allocated", ["admin", "dora", "bea", "cleo", "ava", "eve"]),
        ("used", ["admin", "ava", "bea", "dora", "eve", "cleo"]),
        ("remaining", ["admin", "cleo", "dora", "bea", "ava", "eve"]),
    ],
)
def test_the_member_table_sorts_by_figures(sort: str, expected: list[str]) -> None:
    """Sorting by a figure orders ascending, ties broken by user id."""
    s = _many_members()
    dashboard = s.service.dashboard(s.admin, s.org_id, sort=sort)  # type: ignore[arg-type]
    assert _names(dashboard) == expected
    reverse = s.service.dashboard(s.admin, s.org_id, sort=sort, descending=True)  # type: ignore[arg-type]
    assert _names(reverse) == list(reversed(expected))


def test_members_without_activity_sort_first_by_last_activity() -> None:
    """Ascending by last activity, idle members come first, then the least recently active."""
    s = _many_members()
    s.clock.advance(minutes=1)
    s.service.spend("ava", s.org_id, 1, generation_id="g2")
    order = _names(s.service.dashboard(s.admin, s.org_id, sort="last_activity"))
    assert order == ["admin", "dora", "bea", "cleo", "eve", "ava"]
    reverse = _names(s.service.dashboard(s.admin, s.org_id, sort="last_activity", descending=True))
    assert reverse == list(reversed(order))


def test_the_member_table_is_paged() -> None:
    """Offset and limit select a slice; the total counts every active member."""
    s = _many_members()
    page = s.service.dashboard(s.admin, s.org_id, offset=2, limit=3)
    assert _names(page) == ["bea", "cleo", "dora"]
    assert (page.total_members, page.page.offset, page.page.limit) == (6, 2, 3)
    assert _names(s.service.dashboard(s.admin, s.org_id, offset=6)) == []


@pytest.mark.parametrize(
    "page",
    [
        {"sort": "email"},
        {"descending": "yes"},
        {"offset": -1},
        {"offset": True},
        {"limit": 0},
        {"limit": 501},
        {"limit": 2.0},
    ],
)
def test_bad_page_requests_are_refused(acme: Scenario, page: dict[str, object]) -> None:
    """Unknown sort keys, negative offsets and limits outside 1..500 are invalid."""
    with pytest.raises(InvalidInput):
        acme.service.dashboard(acme.admin, acme.org_id, **page)  # type: ignore[arg-type]


def test_pending_requests_are_listed_oldest_first(acme: Scenario) -> None:
    """The dashboard lists only pending requests, oldest first."""
    second_member = acme.service.request_credits("member-2", acme.org_id, 200)
    acme.clock.advance(minutes=1)
    first_member = acme.service.request_credits("member-1", acme.org_id, 100)
    acme.clock.advance(minutes=1)
    acme.service.request_credits(acme.admin, acme.org_id, 50)
    rejected = acme.service.list_requests(acme.admin, acme.org_id)[-1]
    acme.service.reject_request(acme.admin, acme.org_id, rejected.id)
    pending = acme.service.dashboard(acme.admin, acme.org_id).pending_requests
    assert pending == [second_member, first_member]


def test_members_cannot_read_the_dashboard(acme: Scenario) -> None:
    """The dashboard is for admins."""
    with pytest.raises(PermissionDenied):
        acme.service.dashboard("member-1", acme.org_id)


def test_outsiders_cannot_read_the_dashboard(acme: Scenario, globex: Organisation) -> None:
    """Another organisation's admin is told the organisation does not exist."""
    with pytest.raises(OrganisationNotFound):
        acme.service.dashboard("globex-admin", acme.org_id)
    with pytest.raises(OrganisationNotFound):
        acme.service.dashboard(acme.admin, globex.id)


def test_the_dashboard_moves_to_the_new_period_by_itself(acme: Scenario) -> None:
    """Reading the dashboard after the boundary shows the new period (lazy turnover)."""
    acme.clock.set(START + timedelta(days=31))
    pool = acme.service.dashboard(acme.admin, acme.org_id).pool
    assert (pool.period_index, pool.period_start) == (1, datetime(2026, 2, 15, 9, 0, tzinfo=UTC))


def test_a_members_profile_shows_their_cap_and_the_room_left(acme: Scenario) -> None:
    """Under a cap, the profile shows the cap that applies (the member's own over the
    default), what counts against it (used plus on hold) and the room left."""
    acme.service.set_spend_cap("admin", acme.org_id, 500)
    acme.service.spend("member-1", acme.org_id, 150, generation_id="g1")
    acme.service.reserve("member-1", acme.org_id, 50, generation_id="g2")
    credits = acme.service.profile("member-1").credits
    assert credits is not None
    assert (credits.spend_cap, credits.cap_counted, credits.cap_room) == (500, 200, 300)
    acme.service.set_spend_cap("admin", acme.org_id, 180, user_id="member-1")
    credits = acme.service.profile("member-1").credits
    assert credits is not None
    assert (credits.spend_cap, credits.cap_counted, credits.cap_room) == (180, 200, 0)
