"""Organisations on SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import organisation_from_row, organisation_values
from armox_enterprise.domain.organisation import Organisation
from armox_enterprise.exceptions import NotFound

__all__ = ["SqlOrganisations"]


class SqlOrganisations(Repository):
    """The :class:`~armox_enterprise.ports.OrganisationRepository` of the SQLAlchemy store."""

    def add(self, organisation: Organisation) -> None:
        """Store a new organisation, with the row its event relay locks."""
        self._db.write(insert(self._t.organisations).values(**organisation_values(organisation)))
        self._db.write(insert(self._t.relay_locks).values(organisation_id=organisation.id))

    def get(self, organisation_id: str, *, for_update: bool = False) -> Organisation | None:
        """Return the organisation (its row locked with ``for_update``), or ``None``.

        The library's lock order starts at this row
        (:func:`~armox_enterprise.domain.ledger.in_lock_order`).  InnoDB's foreign-key
        checks take a shared lock on it whenever a row naming the organisation is inserted
        (an event, an idempotency record), which is after the unit of work has locked
        accounts; so on MySQL and MariaDB even a plain read locks the row in share mode,
        and the unit of work holds it before any account's.
        """
        t = self._t.organisations
        query = select(t).where(t.c.id == organisation_id)
        if for_update:
            # FOR NO KEY UPDATE on PostgreSQL: writers of the organisation's columns still
            # wait for each other, but the foreign-key checks of rows that name the
            # organisation (events, idempotency records, FOR KEY SHARE) do not wait for them,
            # so a turnover and those inserts cannot deadlock.
            query = query.with_for_update(key_share=True)
        elif self._db.dialect in ("mysql", "mariadb"):
            query = query.with_for_update(read=True)
        row = self._db.one(query)
        return None if row is None else organisation_from_row(row)

    def update(self, organisation: Organisation) -> None:
        """Store the organisation's new state."""
        t = self._t.organisations
        values = organisation_values(organisation)
        del values["id"]
        if not self._db.write(update(t).where(t.c.id == organisation.id).values(**values)):
            raise NotFound(f"organisation {organisation.id} does not exist")

    def all_ids(self) -> list[str]:
        """Return every organisation's id, ordered."""
        t = self._t.organisations
        return [row[0] for row in self._db.rows(select(t.c.id).order_by(t.c.id))]

    def due_for_turnover(self, instant: datetime) -> list[str]:
        """Return the ids of the organisations whose current period ended by ``instant``."""
        t = self._t.organisations
        query = select(t.c.id).where(t.c.current_period_end <= instant).order_by(t.c.id)
        return [row[0] for row in self._db.rows(query)]
