"""The join-requests repository's contract: pending lists, and a request decided once."""

from __future__ import annotations

import attrs
import pytest

from armox_enterprise.domain.organisation import (
    JoinRequest,
    JoinRequestStatus,
)
from armox_enterprise.domain.values import EmailAddress, new_id
from armox_enterprise.exceptions import (
    InvalidTransition,
)
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    at,
)

__all__ = ["JoinRequestContract"]


class JoinRequestContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.JoinRequestRepository`.

    Needs: organisations (for the foreign key) and join requests.
    """

    def test_join_requests_add_get_and_list_pending(self) -> None:
        """Join requests read back by id and list pending, oldest first; deciding one takes it
        off the pending list."""
        store, org_id = self._with_organisation()
        email = EmailAddress.parse("x@acme.example")
        late = JoinRequest(new_id(at(5)), org_id, "late", email, "Late", at(5))
        early = JoinRequest(new_id(at(1)), org_id, "early", email, "Early", at(1))
        with store.unit_of_work() as uow:
            uow.join_requests.add(late)
            uow.join_requests.add(early)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.join_requests.get(org_id, late.id) == late
            assert uow.join_requests.get(org_id, new_id(T0)) is None
            assert uow.join_requests.pending_for_user("early") == early
            assert uow.join_requests.pending_for_user("nobody") is None
            assert uow.join_requests.list_pending(org_id) == [early, late]
            decided = attrs.evolve(
                early, status=JoinRequestStatus.APPROVED, decided_by="admin", decided_at=at(6)
            )
            uow.join_requests.update(decided)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.join_requests.get(org_id, early.id) == decided
            assert uow.join_requests.pending_for_user("early") is None
            assert uow.join_requests.list_pending(org_id) == [late]

    def test_deciding_a_decided_join_request_raises_invalid_transition(self) -> None:
        """Only a pending join request may be decided; the first decision stays."""
        store, org_id = self._with_organisation()
        email = EmailAddress.parse("x@acme.example")
        request = JoinRequest(new_id(T0), org_id, "x", email, "X", T0)
        rejected = attrs.evolve(
            request, status=JoinRequestStatus.REJECTED, decided_by="admin", decided_at=at(1)
        )
        with store.unit_of_work() as uow:
            uow.join_requests.add(request)
            uow.join_requests.update(rejected)
            uow.commit()
        approved = attrs.evolve(rejected, status=JoinRequestStatus.APPROVED)
        with store.unit_of_work() as uow, pytest.raises(InvalidTransition):
            uow.join_requests.update(approved)
        with store.unit_of_work() as uow:
            assert uow.join_requests.get(org_id, request.id) == rejected
