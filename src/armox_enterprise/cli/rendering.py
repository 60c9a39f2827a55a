"""What the commands print for people: tables, numbers and instants.

For programs, ``--json`` prints the library's own JSON forms (:mod:`armox_enterprise.serialise`).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TextIO

from armox_enterprise.domain.alerts import AlertThresholds
from armox_enterprise.domain.periods import BillingPeriod, valid_through
from armox_enterprise.domain.requests import CreditRequest
from armox_enterprise.exceptions import credit_amount
from armox_enterprise.views import Dashboard, EnterpriseCredits, ProfileView

__all__ = [
    "PROGRESS_INTERVAL",
    "Progress",
    "credits",
    "credits_line",
    "dashboard_lines",
    "isatty",
    "member_summary",
    "period_line",
    "profile_lines",
    "request_rows",
    "table",
    "thresholds_line",
    "when",
]

#: The most often a progress line is redrawn, in seconds.
PROGRESS_INTERVAL = 0.1


# ---------------------------------------------------------------------- numbers and instants


def when(instant: datetime | None) -> str:
    """Return ``instant`` to the minute in UTC, or ``-`` for none."""
    return "-" if instant is None else instant.strftime("%Y-%m-%d %H:%M UTC")


def period_line(period: BillingPeriod, time_zone: str) -> str:
    """Return a period's line: its UTC bounds and the last local date it covers."""
    through = valid_through(period, time_zone)
    return (
        f"Period {period.index}: {when(period.start)} to {when(period.end)} "
        f"(valid through {through.isoformat()}, {time_zone})"
    )


def thresholds_line(thresholds: AlertThresholds) -> str:
    """Return the alert thresholds on one line."""

    def percents(values: tuple[int, ...]) -> str:
        return ", ".join(f"{v}%" for v in values) if values else "none"

    return f"Alerts: members at {percents(thresholds.member)}; pool at {percents(thresholds.pool)}"


def credits(amount: int) -> str:
    """Return ``amount`` with thousands separators and ``credit`` or ``credits``."""
    return f"{credit_amount(amount)} credit{'' if amount == 1 else 's'}"


def credits_line(section: EnterpriseCredits) -> str:
    """Return a member's four figures on one line, as the profile page shows them."""
    return (
        f"allocated {section.allocated:,} | used {section.used:,} | "
        f"remaining {section.remaining:,} | on hold {section.on_hold:,}"
    )


# ---------------------------------------------------------------------- tables


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = ()
) -> list[str]:
    """Lay ``rows`` out in columns under ``header``; the ``right`` columns are right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), *(line(row) for row in rows)]


def request_rows(requests: Sequence[CreditRequest]) -> list[str]:
    """Return credit requests as a table, one row each."""
    return table(
        ("request", "user", "amount", "approved", "status", "asked", "note"),
        [
            (
                request.id,
                request.user_id,
                f"{request.amount:,}",
                "-" if request.approved_amount is None else f"{request.approved_amount:,}",
                request.status.value,
                when(request.created_at),
                request.note,
            )
            for request in requests
        ],
        right=(2, 3),
    )


def member_summary(board: Dashboard) -> list[str]:
    """Return the dashboard's member table without ids and activity, as the demo shows it."""
    header = ("member", "role", "allocated", "used", "remaining", "on hold", "monthly")
    rows = [
        (
            row.display_name,
            row.role.value,
            f"{row.allocated:,}",
            f"{row.used:,}",
            f"{row.remaining:,}",
            f"{row.on_hold:,}",
            f"{row.standing_allotment:,}",
        )
        for row in board.members
    ]
    return table(header, rows, right=range(2, 7))


# ---------------------------------------------------------------------- views


def profile_lines(view: ProfileView) -> list[str]:
    """Return what a user's profile page shows, as ``profile`` prints it."""
    section = view.credits
    if not view.is_enterprise or section is None:
        return [f"{view.user_id} is not an Enterprise member: the host shows its usual page."]
    role = "member" if view.role is None else view.role.value
    carried = f" | carried in {section.carried_in:,}" if section.carried_in else ""
    button = "enabled" if section.can_request else f"disabled ({section.request_blocked_reason})"
    lines = [
        f"{view.user_id}: Enterprise badge {view.badge!r} ({role} of {view.organisation_id})",
        f"Enterprise Credits, {when(section.period_start)} to {when(section.resets_at)} "
        f"(valid through {section.valid_through.isoformat()}, {section.time_zone}):",
        f"  {credits_line(section)}{carried}",
        f"  request button {button}",
    ]
    pending = section.pending_request
    if pending is not None:
        lines.append(
            f"  pending request {pending.id}: {credits(pending.amount)}, "
            f"asked {when(pending.created_at)}"
        )
    hidden = "hidden" if view.subscription_management_hidden else "shown"
    lines.append(f"Subscription management: {hidden}")
    return lines


_DASHBOARD_HEADER = (
    "member",
    "user",
    "role",
    "allocated",
    "used",
    "remaining",
    "on hold",
    "monthly",
    "last activity",
)


def dashboard_lines(board: Dashboard) -> list[str]:
    """Return the admin dashboard (pool, one page of members, pending requests) as lines."""
    pool = board.pool
    lines = [
        f"{board.name} ({board.organisation_id})",
        f"Period {pool.period_index}: {when(pool.period_start)} to {when(pool.resets_at)}",
        f"Pool: granted {pool.granted:,} | topped up {pool.topped_up:,} | carried over "
        f"{pool.carried_over:,} | allocated {pool.allocated:,} | unallocated "
        f"{pool.unallocated:,} | used {pool.used:,} ({pool.utilisation:.0%})",
        "",
    ]
    page = board.page
    rows = [
        (
            row.display_name,
            row.user_id,
            row.role.value,
            f"{row.allocated:,}",
            f"{row.used:,}",
            f"{row.remaining:,}",
            f"{row.on_hold:,}",
            f"{row.standing_allotment:,}",
            when(row.last_activity),
        )
        for row in board.members
    ]
    order = "descending" if page.descending else "ascending"
    if rows:
        lines += table(_DASHBOARD_HEADER, rows, right=range(3, 8))
        first, last = page.offset + 1, page.offset + len(rows)
        shown = f"Members {first:,}-{last:,} of {board.total_members:,}"
    else:
        shown = f"No members on this page ({board.total_members:,} in all)"
    lines.append(f"{shown}, sorted by {page.sort} ({order}).")
    if page.offset + len(rows) < board.total_members:
        lines.append(f"Next page: --page {page.offset // page.limit + 2}")
    lines.append("")
    if board.pending_requests:
        lines.append(f"Pending requests ({len(board.pending_requests)}):")
        lines += [f"  {line}" for line in request_rows(board.pending_requests)]
    else:
        lines.append("No pending requests.")
    return lines


# ---------------------------------------------------------------------- progress


def isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a stream without a descriptor is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """A counter on one line of a terminal, redrawn at most every ``PROGRESS_INTERVAL``."""

    def __init__(
        self, stream: TextIO, label: str, unit: str, *, total: int | None, enabled: bool
    ) -> None:
        self.count = 0
        self._stream = stream
        self._label = label
        self._unit = unit
        self._total = total
        self._enabled = enabled
        self._drawn_at: float | None = None

    def advance(self, step: int = 1) -> None:
        """Count ``step`` more, redrawing the line if it was not drawn just now."""
        self.count += step
        if self._enabled:
            now = time.monotonic()
            if self._drawn_at is None or now - self._drawn_at >= PROGRESS_INTERVAL:
                self._draw(now)

    def finish(self) -> None:
        """Draw the final count and end the line."""
        if self._enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, now: float) -> None:
        of = "" if self._total is None else f"/{self._total:,}"
        self._stream.write(f"\r{self._label}: {self.count:,}{of} {self._unit}")
        self._stream.flush()
        self._drawn_at = now
