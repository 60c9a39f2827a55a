"""Credit requests: the state machine, the open-request cap, and which requests expire."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from armox_enterprise.domain.requests import (
    CreditRequest,
    RequestStatus,
    can_request,
    ensure_can_request,
    expires_at,
    expiring,
)
from armox_enterprise.exceptions import Conflict, InvalidTransition, TooManyOpenRequests

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
PENDING = CreditRequest(
    id="r1",
    organisation_id="org",
    user_id="jane",
    amount=500,
    note="launch week",
    period_index=0,
    created_at=NOW,
)

Move = Callable[[CreditRequest], CreditRequest]
MOVES: dict[str, Move] = {
    "approve": lambda r: r.approve("boss", NOW, 500),
    "reject": lambda r: r.reject("boss", NOW),
    "cancel": lambda r: r.cancel("jane", NOW),
    "expire": lambda r: r.expire(NOW),
}

# ---------------------------------------------------------------------------- state machine


def test_a_new_request_is_pending() -> None:
    """Requests start pending, undecided."""
    assert PENDING.is_pending
    assert PENDING.status is RequestStatus.PENDING
    assert (PENDING.decided_by, PENDING.decided_at, PENDING.approved_amount) == (None, None, None)


@pytest.mark.parametrize(
    ("move", "status"),
    [
        ("approve", RequestStatus.APPROVED),
        ("reject", RequestStatus.REJECTED),
        ("cancel", RequestStatus.CANCELLED),
        ("expire", RequestStatus.EXPIRED),
    ],
)
def test_pending_moves_to_each_final_state(move: str, status: RequestStatus) -> None:
    """Each transition leaves pending for its own final state, stamped with when."""
    decided = MOVES[move](PENDING)
    assert decided.status is status
    assert not decided.is_pending
    assert decided.decided_at == NOW


def test_approval_may_be_for_another_amount_than_asked() -> None:
    """An admin may approve less (or more) than the member asked for, with a note."""
    approved = PENDING.approve("boss", NOW, 200, "half now")
    assert (approved.amount, approved.approved_amount) == (500, 200)
    assert (approved.decided_by, approved.decision_note) == ("boss", "half now")


@pytest.mark.parametrize("first", list(MOVES))
@pytest.mark.parametrize("second", list(MOVES))
def test_only_a_pending_request_moves(first: str, second: str) -> None:
    """Once decided, a request refuses every further transition."""
    decided = MOVES[first](PENDING)
    with pytest.raises(InvalidTransition, match=decided.status.value):
        MOVES[second](decided)


#: What each action makes of a pending request.
OUTCOMES: dict[str, RequestStatus] = {
    "approve": RequestStatus.APPROVED,
    "reject": RequestStatus.REJECTED,
    "cancel": RequestStatus.CANCELLED,
    "expire": RequestStatus.EXPIRED,
}


@pytest.mark.parametrize("action", list(MOVES))
@pytest.mark.parametrize("state", list(RequestStatus))
def test_every_state_and_action_pair_follows_the_diagram(state: RequestStatus, action: str) -> None:
    """From pending each action reaches its own state; from any other state every action fails."""
    request = attrs.evolve(PENDING, status=state)
    if state is RequestStatus.PENDING:
        assert MOVES[action](request).status is OUTCOMES[action]
    else:
        with pytest.raises(InvalidTransition, match=f"cannot {action} .*already {state.value}"):
            MOVES[action](request)


def test_a_transition_leaves_the_original_request_as_it_was() -> None:
    """Requests are immutable values: a move returns a new request."""
    PENDING.approve("boss", NOW, 500)
    assert PENDING.is_pending
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        PENDING.status = RequestStatus.APPROVED  # type: ignore[misc]


def test_a_rejection_records_who_decided_and_why() -> None:
    """A rejection is stamped with the admin, the instant and the note, and approves nothing."""
    rejected = PENDING.reject("boss", NOW, "not this month")
    assert (rejected.decided_by, rejected.decided_at, rejected.decision_note) == (
        "boss",
        NOW,
        "not this month",
    )
    assert rejected.approved_amount is None


def test_a_cancellation_records_who_cancelled() -> None:
    """A cancellation names the one who cancelled (the requester, or the admin removing them)."""
    cancelled = PENDING.cancel("jane", NOW)
    assert (cancelled.decided_by, cancelled.decided_at) == ("jane", NOW)


def test_an_expiry_is_decided_by_nobody() -> None:
    """Expiry happens to a request at the end of its period; no actor is recorded."""
    expired = PENDING.expire(NOW)
    assert (expired.decided_by, expired.decided_at) == (None, NOW)


# ---------------------------------------------------------------------------- open-request cap


@pytest.mark.parametrize(
    ("pending", "cap", "allowed"),
    [(0, 1, True), (1, 1, False), (2, 1, False), (1, 2, True), (2, 2, False), (0, 0, False)],
)
def test_a_member_may_request_while_below_the_open_request_cap(
    pending: int, cap: int, allowed: bool
) -> None:
    """can_request is true exactly while the member's pending requests are fewer than the cap."""
    assert can_request(pending, cap) is allowed


def test_ensure_can_request_passes_below_the_cap() -> None:
    """Below the cap the check is silent."""
    ensure_can_request("jane", 0, 1)


@pytest.mark.parametrize(("pending", "cap"), [(1, 1), (3, 2)])
def test_ensure_can_request_refuses_at_or_over_the_cap(pending: int, cap: int) -> None:
    """At (or above) the cap a new request is a conflict naming the member."""
    with pytest.raises(TooManyOpenRequests, match="jane") as caught:
        ensure_can_request("jane", pending, cap)
    assert isinstance(caught.value, Conflict)


# ---------------------------------------------------------------------------- expiry

END = datetime(2026, 2, 15, 9, 0, tzinfo=timezone.utc)


def _request(rid: str, status: RequestStatus = RequestStatus.PENDING) -> CreditRequest:
    return attrs.evolve(PENDING, id=rid, status=status)


def test_a_request_lapses_at_the_end_of_the_period_it_was_made_in() -> None:
    """A request lives until its period ends, unless decided before."""
    assert expires_at(PENDING, END) == END


@pytest.mark.parametrize(
    ("at", "lapsed"),
    [
        (END - timedelta(microseconds=1), False),
        (END, True),
        (END + timedelta(days=40), True),
    ],
    ids=["just-before-the-end", "at-the-end", "long-after"],
)
def test_pending_requests_expire_once_their_period_has_ended(at: datetime, lapsed: bool) -> None:
    """Pending requests lapse at the instant their period ends (half-open), or any time after."""
    made = [_request("a"), _request("b")]
    assert expiring(made, at=at, period_end=END) == (made if lapsed else [])


@pytest.mark.parametrize("status", [s for s in RequestStatus if s is not RequestStatus.PENDING])
def test_decided_requests_do_not_expire(status: RequestStatus) -> None:
    """A request that was already decided is left alone."""
    assert expiring([_request("a", status)], at=END, period_end=END) == []


def test_expiring_picks_the_pending_and_keeps_the_order_it_was_given() -> None:
    """Only pending requests come back, in the order listed, so expiry events are stable."""
    made = [
        _request("c"),
        _request("x", RequestStatus.APPROVED),
        _request("a"),
        _request("y", RequestStatus.CANCELLED),
        _request("b"),
    ]
    assert [r.id for r in expiring(made, at=END, period_end=END)] == ["c", "a", "b"]
