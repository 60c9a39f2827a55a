"""Monthly caps as pure rules: which scope's cap applies, what counts against it, when a spend
or hold is refused, and what a cap may be."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.caps import (
    CapStatus,
    cap_refusal,
    cap_room,
    counted_against_cap,
    effective_cap,
    member_cap,
    spend_cap,
)
from armox_enterprise.domain.organisation import Membership, Organisation, Role
from armox_enterprise.domain.teams import Team
from armox_enterprise.domain.values import MAX_CREDITS, EmailAddress
from armox_enterprise.exceptions import AmountTypeError, CapReached, InvalidAmount, LimitExceeded

caps = st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_CREDITS))


@given(member=caps, team=caps, organisation=caps)
def test_the_most_specific_scope_that_sets_a_cap_wins(
    member: int | None, team: int | None, organisation: int | None
) -> None:
    """The member's cap, else the team's, else the organisation's; None only where none is
    set."""
    found = effective_cap(member=member, team=team, organisation=organisation)
    if member is not None:
        assert found == member
    elif team is not None:
        assert found == team
    else:
        assert found == organisation


T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
ORG = Organisation("org", "Acme", 1000, T0, T0)
ANN = Membership("org", "ann", EmailAddress.parse("ann@acme.example"), "Ann", Role.MEMBER, T0)
DESIGN = Team("org", "team-1", "Design", T0)


@given(member=caps, team=st.one_of(st.none(), caps.map(lambda c: ("team", c))), organisation=caps)
def test_member_cap_applies_the_rule_to_the_stored_scopes(
    member: int | None, team: tuple[str, int | None] | None, organisation: int | None
) -> None:
    """member_cap takes the membership's own cap, else the team's (no team, or a team with
    no cap, counts as no team cap), else the organisation's default: effective_cap of the
    three records' fields."""
    membership = attrs.evolve(ANN, spend_cap=member)
    organisation_record = attrs.evolve(ORG, spend_cap=organisation)
    team_record = None if team is None else attrs.evolve(DESIGN, spend_cap=team[1])
    found = member_cap(membership, team_record, organisation_record)
    team_cap = None if team_record is None else team_record.spend_cap
    assert found == effective_cap(member=member, team=team_cap, organisation=organisation)
    # The most specific scope that sets a cap wins; one that sets none changes nothing.
    if member is not None:
        assert found == member
    elif team_cap is not None:
        assert found == team_cap
    else:
        assert found == organisation
        assert found == member_cap(membership, None, organisation_record)
    # A less specific scope matters only when every more specific one sets nothing.
    other = attrs.evolve(organisation_record, spend_cap=None if organisation else 7)
    if member is not None or team_cap is not None:
        assert member_cap(membership, team_record, other) == found


def test_team_scope_sits_between_member_and_organisation() -> None:
    """A team's cap overrides the organisation's and yields to the member's; the team
    argument may be left out."""
    assert effective_cap(member=None, team=30, organisation=100) == 30
    assert effective_cap(member=5, team=30, organisation=100) == 5
    assert effective_cap(member=None, organisation=100) == 100
    assert effective_cap(member=None, team=0, organisation=100) == 0
    assert effective_cap(member=None, organisation=None) is None


@given(st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_CREDITS)))
def test_a_cap_is_none_or_whole_credits_within_max_credits(value: int | None) -> None:
    """Valid caps come back unchanged."""
    assert spend_cap(value) == value


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        (-1, InvalidAmount, "must not be negative"),
        (MAX_CREDITS + 1, InvalidAmount, "at most"),
        (True, AmountTypeError, "int or None"),
        (1.5, AmountTypeError, "int or None"),
        ("10", AmountTypeError, "int or None"),
    ],
)
def test_a_bad_cap_is_refused_clearly(value: object, error: type[Exception], words: str) -> None:
    """Negative, too large, a bool, a float or text: a specific error naming the field."""
    with pytest.raises(error, match=words) as refused:
        spend_cap(value, name="cap")
    assert "cap" in str(refused.value)


def test_cap_reached_is_a_limit_not_a_shortage() -> None:
    """CapReached is a LimitExceeded, carrying the cap, the count and the amount in its
    message and attributes."""
    refusal = cap_refusal(100, 90, 20)
    assert isinstance(refusal, CapReached)
    assert isinstance(refusal, LimitExceeded)
    assert (refusal.cap, refusal.spent, refusal.requested) == (100, 90, 20)
    assert str(refusal) == (
        "the monthly cap of 100 credits is reached: 90 spent or held this period, 20 more asked for"
    )


@given(
    cap=caps,
    counted=st.integers(min_value=0, max_value=MAX_CREDITS),
    amount=st.integers(min_value=1, max_value=MAX_CREDITS),
)
def test_a_spend_is_refused_exactly_when_it_would_pass_the_cap(
    cap: int | None, counted: int, amount: int
) -> None:
    """Refused when counted + amount > cap, never without a cap; the room agrees."""
    refused = cap_refusal(cap, counted, amount) is not None
    assert refused == (cap is not None and counted + amount > cap)
    room = cap_room(cap, counted)
    assert (room is None) == (cap is None)
    if room is not None:
        assert refused == (amount > room)


@given(used=st.integers(min_value=-1000, max_value=1000), held=st.integers(0, 1000))
def test_refunds_of_earlier_periods_give_no_room_beyond_what_is_held(used: int, held: int) -> None:
    """What counts is the period's use (never below zero) plus what is held."""
    assert counted_against_cap(used=used, held=held) == max(0, used) + held


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("spend"), st.integers(1, 60)),
        st.tuples(st.just("hold"), st.integers(1, 60)),
        st.tuples(st.just("capture"), st.integers(0, 60)),
        st.tuples(st.just("release"), st.just(0)),
        st.tuples(st.just("refund"), st.integers(1, 60)),
        st.tuples(st.just("cap"), st.one_of(st.none(), st.integers(0, 300))),
        st.tuples(st.just("period"), st.just(0)),
    ),
    max_size=60,
)


@given(ops=_OPS, first_cap=st.one_of(st.none(), st.integers(0, 300)))
def test_no_sequence_of_spends_holds_and_cap_changes_passes_the_cap(
    ops: list[tuple[str, int | None]], first_cap: int | None
) -> None:
    """Whatever the order of spends, holds, captures, releases, refunds, cap changes and new
    periods, no spend or hold the rule admits leaves spent plus held past the cap."""
    cap = first_cap
    used = 0  # this period's spends and captures less refunds
    spent = 0  # this period's spends and captures (what a refund may give back)
    holds: list[int] = []
    for op, value in ops:
        counted = counted_against_cap(used=used, held=sum(holds))
        if op in ("spend", "hold"):
            assert value is not None
            if cap_refusal(cap, counted, value) is None:
                if op == "spend":
                    used += value
                    spent += value
                else:
                    holds.append(value)
                assert cap is None or counted_against_cap(used=used, held=sum(holds)) <= cap
        elif op == "capture" and holds:
            assert value is not None
            taken = min(value, holds.pop(0))
            used += taken
            spent += taken
        elif op == "release" and holds:
            holds.pop(0)
        elif op == "refund" and spent:
            assert value is not None
            back = min(value, spent)
            used -= back
            spent -= back
        elif op == "cap":
            cap = value
        elif op == "period":
            used = spent = 0
        # Captures, releases, refunds and new periods never add to what counts.
        after = counted_against_cap(used=used, held=sum(holds))
        if op not in ("spend", "hold", "cap"):
            assert after <= counted


def test_cap_status_reports_the_room_left() -> None:
    """The status's room is the cap less what counts, never below zero; no cap, no room."""
    assert CapStatus(100, 60, 60, 45, "ann").room == 15
    assert CapStatus(100, 60, 60, 80, "ann").room == 0
    assert CapStatus(None, None, None, 80, "ann").room is None


def test_cap_status_keeps_its_positional_fields_and_adds_the_team_at_the_end() -> None:
    """The five fields before teams keep their places; the team's cap and id come last,
    ``None`` unless given."""
    status = CapStatus(100, None, 40, 10, "ann", 40, "team-1")
    assert (status.organisation_cap, status.member_cap, status.cap) == (100, None, 40)
    assert (status.counted, status.user_id, status.team_cap, status.team_id) == (
        10,
        "ann",
        40,
        "team-1",
    )
    assert (CapStatus(100, None, 100).team_cap, CapStatus(100, None, 100).team_id) == (None, None)
