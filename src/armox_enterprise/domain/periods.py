"""Billing-period arithmetic: monthly periods counted from an organisation's cycle anchor.

Periods are computed in the local wall time of the organisation's time zone (an IANA name;
``"UTC"`` by default) and converted to UTC instants.  The cycle anchor is the UTC instant the
first period starts; its local date and time in the zone repeat every month, the day of month
clamped to the month's length.

**The daylight-saving rule** (one rule, here only, :func:`local_to_utc`): a local time that
does not exist, because the clocks jump forward over it (a gap), moves forward by the gap's
length (00:00 in a zone whose clocks jump from 00:00 to 01:00 becomes 01:00, the first
instant of that local day); a local time that happens twice, because the clocks go back (an
overlap), is its first occurrence.  This is what :mod:`zoneinfo` gives for ``fold=0``.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta, timezone

import attrs

from armox_enterprise.domain.values import DEFAULT_TIME_ZONE, ensure_utc, months_later, zone_info
from armox_enterprise.exceptions import InvalidInput

__all__ = [
    "MAX_REPORT_PERIODS",
    "BillingPeriod",
    "ensure_same_zone",
    "local_to_utc",
    "period_at",
    "period_by_index",
    "report_range",
    "valid_through",
]

#: The longest range of periods one report or export covers (ten years of months).
MAX_REPORT_PERIODS = 120

_LAST_INSTANT = timedelta(microseconds=1)


@attrs.frozen
class BillingPeriod:
    """One monthly billing period: ``start <= instant < end``.

    ``index`` counts periods from the cycle anchor (the first period has index 0).
    """

    index: int
    start: datetime
    end: datetime

    def contains(self, instant: datetime) -> bool:
        """Return whether ``instant`` falls inside this period."""
        return self.start <= instant < self.end


def local_to_utc(wall: datetime, time_zone: str) -> datetime:
    """Return the UTC instant of the naive local date and time ``wall`` in ``time_zone``.

    A time in a daylight-saving gap moves forward by the gap's length; a time in an overlap
    is its first occurrence (``fold=0``).
    """
    local = wall.replace(tzinfo=zone_info(time_zone), fold=0)
    return local.astimezone(timezone.utc)


def _local_wall(instant: datetime, time_zone: str) -> datetime:
    """The naive local date and time of the UTC ``instant`` in ``time_zone``."""
    return instant.astimezone(zone_info(time_zone)).replace(tzinfo=None, fold=0)


def _start(anchor: datetime, time_zone: str, index: int) -> datetime:
    """The start of period ``index``: the anchor's local wall time ``index`` months later."""
    if time_zone == DEFAULT_TIME_ZONE:
        return months_later(anchor, index)
    return local_to_utc(months_later(_local_wall(anchor, time_zone), index), time_zone)


def period_by_index(
    anchor: datetime, index: int, time_zone: str = DEFAULT_TIME_ZONE
) -> BillingPeriod:
    """Return the period number ``index`` of a cycle anchored at ``anchor`` in ``time_zone``."""
    return _period_by_index(ensure_utc(anchor, name="anchor"), index, time_zone)


@functools.lru_cache(maxsize=4096)
def _period_by_index(anchor: datetime, index: int, time_zone: str) -> BillingPeriod:
    # Every use case asks for its organisation's current period: remember the answers.
    return BillingPeriod(
        index, _start(anchor, time_zone, index), _start(anchor, time_zone, index + 1)
    )


def period_at(
    anchor: datetime, instant: datetime, time_zone: str = DEFAULT_TIME_ZONE
) -> BillingPeriod:
    """Return the period of the cycle anchored at ``anchor`` that contains ``instant``.

    The anchor's day of month is clamped to each month's length, so an anchor on the 31st
    gives periods starting on the 28th or 29th of February and the 30th of April.
    Instants before the anchor belong to negative indexes.
    """
    anchor = ensure_utc(anchor, name="anchor")
    instant = ensure_utc(instant)
    if time_zone == DEFAULT_TIME_ZONE:
        local_anchor, local_instant = anchor, instant
    else:
        local_anchor = _local_wall(anchor, time_zone)
        local_instant = _local_wall(instant, time_zone)
    guess = (local_instant.year - local_anchor.year) * 12 + (
        local_instant.month - local_anchor.month
    )
    while _period_by_index(anchor, guess, time_zone).start > instant:
        guess -= 1
    while _period_by_index(anchor, guess, time_zone).end <= instant:
        guess += 1
    return _period_by_index(anchor, guess, time_zone)


def valid_through(period: BillingPeriod, time_zone: str = DEFAULT_TIME_ZONE) -> date:
    """Return the last local date ``period`` covers in ``time_zone``, inclusive.

    It is the local date of the period's last instant, ``end - 1 microsecond``: a period that
    ends at local midnight on the 15th is valid through the 14th; one that ends at 09:00 on the
    15th is valid through the 15th.  A UI shows it as the last day, never the excluded ``end``.
    """
    return _local_wall(period.end - _LAST_INSTANT, time_zone).date()


def ensure_same_zone(current: str, requested: str) -> None:
    """Check that a settings change leaves an organisation's time zone as it is.

    An organisation's zone is fixed when it is created: every period index its ledger holds
    was counted in it, so another zone would move the current period's end and every past
    boundary.

    Raises:
        InvalidInput: ``requested`` is not ``current``.
    """
    if requested != current:
        raise InvalidInput(
            f"time_zone is fixed when the organisation is created: it is {current!r}, "
            f"it cannot become {requested!r}"
        )


def report_range(current: int, first: int | None, last: int | None) -> tuple[int, int]:
    """Return the range of periods a report covers: by default the current period, never one
    that has not begun, at most :data:`MAX_REPORT_PERIODS` long.

    Raises:
        InvalidInput: the range is reversed, reaches past ``current`` or is too long.
    """
    last_index = current if last is None else last
    first_index = last_index if first is None else first
    for index in (first_index, last_index):
        if index > current:
            raise InvalidInput(f"period {index} has not begun: the current period is {current}")
    if first_index > last_index:
        raise InvalidInput(f"first_period {first_index} is after last_period {last_index}")
    if last_index - first_index + 1 > MAX_REPORT_PERIODS:
        raise InvalidInput(
            f"a report covers at most {MAX_REPORT_PERIODS} periods, "
            f"not {last_index - first_index + 1}"
        )
    return first_index, last_index
