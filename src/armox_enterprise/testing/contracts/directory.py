"""The directory's use cases on a store: provisioning, deactivation and reactivation, each
idempotent, a deactivation that is exactly an admin's removal, the directory's own id of each
user (unique in an organisation) and a deletion that hides the user from the directory."""

from __future__ import annotations

import pytest

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.directory import DirectoryLink, DirectoryUser
from armox_enterprise.domain.ledger import POOL, HoldStatus, member_account
from armox_enterprise.domain.organisation import MemberStatus, Role
from armox_enterprise.domain.reasons import EnrolmentReason
from armox_enterprise.domain.requests import RequestStatus
from armox_enterprise.exceptions import (
    AlreadyExists,
    AlreadyMember,
    EnrolmentRefused,
    LastAdminError,
    MemberNotFound,
)
from armox_enterprise.ports import Store
from armox_enterprise.testing.contracts.base import ContractBase

__all__ = ["DirectoryContract"]


class DirectoryContract(ContractBase):
    """The cases of the directory's use cases (``provision_member`` and its kin).

    Needs: every repository.
    """

    def test_directory_provisions_once(self) -> None:
        """Provisioning a user twice makes one active membership, as a member with no
        credits, whatever the email's domain; the second call writes nothing."""
        scenario = self._scenario(members=1)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        first = service.provision_member(org_id, "u-9", "jo@elsewhere.example", display_name="Jo")
        assert first.changed
        assert (first.membership.role, first.membership.is_active) == (Role.MEMBER, True)
        before = self._snapshot(store, org_id)
        again = service.provision_member(org_id, "u-9", "jo@elsewhere.example", display_name="Jo")
        assert not again.changed
        assert again.membership == first.membership
        assert self._snapshot(store, org_id) == before
        with store.unit_of_work() as uow:
            active = [m.user_id for m in uow.memberships.list(org_id)]
        assert active.count("u-9") == 1
        assert self._account(store, org_id, member_account("u-9")).available == 0
        assert service.profile("u-9").is_enterprise

    def test_directory_provisioning_keeps_the_seat_limit_and_one_organisation(self) -> None:
        """A provisioned user over the seat limit gets the seat-limit refusal, and a member of
        another organisation AlreadyMember; neither writes anything."""
        scenario = self._scenario(members=1)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        service.update_settings("admin", org_id, seat_limit=2)
        before = self._snapshot(store, org_id)
        with pytest.raises(EnrolmentRefused) as refused:
            service.provision_member(org_id, "u-9", "jo@acme.example")
        assert refused.value.reason is EnrolmentReason.SEAT_LIMIT_REACHED
        other = service.create_organisation(
            name="Globex",
            admin_user_id="gina",
            admin_email="gina@globex.example",
            admin_display_name="Gina",
            monthly_allowance=10,
        )
        with pytest.raises(AlreadyMember):
            service.provision_member(other.id, "member-1", "member-1@acme.example")
        assert self._snapshot(store, org_id) == before

    def test_directory_deactivation_is_a_removal(self) -> None:
        """Deactivating returns the member's credits to the pool, cancels their open request,
        leaves their hold capturable, and a second deactivation writes nothing."""
        scenario = self._scenario(members=1, allowance=100, allocate=60)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        hold = service.reserve("member-1", org_id, 15, generation_id="gen-1")
        request = service.request_credits("member-1", org_id, 10)
        result = service.deactivate_member(org_id, "member-1")
        assert result.changed
        assert result.membership.status is MemberStatus.REMOVED
        with store.unit_of_work() as uow:
            stored = uow.requests.get(org_id, request.id)
            assert stored is not None
            assert stored.status is RequestStatus.CANCELLED
        assert self._account(store, org_id, POOL).available == 100 - 15
        before = self._snapshot(store, org_id)
        assert not service.deactivate_member(org_id, "member-1").changed
        assert self._snapshot(store, org_id) == before
        captured = service.capture_hold("member-1", org_id, hold.id, amount=10)
        assert captured.status is HoldStatus.CAPTURED
        assert self._account(store, org_id, POOL).available == 100 - 10
        assert not service.profile("member-1").is_enterprise
        assert service.reconcile(org_id) == []

    def test_directory_deactivation_leaves_what_an_admins_removal_leaves(self) -> None:
        """The same organisation, one member removed by an admin and the other deactivated by
        the directory: the same balances, request statuses, holds and memberships."""

        def outcome(deactivate: bool) -> tuple[object, ...]:
            scenario = self._scenario(members=1, allowance=100, allocate=60)
            service, org_id, store = scenario.service, scenario.org_id, scenario.store
            service.reserve("member-1", org_id, 15, generation_id="gen-1")
            service.request_credits("member-1", org_id, 10)
            if deactivate:
                service.deactivate_member(org_id, "member-1")
            else:
                service.remove_member("admin", org_id, "member-1")
            with store.unit_of_work() as uow:
                return (
                    [(a.code, a.available, a.closed) for a in uow.ledger.accounts(org_id)],
                    [r.status for r in uow.requests.list(org_id)],
                    [(h.user_id, h.amount) for h in uow.holds.pending(org_id)],
                    [
                        (m.user_id, m.status)
                        for m in uow.memberships.list(org_id, active_only=False)
                    ],
                    [e.name for e in uow.events.list(org_id, limit=500)],
                )

        assert outcome(deactivate=True) == outcome(deactivate=False)

    def test_directory_deactivation_keeps_the_last_admin(self) -> None:
        """The last active admin cannot be deactivated; a user never in the organisation is
        MemberNotFound."""
        scenario = self._scenario(members=1)
        service, org_id = scenario.service, scenario.org_id
        with pytest.raises(LastAdminError):
            service.deactivate_member(org_id, "admin")
        with pytest.raises(MemberNotFound):
            service.deactivate_member(org_id, "stranger")
        with pytest.raises(MemberNotFound):
            service.reactivate_member(org_id, "stranger")

    def test_directory_reactivation_restores_the_membership_not_the_credits(self) -> None:
        """A reactivated admin comes back active as a member with no credits; a second call
        writes nothing."""
        scenario = self._scenario(members=1, allowance=100, allocate=40)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        service.change_role("admin", org_id, "member-1", Role.ADMIN)
        service.deactivate_member(org_id, "member-1")
        back = service.reactivate_member(org_id, "member-1")
        assert back.changed
        assert (back.membership.role, back.membership.is_active) == (Role.MEMBER, True)
        assert back.membership.email == service.directory_member(org_id, "member-1").email
        assert self._account(store, org_id, member_account("member-1")).available == 0
        assert self._account(store, org_id, POOL).available == 100
        before = self._snapshot(store, org_id)
        assert not service.reactivate_member(org_id, "member-1").changed
        assert self._snapshot(store, org_id) == before
        service.allocate_credits("admin", org_id, "member-1", 5)
        assert service.reconcile(org_id) == []

    def test_directory_updates_an_active_members_details(self) -> None:
        """Provisioning an active member with another address changes it and records
        MemberDetailsChanged; role and credits stay."""
        scenario = self._scenario(members=1, allocate=30)
        service, org_id = scenario.service, scenario.org_id
        seen: list[ev.Event] = []
        service.subscribe(seen.append)
        changed = service.provision_member(org_id, "member-1", "m1@acme-group.example")
        assert changed.changed
        assert str(changed.membership.email) == "m1@acme-group.example"
        assert changed.membership.display_name == "Member-1"
        assert [type(e) for e in seen] == [ev.MemberDetailsChanged]
        assert self._account(scenario.store, org_id, member_account("member-1")).available == 30
        listed = {m.user_id: m.is_active for m in service.directory_members(org_id)}
        assert listed == {"admin": True, "member-1": True}

    def test_directory_keeps_the_external_id(self) -> None:
        """The external id given on provisioning is stored and read back; provisioning again
        without one keeps it, with another changes it (the call changed something), ``""``
        removes it; a deactivation may change it too."""
        scenario = self._scenario(members=1)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        first = service.provision_member(org_id, "u-9", "jo@else.example", external_id="00u9")
        assert first.external_id == "00u9"
        assert service.directory_user(org_id, "u-9").external_id == "00u9"
        before = self._snapshot(store, org_id)
        kept = service.provision_member(org_id, "u-9", "jo@else.example")
        assert (kept.changed, kept.external_id) == (False, "00u9")
        assert self._snapshot(store, org_id) == before
        moved = service.provision_member(org_id, "u-9", "jo@else.example", external_id="Ext-9")
        assert (moved.changed, moved.external_id) == (True, "Ext-9")
        with store.unit_of_work() as uow:
            assert uow.memberships.link_by_external_id(org_id, "00u9") is None
            assert uow.memberships.link_by_external_id(org_id, "ext-9") is None  # case-exact
            assert uow.memberships.link_by_external_id(org_id, "Ext-9") == DirectoryLink(
                org_id, "u-9", "Ext-9"
            )
        away = service.deactivate_member(org_id, "u-9", external_id="away-9")
        assert (away.membership.is_active, away.external_id) == (False, "away-9")
        again = service.deactivate_member(org_id, "u-9", external_id="away-9")
        assert not again.changed
        cleared = service.deactivate_member(org_id, "u-9", external_id="")
        assert (cleared.changed, cleared.external_id) == (True, None)
        users = {u.membership.user_id: u.external_id for u in service.directory_users(org_id)}
        assert users == {"admin": None, "member-1": None, "u-9": None}

    def test_directory_external_ids_are_unique_per_organisation(self) -> None:
        """A second user of the organisation cannot take an external id (AlreadyExists, on
        provisioning, an update and a deactivation, writing nothing); another organisation
        may use the same one."""
        scenario = self._scenario(members=1)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        service.provision_member(org_id, "u-9", "jo@else.example", external_id="shared")
        before = self._snapshot(store, org_id)
        with pytest.raises(AlreadyExists):
            service.provision_member(org_id, "u-10", "sam@else.example", external_id="shared")
        with pytest.raises(AlreadyExists):
            service.provision_member(
                org_id, "member-1", "member-1@acme.example", external_id="shared"
            )
        with pytest.raises(AlreadyExists):
            service.deactivate_member(org_id, "member-1", external_id="shared")
        assert self._snapshot(store, org_id) == before
        with store.unit_of_work() as uow:
            assert uow.memberships.get(org_id, "u-10") is None
            holder = uow.memberships.link_by_external_id(org_id, "shared")
            assert holder is not None
            assert holder.user_id == "u-9"
        other = service.create_organisation(
            name="Globex",
            admin_user_id="gina",
            admin_email="gina@globex.example",
            admin_display_name="Gina",
            monthly_allowance=10,
        )
        elsewhere = service.provision_member(
            other.id, "g-1", "g@else.example", external_id="shared"
        )
        assert elsewhere.external_id == "shared"

    def test_directory_link_store_refuses_a_taken_external_id(self) -> None:
        """The store's own key refuses a link naming another user's external id
        (AlreadyExists), whatever the use cases check first; links list by user id."""
        scenario = self._scenario(members=2)
        store, org_id = scenario.store, scenario.org_id
        with store.unit_of_work() as uow:
            uow.memberships.put_link(DirectoryLink(org_id, "member-2", "ext"))
            uow.memberships.put_link(DirectoryLink(org_id, "member-1", None))
            uow.commit()
        with pytest.raises(AlreadyExists), store.unit_of_work() as uow:
            uow.memberships.put_link(DirectoryLink(org_id, "member-1", "ext"))
        with store.unit_of_work() as uow:
            assert uow.memberships.links(org_id) == [
                DirectoryLink(org_id, "member-1", None),
                DirectoryLink(org_id, "member-2", "ext"),
            ]
            assert uow.memberships.link(org_id, "admin") is None

    def test_directory_deletion_hides_the_user_and_keeps_the_history(self) -> None:
        """A deletion is a removal (credits back, request cancelled, hold capturable) that
        the directory's calls then do not find (MemberNotFound) nor list, its external id let
        go; the membership stays, removed; provisioning brings the user back as a member."""
        scenario = self._scenario(members=1, allowance=100, allocate=60)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        service.provision_member(org_id, "member-1", "member-1@acme.example", external_id="m1")
        hold = service.reserve("member-1", org_id, 15, generation_id="gen-1")
        request = service.request_credits("member-1", org_id, 10)
        deleted = service.delete_member(org_id, "member-1")
        assert deleted.changed
        assert deleted.membership.status is MemberStatus.REMOVED
        assert self._account(store, org_id, POOL).available == 100 - 15
        with store.unit_of_work() as uow:
            stored = uow.requests.get(org_id, request.id)
            assert stored is not None
            assert stored.status is RequestStatus.CANCELLED
            kept = uow.memberships.get(org_id, "member-1")
            assert kept is not None
            assert kept.status is MemberStatus.REMOVED
            assert uow.memberships.link_by_external_id(org_id, "m1") is None
        for call in (
            service.directory_member,
            service.directory_user,
            service.deactivate_member,
            service.reactivate_member,
            service.delete_member,
        ):
            with pytest.raises(MemberNotFound):
                call(org_id, "member-1")
        assert [m.user_id for m in service.directory_members(org_id)] == ["admin"]
        assert [u.membership.user_id for u in service.directory_users(org_id)] == ["admin"]
        captured = service.capture_hold("member-1", org_id, hold.id, amount=10)
        assert captured.status is HoldStatus.CAPTURED
        back = service.provision_member(org_id, "member-1", "member-1@acme.example")
        assert back.changed
        assert (back.membership.is_active, back.membership.role, back.external_id) == (
            True,
            Role.MEMBER,
            None,
        )
        assert service.directory_user(org_id, "member-1") == DirectoryUser(back.membership)
        assert self._account(store, org_id, member_account("member-1")).available == 0
        assert service.reconcile(org_id) == []

    def test_directory_deletes_a_deactivated_member(self) -> None:
        """Deleting a member the directory deactivated before writes no second removal (the
        same removal events) and hides them; the last admin cannot be deleted."""
        scenario = self._scenario(members=1)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        service.deactivate_member(org_id, "member-1")
        with store.unit_of_work() as uow:
            events = len(uow.events.list(org_id, limit=500))
        assert service.delete_member(org_id, "member-1").membership.status is MemberStatus.REMOVED
        with store.unit_of_work() as uow:
            assert len(uow.events.list(org_id, limit=500)) == events
        with pytest.raises(MemberNotFound):
            service.directory_member(org_id, "member-1")
        with pytest.raises(LastAdminError):
            service.delete_member(org_id, "admin")
        assert service.directory_member(org_id, "admin").is_active

    @staticmethod
    def _snapshot(store: Store, org_id: str) -> tuple[object, ...]:
        """What a call that changes nothing leaves as it was."""
        with store.unit_of_work() as uow:
            return (
                uow.memberships.list(org_id, active_only=False),
                uow.memberships.links(org_id),
                uow.ledger.accounts(org_id),
                len(uow.ledger.transfers(org_id)),
                len(uow.events.list(org_id, limit=500)),
                uow.requests.list(org_id),
            )
