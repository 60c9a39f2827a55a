"""What counts as usage, and how usage is grouped: the rules behind every usage figure.

A spend or a captured hold is usage of the member it debits; a refund gives usage back to the
member it credits, under the tags of the spend it reverses.  The usage report, the CSV export,
the dashboard's "used" and every store's aggregate follow these rules; the SQL store derives
its filters from :data:`~armox_enterprise.domain.ledger.SPENT_KINDS` and
:data:`~armox_enterprise.domain.ledger.REFUND_KINDS`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal, get_args

import attrs

from armox_enterprise.domain.ledger import REFUND_KINDS, SPENT_KINDS, Transfer, member_of
from armox_enterprise.exceptions import InvalidInput

__all__ = [
    "USAGE_GROUPINGS",
    "UsageEntry",
    "UsageGrouping",
    "date_bucket",
    "parse_grouping",
    "usage_entry",
    "usage_key",
]

#: What a usage report groups by.
UsageGrouping = Literal["member", "feature", "model", "day", "week", "month"]
#: Every grouping, in the order the docs list them.
USAGE_GROUPINGS: tuple[UsageGrouping, ...] = get_args(UsageGrouping)


@attrs.frozen
class UsageEntry:
    """What one transfer adds to usage figures.

    Attributes:
        account: the member account the usage belongs to.
        spent: credits spent (a spend or a capture), else 0.
        refunded: credits given back (a refund), else 0.
        count: 1 for a spend or capture, 0 for a refund.
    """

    account: str
    spent: int
    refunded: int
    count: int


def usage_entry(transfer: Transfer) -> UsageEntry | None:
    """Return what ``transfer`` adds to usage, or ``None`` if it is not usage at all."""
    if transfer.kind in SPENT_KINDS:
        return UsageEntry(transfer.debit_account, transfer.amount, 0, 1)
    if transfer.kind in REFUND_KINDS:
        return UsageEntry(transfer.credit_account, 0, transfer.amount, 0)
    return None


def parse_grouping(value: object) -> UsageGrouping:
    """Return ``value`` if it names a grouping.

    Raises:
        InvalidInput: it does not.
    """
    for grouping in USAGE_GROUPINGS:
        if isinstance(value, str) and value == grouping:
            return grouping
    raise InvalidInput(f"by must be one of {', '.join(USAGE_GROUPINGS)}, got {value!r}")


def date_bucket(by: UsageGrouping, instant: datetime) -> str:
    """Return the UTC day (``2026-01-15``), ISO week (``2026-W03``) or month (``2026-01``)."""
    day = instant.astimezone(timezone.utc).date()
    if by == "day":
        return day.isoformat()
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if by == "month":
        return f"{day.year:04d}-{day.month:02d}"
    raise InvalidInput(f"{by!r} is not a date grouping")


def usage_key(by: UsageGrouping, account: str, transfer: Transfer) -> str:
    """Return the key a usage transfer counts under; ``account`` is the member's account."""
    if by == "member":
        return member_of(account) or account
    if by == "feature":
        return transfer.feature or ""
    if by == "model":
        return transfer.model or ""
    return date_bucket(by, transfer.created_at)
