"""Moving credits (``allocate``, ``reclaim``, ``top-up``) and deciding ``requests`` for more."""

from __future__ import annotations

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_OK
from armox_enterprise.cli.rendering import credits, request_rows
from armox_enterprise.domain.ledger import TransferKind, team_of
from armox_enterprise.domain.requests import CreditRequest, RequestStatus

__all__ = [
    "allocate",
    "approve_request",
    "list_requests",
    "reclaim",
    "reject_request",
    "top_up",
]


def _source(code: str) -> str:
    """The pool or a team's budget, as a message names it."""
    team = team_of(code)
    return "the pool" if team is None else f"team {team}'s budget"


def _approval_source(context: Context, request: CreditRequest) -> str:
    """Where an approved request's credits came from, as its approval transfer debited it:
    the pool, or the requester's team's budget."""
    with context.store.unit_of_work() as uow:
        approvals = uow.ledger.transfers(
            request.organisation_id, kinds=[TransferKind.APPROVE], reference=request.id
        )
    return _source(approvals[-1].debit_account) if approvals else "the pool"


def allocate(context: Context) -> int:
    """``allocate``: move credits from the pool to a member."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.allocate_credits(
            actor, org, args.user, args.amount, idempotency_key=args.key
        ),
        lambda transfer, _: (
            f"Allocated {credits(transfer.amount)} from {_source(transfer.debit_account)} to "
            f"{args.user} ({transfer.id})."
        ),
        key=args.key,
    )


def reclaim(context: Context) -> int:
    """``reclaim``: move credits from a member back to the pool."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.reclaim_credits(
            actor, org, args.user, args.amount, idempotency_key=args.key
        ),
        lambda transfer, _: (
            f"Reclaimed {credits(transfer.amount)} from {args.user} to "
            f"{_source(transfer.credit_account)} ({transfer.id})."
        ),
        key=args.key,
    )


def top_up(context: Context) -> int:
    """``top-up``: add credits to the pool outside the monthly grant."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.top_up(
            actor, org, args.amount, idempotency_key=args.key
        ),
        lambda transfer, _: f"Added {credits(transfer.amount)} to the pool ({transfer.id}).",
        key=args.key,
    )


def list_requests(context: Context) -> int:
    """``requests list``: credit requests in one status (or all), oldest first."""
    service = context.service()
    actor = context.actor()
    wanted = context.args.status
    status = None if wanted == "all" else RequestStatus(wanted)
    requests = service.list_requests(actor, context.organisation(service, actor), status=status)
    if requests:
        lines = request_rows(requests)
    else:
        lines = ["No credit requests." if status is None else f"No {status.value} credit requests."]
    context.emit(requests, lines)
    return EXIT_OK


def approve_request(context: Context) -> int:
    """``requests approve``: grant a pending request, in full or for another amount."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.approve_request(
            actor,
            org,
            args.request_id,
            amount=args.amount,
            note=args.note,
            idempotency_key=args.key,
        ),
        lambda request, _: (
            f"Approved request {request.id}: {request.approved_amount or 0:,} of the "
            f"{credits(request.amount)} {request.user_id} asked for moved from "
            f"{_approval_source(context, request)} to them."
        ),
        key=args.key,
    )


def reject_request(context: Context) -> int:
    """``requests reject``: turn a pending request down."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.reject_request(
            actor, org, args.request_id, note=args.note, idempotency_key=args.key
        ),
        lambda request, _: (
            f"Rejected request {request.id}: {request.user_id} asked for {credits(request.amount)}."
        ),
        key=args.key,
    )
