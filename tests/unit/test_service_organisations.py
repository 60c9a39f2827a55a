"""Organisations: creation, settings, domain claims, roles and member removal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from armox_enterprise import (
    NO_SEAT_LIMIT,
    AlreadyMember,
    DomainAlreadyClaimed,
    DomainNotFound,
    DomainVerificationFailed,
    EnrolmentReason,
    EnterpriseService,
    InvalidInput,
    JoinMode,
    LastAdminError,
    MemberNotFound,
    MemberRemainder,
    MemoryStore,
    Organisation,
    OrganisationNotFound,
    PermissionDenied,
    RequestStatus,
    Role,
    RolloverPolicy,
    TransferKind,
)
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import EXPIRED, GRANT, POOL, USAGE, member_account
from armox_enterprise.testing import FrozenClock, Scenario, StaticDnsResolver

UTC = timezone.utc
START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    """A clock standing at the default start."""
    return FrozenClock(START)


@pytest.fixture
def dns() -> StaticDnsResolver:
    """An empty DNS."""
    return StaticDnsResolver()


@pytest.fixture
def store() -> MemoryStore:
    """An empty memory store."""
    return MemoryStore()


@pytest.fixture
def service(store: MemoryStore, clock: FrozenClock, dns: StaticDnsResolver) -> EnterpriseService:
    """A service on the empty memory store."""
    return EnterpriseService(store, clock=clock, dns=dns)


def _create(service: EnterpriseService, **kwargs: object) -> Organisation:
    args: dict[str, object] = {
        "name": "Acme",
        "admin_user_id": "founder",
        "admin_email": "founder@acme.example",
    }
    args.update(kwargs)
    return service.create_organisation(**args)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- creation


def test_creating_an_organisation_makes_the_founder_its_admin_and_grants_the_pool(
    service: EnterpriseService,
) -> None:
    """The founder is an active admin, period 0 opens and the allowance lands in the pool."""
    delivered: list[ev.Event] = []
    service.subscribe(delivered.append)
    org = _create(service, monthly_allowance=5_000, admin_display_name="Fiona")
    assert (org.name, org.monthly_allowance, org.current_period_index) == ("Acme", 5_000, 0)
    assert org.cycle_anchor == START
    assert org.join_mode is JoinMode.AUTOMATIC
    [founder] = service.list_members("founder", org.id)
    assert (founder.role, founder.display_name, str(founder.email)) == (
        Role.ADMIN,
        "Fiona",
        "founder@acme.example",
    )
    assert service.dashboard("founder", org.id).pool.unallocated == 5_000
    assert [type(e) for e in delivered] == [
        ev.OrganisationCreated,
        ev.MemberEnrolled,
        ev.PeriodOpened,
    ]
    assert service.reconcile(org.id) == []


def test_a_new_organisation_has_the_five_kinds_of_account(
    service: EnterpriseService, store: MemoryStore
) -> None:
    """Grant, pool, usage, expired and the founder's member account exist from the start."""
    org = _create(service)
    with store.unit_of_work() as uow:
        codes = {a.code for a in uow.ledger.accounts(org.id)}
    assert codes == {GRANT, POOL, USAGE, EXPIRED, member_account("founder")}


def test_a_zero_allowance_organisation_posts_no_grant(service: EnterpriseService) -> None:
    """An organisation may start with an empty pool (it can be topped up)."""
    org = _create(service)
    assert service.dashboard("founder", org.id).pool.granted == 0
    assert service.reconcile(org.id) == []


def test_the_display_name_defaults_to_the_email_address(service: EnterpriseService) -> None:
    """A member without a display name is shown by address."""
    org = _create(service)
    [founder] = service.list_members("founder", org.id)
    assert founder.display_name == "founder@acme.example"


def test_a_past_cycle_anchor_starts_in_the_period_containing_now(
    service: EnterpriseService,
) -> None:
    """An anchor three months back puts the organisation in period 3, granted once."""
    org = _create(service, cycle_anchor=START - timedelta(days=92), monthly_allowance=100)
    assert org.current_period_index == 3
    assert org.current_period.contains(START)
    assert service.dashboard("founder", org.id).pool.granted == 100


def test_a_future_cycle_anchor_is_refused(service: EnterpriseService) -> None:
    """Periods cannot start in the future."""
    with pytest.raises(InvalidInput, match="future"):
        _create(service, cycle_anchor=START + timedelta(days=1))


def test_a_user_who_already_belongs_elsewhere_cannot_found_an_organisation(
    service: EnterpriseService, store: MemoryStore
) -> None:
    """One active membership per user, founders included; nothing is created."""
    _create(service)
    with pytest.raises(AlreadyMember):
        _create(service, name="Second")
    assert len(store.organisations) == 1


def test_members_can_read_their_organisation_and_outsiders_cannot(acme: Scenario) -> None:
    """Any member sees the organisation; an outsider is told it does not exist."""
    assert acme.service.get_organisation("member-1", acme.org_id).name == "Acme"
    with pytest.raises(OrganisationNotFound):
        acme.service.get_organisation("stranger", acme.org_id)
    with pytest.raises(OrganisationNotFound):
        acme.service.get_organisation(acme.admin, "no-such-org")


# ---------------------------------------------------------------------------- settings


def test_a_new_allowance_applies_from_the_next_period(acme: Scenario) -> None:
    """Changing the allowance does not touch the current grant; the next one uses it."""
    org = acme.service.set_monthly_allowance(acme.admin, acme.org_id, 3_000)
    assert org.monthly_allowance == 3_000
    assert acme.service.dashboard(acme.admin, acme.org_id).pool.granted == 10_000
    acme.clock.set(org.current_period.end)
    assert acme.service.dashboard(acme.admin, acme.org_id).pool.granted == 3_000


def test_settings_change_only_what_is_given_and_report_each_change(acme: Scenario) -> None:
    """``update_settings`` keeps what is left out and records one event per changed setting."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    policy = RolloverPolicy(pool_carry_over_cap=500, member_remainder=MemberRemainder.KEEP)
    org = acme.service.update_settings(
        acme.admin,
        acme.org_id,
        join_mode=JoinMode.REQUEST,
        seat_limit=10,
        rollover=policy,
        hold_lifetime=timedelta(minutes=5),
    )
    assert (org.join_mode, org.seat_limit, org.rollover) == (JoinMode.REQUEST, 10, policy)
    assert (org.max_open_requests, org.allow_pool_spend) == (1, False)
    assert org.hold_lifetime == timedelta(minutes=5)
    changed = [e.setting for e in delivered if isinstance(e, ev.OrganisationSettingsChanged)]
    assert sorted(changed) == ["hold_lifetime", "join_mode", "rollover", "seat_limit"]
    again = acme.service.update_settings(acme.admin, acme.org_id, max_open_requests=3)
    assert (again.seat_limit, again.join_mode, again.max_open_requests) == (
        10,
        JoinMode.REQUEST,
        3,
    )
    assert acme.service.get_organisation(acme.admin, acme.org_id) == again


def test_seat_limit_is_kept_by_none_and_removed_by_the_sentinel(acme: Scenario) -> None:
    """``seat_limit=None`` leaves the limit alone; ``NO_SEAT_LIMIT`` removes it."""
    acme.service.update_settings(acme.admin, acme.org_id, seat_limit=5)
    assert acme.service.update_settings(acme.admin, acme.org_id, seat_limit=None).seat_limit == 5
    cleared = acme.service.update_settings(acme.admin, acme.org_id, seat_limit=NO_SEAT_LIMIT)
    assert cleared.seat_limit is None


def test_join_mode_may_be_given_by_value(acme: Scenario) -> None:
    """The join mode's string value is accepted, like the enum."""
    org = acme.service.update_settings(
        acme.admin,
        acme.org_id,
        join_mode="invite_only",  # type: ignore[arg-type]
    )
    assert org.join_mode is JoinMode.INVITE_ONLY


@pytest.mark.parametrize(
    "settings",
    [
        {"join_mode": "open"},
        {"seat_limit": 0},
        {"seat_limit": -1},
        {"seat_limit": True},
        {"max_open_requests": 0},
        {"allow_pool_spend": "yes"},
        {"hold_lifetime": timedelta(0)},
        {"hold_lifetime": 60},
        {"rollover": "keep"},
        {"alert_thresholds": (50,)},
        {"time_zone": "Asia/Kolkata"},
        {"time_zone": "Nowhere/City"},
        {"time_zone": 5},
    ],
)
def test_malformed_settings_are_refused_and_nothing_changes(
    acme: Scenario, settings: dict[str, object]
) -> None:
    """Each bad setting is an InvalidInput; the organisation keeps its settings."""
    before = acme.service.get_organisation(acme.admin, acme.org_id)
    with pytest.raises(InvalidInput):
        acme.service.update_settings(acme.admin, acme.org_id, **settings)  # type: ignore[arg-type]
    assert acme.service.get_organisation(acme.admin, acme.org_id) == before


def test_members_cannot_change_settings(acme: Scenario) -> None:
    """Settings are for admins."""
    with pytest.raises(PermissionDenied):
        acme.service.update_settings("member-1", acme.org_id, seat_limit=1)
    with pytest.raises(PermissionDenied):
        acme.service.set_monthly_allowance("member-1", acme.org_id, 1)
    assert acme.service.get_organisation(acme.admin, acme.org_id).seat_limit is None


# ---------------------------------------------------------------------------- domains


def test_a_claim_starts_unverified_with_a_txt_record_to_publish(acme: Scenario) -> None:
    """Claiming returns the claim and the record that proves control of the domain."""
    claim = acme.service.claim_domain(acme.admin, acme.org_id, "Acme-Labs.Example.")
    assert claim.domain.value == "acme-labs.example"
    assert not claim.is_verified
    assert claim.txt_record.startswith("armox-enterprise-verification=")
    assert len(claim.verification_token) >= 32


def test_verification_needs_the_published_record(acme: Scenario) -> None:
    """Without the record verification fails; once published it succeeds."""
    claim = acme.service.claim_domain(acme.admin, acme.org_id, "acme-labs.example")
    with pytest.raises(DomainVerificationFailed):
        acme.service.verify_domain(acme.admin, acme.org_id, "acme-labs.example")
    acme.dns.publish("acme-labs.example", "v=spf1 -all")
    acme.dns.publish("acme-labs.example", f'"{claim.txt_record}"')
    verified = acme.service.verify_domain(acme.admin, acme.org_id, "acme-labs.example")
    assert verified.verified_at == acme.clock.now()
    assert verified.verification_token == claim.verification_token


def test_a_record_for_another_token_does_not_verify(acme: Scenario) -> None:
    """Only this claim's token counts."""
    acme.service.claim_domain(acme.admin, acme.org_id, "acme-labs.example")
    acme.dns.publish("acme-labs.example", "armox-enterprise-verification=someone-elses")
    with pytest.raises(DomainVerificationFailed):
        acme.service.verify_domain(acme.admin, acme.org_id, "acme-labs.example")


def test_verification_without_a_resolver_fails(clock: FrozenClock) -> None:
    """A service built without DNS cannot verify a domain."""
    service = EnterpriseService(MemoryStore(), clock=clock)
    org = _create(service)
    service.claim_domain("founder", org.id, "acme.example")
    with pytest.raises(DomainVerificationFailed):
        service.verify_domain("founder", org.id, "acme.example")


def test_verifying_again_keeps_the_first_verification(acme: Scenario) -> None:
    """A verified claim stays verified as of its first verification, record or not."""
    [claim] = acme.service.list_domains(acme.admin, acme.org_id)
    acme.dns.records.clear()
    acme.clock.advance(hours=1)
    assert acme.service.verify_domain(acme.admin, acme.org_id, acme.domain) == claim


def test_claiming_a_held_domain_again_returns_the_existing_claim(acme: Scenario) -> None:
    """Re-claiming is idempotent for the holder: same token, still verified."""
    [claim] = acme.service.list_domains(acme.admin, acme.org_id)
    assert acme.service.claim_domain(acme.admin, acme.org_id, "ACME.example") == claim


def test_a_domain_is_claimed_by_at_most_one_organisation(
    acme: Scenario, globex: Organisation
) -> None:
    """Another organisation's claim on the same domain is refused."""
    with pytest.raises(DomainAlreadyClaimed):
        acme.service.claim_domain("globex-admin", globex.id, acme.domain)
    acme.service.claim_domain(acme.admin, acme.org_id, "labs.example")
    with pytest.raises(DomainAlreadyClaimed):
        acme.service.claim_domain("globex-admin", globex.id, "labs.example")


def test_an_unverified_claim_holds_the_domain_for_seven_days(
    acme: Scenario, globex: Organisation
) -> None:
    """A fresh claim keeps others off while its owner publishes the DNS record."""
    acme.service.claim_domain(acme.admin, acme.org_id, "labs.example")
    acme.clock.advance(days=7, seconds=-1)
    with pytest.raises(DomainAlreadyClaimed):
        acme.service.claim_domain("globex-admin", globex.id, "labs.example")


def test_an_unverified_claim_lapses_after_seven_days(acme: Scenario, globex: Organisation) -> None:
    """Past its window, an unverified claim gives way to another organisation's claim."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    acme.service.claim_domain(acme.admin, acme.org_id, "labs.example", include_subdomains=True)
    acme.clock.advance(days=7)
    child = acme.service.claim_domain("globex-admin", globex.id, "eu.labs.example")
    claim = acme.service.claim_domain("globex-admin", globex.id, "labs.example")
    assert (child.organisation_id, claim.organisation_id) == (globex.id, globex.id)
    assert [d.domain.value for d in acme.service.list_domains(acme.admin, acme.org_id)] == [
        acme.domain
    ]
    removed = [e for e in delivered if isinstance(e, ev.DomainRemoved)]
    assert [(e.organisation_id, e.actor, e.domain) for e in removed] == [
        (acme.org_id, "system", "labs.example")
    ]


def test_a_verified_claim_never_lapses(acme: Scenario, globex: Organisation) -> None:
    """Once verified, a domain stays its organisation's however long ago that was."""
    acme.clock.advance(days=400)
    with pytest.raises(DomainAlreadyClaimed):
        acme.service.claim_domain("globex-admin", globex.id, acme.domain)


def test_a_subdomain_of_a_domain_claimed_with_subdomains_is_not_claimable(
    acme: Scenario, globex: Organisation
) -> None:
    """``eng.labs.example`` falls under Acme's subdomain claim on ``labs.example``."""
    acme.service.claim_domain(acme.admin, acme.org_id, "labs.example", include_subdomains=True)
    with pytest.raises(DomainAlreadyClaimed):
        acme.service.claim_domain("globex-admin", globex.id, "eng.labs.example")


def test_a_subdomain_of_a_domain_claimed_without_subdomains_is_claimable(
    acme: Scenario, globex: Organisation
) -> None:
    """An exact-domain claim leaves its subdomains free for others."""
    claim = acme.service.claim_domain("globex-admin", globex.id, f"eu.{acme.domain}")
    assert claim.organisation_id == globex.id


def test_removed_domain_enrols_nobody_and_may_be_claimed_by_others(
    acme: Scenario, globex: Organisation
) -> None:
    """Giving a domain up stops enrolment by it; existing members stay."""
    acme.service.remove_domain(acme.admin, acme.org_id, acme.domain)
    assert acme.service.list_domains(acme.admin, acme.org_id) == []
    decision = acme.service.sign_up("newbie", f"newbie@{acme.domain}", email_verified=True)
    assert decision.reason is EnrolmentReason.NO_ORGANISATION
    assert len(acme.service.list_members(acme.admin, acme.org_id)) == 3
    claim = acme.service.claim_domain("globex-admin", globex.id, acme.domain)
    assert claim.organisation_id == globex.id


def test_domains_the_organisation_does_not_hold_are_not_found(
    acme: Scenario, globex: Organisation
) -> None:
    """Verifying or removing someone else's (or nobody's) domain says it is not found."""
    with pytest.raises(DomainNotFound):
        acme.service.verify_domain("globex-admin", globex.id, acme.domain)
    with pytest.raises(DomainNotFound):
        acme.service.remove_domain("globex-admin", globex.id, acme.domain)
    with pytest.raises(DomainNotFound):
        acme.service.remove_domain(acme.admin, acme.org_id, "unclaimed.example")
    assert len(acme.service.list_domains(acme.admin, acme.org_id)) == 1


def test_domain_operations_are_for_admins(acme: Scenario) -> None:
    """Members may not claim, verify, remove or list domains."""
    with pytest.raises(PermissionDenied):
        acme.service.claim_domain("member-1", acme.org_id, "labs.example")
    with pytest.raises(PermissionDenied):
        acme.service.verify_domain("member-1", acme.org_id, acme.domain)
    with pytest.raises(PermissionDenied):
        acme.service.remove_domain("member-1", acme.org_id, acme.domain)
    with pytest.raises(PermissionDenied):
        acme.service.list_domains("member-1", acme.org_id)
    assert len(acme.service.list_domains(acme.admin, acme.org_id)) == 1


def test_domain_changes_raise_events(acme: Scenario) -> None:
    """Claim, verification and removal are each recorded."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    claim = acme.service.claim_domain(acme.admin, acme.org_id, "labs.example")
    acme.dns.publish("labs.example", claim.txt_record)
    acme.service.verify_domain(acme.admin, acme.org_id, "labs.example")
    acme.service.remove_domain(acme.admin, acme.org_id, "labs.example")
    assert [(type(e), getattr(e, "domain", None)) for e in delivered] == [
        (ev.DomainClaimed, "labs.example"),
        (ev.DomainVerified, "labs.example"),
        (ev.DomainRemoved, "labs.example"),
    ]


# ---------------------------------------------------------------------------- roles


def test_an_admin_can_promote_a_member_who_then_has_admin_powers(acme: Scenario) -> None:
    """A promoted member may use admin operations at once."""
    promoted = acme.service.change_role(acme.admin, acme.org_id, "member-1", Role.ADMIN)
    assert promoted.role is Role.ADMIN
    assert acme.service.dashboard("member-1", acme.org_id).total_members == 3


def test_a_demoted_admin_loses_admin_powers(acme: Scenario) -> None:
    """With another admin in place, an admin can be demoted and is then a plain member."""
    acme.service.change_role(acme.admin, acme.org_id, "member-1", Role.ADMIN)
    demoted = acme.service.change_role("member-1", acme.org_id, acme.admin, Role.MEMBER)
    assert demoted.role is Role.MEMBER
    with pytest.raises(PermissionDenied):
        acme.service.dashboard(acme.admin, acme.org_id)


def test_setting_the_role_a_member_has_changes_nothing(acme: Scenario) -> None:
    """No event is recorded for a no-op role change, even for the last admin."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    same = acme.service.change_role(acme.admin, acme.org_id, acme.admin, Role.ADMIN)
    assert same.role is Role.ADMIN
    assert delivered == []


def test_the_last_admin_cannot_be_demoted(acme: Scenario) -> None:
    """An organisation always keeps an active admin."""
    with pytest.raises(LastAdminError):
        acme.service.change_role(acme.admin, acme.org_id, acme.admin, Role.MEMBER)
    assert acme.service.profile(acme.admin).role is Role.ADMIN


def test_role_changes_need_an_active_member_and_a_known_role(acme: Scenario) -> None:
    """Unknown users are not found; unknown roles are invalid input."""
    with pytest.raises(MemberNotFound):
        acme.service.change_role(acme.admin, acme.org_id, "stranger", Role.ADMIN)
    with pytest.raises(InvalidInput):
        acme.service.change_role(acme.admin, acme.org_id, "member-1", "owner")  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        acme.service.change_role("member-1", acme.org_id, "member-1", Role.ADMIN)


def test_role_changes_raise_an_event(acme: Scenario) -> None:
    """A promotion is recorded with who did it."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    acme.service.change_role(acme.admin, acme.org_id, "member-1", Role.ADMIN)
    assert delivered == [
        ev.RoleChanged(
            organisation_id=acme.org_id,
            actor=acme.admin,
            occurred_at=acme.clock.now(),
            user_id="member-1",
            role="admin",
        )
    ]


# ---------------------------------------------------------------------------- removal


def test_removing_a_member_returns_their_credits_and_cancels_their_requests(
    acme: Scenario,
) -> None:
    """Unused credits go back to the pool, pending requests are cancelled, access ends."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    acme.service.spend("member-1", acme.org_id, 150, generation_id="g1")
    request = acme.service.request_credits("member-1", acme.org_id, 500)
    pool = acme.service.dashboard(acme.admin, acme.org_id).pool
    removed = acme.service.remove_member(acme.admin, acme.org_id, "member-1")
    assert not removed.is_active
    assert removed.removed_at == acme.clock.now()
    after = acme.service.dashboard(acme.admin, acme.org_id)
    assert after.pool.unallocated == pool.unallocated + 850
    assert after.pool.returned == 850
    assert after.total_members == 2
    assert after.pending_requests == []
    [cancelled] = acme.service.list_requests(acme.admin, acme.org_id, status=None)
    assert (cancelled.id, cancelled.status) == (request.id, RequestStatus.CANCELLED)
    assert [e.returned for e in delivered if isinstance(e, ev.MemberRemoved)] == [850]
    with pytest.raises(OrganisationNotFound):
        acme.service.spend("member-1", acme.org_id, 1, generation_id="g2")
    assert acme.service.reconcile(acme.org_id) == []


def test_removing_a_member_posts_one_return_transfer(acme: Scenario) -> None:
    """The returned credits move member -> pool as a RETURN transfer."""
    acme.service.remove_member(acme.admin, acme.org_id, "member-2")
    with acme.store.unit_of_work() as uow:
        moves = uow.ledger.transfers(acme.org_id, kinds=[TransferKind.RETURN])
    assert [(t.debit_account, t.credit_account, t.amount) for t in moves] == [
        (member_account("member-2"), POOL, 1_000)
    ]


def test_the_last_admin_cannot_be_removed(acme: Scenario) -> None:
    """Removing the only admin is refused; a second admin makes it possible."""
    with pytest.raises(LastAdminError):
        acme.service.remove_member(acme.admin, acme.org_id, acme.admin)
    acme.service.change_role(acme.admin, acme.org_id, "member-1", Role.ADMIN)
    acme.service.remove_member("member-1", acme.org_id, acme.admin)
    assert acme.service.profile(acme.admin).is_enterprise is False


def test_removing_someone_who_is_not_an_active_member_is_not_found(acme: Scenario) -> None:
    """A removed (or never enrolled) user cannot be removed again."""
    acme.service.remove_member(acme.admin, acme.org_id, "member-1")
    with pytest.raises(MemberNotFound):
        acme.service.remove_member(acme.admin, acme.org_id, "member-1")
    with pytest.raises(MemberNotFound):
        acme.service.remove_member(acme.admin, acme.org_id, "stranger")


def test_members_cannot_remove_members(acme: Scenario) -> None:
    """Removal is an admin operation."""
    with pytest.raises(PermissionDenied):
        acme.service.remove_member("member-1", acme.org_id, "member-2")
    assert len(acme.service.list_members(acme.admin, acme.org_id)) == 3


def test_list_members_shows_active_members_by_join_time(acme: Scenario) -> None:
    """The member list is ordered by when people joined and leaves out removed members."""
    acme.service.remove_member(acme.admin, acme.org_id, "member-1")
    assert [m.user_id for m in acme.service.list_members(acme.admin, acme.org_id)] == [
        "admin",
        "member-2",
    ]
