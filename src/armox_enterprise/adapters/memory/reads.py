"""The memory store's read side: usage reports and the dashboard's member table.

What counts as usage, and under which key, is the domain's
(:func:`~armox_enterprise.domain.usage.usage_entry`,
:func:`~armox_enterprise.domain.usage.usage_key`); what counts as allocated and used is the
ledger's kind sets (:data:`~armox_enterprise.domain.ledger.ALLOCATED_KINDS`,
:data:`~armox_enterprise.domain.ledger.SPENT_KINDS`,
:data:`~armox_enterprise.domain.ledger.REFUND_KINDS`), so these figures are the SQL store's.
Sums are Python integers, exact however far they pass ``MAX_CREDITS`` (as the SQL store's are),
and any offset slices the member table (past its end: an empty page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from armox_enterprise.adapters.memory.tables import MemoryRepository
from armox_enterprise.domain.ledger import (
    ALLOCATED_KINDS,
    REFUND_KINDS,
    SPENT_KINDS,
    Account,
    Transfer,
    member_account,
)
from armox_enterprise.domain.organisation import Membership
from armox_enterprise.domain.usage import UsageGrouping, parse_grouping, usage_entry, usage_key
from armox_enterprise.ports import MemberFigures, MemberSort, PeriodTotals, UsageRow

__all__ = ["MemoryReports", "MemoryViews"]

_NEVER = datetime.min.replace(tzinfo=timezone.utc)


class MemoryReports(MemoryRepository):
    """The :class:`~armox_enterprise.ports.ReportRepository` of the memory store."""

    def usage(
        self,
        organisation_id: str,
        *,
        first_period: int,
        last_period: int,
        by: UsageGrouping,
        user_id: str | None = None,
    ) -> list[UsageRow]:
        grouping = parse_grouping(by)
        wanted = None if user_id is None else member_account(user_id)
        sums: dict[str, tuple[int, int, int]] = {}
        for transfer in self._s.transfers.get(organisation_id, ()):
            if not first_period <= transfer.period_index <= last_period:
                continue
            entry = usage_entry(transfer)
            if entry is None or (wanted is not None and entry.account != wanted):
                continue
            key = usage_key(grouping, entry.account, transfer)
            spent, refunded, count = sums.get(key, (0, 0, 0))
            sums[key] = (spent + entry.spent, refunded + entry.refunded, count + entry.count)
        return [UsageRow(key, *sums[key]) for key in sorted(sums)]

    def stream_transfers(
        self, organisation_id: str, *, first_period: int, last_period: int
    ) -> Iterator[Transfer]:
        # The transfers are in memory anyway: the copy holds references, not new records.
        found = [
            t
            for t in self._s.transfers.get(organisation_id, ())
            if first_period <= t.period_index <= last_period
        ]
        found.sort(key=lambda t: (t.created_at, t.id))
        yield from found


class MemoryViews(MemoryRepository):
    """The :class:`~armox_enterprise.ports.ViewRepository` of the memory store."""

    def member_page(
        self,
        organisation_id: str,
        period_index: int,
        *,
        sort: MemberSort,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[MemberFigures], int]:
        figures = []
        for membership in self._of("memberships", organisation_id):
            if not membership.is_active:
                continue
            code = member_account(membership.user_id)
            account = self._s.accounts.get((organisation_id, code))
            tally = self._s.totals.get((organisation_id, code, period_index))
            totals = PeriodTotals() if tally is None else tally.totals()
            figures.append(_figures(membership, account, totals))
        figures.sort(key=_member_order(sort), reverse=descending)
        return figures[offset : offset + limit], len(figures)


def _figures(
    membership: Membership, account: Account | None, totals: PeriodTotals
) -> MemberFigures:
    used = totals.debited(*SPENT_KINDS) - totals.credited(*REFUND_KINDS)
    return MemberFigures(
        membership=membership,
        allocated=totals.credited(*ALLOCATED_KINDS),
        used=max(0, used),
        remaining=0 if account is None else account.available,
        on_hold=0 if account is None else account.debits_pending,
        last_activity=totals.last_activity,
    )


def _member_order(sort: MemberSort) -> Callable[[MemberFigures], tuple[Any, ...]]:
    if sort == "name":
        return lambda f: (f.membership.display_name.casefold(), f.membership.user_id)
    if sort == "last_activity":
        # Members without activity come first ascending (False sorts before True).
        return lambda f: (
            f.last_activity is not None,
            f.last_activity or _NEVER,
            f.membership.user_id,
        )
    return lambda f: (getattr(f, sort), f.membership.user_id)
