"""Usage analytics on every database backend: the same history, the same numbers by hand.

The history (UTC; the organisation's periods start on the 15th at 09:00; allowance 10,000,
1,000 allocated to each of three members, 2,000 of the pool carried over and members'
remainders returned to the pool at each closing):

=================  ========  ===========================================  ================
when               who       what                                         tags
=================  ========  ===========================================  ================
Thu 15 Jan 09:00   member-3  asks for 200 credits
Thu 15 Jan 09:00   member-1  spends 100 (gen-1)                           chat / m1
Thu 15 Jan 11:00   admin     approves member-3's request for 150 (2 h)
Fri 16 Jan 10:00   member-2  spends 40 (gen-2)                            image / M2
Fri 16 Jan 10:00   member-1  reserves 50 (gen-3), asks for 100 credits    chat / m1
Fri 16 Jan 10:30   member-1  captures 30 of the hold (20 released)        chat / m1
Sat 17 Jan 10:00   admin     rejects member-1's request (24 h)
Sun 18 Jan 23:59   member-2  spends 60 (gen-4) at 23:59:59.999999         image / m2
Tue 20 Jan 12:00   admin     refunds 15 of gen-2; member-3 asks for 10    image / M2
--- period 1 (from 15 Feb 09:00) ---
Mon 16 Feb 12:00   admin     allocates 200 to member-1
Mon 16 Feb 12:00   member-1  spends 70 (gen-5)                            chat / m1
Mon 16 Feb 12:00   admin     refunds gen-1 in full (100)                  chat / m1
=================  ========  ===========================================  ================

The models ``M2`` and ``m2`` differ only in case: MariaDB's usual collation compares them
equal, and the reports must not.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import attrs
import pytest

from armox_enterprise import (
    EnterpriseService,
    MemberRemainder,
    RequestStatistics,
    RolloverPolicy,
    Transfer,
    TransferKind,
    UsageRow,
)
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

JAN_15 = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)


@attrs.frozen
class History:
    """The history above, on one backend, and the ids the CSV lines name."""

    scenario: Scenario
    gen_1: Transfer
    gen_2: Transfer
    gen_4: Transfer
    hold_id: str
    capture: Transfer
    refund_of_gen_2: Transfer

    @property
    def service(self) -> EnterpriseService:
        return self.scenario.service

    @property
    def org_id(self) -> str:
        return self.scenario.org_id

    def next_period(self) -> None:
        """Play period 1."""
        service, org_id = self.service, self.org_id
        self.scenario.clock.set(datetime(2026, 2, 16, 12, tzinfo=timezone.utc))
        service.allocate_credits("admin", org_id, "member-1", 200)
        service.spend("member-1", org_id, 70, generation_id="gen-5", feature="chat", model="m1")
        service.refund("admin", org_id, self.gen_1.id)


@pytest.fixture
def history(backend: Backend) -> History:
    """Period 0 of the history on the backend (the clock ends on Tue 20 Jan 12:00)."""
    acme = enterprise(
        store=backend.store(),
        members=3,
        allowance=10_000,
        allocate=1_000,
        start=JAN_15,
        rollover=RolloverPolicy(2_000, MemberRemainder.RETURN_TO_POOL),
    )
    service, org_id, clock = acme.service, acme.org_id, acme.clock

    def at(day: int, hour: int, minute: int = 0, *, last_microsecond: bool = False) -> None:
        instant = datetime(2026, 1, day, hour, minute, tzinfo=timezone.utc)
        if last_microsecond:
            instant += timedelta(seconds=59, microseconds=999_999)
        clock.set(instant)

    big = service.request_credits("member-3", org_id, 200)
    gen_1 = service.spend(
        "member-1", org_id, 100, generation_id="gen-1", feature="chat", model="m1"
    )
    at(15, 11)
    service.approve_request("admin", org_id, big.id, amount=150)
    at(16, 10)
    gen_2 = service.spend(
        "member-2", org_id, 40, generation_id="gen-2", feature="image", model="M2"
    )
    hold = service.reserve(
        "member-1", org_id, 50, generation_id="gen-3", feature="chat", model="m1"
    )
    refused = service.request_credits("member-1", org_id, 100)
    at(16, 10, 30)
    service.capture_hold("member-1", org_id, hold.id, 30)
    at(17, 10)
    service.reject_request("admin", org_id, refused.id)
    at(18, 23, 59, last_microsecond=True)
    gen_4 = service.spend(
        "member-2", org_id, 60, generation_id="gen-4", feature="image", model="m2"
    )
    at(20, 12)
    refund = service.refund("admin", org_id, gen_2.id, 15)
    service.request_credits("member-3", org_id, 10)
    with acme.store.unit_of_work() as uow:
        [capture] = uow.ledger.transfers(org_id, kinds=[TransferKind.CAPTURE])
    return History(acme, gen_1, gen_2, gen_4, hold.id, capture, refund)


def rows(report: list[UsageRow]) -> list[tuple[str, int, int, int]]:
    """The report as (key, spent, refunded, transfers) tuples."""
    return [(row.key, row.spent, row.refunded, row.transfers) for row in report]


def test_usage_by_every_grouping(history: History) -> None:
    """Usage by member, feature, model, day, week and month of the current period."""
    service, org_id = history.service, history.org_id
    expected = {
        "member": [("member-1", 130, 0, 2), ("member-2", 100, 15, 2)],
        "feature": [("chat", 130, 0, 2), ("image", 100, 15, 2)],
        "model": [("M2", 40, 15, 1), ("m1", 130, 0, 2), ("m2", 60, 0, 1)],
        "day": [
            ("2026-01-15", 100, 0, 1),
            ("2026-01-16", 70, 0, 2),
            ("2026-01-18", 60, 0, 1),
            ("2026-01-20", 0, 15, 0),
        ],
        "week": [("2026-W03", 230, 0, 4), ("2026-W04", 0, 15, 0)],
        "month": [("2026-01", 230, 15, 4)],
    }
    for by, want in expected.items():
        assert rows(service.usage_report("admin", org_id, by=by)) == want, by  # type: ignore[arg-type]


def test_members_see_their_own_usage(history: History) -> None:
    """A member's report holds their own usage only."""
    report = history.service.usage_report("member-2", history.org_id, by="model")
    assert rows(report) == [("M2", 40, 15, 1), ("m2", 60, 0, 1)]


def test_reports_over_two_periods(history: History) -> None:
    """Across periods: usage, top consumers, request statistics and pool utilisation."""
    history.next_period()
    service, org_id = history.service, history.org_id
    assert rows(service.usage_report("admin", org_id, by="member", first_period=0)) == [
        ("member-1", 200, 100, 3),
        ("member-2", 100, 15, 2),
    ]
    assert rows(service.usage_report("admin", org_id, by="month", first_period=0)) == [
        ("2026-01", 230, 15, 4),
        ("2026-02", 70, 100, 1),
    ]
    top = service.top_consumers("admin", org_id, first_period=0)
    assert [(row.key, row.net) for row in top] == [("member-1", 100), ("member-2", 85)]
    assert service.request_statistics("admin", org_id, first_period=0) == RequestStatistics(
        first_period=0,
        last_period=1,
        total=3,
        pending=0,
        approved=1,
        rejected=1,
        cancelled=0,
        expired=1,
        credits_requested=310,
        credits_approved=150,
        approval_rate=0.5,
        median_time_to_decision=timedelta(hours=13),
    )
    closed, current = service.pool_utilisation("admin", org_id, first_period=0)
    # Closing period 0: 6,850 unallocated, 2,000 carried, 4,850 lapsed; members returned
    # 870 + 915 + 1,150 = 2,935.  Period 1: the refund of gen-1 returned 100 to the pool.
    assert (
        closed.carried_over,
        closed.allocated,
        closed.returned,
        closed.unallocated,
        closed.used,
        closed.expired,
        closed.available_total,
    ) == (0, 3_150, 2_935, 4_935, 215, 4_850, 10_000)
    assert (
        current.carried_over,
        current.allocated,
        current.returned,
        current.unallocated,
        current.used,
        current.expired_last_period,
        current.available_total,
    ) == (4_935, 200, 100, 14_835, 0, 4_850, 14_935)
    assert service.dashboard("admin", org_id).pool == current


def test_usage_csv_line_by_line(history: History) -> None:
    """The usage export: a header, then one line per spend, capture and refund, in order."""
    h = history
    lines = list(h.service.export_usage_csv("admin", h.org_id))
    assert lines == [
        "created_at,period,transfer_id,kind,user_id,feature,model,spent,refunded,reference\r\n",
        f"2026-01-15T09:00:00.000000Z,0,{h.gen_1.id},spend,member-1,chat,m1,100,0,gen-1\r\n",
        f"2026-01-16T10:00:00.000000Z,0,{h.gen_2.id},spend,member-2,image,M2,40,0,gen-2\r\n",
        f"2026-01-16T10:30:00.000000Z,0,{h.capture.id},capture,member-1,chat,m1,30,0,"
        f"{h.hold_id}\r\n",
        f"2026-01-18T23:59:59.999999Z,0,{h.gen_4.id},spend,member-2,image,m2,60,0,gen-4\r\n",
        f"2026-01-20T12:00:00.000000Z,0,{h.refund_of_gen_2.id},refund,member-2,image,M2,0,15,"
        f"{h.gen_2.id}\r\n",
    ]


def test_ledger_csv_line_by_line(history: History) -> None:
    """The ledger export: a header, then every transfer of the period in order, each with
    its accounts, amount, actor and keys."""
    h = history
    lines = list(h.service.export_ledger_csv("admin", h.org_id))
    assert lines[0] == (
        "created_at,period,transfer_id,kind,debit_account,credit_account,amount,actor,"
        "reference,idempotency_key,feature,model\r\n"
    )
    records = list(csv.reader(lines[1:]))
    assert [(r[3], r[4], r[5], r[6]) for r in records] == [
        ("grant", "grant", "pool", "10000"),
        ("allocate", "pool", "member:member-1", "1000"),
        ("allocate", "pool", "member:member-2", "1000"),
        ("allocate", "pool", "member:member-3", "1000"),
        ("spend", "member:member-1", "usage", "100"),
        ("approve", "pool", "member:member-3", "150"),
        ("spend", "member:member-2", "usage", "40"),
        ("hold", "member:member-1", "usage", "50"),
        ("capture", "member:member-1", "usage", "30"),
        ("release", "member:member-1", "usage", "20"),
        ("spend", "member:member-2", "usage", "60"),
        ("refund", "usage", "member:member-2", "15"),
    ]
    assert all(line.endswith("\r\n") for line in lines)
    assert lines[5] == (
        f"2026-01-15T09:00:00.000000Z,0,{h.gen_1.id},spend,member:member-1,usage,100,member-1,"
        "gen-1,gen-1,chat,m1\r\n"
    )
    assert lines[9] == (
        f"2026-01-16T10:30:00.000000Z,0,{h.capture.id},capture,member:member-1,usage,30,"
        f"member-1,{h.hold_id},,chat,m1\r\n"
    )
    assert lines[12] == (
        f"2026-01-20T12:00:00.000000Z,0,{h.refund_of_gen_2.id},refund,usage,member:member-2,"
        f"15,admin,{h.gen_2.id},,image,M2\r\n"
    )
    with h.scenario.store.unit_of_work() as uow:
        stored = uow.ledger.transfers(h.org_id, period_index=0)
    assert sorted(r[2] for r in records) == sorted(t.id for t in stored)


def test_an_export_stopped_early_leaves_the_database_usable(history: History) -> None:
    """Closing an export after one line ends its transaction: writes go on, and a new
    export sees them."""
    h = history
    lines = h.service.export_ledger_csv("admin", h.org_id)
    next(lines)
    next(lines)
    lines.close()
    h.service.spend("member-2", h.org_id, 1, generation_id="after")
    usage = list(h.service.export_usage_csv("admin", h.org_id))
    assert usage[-1].endswith(",member-2,,,1,0,after\r\n")
