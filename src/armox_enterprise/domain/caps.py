"""Monthly spending caps: how much a member may spend (and hold) in one billing period.

A cap is set per scope, the most specific winning (:func:`effective_cap`): a member's own cap,
else their team's, else the organisation's default; ``None`` everywhere means no cap.
:func:`member_cap` applies it to the stored records (a membership, the member's team or none,
the organisation): every place that keeps a member's effective cap calls it.  What
counts against it in a period (:func:`counted_against_cap`) is what the member *used* there
(spends and captures less refunds, never below zero, the profile's "used") plus what they
*hold* now (pending reservations): a hold takes room under the cap when it is reserved, so a
member cannot pass the cap by reserving instead of spending, and a capture moves credits from
held to used without taking more room.  A new period starts again from what is held.

:func:`cap_refusal` is the one rule: a spend or hold of ``amount`` is refused when
``counted + amount > cap``.  The memory store applies it before it writes; the SQL store
writes the same comparison into the member row's conditional ``UPDATE``, with the effective
cap kept on the row, and asks this module why when the row does not match.
"""

from __future__ import annotations

import attrs

from armox_enterprise.domain.organisation import Membership, Organisation
from armox_enterprise.domain.teams import Team
from armox_enterprise.domain.values import MAX_CREDITS
from armox_enterprise.exceptions import AmountTypeError, CapReached, InvalidAmount, credit_amount

__all__ = [
    "CapStatus",
    "cap_refusal",
    "cap_room",
    "counted_against_cap",
    "effective_cap",
    "member_cap",
    "spend_cap",
]


def spend_cap(value: object, *, name: str = "spend_cap") -> int | None:
    """Return ``value`` if it is a valid cap: ``None`` (no cap) or whole credits in
    ``0..MAX_CREDITS`` (``0`` stops all spending).

    Raises:
        AmountTypeError: ``value`` is neither ``None`` nor an ``int`` (a ``bool`` is refused).
        InvalidAmount: ``value`` is negative or larger than ``MAX_CREDITS``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AmountTypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value < 0:
        raise InvalidAmount(f"{name} must not be negative, got {value}")
    if value > MAX_CREDITS:
        raise InvalidAmount(f"{name} must be at most {MAX_CREDITS}, got {value}")
    return value


def effective_cap(
    *, member: int | None, team: int | None = None, organisation: int | None
) -> int | None:
    """Return the cap that applies to a member: the most specific scope that sets one.

    Args:
        member: the member's own cap, or ``None`` to take the next scope's.
        team: the cap of the member's team, or ``None`` (no team, or a team without one).
        organisation: the organisation's default cap, or ``None`` for no cap.
    """
    for cap in (member, team, organisation):
        if cap is not None:
            return cap
    return None


def member_cap(membership: Membership, team: Team | None, organisation: Organisation) -> int | None:
    """Return the cap that applies to ``membership``: their own, else ``team``'s, else
    ``organisation``'s default (:func:`effective_cap`); ``None``: no cap.

    The one place the stored scopes meet: whatever changes one of them (a cap of any scope,
    a member's team, a member joining again) stores this on the member's account row, where
    the spend checks it.

    Args:
        membership: the member (their ``spend_cap``).
        team: the team the member is assigned to, or ``None`` for a member of no team.
        organisation: the member's organisation (its default ``spend_cap``).
    """
    return effective_cap(
        member=membership.spend_cap,
        team=None if team is None else team.spend_cap,
        organisation=organisation.spend_cap,
    )


def counted_against_cap(*, used: int, held: int) -> int:
    """Return what counts against a member's cap in a period: what they used there (spends and
    captures less refunds, counted as zero when refunds of earlier periods' spends exceed it)
    plus what they hold now."""
    return max(0, used) + held


def cap_room(cap: int | None, counted: int) -> int | None:
    """Return how much more a member may spend or hold under ``cap`` (``None``: no cap)."""
    return None if cap is None else max(0, cap - counted)


def cap_refusal(cap: int | None, counted: int, amount: int) -> CapReached | None:
    """Return why a spend or hold of ``amount`` may not be made under ``cap``, or ``None``.

    ``counted`` is :func:`counted_against_cap` before the call.  The comparison is written
    ``counted <= cap - amount``, as the SQL guard writes it, so no sum passes ``MAX_CREDITS``.
    """
    if cap is None or counted <= cap - amount:
        return None
    return CapReached(
        f"the monthly cap of {credit_amount(cap)} credits is reached: {credit_amount(counted)} "
        f"spent or held this period, {credit_amount(amount)} more asked for",
        cap=cap,
        spent=counted,
        requested=amount,
    )


@attrs.frozen
class CapStatus:
    """Where a member stands against their monthly cap (or a team's cap, or the
    organisation's default, alone).

    Attributes:
        organisation_cap: the organisation's default cap (``None``: none).
        member_cap: the member's own cap (``None``: the team's or the default applies, or no
            member asked).
        cap: the cap that applies (:func:`effective_cap`); ``None``: no cap.  For a team
            alone, the cap of its members who have none of their own.
        counted: what counts against it this period (:func:`counted_against_cap`).
        user_id: the member, or ``None`` for a team's cap or the organisation's default alone.
        team_cap: the cap of the member's team, or of the team asked about (``None``: no
            team, or a team without a cap).
        team_id: the member's team, or the team asked about (``None``: no team).
    """

    organisation_cap: int | None
    member_cap: int | None
    cap: int | None
    counted: int = 0
    user_id: str | None = None
    team_cap: int | None = None
    team_id: str | None = None

    @property
    def room(self) -> int | None:
        """How much more the member may spend or hold this period (``None``: no cap)."""
        return cap_room(self.cap, self.counted)
