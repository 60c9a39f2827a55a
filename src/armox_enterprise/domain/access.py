"""Who may do what: the role → permission table, the one check, and the last-admin rule.

Every use case of the service declares the :class:`Permission` it needs; :func:`authorise` is
the only place that decides whether an actor has it.  Outsiders (not an active member of the
organisation) never get as far as a permission: the service answers them as if the
organisation did not exist, so its ids reveal nothing.

Adding a role means adding a row to :data:`ROLE_PERMISSIONS`; adding an operation means adding
a :class:`Permission` and naming it in the roles that hold it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from armox_enterprise.domain.organisation import Membership, Role
from armox_enterprise.exceptions import LastAdminError, PermissionDenied

__all__ = [
    "ROLE_PERMISSIONS",
    "AdminChange",
    "Permission",
    "authorise",
    "can",
    "ensure_an_admin_remains",
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


def can(membership: Membership | None, permission: Permission) -> bool:
    """Return whether ``membership`` (``None``: an outsider) holds ``permission``."""
    if membership is None or not membership.is_active:
        return False
    return permission in ROLE_PERMISSIONS[membership.role]


def authorise(membership: Membership, permission: Permission) -> None:
    """Refuse unless the active ``membership`` holds ``permission``.

    Raises:
        PermissionDenied: it does not.
    """
    if not can(membership, permission):
        raise PermissionDenied(f"user {membership.user_id} is not an admin of the organisation")


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
