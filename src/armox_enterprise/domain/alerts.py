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
from armox_enterprise.exceptions import InvalidInput

__all__ = [
    "DEFAULT_THRESHOLDS",
    "MAX_THRESHOLDS",
    "AlertThresholds",
    "DueAlert",
    "MemberUsage",
    "PoolUsage",
    "crossed",
    "due_alerts",
    "parse_thresholds",
    "thresholds_text",
]

#: The most thresholds one list (member or pool) may have.
MAX_THRESHOLDS = 10


def _percentages(value: object, name: str) -> tuple[int, ...]:
    """``value`` checked as a list of whole percentages, returned sorted."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, set, frozenset)):
        raise InvalidInput(
            f"{name} must be a list of whole percentages, not {type(value).__name__}"
        )
    items = list(value)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 100:
            raise InvalidInput(f"{name} must hold whole percentages from 1 to 100, got {item!r}")
    if len(set(items)) != len(items):
        raise InvalidInput(f"{name} must not repeat a percentage, got {sorted(items)}")
    if len(items) > MAX_THRESHOLDS:
        raise InvalidInput(f"{name} holds at most {MAX_THRESHOLDS} percentages, not {len(items)}")
    return tuple(sorted(items))


def _member(value: object) -> tuple[int, ...]:
    return _percentages(value, "member_alert_thresholds")


def _pool(value: object) -> tuple[int, ...]:
    return _percentages(value, "pool_alert_thresholds")


@attrs.frozen
class AlertThresholds:
    """The percentages that raise an alert, an organisation's setting.

    Each list holds whole percentages from 1 to 100, without repeats, at most
    :data:`MAX_THRESHOLDS` of them; they are kept sorted whatever order they are given in.  An
    empty list raises no alert of its kind.

    Attributes:
        member: of what a member was given this period (allocated plus carried in) used.
        pool: of what the period put in the pool allocated to members.

    Raises:
        InvalidInput: a list is not a list of such percentages.
    """

    member: tuple[int, ...] = attrs.field(default=(80, 100), converter=_member)
    pool: tuple[int, ...] = attrs.field(default=(90,), converter=_pool)


#: The thresholds an organisation has unless it is given others.
DEFAULT_THRESHOLDS = AlertThresholds()


def thresholds_text(values: tuple[int, ...]) -> str:
    """The stored form of a list of thresholds: the percentages joined by commas (``"80,100"``,
    ``""`` for none)."""
    return ",".join(str(v) for v in values)


def parse_thresholds(text: str) -> tuple[int, ...]:
    """The thresholds a :func:`thresholds_text` form holds."""
    return tuple(int(part) for part in text.split(",")) if text else ()


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
