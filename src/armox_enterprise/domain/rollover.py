"""What turning a billing period over does, as plans of transfers the service applies.

Closing a period sweeps unspent credits by the organisation's :class:`RolloverPolicy`
(:func:`plan_sweep`); opening the next one re-issues standing allotments in a stable order,
each from the account that funds the member (their team's budget, else the pool:
:func:`~armox_enterprise.domain.teams.funding_account`), reporting every shortfall rather
than skipping it or overdrawing (:func:`plan_allotments`); credits that come back to a member
after their period closed (a released hold, a refund) follow the same policy
(:func:`late_credit`).  Everything here is pure: the plans name movements, the application
layer posts them.

No plan asks for a movement the ledger would refuse for its size (every cached total stays
within ``MAX_CREDITS``, see :mod:`~armox_enterprise.domain.ledger`), so a period always turns
over: the grant is what the source and the pool can still take (:func:`plan_grant`, the rest
reported), an allotment a member's account cannot take is a shortfall, and remainders the
pool cannot take back expire instead (:func:`fit_to_pool`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from armox_enterprise.domain.ledger import (
    EXPIRED,
    POOL,
    Account,
    AccountKind,
    TransferKind,
    account_kind,
    member_account,
)
from armox_enterprise.domain.organisation import MemberRemainder, Membership, RolloverPolicy
from armox_enterprise.domain.teams import funding_account

__all__ = [
    "Allotment",
    "GrantPlan",
    "Movement",
    "Shortfall",
    "Sweep",
    "allotment_order",
    "fit_to_pool",
    "late_credit",
    "plan_allotments",
    "plan_grant",
    "plan_sweep",
]


@attrs.frozen
class Movement:
    """One transfer a plan asks for: ``amount`` credits of ``kind`` from ``debit`` to ``credit``."""

    kind: TransferKind
    debit: str
    credit: str
    amount: int


@attrs.frozen
class Sweep:
    """What closing a period does with unspent credits.

    Attributes:
        movements: the transfers, pool first, then members in the order given.
        expired: credits that lapse (pool and members).
        carried_over: credits the pool takes into the next period (its kept part and the
            remainders members return).
    """

    movements: tuple[Movement, ...]
    expired: int
    carried_over: int


def fit_to_pool(movement: Movement, pool_room: int) -> tuple[Movement, ...]:
    """Return ``movement`` as its destination can take it.

    A return to the pool (or to a team's budget) of more than ``pool_room`` (what the
    destination's ``credits_posted`` can still take,
    :attr:`~armox_enterprise.domain.ledger.Account.credit_room`) returns what fits and expires
    the rest, so a remainder never makes a turnover or a late credit fail; any other movement
    is unchanged.
    """
    returns = movement.credit == POOL or account_kind(movement.credit) is AccountKind.TEAM
    if not returns or movement.kind is TransferKind.EXPIRE or movement.amount <= pool_room:
        return (movement,)
    returned = max(pool_room, 0)
    lapsed = Movement(TransferKind.EXPIRE, movement.debit, EXPIRED, movement.amount - returned)
    if returned == 0:
        return (lapsed,)
    return (attrs.evolve(movement, amount=returned), lapsed)


def _sweep_teams(teams: Iterable[Account], room: int) -> list[Movement]:
    """Each team's unspent budget back to the pool, as far as the pool can take it (the
    rest expires)."""
    movements: list[Movement] = []
    for team in teams:
        amount = min(team.available, max(room, 0))
        if amount > 0:
            movements.append(Movement(TransferKind.DEFUND_TEAM, team.code, POOL, amount))
            room -= amount
        if team.available > amount:
            lapsed = team.available - amount
            movements.append(Movement(TransferKind.EXPIRE, team.code, EXPIRED, lapsed))
    return movements


def plan_sweep(
    policy: RolloverPolicy,
    pool: Account,
    members: Iterable[Account],
    *,
    teams: Iterable[Account] = (),
    homes: Mapping[str, Account] | None = None,
) -> Sweep:
    """Return what closing a period does to the pool, to ``teams``' budgets and to
    ``members``' accounts.

    Each team's unspent budget returns to the pool first, and is then the pool's like the
    rest: the pool lapses above the carry-over cap, so remainders that members return reach
    the next period whatever the cap.  Under the "keep" policy members' accounts are left
    alone.  Under "return to pool" a member whose account ``homes`` maps to a team's account
    (by the member's account code) returns it to that team's budget, which keeps it into the
    next period.  Remainders the destination can no longer take (:func:`fit_to_pool`) expire.
    """
    movements = _sweep_teams(teams, pool.credit_room)
    returned = sum(m.amount for m in movements if m.kind is TransferKind.DEFUND_TEAM)
    available = pool.available + returned
    room = pool.credit_room - returned
    carried = min(max(available, 0), policy.pool_carry_over_cap)
    lapsed = available - carried
    expired = sum(m.amount for m in movements if m.kind is TransferKind.EXPIRE)
    if lapsed > 0:
        expired += lapsed
        movements.append(Movement(TransferKind.EXPIRE, POOL, EXPIRED, lapsed))
    if policy.member_remainder is MemberRemainder.KEEP:
        return Sweep(tuple(movements), expired, carried)
    homes = homes or {}
    rooms: dict[str, int] = {POOL: room}
    for account in members:
        amount = account.available
        if amount <= 0:
            continue
        if policy.member_remainder is MemberRemainder.EXPIRE:
            expired += amount
            movements.append(Movement(TransferKind.EXPIRE, account.code, EXPIRED, amount))
            continue
        home = homes.get(account.code)
        destination = POOL if home is None else home.code
        if destination not in rooms:
            rooms[destination] = home.credit_room if home is not None else 0
        returning = Movement(TransferKind.RETURN, account.code, destination, amount)
        for movement in fit_to_pool(returning, rooms[destination]):
            movements.append(movement)
            if movement.kind is TransferKind.RETURN:
                if destination == POOL:
                    carried += movement.amount
                rooms[destination] -= movement.amount
            else:
                expired += movement.amount
    return Sweep(tuple(movements), expired, carried)


@attrs.frozen
class GrantPlan:
    """What opening a period grants the pool.

    Attributes:
        wanted: the organisation's monthly allowance.
        amount: what is granted: the allowance, or less when the organisation's source
            (what it was ever granted and topped up) or the pool (what it was ever credited)
            would pass ``MAX_CREDITS``.
    """

    wanted: int
    amount: int

    @property
    def shortfall(self) -> int:
        """What the allowance asked for and the grant could not give."""
        return self.wanted - self.amount


def plan_grant(allowance: int, source: Account, pool: Account) -> GrantPlan:
    """Return what opening a period grants: the allowance, capped to what keeps every total
    of the source (``grant``) and the pool within ``MAX_CREDITS``.

    A grant never fails for its size: an allowance that no longer fits is granted in part (or
    not at all) and the shortfall reported, so the period still turns over.
    """
    amount = max(0, min(allowance, source.debit_room, pool.credit_room))
    return GrantPlan(wanted=allowance, amount=amount)


@attrs.frozen
class Allotment:
    """A standing allotment its funding account can cover: post ``movement``."""

    user_id: str
    movement: Movement


@attrs.frozen
class Shortfall:
    """A standing allotment its funding account (``source``: the pool, or the member's team's
    budget) cannot cover: report it, post nothing."""

    user_id: str
    wanted: int
    available: int
    source: str = POOL


def allotment_order(members: Iterable[Membership]) -> list[Membership]:
    """Return the members with a standing allotment in the order they are served: by join
    time, then user id, so every store and every run serves them alike."""
    return sorted(
        (m for m in members if m.is_active and m.standing_allotment > 0),
        key=lambda m: (m.joined_at, m.user_id),
    )


def plan_allotments(
    pool_available: int,
    members: Sequence[Membership],
    *,
    rooms: Mapping[str, int] | None = None,
    teams: Mapping[str, str] | None = None,
    budgets: Mapping[str, int] | None = None,
) -> tuple[Allotment | Shortfall, ...]:
    """Return, member by member, whether the account that funds them covers each standing
    allotment.

    A member's allotment comes from :func:`~armox_enterprise.domain.teams.funding_account`:
    their team's budget when ``teams`` maps their user id to a team's id, else the pool.
    ``pool_available`` is what the pool holds once the period's grant is in, ``budgets`` what
    each team's budget holds, by team id (a team it does not name holds nothing).  Each
    account is drawn on alone and alike: a member whose allotment no longer fits in what is
    left of it gets a :class:`Shortfall` (with what was left at their turn, never a part of
    it); later, smaller allotments from that account may still fit.  ``rooms`` gives, by user
    id, what a member's account can still take
    (:attr:`~armox_enterprise.domain.ledger.Account.credit_room`): an allotment past it is a
    shortfall too, its ``available`` the smaller of the two.
    """
    teams = teams or {}
    left: dict[str, int] = {POOL: pool_available}
    for team_id, available in (budgets or {}).items():
        left[funding_account(team_id)] = available
    steps: list[Allotment | Shortfall] = []
    for member in allotment_order(members):
        source = funding_account(teams.get(member.user_id))
        available = left.get(source, 0)
        wanted = member.standing_allotment
        room = available if rooms is None else min(available, rooms.get(member.user_id, available))
        if room < wanted:
            steps.append(Shortfall(member.user_id, wanted, room, source))
            continue
        code = member_account(member.user_id)
        steps.append(Allotment(member.user_id, Movement(TransferKind.ALLOT, source, code, wanted)))
        left[source] = available - wanted
    return tuple(steps)


def late_credit(
    policy: RolloverPolicy,
    *,
    user_id: str,
    amount: int,
    period_index: int,
    current_period_index: int,
    member_active: bool,
    home: str = POOL,
) -> Movement | None:
    """Return where credits coming back to a member go, as closing their period would have
    sent them: a released hold or a refund of a closed period follows ``policy`` (the one in
    force now), a return going to ``home`` (the member's team's budget, or the pool); a
    member who has left gives them to the pool.  ``None``: they stay.
    """
    closed = period_index < current_period_index
    remainder = policy.member_remainder
    code = member_account(user_id)
    if closed and remainder is MemberRemainder.EXPIRE:
        return Movement(TransferKind.EXPIRE, code, EXPIRED, amount)
    if not member_active:
        return Movement(TransferKind.RETURN, code, POOL, amount)
    if closed and remainder is MemberRemainder.RETURN_TO_POOL:
        return Movement(TransferKind.RETURN, code, home, amount)
    return None
