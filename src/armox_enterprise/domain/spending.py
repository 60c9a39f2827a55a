"""Spending rules: when the pool covers a member's shortfall, and how long a hold lives."""

from __future__ import annotations

from datetime import datetime, timedelta

from armox_enterprise.domain.ledger import TransferKind

__all__ = ["MAX_HOLD_LIFETIME", "draws_on_pool", "hold_expiry", "pool_shortfall"]

#: The longest a hold may stay pending, whatever the organisation's setting.
MAX_HOLD_LIFETIME = timedelta(days=31)


def draws_on_pool(kind: TransferKind, *, allow_pool_spend: bool) -> bool:
    """Return whether a member short of credits may have the pool cover a ``kind`` debit.

    Only a plain spend draws on the pool, and only where the organisation allows it (off by
    default); a hold never does.
    """
    return kind is TransferKind.SPEND and allow_pool_spend


def pool_shortfall(member_available: int, amount: int) -> int:
    """Return what the pool allocates to the member first so they can spend ``amount``: the
    member's figures then show everything they used.  ``0``: the member covers it."""
    return max(0, amount - max(0, member_available))


def hold_expiry(
    now: datetime, lifetime: timedelta | None, organisation_lifetime: timedelta
) -> datetime:
    """Return when a hold reserved at ``now`` lapses: after the lifetime asked for, never
    later than the organisation's hold lifetime allows."""
    life = organisation_lifetime if lifetime is None else min(lifetime, organisation_lifetime)
    return now + life
