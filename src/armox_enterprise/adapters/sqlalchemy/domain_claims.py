"""Domain claims on SQL: one organisation per domain, kept by a table of its own.

A claim is an organisation's row, keyed ``(organisation_id, domain)``.  The rule that spans
organisations, one claim per domain, lives in ``domain_owners``: one row per claimed domain,
naming its organisation, keyed by the domain alone.  A claim's ``(organisation_id, domain)`` is
a foreign key to that row, so the database refuses a second organisation's claim whoever writes
the SQL.  The repository writes the domain's row before the claim (a second one meets the
primary key: ``DomainAlreadyClaimed``, also when two organisations race) and removes it after
the claim, in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import claim_from_row, claim_values
from armox_enterprise.domain.organisation import DomainClaim
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import DomainAlreadyClaimed

__all__ = ["SqlDomainClaims"]

#: How often :meth:`SqlDomainClaims.get` reads again when the domain changed hands between its
#: two statements (another organisation's claim replaced a lapsed one in between).
_READS = 4


class SqlDomainClaims(Repository):
    """The :class:`~armox_enterprise.ports.DomainClaimRepository` of the SQLAlchemy store."""

    def add(self, claim: DomainClaim) -> None:
        """Store a new claim (``DomainAlreadyClaimed`` if the domain has one).

        A refused add leaves the unit of work to be rolled back, as every refused write does.
        """
        error = DomainAlreadyClaimed(f"{claim.domain} is already claimed")
        owners = self._t.domain_owners
        owner = {"domain": claim.domain.value, "organisation_id": claim.organisation_id}
        self._db.write(insert(owners).values(**owner), error=error)
        self._db.write(insert(self._t.domain_claims).values(**claim_values(claim)), error=error)

    def get(self, domain: DomainName) -> DomainClaim | None:
        """Return the claim on ``domain``, or ``None``.

        Two statements, each on one key: the domain's row of ``domain_owners`` names the
        organisation, then the claim is read there.  If the claim went between the two (and
        perhaps another organisation's came), the row is read again.
        """
        seen: str | None = None
        for _ in range(_READS):
            organisation_id = self._owner(domain)
            if organisation_id is None or organisation_id == seen:
                return None
            t = self._t.domain_claims
            row = self._db.one(
                select(t).where(t.c.organisation_id == organisation_id, t.c.domain == domain.value)
            )
            if row is not None:
                return claim_from_row(row)
            seen = organisation_id
        return None

    def update(self, claim: DomainClaim) -> None:
        """Store the claim's new state (its verification)."""
        t = self._t.domain_claims
        values = claim_values(claim)
        self._db.write(
            update(t)
            .where(t.c.organisation_id == claim.organisation_id, t.c.domain == claim.domain.value)
            .values(**values)
        )

    def remove(self, domain: DomainName) -> None:
        """Forget the claim on ``domain``, whichever organisation holds it."""
        organisation_id = self._owner(domain)
        if organisation_id is None:
            return
        t, owners = self._t.domain_claims, self._t.domain_owners
        self._db.write(
            delete(t).where(t.c.organisation_id == organisation_id, t.c.domain == domain.value)
        )
        # Only the row read above: another organisation's, written since, stays.
        self._db.write(
            delete(owners).where(
                owners.c.domain == domain.value, owners.c.organisation_id == organisation_id
            )
        )

    def list(self, organisation_id: str) -> list[DomainClaim]:
        """Return the organisation's claims ordered by domain."""
        t = self._t.domain_claims
        query = select(t).where(t.c.organisation_id == organisation_id).order_by(t.c.domain)
        return [claim_from_row(row) for row in self._db.rows(query)]

    def _owner(self, domain: DomainName) -> str | None:
        """The organisation whose claim holds ``domain``, by ``domain_owners``."""
        owners = self._t.domain_owners
        row = self._db.one(select(owners.c.organisation_id).where(owners.c.domain == domain.value))
        return None if row is None else str(row[0])
