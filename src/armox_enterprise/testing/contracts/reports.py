"""The reports repository's contract: usage by member, tag, day, ISO week and month, and
streamed transfers for exports."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from armox_enterprise.domain.ledger import (
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    Transfer,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.values import new_id
from armox_enterprise.ports import (
    Store,
    UsageGrouping,
    UsageRow,
)
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    a_transfer,
    at,
)

__all__ = ["ReportContract"]


class ReportContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.ReportRepository`.

    Needs: organisations (for the foreign key), the ledger (the reports read its transfers)
    and reports.
    """

    @staticmethod
    def _usage_transfer(
        org_id: str,
        kind: TransferKind,
        debit: str,
        credit: str,
        amount: int,
        when: datetime,
        *,
        period: int = 0,
        feature: str | None = None,
        model: str | None = None,
    ) -> Transfer:
        return Transfer(
            id=new_id(when),
            organisation_id=org_id,
            kind=kind,
            debit_account=debit,
            credit_account=credit,
            amount=amount,
            period_index=period,
            actor="admin",
            created_at=when,
            feature=feature,
            model=model,
        )

    def _usage_history(self) -> tuple[Store, str]:
        """Seed the usage the report cases compute by hand (times UTC, January 2026).

        ======  =========================  ======  ==============  ======  ==================
        period  at                         member  kind            amount  feature / model
        ======  =========================  ======  ==============  ======  ==================
        0       Thu 15th 09:10             ann     spend           10      chat / gpt
        0       Thu 15th 23:59:59.999999   ann     spend           20      image / flux
        0       Fri 16th 00:00             bob     spend           30      chat / GPT
        0       Sat 17th 08:00             bob     hold 40 (not usage)
        0       Sun 18th 10:00             bob     capture         25      chat / gpt
        0       Sun 18th 10:00             bob     release 15 (not usage)
        0       Mon 19th 12:00             ann     spend           5       (untagged)
        0       Tue 20th 12:00             ann     refund of 20th  20      image / flux
        1       Mon 16 Feb 12:00           bob     spend           7       chat / gpt
        1       Tue 17 Feb 12:00           bob     refund of 30    30      chat / GPT
        ======  =========================  ======  ==============  ======  ==================

        Grants, allocations, a reclaim, an expiry and another organisation's spend are there
        too, and must not count.
        """
        store, org_id = self._seeded("ann", "bob", members=False)
        other = self._seed(store, "ann-elsewhere", members=False)
        ann, bob = member_account("ann"), member_account("bob")
        jan = datetime(2026, 1, 15, tzinfo=timezone.utc)
        feb = datetime(2026, 2, 16, 12, tzinfo=timezone.utc)
        k = TransferKind
        chat_gpt = {"feature": "chat", "model": "gpt"}
        chat_upper = {"feature": "chat", "model": "GPT"}
        image = {"feature": "image", "model": "flux"}
        history: list[tuple[TransferKind, str, str, int, datetime, int, dict[str, str]]] = [
            (k.GRANT, GRANT, POOL, 1000, jan, 0, {}),
            (k.ALLOCATE, POOL, ann, 300, jan, 0, {}),
            (k.ALLOCATE, POOL, bob, 300, jan, 0, {}),
            (k.SPEND, ann, USAGE, 10, jan.replace(hour=9, minute=10), 0, chat_gpt),
            (k.SPEND, ann, USAGE, 20, jan + timedelta(days=1, microseconds=-1), 0, image),
            (k.SPEND, bob, USAGE, 30, jan + timedelta(days=1), 0, chat_upper),
            (k.HOLD, bob, USAGE, 40, jan + timedelta(days=2, hours=8), 0, chat_gpt),
            (k.CAPTURE, bob, USAGE, 25, jan + timedelta(days=3, hours=10), 0, chat_gpt),
            (k.RELEASE, bob, USAGE, 15, jan + timedelta(days=3, hours=10), 0, chat_gpt),
            (k.SPEND, ann, USAGE, 5, jan + timedelta(days=4, hours=12), 0, {}),
            (k.REFUND, USAGE, ann, 20, jan + timedelta(days=5, hours=12), 0, image),
            (k.RECLAIM, ann, POOL, 50, jan + timedelta(days=6), 0, {}),
            (k.EXPIRE, POOL, EXPIRED, 100, jan + timedelta(days=7), 0, {}),
            (k.GRANT, GRANT, POOL, 1000, feb - timedelta(hours=12), 1, {}),
            (k.SPEND, bob, USAGE, 7, feb, 1, chat_gpt),
            (k.REFUND, USAGE, bob, 30, feb + timedelta(days=1), 1, chat_upper),
        ]
        elsewhere = member_account("ann-elsewhere")
        with store.unit_of_work() as uow:
            for kind, debit, credit, amount, when, period, tags in history:
                uow.ledger.post(
                    self._usage_transfer(
                        org_id, kind, debit, credit, amount, when, period=period, **tags
                    )
                )
            for kind, debit, credit, amount in (
                (k.GRANT, GRANT, POOL, 100),
                (k.ALLOCATE, POOL, elsewhere, 100),
                (k.SPEND, elsewhere, USAGE, 60),
            ):
                uow.ledger.post(
                    self._usage_transfer(other, kind, debit, credit, amount, jan, feature="chat")
                )
            uow.commit()
        return store, org_id

    @staticmethod
    def _usage(
        store: Store,
        org_id: str,
        by: UsageGrouping,
        first: int = 0,
        last: int = 0,
        user_id: str | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """The report as (key, spent, refunded, transfers) tuples."""
        with store.unit_of_work() as uow:
            rows = uow.reports.usage(
                org_id, first_period=first, last_period=last, by=by, user_id=user_id
            )
        assert all(isinstance(row, UsageRow) for row in rows)
        return [(row.key, row.spent, row.refunded, row.transfers) for row in rows]

    def test_usage_by_member_counts_spends_captures_and_refunds(self) -> None:
        """Usage by member sums each member's spends and captures, counts them, and sets
        refunds against the member they credit; other kinds and organisations do not count."""
        store, org_id = self._usage_history()
        assert self._usage(store, org_id, "member") == [
            ("ann", 35, 20, 3),
            ("bob", 55, 0, 2),
        ]
        assert self._usage(store, org_id, "member", 0, 1) == [
            ("ann", 35, 20, 3),
            ("bob", 62, 30, 3),
        ]
        with store.unit_of_work() as uow:
            [row] = uow.reports.usage(org_id, first_period=1, last_period=1, by="member")
        assert (row.key, row.net) == ("bob", -23)

    def test_usage_by_tag_keeps_untagged_apart_and_tags_exact(self) -> None:
        """Usage by feature or model groups by the exact tag (case counts), untagged usage
        under "", refunds under the tags of the spend they give back; keys in order."""
        store, org_id = self._usage_history()
        assert self._usage(store, org_id, "feature") == [
            ("", 5, 0, 1),
            ("chat", 65, 0, 3),
            ("image", 20, 20, 1),
        ]
        assert self._usage(store, org_id, "model") == [
            ("", 5, 0, 1),
            ("GPT", 30, 0, 1),
            ("flux", 20, 20, 1),
            ("gpt", 35, 0, 2),
        ]
        assert self._usage(store, org_id, "model", 1, 1) == [("GPT", 0, 30, 0), ("gpt", 7, 0, 1)]

    def test_usage_by_day_week_and_month_buckets_utc_dates(self) -> None:
        """Usage by day, ISO week and month buckets each transfer by its own UTC date (a
        refund on the day it was made); a microsecond before midnight is still that day."""
        store, org_id = self._usage_history()
        assert self._usage(store, org_id, "day") == [
            ("2026-01-15", 30, 0, 2),
            ("2026-01-16", 30, 0, 1),
            ("2026-01-18", 25, 0, 1),
            ("2026-01-19", 5, 0, 1),
            ("2026-01-20", 0, 20, 0),
        ]
        assert self._usage(store, org_id, "week") == [
            ("2026-W03", 85, 0, 4),
            ("2026-W04", 5, 20, 1),
        ]
        assert self._usage(store, org_id, "month") == [("2026-01", 90, 20, 5)]
        assert self._usage(store, org_id, "month", 0, 1) == [
            ("2026-01", 90, 20, 5),
            ("2026-02", 7, 30, 1),
        ]

    def test_usage_weeks_follow_iso_8601_across_years(self) -> None:
        """ISO weeks belong to the year of their Thursday: 30 Dec 2024 is 2025-W01 and
        1 Jan 2027 is 2026-W53."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        days = [
            datetime(2024, 12, 29, 23, 59, 59, 999_999, tzinfo=timezone.utc),
            datetime(2024, 12, 30, tzinfo=timezone.utc),
            datetime(2027, 1, 1, 12, tzinfo=timezone.utc),
            datetime(2027, 1, 3, 23, tzinfo=timezone.utc),
            datetime(2027, 1, 4, tzinfo=timezone.utc),
        ]
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, GRANT, ann, 100))
            for amount, when in enumerate(days, start=1):
                spend = self._usage_transfer(org_id, TransferKind.SPEND, ann, USAGE, amount, when)
                uow.ledger.post(spend)
            uow.commit()
        assert self._usage(store, org_id, "week") == [
            ("2024-W52", 1, 0, 1),
            ("2025-W01", 2, 0, 1),
            ("2026-W53", 3 + 4, 0, 2),
            ("2027-W01", 5, 0, 1),
        ]
        assert self._usage(store, org_id, "month") == [("2024-12", 3, 0, 2), ("2027-01", 12, 0, 3)]
        assert [key for key, *_ in self._usage(store, org_id, "day")] == [
            "2024-12-29",
            "2024-12-30",
            "2027-01-01",
            "2027-01-03",
            "2027-01-04",
        ]

    def test_usage_of_one_member_and_of_empty_ranges(self) -> None:
        """With a user id only that member's usage counts; a member without usage, another
        organisation's member and a range without transfers give no rows."""
        store, org_id = self._usage_history()
        assert self._usage(store, org_id, "model", 0, 1, user_id="bob") == [
            ("GPT", 30, 30, 1),
            ("gpt", 32, 0, 2),
        ]
        assert self._usage(store, org_id, "day", user_id="ann") == [
            ("2026-01-15", 30, 0, 2),
            ("2026-01-19", 5, 0, 1),
            ("2026-01-20", 0, 20, 0),
        ]
        assert self._usage(store, org_id, "member", 0, 1, user_id="bob") == [("bob", 62, 30, 3)]
        assert self._usage(store, org_id, "member", 0, 1, user_id="ann-elsewhere") == []
        assert self._usage(store, org_id, "member", 0, 1, user_id="nobody") == []
        assert self._usage(store, org_id, "day", 2, 5) == []
        assert self._usage(store, new_id(T0), "member") == []

    def test_stream_transfers_yields_the_periods_transfers_oldest_first(self) -> None:
        """Streaming yields every transfer of the periods (of every kind) ordered by time, then
        id, whatever order they were posted in, and nothing of other periods or
        organisations."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        when = at(60)
        make, spend = self._usage_transfer, TransferKind.SPEND
        later = make(org_id, spend, ann, USAGE, 1, when + timedelta(minutes=5))
        tie_a = make(org_id, spend, ann, USAGE, 2, when)
        tie_b = make(org_id, spend, ann, USAGE, 3, when)
        earlier = make(org_id, TransferKind.ALLOCATE, POOL, ann, 10, when - timedelta(minutes=5))
        next_period = make(org_id, spend, ann, USAGE, 4, when, period=1)
        grant = a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10)
        with store.unit_of_work() as uow:
            for transfer in (grant, earlier, later, tie_b, tie_a, next_period):
                uow.ledger.post(transfer)
            uow.commit()
        expected = sorted([grant, earlier, later, tie_a, tie_b], key=lambda t: (t.created_at, t.id))
        with store.unit_of_work() as uow:
            stream = uow.reports.stream_transfers(org_id, first_period=0, last_period=0)
            assert iter(stream) is stream
            assert list(stream) == expected
            both = list(uow.reports.stream_transfers(org_id, first_period=0, last_period=1))
            assert both == sorted([*expected, next_period], key=lambda t: (t.created_at, t.id))
            assert list(uow.reports.stream_transfers(org_id, first_period=2, last_period=9)) == []
            elsewhere = uow.reports.stream_transfers(new_id(T0), first_period=0, last_period=0)
            assert list(elsewhere) == []
