"""Memberships on SQL: a unique ``active_user_id`` keeps one active membership per user."""

from __future__ import annotations

from sqlalchemy import func, insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import membership_from_row, membership_values
from armox_enterprise.domain.organisation import Membership, MemberStatus, Role
from armox_enterprise.exceptions import AlreadyMember, NotFound

__all__ = ["SqlMemberships"]


class SqlMemberships(Repository):
    """The :class:`~armox_enterprise.ports.MembershipRepository` of the SQLAlchemy store."""

    def add(self, membership: Membership) -> None:
        """Store a new membership (``AlreadyMember`` if the user has an active one)."""
        error = AlreadyMember(f"user {membership.user_id} already has a membership")
        self._db.write(
            insert(self._t.memberships).values(**membership_values(membership)), error=error
        )

    def get(self, organisation_id: str, user_id: str) -> Membership | None:
        """Return the user's membership of the organisation (active or not), or ``None``."""
        t = self._t.memberships
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.user_id == user_id)
        )
        return None if row is None else membership_from_row(row)

    def active_for_user(self, user_id: str) -> Membership | None:
        """Return the user's active membership of any organisation, or ``None``."""
        t = self._t.memberships
        row = self._db.one(select(t).where(t.c.active_user_id == user_id))
        return None if row is None else membership_from_row(row)

    def update(self, membership: Membership) -> None:
        """Store the membership's new state."""
        t = self._t.memberships
        values = membership_values(membership)
        error = AlreadyMember(f"user {membership.user_id} is already an enterprise member")
        count = self._db.write(
            update(t)
            .where(
                t.c.organisation_id == membership.organisation_id,
                t.c.user_id == membership.user_id,
            )
            .values(**values),
            error=error,
        )
        if not count:
            raise NotFound(f"user {membership.user_id} has no membership to update")

    def list(self, organisation_id: str, *, active_only: bool = True) -> list[Membership]:
        """Return the organisation's memberships in the order members joined."""
        t = self._t.memberships
        query = select(t).where(t.c.organisation_id == organisation_id)
        if active_only:
            query = query.where(t.c.status == MemberStatus.ACTIVE.value)
        query = query.order_by(t.c.joined_at, t.c.user_id)
        return [membership_from_row(row) for row in self._db.rows(query)]

    def count_active(self, organisation_id: str, *, admins_only: bool = False) -> int:
        """Return how many active members (or active admins) the organisation has."""
        t = self._t.memberships
        query = select(func.count()).where(
            t.c.organisation_id == organisation_id, t.c.status == MemberStatus.ACTIVE.value
        )
        if admins_only:
            query = query.where(t.c.role == Role.ADMIN.value)
        row = self._db.one(query)
        return int(row[0]) if row is not None else 0
