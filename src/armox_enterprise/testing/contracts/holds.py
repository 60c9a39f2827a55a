"""The holds repository's contract: a hold resolved once, pending holds by user and expiry."""

from __future__ import annotations

import pytest

from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import (
    HoldAlreadyResolved,
)
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    a_hold,
    at,
)

__all__ = ["HoldContract"]


class HoldContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.HoldRepository`.

    Needs: organisations (for the foreign key) and holds.
    """

    def test_hold_add_get_and_resolve(self) -> None:
        """A hold reads back by id; resolving it stores its final state."""
        store, org_id = self._with_organisation()
        hold = a_hold(org_id, "ann", 30)
        with store.unit_of_work() as uow:
            uow.holds.add(hold)
            uow.commit()
        captured = hold.capture(20, at(5))
        with store.unit_of_work() as uow:
            assert uow.holds.get(org_id, hold.id) == hold
            assert uow.holds.get(org_id, new_id(T0)) is None
            uow.holds.resolve(captured)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.holds.get(org_id, hold.id) == captured

    def test_resolving_a_resolved_hold_raises_hold_already_resolved(self) -> None:
        """A hold resolves once; a second resolution raises and the first stays."""
        store, org_id = self._with_organisation()
        hold = a_hold(org_id, "ann", 30)
        released = hold.release(at(1))
        with store.unit_of_work() as uow:
            uow.holds.add(hold)
            uow.holds.resolve(released)
            uow.commit()
        for second in (hold.capture(30, at(2)), hold.release(at(2), expired=True)):
            with store.unit_of_work() as uow, pytest.raises(HoldAlreadyResolved):
                uow.holds.resolve(second)
        with store.unit_of_work() as uow:
            assert uow.holds.get(org_id, hold.id) == released

    def test_pending_holds_filter_and_list_oldest_first(self) -> None:
        """Pending holds list oldest first, by user and by expiry (inclusive); resolved ones
        drop out."""
        store, org_id = self._with_organisation()
        late = a_hold(org_id, "ann", 5, minutes=10, life=60)
        early = a_hold(org_id, "bob", 6, minutes=1, life=5)
        middle = a_hold(org_id, "ann", 7, minutes=5, life=120)
        gone = a_hold(org_id, "ann", 8, minutes=6)
        with store.unit_of_work() as uow:
            for hold in (late, early, middle, gone):
                uow.holds.add(hold)
            uow.holds.resolve(gone.release(at(7)))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.holds.pending(org_id) == [early, middle, late]
            assert uow.holds.pending(org_id, user_id="ann") == [middle, late]
            assert uow.holds.pending(org_id, expiring_before=at(6)) == [early]
            assert uow.holds.pending(org_id, expiring_before=late.expires_at) == [early, late]
            assert uow.holds.pending(org_id, user_id="bob", expiring_before=at(5)) == []
            assert uow.holds.pending(new_id(T0)) == []
