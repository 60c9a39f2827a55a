"""Billing-period arithmetic: monthly periods counted from an organisation's cycle anchor."""

from __future__ import annotations

import functools
from datetime import datetime

import attrs

from armox_enterprise.domain.values import ensure_utc, months_later
from armox_enterprise.exceptions import InvalidInput

__all__ = ["MAX_REPORT_PERIODS", "BillingPeriod", "period_at", "period_by_index", "report_range"]

#: The longest range of periods one report or export covers (ten years of months).
MAX_REPORT_PERIODS = 120


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


def period_by_index(anchor: datetime, index: int) -> BillingPeriod:
    """Return the period number ``index`` of a cycle anchored at ``anchor``."""
    return _period_by_index(ensure_utc(anchor, name="anchor"), index)


@functools.lru_cache(maxsize=4096)
def _period_by_index(anchor: datetime, index: int) -> BillingPeriod:
    # Every use case asks for its organisation's current period: remember the answers.
    return BillingPeriod(index, months_later(anchor, index), months_later(anchor, index + 1))


def period_at(anchor: datetime, instant: datetime) -> BillingPeriod:
    """Return the period of the cycle anchored at ``anchor`` that contains ``instant``.

    The anchor's day of month is clamped to each month's length, so an anchor on the 31st
    gives periods starting on the 28th or 29th of February and the 30th of April.
    Instants before the anchor belong to negative indexes.
    """
    anchor = ensure_utc(anchor, name="anchor")
    instant = ensure_utc(instant)
    guess = (instant.year - anchor.year) * 12 + (instant.month - anchor.month)
    while months_later(anchor, guess) > instant:
        guess -= 1
    while months_later(anchor, guess + 1) <= instant:
        guess += 1
    return period_by_index(anchor, guess)


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
