"""The memberships repository's contract: one membership per organisation and user, one active
membership per user, removal and reactivation, lists and counts."""

from __future__ import annotations

import attrs
import pytest

from armox_enterprise.domain.organisation import (
    MemberStatus,
    Role,
)
from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import (
    AlreadyMember,
)
from armox_enterprise.ports import Store
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    a_membership,
    an_organisation,
    at,
)

__all__ = ["MembershipContract"]


class MembershipContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.MembershipRepository`.

    Needs: organisations (for the foreign key) and memberships.
    """

    def _with_members(self, *users: str) -> tuple[Store, str]:
        """Return a new store with one organisation whose members are ``users``."""
        store, org_id = self._with_organisation()
        with store.unit_of_work() as uow:
            for minutes, user in enumerate(users):
                uow.memberships.add(a_membership(org_id, user, minutes=minutes))
            uow.commit()
        return store, org_id

    def test_membership_add_and_get(self) -> None:
        """An added membership reads back by organisation and user, and as the user's active
        one."""
        store, org_id = self._with_organisation()
        membership = a_membership(org_id, "ann", role=Role.ADMIN)
        with store.unit_of_work() as uow:
            uow.memberships.add(membership)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.memberships.get(org_id, "ann") == membership
            assert uow.memberships.active_for_user("ann") == membership
            assert uow.memberships.get(org_id, "bob") is None
            assert uow.memberships.active_for_user("bob") is None

    def test_second_active_membership_raises_already_member(self) -> None:
        """A user with an active membership cannot get another, here or elsewhere."""
        store, org_id = self._with_members("ann")
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(other_id, name="Beta"))
            uow.commit()
        for target in (org_id, other_id):
            with store.unit_of_work() as uow, pytest.raises(AlreadyMember):
                uow.memberships.add(a_membership(target, "ann", minutes=5))
        with store.unit_of_work() as uow:
            active = uow.memberships.active_for_user("ann")
            assert active is not None
            assert active.organisation_id == org_id
            assert uow.memberships.get(other_id, "ann") is None

    def test_removed_membership_frees_the_user(self) -> None:
        """A removed membership is kept but no longer active, and the user may join another
        organisation."""
        store, org_id = self._with_members("ann")
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(other_id, name="Beta"))
            current = uow.memberships.get(org_id, "ann")
            assert current is not None
            uow.memberships.update(
                attrs.evolve(current, status=MemberStatus.REMOVED, removed_at=at(10))
            )
            uow.commit()
        with store.unit_of_work() as uow:
            removed = uow.memberships.get(org_id, "ann")
            assert removed is not None
            assert (removed.status, removed.removed_at) == (MemberStatus.REMOVED, at(10))
            assert uow.memberships.active_for_user("ann") is None
            uow.memberships.add(a_membership(other_id, "ann", minutes=20))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.memberships.active_for_user("ann") == a_membership(
                other_id, "ann", minutes=20
            )
            assert uow.memberships.get(org_id, "ann") == removed

    def test_removed_membership_is_reactivated_by_update_not_by_add(self) -> None:
        """A removed membership comes back in its organisation by update; add refuses it."""
        store, org_id = self._with_members("ann", "bob")
        with store.unit_of_work() as uow:
            for user in ("ann", "bob"):
                current = uow.memberships.get(org_id, user)
                assert current is not None
                uow.memberships.update(attrs.evolve(current, status=MemberStatus.REMOVED))
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(AlreadyMember):
            uow.memberships.add(a_membership(org_id, "bob", minutes=20))
        with store.unit_of_work() as uow:
            uow.memberships.update(a_membership(org_id, "ann", minutes=20))
            uow.memberships.update(a_membership(org_id, "bob", minutes=20))
            uow.commit()
        with store.unit_of_work() as uow:
            for user in ("ann", "bob"):
                assert uow.memberships.active_for_user(user) == a_membership(
                    org_id, user, minutes=20
                )
            assert uow.memberships.count_active(org_id) == 2

    def test_memberships_list_by_join_time_then_user(self) -> None:
        """Memberships list by join time then user id, active ones only unless asked, and
        count active members and admins."""
        store, org_id = self._with_organisation()
        with store.unit_of_work() as uow:
            uow.memberships.add(a_membership(org_id, "dan", minutes=3))
            uow.memberships.add(a_membership(org_id, "cat", minutes=3, role=Role.ADMIN))
            uow.memberships.add(a_membership(org_id, "bob", minutes=1))
            uow.memberships.add(a_membership(org_id, "ann", minutes=2, role=Role.ADMIN))
            uow.commit()
        with store.unit_of_work() as uow:
            ann = uow.memberships.get(org_id, "ann")
            assert ann is not None
            uow.memberships.update(attrs.evolve(ann, status=MemberStatus.REMOVED))
            uow.commit()
        with store.unit_of_work() as uow:
            assert [m.user_id for m in uow.memberships.list(org_id)] == ["bob", "cat", "dan"]
            every = uow.memberships.list(org_id, active_only=False)
            assert [m.user_id for m in every] == ["bob", "ann", "cat", "dan"]
            assert uow.memberships.count_active(org_id) == 3
            assert uow.memberships.count_active(org_id, admins_only=True) == 1
            assert uow.memberships.list(new_id(T0)) == []
