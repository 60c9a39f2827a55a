"""What every use-case module of the service shares: its collaborators and record loaders."""

from __future__ import annotations

from datetime import timedelta

from armox_enterprise.application.context import Context
from armox_enterprise.application.runner import Runner
from armox_enterprise.domain.caps import member_cap
from armox_enterprise.domain.enrolment import FreeMailList
from armox_enterprise.domain.ledger import Hold, Transfer, member_account
from armox_enterprise.domain.organisation import Membership
from armox_enterprise.domain.requests import CreditRequest
from armox_enterprise.domain.teams import Team
from armox_enterprise.exceptions import (
    CreditRequestNotFound,
    HoldNotFound,
    MemberNotFound,
    TransferNotFound,
)
from armox_enterprise.ports import DnsResolver

__all__ = [
    "UseCases",
    "active_member",
    "load_hold",
    "load_request",
    "load_transfer",
    "record_id",
    "store_member_cap",
]


class UseCases:
    """The base of the service's use-case modules: what each of them works with."""

    _runner: Runner
    _dns: DnsResolver | None
    _free_mail: FreeMailList
    _request_alert_after: timedelta


def record_id(record: Transfer | Hold | CreditRequest) -> str:
    """The reference stored with an idempotency key: the result's id."""
    return record.id


def load_transfer(ctx: Context, transfer_id: str) -> Transfer:
    """Return a transfer of the organisation.

    Raises:
        TransferNotFound: there is none with that id.
    """
    transfer = ctx.uow.ledger.get_transfer(ctx.org.id, transfer_id)
    if transfer is None:
        raise TransferNotFound(f"transfer {transfer_id} does not exist")
    return transfer


def load_hold(ctx: Context, hold_id: str) -> Hold:
    """Return a hold of the organisation.

    Raises:
        HoldNotFound: there is none with that id.
    """
    hold = ctx.uow.holds.get(ctx.org.id, hold_id)
    if hold is None:
        raise HoldNotFound(f"hold {hold_id} does not exist")
    return hold


def load_request(ctx: Context, request_id: str) -> CreditRequest:
    """Return a credit request of the organisation.

    Raises:
        CreditRequestNotFound: there is none with that id.
    """
    request = ctx.uow.requests.get(ctx.org.id, request_id)
    if request is None:
        raise CreditRequestNotFound(f"credit request {request_id} does not exist")
    return request


def active_member(ctx: Context, user_id: str) -> Membership:
    """Return an active member of the organisation.

    Raises:
        MemberNotFound: ``user_id`` is not one.
    """
    member = ctx.uow.memberships.get(ctx.org.id, user_id)
    if member is None or not member.is_active:
        raise MemberNotFound(f"user {user_id} is not an active member of the organisation")
    return member


def store_member_cap(ctx: Context, membership: Membership, team: Team | None) -> None:
    """Keep on ``membership``'s account row the cap that applies to them
    (:func:`~armox_enterprise.domain.caps.member_cap` of the membership, ``team`` and the
    organisation), where the spend's conditional write checks it.

    Every change of a cap's scope calls it for the members it touches: a cap of any scope, a
    member's team, a member joining (again).  ``team`` is the member's team as it stands
    after the change (``None``: no team).
    """
    cap = member_cap(membership, team, ctx.org)
    ctx.uow.ledger.set_spend_cap(ctx.org.id, member_account(membership.user_id), cap)
