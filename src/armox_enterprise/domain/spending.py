"""Spending rules: when the pool covers a member's shortfall, and how long a hold lives."""

from __future__ import annotations

from datetime import datetime, timedelta

from armox_enterprise.domain.ledger import TransferKind

__all__ = ["MAX_HOLD_LIFETIME", "hold_expiry", "pool_shortfall"]

#: The longest a hold may stay pending, whatever the organisation's setting.
MAX_HOLD_LIFETIME = timedelta(days=31)


def pool_shortfall(
    kind: TransferKind, *, allow_pool_spend: bool, member_available: int, amount: int
) -> int | None:
    """Return what the pool should allocate so a member short of credits can spend ``amount``.

    Only a plain spend draws on the pool, and only where the organisation allows it (off by
    default); a hold never does.  The shortfall is allocated to the member first, so the
    member's figures show everything they used.  ``None``: the spend is refused.
    """
    if kind is not TransferKind.SPEND or not allow_pool_spend:
        return None
    return amount - max(0, member_available)


def hold_expiry(
    now: datetime, lifetime: timedelta | None, organisation_lifetime: timedelta
) -> datetime:
    """Return when a hold reserved at ``now`` lapses: after the lifetime asked for, never
    later than the organisation's hold lifetime allows."""
    life = organisation_lifetime if lifetime is None else min(lifetime, organisation_lifetime)
    return now + life
