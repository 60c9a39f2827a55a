"""Resolving holds and settling credits that come back to a member: shared by the use cases
that capture, release, refund and expire, and by the period turnover."""

from __future__ import annotations

from collections.abc import Sequence

from armox_enterprise.application.context import Context
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import POOL, USAGE, Hold, TransferKind, member_account
from armox_enterprise.domain.rollover import fit_to_pool, late_credit
from armox_enterprise.exceptions import HoldAlreadyResolved

__all__ = ["release_expired", "release_stale", "resolve_hold", "settle"]


def resolve_hold(ctx: Context, hold: Hold, captured: int, *, expired: bool = False) -> Hold:
    """Capture ``captured`` credits of ``hold`` (0: release it) and post what that moves.

    What is released is settled as a late credit (:func:`settle`).

    Raises:
        HoldAlreadyResolved: the hold is no longer pending.
    """
    resolved = (
        hold.capture(captured, ctx.now) if captured > 0 else hold.release(ctx.now, expired=expired)
    )
    ctx.uow.holds.resolve(resolved)
    account = member_account(hold.user_id)
    tags = {"feature": hold.feature, "model": hold.model}
    if captured > 0:
        ctx.post(
            ctx.transfer(TransferKind.CAPTURE, account, USAGE, captured, reference=hold.id, **tags)
        )
        ctx.record(ev.CreditsSpent, user_id=hold.user_id, amount=captured, reference=hold.reference)
    released = hold.amount - captured
    if released > 0:
        ctx.post(
            ctx.transfer(TransferKind.RELEASE, account, USAGE, released, reference=hold.id, **tags)
        )
        settle(ctx, hold.user_id, released, hold.period_index, hold.id)
    return resolved


def release_stale(ctx: Context, user_id: str | None = None) -> int:
    """Release (as expired) the organisation's holds past their lifetime, or one member's.

    Returns:
        How many this call released.
    """
    return release_expired(
        ctx, ctx.uow.holds.pending(ctx.org.id, user_id=user_id, expiring_before=ctx.now)
    )


def release_expired(ctx: Context, holds: Sequence[Hold]) -> int:
    """Release ``holds`` (read as pending, past their lifetime) as expired.

    A hold that its owner, an admin or another job resolved meanwhile is skipped: nothing of
    it was written here, and the others are still released.

    Returns:
        How many this call released.
    """
    system = ctx.as_system()
    released = 0
    for hold in holds:
        try:
            resolve_hold(system, hold, 0, expired=True)
        except HoldAlreadyResolved:
            continue
        released += 1
    return released


def settle(ctx: Context, user_id: str, amount: int, period_index: int, reference: str) -> None:
    """Treat credits coming back to a member (a released hold, a refund) as closing their
    period would have: see :func:`~armox_enterprise.domain.rollover.late_credit` (and
    :func:`~armox_enterprise.domain.rollover.fit_to_pool` for credits the pool cannot take)."""
    member = ctx.uow.memberships.get(ctx.org.id, user_id)
    movement = late_credit(
        ctx.org.rollover,
        user_id=user_id,
        amount=amount,
        period_index=period_index,
        current_period_index=ctx.org.current_period_index,
        member_active=member is not None and member.is_active,
    )
    if movement is None:
        return
    room = 0
    if movement.credit == POOL:
        pool = ctx.uow.ledger.get_account(ctx.org.id, POOL, for_update=True)
        room = 0 if pool is None else pool.credit_room
    for part in fit_to_pool(movement, room):
        ctx.move(part, reference=reference)
