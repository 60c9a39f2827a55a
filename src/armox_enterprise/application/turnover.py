"""Turning a billing period over: close the old one by its rollover plan, open the next.

It happens lazily, in the unit of work of the first call that touches an organisation after
its boundary, and in the period job; both lock the organisation row first, so it happens once.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from armox_enterprise.application.context import Context
from armox_enterprise.application.holds import release_stale
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.idempotency import internal_key
from armox_enterprise.domain.ledger import (
    GRANT,
    POOL,
    Account,
    TransferKind,
    member_account,
    team_account,
)
from armox_enterprise.domain.organisation import MemberRemainder
from armox_enterprise.domain.requests import RequestStatus, expiring
from armox_enterprise.domain.rollover import (
    Shortfall,
    allotment_order,
    plan_allotments,
    plan_grant,
    plan_sweep,
)
from armox_enterprise.ports import IdempotencyRecord

__all__ = ["bring_current", "expire_requests", "open_period"]


def bring_current(ctx: Context) -> None:
    """Turn the organisation's periods over until its current period holds ``ctx.now``."""
    if ctx.now < ctx.org.current_period.end:
        return
    locked = ctx.uow.organisations.get(ctx.org.id, for_update=True)
    assert locked is not None
    ctx.org = locked
    target = locked.period_at(ctx.now).index
    while ctx.org.current_period_index < target:
        _close_and_open(ctx)


def expire_requests(ctx: Context, period_end: datetime) -> int:
    """Expire the organisation's pending requests that have lapsed by ``ctx.now``, given the
    end of the period they were made in (see :func:`~armox_enterprise.domain.requests.expiring`).

    Returns:
        How many expired.
    """
    pending = ctx.uow.requests.list(ctx.org.id, status=RequestStatus.PENDING)
    lapsed = expiring(pending, at=ctx.now, period_end=period_end)
    for request in lapsed:
        expired = request.expire(ctx.now)
        ctx.uow.requests.decide(expired)
        ctx.record(
            ev.CreditRequestDecided,
            request_id=request.id,
            user_id=request.user_id,
            status=expired.status.value,
            amount=0,
        )
    return len(lapsed)


def _close_and_open(ctx: Context) -> None:
    org = ctx.org
    closing = org.current_period_index
    system = ctx.as_system(max(ctx.now, org.current_period.end))
    uow = ctx.uow
    expire_requests(system, org.current_period.end)
    release_stale(system)
    # The turnover moves credits between most of the organisation's accounts: it locks them
    # all now, in the library's lock order (after the requests' and holds' rows), rather than
    # one by one as it goes.  Balances are read under these locks: a spend committing in
    # between cannot make the sweep ask for more than is there.
    uow.ledger.lock_accounts(org.id)
    pool = uow.ledger.get_account(org.id, POOL, for_update=True)
    assert pool is not None
    teams: dict[str, Account] = {}
    for team in uow.teams.list(org.id):
        budget = uow.ledger.get_account(org.id, team.account, for_update=True)
        if budget is not None:
            teams[team.id] = budget
    members: list[Account] = []
    homes: dict[str, Account] = {}
    if org.rollover.member_remainder is not MemberRemainder.KEEP:
        for member in uow.memberships.list(org.id):
            code = member_account(member.user_id)
            account = uow.ledger.get_account(org.id, code, for_update=True)
            if account is not None:
                members.append(account)
                assignment = uow.teams.assignment(org.id, member.user_id)
                if assignment is not None and assignment.team_id in teams:
                    homes[code] = teams[assignment.team_id]
    sweep = plan_sweep(org.rollover, pool, members, teams=teams.values(), homes=homes)
    for movement in sweep.movements:
        system.move(movement)
    system.record(
        ev.PeriodClosed,
        period_index=closing,
        expired=sweep.expired,
        carried_over=sweep.carried_over,
    )
    uow.ledger.seal_period(org.id, closing)
    opened = attrs.evolve(org, current_period_index=closing + 1)
    uow.organisations.update(opened)
    ctx.org = system.org = opened
    open_period(system)


def open_period(ctx: Context) -> None:
    """Open the organisation's current period: grant the allowance once, issue allotments
    (each from the member's team's budget, or the pool for a member with no team).

    The idempotency record makes "one grant per organisation and period" a unique key the
    store enforces, whatever the allowance.  The grant is what the organisation's totals can
    still take (:func:`~armox_enterprise.domain.rollover.plan_grant`): a shortfall is recorded
    as a ``GrantShortfall`` event, never a failure.
    """
    system = ctx.as_system()
    org, uow = system.org, system.uow
    index = org.current_period_index
    source = uow.ledger.get_account(org.id, GRANT, for_update=True)
    pool = uow.ledger.get_account(org.id, POOL, for_update=True)
    assert source is not None
    assert pool is not None
    plan = plan_grant(org.monthly_allowance, source, pool)
    grant = system.transfer(
        TransferKind.GRANT, GRANT, POOL, plan.amount, reference=f"period:{index}"
    )
    uow.idempotency.add(
        IdempotencyRecord(
            org.id, internal_key("grant", index), "grant", str(index), grant.id, system.now
        )
    )
    if plan.amount > 0:
        system.post(grant)
    system.record(ev.PeriodOpened, period_index=index, granted=plan.amount)
    if plan.shortfall > 0:
        system.record(
            ev.GrantShortfall, period_index=index, wanted=plan.wanted, granted=plan.amount
        )
    pool = uow.ledger.get_account(org.id, POOL)
    assert pool is not None
    memberships = uow.memberships.list(org.id)
    rooms: dict[str, int] = {}
    teams: dict[str, str] = {}
    for member in allotment_order(memberships):
        account = uow.ledger.get_account(org.id, member_account(member.user_id))
        rooms[member.user_id] = 0 if account is None or account.closed else account.credit_room
        assignment = uow.teams.assignment(org.id, member.user_id)
        if assignment is not None:
            teams[member.user_id] = assignment.team_id
    # A team member's allotment comes from their team's budget.  The turnover locked every
    # account (the budgets too) before the sweep; a new organisation has no teams.
    budgets: dict[str, int] = {}
    for team_id in sorted(set(teams.values())):
        budget = uow.ledger.get_account(org.id, team_account(team_id))
        budgets[team_id] = 0 if budget is None or budget.closed else budget.available
    steps = plan_allotments(pool.available, memberships, rooms=rooms, teams=teams, budgets=budgets)
    for step in steps:
        if isinstance(step, Shortfall):
            system.record(
                ev.AllotmentShortfall,
                user_id=step.user_id,
                wanted=step.wanted,
                available=step.available,
            )
            continue
        system.move(step.movement)
        system.record(
            ev.CreditsAllocated,
            user_id=step.user_id,
            amount=step.movement.amount,
            kind="allot",
        )
