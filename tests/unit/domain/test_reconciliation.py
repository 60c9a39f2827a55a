"""Reconciling transfers with their records: one grant per period, approvals, holds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.ledger import (
    GRANT,
    POOL,
    USAGE,
    Hold,
    Transfer,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.reconciliation import (
    grant_problems,
    hold_problems,
    reconcile_records,
    request_problems,
)
from armox_enterprise.domain.requests import CreditRequest, RequestStatus

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
ORG = "org"
ANA = member_account("ana")
_ids = count()


def transfer(
    kind: TransferKind,
    debit: str,
    credit: str,
    amount: int,
    *,
    period: int = 0,
    reference: str | None = None,
    id: str | None = None,
) -> Transfer:
    """A transfer of the test organisation, with a fresh id unless given one."""
    return Transfer(
        id=id or f"t{next(_ids)}",
        organisation_id=ORG,
        kind=kind,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        period_index=period,
        actor="system",
        created_at=NOW,
        reference=reference,
    )


def grant(period: int, amount: int = 1_000) -> Transfer:
    """The grant of ``period``."""
    return transfer(TransferKind.GRANT, GRANT, POOL, amount, period=period)


def request(status: RequestStatus = RequestStatus.PENDING, *, approved: int = 100) -> CreditRequest:
    """A credit request of Ana's for 100 credits, in ``status`` (``approved``: the amount an
    approval gives)."""
    made = CreditRequest(
        id=f"r{next(_ids)}",
        organisation_id=ORG,
        user_id="ana",
        amount=100,
        note="",
        period_index=0,
        created_at=NOW,
    )
    decisions = {
        RequestStatus.PENDING: lambda: made,
        RequestStatus.APPROVED: lambda: made.approve("admin", NOW, approved),
        RequestStatus.REJECTED: lambda: made.reject("admin", NOW),
        RequestStatus.CANCELLED: lambda: made.cancel("ana", NOW),
        RequestStatus.EXPIRED: lambda: made.expire(NOW),
    }
    return decisions[status]()


def approval(for_request: CreditRequest, amount: int | None = None) -> Transfer:
    """The approval transfer of ``for_request`` (of its approved amount by default)."""
    given = amount if amount is not None else for_request.approved_amount or for_request.amount
    return transfer(
        TransferKind.APPROVE,
        POOL,
        member_account(for_request.user_id),
        given,
        reference=for_request.id,
    )


def reserved(amount: int = 50) -> tuple[Hold, Transfer]:
    """A pending hold of Ana's and the transfer that made it (the hold's id is the
    transfer's)."""
    made = transfer(TransferKind.HOLD, ANA, USAGE, amount)
    hold = Hold(
        id=made.id,
        organisation_id=ORG,
        user_id="ana",
        amount=amount,
        period_index=0,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        reference=f"gen-{made.id}",
    )
    return hold, made


def capture(hold: Hold, amount: int) -> Transfer:
    """A capture of ``amount`` credits of ``hold``."""
    return transfer(TransferKind.CAPTURE, ANA, USAGE, amount, reference=hold.id)


def release(hold: Hold, amount: int) -> Transfer:
    """A release of ``amount`` credits of ``hold``."""
    return transfer(TransferKind.RELEASE, ANA, USAGE, amount, reference=hold.id)


# -- grants ---------------------------------------------------------------------------------


def test_one_grant_per_period_reconciles() -> None:
    """A grant in each of three periods, and other kinds beside them, is consistent."""
    transfers = [
        grant(0),
        grant(1),
        transfer(TransferKind.TOP_UP, GRANT, POOL, 500, period=1),
        grant(2),
    ]
    assert grant_problems(transfers) == []


def test_a_second_grant_in_a_period_is_reported() -> None:
    """Two grants in one period are reported with both ids, however the accounts look."""
    first, second = grant(3), grant(3, amount=1)
    [problem] = grant_problems([grant(2), first, second])
    assert "period 3 has 2 grants" in problem
    assert first.id in problem
    assert second.id in problem


def test_a_grant_between_other_accounts_is_reported() -> None:
    """A grant goes from the grant account to the pool, nowhere else."""
    wrong = transfer(TransferKind.GRANT, GRANT, ANA, 10)
    [problem] = grant_problems([wrong])
    assert wrong.id in problem
    assert ANA in problem


# -- credit requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [RequestStatus.PENDING, RequestStatus.REJECTED, RequestStatus.CANCELLED, RequestStatus.EXPIRED],
)
def test_a_request_that_is_not_approved_has_no_approval(status: RequestStatus) -> None:
    """Pending, rejected, cancelled and expired requests reconcile without a transfer, and
    are reported with one."""
    undecided = request(status)
    assert request_problems([undecided], []) == []
    [problem] = request_problems([undecided], [approval(undecided, 100)])
    assert undecided.id in problem
    assert status.value in problem


def test_an_approved_request_has_exactly_one_approval_of_its_amount() -> None:
    """An approval for another amount than asked reconciles when the transfer moves it."""
    approved = request(RequestStatus.APPROVED, approved=70)
    assert request_problems([approved], [approval(approved)]) == []


def test_an_approved_request_without_its_approval_is_reported() -> None:
    """A request set to approved by hand, with no credits moved, is found."""
    approved = request(RequestStatus.APPROVED)
    [problem] = request_problems([approved], [])
    assert approved.id in problem
    assert "0 approval transfers" in problem


def test_an_approval_of_another_amount_is_reported() -> None:
    """The transfer must move what the decision says."""
    approved = request(RequestStatus.APPROVED, approved=70)
    [problem] = request_problems([approved], [approval(approved, 700)])
    assert "approved for 70" in problem
    assert "moves 700" in problem


def test_a_second_approval_is_reported() -> None:
    """One decision, one transfer: a forged duplicate shows."""
    approved = request(RequestStatus.APPROVED)
    [problem] = request_problems([approved], [approval(approved), approval(approved)])
    assert "2 approval transfers" in problem


def test_an_approval_to_someone_else_is_reported() -> None:
    """The credits go from the pool to the requester."""
    approved = request(RequestStatus.APPROVED)
    wrong = attrs.evolve(approval(approved), credit_account=member_account("eve"))
    [problem] = request_problems([approved], [wrong])
    assert "member:eve" in problem


def test_an_approval_naming_no_request_is_reported() -> None:
    """Every approval transfer names a request that exists."""
    orphan = transfer(TransferKind.APPROVE, POOL, ANA, 10, reference="r-gone")
    [problem] = request_problems([], [orphan])
    assert "r-gone" in problem
    assert "does not exist" in problem


# -- holds ----------------------------------------------------------------------------------


def test_a_pending_hold_reconciles_with_its_transfer_alone() -> None:
    """Reserved and not resolved: consistent."""
    hold, made = reserved()
    assert hold_problems([hold], [made]) == []


@pytest.mark.parametrize(("captured", "released"), [(50, 0), (20, 30), (0, 50)])
def test_a_resolved_hold_moves_exactly_what_it_reserved(captured: int, released: int) -> None:
    """Captured in whole, in part (the rest released), or released: consistent."""
    hold, made = reserved(50)
    transfers = [made]
    if captured:
        transfers.append(capture(hold, captured))
    if released:
        transfers.append(release(hold, released))
    assert hold_problems([], transfers) == []


def test_a_pending_hold_that_was_resolved_is_reported() -> None:
    """A hold set back to pending after its capture is found."""
    hold, made = reserved()
    [problem] = hold_problems([hold], [made, capture(hold, 50)])
    assert hold.id in problem
    assert "pending" in problem


def test_a_resolved_hold_without_a_resolution_is_reported() -> None:
    """A hold marked resolved by hand, its credits still reserved, is found."""
    hold, made = reserved()
    [problem] = hold_problems([], [made])
    assert hold.id in problem
    assert "no transfer captured or released it" in problem


def test_a_resolution_of_the_wrong_amount_is_reported() -> None:
    """Capture and release together move what the hold reserved, no more."""
    hold, made = reserved(50)
    problems = hold_problems([], [made, capture(hold, 50), release(hold, 50)])
    assert problems == [f"hold {hold.id} reserved 50 credits but its capture and release move 100"]


def test_two_captures_are_reported() -> None:
    """A hold resolves once: one capture at most."""
    hold, made = reserved(50)
    [problem] = hold_problems([], [made, capture(hold, 25), capture(hold, 25)])
    assert "2 capture transfers" in problem


def test_a_resolution_naming_no_hold_is_reported() -> None:
    """Every capture and release names a hold transfer."""
    orphan = transfer(TransferKind.CAPTURE, ANA, USAGE, 5, reference="h-gone")
    [problem] = hold_problems([], [orphan])
    assert "h-gone" in problem


def test_a_pending_hold_unlike_its_transfer_is_reported() -> None:
    """The hold record and its transfer agree on amount and account."""
    hold, made = reserved(50)
    [problem] = hold_problems([attrs.evolve(hold, amount=5)], [made])
    assert "reserves 5" in problem
    hold_alone, _ = reserved()
    [problem] = hold_problems([hold_alone], [])
    assert "has no hold transfer" in problem


# -- every check at once --------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Transfer], list[CreditRequest], list[Hold]]:
    """A consistent history: a grant per period, requests in every state, holds pending and
    resolved."""
    transfers = [grant(p) for p in range(draw(st.integers(1, 4)))]
    requests = []
    for status in draw(st.lists(st.sampled_from(list(RequestStatus)), max_size=6)):
        made = request(status, approved=draw(st.integers(1, 500)))
        requests.append(made)
        if status is RequestStatus.APPROVED:
            transfers.append(approval(made))
    pending = []
    for captured in draw(st.lists(st.none() | st.integers(0, 50), max_size=6)):
        hold, made_hold = reserved(50)
        transfers.append(made_hold)
        if captured is None:
            pending.append(hold)
            continue
        if captured:
            transfers.append(capture(hold, captured))
        if captured < 50:
            transfers.append(release(hold, 50 - captured))
    return transfers, requests, pending


@given(histories())
def test_a_consistent_history_reconciles(
    history: tuple[list[Transfer], list[CreditRequest], list[Hold]],
) -> None:
    """Whatever the mix of grants, requests and holds, a history made by the rules agrees."""
    transfers, requests, pending = history
    assert reconcile_records(transfers, requests, pending) == []


@given(histories(), st.data())
def test_a_duplicated_transfer_is_always_found(
    history: tuple[list[Transfer], list[CreditRequest], list[Hold]], data: st.DataObject
) -> None:
    """A copy of any grant, approval, capture or release (a new id, the same fields), the
    kind of forgery balanced account rows would hide, is reported."""
    transfers, requests, pending = history
    copyable = [t for t in transfers if t.kind is not TransferKind.HOLD]
    original = data.draw(st.sampled_from(copyable))
    forged = attrs.evolve(original, id=f"forged-{original.id}")
    assert reconcile_records([*transfers, forged], requests, pending) != []
