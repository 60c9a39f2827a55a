"""Teams: an organisation's teams and each member's one assignment.

The store keeps two rules atomically (a unique key, never a read then a write in Python): a
team's name is unique in its organisation, and a member has at most one assignment (their
row is keyed by the organisation and the user).  An assignment names an existing team of the
same organisation.  A team's budget is an account of the ledger
(:func:`~armox_enterprise.domain.ledger.team_account`), written through the ledger.  A
team's monthly cap is a field of the team (``Team.spend_cap``), stored by :meth:`add` and
:meth:`update`; the service keeps each member's effective cap on their account row itself.
"""

from __future__ import annotations

from typing import Protocol

from armox_enterprise.domain.teams import Team, TeamMember

__all__ = ["TeamRepository"]


class TeamRepository(Protocol):
    """Stores teams and members' assignments to them."""

    def add(self, team: Team) -> None:
        """Store a new team.

        Raises:
            AlreadyExists: the organisation has a team of that name (or that id).
        """
        ...

    def get(self, organisation_id: str, team_id: str) -> Team | None:
        """Return the team, or ``None``."""
        ...

    def update(self, team: Team) -> None:
        """Store what may change of a team: its ``name`` and its ``spend_cap`` (the team's
        monthly cap; ``None``: none).  Its organisation, id and ``created_at`` never change.

        Raises:
            AlreadyExists: another team of the organisation has that name.
            NotFound: there is no such team.
        """
        ...

    def delete(self, organisation_id: str, team_id: str) -> None:
        """Delete the team (it has no assignments left).

        Raises:
            NotFound: there is no such team.
        """
        ...

    def assignment(self, organisation_id: str, user_id: str) -> TeamMember | None:
        """Return the member's assignment to a team, or ``None``."""
        ...

    def assign(self, assignment: TeamMember) -> None:
        """Store the member's assignment, replacing the one they had (one per member).

        Raises:
            NotFound: the team does not exist.
        """
        ...

    def unassign(self, organisation_id: str, user_id: str) -> None:
        """Remove the member's assignment (nothing if they have none)."""
        ...

    def members(self, organisation_id: str, team_id: str) -> list[TeamMember]:
        """Return the team's assignments, by user id."""
        ...

    def list(self, organisation_id: str) -> list[Team]:
        """Return the organisation's teams, by name."""
        ...
