"""The memory store's ways in: domain claims, invitations and join requests."""

from __future__ import annotations

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinRequest,
    JoinRequestStatus,
)
from armox_enterprise.domain.values import DomainName, EmailAddress
from armox_enterprise.exceptions import DomainAlreadyClaimed, InvalidTransition

__all__ = ["MemoryDomainClaims", "MemoryInvitations", "MemoryJoinRequests"]


class MemoryDomainClaims(MemoryRepository):
    """The :class:`~armox_enterprise.ports.DomainClaimRepository` of the memory store."""

    def add(self, claim: DomainClaim) -> None:
        if claim.domain.value in self._s.domains:
            raise DomainAlreadyClaimed(f"{claim.domain} is already claimed")
        self._j.set(self._s.domains, claim.domain.value, claim)

    def get(self, domain: DomainName) -> DomainClaim | None:
        return self._s.domains.get(domain.value)

    def update(self, claim: DomainClaim) -> None:
        self._j.set(self._s.domains, claim.domain.value, claim)

    def remove(self, domain: DomainName) -> None:
        self._j.delete(self._s.domains, domain.value)

    def list(self, organisation_id: str) -> list[DomainClaim]:
        return sorted(
            (c for c in self._s.domains.values() if c.organisation_id == organisation_id),
            key=lambda c: c.domain.value,
        )


class MemoryInvitations(MemoryRepository):
    """The :class:`~armox_enterprise.ports.InvitationRepository` of the memory store."""

    def put(self, invitation: Invitation) -> None:
        key = (invitation.organisation_id, str(invitation.email).lower())
        self._j.set(self._s.invitations, key, invitation)

    def open_for(self, email: EmailAddress) -> list[Invitation]:
        wanted = str(email).lower()
        found = [
            inv
            for (_, address), inv in self._s.invitations.items()
            if address == wanted and inv.accepted_at is None
        ]
        return sorted(found, key=lambda i: i.created_at)

    def list(self, organisation_id: str) -> list[Invitation]:
        return sorted(
            (i for (org, _), i in self._s.invitations.items() if org == organisation_id),
            key=lambda i: i.created_at,
        )


class MemoryJoinRequests(MemoryRepository):
    """The :class:`~armox_enterprise.ports.JoinRequestRepository` of the memory store."""

    def add(self, request: JoinRequest) -> None:
        self._put(
            "join_requests", self._s.join_requests, (request.organisation_id, request.id), request
        )

    def get(self, organisation_id: str, request_id: str) -> JoinRequest | None:
        return self._s.join_requests.get((organisation_id, request_id))

    def pending_for_user(self, user_id: str) -> JoinRequest | None:
        for request in self._s.join_requests.values():
            if request.user_id == user_id and request.status is JoinRequestStatus.PENDING:
                return request
        return None

    def update(self, request: JoinRequest) -> None:
        key = (request.organisation_id, request.id)
        stored = self._s.join_requests.get(key)
        if stored is None or stored.status is not JoinRequestStatus.PENDING:
            raise InvalidTransition(f"join request {request.id} is no longer pending")
        self._put("join_requests", self._s.join_requests, key, request)

    def list_pending(self, organisation_id: str) -> list[JoinRequest]:
        return sorted(
            (
                r
                for r in self._of("join_requests", organisation_id)
                if r.status is JoinRequestStatus.PENDING
            ),
            key=lambda r: (r.created_at, r.id),
        )
