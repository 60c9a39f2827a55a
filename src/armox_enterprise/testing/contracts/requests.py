"""The credit-requests repository's contract: a request decided once, lists by status, user
and period."""

from __future__ import annotations

import pytest

from armox_enterprise.domain.requests import RequestStatus
from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import (
    InvalidTransition,
)
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    a_request,
    at,
)

__all__ = ["CreditRequestContract"]


class CreditRequestContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.CreditRequestRepository`.

    Needs: organisations (for the foreign key) and credit requests.
    """

    def test_credit_request_add_get_and_decide(self) -> None:
        """A request reads back by id; deciding it stores the decision."""
        store, org_id = self._with_organisation()
        request = a_request(org_id, "ann", 50)
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.commit()
        approved = request.approve("admin", at(3), 40, "less")
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == request
            assert uow.requests.get(org_id, new_id(T0)) is None
            uow.requests.decide(approved)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == approved

    def test_deciding_a_decided_request_raises_invalid_transition(self) -> None:
        """Only a pending request may be decided; a second decision raises and the first
        stays."""
        store, org_id = self._with_organisation()
        request = a_request(org_id, "ann", 50)
        rejected = request.reject("admin", at(1))
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.requests.decide(rejected)
            uow.commit()
        for second in (
            request.approve("admin", at(2), 50),
            request.cancel("ann", at(2)),
            request.expire(at(2)),
        ):
            with store.unit_of_work() as uow, pytest.raises(InvalidTransition):
                uow.requests.decide(second)
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == rejected

    def test_credit_requests_filter_and_list_oldest_first(self) -> None:
        """Requests list oldest first and filter by status, user and period."""
        store, org_id = self._with_organisation()
        third = a_request(org_id, "ann", 3, minutes=9, period=1)
        first = a_request(org_id, "ann", 1, minutes=1)
        second = a_request(org_id, "bob", 2, minutes=4)
        with store.unit_of_work() as uow:
            for request in (third, first, second):
                uow.requests.add(request)
            decided = first.cancel("ann", at(2))
            uow.requests.decide(decided)
            uow.commit()
        with store.unit_of_work() as uow:
            requests = uow.requests
            assert requests.list(org_id) == [decided, second, third]
            assert requests.list(org_id, status=RequestStatus.PENDING) == [second, third]
            assert requests.list(org_id, status=RequestStatus.CANCELLED) == [decided]
            assert requests.list(org_id, user_id="ann") == [decided, third]
            assert requests.list(org_id, period_index=0) == [decided, second]
            assert (
                requests.list(org_id, status=RequestStatus.PENDING, user_id="ann", period_index=0)
                == []
            )
            assert requests.list(new_id(T0)) == []
