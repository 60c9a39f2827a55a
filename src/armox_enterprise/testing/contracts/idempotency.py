"""The idempotency repository's contract: one record per organisation and key."""

from __future__ import annotations

import attrs
import pytest

from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import (
    DuplicateIdempotencyKey,
)
from armox_enterprise.ports import IdempotencyRecord
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    an_organisation,
    at,
)

__all__ = ["IdempotencyContract"]


class IdempotencyContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.IdempotencyRepository`.

    Needs: organisations (for the foreign key) and idempotency.
    """

    def test_idempotency_record_add_and_get(self) -> None:
        """An idempotency record reads back by organisation and key."""
        store, org_id = self._with_organisation()
        record = IdempotencyRecord(org_id, "key-1", "spend", "a|3", new_id(T0), T0)
        with store.unit_of_work() as uow:
            uow.idempotency.add(record)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.idempotency.get(org_id, "key-1") == record
            assert uow.idempotency.get(org_id, "key-2") is None
            assert uow.idempotency.get(new_id(T0), "key-1") is None

    def test_reused_idempotency_key_raises_duplicate_idempotency_key(self) -> None:
        """A key is unique per organisation, within a unit of work and across them; another
        organisation may use it."""
        store, org_id = self._with_organisation()
        other_id = new_id(T0)
        first = IdempotencyRecord(org_id, "key", "spend", "a|3", new_id(T0), T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(other_id, name="Beta"))
            uow.idempotency.add(first)
            with pytest.raises(DuplicateIdempotencyKey):
                uow.idempotency.add(attrs.evolve(first, fingerprint="a|4"))
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(other_id, name="Beta"))
            uow.idempotency.add(first)
            uow.idempotency.add(attrs.evolve(first, organisation_id=other_id))
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(DuplicateIdempotencyKey):
            uow.idempotency.add(attrs.evolve(first, operation="top_up", created_at=at(1)))
        with store.unit_of_work() as uow:
            assert uow.idempotency.get(org_id, "key") == first
