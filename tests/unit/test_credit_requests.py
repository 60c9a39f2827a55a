"""Credit requests through the service: how members ask and admins decide.

The state machine itself is specified in ``tests/unit/domain/test_requests.py``.
"""

from __future__ import annotations

import pytest

from armox_enterprise import (
    CreditRequestNotFound,
    IdempotencyConflict,
    InsufficientPoolCredits,
    InvalidTransition,
    Organisation,
    OrganisationNotFound,
    PermissionDenied,
    RequestStatus,
    Role,
    TooManyOpenRequests,
    TransferKind,
)
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import POOL, member_account
from armox_enterprise.testing import Scenario


def _pool(s: Scenario) -> int:
    return s.service.dashboard(s.admin, s.org_id).pool.unallocated


def _remaining(s: Scenario, user: str) -> int:
    credits = s.service.profile(user).credits
    assert credits is not None
    return credits.remaining


def test_member_request_is_stored_pending_for_the_current_period(acme: Scenario) -> None:
    """A member's request is pending, in this period, with the note, and raises an event."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    request = acme.service.request_credits("member-1", acme.org_id, 300, note="  big render  ")
    assert (request.status, request.amount, request.note) == (
        RequestStatus.PENDING,
        300,
        "big render",
    )
    assert (request.user_id, request.period_index) == ("member-1", 0)
    assert acme.service.list_requests(acme.admin, acme.org_id) == [request]
    assert [type(e) for e in delivered] == [ev.CreditRequestSubmitted]


def test_approval_moves_the_credits_from_the_pool_to_the_member(acme: Scenario) -> None:
    """Approving posts one APPROVE transfer pool -> member for the approved amount."""
    request = acme.service.request_credits("member-1", acme.org_id, 300)
    pool, remaining = _pool(acme), _remaining(acme, "member-1")
    approved = acme.service.approve_request(acme.admin, acme.org_id, request.id)
    assert (approved.status, approved.approved_amount, approved.decided_by) == (
        RequestStatus.APPROVED,
        300,
        acme.admin,
    )
    assert _pool(acme) == pool - 300
    assert _remaining(acme, "member-1") == remaining + 300
    with acme.store.unit_of_work() as uow:
        moves = uow.ledger.transfers(acme.org_id, reference=request.id)
    assert [(t.kind, t.debit_account, t.credit_account, t.amount) for t in moves] == [
        (TransferKind.APPROVE, POOL, member_account("member-1"), 300)
    ]
    assert acme.service.reconcile(acme.org_id) == []


def test_approval_for_another_amount_moves_that_amount(acme: Scenario) -> None:
    """The member receives what was approved, not what was asked."""
    request = acme.service.request_credits("member-1", acme.org_id, 300)
    remaining = _remaining(acme, "member-1")
    approved = acme.service.approve_request(
        acme.admin, acme.org_id, request.id, amount=120, note="120 for now"
    )
    assert (approved.approved_amount, approved.decision_note) == (120, "120 for now")
    assert _remaining(acme, "member-1") == remaining + 120


def test_approval_the_pool_cannot_cover_fails_and_the_request_stays_pending(
    acme: Scenario,
) -> None:
    """No credits move and the request is still pending when the pool is short."""
    request = acme.service.request_credits("member-1", acme.org_id, 9_000)
    with pytest.raises(InsufficientPoolCredits) as caught:
        acme.service.approve_request(acme.admin, acme.org_id, request.id)
    assert (caught.value.available, caught.value.requested) == (8_000, 9_000)
    assert acme.service.list_requests(acme.admin, acme.org_id) == [request]
    assert _pool(acme) == 8_000
    partial = acme.service.approve_request(acme.admin, acme.org_id, request.id, amount=8_000)
    assert partial.status is RequestStatus.APPROVED


def test_rejection_moves_no_credits(acme: Scenario) -> None:
    """A rejected request records the admin and note and leaves the ledger alone."""
    request = acme.service.request_credits("member-1", acme.org_id, 300)
    pool = _pool(acme)
    rejected = acme.service.reject_request(acme.admin, acme.org_id, request.id, note="not now")
    assert (rejected.status, rejected.decided_by, rejected.decision_note) == (
        RequestStatus.REJECTED,
        acme.admin,
        "not now",
    )
    assert _pool(acme) == pool
    assert acme.service.list_requests(acme.admin, acme.org_id) == []


def test_requester_may_cancel_their_own_pending_request(acme: Scenario) -> None:
    """Cancelling withdraws the request; it no longer counts against the open-request cap."""
    request = acme.service.request_credits("member-1", acme.org_id, 300)
    cancelled = acme.service.cancel_request("member-1", acme.org_id, request.id)
    assert (cancelled.status, cancelled.decided_by) == (RequestStatus.CANCELLED, "member-1")
    again = acme.service.request_credits("member-1", acme.org_id, 300)
    assert again.is_pending


def test_nobody_cancels_someone_elses_request(acme: Scenario) -> None:
    """Another member (or an admin) cannot cancel a request; to them it does not exist."""
    request = acme.service.request_credits("member-1", acme.org_id, 300)
    with pytest.raises(CreditRequestNotFound):
        acme.service.cancel_request("member-2", acme.org_id, request.id)
    with pytest.raises(CreditRequestNotFound):
        acme.service.cancel_request(acme.admin, acme.org_id, request.id)
    assert acme.service.list_requests(acme.admin, acme.org_id) == [request]


def test_two_admins_deciding_the_same_request_one_wins(acme: Scenario) -> None:
    """The second decision fails with InvalidTransition and moves nothing."""
    acme.service.change_role(acme.admin, acme.org_id, "member-2", Role.ADMIN)
    request = acme.service.request_credits("member-1", acme.org_id, 300)
    acme.service.approve_request(acme.admin, acme.org_id, request.id)
    pool = _pool(acme)
    with pytest.raises(InvalidTransition):
        acme.service.approve_request("member-2", acme.org_id, request.id)
    with pytest.raises(InvalidTransition):
        acme.service.reject_request("member-2", acme.org_id, request.id)
    assert _pool(acme) == pool


@pytest.mark.parametrize("decide", ["approve", "reject", "cancel"])
def test_a_decided_request_cannot_be_decided_again(acme: Scenario, decide: str) -> None:
    """Whatever decided it, a request is final."""
    request = acme.service.request_credits("member-1", acme.org_id, 300)
    if decide == "approve":
        acme.service.approve_request(acme.admin, acme.org_id, request.id)
    elif decide == "reject":
        acme.service.reject_request(acme.admin, acme.org_id, request.id)
    else:
        acme.service.cancel_request("member-1", acme.org_id, request.id)
    with pytest.raises(InvalidTransition):
        acme.service.cancel_request("member-1", acme.org_id, request.id)
    with pytest.raises(InvalidTransition):
        acme.service.approve_request(acme.admin, acme.org_id, request.id)


def test_a_member_has_at_most_one_pending_request_by_default(acme: Scenario) -> None:
    """A second request while one is pending is refused; other members are not affected."""
    acme.service.request_credits("member-1", acme.org_id, 100)
    with pytest.raises(TooManyOpenRequests):
        acme.service.request_credits("member-1", acme.org_id, 200)
    acme.service.request_credits("member-2", acme.org_id, 100)
    assert len(acme.service.list_requests(acme.admin, acme.org_id)) == 2


def test_the_open_request_cap_is_an_organisation_setting(acme: Scenario) -> None:
    """With a cap of two, the third pending request is refused."""
    acme.service.update_settings(acme.admin, acme.org_id, max_open_requests=2)
    acme.service.request_credits("member-1", acme.org_id, 100)
    acme.service.request_credits("member-1", acme.org_id, 200)
    with pytest.raises(TooManyOpenRequests):
        acme.service.request_credits("member-1", acme.org_id, 300)


def test_members_list_only_their_own_requests_and_admins_see_all(acme: Scenario) -> None:
    """Listing requests is scoped: members see theirs, admins everyone's, oldest first."""
    first = acme.service.request_credits("member-1", acme.org_id, 100)
    acme.clock.advance(minutes=1)
    second = acme.service.request_credits("member-2", acme.org_id, 200)
    assert acme.service.list_requests("member-1", acme.org_id) == [first]
    assert acme.service.list_requests(acme.admin, acme.org_id) == [first, second]


def test_listing_by_status_includes_decided_requests(acme: Scenario) -> None:
    """``status=None`` lists every request; a status filters to it."""
    request = acme.service.request_credits("member-1", acme.org_id, 100)
    rejected = acme.service.reject_request(acme.admin, acme.org_id, request.id)
    assert acme.service.list_requests("member-1", acme.org_id) == []
    assert acme.service.list_requests("member-1", acme.org_id, status=None) == [rejected]
    assert acme.service.list_requests(acme.admin, acme.org_id, status=RequestStatus.REJECTED) == [
        rejected
    ]


def test_a_request_with_an_idempotency_key_is_made_once(acme: Scenario) -> None:
    """Retrying with the same key returns the first request instead of refusing it as a second."""
    first = acme.service.request_credits("member-1", acme.org_id, 100, idempotency_key="k1")
    again = acme.service.request_credits("member-1", acme.org_id, 100, idempotency_key="k1")
    assert again == first
    assert len(acme.service.list_requests(acme.admin, acme.org_id)) == 1
    with pytest.raises(IdempotencyConflict):
        acme.service.request_credits("member-1", acme.org_id, 999, idempotency_key="k1")


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_with_a_key_can_be_retried(acme: Scenario, decision: str) -> None:
    """Retrying a decision under its key returns it again; the credits move once."""
    request = acme.service.request_credits("member-1", acme.org_id, 300)
    decide = acme.service.approve_request if decision == "approve" else acme.service.reject_request
    first = decide(acme.admin, acme.org_id, request.id, idempotency_key="d1")
    again = decide(acme.admin, acme.org_id, request.id, idempotency_key="d1")
    assert again == first
    assert _pool(acme) == (7_700 if decision == "approve" else 8_000)
    with pytest.raises(IdempotencyConflict):
        decide(acme.admin, acme.org_id, request.id, note="other", idempotency_key="d1")


def test_members_cannot_decide_requests(acme: Scenario) -> None:
    """Approving and rejecting are admin operations."""
    request = acme.service.request_credits("member-1", acme.org_id, 100)
    with pytest.raises(PermissionDenied):
        acme.service.approve_request("member-2", acme.org_id, request.id)
    with pytest.raises(PermissionDenied):
        acme.service.reject_request("member-1", acme.org_id, request.id)
    assert acme.service.list_requests(acme.admin, acme.org_id) == [request]


def test_unknown_request_ids_are_not_found(acme: Scenario) -> None:
    """Deciding a request that does not exist says so."""
    with pytest.raises(CreditRequestNotFound):
        acme.service.approve_request(acme.admin, acme.org_id, "no-such-request")
    with pytest.raises(CreditRequestNotFound):
        acme.service.reject_request(acme.admin, acme.org_id, "no-such-request")


def test_another_organisations_admin_cannot_see_or_decide_a_request(
    acme: Scenario, globex: Organisation
) -> None:
    """For an outsider the organisation itself does not exist."""
    request = acme.service.request_credits("member-1", acme.org_id, 100)
    with pytest.raises(OrganisationNotFound):
        acme.service.approve_request("globex-admin", acme.org_id, request.id)
    with pytest.raises(OrganisationNotFound):
        acme.service.list_requests("globex-admin", acme.org_id)


def test_decisions_raise_events_with_the_outcome(acme: Scenario) -> None:
    """Approval reports the decision and the allocation; rejection only the decision."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    request = acme.service.request_credits("member-1", acme.org_id, 100)
    acme.service.approve_request(acme.admin, acme.org_id, request.id, amount=80)
    decided = [e for e in delivered if isinstance(e, ev.CreditRequestDecided)]
    allocated = [e for e in delivered if isinstance(e, ev.CreditsAllocated)]
    assert [(e.status, e.amount, e.actor) for e in decided] == [("approved", 80, acme.admin)]
    assert [(e.user_id, e.amount, e.kind) for e in allocated] == [("member-1", 80, "approve")]
