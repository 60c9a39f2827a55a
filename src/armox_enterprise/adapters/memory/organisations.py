"""The memory store's organisations and memberships.

A user's one active membership is kept by an index of its own (``active_member_of``), so
the check is a look-up, made under the store's lock like every other write.
"""

from __future__ import annotations

import builtins
from datetime import datetime

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.domain.directory import DirectoryLink
from armox_enterprise.domain.organisation import Membership, Organisation
from armox_enterprise.exceptions import AlreadyExists, AlreadyMember, NotFound, StorageError

__all__ = ["MemoryMemberships", "MemoryOrganisations"]


class MemoryOrganisations(MemoryRepository):
    """The :class:`~armox_enterprise.ports.OrganisationRepository` of the memory store."""

    def add(self, organisation: Organisation) -> None:
        if organisation.id in self._s.organisations:
            raise StorageError(f"organisation {organisation.id} already exists")
        self._j.set(self._s.organisations, organisation.id, organisation)

    def get(self, organisation_id: str, *, for_update: bool = False) -> Organisation | None:
        # Nothing to lock: the unit of work holds the whole store's lock while it is open.
        return self._s.organisations.get(organisation_id)

    def update(self, organisation: Organisation) -> None:
        if organisation.id not in self._s.organisations:
            raise NotFound(f"organisation {organisation.id} does not exist")
        self._j.set(self._s.organisations, organisation.id, organisation)

    def all_ids(self) -> list[str]:
        return sorted(self._s.organisations)

    def due_for_turnover(self, instant: datetime) -> list[str]:
        return sorted(
            org.id for org in self._s.organisations.values() if org.current_period.end <= instant
        )


class MemoryMemberships(MemoryRepository):
    """The :class:`~armox_enterprise.ports.MembershipRepository` of the memory store."""

    def add(self, membership: Membership) -> None:
        holder = self._s.active_member_of.get(membership.user_id)
        if holder is not None:
            raise AlreadyMember(f"user {membership.user_id} is already an enterprise member")
        key = (membership.organisation_id, membership.user_id)
        if key in self._s.memberships:
            raise AlreadyMember(f"user {membership.user_id} already has a membership here")
        self._put("memberships", self._s.memberships, key, membership)
        if membership.is_active:
            self._j.set(self._s.active_member_of, membership.user_id, membership.organisation_id)

    def get(self, organisation_id: str, user_id: str) -> Membership | None:
        return self._s.memberships.get((organisation_id, user_id))

    def active_for_user(self, user_id: str) -> Membership | None:
        org_id = self._s.active_member_of.get(user_id)
        return None if org_id is None else self._s.memberships[(org_id, user_id)]

    def update(self, membership: Membership) -> None:
        key = (membership.organisation_id, membership.user_id)
        if key not in self._s.memberships:
            raise NotFound(f"user {membership.user_id} has no membership to update")
        self._put("memberships", self._s.memberships, key, membership)
        if membership.is_active:
            self._j.set(self._s.active_member_of, membership.user_id, membership.organisation_id)
        elif self._s.active_member_of.get(membership.user_id) == membership.organisation_id:
            self._j.delete(self._s.active_member_of, membership.user_id)

    def list(self, organisation_id: str, *, active_only: bool = True) -> list[Membership]:
        found = [
            m for m in self._of("memberships", organisation_id) if m.is_active or not active_only
        ]
        return sorted(found, key=lambda m: (m.joined_at, m.user_id))

    def count_active(self, organisation_id: str, *, admins_only: bool = False) -> int:
        return sum(1 for m in self.list(organisation_id) if not admins_only or m.is_admin)

    def link(self, organisation_id: str, user_id: str) -> DirectoryLink | None:
        return self._s.directory_links.get((organisation_id, user_id))

    def link_by_external_id(self, organisation_id: str, external_id: str) -> DirectoryLink | None:
        user_id = self._s.external_ids.get((organisation_id, external_id))
        return None if user_id is None else self._s.directory_links[(organisation_id, user_id)]

    def links(self, organisation_id: str) -> builtins.list[DirectoryLink]:
        return sorted(self._of("directory_links", organisation_id), key=lambda k: k.user_id)

    def put_link(self, link: DirectoryLink) -> None:
        key = (link.organisation_id, link.user_id)
        if key not in self._s.memberships:
            raise NotFound(f"user {link.user_id} has no membership to link")
        if link.external_id is not None:
            holder = self._s.external_ids.get((link.organisation_id, link.external_id))
            if holder is not None and holder != link.user_id:
                raise AlreadyExists("another user of the organisation has this external_id")
        old = self._s.directory_links.get(key)
        if old is not None and old.external_id is not None:
            self._j.delete(self._s.external_ids, (link.organisation_id, old.external_id))
        if link.external_id is not None:
            self._j.set(
                self._s.external_ids, (link.organisation_id, link.external_id), link.user_id
            )
        self._put("directory_links", self._s.directory_links, key, link)
