"""Sums the database computes without overflowing a signed 64-bit integer.

PostgreSQL sums a ``BIGINT`` column as ``NUMERIC`` and MySQL/MariaDB as ``DECIMAL``, so their
``SUM`` never overflows; SQLite's ``sum()`` of integers raises "integer overflow" past
``2**63 - 1``.  A figure that adds many bounded totals (the usage sink's credits over its
members, one period's spends over the members, a report's spends over several periods) may
pass that, so on SQLite it is summed in two halves, the high and the low 32 bits of each
value (each half far from overflowing for any number of rows a table can hold), and put
together in Python, where integers do not overflow.
"""

from __future__ import annotations

from typing import Any

import attrs
from sqlalchemy import ColumnElement, RowMapping, func

__all__ = ["ExactSum"]

_HALF = 32


@attrs.frozen
class ExactSum:
    """The exact sum of a column of non-negative integers, as one or two result columns.

    Attributes:
        name: the label of the sum (of its halves: ``name_high`` and ``name_low``).
        column: what is summed.
        split: whether it is summed in halves (SQLite).
    """

    name: str
    column: ColumnElement[Any]
    split: bool

    @classmethod
    def of(cls, dialect: str, column: ColumnElement[Any], name: str) -> ExactSum:
        """The sum of ``column`` labelled ``name``, as ``dialect`` sums it exactly."""
        return cls(name, column, dialect == "sqlite")

    @property
    def columns(self) -> list[ColumnElement[Any]]:
        """The result columns to select (to group by whatever the query groups by)."""
        if not self.split:
            return [func.sum(self.column).label(self.name)]
        return [
            func.sum(self.column.bitwise_rshift(_HALF)).label(f"{self.name}_high"),
            func.sum(self.column.bitwise_and(2**_HALF - 1)).label(f"{self.name}_low"),
        ]

    def value(self, row: RowMapping) -> int:
        """The sum in a result row (0 when no row was summed)."""
        if not self.split:
            total = row[self.name]
            return 0 if total is None else int(total)
        high, low = row[f"{self.name}_high"], row[f"{self.name}_low"]
        return 0 if high is None else (int(high) << _HALF) + int(low)
