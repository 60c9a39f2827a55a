"""Soft limits: a grace amount a member who ran out may still spend, and the one automatic
credit request that asks the admins to settle it.

An organisation may set a :class:`SoftLimit`: a number of credits, or a percentage of what
each member was given in the period (allocations, allotments and approvals: the profile's
"allocated").  A member whose credits do not cover a spend may then spend the difference
(:func:`grace_draw`) out of the pool, or out of their team's budget, until what they drew in
the period reaches their allowance (:func:`grace_allowance`).  What the grace lends is a
``GRACE`` transfer to the member's account, posted with the spend in one unit of work, so
the member's figures count the spend as theirs, and a cap still bounds it.

The first spend on grace files a credit request for the member (``automatic``), once per
run-out (:func:`files_automatic_request`): while it waits for a decision no other is filed;
an approval gives the member credits again, and the next time they run out files a new one;
a rejection is the admins' answer for the rest of the period.  A member with a request of
their own pending gets none: the admins already have one to decide.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.values import MAX_CREDITS
from armox_enterprise.exceptions import AmountTypeError, InvalidAmount, InvalidInput

__all__ = [
    "AUTOMATIC_REQUEST_NOTE",
    "SoftLimit",
    "files_automatic_request",
    "grace_allowance",
    "grace_draw",
    "soft_limit",
]

#: The note of a credit request filed by a member's first spend on grace.
AUTOMATIC_REQUEST_NOTE = "filed automatically: credits ran out, spending on grace"


def _whole(value: object, name: str, *, most: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AmountTypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if not 1 <= value <= most:
        raise InvalidAmount(f"{name} must be between 1 and {most}, got {value}")
    return value


def _credits(value: object) -> int | None:
    return _whole(value, "soft limit credits", most=MAX_CREDITS)


def _percent(value: object) -> int | None:
    return _whole(value, "soft limit percent", most=100)


@attrs.frozen
class SoftLimit:
    """How much a member who ran out of credits may still spend in a period.

    Exactly one of the two is set.

    Attributes:
        credits: a fixed grace of this many credits per member and period (``1..MAX_CREDITS``).
        percent: a grace of this percentage (``1..100``) of what the member was given in the
            period, rounded down.

    Raises:
        InvalidInput: both or neither are set.
        InvalidAmount: a value is out of its range (``AmountTypeError``: not an int).
    """

    credits: int | None = attrs.field(default=None, converter=_credits)
    percent: int | None = attrs.field(default=None, converter=_percent)

    def __attrs_post_init__(self) -> None:
        if (self.credits is None) == (self.percent is None):
            raise InvalidInput("a soft limit is either a number of credits or a percentage")

    def describe(self) -> str:
        """Say the limit in words: ``"100 credits"`` or ``"10% of what was given"``."""
        if self.credits is not None:
            return f"{self.credits:,} credits"
        return f"{self.percent}% of what was given"


def soft_limit(value: object) -> SoftLimit | None:
    """Return ``value`` if it is a valid setting: a :class:`SoftLimit` or ``None`` (none).

    Raises:
        InvalidInput: ``value`` is neither.
    """
    if value is None or isinstance(value, SoftLimit):
        return value
    raise InvalidInput(f"soft_limit must be a SoftLimit or None, not {type(value).__name__}")


def grace_allowance(limit: SoftLimit | None, *, given: int) -> int:
    """Return how many credits a member may draw on grace in a period.

    Args:
        limit: the organisation's soft limit (``None``: no grace).
        given: what the member was given in the period (the profile's "allocated").
    """
    if limit is None:
        return 0
    if limit.credits is not None:
        return limit.credits
    assert limit.percent is not None
    return max(0, given) * limit.percent // 100


def grace_draw(allowance: int, *, drawn: int, available: int, amount: int) -> int | None:
    """Return what the grace must lend for a spend of ``amount``, or ``None`` if it cannot.

    Args:
        allowance: :func:`grace_allowance` for the member and period.
        drawn: what the member already drew on grace in the period.
        available: the member's available credits (never below zero counts).
        amount: the spend.

    Returns:
        ``0`` when the member's credits cover the spend; the shortfall when what is left of
        the allowance covers it; ``None`` when it does not (the spend is refused whole: a
        spend is never split between credits the member has and credits they do not).
    """
    shortfall = max(0, amount - max(0, available))
    if shortfall == 0:
        return 0
    return shortfall if shortfall <= allowance - drawn else None


def files_automatic_request(requests: Iterable[CreditRequest], *, period_index: int) -> bool:
    """Return whether a spend on grace files an automatic credit request for the member.

    Args:
        requests: the member's credit requests (any status), oldest first.
        period_index: the period the spend is in.

    A member gets one automatic request per run-out: none while any request of theirs is
    pending (an automatic one, or one of their own), none after the period's last automatic
    request was rejected (the admins answered), one otherwise.
    """
    last: CreditRequest | None = None
    for request in requests:
        if request.is_pending:
            return False
        if request.automatic and request.period_index == period_index:
            last = request
    return last is None or last.status is not RequestStatus.REJECTED
