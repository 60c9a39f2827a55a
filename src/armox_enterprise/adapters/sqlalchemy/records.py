"""Rows to records and back: the one mapping between the library's tables and its records.

Every repository, report and view of the SQLAlchemy store reads its records through the
``*_from_row`` functions here and writes them through the ``*_values`` ones, so a column is
mapped once whichever query reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Row

from armox_enterprise.domain.alerts import AlertThresholds, parse_thresholds, thresholds_text
from armox_enterprise.domain.grace import SoftLimit
from armox_enterprise.domain.ledger import Account, Hold, HoldStatus, Transfer, TransferKind
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinMode,
    JoinRequest,
    JoinRequestStatus,
    MemberRemainder,
    Membership,
    MemberStatus,
    Organisation,
    Role,
    RolloverPolicy,
)
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.values import DomainName, EmailAddress
from armox_enterprise.ports import IdempotencyRecord, StoredEvent

__all__ = [
    "TRANSFER_COLUMNS",
    "account_from_row",
    "claim_from_row",
    "claim_values",
    "credit_request_from_row",
    "credit_request_values",
    "hold_from_row",
    "hold_values",
    "idempotency_from_row",
    "idempotency_values",
    "invitation_from_row",
    "invitation_values",
    "join_request_from_row",
    "join_request_values",
    "membership_from_row",
    "membership_values",
    "organisation_from_row",
    "organisation_values",
    "payload_text",
    "stored_event_from_row",
    "transfer_from_row",
    "transfer_values",
]

# Durations are stored as whole microseconds (a BIGINT on every backend).
_US = timedelta(microseconds=1)


# -- organisations and memberships --------------------------------------------------------


def organisation_values(org: Organisation) -> dict[str, Any]:
    """The ``organisations`` row of ``org``."""
    return {
        "id": org.id,
        "name": org.name,
        "monthly_allowance": org.monthly_allowance,
        "cycle_anchor": org.cycle_anchor,
        "created_at": org.created_at,
        "current_period_index": org.current_period_index,
        # Stored beside the index so that due organisations are found by an indexed range.
        "current_period_end": org.current_period.end,
        "join_mode": org.join_mode.value,
        "seat_limit": org.seat_limit,
        "pool_carry_over_cap": org.rollover.pool_carry_over_cap,
        "member_remainder": org.rollover.member_remainder.value,
        "max_open_requests": org.max_open_requests,
        "allow_pool_spend": org.allow_pool_spend,
        "hold_lifetime_us": org.hold_lifetime // _US,
        "time_zone": org.time_zone,
        "member_alert_thresholds": thresholds_text(org.alert_thresholds.member),
        "pool_alert_thresholds": thresholds_text(org.alert_thresholds.pool),
        "spend_cap": org.spend_cap,
        "soft_limit_credits": None if org.soft_limit is None else org.soft_limit.credits,
        "soft_limit_percent": None if org.soft_limit is None else org.soft_limit.percent,
    }


def organisation_from_row(row: Row[Any]) -> Organisation:
    """The organisation an ``organisations`` row holds."""
    m = row._mapping
    return Organisation(
        id=m["id"],
        name=m["name"],
        monthly_allowance=m["monthly_allowance"],
        cycle_anchor=m["cycle_anchor"],
        created_at=m["created_at"],
        current_period_index=m["current_period_index"],
        join_mode=JoinMode(m["join_mode"]),
        seat_limit=m["seat_limit"],
        rollover=RolloverPolicy(m["pool_carry_over_cap"], MemberRemainder(m["member_remainder"])),
        max_open_requests=m["max_open_requests"],
        allow_pool_spend=bool(m["allow_pool_spend"]),
        hold_lifetime=m["hold_lifetime_us"] * _US,
        time_zone=m["time_zone"],
        alert_thresholds=AlertThresholds(
            parse_thresholds(m["member_alert_thresholds"]),
            parse_thresholds(m["pool_alert_thresholds"]),
        ),
        spend_cap=m["spend_cap"],
        soft_limit=_soft_limit(m["soft_limit_credits"], m["soft_limit_percent"]),
    )


def _soft_limit(credits: int | None, percent: int | None) -> SoftLimit | None:
    if credits is None and percent is None:
        return None
    return SoftLimit(credits=credits, percent=percent)


def membership_values(membership: Membership) -> dict[str, Any]:
    """The ``memberships`` row of ``membership``."""
    return {
        "organisation_id": membership.organisation_id,
        "user_id": membership.user_id,
        # NULL once removed: the unique column allows one active membership per user.
        "active_user_id": membership.user_id if membership.is_active else None,
        "email": str(membership.email),
        "display_name": membership.display_name,
        "name_key": membership.display_name.casefold(),
        "role": membership.role.value,
        "status": membership.status.value,
        "joined_at": membership.joined_at,
        "removed_at": membership.removed_at,
        "standing_allotment": membership.standing_allotment,
        "spend_cap": membership.spend_cap,
    }


def membership_from_row(row: Row[Any]) -> Membership:
    """The membership a ``memberships`` row holds (other columns in the row are ignored)."""
    m = row._mapping
    return Membership(
        organisation_id=m["organisation_id"],
        user_id=m["user_id"],
        email=EmailAddress.parse(m["email"]),
        display_name=m["display_name"],
        role=Role(m["role"]),
        joined_at=m["joined_at"],
        status=MemberStatus(m["status"]),
        standing_allotment=m["standing_allotment"],
        removed_at=m["removed_at"],
        spend_cap=m["spend_cap"],
    )


# -- domains, invitations, join requests ------------------------------------------------


def claim_values(claim: DomainClaim) -> dict[str, Any]:
    """The ``domain_claims`` row of ``claim``."""
    return {
        "domain": claim.domain.value,
        "organisation_id": claim.organisation_id,
        "verification_token": claim.verification_token,
        "claimed_at": claim.claimed_at,
        "include_subdomains": claim.include_subdomains,
        "verified_at": claim.verified_at,
        "last_checked_at": claim.last_checked_at,
        "failing_since": claim.failing_since,
        "lapses_at": claim.lapses_at,
        "lapsed_at": claim.lapsed_at,
    }


def claim_from_row(row: Row[Any]) -> DomainClaim:
    """The claim a ``domain_claims`` row holds."""
    m = row._mapping
    return DomainClaim(
        domain=DomainName(m["domain"]),
        organisation_id=m["organisation_id"],
        verification_token=m["verification_token"],
        claimed_at=m["claimed_at"],
        include_subdomains=bool(m["include_subdomains"]),
        verified_at=m["verified_at"],
        last_checked_at=m["last_checked_at"],
        failing_since=m["failing_since"],
        lapses_at=m["lapses_at"],
        lapsed_at=m["lapsed_at"],
    )


def invitation_values(invitation: Invitation) -> dict[str, Any]:
    """The ``invitations`` row of ``invitation``, keyed by its lower-cased address."""
    return {
        "organisation_id": invitation.organisation_id,
        "email_key": str(invitation.email).lower(),
        "email": str(invitation.email),
        "role": invitation.role.value,
        "invited_by": invitation.invited_by,
        "created_at": invitation.created_at,
        "accepted_at": invitation.accepted_at,
    }


def invitation_from_row(row: Row[Any]) -> Invitation:
    """The invitation an ``invitations`` row holds."""
    m = row._mapping
    return Invitation(
        organisation_id=m["organisation_id"],
        email=EmailAddress.parse(m["email"]),
        role=Role(m["role"]),
        invited_by=m["invited_by"],
        created_at=m["created_at"],
        accepted_at=m["accepted_at"],
    )


def join_request_values(request: JoinRequest) -> dict[str, Any]:
    """The ``join_requests`` row of ``request``."""
    return {
        "id": request.id,
        "organisation_id": request.organisation_id,
        "user_id": request.user_id,
        "email": str(request.email),
        "display_name": request.display_name,
        "created_at": request.created_at,
        "status": request.status.value,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
    }


def join_request_from_row(row: Row[Any]) -> JoinRequest:
    """The join request a ``join_requests`` row holds."""
    m = row._mapping
    return JoinRequest(
        id=m["id"],
        organisation_id=m["organisation_id"],
        user_id=m["user_id"],
        email=EmailAddress.parse(m["email"]),
        display_name=m["display_name"],
        created_at=m["created_at"],
        status=JoinRequestStatus(m["status"]),
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
    )


# -- the ledger ------------------------------------------------------------------------


def account_from_row(row: Row[Any]) -> Account:
    """The account an ``accounts`` row holds, with the totals of the row alone.

    The usage account's credits from spends are counted on its members' rows (``spent``);
    the ledger adds them where it reads the usage account.
    """
    m = row._mapping
    return Account(
        organisation_id=m["organisation_id"],
        code=m["code"],
        credits_posted=m["credits_posted"],
        debits_posted=m["debits_posted"],
        debits_pending=m["debits_pending"],
        closed=bool(m["closed"]),
    )


#: The ``transfers`` columns :func:`transfer_values` sets, in the table's order.
TRANSFER_COLUMNS = (
    "id",
    "organisation_id",
    "kind",
    "debit_account",
    "credit_account",
    "amount",
    "period_index",
    "actor",
    "created_at",
    "idempotency_key",
    "reference",
    "feature",
    "model",
)


def transfer_values(transfer: Transfer) -> dict[str, Any]:
    """The ``transfers`` row of ``transfer``."""
    return {
        "id": transfer.id,
        "organisation_id": transfer.organisation_id,
        "kind": transfer.kind.value,
        "debit_account": transfer.debit_account,
        "credit_account": transfer.credit_account,
        "amount": transfer.amount,
        "period_index": transfer.period_index,
        "actor": transfer.actor,
        "created_at": transfer.created_at,
        "idempotency_key": transfer.idempotency_key,
        "reference": transfer.reference,
        "feature": transfer.feature,
        "model": transfer.model,
    }


def transfer_from_row(row: Row[Any]) -> Transfer:
    """The transfer a ``transfers`` row holds."""
    m = row._mapping
    return Transfer(
        id=m["id"],
        organisation_id=m["organisation_id"],
        kind=TransferKind(m["kind"]),
        debit_account=m["debit_account"],
        credit_account=m["credit_account"],
        amount=m["amount"],
        period_index=m["period_index"],
        actor=m["actor"],
        created_at=m["created_at"],
        idempotency_key=m["idempotency_key"],
        reference=m["reference"],
        feature=m["feature"],
        model=m["model"],
    )


def hold_values(hold: Hold) -> dict[str, Any]:
    """The ``holds`` row of ``hold``."""
    return {
        "id": hold.id,
        "organisation_id": hold.organisation_id,
        "user_id": hold.user_id,
        "amount": hold.amount,
        "period_index": hold.period_index,
        "created_at": hold.created_at,
        "expires_at": hold.expires_at,
        "reference": hold.reference,
        "status": hold.status.value,
        "captured": hold.captured,
        "resolved_at": hold.resolved_at,
        "feature": hold.feature,
        "model": hold.model,
    }


def hold_from_row(row: Row[Any]) -> Hold:
    """The hold a ``holds`` row holds."""
    m = row._mapping
    return Hold(
        id=m["id"],
        organisation_id=m["organisation_id"],
        user_id=m["user_id"],
        amount=m["amount"],
        period_index=m["period_index"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        reference=m["reference"],
        status=HoldStatus(m["status"]),
        captured=m["captured"],
        resolved_at=m["resolved_at"],
        feature=m["feature"],
        model=m["model"],
    )


# -- credit requests, idempotency, events ------------------------------------------------


def credit_request_values(request: CreditRequest) -> dict[str, Any]:
    """The ``credit_requests`` row of ``request``."""
    return {
        "id": request.id,
        "organisation_id": request.organisation_id,
        "user_id": request.user_id,
        "amount": request.amount,
        "note": request.note,
        "period_index": request.period_index,
        "created_at": request.created_at,
        "status": request.status.value,
        "approved_amount": request.approved_amount,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
        "decision_note": request.decision_note,
        "automatic": request.automatic,
    }


def credit_request_from_row(row: Row[Any]) -> CreditRequest:
    """The credit request a ``credit_requests`` row holds."""
    m = row._mapping
    return CreditRequest(
        id=m["id"],
        organisation_id=m["organisation_id"],
        user_id=m["user_id"],
        amount=m["amount"],
        note=m["note"],
        period_index=m["period_index"],
        created_at=m["created_at"],
        status=RequestStatus(m["status"]),
        approved_amount=m["approved_amount"],
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
        decision_note=m["decision_note"],
        automatic=bool(m["automatic"]),
    )


def idempotency_values(record: IdempotencyRecord) -> dict[str, Any]:
    """The ``idempotency_keys`` row of ``record``."""
    return {
        "organisation_id": record.organisation_id,
        "key": record.key,
        "operation": record.operation,
        "fingerprint": record.fingerprint,
        "result_ref": record.result_ref,
        "created_at": record.created_at,
    }


def idempotency_from_row(row: Row[Any]) -> IdempotencyRecord:
    """The record an ``idempotency_keys`` row holds."""
    m = row._mapping
    return IdempotencyRecord(
        organisation_id=m["organisation_id"],
        key=m["key"],
        operation=m["operation"],
        fingerprint=m["fingerprint"],
        result_ref=m["result_ref"],
        created_at=m["created_at"],
    )


#: One encoder for every payload (``json.dumps`` with options makes a new one per call).
_PAYLOAD_ENCODER = json.JSONEncoder(sort_keys=True)


def payload_text(payload: Mapping[str, object]) -> str:
    """The JSON text an ``events`` row keeps of an event's ``payload`` (keys sorted)."""
    return _PAYLOAD_ENCODER.encode(dict(payload))


def stored_event_from_row(row: Row[Any]) -> StoredEvent:
    """The stored event an ``events`` row holds (its payload is JSON text)."""
    m = row._mapping
    return StoredEvent(
        id=m["id"],
        organisation_id=m["organisation_id"],
        name=m["name"],
        actor=m["actor"],
        occurred_at=m["occurred_at"],
        payload=json.loads(m["payload"]),
        published_at=m["published_at"],
    )
