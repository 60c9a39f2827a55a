"""The read side: aggregates and read models the store computes in bulk.

The store computes them where the data is (in the database for SQL), so a dashboard page
costs a bounded number of statements however long the organisation's history grows, and
every store answers with the same figures, by the domain's usage rules
(:mod:`armox_enterprise.domain.usage`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from armox_enterprise.domain.ledger import Transfer
from armox_enterprise.domain.usage import UsageGrouping
from armox_enterprise.ports.records import MemberFigures, MemberSort, UsageRow

__all__ = ["ReportRepository", "ViewRepository"]


class ReportRepository(Protocol):
    """Aggregates for usage analytics, computed by the store (in the database for SQL)."""

    def usage(
        self,
        organisation_id: str,
        *,
        first_period: int,
        last_period: int,
        by: UsageGrouping,
        user_id: str | None = None,
    ) -> list[UsageRow]:
        """Return credits used in periods ``first_period..last_period`` (inclusive) grouped
        ``by`` one key, ordered by key; only ``user_id``'s when given."""
        ...

    def stream_transfers(
        self, organisation_id: str, *, first_period: int, last_period: int
    ) -> Iterator[Transfer]:
        """Yield the transfers of the periods, oldest first, without holding them all in
        memory (the unit of work must stay open while the iterator is used)."""
        ...


class ViewRepository(Protocol):
    """Read models the store computes in bulk (the dashboard's member table)."""

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
        """Return one page of active members with their figures, and how many there are.

        ``name`` sorts by display name (case-insensitive), the others by that figure; ties
        break by user id.  Members without activity sort first ascending by
        ``last_activity``.  The cost must not grow with the organisation's history.
        """
        ...
