"""A typing test of the public API: ``mypy tests/typing`` must pass with ``strict = true``.

It is never run; mypy checks that the names a host uses have the precise types documented, and
``assert_type`` fails the check if an annotation drifts (say, a view field becoming ``Any``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

from typing_extensions import assert_type

import armox_enterprise
from armox_enterprise import (
    MAX_CREDITS,
    NO_SEAT_LIMIT,
    AlertThresholds,
    ArmoxError,
    BillingPeriod,
    CapStatus,
    CreditRequest,
    Dashboard,
    DirectoryResult,
    DirectoryUser,
    DomainClaim,
    DomainName,
    DomainStatus,
    EmailAddress,
    EnrolmentDecision,
    EnrolmentReason,
    EnrolmentRefused,
    EnterpriseCredits,
    EnterpriseService,
    Event,
    ExistingUser,
    FreeMailList,
    Hold,
    HoldStatus,
    InsufficientCredits,
    Invitation,
    JoinMode,
    JoinRequest,
    LimitExceeded,
    MemberRemainder,
    MemberRow,
    Membership,
    MemoryStore,
    Organisation,
    PoolFigures,
    ProfileView,
    RecheckReport,
    RequestStatus,
    Role,
    RolloverPolicy,
    SoftLimit,
    Team,
    TeamMember,
    TeamRow,
    Transfer,
    TransferKind,
)
from armox_enterprise.ports import Clock, DnsResolver, Store
from armox_enterprise.testing import FrozenClock, Scenario, StaticDnsResolver, enterprise


class HostDns:
    """A host's own resolver, matching the DnsResolver protocol structurally."""

    def txt_records(self, domain: str) -> Sequence[str]:
        """Return no records."""
        return []


def ports_are_structural(store: MemoryStore, clock: FrozenClock) -> None:
    """The memory store, frozen clock and a host class satisfy the ports."""
    as_store: Store = store
    as_clock: Clock = clock
    as_dns: DnsResolver = HostDns()
    also_dns: DnsResolver = StaticDnsResolver()
    EnterpriseService(as_store, clock=as_clock, dns=as_dns)
    EnterpriseService(store, dns=also_dns, free_mail=FreeMailList().with_extra(["x.example"]))


def organisation_calls(service: EnterpriseService) -> None:
    """Creating and configuring an organisation."""
    org = service.create_organisation(
        name="Acme",
        admin_user_id="admin",
        admin_email="admin@acme.example",
        monthly_allowance=10_000,
        cycle_anchor=datetime(2026, 1, 31, tzinfo=timezone.utc),
        join_mode=JoinMode.REQUEST,
        seat_limit=50,
        rollover=RolloverPolicy(1_000, MemberRemainder.KEEP),
        hold_lifetime=timedelta(minutes=30),
        time_zone="Asia/Kolkata",
        alert_thresholds=AlertThresholds(member=(50, 100), pool=()),
    )
    assert_type(org, Organisation)
    assert_type(org.time_zone, str)
    assert_type(org.alert_thresholds.member, tuple[int, ...])
    assert_type(org.period(0), BillingPeriod)
    assert_type(org.id, str)
    assert_type(org.seat_limit, "int | None")
    assert_type(org.current_period, BillingPeriod)
    assert_type(org.current_period.end, datetime)
    assert_type(service.update_settings("admin", org.id, seat_limit=NO_SEAT_LIMIT), Organisation)
    assert_type(service.set_monthly_allowance("admin", org.id, 0), Organisation)
    claim = service.claim_domain("admin", org.id, "acme.example", include_subdomains=True)
    assert_type(claim, DomainClaim)
    assert_type(claim.domain, DomainName)
    assert_type(claim.txt_record, str)
    assert_type(claim.status, DomainStatus)
    assert_type(claim.lapses_at, datetime | None)
    assert_type(service.verify_domain("admin", org.id, "acme.example"), DomainClaim)
    assert_type(service.list_domains("admin", org.id), list[DomainClaim])
    assert_type(service.remove_domain("admin", org.id, "acme.example"), None)
    assert_type(service.change_role("admin", org.id, "jane", Role.ADMIN), Membership)
    assert_type(service.remove_member("admin", org.id, "jane"), Membership)
    assert_type(service.list_members("admin", org.id), list[Membership])
    assert_type(service.set_standing_allotment("admin", org.id, "jane", 100), Membership)
    assert_type(service.provision_member(org.id, "jo", "jo@acme.example"), DirectoryResult)
    assert_type(service.deactivate_member(org.id, "jo"), DirectoryResult)
    assert_type(service.reactivate_member(org.id, "jo"), DirectoryResult)
    assert_type(service.directory_member(org.id, "jo"), Membership)
    assert_type(service.directory_members(org.id), list[Membership])
    assert_type(service.delete_member(org.id, "jo"), DirectoryResult)
    assert_type(service.directory_user(org.id, "jo"), DirectoryUser)
    assert_type(service.directory_users(org.id), list[DirectoryUser])


def enrolment_calls(service: EnterpriseService, org_id: str) -> None:
    """Sign-up, invitations, join requests and capture."""
    decision = service.sign_up("jane", "jane@acme.example", email_verified=True)
    assert_type(decision, EnrolmentDecision)
    assert_type(decision.enrolled, bool)
    assert_type(decision.reason, EnrolmentReason)
    assert_type(decision.organisation_id, "str | None")
    assert_type(service.enrol("joe", "joe@acme.example", email_verified=True), EnrolmentDecision)
    assert_type(service.invite("admin", org_id, "c@x.example", role=Role.MEMBER), Invitation)
    requests = service.list_join_requests("admin", org_id)
    assert_type(requests, list[JoinRequest])
    assert_type(
        service.decide_join_request("admin", org_id, requests[0].id, approve=True), JoinRequest
    )
    decisions = service.capture_existing_users(
        "admin", org_id, [ExistingUser("u", "u@acme.example", email_verified=True)]
    )
    assert_type(decisions, list[EnrolmentDecision])
    try:
        service.enrol("x", "x@gmail.com", email_verified=True)
    except EnrolmentRefused as refused:
        assert_type(refused.reason, EnrolmentReason)


def credit_calls(service: EnterpriseService, org_id: str) -> None:
    """Pool, spending, holds, refunds and requests."""
    assert_type(service.top_up("admin", org_id, 500, idempotency_key="inv-1"), Transfer)
    try:
        service.top_up("admin", org_id, MAX_CREDITS)
    except LimitExceeded as full:
        assert_type(str(full), str)
    allocation = service.allocate_credits("admin", org_id, "jane", 100)
    assert_type(allocation.kind, TransferKind)
    assert_type(allocation.amount, int)
    assert_type(service.reclaim_credits("admin", org_id, "jane", 10), Transfer)
    try:
        spend = service.spend("jane", org_id, 5, generation_id="g1", feature="image", model="m")
    except InsufficientCredits as short:
        assert_type(short.available, int)
        assert_type(short.can_request, bool)
        return
    assert_type(service.refund("admin", org_id, spend.id, 2, idempotency_key="r1"), Transfer)
    hold = service.reserve("jane", org_id, 5, generation_id="g2", lifetime=timedelta(minutes=5))
    assert_type(hold, Hold)
    assert_type(hold.status, HoldStatus)
    assert_type(service.capture_hold("jane", org_id, hold.id, 3, idempotency_key="c1"), Hold)
    assert_type(service.release_hold("jane", org_id, hold.id, idempotency_key="r2"), Hold)
    assert_type(service.release_expired_holds(org_id), int)
    request = service.request_credits("jane", org_id, 50, note="please")
    assert_type(request, CreditRequest)
    assert_type(request.status, RequestStatus)
    assert_type(
        service.approve_request("admin", org_id, request.id, amount=40, idempotency_key="a1"),
        CreditRequest,
    )
    assert_type(
        service.reject_request("admin", org_id, request.id, idempotency_key="j1"), CreditRequest
    )
    assert_type(service.cancel_request("jane", org_id, request.id), CreditRequest)
    assert_type(service.list_requests("admin", org_id, status=None), list[CreditRequest])
    assert_type(service.close_due_periods(), list[str])
    failed: list[str] = []
    turned = service.close_due_periods(on_failure=lambda org, error: failed.append(org))
    assert_type(turned, list[str])
    assert_type(service.check_alerts(on_failure=lambda org, error: None), int)
    report = service.recheck_domains(grace=timedelta(hours=24), on_failure=lambda o, e: None)
    assert_type(report, RecheckReport)
    assert_type(report.lapsed, tuple[str, ...])
    assert_type(report.unanswered, tuple[tuple[str, str], ...])
    assert_type(service.reconcile(org_id), list[str])


def view_calls(service: EnterpriseService, org_id: str) -> None:
    """The profile and the dashboard."""
    profile = service.profile("jane")
    assert_type(profile, ProfileView)
    assert_type(profile.is_enterprise, bool)
    assert_type(profile.badge, "str | None")
    if profile.credits is not None:
        assert_type(profile.credits, EnterpriseCredits)
        assert_type(profile.credits.remaining, int)
        assert_type(profile.credits.resets_at, datetime)
        assert_type(profile.credits.valid_through, date)
        assert_type(profile.credits.time_zone, str)
        assert_type(profile.credits.pending_request, "CreditRequest | None")
    dashboard = service.dashboard("admin", org_id, sort="remaining", descending=True, limit=10)
    assert_type(dashboard, Dashboard)
    assert_type(dashboard.pool, PoolFigures)
    assert_type(dashboard.pool.utilisation, float)
    assert_type(dashboard.pool.expired_last_period, int)
    assert_type(dashboard.members, list[MemberRow])
    assert_type(dashboard.members[0].last_activity, "datetime | None")
    assert_type(dashboard.pending_requests, list[CreditRequest])


def events_and_values() -> None:
    """Subscribing to events; value types; the testing helpers."""
    scenario = enterprise(members=1, allocate=10)
    assert_type(scenario, Scenario)
    assert_type(scenario.org_id, str)
    assert_type(scenario.members, "tuple[str, ...]")
    assert_type(scenario.clock.advance(hours=1), datetime)

    def handler(event: Event) -> None:
        assert_type(event.name, str)
        assert_type(event.occurred_at, datetime)

    scenario.service.subscribe(handler)
    assert_type(EmailAddress.parse("a@b.example").domain, DomainName)
    assert_type(DomainName.parse("b.example").parents(), list[DomainName])
    assert_type(MAX_CREDITS, int)
    assert_type(armox_enterprise.__version__, str)
    error: ArmoxError = armox_enterprise.InvalidAmount("bad")
    value_error: ValueError = armox_enterprise.InvalidAmount("bad")
    type_error: TypeError = armox_enterprise.AmountTypeError("bad")
    del error, value_error, type_error


def team_and_cap_calls(service: EnterpriseService, org_id: str) -> None:
    """Teams with budgets, their delegated manager, and monthly caps."""
    team = service.create_team("admin", org_id, "Design")
    assert_type(team, Team)
    assert_type(service.rename_team("admin", org_id, team.id, "Brand"), Team)
    assert_type(service.list_teams("admin", org_id), list[Team])
    assert_type(service.fund_team("admin", org_id, team.id, 100, idempotency_key="f1"), Transfer)
    assert_type(service.reclaim_team_budget("admin", org_id, team.id, 10), Transfer)
    assert_type(service.assign_team("admin", org_id, "jane", team.id), "TeamMember | None")
    assert_type(service.delegate_team("admin", org_id, "jane"), TeamMember)
    assert_type(service.team_members("admin", org_id, team.id), list[TeamMember])
    assert_type(service.dashboard("admin", org_id).teams, list[TeamRow])
    assert_type(service.delete_team("admin", org_id, team.id), Team)
    status = service.set_spend_cap("admin", org_id, 500, user_id="jane")
    assert_type(status, CapStatus)
    assert_type(status.room, "int | None")
    assert_type(service.spend_cap_status("jane", org_id), CapStatus)
    team_cap = service.set_spend_cap("admin", org_id, 200, team_id=team.id)
    assert_type(team_cap.team_cap, "int | None")
    assert_type(team_cap.team_id, "str | None")
    assert_type(team.spend_cap, "int | None")
    assert_type(service.spend_cap_status("admin", org_id, team_id=team.id), CapStatus)
    limited = service.set_soft_limit("admin", org_id, SoftLimit(percent=10))
    assert_type(limited, Organisation)
    assert_type(limited.soft_limit, "SoftLimit | None")
    assert_type(SoftLimit(credits=50).credits, "int | None")
    credits = service.profile("jane").credits
    if credits is not None:
        assert_type(credits.grace_allowance, int)
        assert_type(credits.grace_drawn, int)
    assert_type(service.list_requests("admin", org_id)[0].automatic, bool)
    assert_type(service.recheck_domains(grace=timedelta(hours=24)), RecheckReport)
