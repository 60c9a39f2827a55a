"""The organisations repository's contract: add, get (also for update), update, and which
organisations are due for a period turnover."""

from __future__ import annotations

from datetime import timedelta

import attrs

from armox_enterprise.domain.values import new_id
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    an_organisation,
)

__all__ = ["OrganisationContract"]


class OrganisationContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.OrganisationRepository`.

    Needs: organisations.
    """

    def test_organisation_add_then_get(self) -> None:
        """An added organisation reads back equal, also when locked for update."""
        store = self.make_store()
        org = an_organisation(new_id(T0))
        with store.unit_of_work() as uow:
            uow.organisations.add(org)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.organisations.get(org.id) == org
            assert uow.organisations.get(org.id, for_update=True) == org
            assert uow.organisations.get(new_id(T0)) is None

    def test_organisation_update_replaces_it(self) -> None:
        """Updating an organisation replaces every field of the stored one."""
        store, org_id = self._with_organisation()
        with store.unit_of_work() as uow:
            org = uow.organisations.get(org_id, for_update=True)
            assert org is not None
            changed = attrs.evolve(
                org, name="Acme Ltd", monthly_allowance=5, current_period_index=2
            )
            uow.organisations.update(changed)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.organisations.get(org_id) == changed

    def test_organisations_due_for_turnover(self) -> None:
        """Organisations whose current period ended at or before the instant are due."""
        store = self.make_store()
        first = an_organisation(new_id(T0))
        second = an_organisation(new_id(T0), index=1, name="Beta")
        with store.unit_of_work() as uow:
            uow.organisations.add(first)
            uow.organisations.add(second)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.organisations.due_for_turnover(first.current_period.end - timedelta(1)) == []
            assert uow.organisations.due_for_turnover(first.current_period.end) == [first.id]
            due = uow.organisations.due_for_turnover(second.current_period.end)
            assert sorted(due) == sorted([first.id, second.id])
