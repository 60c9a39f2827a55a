"""Usage analytics through the service on the memory store: numbers computed by hand.

The history (UTC; the organisation's periods start on the 15th at 09:00):

=================  ========  ===========================================  ================
when               who       what                                         tags
=================  ========  ===========================================  ================
Thu 15 Jan 09:00   member-3  asks for 200 credits
Thu 15 Jan 09:00   member-1  spends 100 (gen-1)                           chat / m1
Thu 15 Jan 11:00   admin     approves member-3's request for 150 (2 h)
Fri 16 Jan 10:00   member-2  spends 40 (gen-2)                            image / m2
Fri 16 Jan 10:00   member-1  reserves 50 (gen-3), asks for 100 credits    chat / m1
Fri 16 Jan 10:30   member-1  captures 30 of the hold (20 released)        chat / m1
Sat 17 Jan 10:00   admin     rejects member-1's request (24 h)
Mon 19 Jan 09:00   member-2  spends 60 (gen-4), asks for 50 credits       untagged
Mon 19 Jan 09:30   member-2  cancels the request
Tue 20 Jan 12:00   admin     refunds 15 of gen-2; member-3 asks for 10    image / m2
--- period 1 (from 15 Feb 09:00; turned over on the first call after it) ---
Mon 16 Feb 12:00   admin     allocates 200 to member-1
Mon 16 Feb 12:00   member-1  spends 70 (gen-5)                            chat / m1
Mon 16 Feb 12:00   admin     refunds gen-1 in full (100)                  chat / m1
=================  ========  ===========================================  ================

Allowance 10,000; each member got 1,000 at the start; unallocated pool credits carry over up
to 2,000 and members' remainders return to the pool when a period closes.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from armox_enterprise import (
    EnterpriseService,
    InvalidInput,
    InvalidText,
    MemberRemainder,
    MemoryStore,
    OrganisationNotFound,
    PermissionDenied,
    RequestStatistics,
    RolloverPolicy,
    Transfer,
    TransferKind,
    UsageRow,
)
from armox_enterprise.ports import Store
from armox_enterprise.service import MAX_REPORT_PERIODS
from armox_enterprise.testing import Scenario, enterprise

JAN_15 = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
USAGE_HEADER = "created_at,period,transfer_id,kind,user_id,feature,model,spent,refunded,reference"
LEDGER_HEADER = (
    "created_at,period,transfer_id,kind,debit_account,credit_account,amount,actor,reference,"
    "idempotency_key,feature,model"
)


@attrs.frozen
class History:
    """The scenario above, and the ids the CSV lines name."""

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

    def at(self, day: int, month: int = 1, hour: int = 9, minute: int = 0) -> None:
        """Move the clock to that day of 2026 (UTC)."""
        self.scenario.clock.set(datetime(2026, month, day, hour, minute, tzinfo=timezone.utc))

    def next_period(self) -> tuple[Transfer, Transfer]:
        """Play period 1 of the scenario; return member-1's spend and the refund of gen-1."""
        service, org_id = self.service, self.org_id
        self.at(16, month=2, hour=12)
        service.allocate_credits("admin", org_id, "member-1", 200)
        spend = service.spend(
            "member-1", org_id, 70, generation_id="gen-5", feature="chat", model="m1"
        )
        refund = service.refund("admin", org_id, self.gen_1.id)
        return spend, refund


def usage_history(store: Store | None = None) -> History:
    """Play period 0 of the scenario (the clock ends on Tue 20 Jan 12:00)."""
    acme = enterprise(
        store=store,
        members=3,
        allowance=10_000,
        allocate=1_000,
        start=JAN_15,
        rollover=RolloverPolicy(2_000, MemberRemainder.RETURN_TO_POOL),
    )
    service, org_id, clock = acme.service, acme.org_id, acme.clock

    def at(day: int, hour: int, minute: int = 0) -> None:
        clock.set(datetime(2026, 1, day, hour, minute, tzinfo=timezone.utc))

    big = service.request_credits("member-3", org_id, 200)
    gen_1 = service.spend(
        "member-1", org_id, 100, generation_id="gen-1", feature="chat", model="m1"
    )
    at(15, 11)
    service.approve_request("admin", org_id, big.id, amount=150)
    at(16, 10)
    gen_2 = service.spend(
        "member-2", org_id, 40, generation_id="gen-2", feature="image", model="m2"
    )
    hold = service.reserve(
        "member-1", org_id, 50, generation_id="gen-3", feature="chat", model="m1"
    )
    refused = service.request_credits("member-1", org_id, 100)
    at(16, 10, 30)
    service.capture_hold("member-1", org_id, hold.id, 30)
    at(17, 10)
    service.reject_request("admin", org_id, refused.id)
    at(19, 9)
    gen_4 = service.spend("member-2", org_id, 60, generation_id="gen-4")
    withdrawn = service.request_credits("member-2", org_id, 50)
    at(19, 9, 30)
    service.cancel_request("member-2", org_id, withdrawn.id)
    at(20, 12)
    refund = service.refund("admin", org_id, gen_2.id, 15)
    service.request_credits("member-3", org_id, 10)
    with acme.store.unit_of_work() as uow:
        [capture] = uow.ledger.transfers(org_id, kinds=[TransferKind.CAPTURE])
    return History(acme, gen_1, gen_2, gen_4, hold.id, capture, refund)


def rows(report: list[UsageRow]) -> list[tuple[str, int, int, int]]:
    """The report as (key, spent, refunded, transfers) tuples."""
    return [(row.key, row.spent, row.refunded, row.transfers) for row in report]


@pytest.fixture
def history() -> History:
    """The scenario's period 0 on a memory store."""
    return usage_history()


# ---------------------------------------------------------------------------- usage


def test_usage_by_member_of_the_current_period(history: History) -> None:
    """By default the report covers the current period: spends and captures per member, the
    refund set against the member it credits; members without usage have no row."""
    report = history.service.usage_report("admin", history.org_id, by="member")
    assert rows(report) == [("member-1", 130, 0, 2), ("member-2", 100, 15, 2)]
    assert [row.net for row in report] == [130, 85]


def test_usage_by_feature_and_by_model(history: History) -> None:
    """Usage by tag puts untagged spends under "" and a refund under its spend's tags."""
    service, org_id = history.service, history.org_id
    expected = {
        "feature": [("", 60, 0, 1), ("chat", 130, 0, 2), ("image", 40, 15, 1)],
        "model": [("", 60, 0, 1), ("m1", 130, 0, 2), ("m2", 40, 15, 1)],
    }
    for by, want in expected.items():
        assert rows(service.usage_report("admin", org_id, by=by)) == want  # type: ignore[arg-type]


def test_usage_by_day_week_and_month(history: History) -> None:
    """Usage by UTC day, ISO week and month; a refund counts on the day it was made."""
    service, org_id = history.service, history.org_id
    assert rows(service.usage_report("admin", org_id, by="day")) == [
        ("2026-01-15", 100, 0, 1),
        ("2026-01-16", 70, 0, 2),
        ("2026-01-19", 60, 0, 1),
        ("2026-01-20", 0, 15, 0),
    ]
    assert rows(service.usage_report("admin", org_id, by="week")) == [
        ("2026-W03", 170, 0, 3),
        ("2026-W04", 60, 15, 1),
    ]
    assert rows(service.usage_report("admin", org_id, by="month")) == [("2026-01", 230, 15, 4)]


def test_usage_over_a_range_of_periods(history: History) -> None:
    """A range of periods adds each period's usage; a refund of an earlier period's spend
    counts in the period it was made in, and can leave a period's net usage negative."""
    history.next_period()
    service, org_id = history.service, history.org_id
    assert rows(service.usage_report("admin", org_id, by="member")) == [("member-1", 70, 100, 1)]
    assert rows(service.usage_report("admin", org_id, by="member", first_period=0)) == [
        ("member-1", 200, 100, 3),
        ("member-2", 100, 15, 2),
    ]
    assert rows(
        service.usage_report("admin", org_id, by="month", first_period=0, last_period=1)
    ) == [("2026-01", 230, 15, 4), ("2026-02", 70, 100, 1)]
    assert rows(service.usage_report("admin", org_id, by="day", last_period=0)) == rows(
        service.usage_report("admin", org_id, by="day", first_period=0, last_period=0)
    )


def test_admins_may_ask_for_one_members_usage(history: History) -> None:
    """An admin's user_id filter keeps that member's usage only."""
    report = history.service.usage_report("admin", history.org_id, by="day", user_id="member-2")
    assert rows(report) == [
        ("2026-01-16", 40, 0, 1),
        ("2026-01-19", 60, 0, 1),
        ("2026-01-20", 0, 15, 0),
    ]
    assert history.service.usage_report("admin", history.org_id, by="day", user_id="x") == []


def test_a_member_sees_only_their_own_usage(history: History) -> None:
    """A member's report is their own usage, with or without naming themselves."""
    service, org_id = history.service, history.org_id
    own = rows(service.usage_report("member-2", org_id, by="feature"))
    assert own == [("", 60, 0, 1), ("image", 40, 15, 1)]
    assert rows(service.usage_report("member-2", org_id, by="feature", user_id="member-2")) == own
    assert service.usage_report("member-3", org_id, by="member") == []


def test_a_member_may_not_ask_for_someone_elses_usage(history: History) -> None:
    """A member naming another user gets PermissionDenied."""
    with pytest.raises(PermissionDenied):
        history.service.usage_report("member-2", history.org_id, by="day", user_id="member-1")


# ---------------------------------------------------------------------------- top consumers


def test_top_consumers_rank_members_by_net_usage(history: History) -> None:
    """Top consumers are ranked by spent less refunded, most first, and cut at the limit."""
    service, org_id = history.service, history.org_id
    top = service.top_consumers("admin", org_id)
    assert [(row.key, row.net) for row in top] == [("member-1", 130), ("member-2", 85)]
    assert [row.key for row in service.top_consumers("admin", org_id, limit=1)] == ["member-1"]
    history.next_period()
    ranked = service.top_consumers("admin", org_id, first_period=0, last_period=1)
    assert [(row.key, row.net) for row in ranked] == [("member-1", 100), ("member-2", 85)]
    assert [(row.key, row.net) for row in service.top_consumers("admin", org_id)] == [
        ("member-1", -30)
    ]


def test_top_consumers_break_ties_by_user_id() -> None:
    """Members with the same net usage are listed by user id."""
    acme = enterprise(members=3, allocate=100)
    for user in ("member-3", "member-1", "member-2"):
        acme.service.spend(user, acme.org_id, 25, generation_id=f"gen-{user}")
    top = acme.service.top_consumers("admin", acme.org_id)
    assert [row.key for row in top] == ["member-1", "member-2", "member-3"]


# ---------------------------------------------------------------------------- requests


def test_request_statistics_count_outcomes_and_time_to_decision(history: History) -> None:
    """Request statistics count the period's requests by status, the approval rate over
    decided requests and the median time from request to approval or rejection."""
    stats = history.service.request_statistics("admin", history.org_id)
    assert stats == RequestStatistics(
        first_period=0,
        last_period=0,
        total=4,
        pending=1,
        approved=1,
        rejected=1,
        cancelled=1,
        expired=0,
        credits_requested=360,
        credits_approved=150,
        approval_rate=0.5,
        median_time_to_decision=timedelta(hours=13),
    )


def test_request_statistics_after_the_period_closed(history: History) -> None:
    """The request left pending when its period closed counts as expired; a period without
    requests has no approval rate and no median."""
    history.next_period()
    service, org_id = history.service, history.org_id
    closed = service.request_statistics("admin", org_id, first_period=0, last_period=0)
    assert (closed.total, closed.pending, closed.expired) == (4, 0, 1)
    current = service.request_statistics("admin", org_id)
    assert (current.total, current.approval_rate, current.median_time_to_decision) == (
        0,
        None,
        None,
    )
    both = service.request_statistics("admin", org_id, first_period=0)
    assert (both.first_period, both.last_period, both.total) == (0, 1, 4)


def test_median_of_an_odd_number_of_decisions() -> None:
    """With an odd number of decided requests the median is the middle wait."""
    acme = enterprise(members=3, start=JAN_15)
    service, org_id = acme.service, acme.org_id
    for hours, user in ((1, "member-1"), (5, "member-2"), (3, "member-3")):
        request = service.request_credits(user, org_id, 10)
        acme.clock.advance(hours=hours)
        service.approve_request("admin", org_id, request.id)
    stats = service.request_statistics("admin", org_id)
    assert (stats.approved, stats.approval_rate) == (3, 1.0)
    assert stats.median_time_to_decision == timedelta(hours=3)


# ---------------------------------------------------------------------------- pool


def test_pool_utilisation_per_period(history: History) -> None:
    """Pool utilisation gives each period's pool figures: closed periods from their totals
    (what the closing lapsed, returned and carried over), the current one as it stands."""
    history.next_period()
    service, org_id = history.service, history.org_id
    closed, current = service.pool_utilisation("admin", org_id, first_period=0)
    assert (closed.period_index, closed.period_start, closed.resets_at) == (
        0,
        JAN_15,
        datetime(2026, 2, 15, 9, tzinfo=timezone.utc),
    )
    # Closing: 6,850 unallocated, 2,000 carried, 4,850 lapsed; members returned
    # 870 + 915 + 1,150 = 2,935, so period 1 opened with 4,935.
    figures = (
        closed.monthly_allowance,
        closed.carried_over,
        closed.granted,
        closed.allocated,
        closed.returned,
        closed.unallocated,
        closed.used,
        closed.expired,
        closed.available_total,
    )
    assert figures == (10_000, 0, 10_000, 3_150, 2_935, 4_935, 215, 4_850, 10_000)
    assert closed.utilisation == pytest.approx(0.0215)
    now = (
        current.period_index,
        current.carried_over,
        current.granted,
        current.allocated,
        current.returned,
        current.unallocated,
        current.used,
        current.expired_last_period,
        current.available_total,
        current.utilisation,
    )
    # The refund of gen-1 (a period-0 spend) returned its 100 credits to the pool.
    assert now == (1, 4_935, 10_000, 200, 100, 14_835, 0, 4_850, 14_935, 0.0)
    assert service.dashboard("admin", org_id).pool == current
    assert service.pool_utilisation("admin", org_id) == [current]


# ---------------------------------------------------------------------------- CSV


def test_usage_csv_lists_each_spend_capture_and_refund(history: History) -> None:
    """The usage export is a header and one CRLF-terminated line per spend, capture and
    refund of the period, oldest first."""
    lines = list(history.service.export_usage_csv("admin", history.org_id))
    h = history
    assert lines == [
        USAGE_HEADER + "\r\n",
        f"2026-01-15T09:00:00.000000Z,0,{h.gen_1.id},spend,member-1,chat,m1,100,0,gen-1\r\n",
        f"2026-01-16T10:00:00.000000Z,0,{h.gen_2.id},spend,member-2,image,m2,40,0,gen-2\r\n",
        f"2026-01-16T10:30:00.000000Z,0,{h.capture.id},capture,member-1,chat,m1,30,0,"
        f"{h.hold_id}\r\n",
        f"2026-01-19T09:00:00.000000Z,0,{h.gen_4.id},spend,member-2,,,60,0,gen-4\r\n",
        f"2026-01-20T12:00:00.000000Z,0,{h.refund_of_gen_2.id},refund,member-2,image,m2,0,15,"
        f"{h.gen_2.id}\r\n",
    ]


def test_usage_csv_adds_up_to_the_usage_report(history: History) -> None:
    """Summing the export's spent and refunded columns per member gives the usage report."""
    history.next_period()
    service, org_id = history.service, history.org_id
    lines = service.export_usage_csv("admin", org_id, first_period=0, last_period=1)
    sums: dict[str, tuple[int, int]] = {}
    for record in csv.DictReader(lines):
        spent, refunded = sums.get(record["user_id"], (0, 0))
        sums[record["user_id"]] = (spent + int(record["spent"]), refunded + int(record["refunded"]))
    report = service.usage_report("admin", org_id, by="member", first_period=0, last_period=1)
    assert sums == {row.key: (row.spent, row.refunded) for row in report}


def test_usage_csv_of_one_member(history: History) -> None:
    """With a user id the usage export keeps that member's lines."""
    lines = list(history.service.export_usage_csv("admin", history.org_id, user_id="member-1"))
    assert len(lines) == 3
    assert all(",member-1," in line for line in lines[1:])


def test_ledger_csv_lists_every_transfer(history: History) -> None:
    """The ledger export has one line per transfer of the periods, of every kind, oldest
    first, with both accounts, the actor and the keys."""
    history.next_period()
    service, org_id = history.service, history.org_id
    lines = list(service.export_ledger_csv("admin", org_id, first_period=0, last_period=0))
    assert lines[0] == LEDGER_HEADER + "\r\n"
    kinds = [line.split(",")[3] for line in lines[1:]]
    assert kinds == [
        "grant",
        *["allocate"] * 3,
        "spend",
        "approve",
        "spend",
        "hold",
        "capture",
        "release",
        "spend",
        "refund",
        # The closing, dated when the period turned over, belongs to period 0.
        "expire",
        *["return"] * 3,
    ]
    h = history
    assert lines[5] == (
        f"2026-01-15T09:00:00.000000Z,0,{h.gen_1.id},spend,member:member-1,usage,100,member-1,"
        "gen-1,gen-1,chat,m1\r\n"
    )
    assert lines[12] == (
        f"2026-01-20T12:00:00.000000Z,0,{h.refund_of_gen_2.id},refund,usage,member:member-2,15,"
        f"admin,{h.gen_2.id},,image,m2\r\n"
    )
    assert lines[13].startswith("2026-02-16T12:00:00.000000Z,0,")
    assert lines[13].endswith(",expire,pool,expired,4850,system,,,,\r\n")
    everything = list(service.export_ledger_csv("admin", org_id, first_period=0))
    assert everything[: len(lines)] == lines
    assert len(everything) == len(lines) + 5  # grant, allocation, spend, refund, return


def test_csv_quotes_values_with_commas_and_quotes() -> None:
    """Values holding commas or quotes are quoted as CSV requires."""
    acme = enterprise(members=1, allocate=100)
    acme.service.spend("member-1", acme.org_id, 5, generation_id="g", feature='say "hi", all')
    lines = list(acme.service.export_usage_csv("admin", acme.org_id))
    assert ',"say ""hi"", all",,5,0,g\r\n' in lines[1]
    assert next(csv.reader(lines[1:]))[5] == 'say "hi", all'


def test_exports_are_streamed_in_their_own_unit_of_work() -> None:
    """An export reads nothing until iterated, and a closed export frees the store for other
    threads at once."""
    acme = enterprise(members=1, allocate=100)
    acme.service.spend("member-1", acme.org_id, 5, generation_id="g")
    lines = acme.service.export_ledger_csv("admin", acme.org_id)
    assert next(lines) == LEDGER_HEADER + "\r\n"
    lines.close()
    done = threading.Event()

    def spend_elsewhere() -> None:
        acme.service.spend("member-1", acme.org_id, 5, generation_id="h")
        done.set()

    worker = threading.Thread(target=spend_elsewhere)
    worker.start()
    worker.join(timeout=30)
    assert done.is_set()
    assert len(list(acme.service.export_usage_csv("admin", acme.org_id))) == 3


# ---------------------------------------------------------------------------- who may ask


ADMIN_ONLY: dict[str, Callable[[EnterpriseService, str, str], object]] = {
    "top_consumers": lambda s, actor, org: s.top_consumers(actor, org),
    "request_statistics": lambda s, actor, org: s.request_statistics(actor, org),
    "pool_utilisation": lambda s, actor, org: s.pool_utilisation(actor, org),
    "export_usage_csv": lambda s, actor, org: s.export_usage_csv(actor, org),
    "export_ledger_csv": lambda s, actor, org: s.export_ledger_csv(actor, org),
}


@pytest.mark.parametrize("call", ADMIN_ONLY.values(), ids=ADMIN_ONLY.keys())
def test_members_may_not_call_admin_reports(
    acme: Scenario, call: Callable[[EnterpriseService, str, str], object]
) -> None:
    """Top consumers, request statistics, pool utilisation and the exports are for admins:
    a member gets PermissionDenied when calling (an export before it is iterated)."""
    with pytest.raises(PermissionDenied):
        call(acme.service, "member-1", acme.org_id)


@pytest.mark.parametrize(
    "call",
    [*ADMIN_ONLY.values(), lambda s, actor, org: s.usage_report(actor, org, by="member")],
    ids=[*ADMIN_ONLY.keys(), "usage_report"],
)
def test_outsiders_are_told_the_organisation_does_not_exist(
    acme: Scenario, call: Callable[[EnterpriseService, str, str], object]
) -> None:
    """Someone who is not a member, or an unknown organisation, gets OrganisationNotFound."""
    with pytest.raises(OrganisationNotFound):
        call(acme.service, "stranger", acme.org_id)
    with pytest.raises(OrganisationNotFound):
        call(acme.service, "admin", "no-such-organisation")


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("by", ["hour", "Member", "", None, 1])
def test_unknown_groupings_are_refused(acme: Scenario, by: object) -> None:
    """A grouping other than member, feature, model, day, week or month is InvalidInput."""
    with pytest.raises(InvalidInput):
        acme.service.usage_report("admin", acme.org_id, by=by)  # type: ignore[arg-type]


@pytest.mark.parametrize("period", [-1, True, 1.0, "0"])
def test_periods_must_be_indexes(acme: Scenario, period: object) -> None:
    """A period that is not an int >= 0 is InvalidInput, in every report and export."""
    service, org_id = acme.service, acme.org_id
    calls: list[Callable[[], object]] = [
        lambda: service.usage_report("admin", org_id, by="day", first_period=period),  # type: ignore[arg-type]
        lambda: service.top_consumers("admin", org_id, last_period=period),  # type: ignore[arg-type]
        lambda: service.request_statistics("admin", org_id, first_period=period),  # type: ignore[arg-type]
        lambda: service.pool_utilisation("admin", org_id, last_period=period),  # type: ignore[arg-type]
        lambda: service.export_usage_csv("admin", org_id, first_period=period),  # type: ignore[arg-type]
        lambda: service.export_ledger_csv("admin", org_id, last_period=period),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(InvalidInput):
            call()


def test_ranges_must_be_in_order_and_begun(history: History) -> None:
    """A first period after the last, or a period that has not begun, is InvalidInput, and
    the exports say so when called, before any line is read."""
    history.next_period()
    service, org_id = history.service, history.org_id
    with pytest.raises(InvalidInput, match="after"):
        service.usage_report("admin", org_id, by="day", first_period=1, last_period=0)
    with pytest.raises(InvalidInput, match="has not begun"):
        service.usage_report("admin", org_id, by="day", last_period=2)
    with pytest.raises(InvalidInput, match="has not begun"):
        service.pool_utilisation("admin", org_id, first_period=2)
    with pytest.raises(InvalidInput):
        service.export_ledger_csv("admin", org_id, first_period=1, last_period=0)


def test_ranges_are_at_most_max_report_periods_long() -> None:
    """A report covers at most MAX_REPORT_PERIODS periods (ten years)."""
    acme = enterprise(members=1, start=JAN_15)
    acme.clock.advance(days=31 * (MAX_REPORT_PERIODS + 1))
    service, org_id = acme.service, acme.org_id
    current = service.get_organisation("admin", org_id).current_period_index
    assert current > MAX_REPORT_PERIODS
    last = MAX_REPORT_PERIODS - 1
    assert len(service.pool_utilisation("admin", org_id, first_period=0, last_period=last)) == (
        MAX_REPORT_PERIODS
    )
    with pytest.raises(InvalidInput, match="at most"):
        service.usage_report("admin", org_id, by="month", first_period=0, last_period=last + 1)


@pytest.mark.parametrize("limit", [0, 1001, -5, True, 2.5, None])
def test_top_consumer_limits_are_1_to_1000(acme: Scenario, limit: object) -> None:
    """The top-consumers limit is an int from 1 to 1000."""
    with pytest.raises(InvalidInput):
        acme.service.top_consumers("admin", acme.org_id, limit=limit)  # type: ignore[arg-type]


def test_user_ids_and_actors_are_validated(acme: Scenario) -> None:
    """Empty or non-string user ids and actors are InvalidText."""
    service, org_id = acme.service, acme.org_id
    with pytest.raises(InvalidText):
        service.usage_report("admin", org_id, by="day", user_id="  ")
    with pytest.raises(InvalidText):
        service.usage_report(7, org_id, by="day")  # type: ignore[arg-type]
    with pytest.raises(InvalidText):
        service.export_usage_csv("admin", org_id, user_id=3)  # type: ignore[arg-type]


def test_reports_write_nothing(
    history: History, unchanged: Callable[[Scenario], AbstractContextManager[None]]
) -> None:
    """Reports and exports only read: the store is as it was after them."""
    service, org_id = history.service, history.org_id
    with unchanged(history.scenario):
        service.usage_report("admin", org_id, by="week")
        service.top_consumers("admin", org_id)
        service.request_statistics("admin", org_id)
        service.pool_utilisation("admin", org_id)
        list(service.export_ledger_csv("admin", org_id))


def test_the_memory_store_answers_like_the_report_port(history: History) -> None:
    """The service's report is the store's: the memory store is used as it is given."""
    store = history.scenario.store
    assert isinstance(store, MemoryStore)
    with store.unit_of_work() as uow:
        direct = uow.reports.usage(history.org_id, first_period=0, last_period=0, by="model")
    assert direct == history.service.usage_report("admin", history.org_id, by="model")
