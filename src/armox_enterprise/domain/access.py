"""Who may do what: the role → permission table, the one check, and the last-admin rule.

Every use case of the service declares the :class:`Permission` it needs; :func:`authorise` is
the only place that decides whether an actor has it.  Outsiders (not an active member of the
organisation) never get as far as a permission: the service answers them as if the
organisation did not exist, so its ids reveal nothing.

Adding a role means adding a row to :data:`ROLE_PERMISSIONS`; adding an operation means adding
a :class:`Permission` and naming it in the roles that hold it.

A permission may also be *scoped*: held for one team only, by an admin's delegation to a
member of that team (:data:`SCOPED_PERMISSIONS`; the grant is the ``manager`` flag of the
member's :class:`~armox_enterprise.domain.teams.TeamMember`).  The two roles stay; a team
manager is a member with a grant, and :func:`can` and :func:`authorise` take the operation's
team as their ``scope``.

Which credit requests an actor may see and decide is one rule, :func:`request_reach`: an
admin reaches every request, a team's manager those of their team's members, anyone their
own.  A request beyond an actor's reach is, for them, a request that does not exist.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from armox_enterprise.domain.organisation import Membership, Role
from armox_enterprise.domain.teams import TeamMember
from armox_enterprise.exceptions import LastAdminError, PermissionDenied

__all__ = [
    "ROLE_PERMISSIONS",
    "SCOPED_PERMISSIONS",
    "AdminChange",
    "Permission",
    "RequestReach",
    "TeamScope",
    "authorise",
    "can",
    "ensure_an_admin_remains",
    "request_reach",
]


class Permission(str, enum.Enum):
    """Something an active member may be allowed to do in their organisation."""

    VIEW_ORGANISATION = "view_organisation"
    """Read the organisation's name and settings."""
    MANAGE_SETTINGS = "manage_settings"
    """Change the allowance, join mode, seat limit, rollover and other settings."""
    MANAGE_DOMAINS = "manage_domains"
    """Claim, verify, remove and list email domains."""
    MANAGE_MEMBERS = "manage_members"
    """Invite, capture, admit, remove members, change roles and standing allotments."""
    MANAGE_POOL = "manage_pool"
    """Top up the pool, allocate credits to members and reclaim them, refund spends."""
    SPEND = "spend"
    """Spend one's own credits, reserve and resolve one's own holds."""
    RESOLVE_ANY_HOLD = "resolve_any_hold"
    """Capture or release another member's hold."""
    REQUEST_CREDITS = "request_credits"
    """Ask for more credits, cancel one's own request, see one's own requests."""
    DECIDE_REQUESTS = "decide_requests"
    """Approve or reject members' credit requests, and see all of them."""
    VIEW_OWN_USAGE = "view_own_usage"
    """Read one's own usage report."""
    VIEW_ALL_USAGE = "view_all_usage"
    """Read everyone's usage, the top consumers, the exports."""
    VIEW_DASHBOARD = "view_dashboard"
    """Read the admin dashboard, pool utilisation and request statistics."""
    VIEW_AUDIT_LOG = "view_audit_log"
    """Read who did what and when."""
    MANAGE_TEAMS = "manage_teams"
    """Create, rename and delete teams, assign members, fund and reclaim team budgets,
    delegate a team's management."""
    MANAGE_TEAM = "manage_team"
    """Allocate from a team's budget to its members, reclaim from them, decide their credit
    requests (scoped: a team manager holds it for their own team only)."""


_MEMBER: frozenset[Permission] = frozenset(
    {
        Permission.VIEW_ORGANISATION,
        Permission.SPEND,
        Permission.REQUEST_CREDITS,
        Permission.VIEW_OWN_USAGE,
    }
)

#: THE table of who may do what.  The brief's two roles: admins may do everything, members
#: spend, ask for credits and read their own figures.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(Permission),
        Role.MEMBER: _MEMBER,
    }
)


#: The permissions an admin may delegate to a member for one team (held through the member's
#: assignment to that team, never by a role of its own).
SCOPED_PERMISSIONS: frozenset[Permission] = frozenset({Permission.MANAGE_TEAM})


@attrs.frozen
class TeamScope:
    """The team an operation concerns, and the acting member's own assignment.

    Attributes:
        team_id: the team the operation acts on (``None``: no team, the pool's).
        grant: the actor's assignment to a team, with its ``manager`` grant (``None``: none).
    """

    team_id: str | None
    grant: TeamMember | None = None

    @property
    def delegated(self) -> bool:
        """Whether the actor was delegated this scope's team."""
        return (
            self.team_id is not None
            and self.grant is not None
            and self.grant.manager
            and self.grant.team_id == self.team_id
        )


def can(
    membership: Membership | None, permission: Permission, scope: TeamScope | None = None
) -> bool:
    """Return whether ``membership`` (``None``: an outsider) holds ``permission`` (in
    ``scope``, for a :data:`scoped <SCOPED_PERMISSIONS>` one: their role holds it, or they
    were delegated the scope's team)."""
    if membership is None or not membership.is_active:
        return False
    if permission in ROLE_PERMISSIONS[membership.role]:
        return True
    return (
        permission in SCOPED_PERMISSIONS
        and scope is not None
        and scope.delegated
        and scope.grant is not None
        and scope.grant.user_id == membership.user_id
        and scope.grant.organisation_id == membership.organisation_id
    )


def authorise(
    membership: Membership, permission: Permission, scope: TeamScope | None = None
) -> None:
    """Refuse unless the active ``membership`` holds ``permission`` (in ``scope``).

    Raises:
        PermissionDenied: it does not.
    """
    if not can(membership, permission, scope):
        if permission in SCOPED_PERMISSIONS:
            raise PermissionDenied(
                f"user {membership.user_id} is neither an admin of the organisation nor "
                "a manager of the team"
            )
        raise PermissionDenied(f"user {membership.user_id} is not an admin of the organisation")


@attrs.frozen
class RequestReach:
    """Which members' credit requests an actor sees and decides (:func:`request_reach`).

    Attributes:
        user_id: the actor (``None``: an outsider, who reaches no request).
        everyone: they decide every member's requests (their role holds
            :attr:`Permission.DECIDE_REQUESTS`).
        team_id: the team whose members' requests they decide as its delegated manager
            (``None``: none).
    """

    user_id: str | None
    everyone: bool = False
    team_id: str | None = None

    @property
    def decides_any(self) -> bool:
        """Whether they decide anyone's requests (an admin, or a team's manager)."""
        return self.everyone or self.team_id is not None

    def may_decide(self, requester: str, requester_team: str | None) -> bool:
        """Whether they may approve or reject a request of ``requester``, who is in
        ``requester_team`` (``None``: in no team)."""
        return self.everyone or (self.team_id is not None and requester_team == self.team_id)

    def may_see(self, requester: str, requester_team: str | None) -> bool:
        """Whether a request of ``requester`` (in ``requester_team``) exists for them: one
        they decide, or their own."""
        return self.may_withdraw(requester) or self.may_decide(requester, requester_team)

    def may_withdraw(self, requester: str) -> bool:
        """Whether they may cancel a request of ``requester``: only their own."""
        return self.user_id is not None and requester == self.user_id


def request_reach(membership: Membership | None, grant: TeamMember | None) -> RequestReach:
    """Return which credit requests ``membership`` reaches, given their own assignment to a
    team (``grant``, with its delegated ``manager`` flag; ``None``: in no team).

    An admin decides (and sees) every request; a member delegated their team's management
    decides (and sees) the requests of that team's members; every member sees and withdraws
    their own.  An outsider (``None``, or not active) reaches none, not even their own.
    """
    if membership is None or not membership.is_active:
        return RequestReach(user_id=None)
    if can(membership, Permission.DECIDE_REQUESTS):
        return RequestReach(membership.user_id, everyone=True)
    if grant is not None and can(
        membership, Permission.MANAGE_TEAM, TeamScope(grant.team_id, grant)
    ):
        return RequestReach(membership.user_id, team_id=grant.team_id)
    return RequestReach(membership.user_id)


class AdminChange(str, enum.Enum):
    """A change that takes an admin away: what :func:`ensure_an_admin_remains` guards."""

    DEMOTE = "demoted"
    REMOVE = "removed"


def ensure_an_admin_remains(target: Membership, active_admins: int, change: AdminChange) -> None:
    """Refuse to demote or remove the organisation's last active admin.

    Args:
        target: the membership the change applies to.
        active_admins: how many active admins the organisation has now.
        change: what is done to ``target``.

    Raises:
        LastAdminError: ``target`` is an admin and no other active admin would remain.
    """
    if target.role is Role.ADMIN and active_admins <= 1:
        raise LastAdminError(f"the organisation's last admin cannot be {change.value}")
