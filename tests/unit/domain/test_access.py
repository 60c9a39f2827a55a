"""Who may do what: the role table, the one check, and the last-admin rule."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
import pytest

from armox_enterprise.domain.access import (
    ROLE_PERMISSIONS,
    AdminChange,
    Permission,
    authorise,
    can,
    ensure_an_admin_remains,
)
from armox_enterprise.domain.organisation import Membership, MemberStatus, Role
from armox_enterprise.domain.values import EmailAddress
from armox_enterprise.exceptions import Conflict, LastAdminError, PermissionDenied

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
P = Permission

#: What the design gives a plain member: view the organisation, spend, ask, read own usage.
MEMBER_PERMISSIONS = {P.VIEW_ORGANISATION, P.SPEND, P.REQUEST_CREDITS, P.VIEW_OWN_USAGE}


def membership(role: Role, *, active: bool = True, user_id: str = "jane") -> Membership:
    """Jane's membership of the test organisation with ``role``."""
    member = Membership(
        "org", user_id, EmailAddress.parse(f"{user_id}@acme.example"), "Jane", role, NOW
    )
    if active:
        return member
    return attrs.evolve(member, status=MemberStatus.REMOVED, removed_at=NOW)


def expected(role: Role, permission: Permission) -> bool:
    """The design's answer: admins may do everything, members only their four things."""
    return role is Role.ADMIN or permission in MEMBER_PERMISSIONS


# ---------------------------------------------------------------------------- the table


def test_every_role_has_a_row() -> None:
    """No role is left out of the table."""
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_admins_hold_every_permission() -> None:
    """An admin may do everything there is to do."""
    assert ROLE_PERMISSIONS[Role.ADMIN] == set(Permission)


def test_members_hold_exactly_their_four_permissions() -> None:
    """A member views the organisation, spends, requests credits and reads their own usage."""
    assert ROLE_PERMISSIONS[Role.MEMBER] == MEMBER_PERMISSIONS


def test_the_table_cannot_be_changed_at_run_time() -> None:
    """The table is a read-only mapping of frozen sets."""
    with pytest.raises(TypeError):
        ROLE_PERMISSIONS[Role.MEMBER] = frozenset(Permission)  # type: ignore[index]
    assert all(isinstance(p, frozenset) for p in ROLE_PERMISSIONS.values())


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", list(Role))
def test_every_role_and_permission_follows_the_table(role: Role, permission: Permission) -> None:
    """The whole matrix: can is true, and authorise silent, exactly where the table says."""
    allowed = expected(role, permission)
    assert can(membership(role), permission) is allowed
    if allowed:
        authorise(membership(role), permission)
    else:
        with pytest.raises(PermissionDenied, match="jane"):
            authorise(membership(role), permission)


def test_an_outsider_holds_no_permission() -> None:
    """Someone with no membership (``None``) may do nothing."""
    assert [p for p in Permission if can(None, p)] == []


@pytest.mark.parametrize("role", list(Role))
def test_a_removed_membership_holds_no_permission(role: Role) -> None:
    """Leaving the organisation takes every permission away, an admin's too."""
    assert [p for p in Permission if can(membership(role, active=False), p)] == []


@pytest.mark.parametrize("role", list(Role))
def test_authorise_refuses_a_removed_member(role: Role) -> None:
    """A removed admin cannot even view the organisation."""
    with pytest.raises(PermissionDenied):
        authorise(membership(role, active=False), P.VIEW_ORGANISATION)


# ---------------------------------------------------------------------------- last admin


@pytest.mark.parametrize("change", list(AdminChange))
def test_the_last_admin_cannot_be_demoted_or_removed(change: AdminChange) -> None:
    """With one active admin, demoting or removing them fails, and the message says which."""
    words = {AdminChange.DEMOTE: "demoted", AdminChange.REMOVE: "removed"}
    with pytest.raises(LastAdminError) as caught:
        ensure_an_admin_remains(membership(Role.ADMIN), 1, change)
    assert str(caught.value) == f"the organisation's last admin cannot be {words[change]}"
    assert isinstance(caught.value, Conflict)


@pytest.mark.parametrize("change", list(AdminChange))
def test_an_organisation_with_no_admin_left_refuses_too(change: AdminChange) -> None:
    """A count at or below one (however it came about) refuses the change."""
    with pytest.raises(LastAdminError):
        ensure_an_admin_remains(membership(Role.ADMIN), 0, change)


@pytest.mark.parametrize("admins", [2, 3])
@pytest.mark.parametrize("change", list(AdminChange))
def test_an_admin_may_go_while_another_remains(change: AdminChange, admins: int) -> None:
    """With a second active admin the change is fine."""
    ensure_an_admin_remains(membership(Role.ADMIN), admins, change)


@pytest.mark.parametrize("admins", [0, 1, 2])
@pytest.mark.parametrize("change", list(AdminChange))
def test_a_plain_member_may_always_go(change: AdminChange, admins: int) -> None:
    """Removing (or 'demoting') a member never touches the admin count."""
    ensure_an_admin_remains(membership(Role.MEMBER), admins, change)
