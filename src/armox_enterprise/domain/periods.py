"""Billing-period arithmetic: monthly periods counted from an organisation's cycle anchor."""

from __future__ import annotations

import functools
from datetime import datetime

import attrs

from armox_enterprise.domain.values import ensure_utc, months_later

__all__ = ["BillingPeriod", "period_at", "period_by_index"]


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
