"""The directory's rules, with no store: what provisioning and reactivation do to the
membership they find, the seat limit, and the directory's link (its id of the user, and
deletion)."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.directory import (
    DirectoryAction,
    DirectoryLink,
    ensure_external_id_free,
    ensure_seat_free,
    link_after,
    parse_external_id,
    provisioning_action,
    reactivation_action,
)
from armox_enterprise.domain.organisation import Membership, MemberStatus, Organisation, Role
from armox_enterprise.domain.reasons import EnrolmentReason
from armox_enterprise.domain.values import EmailAddress
from armox_enterprise.exceptions import AlreadyExists, EnrolmentRefused, InvalidText

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


IDS = st.none() | st.just("") | st.text(min_size=1, max_size=8)


@given(st.none() | st.text(min_size=1, max_size=8), IDS, st.booleans(), st.booleans())
def test_a_link_keeps_sets_or_removes_the_external_id(
    current: str | None, given_id: str | None, was_deleted: bool, deletes: bool
) -> None:
    """``None`` keeps the current id (none after a deletion), ``""`` removes it, another
    value replaces it; a deletion always lets it go."""
    before = DirectoryLink("org", "jo", current, T0 if was_deleted else None)
    after = link_after(before, "org", "jo", given_id, deleted_at=T0 if deletes else None)
    if deletes:
        expected = None
    elif given_id is None:
        expected = None if was_deleted else current
    else:
        expected = given_id or None
    assert after == DirectoryLink("org", "jo", expected, T0 if deletes else None)
    assert after.is_deleted is deletes
    assert link_after(None, "org", "jo", given_id).external_id == (given_id or None)


def test_an_external_id_is_one_users() -> None:
    """Nobody holds it, or the user themselves: free; another user: AlreadyExists."""
    ensure_external_id_free(None, "jo")
    ensure_external_id_free(DirectoryLink("org", "jo", "x"), "jo")
    with pytest.raises(AlreadyExists):
        ensure_external_id_free(DirectoryLink("org", "sam", "x"), "jo")


@given(st.text(min_size=1, max_size=255).filter(lambda t: t.strip() and t.isprintable()))
def test_a_printable_external_id_is_kept_as_given(value: str) -> None:
    """Any printable text of 1 to 255 characters, case and spaces as given."""
    assert parse_external_id(value) == value


@pytest.mark.parametrize(
    "value", [None, 7, ["x"], "", "  ", "x" * 256, "a\x00b", "a\nb", "\x1b[31m", "\ud800"]
)
def test_anything_else_is_no_external_id(value: object) -> None:
    """Not a string, blank, too long, a control character or a lone surrogate."""
    with pytest.raises(InvalidText):
        parse_external_id(value)
