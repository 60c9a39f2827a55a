"""Memberships on SQL: one active membership per user, kept by a table of its own.

A membership is an organisation's row, keyed ``(organisation_id, user_id)``.  The rule that
spans organisations, one active membership per user, lives in ``active_members``: one row per
user with an active membership, naming its organisation, keyed by the user id alone.  An
active membership's ``(organisation_id, active_user_id)`` is a foreign key to that row, so the
database refuses a second active membership whoever writes the SQL.  The repository writes the
user's row first when a membership becomes active (a second one, from any organisation, meets
the primary key: ``AlreadyMember``, also when two organisations race) and removes it after the
membership stops being active, in the same transaction.
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import membership_from_row, membership_values
from armox_enterprise.domain.directory import DirectoryLink
from armox_enterprise.domain.organisation import Membership, MemberStatus, Role
from armox_enterprise.exceptions import AlreadyExists, AlreadyMember, NotFound

__all__ = ["SqlMemberships"]

#: How often :meth:`SqlMemberships.active_for_user` reads again when the user moved between its
#: two statements (a removal and an enrolment elsewhere committed in between).
_READS = 4


class SqlMemberships(Repository):
    """The :class:`~armox_enterprise.ports.MembershipRepository` of the SQLAlchemy store."""

    def add(self, membership: Membership) -> None:
        """Store a new membership (``AlreadyMember`` if the user has an active one, or has a
        membership of this organisation already).

        A refused add leaves the unit of work to be rolled back, as every refused write does.
        """
        error = AlreadyMember(f"user {membership.user_id} already has a membership")
        if membership.is_active:
            self._insert_row(membership, error)
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
        """Return the user's active membership of any organisation, or ``None``.

        Two statements, each on one key: the user's row of ``active_members`` names the
        organisation, then the membership is read there.  If the user left that organisation
        between the two (and perhaps joined another), the row is read again.
        """
        seen: str | None = None
        for _ in range(_READS):
            organisation_id = self._organisation_of(user_id)
            if organisation_id is None or organisation_id == seen:
                return None
            found = self.get(organisation_id, user_id)
            if found is not None and found.is_active:
                return found
            seen = organisation_id
        return None

    def update(self, membership: Membership) -> None:
        """Store the membership's new state.

        Raises:
            AlreadyMember: it becomes active while the user has an active membership of
                another organisation.
            NotFound: there is no such membership.
        """
        t = self._t.memberships
        values = membership_values(membership)
        error = AlreadyMember(f"user {membership.user_id} is already an enterprise member")
        registered = membership.is_active and self._register(membership, error)
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
            if registered:
                self._unregister(membership)
            raise NotFound(f"user {membership.user_id} has no membership to update")
        if not membership.is_active:
            self._unregister(membership)

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

    # -- the directory's links -----------------------------------------------------------

    def link(self, organisation_id: str, user_id: str) -> DirectoryLink | None:
        """Return the directory's link to the user's membership, or ``None``."""
        t = self._t.directory_links
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.user_id == user_id)
        )
        return None if row is None else _link(row)

    def link_by_external_id(self, organisation_id: str, external_id: str) -> DirectoryLink | None:
        """Return the link holding ``external_id`` in the organisation (by its unique key;
        the column's binary collation on MariaDB compares it case-exactly), or ``None``."""
        t = self._t.directory_links
        row = self._db.one(
            select(t).where(t.c.organisation_id == organisation_id, t.c.external_id == external_id)
        )
        return None if row is None else _link(row)

    def links(self, organisation_id: str) -> builtins.list[DirectoryLink]:
        """Return the organisation's links, ordered by user id."""
        t = self._t.directory_links
        query = select(t).where(t.c.organisation_id == organisation_id).order_by(t.c.user_id)
        return [_link(row) for row in self._db.rows(query)]

    def put_link(self, link: DirectoryLink) -> None:
        """Store the link (an ``UPDATE`` of its row, else an ``INSERT``).

        Raises:
            AlreadyExists: the organisation's unique key on ``external_id`` refuses it.
        """
        t = self._t.directory_links
        error = AlreadyExists("another user of the organisation has this external_id")
        values = {"external_id": link.external_id, "deleted_at": link.deleted_at}
        count = self._db.write(
            update(t)
            .where(t.c.organisation_id == link.organisation_id, t.c.user_id == link.user_id)
            .values(**values),
            error=error,
        )
        if not count:
            self._db.write(
                insert(t).values(
                    organisation_id=link.organisation_id, user_id=link.user_id, **values
                ),
                error=error,
            )

    # -- the user's row in active_members ------------------------------------------------

    def _organisation_of(self, user_id: str) -> str | None:
        """The organisation of the user's active membership, by ``active_members``."""
        a = self._t.active_members
        row = self._db.one(select(a.c.organisation_id).where(a.c.user_id == user_id))
        return None if row is None else str(row[0])

    def _register(self, membership: Membership, error: AlreadyMember) -> bool:
        """Make the user's row name the membership's organisation; return whether it is new.

        Raises:
            AlreadyMember: the row names another organisation (or a concurrent call wrote
                one first).
        """
        current = self._organisation_of(membership.user_id)
        if current == membership.organisation_id:
            return False
        if current is not None:
            raise error
        self._insert_row(membership, error)
        return True

    def _insert_row(self, membership: Membership, error: AlreadyMember) -> None:
        """Write the user's row naming the membership's organisation (``error`` if the user
        has one already: the primary key is the user id)."""
        a = self._t.active_members
        values = {"user_id": membership.user_id, "organisation_id": membership.organisation_id}
        self._db.write(insert(a).values(**values), error=error)

    def _unregister(self, membership: Membership) -> None:
        """Remove the user's row, if it names the membership's organisation."""
        a = self._t.active_members
        self._db.write(
            delete(a).where(
                a.c.user_id == membership.user_id,
                a.c.organisation_id == membership.organisation_id,
            )
        )


def _link(row: Row[Any]) -> DirectoryLink:
    m = row._mapping
    return DirectoryLink(m["organisation_id"], m["user_id"], m["external_id"], m["deleted_at"])
