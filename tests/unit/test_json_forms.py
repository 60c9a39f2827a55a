"""JSON forms: each record's shape, pinned key by key, and the rules on generated views.

The golden examples are built with fixed values; each is compared member by member with the
form docs/json.md documents.  Hypothesis then builds views and records with arbitrary
values and checks that the output always goes through ``json.dumps`` and has the documented
type in every member.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import armox_enterprise
from armox_enterprise import (
    MAX_CREDITS,
    BillingPeriod,
    CreditRequest,
    Dashboard,
    DomainClaim,
    DomainName,
    EmailAddress,
    EnrolmentDecision,
    EnrolmentOutcome,
    EnrolmentReason,
    EnterpriseCredits,
    Hold,
    HoldStatus,
    Invitation,
    JoinMode,
    JoinRequest,
    MemberRemainder,
    MemberRow,
    Membership,
    Organisation,
    PoolFigures,
    ProfileView,
    RequestStatistics,
    RequestStatus,
    Role,
    RolloverPolicy,
    SoftLimit,
    Transfer,
    TransferKind,
    UsageRow,
    dumps,
    to_json,
)
from armox_enterprise.domain.events import CreditsAllocated
from armox_enterprise.domain.organisation import JoinRequestStatus, MemberStatus
from armox_enterprise.ports import StoredEvent
from armox_enterprise.serialise import DERIVED
from armox_enterprise.views import Page, TeamRow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 3, 2, 12, 30, 15, 250_000, tzinfo=timezone.utc)
T2 = datetime(2026, 4, 2, 9, 0, tzinfo=timezone.utc)
ORG = "019cadc6-9a80-70e9-858e-7aaec13ba3ad"
S0, S1, S2 = (
    "2026-03-02T09:00:00.000000Z",
    "2026-03-02T12:30:15.250000Z",
    "2026-04-02T09:00:00.000000Z",
)
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

# ---------------------------------------------------------------------- golden examples

TRANSFER = Transfer(
    id="t-1",
    organisation_id=ORG,
    kind=TransferKind.SPEND,
    debit_account="member:bruno",
    credit_account="usage",
    amount=5_000,
    period_index=3,
    actor="bruno",
    created_at=T1,
    idempotency_key="gen-1",
    reference="gen-1",
    feature="image",
    model=None,
)
HOLD = Hold(
    id="h-1",
    organisation_id=ORG,
    user_id="carla",
    amount=600,
    period_index=3,
    created_at=T0,
    expires_at=T1,
    reference="gen-3",
    status=HoldStatus.CAPTURED,
    captured=450,
    resolved_at=T1,
    feature="video",
    model="veo",
)
REQUEST = CreditRequest(
    id="r-1",
    organisation_id=ORG,
    user_id="carla",
    amount=1_000,
    note="launch",
    period_index=3,
    created_at=T0,
    status=RequestStatus.APPROVED,
    approved_amount=500,
    decided_by="ana",
    decided_at=T1,
    decision_note="500 for now",
)
ORGANISATION = Organisation(
    id=ORG,
    name="Acme",
    monthly_allowance=10_000,
    cycle_anchor=T0,
    created_at=T0,
    current_period_index=0,
    join_mode=JoinMode.REQUEST,
    seat_limit=25,
    rollover=RolloverPolicy(pool_carry_over_cap=2_000, member_remainder=MemberRemainder.KEEP),
    max_open_requests=2,
    allow_pool_spend=True,
    hold_lifetime=timedelta(hours=2),
    soft_limit=SoftLimit(percent=10),
)
MEMBERSHIP = Membership(
    organisation_id=ORG,
    user_id="bruno",
    email=EmailAddress.parse("Bruno@ACME.example"),
    display_name="Bruno",
    role=Role.MEMBER,
    joined_at=T0,
    status=MemberStatus.REMOVED,
    standing_allotment=2_000,
    removed_at=T1,
)
CLAIM = DomainClaim(
    domain=DomainName.parse("Acme.Example."),
    organisation_id=ORG,
    verification_token="abc123",
    claimed_at=T0,
    include_subdomains=True,
    verified_at=T1,
)
INVITATION = Invitation(
    organisation_id=ORG,
    email=EmailAddress.parse("carla@studio.example"),
    role=Role.ADMIN,
    invited_by="ana",
    created_at=T0,
    accepted_at=None,
)
JOIN_REQUEST = JoinRequest(
    id="j-1",
    organisation_id=ORG,
    user_id="dani",
    email=EmailAddress.parse("dani@acme.example"),
    display_name="Dani",
    created_at=T0,
    status=JoinRequestStatus.PENDING,
    decided_by=None,
    decided_at=None,
)
DECISION = EnrolmentDecision(EnrolmentOutcome.NOT_ENROLLED, EnrolmentReason.FREE_MAIL_PROVIDER)
CREDITS = EnterpriseCredits(
    allocated=3_000,
    carried_in=0,
    used=650,
    remaining=1_850,
    on_hold=500,
    period_start=T0,
    resets_at=T2,
    valid_through=date(2026, 4, 2),
    time_zone="UTC",
    can_request=False,
    request_blocked_reason="a credit request is already pending",
    pending_request=REQUEST,
)
PROFILE = ProfileView(
    user_id="bruno",
    is_enterprise=True,
    subscription_management_hidden=True,
    organisation_id=ORG,
    badge="Acme",
    role=Role.MEMBER,
    credits=CREDITS,
)
POOL = PoolFigures(
    period_index=3,
    period_start=T0,
    resets_at=T2,
    monthly_allowance=10_000,
    carried_over=0,
    granted=10_000,
    topped_up=5_000,
    allocated=4_000,
    reclaimed=500,
    returned=0,
    unallocated=11_500,
    used=1_550,
    expired=0,
    expired_last_period=7_500,
    available_total=15_000,
    utilisation=0.25,
)
ROW = MemberRow(
    user_id="bruno",
    display_name="Bruno",
    email="bruno@acme.example",
    role=Role.MEMBER,
    allocated=3_000,
    used=650,
    remaining=1_850,
    on_hold=0,
    standing_allotment=0,
    last_activity=None,
)
DASHBOARD = Dashboard(
    organisation_id=ORG,
    name="Acme",
    pool=POOL,
    members=[ROW],
    total_members=3,
    page=Page(sort="used", descending=True, offset=0, limit=1),
    pending_requests=[REQUEST],
    teams=[TeamRow("t-1", "Design", 2, 900, 600, 250, 300)],
)
STATISTICS = RequestStatistics(
    first_period=0,
    last_period=3,
    total=4,
    pending=1,
    approved=2,
    rejected=1,
    cancelled=0,
    expired=0,
    credits_requested=4_000,
    credits_approved=1_500,
    approval_rate=2 / 3,
    median_time_to_decision=timedelta(hours=3, seconds=0.5),
)
USAGE = UsageRow(key="image", spent=900, refunded=100, transfers=3)
STORED_EVENT = StoredEvent(
    id="e-1",
    organisation_id=ORG,
    name="CreditsAllocated",
    actor="ana",
    occurred_at=T1,
    payload={"user_id": "bruno", "kind": "allocate", "amount": 3_000},
    published_at=None,
)
EVENT = CreditsAllocated(
    organisation_id=ORG, actor="ana", occurred_at=T1, user_id="bruno", amount=3_000, kind="allocate"
)

REQUEST_FORM = {
    "id": "r-1",
    "organisation_id": ORG,
    "user_id": "carla",
    "amount": 1_000,
    "note": "launch",
    "period_index": 3,
    "created_at": S0,
    "status": "approved",
    "approved_amount": 500,
    "decided_by": "ana",
    "decided_at": S1,
    "decision_note": "500 for now",
    "automatic": False,
}
POOL_FORM = {
    "period_index": 3,
    "period_start": S0,
    "resets_at": S2,
    "monthly_allowance": 10_000,
    "carried_over": 0,
    "granted": 10_000,
    "topped_up": 5_000,
    "allocated": 4_000,
    "reclaimed": 500,
    "returned": 0,
    "unallocated": 11_500,
    "used": 1_550,
    "expired": 0,
    "expired_last_period": 7_500,
    "available_total": 15_000,
    "utilisation": 0.25,
}
ROW_FORM = {
    "user_id": "bruno",
    "display_name": "Bruno",
    "email": "bruno@acme.example",
    "role": "member",
    "allocated": 3_000,
    "used": 650,
    "remaining": 1_850,
    "on_hold": 0,
    "standing_allotment": 0,
    "last_activity": None,
}

GOLDEN: list[tuple[str, object, dict[str, Any]]] = [
    (
        "transfer",
        TRANSFER,
        {
            "id": "t-1",
            "organisation_id": ORG,
            "kind": "spend",
            "debit_account": "member:bruno",
            "credit_account": "usage",
            "amount": 5_000,
            "period_index": 3,
            "actor": "bruno",
            "created_at": S1,
            "idempotency_key": "gen-1",
            "reference": "gen-1",
            "feature": "image",
            "model": None,
        },
    ),
    (
        "hold",
        HOLD,
        {
            "id": "h-1",
            "organisation_id": ORG,
            "user_id": "carla",
            "amount": 600,
            "period_index": 3,
            "created_at": S0,
            "expires_at": S1,
            "reference": "gen-3",
            "status": "captured",
            "captured": 450,
            "resolved_at": S1,
            "feature": "video",
            "model": "veo",
        },
    ),
    ("credit request", REQUEST, REQUEST_FORM),
    (
        "organisation",
        ORGANISATION,
        {
            "id": ORG,
            "name": "Acme",
            "monthly_allowance": 10_000,
            "cycle_anchor": S0,
            "created_at": S0,
            "current_period_index": 0,
            "join_mode": "request",
            "seat_limit": 25,
            "rollover": {"pool_carry_over_cap": 2_000, "member_remainder": "keep"},
            "max_open_requests": 2,
            "allow_pool_spend": True,
            "hold_lifetime": 7200.0,
            "time_zone": "UTC",
            "alert_thresholds": {"member": [80, 100], "pool": [90]},
            "spend_cap": None,
            "soft_limit": {"credits": None, "percent": 10},
            "current_period": {"index": 0, "start": S0, "end": S2},
        },
    ),
    (
        "membership",
        MEMBERSHIP,
        {
            "organisation_id": ORG,
            "user_id": "bruno",
            "email": "Bruno@acme.example",
            "display_name": "Bruno",
            "role": "member",
            "joined_at": S0,
            "status": "removed",
            "standing_allotment": 2_000,
            "removed_at": S1,
            "spend_cap": None,
        },
    ),
    (
        "domain claim",
        CLAIM,
        {
            "domain": "acme.example",
            "organisation_id": ORG,
            "verification_token": "abc123",
            "claimed_at": S0,
            "include_subdomains": True,
            "verified_at": S1,
            "last_checked_at": None,
            "failing_since": None,
            "lapses_at": None,
            "lapsed_at": None,
            "verified": True,
            "status": "verified",
            "txt_record": "armox-enterprise-verification=abc123",
        },
    ),
    (
        "invitation",
        INVITATION,
        {
            "organisation_id": ORG,
            "email": "carla@studio.example",
            "role": "admin",
            "invited_by": "ana",
            "created_at": S0,
            "accepted_at": None,
        },
    ),
    (
        "join request",
        JOIN_REQUEST,
        {
            "id": "j-1",
            "organisation_id": ORG,
            "user_id": "dani",
            "email": "dani@acme.example",
            "display_name": "Dani",
            "created_at": S0,
            "status": "pending",
            "decided_by": None,
            "decided_at": None,
        },
    ),
    (
        "enrolment decision",
        DECISION,
        {
            "outcome": "not_enrolled",
            "reason": "free_mail_provider",
            "organisation_id": None,
            "enrolled": False,
        },
    ),
    (
        "profile view",
        PROFILE,
        {
            "user_id": "bruno",
            "is_enterprise": True,
            "subscription_management_hidden": True,
            "organisation_id": ORG,
            "badge": "Acme",
            "role": "member",
            "credits": {
                "allocated": 3_000,
                "carried_in": 0,
                "used": 650,
                "remaining": 1_850,
                "on_hold": 500,
                "period_start": S0,
                "resets_at": S2,
                "valid_through": "2026-04-02",
                "time_zone": "UTC",
                "can_request": False,
                "request_blocked_reason": "a credit request is already pending",
                "pending_request": REQUEST_FORM,
                "spend_cap": None,
                "cap_counted": 0,
                "cap_room": None,
                "grace_allowance": 0,
                "grace_drawn": 0,
            },
            "team": None,
            "team_remaining": None,
        },
    ),
    (
        "profile view of an outsider",
        ProfileView.personal("dani"),
        {
            "user_id": "dani",
            "is_enterprise": False,
            "subscription_management_hidden": False,
            "organisation_id": None,
            "badge": None,
            "role": None,
            "credits": None,
            "team": None,
            "team_remaining": None,
        },
    ),
    ("pool figures", POOL, POOL_FORM),
    ("member row", ROW, ROW_FORM),
    (
        "dashboard",
        DASHBOARD,
        {
            "organisation_id": ORG,
            "name": "Acme",
            "pool": POOL_FORM,
            "members": [ROW_FORM],
            "total_members": 3,
            "page": {"sort": "used", "descending": True, "offset": 0, "limit": 1},
            "pending_requests": [REQUEST_FORM],
            "teams": [
                {
                    "team_id": "t-1",
                    "name": "Design",
                    "members": 2,
                    "budget": 900,
                    "allocated": 600,
                    "used": 250,
                    "remaining": 300,
                }
            ],
        },
    ),
    (
        "request statistics",
        STATISTICS,
        {
            "first_period": 0,
            "last_period": 3,
            "total": 4,
            "pending": 1,
            "approved": 2,
            "rejected": 1,
            "cancelled": 0,
            "expired": 0,
            "credits_requested": 4_000,
            "credits_approved": 1_500,
            "approval_rate": 2 / 3,
            "median_time_to_decision": 10800.5,
        },
    ),
    (
        "usage row",
        USAGE,
        {"key": "image", "spent": 900, "refunded": 100, "transfers": 3, "net": 800},
    ),
    (
        "stored event",
        STORED_EVENT,
        {
            "id": "e-1",
            "organisation_id": ORG,
            "name": "CreditsAllocated",
            "actor": "ana",
            "occurred_at": S1,
            "payload": {"amount": 3_000, "kind": "allocate", "user_id": "bruno"},
            "published_at": None,
        },
    ),
    (
        "domain event",
        EVENT,
        {
            "name": "CreditsAllocated",
            "organisation_id": ORG,
            "actor": "ana",
            "occurred_at": S1,
            "payload": {"amount": 3_000, "kind": "allocate", "user_id": "bruno"},
        },
    ),
    ("billing period", BillingPeriod(2, T0, T2), {"index": 2, "start": S0, "end": S2}),
]


@pytest.mark.parametrize(
    ("record", "expected"), [(g[1], g[2]) for g in GOLDEN], ids=[g[0] for g in GOLDEN]
)
def test_each_record_has_its_documented_json_form(record: object, expected: dict[str, Any]) -> None:
    """Member by member (in order), the record's JSON form is the documented one."""
    form = to_json(record)
    assert list(form) == list(expected)
    for name, value in expected.items():
        assert form[name] == value, name
        assert type(form[name]) is type(value), name  # 3000, not 3000.0; True, not 1
    assert json.loads(dumps(form)) == expected


def test_lists_of_records_and_none() -> None:
    """The service's lists become arrays of the records' forms; ``None`` is ``null``."""
    assert to_json([TRANSFER, HOLD]) == [to_json(TRANSFER), to_json(HOLD)]
    assert to_json(None) is None
    assert dumps([USAGE]) == '[{"key":"image","spent":900,"refunded":100,"transfers":3,"net":800}]'


def test_dumps_is_compact_by_default_and_indents_on_request() -> None:
    """``dumps`` gives compact ASCII JSON, or one member a line with ``indent``."""
    assert dumps(BillingPeriod(0, T0, T2)) == f'{{"index":0,"start":"{S0}","end":"{S2}"}}'
    assert dumps(BillingPeriod(0, T0, T2), indent=2).splitlines()[1] == '  "index": 0,'
    assert dumps({"name": "Zoë"}) == '{"name":"Zo\\u00eb"}'


def test_an_instant_in_another_zone_is_written_in_utc() -> None:
    """An aware instant at any offset is written as the same instant in UTC, with ``Z``."""
    brasilia = timezone(timedelta(hours=-3))
    assert to_json(datetime(2026, 3, 2, 6, 0, tzinfo=brasilia)) == S0


def test_values_without_a_json_form_are_refused() -> None:
    """A naive instant and an unknown type are errors, not guesses."""
    with pytest.raises(ValueError, match="naive"):
        to_json(datetime(2026, 3, 2))
    with pytest.raises(TypeError, match="set has no JSON form"):
        to_json({1, 2})
    with pytest.raises(TypeError, match="keys are strings"):
        to_json({1: "one"})


def test_the_root_package_exports_the_json_forms() -> None:
    """``armox_enterprise.to_json`` and ``dumps`` are the public names."""
    assert armox_enterprise.to_json is to_json
    assert armox_enterprise.dumps is dumps


# ---------------------------------------------------------------------- generated views


def instants() -> st.SearchStrategy[datetime]:
    offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    return st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1), timezones=offsets
    )


AMOUNTS = st.integers(min_value=0, max_value=MAX_CREDITS)
POSITIVE = st.integers(min_value=1, max_value=MAX_CREDITS)
TEXT = st.text(max_size=30)
IDS = st.text(min_size=1, max_size=20)
OPTIONAL_TEXT = st.none() | TEXT
OPTIONAL_INSTANT = st.none() | instants()
RATIO = st.floats(min_value=0, max_value=1, allow_nan=False)

requests_ = st.builds(
    CreditRequest,
    id=IDS,
    organisation_id=IDS,
    user_id=IDS,
    amount=POSITIVE,
    note=TEXT,
    period_index=st.integers(min_value=0, max_value=10_000),
    created_at=instants(),
    status=st.sampled_from(RequestStatus),
    approved_amount=st.none() | POSITIVE,
    decided_by=st.none() | IDS,
    decided_at=OPTIONAL_INSTANT,
    decision_note=TEXT,
)
credits_sections = st.builds(
    EnterpriseCredits,
    allocated=AMOUNTS,
    carried_in=AMOUNTS,
    used=AMOUNTS,
    remaining=AMOUNTS,
    on_hold=AMOUNTS,
    period_start=instants(),
    resets_at=instants(),
    valid_through=st.dates(),
    time_zone=st.sampled_from(["UTC", "Asia/Kolkata", "America/Sao_Paulo"]),
    can_request=st.booleans(),
    request_blocked_reason=OPTIONAL_TEXT,
    pending_request=st.none() | requests_,
)
profiles = st.builds(
    ProfileView,
    user_id=IDS,
    is_enterprise=st.booleans(),
    subscription_management_hidden=st.booleans(),
    organisation_id=st.none() | IDS,
    badge=OPTIONAL_TEXT,
    role=st.none() | st.sampled_from(Role),
    credits=st.none() | credits_sections,
)
pools = st.builds(
    PoolFigures,
    period_index=st.integers(min_value=0, max_value=10_000),
    period_start=instants(),
    resets_at=instants(),
    monthly_allowance=AMOUNTS,
    carried_over=AMOUNTS,
    granted=AMOUNTS,
    topped_up=AMOUNTS,
    allocated=AMOUNTS,
    reclaimed=AMOUNTS,
    returned=AMOUNTS,
    unallocated=AMOUNTS,
    used=AMOUNTS,
    expired=AMOUNTS,
    expired_last_period=AMOUNTS,
    available_total=AMOUNTS,
    utilisation=RATIO,
)
rows = st.builds(
    MemberRow,
    user_id=IDS,
    display_name=TEXT,
    email=TEXT,
    role=st.sampled_from(Role),
    allocated=AMOUNTS,
    used=AMOUNTS,
    remaining=AMOUNTS,
    on_hold=AMOUNTS,
    standing_allotment=AMOUNTS,
    last_activity=OPTIONAL_INSTANT,
)
dashboards = st.builds(
    Dashboard,
    organisation_id=IDS,
    name=TEXT,
    pool=pools,
    members=st.lists(rows, max_size=3),
    total_members=st.integers(min_value=0, max_value=10**6),
    page=st.builds(
        Page,
        sort=st.sampled_from(["name", "allocated", "used", "remaining", "last_activity"]),
        descending=st.booleans(),
        offset=st.integers(min_value=0, max_value=2**70),
        limit=st.integers(min_value=1, max_value=500),
    ),
    pending_requests=st.lists(requests_, max_size=3),
)
statistics = st.builds(
    RequestStatistics,
    first_period=st.integers(min_value=0, max_value=100),
    last_period=st.integers(min_value=0, max_value=100),
    total=AMOUNTS,
    pending=AMOUNTS,
    approved=AMOUNTS,
    rejected=AMOUNTS,
    cancelled=AMOUNTS,
    expired=AMOUNTS,
    credits_requested=AMOUNTS,
    credits_approved=AMOUNTS,
    approval_rate=st.none() | RATIO,
    median_time_to_decision=st.none()
    | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
)
stored_events = st.builds(
    StoredEvent,
    id=IDS,
    organisation_id=IDS,
    name=IDS,
    actor=IDS,
    occurred_at=instants(),
    payload=st.dictionaries(IDS, st.none() | st.booleans() | AMOUNTS | TEXT, max_size=4),
    published_at=OPTIONAL_INSTANT,
)
VIEWS = st.one_of(
    profiles,
    dashboards,
    pools,
    rows,
    requests_,
    statistics,
    stored_events,
    st.lists(requests_, max_size=3),
)


def check_scalar(value: object, form: object) -> bool:
    """Check a scalar's form (``True``), or say ``value`` is not a scalar (``False``)."""
    if value is None or isinstance(value, bool):
        assert form is value
    elif isinstance(value, enum.Enum):
        assert form == value.value
        assert type(form) is str
    elif isinstance(value, (int, float, str)):
        assert type(form) is type(value)  # an int stays an int, a float a float
        assert form == value
    elif isinstance(value, datetime):
        assert isinstance(form, str)
        assert INSTANT.match(form), form
        assert datetime.strptime(form, "%Y-%m-%dT%H:%M:%S.%f%z") == value
    elif isinstance(value, date):
        assert isinstance(form, str)
        assert date.fromisoformat(form) == value
        assert len(form) == len("2026-04-01")
    elif isinstance(value, timedelta):
        assert type(form) is float
        assert form == value.total_seconds()
    else:
        return False
    return True


def check_form(value: object, form: object) -> None:
    """``form`` is ``value``'s JSON form by the documented rules, member by member."""
    if check_scalar(value, form):
        return
    if isinstance(value, (list, tuple)):
        assert isinstance(form, list)
        assert len(form) == len(value)
        for item, item_form in zip(value, form, strict=True):
            check_form(item, item_form)
    elif isinstance(value, Mapping):
        assert isinstance(form, dict)
        assert list(form) == sorted(value)
        for key, item in value.items():
            check_form(item, form[key])
    else:
        assert attrs.has(type(value)), type(value)
        assert isinstance(form, dict)
        names = [field.name for field in attrs.fields(type(value))]
        assert list(form) == [*names, *DERIVED.get(type(value), {})]
        for name in names:
            check_form(getattr(value, name), form[name])


@settings(max_examples=150, deadline=None)
@given(VIEWS)
def test_every_generated_view_has_a_json_form_of_the_documented_types(view: object) -> None:
    """Always ``json.dumps``-able (no NaN, string keys), and each member of the documented type."""
    form = to_json(view)
    text = json.dumps(form, allow_nan=False)
    assert json.loads(text) == form
    assert dumps(view) == json.dumps(form, separators=(",", ":"), allow_nan=False)
    check_form(view, form)
