"""The directory's rules, with no store: what provisioning and reactivation do to the
membership they find, and the seat limit."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.directory import (
    DirectoryAction,
    ensure_seat_free,
    provisioning_action,
    reactivation_action,
)
from armox_enterprise.domain.organisation import Membership, MemberStatus, Organisation, Role
from armox_enterprise.domain.reasons import EnrolmentReason
from armox_enterprise.domain.values import EmailAddress
from armox_enterprise.exceptions import EnrolmentRefused

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
JO = EmailAddress.parse("jo@acme.example")
MEMBER = Membership("org", "jo", JO, "Jo", Role.MEMBER, T0)
REMOVED = attrs.evolve(MEMBER, status=MemberStatus.REMOVED, removed_at=T0)


def test_a_user_never_seen_or_removed_is_admitted() -> None:
    """No membership, or a removed one: the directory's user joins."""
    assert provisioning_action(None, JO, "") is DirectoryAction.ADMIT
    assert provisioning_action(REMOVED, JO, "Jo") is DirectoryAction.ADMIT


def test_an_active_member_as_asked_is_left_alone() -> None:
    """Same address, and the same or no display name: nothing to do."""
    assert provisioning_action(MEMBER, JO, "Jo") is DirectoryAction.NONE
    assert provisioning_action(MEMBER, JO, "") is DirectoryAction.NONE


def test_an_active_member_with_other_details_is_updated() -> None:
    """Another address or another display name: the membership is updated."""
    other = EmailAddress.parse("jo.doe@acme.example")
    assert provisioning_action(MEMBER, other, "") is DirectoryAction.UPDATE
    assert provisioning_action(MEMBER, JO, "Jo Doe") is DirectoryAction.UPDATE


@given(st.sampled_from([MEMBER, REMOVED, attrs.evolve(MEMBER, role=Role.ADMIN)]))
def test_reactivation_admits_only_the_removed(membership: Membership) -> None:
    """Reactivating admits a removed member and leaves an active one as they are."""
    expected = DirectoryAction.ADMIT if not membership.is_active else DirectoryAction.NONE
    assert reactivation_action(membership) is expected


def _organisation(seat_limit: int | None) -> Organisation:
    return Organisation(
        id="org",
        name="Acme",
        monthly_allowance=100,
        cycle_anchor=T0,
        created_at=T0,
        seat_limit=seat_limit,
    )


@given(st.integers(1, 10_000), st.integers(0, 10_000))
def test_the_seat_limit_refuses_only_when_the_seats_are_full(limit: int, seats: int) -> None:
    """A new active member fits while fewer than ``seat_limit`` seats are taken."""
    organisation = _organisation(limit)
    if seats < limit:
        assert ensure_seat_free(organisation, seats) is None
        return
    with pytest.raises(EnrolmentRefused) as refused:
        ensure_seat_free(organisation, seats)
    assert refused.value.reason is EnrolmentReason.SEAT_LIMIT_REACHED


def test_no_seat_limit_never_refuses() -> None:
    """Without a seat limit any number of members fits."""
    assert ensure_seat_free(_organisation(None), 10**9) is None
