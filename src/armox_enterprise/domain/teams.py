"""Teams: a budget of the organisation's credits that reaches the team's members.

An admin creates teams (names unique per organisation), assigns members to them (a member
belongs to at most one team) and moves credits between the pool and a team's budget, the
account ``team:<id>`` (guarded: never below zero available).  Credits reach a team's members
out of its budget, not out of the pool: :func:`funding_account` names the account an allocation
or an approval debits, and :func:`home_account` the account a member's credits go back to
(a reclaim, a return at a period's close, a removal).  Members with no team keep the pool.

At a period's close a team's unspent budget returns to the pool before the pool's carry-over
cap applies (:func:`~armox_enterprise.domain.rollover.plan_sweep`); a team is deleted only
when it has no members and holds no credits (:func:`deletion_refusal`).  An admin may
delegate one team's allocations and credit-request decisions to a member of that team: the
member's assignment carries the grant (``manager``), checked by
:func:`~armox_enterprise.domain.access.authorise` with the team as its scope.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from armox_enterprise.domain.ledger import POOL, Account, team_account
from armox_enterprise.exceptions import ArmoxError, InvalidTransition

__all__ = [
    "Team",
    "TeamMember",
    "deletion_refusal",
    "funding_account",
    "home_account",
    "name_key",
]


@attrs.frozen
class Team:
    """A team of an organisation: its id, its name (unique in the organisation), its budget's
    account (:attr:`account`).

    Attributes:
        spend_cap: the monthly cap on each of its members' spending, for the members with no
            cap of their own (:func:`~armox_enterprise.domain.caps.member_cap`); ``None``:
            the organisation's default applies to them.
    """

    organisation_id: str
    id: str
    name: str
    created_at: datetime
    spend_cap: int | None = None

    @property
    def account(self) -> str:
        """The code of the account holding the team's budget."""
        return team_account(self.id)

    @property
    def name_key(self) -> str:
        """The name as uniqueness compares it (:func:`name_key`)."""
        return name_key(self.name)


def name_key(name: str) -> str:
    """A team's name as the organisation's one-name-per-team rule compares it: case-folded
    (``Design`` and ``design`` are one name), by code point on every store."""
    return name.casefold()


@attrs.frozen
class TeamMember:
    """A member's assignment to a team (one per member), with the delegated grant.

    Attributes:
        manager: the member manages the team: allocates from its budget to its members,
            reclaims from them, decides their credit requests
            (:attr:`~armox_enterprise.domain.access.Permission.MANAGE_TEAM` for this team).
    """

    organisation_id: str
    user_id: str
    team_id: str
    manager: bool = False


def funding_account(team_id: str | None) -> str:
    """The account that gives a member credits: their team's budget, or the pool for a
    member with no team (``team_id`` ``None``)."""
    return POOL if team_id is None else team_account(team_id)


def home_account(team_id: str | None) -> str:
    """The account a member's credits go back to (a reclaim, a return at a period's close
    under ``RETURN_TO_POOL``, a removal): their team's budget, or the pool."""
    return funding_account(team_id)


def deletion_refusal(team: Team, budget: Account | None, members: int) -> ArmoxError | None:
    """Return why ``team`` cannot be deleted, or ``None``.

    A team is deleted only when empty: no member is assigned to it, and its budget holds no
    credits (reclaim them to the pool first), so deleting it moves no credits and no
    member's funding changes under them.
    """
    if members > 0:
        return InvalidTransition(
            f"team {team.name!r} has {members} member(s): assign them elsewhere first"
        )
    if budget is not None and (budget.balance != 0 or budget.debits_pending != 0):
        return InvalidTransition(
            f"team {team.name!r} holds {budget.balance} credits: reclaim them to the pool first"
        )
    return None
