"""Alerts: the thresholds as data, the crossing rule, and the alerts due in a period.

An alert is due once per threshold and period (once per request for a waiting request); the
service raises each at most once by its :attr:`DueAlert.key`, whatever the number of runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.idempotency import internal_key
from armox_enterprise.domain.requests import CreditRequest

__all__ = [
    "DEFAULT_THRESHOLDS",
    "AlertThresholds",
    "DueAlert",
    "MemberUsage",
    "PoolUsage",
    "crossed",
    "due_alerts",
]


@attrs.frozen
class AlertThresholds:
    """The percentages that raise an alert.

    Attributes:
        member: of what a member was given this period (allocated plus carried in) used.
        pool: of what the period put in the pool allocated to members.
    """

    member: tuple[int, ...] = (80, 100)
    pool: tuple[int, ...] = (90,)


#: The thresholds every organisation uses.
DEFAULT_THRESHOLDS = AlertThresholds()


def crossed(part: int, whole: int, threshold: int) -> bool:
    """Return whether ``part`` is at least ``threshold`` percent of a positive ``whole``."""
    return whole > 0 and part * 100 >= threshold * whole


@attrs.frozen
class MemberUsage:
    """A member's figures for the current period, as the alert rule reads them."""

    user_id: str
    used: int
    given: int


@attrs.frozen
class PoolUsage:
    """The pool's figures for the current period, as the alert rule reads them."""

    allocated: int
    available_total: int


@attrs.frozen
class DueAlert:
    """An alert that is due: ``key`` makes it once-only, ``what`` says what it is about."""

    what: str
    event: ev.Event

    @property
    def key(self) -> str:
        """The idempotency key under which the alert is raised once."""
        return internal_key("alert", hashlib.sha256(self.what.encode()).hexdigest()[:40])


def due_alerts(
    organisation_id: str,
    period_index: int,
    now: datetime,
    *,
    members: Iterable[MemberUsage],
    pool: PoolUsage,
    pending: Iterable[CreditRequest],
    request_alert_after: timedelta,
    thresholds: AlertThresholds = DEFAULT_THRESHOLDS,
) -> list[DueAlert]:
    """Return every alert the figures call for, members first, then the pool, then requests."""
    org, system = organisation_id, ev.SYSTEM_ACTOR
    due: list[DueAlert] = []
    event: ev.Event
    for member in members:
        for threshold in thresholds.member:
            if crossed(member.used, member.given, threshold):
                event = ev.MemberUsageAlert(
                    organisation_id=org,
                    actor=system,
                    occurred_at=now,
                    user_id=member.user_id,
                    threshold=threshold,
                    period_index=period_index,
                    used=member.used,
                    allocated=member.given,
                )
                due.append(DueAlert(f"member:{member.user_id}:{threshold}:{period_index}", event))
    for threshold in thresholds.pool:
        if crossed(pool.allocated, pool.available_total, threshold):
            event = ev.PoolAllocationAlert(
                organisation_id=org,
                actor=system,
                occurred_at=now,
                threshold=threshold,
                period_index=period_index,
                allocated=pool.allocated,
                available_total=pool.available_total,
            )
            due.append(DueAlert(f"pool:{threshold}:{period_index}", event))
    for request in pending:
        waited = now - request.created_at
        if waited > request_alert_after:
            event = ev.RequestWaitingAlert(
                organisation_id=org,
                actor=system,
                occurred_at=now,
                request_id=request.id,
                user_id=request.user_id,
                waiting_seconds=int(waited.total_seconds()),
            )
            due.append(DueAlert(f"request:{request.id}", event))
    return due
