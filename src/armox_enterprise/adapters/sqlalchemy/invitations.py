"""Invitations on SQL, one per organisation and (case-insensitive) email address."""

from __future__ import annotations

from sqlalchemy import and_, insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import invitation_from_row, invitation_values
from armox_enterprise.domain.organisation import Invitation
from armox_enterprise.domain.values import EmailAddress

__all__ = ["SqlInvitations"]


class SqlInvitations(Repository):
    """The :class:`~armox_enterprise.ports.InvitationRepository` of the SQLAlchemy store."""

    def put(self, invitation: Invitation) -> None:
        """Store the invitation, replacing one to the same address."""
        t = self._t.invitations
        values = invitation_values(invitation)
        organisation_id, key = values.pop("organisation_id"), values.pop("email_key")
        where = and_(t.c.organisation_id == organisation_id, t.c.email_key == key)
        if not self._db.write(update(t).where(where).values(**values)):
            self._db.write(
                insert(t).values(organisation_id=organisation_id, email_key=key, **values)
            )

    def open_for(self, email: EmailAddress) -> list[Invitation]:
        """Return the invitations to ``email`` not yet accepted, oldest first.

        The one query of invitations across organisations (by the index on ``email_key``):
        on a database distributed by organisation it asks every shard.
        """
        t = self._t.invitations
        query = (
            select(t)
            .where(t.c.email_key == str(email).lower(), t.c.accepted_at.is_(None))
            .order_by(t.c.created_at, t.c.organisation_id)
        )
        return [invitation_from_row(row) for row in self._db.rows(query)]

    def list(self, organisation_id: str) -> list[Invitation]:
        """Return the organisation's invitations, oldest first."""
        t = self._t.invitations
        query = (
            select(t)
            .where(t.c.organisation_id == organisation_id)
            .order_by(t.c.created_at, t.c.email_key)
        )
        return [invitation_from_row(row) for row in self._db.rows(query)]
