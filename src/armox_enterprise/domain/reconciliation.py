"""Reconciling the transfers with the records that caused them.

:func:`armox_enterprise.domain.ledger.reconcile` proves the accounts' cached totals from the
transfers.  That says nothing about a transfer that should not exist, when the account rows
were edited to match it.  These checks prove the transfers against the rest of the ledger's
records:

- **grants**: at most one per period, each from the grant account to the pool;
- **credit requests**: an approved request has exactly one approval transfer, of the approved
  amount, from the pool (or a team's budget) to the requester; a pending, rejected,
  cancelled or expired one has none; every approval transfer names a request;
- **holds**: a pending hold has its hold transfer (same amount, same member) and nothing
  resolved it; a hold that is no longer pending was resolved by one capture, one release or
  one of each, together moving exactly what it reserved, from its own account; every capture
  and release names a hold transfer;
- **teams**: a team's budget moves credits only with the pool (``fund_team``,
  ``defund_team``), its members (``allocate`` and ``approve`` to them, ``reclaim`` and
  ``return`` from them) and the expired account (``expire``).

Each function returns a list of problems, empty when everything agrees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from armox_enterprise.domain.ledger import (
    GRANT,
    POOL,
    AccountKind,
    Hold,
    Transfer,
    TransferKind,
    account_kind,
    member_account,
)
from armox_enterprise.domain.requests import CreditRequest, RequestStatus

__all__ = [
    "grant_problems",
    "hold_problems",
    "reconcile_records",
    "request_problems",
    "team_problems",
]

_RESOLVING = (TransferKind.CAPTURE, TransferKind.RELEASE)


def _ids(transfers: Iterable[Transfer]) -> str:
    return ", ".join(t.id for t in transfers)


def _by_reference(
    transfers: Iterable[Transfer], kinds: Sequence[TransferKind]
) -> dict[str, list[Transfer]]:
    found: dict[str, list[Transfer]] = defaultdict(list)
    for transfer in transfers:
        if transfer.kind in kinds:
            found[transfer.reference or ""].append(transfer)
    return found


def grant_problems(transfers: Iterable[Transfer]) -> list[str]:
    """List the periods with more than one grant, and grants between the wrong accounts."""
    problems: list[str] = []
    by_period: dict[int, list[Transfer]] = defaultdict(list)
    for transfer in transfers:
        if transfer.kind is not TransferKind.GRANT:
            continue
        by_period[transfer.period_index].append(transfer)
        if (transfer.debit_account, transfer.credit_account) != (GRANT, POOL):
            problems.append(
                f"grant {transfer.id} moves credits from {transfer.debit_account} to "
                f"{transfer.credit_account}, not from {GRANT} to {POOL}"
            )
    problems.extend(
        f"period {period} has {len(grants)} grants: {_ids(grants)}"
        for period, grants in sorted(by_period.items())
        if len(grants) > 1
    )
    return problems


def request_problems(requests: Iterable[CreditRequest], transfers: Iterable[Transfer]) -> list[str]:
    """List the credit requests whose approval transfers do not match their state."""
    approvals = _by_reference(transfers, (TransferKind.APPROVE,))
    problems: list[str] = []
    for request in requests:
        found = approvals.pop(request.id, [])
        if request.status is not RequestStatus.APPROVED:
            if found:
                problems.append(
                    f"credit request {request.id} is {request.status.value} but approval "
                    f"transfer(s) {_ids(found)} name it"
                )
            continue
        if len(found) != 1:
            problems.append(
                f"credit request {request.id} is approved but has {len(found)} approval "
                f"transfers{': ' + _ids(found) if found else ''}"
            )
            continue
        problems.extend(_approval_problems(request, found[0]))
    problems.extend(
        f"approval transfer(s) {_ids(found)} name credit request {reference or '(none)'}, "
        "which does not exist"
        for reference, found in sorted(approvals.items())
    )
    return problems


def _approval_problems(request: CreditRequest, approval: Transfer) -> list[str]:
    problems = []
    if approval.amount != request.approved_amount:
        problems.append(
            f"credit request {request.id} was approved for {request.approved_amount} credits "
            f"but approval transfer {approval.id} moves {approval.amount}"
        )
    requester = member_account(request.user_id)
    funded = approval.debit_account == POOL or _kind(approval.debit_account) is AccountKind.TEAM
    if not funded or approval.credit_account != requester:
        problems.append(
            f"approval transfer {approval.id} moves credits from {approval.debit_account} to "
            f"{approval.credit_account}, not from {POOL} (or a team's budget) to {requester}"
        )
    return problems


def _kind(code: str) -> AccountKind | None:
    try:
        return account_kind(code)
    except ValueError:
        return None


#: What a team's budget may exchange, by kind: the other account's kind, and whether the
#: team is the debit side.
_TEAM_MOVES: dict[TransferKind, tuple[AccountKind, bool]] = {
    TransferKind.FUND_TEAM: (AccountKind.POOL, False),
    TransferKind.DEFUND_TEAM: (AccountKind.POOL, True),
    TransferKind.ALLOCATE: (AccountKind.MEMBER, True),
    TransferKind.ALLOT: (AccountKind.MEMBER, True),
    TransferKind.APPROVE: (AccountKind.MEMBER, True),
    TransferKind.RECLAIM: (AccountKind.MEMBER, False),
    TransferKind.RETURN: (AccountKind.MEMBER, False),
    TransferKind.EXPIRE: (AccountKind.EXPIRED, True),
}


def team_problems(transfers: Iterable[Transfer]) -> list[str]:
    """List the transfers that move a team's budget other than the rules allow: only with
    the pool (funding, reclaiming), its members (allocations, standing allotments, approvals,
    reclaims, returns) and the expired account; and the team kinds that name no team."""
    problems: list[str] = []
    for t in transfers:
        debit, credit = _kind(t.debit_account), _kind(t.credit_account)
        if AccountKind.TEAM not in (debit, credit):
            if t.kind in (TransferKind.FUND_TEAM, TransferKind.DEFUND_TEAM):
                problems.append(f"{t.kind.value} transfer {t.id} names no team's budget")
            continue
        allowed = _TEAM_MOVES.get(t.kind)
        team_debits = debit is AccountKind.TEAM
        other = credit if team_debits else debit
        if allowed is None or allowed != (other, team_debits) or debit is credit:
            problems.append(
                f"{t.kind.value} transfer {t.id} moves credits from {t.debit_account} to "
                f"{t.credit_account}, which a team's budget does not"
            )
    return problems


def hold_problems(pending: Iterable[Hold], transfers: Iterable[Transfer]) -> list[str]:
    """List the holds whose transfers do not match their state.

    Args:
        pending: the organisation's pending holds (every other hold is resolved).
        transfers: all of the organisation's transfers.
    """
    listed = list(transfers)
    made = {t.id: t for t in listed if t.kind is TransferKind.HOLD}
    resolutions = _by_reference(listed, _RESOLVING)
    pending_ids = set()
    problems: list[str] = []
    for hold in pending:
        pending_ids.add(hold.id)
        transfer = made.get(hold.id)
        if transfer is None:
            problems.append(f"pending hold {hold.id} has no hold transfer")
        elif (transfer.amount, transfer.debit_account) != (
            hold.amount,
            member_account(hold.user_id),
        ):
            problems.append(
                f"hold {hold.id} reserves {hold.amount} credits of {member_account(hold.user_id)} "
                f"but its transfer reserves {transfer.amount} of {transfer.debit_account}"
            )
    for hold_id, transfer in made.items():
        problems.extend(
            _resolution_problems(transfer, resolutions.pop(hold_id, []), hold_id in pending_ids)
        )
    problems.extend(
        f"transfer(s) {_ids(found)} resolve hold {reference or '(none)'}, which no hold "
        "transfer made"
        for reference, found in sorted(resolutions.items())
    )
    return problems


def _resolution_problems(hold: Transfer, resolved_by: list[Transfer], pending: bool) -> list[str]:
    if pending:
        if resolved_by:
            return [f"hold {hold.id} is pending but transfer(s) {_ids(resolved_by)} resolve it"]
        return []
    if not resolved_by:
        return [f"hold {hold.id} is not pending but no transfer captured or released it"]
    problems = []
    for kind in _RESOLVING:
        of_kind = [t for t in resolved_by if t.kind is kind]
        if len(of_kind) > 1:
            problems.append(f"hold {hold.id} has {len(of_kind)} {kind.value} transfers")
    moved = sum(t.amount for t in resolved_by)
    if moved != hold.amount:
        problems.append(
            f"hold {hold.id} reserved {hold.amount} credits but its capture and release "
            f"move {moved}"
        )
    problems.extend(
        f"transfer {t.id} resolves hold {hold.id} from {t.debit_account}, "
        f"not from {hold.debit_account}"
        for t in resolved_by
        if t.debit_account != hold.debit_account
    )
    return problems


def reconcile_records(
    transfers: Iterable[Transfer],
    requests: Iterable[CreditRequest],
    pending_holds: Iterable[Hold],
) -> list[str]:
    """Run every check of this module over one organisation's records."""
    listed = list(transfers)
    return (
        grant_problems(listed)
        + request_problems(requests, listed)
        + hold_problems(pending_holds, listed)
        + team_problems(listed)
    )
