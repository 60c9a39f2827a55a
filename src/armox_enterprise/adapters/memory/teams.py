"""The memory store's teams: teams by id, their names' keys, and one assignment per member."""

from __future__ import annotations

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.domain.teams import Team, TeamMember
from armox_enterprise.exceptions import AlreadyExists, InvalidTransition, NotFound

__all__ = ["MemoryTeams"]


class MemoryTeams(MemoryRepository):
    """The :class:`~armox_enterprise.ports.TeamRepository` of the memory store."""

    def add(self, team: Team) -> None:
        key = (team.organisation_id, team.id)
        name = (team.organisation_id, team.name_key)
        if key in self._s.teams or name in self._s.team_names:
            raise AlreadyExists(f"the organisation already has a team named {team.name!r}")
        self._j.set(self._s.teams, key, team)
        self._j.set(self._s.team_names, name, team.id)

    def get(self, organisation_id: str, team_id: str) -> Team | None:
        return self._s.teams.get((organisation_id, team_id))

    def update(self, team: Team) -> None:
        old = self._s.teams.get((team.organisation_id, team.id))
        if old is None:
            raise NotFound(f"team {team.id} does not exist in {team.organisation_id}")
        name = (team.organisation_id, team.name_key)
        holder = self._s.team_names.get(name)
        if holder is not None and holder != team.id:
            raise AlreadyExists(f"the organisation already has a team named {team.name!r}")
        self._j.delete(self._s.team_names, (old.organisation_id, old.name_key))
        self._j.set(self._s.team_names, name, team.id)
        self._j.set(self._s.teams, (team.organisation_id, team.id), team)

    def delete(self, organisation_id: str, team_id: str) -> None:
        team = self._s.teams.get((organisation_id, team_id))
        if team is None:
            raise NotFound(f"team {team_id} does not exist in {organisation_id}")
        if self.members(organisation_id, team_id):
            raise InvalidTransition(f"team {team_id} still has members")
        self._j.delete(self._s.team_names, (organisation_id, team.name_key))
        self._j.delete(self._s.teams, (organisation_id, team_id))

    def assignment(self, organisation_id: str, user_id: str) -> TeamMember | None:
        return self._s.team_members.get((organisation_id, user_id))

    def assign(self, assignment: TeamMember) -> None:
        if (assignment.organisation_id, assignment.team_id) not in self._s.teams:
            raise NotFound(
                f"team {assignment.team_id} does not exist in {assignment.organisation_id}"
            )
        key = (assignment.organisation_id, assignment.user_id)
        self._j.set(self._s.team_members, key, assignment)

    def unassign(self, organisation_id: str, user_id: str) -> None:
        self._j.delete(self._s.team_members, (organisation_id, user_id))

    def members(self, organisation_id: str, team_id: str) -> list[TeamMember]:
        found = [
            m
            for (org, _), m in self._s.team_members.items()
            if org == organisation_id and m.team_id == team_id
        ]
        return sorted(found, key=lambda m: m.user_id)

    def list(self, organisation_id: str) -> list[Team]:
        found = [t for (org, _), t in self._s.teams.items() if org == organisation_id]
        return sorted(found, key=lambda t: (t.name_key, t.id))
