"""The domain-claims repository's contract: one organisation per domain, updates, removal,
lists."""

from __future__ import annotations

import attrs
import pytest

from armox_enterprise.domain.organisation import (
    DomainClaim,
)
from armox_enterprise.domain.values import DomainName, new_id
from armox_enterprise.exceptions import (
    DomainAlreadyClaimed,
)
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    an_organisation,
    at,
)

__all__ = ["DomainClaimContract"]


class DomainClaimContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.DomainClaimRepository`.

    Needs: organisations (for the foreign key) and domains.
    """

    def test_domain_claim_add_get_update_remove(self) -> None:
        """A claim reads back by domain, updates in place and disappears when removed."""
        store, org_id = self._with_organisation()
        claim = DomainClaim(DomainName.parse("acme.example"), org_id, "token", T0)
        with store.unit_of_work() as uow:
            uow.domains.add(claim)
            uow.commit()
        verified = attrs.evolve(claim, verified_at=at(5), include_subdomains=True)
        with store.unit_of_work() as uow:
            assert uow.domains.get(DomainName.parse("ACME.example.")) == claim
            assert uow.domains.get(DomainName.parse("other.example")) is None
            uow.domains.update(verified)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.domains.get(claim.domain) == verified
            uow.domains.remove(claim.domain)
            uow.domains.remove(DomainName.parse("never-claimed.example"))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.domains.get(claim.domain) is None

    def test_second_claim_on_a_domain_raises_domain_already_claimed(self) -> None:
        """A domain is claimed by one organisation at most; the first claim stays."""
        store, org_id = self._with_organisation()
        other_id = new_id(T0)
        domain = DomainName.parse("acme.example")
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(other_id, name="Beta"))
            uow.domains.add(DomainClaim(domain, org_id, "first", T0))
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(DomainAlreadyClaimed):
            uow.domains.add(DomainClaim(domain, other_id, "second", at(1)))
        with store.unit_of_work() as uow:
            claim = uow.domains.get(domain)
            assert claim is not None
            assert (claim.organisation_id, claim.verification_token) == (org_id, "first")

    def test_domain_claims_list_by_domain(self) -> None:
        """An organisation's claims list in domain order, without other organisations'."""
        store, org_id = self._with_organisation()
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(other_id, name="Beta"))
            for name in ("zeta.example", "acme.example", "mid.example"):
                uow.domains.add(DomainClaim(DomainName.parse(name), org_id, name, T0))
            uow.domains.add(DomainClaim(DomainName.parse("beta.example"), other_id, "b", T0))
            uow.commit()
        with store.unit_of_work() as uow:
            assert [c.domain.value for c in uow.domains.list(org_id)] == [
                "acme.example",
                "mid.example",
                "zeta.example",
            ]
            assert [c.domain.value for c in uow.domains.list(other_id)] == ["beta.example"]
