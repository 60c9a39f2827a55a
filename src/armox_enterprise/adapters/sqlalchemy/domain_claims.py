"""Domain claims on SQL: the domain is the primary key, so one organisation claims it."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from armox_enterprise.adapters.sqlalchemy.connection import Repository
from armox_enterprise.adapters.sqlalchemy.records import claim_from_row, claim_values
from armox_enterprise.domain.organisation import DomainClaim
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import DomainAlreadyClaimed

__all__ = ["SqlDomainClaims"]


class SqlDomainClaims(Repository):
    """The :class:`~armox_enterprise.ports.DomainClaimRepository` of the SQLAlchemy store."""

    def add(self, claim: DomainClaim) -> None:
        """Store a new claim (``DomainAlreadyClaimed`` if the domain has one)."""
        error = DomainAlreadyClaimed(f"{claim.domain} is already claimed")
        self._db.write(insert(self._t.domain_claims).values(**claim_values(claim)), error=error)

    def get(self, domain: DomainName) -> DomainClaim | None:
        """Return the claim on ``domain``, or ``None``."""
        t = self._t.domain_claims
        row = self._db.one(select(t).where(t.c.domain == domain.value))
        return None if row is None else claim_from_row(row)

    def update(self, claim: DomainClaim) -> None:
        """Store the claim's new state (its verification)."""
        t = self._t.domain_claims
        values = claim_values(claim)
        self._db.write(update(t).where(t.c.domain == claim.domain.value).values(**values))

    def remove(self, domain: DomainName) -> None:
        """Forget the claim on ``domain``."""
        t = self._t.domain_claims
        self._db.write(delete(t).where(t.c.domain == domain.value))

    def list(self, organisation_id: str) -> list[DomainClaim]:
        """Return the organisation's claims ordered by domain."""
        t = self._t.domain_claims
        query = select(t).where(t.c.organisation_id == organisation_id).order_by(t.c.domain)
        return [claim_from_row(row) for row in self._db.rows(query)]
