"""The credit-request state machine: ``pending`` moves to exactly one final state.

::

    pending ──approve──▶ approved   (possibly for another amount than asked)
       │ ────reject───▶ rejected
       │ ────cancel───▶ cancelled   (by the requester, or when the member is removed)
       └─────expire───▶ expired     (when the period it was made in closes)
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

import attrs

from armox_enterprise.exceptions import InvalidTransition, TooManyOpenRequests

__all__ = [
    "REQUEST_BLOCKED_REASON",
    "CreditRequest",
    "RequestStatus",
    "can_request",
    "ensure_can_request",
    "expires_at",
    "expiring",
]

#: What the profile view says when the request button is disabled.
REQUEST_BLOCKED_REASON = "a credit request is already pending"


class RequestStatus(str, enum.Enum):
    """Where a credit request stands; only ``PENDING`` moves."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@attrs.frozen
class CreditRequest:
    """A member's request for more credits, decided by an admin.

    ``automatic`` marks a request the library filed for the member when they ran out and
    spent on grace (:mod:`~armox_enterprise.domain.grace`); it is decided like any other.
    """

    id: str
    organisation_id: str
    user_id: str
    amount: int
    note: str
    period_index: int
    created_at: datetime
    status: RequestStatus = RequestStatus.PENDING
    approved_amount: int | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str = ""
    automatic: bool = False

    @property
    def is_pending(self) -> bool:
        """Whether the request still waits for a decision."""
        return self.status is RequestStatus.PENDING

    def approve(self, by: str, at: datetime, amount: int, note: str = "") -> CreditRequest:
        """Return the request approved for ``amount`` credits.

        Raises:
            InvalidTransition: the request is no longer pending.
        """
        self._ensure_pending("approve")
        return attrs.evolve(
            self,
            status=RequestStatus.APPROVED,
            approved_amount=amount,
            decided_by=by,
            decided_at=at,
            decision_note=note,
        )

    def reject(self, by: str, at: datetime, note: str = "") -> CreditRequest:
        """Return the request rejected.

        Raises:
            InvalidTransition: the request is no longer pending.
        """
        self._ensure_pending("reject")
        return attrs.evolve(
            self, status=RequestStatus.REJECTED, decided_by=by, decided_at=at, decision_note=note
        )

    def cancel(self, by: str, at: datetime) -> CreditRequest:
        """Return the request cancelled.

        Raises:
            InvalidTransition: the request is no longer pending.
        """
        self._ensure_pending("cancel")
        return attrs.evolve(self, status=RequestStatus.CANCELLED, decided_by=by, decided_at=at)

    def expire(self, at: datetime) -> CreditRequest:
        """Return the request expired at the end of its period.

        Raises:
            InvalidTransition: the request is no longer pending.
        """
        self._ensure_pending("expire")
        return attrs.evolve(self, status=RequestStatus.EXPIRED, decided_at=at)

    def _ensure_pending(self, action: str) -> None:
        if self.status is not RequestStatus.PENDING:
            raise InvalidTransition(
                f"cannot {action} credit request {self.id}: it is already {self.status.value}"
            )


def can_request(pending: int, max_open_requests: int) -> bool:
    """Return whether a member with ``pending`` open requests may file another one."""
    return pending < max_open_requests


def ensure_can_request(user_id: str, pending: int, max_open_requests: int) -> None:
    """Refuse a new request from a member who has reached the open-request cap.

    Raises:
        TooManyOpenRequests: ``pending`` is at (or above) ``max_open_requests``.
    """
    if not can_request(pending, max_open_requests):
        raise TooManyOpenRequests(f"user {user_id} already has {pending} pending request(s)")


def expires_at(request: CreditRequest, period_end: datetime) -> datetime:
    """Return when ``request`` lapses unless decided: at ``period_end``, the end of the period
    it was made in."""
    return period_end


def expiring(
    requests: Iterable[CreditRequest], *, at: datetime, period_end: datetime
) -> list[CreditRequest]:
    """Return the pending requests that have lapsed by ``at`` (:func:`expires_at`), given the
    end of the period they were made in."""
    return [r for r in requests if r.is_pending and expires_at(r, period_end) <= at]
