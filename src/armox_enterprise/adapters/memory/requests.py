"""The memory store's credit requests: only a pending request may be decided."""

from __future__ import annotations

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.exceptions import InvalidTransition, NotFound

__all__ = ["MemoryCreditRequests"]


class MemoryCreditRequests(MemoryRepository):
    """The :class:`~armox_enterprise.ports.CreditRequestRepository` of the memory store."""

    def add(self, request: CreditRequest) -> None:
        self._put("requests", self._s.requests, (request.organisation_id, request.id), request)

    def get(self, organisation_id: str, request_id: str) -> CreditRequest | None:
        return self._s.requests.get((organisation_id, request_id))

    def decide(self, request: CreditRequest) -> None:
        key = (request.organisation_id, request.id)
        stored = self._s.requests.get(key)
        if stored is None:
            raise NotFound(f"credit request {request.id} does not exist")
        if stored.status is not RequestStatus.PENDING:
            raise InvalidTransition(f"credit request {request.id} is already {stored.status.value}")
        self._put("requests", self._s.requests, key, request)

    def list(
        self,
        organisation_id: str,
        *,
        status: RequestStatus | None = None,
        user_id: str | None = None,
        period_index: int | None = None,
    ) -> list[CreditRequest]:
        found = [
            r
            for r in self._of("requests", organisation_id)
            if (status is None or r.status is status)
            and (user_id is None or r.user_id == user_id)
            and (period_index is None or r.period_index == period_index)
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))
