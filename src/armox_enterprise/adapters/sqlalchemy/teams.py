"""Teams on SQL: ``teams`` keyed ``(organisation_id, id)`` with one row per case-folded name,
and ``team_members`` keyed ``(organisation_id, user_id)``: the database itself refuses a
second team of one name and a second team for one member, whoever writes the SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.domain.teams import Team, TeamMember
from armox_enterprise.exceptions import AlreadyExists, InvalidTransition, NotFound

__all__ = ["SqlTeams"]


def _team(row: Row[Any]) -> Team:
    m = row._mapping
    return Team(m["organisation_id"], m["id"], m["name"], m["created_at"], m["spend_cap"])


def _member(row: Row[Any]) -> TeamMember:
    m = row._mapping
    return TeamMember(m["organisation_id"], m["user_id"], m["team_id"], bool(m["manager"]))


class SqlTeams(Repository):
    """The :class:`~armox_enterprise.ports.TeamRepository` of the SQLAlchemy store."""

    def add(self, team: Team) -> None:
        """Store a new team (``AlreadyExists`` for a name the organisation has)."""
        self._db.write(
            insert(self._t.teams).values(
                organisation_id=team.organisation_id,
                id=team.id,
                name=team.name,
                name_key=team.name_key,
                created_at=team.created_at,
                spend_cap=team.spend_cap,
            ),
            error=AlreadyExists(f"the organisation already has a team named {team.name!r}"),
        )

    def get(self, organisation_id: str, team_id: str) -> Team | None:
        """Return the team, or ``None``."""
        t = self._t.teams
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.id == team_id)
        )
        return None if row is None else _team(row)

    def update(self, team: Team) -> None:
        """Store the team's name and cap."""
        t = self._t.teams
        count = self._db.write(
            update(t)
            .where(t.c.organisation_id == team.organisation_id, t.c.id == team.id)
            .values(name=team.name, name_key=team.name_key, spend_cap=team.spend_cap),
            error=AlreadyExists(f"the organisation already has a team named {team.name!r}"),
        )
        if not count:
            raise NotFound(f"team {team.id} does not exist in {team.organisation_id}")

    def delete(self, organisation_id: str, team_id: str) -> None:
        """Delete the team (the foreign key refuses it while a member is assigned)."""
        t = self._t.teams
        count = self._db.write(
            delete(t).where(t.c.organisation_id == organisation_id, t.c.id == team_id),
            error=InvalidTransition(f"team {team_id} still has members"),
        )
        if not count:
            raise NotFound(f"team {team_id} does not exist in {organisation_id}")

    def assignment(self, organisation_id: str, user_id: str) -> TeamMember | None:
        """Return the member's assignment, or ``None``."""
        t = self._t.team_members
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.user_id == user_id)
        )
        return None if row is None else _member(row)

    def assign(self, assignment: TeamMember) -> None:
        """Store the member's one assignment (the row keyed by the member)."""
        t = self._t.team_members
        missing = NotFound(
            f"team {assignment.team_id} does not exist in {assignment.organisation_id}"
        )
        values = {"team_id": assignment.team_id, "manager": assignment.manager}
        count = self._db.write(
            update(t)
            .where(
                t.c.organisation_id == assignment.organisation_id,
                t.c.user_id == assignment.user_id,
            )
            .values(**values),
            error=missing,
        )
        if not count:
            self._db.write(
                insert(t).values(
                    organisation_id=assignment.organisation_id,
                    user_id=assignment.user_id,
                    **values,
                ),
                error=missing,
            )

    def unassign(self, organisation_id: str, user_id: str) -> None:
        """Remove the member's assignment, if any."""
        t = self._t.team_members
        self._db.write(
            delete(t).where(t.c.organisation_id == organisation_id, t.c.user_id == user_id)
        )

    def members(self, organisation_id: str, team_id: str) -> list[TeamMember]:
        """Return the team's assignments, by user id."""
        t = self._t.team_members
        query = select(t).where(t.c.organisation_id == organisation_id, t.c.team_id == team_id)
        return [_member(row) for row in self._db.rows(query.order_by(t.c.user_id))]

    def list(self, organisation_id: str) -> list[Team]:
        """Return the organisation's teams, by name."""
        t = self._t.teams
        query = select(t).where(t.c.organisation_id == organisation_id)
        return [_team(row) for row in self._db.rows(query.order_by(t.c.name_key, t.c.id))]
