"""Resolving holds and settling credits that come back to a member: shared by the use cases
that capture, release, refund and expire, and by the period turnover."""

from __future__ import annotations

from collections.abc import Sequence

from armox_enterprise.application.context import Context
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import (
    EXPIRED,
    USAGE,
    Hold,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.rollover import Movement, fit_to_pool, late_credit
from armox_enterprise.domain.teams import home_account
from armox_enterprise.exceptions import HoldAlreadyResolved

__all__ = [
    "lock_for_late_credit",
    "release_expired",
    "release_stale",
    "resolve_hold",
    "settle",
]


def resolve_hold(ctx: Context, hold: Hold, captured: int, *, expired: bool = False) -> Hold:
    """Capture ``captured`` credits of ``hold`` (0: release it) and post what that moves.

    What is released is settled as a late credit (:func:`settle`).  The hold's row is
    written before any account's (the library's lock order puts a hold before its member).

    Raises:
        HoldAlreadyResolved: the hold is no longer pending.
    """
    resolved = _mark_resolved(ctx, hold, captured, expired=expired)
    if captured < hold.amount:
        lock_for_late_credit(ctx, hold.user_id, hold.amount - captured, hold.period_index)
    _post_resolution(ctx, hold, captured)
    return resolved


def _mark_resolved(ctx: Context, hold: Hold, captured: int, *, expired: bool) -> Hold:
    resolved = (
        hold.capture(captured, ctx.now) if captured > 0 else hold.release(ctx.now, expired=expired)
    )
    ctx.uow.holds.resolve(resolved)
    return resolved


def _post_resolution(ctx: Context, hold: Hold, captured: int) -> None:
    """Post what resolving ``hold`` with ``captured`` moves, and settle what it releases."""
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
    it was written here, and the others are still released.  In the library's lock order:
    every hold's row first, then the accounts the releases and their late credits move
    credits between, then the postings.

    Returns:
        How many this call released.
    """
    system = ctx.as_system()
    resolved: list[Hold] = []
    for hold in holds:
        try:
            _mark_resolved(system, hold, 0, expired=True)
        except HoldAlreadyResolved:
            continue
        resolved.append(hold)
    owners = {hold.user_id for hold in resolved}
    if len(owners) > 1:
        ctx.uow.ledger.lock_accounts(ctx.org.id)
    elif owners:
        late = min(resolved, key=lambda hold: hold.period_index)
        lock_for_late_credit(system, late.user_id, late.amount, late.period_index)
    for hold in resolved:
        _post_resolution(system, hold, 0)
    return len(resolved)


def lock_for_late_credit(ctx: Context, user_id: str, amount: int, period_index: int) -> None:
    """Before ``amount`` credits come back to ``user_id`` from period ``period_index`` (a
    release, a refund), lock the accounts their late credit (:func:`settle`) will move them
    between, in the library's lock order: they come before the usage sink, which the posting
    of the credits names."""
    movement = _late_credit(ctx, user_id, amount, period_index)
    if movement is not None:
        # What the pool (or the team's budget) cannot take expires (fit_to_pool).
        overflow = [EXPIRED] if movement.kind is TransferKind.RETURN else []
        ctx.uow.ledger.lock_accounts(ctx.org.id, [movement.debit, movement.credit, *overflow])


def _late_credit(ctx: Context, user_id: str, amount: int, period_index: int) -> Movement | None:
    member = ctx.uow.memberships.get(ctx.org.id, user_id)
    assignment = ctx.uow.teams.assignment(ctx.org.id, user_id)
    return late_credit(
        ctx.org.rollover,
        user_id=user_id,
        amount=amount,
        period_index=period_index,
        current_period_index=ctx.org.current_period_index,
        member_active=member is not None and member.is_active,
        home=home_account(None if assignment is None else assignment.team_id),
    )


def settle(ctx: Context, user_id: str, amount: int, period_index: int, reference: str) -> None:
    """Treat credits coming back to a member (a released hold, a refund) as closing their
    period would have: see :func:`~armox_enterprise.domain.rollover.late_credit` (and
    :func:`~armox_enterprise.domain.rollover.fit_to_pool` for credits the pool cannot take)."""
    movement = _late_credit(ctx, user_id, amount, period_index)
    if movement is None:
        return
    room = 0
    if movement.kind is TransferKind.RETURN:
        home = ctx.uow.ledger.get_account(ctx.org.id, movement.credit, for_update=True)
        room = 0 if home is None else home.credit_room
    for part in fit_to_pool(movement, room):
        ctx.move(part, reference=reference)
