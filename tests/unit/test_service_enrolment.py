"""Enrolment through the service: sign-up decisions, invitations, join requests, capture."""

from __future__ import annotations

import pytest

from armox_enterprise import (
    AlreadyMember,
    DomainNotClaimable,
    EnrolmentDecision,
    EnrolmentOutcome,
    EnrolmentReason,
    EnrolmentRefused,
    EnterpriseService,
    ExistingUser,
    FreeMailList,
    InvalidTransition,
    JoinMode,
    JoinRequestNotFound,
    MemberRemainder,
    MemoryStore,
    Organisation,
    PermissionDenied,
    Role,
    RolloverPolicy,
)
from armox_enterprise.domain import events as ev
from armox_enterprise.testing import FrozenClock, Scenario, StaticDnsResolver, enterprise

Out = EnrolmentOutcome
Why = EnrolmentReason


def _members(s: Scenario) -> list[str]:
    return [m.user_id for m in s.service.list_members(s.admin, s.org_id)]


def _claim_unverified(s: Scenario, domain: str, *, subdomains: bool = False) -> None:
    s.service.claim_domain(s.admin, s.org_id, domain, include_subdomains=subdomains)


def _claim_verified(s: Scenario, domain: str, *, subdomains: bool = False) -> None:
    claim = s.service.claim_domain(s.admin, s.org_id, domain, include_subdomains=subdomains)
    s.dns.publish(domain, claim.txt_record)
    s.service.verify_domain(s.admin, s.org_id, domain)


# ---------------------------------------------------------------------------- sign-up decisions


def test_a_verified_company_address_enrols_automatically(acme: Scenario) -> None:
    """The brief's promise: sign up with the work email and you are in, as a member."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    decision = acme.service.sign_up(
        "jane", "Jane@ACME.example", email_verified=True, display_name="Jane"
    )
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.DOMAIN_MATCH, acme.org_id)
    profile = acme.service.profile("jane")
    assert (profile.is_enterprise, profile.badge, profile.role) == (True, "Acme", Role.MEMBER)
    assert [(e.user_id, e.reason) for e in delivered if isinstance(e, ev.MemberEnrolled)] == [
        ("jane", "domain_match")
    ]


@pytest.mark.parametrize(
    ("email", "verified", "reason"),
    [
        ("jane@acme.example", False, Why.EMAIL_NOT_VERIFIED),
        ("jane@gmail.com", True, Why.FREE_MAIL_PROVIDER),
        ("jane@uol.com.br", True, Why.FREE_MAIL_PROVIDER),
        ("jane@elsewhere.example", True, Why.NO_ORGANISATION),
        ("jane@eng.acme.example", True, Why.NO_ORGANISATION),
        ("jane@notacme.example", True, Why.NO_ORGANISATION),
    ],
)
def test_sign_ups_that_enrol_nobody_say_why(
    acme: Scenario, email: str, verified: bool, reason: EnrolmentReason
) -> None:
    """``sign_up`` never raises for a policy outcome; the reason explains it; nothing joins."""
    decision = acme.service.sign_up("jane", email, email_verified=verified)
    assert decision.outcome is Out.NOT_ENROLLED
    assert decision.reason is reason
    assert not decision.enrolled
    assert acme.service.profile("jane").is_enterprise is False
    assert "jane" not in _members(acme)


@pytest.mark.parametrize(
    ("email", "verified", "reason"),
    [
        ("jane@acme.example", False, Why.EMAIL_NOT_VERIFIED),
        ("jane@gmail.com", True, Why.FREE_MAIL_PROVIDER),
        ("jane@elsewhere.example", True, Why.NO_ORGANISATION),
    ],
)
def test_enrol_raises_with_the_reason_when_nobody_is_enrolled(
    acme: Scenario, email: str, verified: bool, reason: EnrolmentReason
) -> None:
    """The strict variant raises EnrolmentRefused carrying the same reason."""
    with pytest.raises(EnrolmentRefused) as caught:
        acme.service.enrol("jane", email, email_verified=verified)
    assert caught.value.reason is reason
    assert "jane" not in _members(acme)


def test_an_unverified_domain_enrols_nobody_until_verified(acme: Scenario) -> None:
    """A claimed but unverified domain refuses; after verification the same sign-up enrols."""
    claim = acme.service.claim_domain(acme.admin, acme.org_id, "acme-labs.example")
    decision = acme.service.sign_up("jane", "jane@acme-labs.example", email_verified=True)
    assert decision == EnrolmentDecision(Out.NOT_ENROLLED, Why.DOMAIN_NOT_VERIFIED, acme.org_id)
    acme.dns.publish("acme-labs.example", claim.txt_record)
    acme.service.verify_domain(acme.admin, acme.org_id, "acme-labs.example")
    assert acme.service.sign_up("jane", "jane@acme-labs.example", email_verified=True).enrolled


def test_signing_up_again_as_a_member_changes_nothing(acme: Scenario) -> None:
    """A member's repeated sign-up reports ALREADY_MEMBER and records no event."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    decision = acme.service.enrol("member-1", "member-1@acme.example", email_verified=True)
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.ALREADY_MEMBER, acme.org_id)
    assert delivered == []
    assert _members(acme).count("member-1") == 1


def test_a_member_of_another_organisation_is_not_taken_over(
    acme: Scenario, globex: Organisation
) -> None:
    """Globex's admin signing up with an Acme address stays in Globex."""
    decision = acme.service.sign_up("globex-admin", "boss@acme.example", email_verified=True)
    assert decision == EnrolmentDecision(
        Out.NOT_ENROLLED, Why.MEMBER_OF_ANOTHER_ORGANISATION, acme.org_id
    )
    assert acme.service.profile("globex-admin").organisation_id == globex.id


# ---------------------------------------------------------------------------- subdomains


def test_a_claim_with_subdomains_enrols_addresses_under_it(acme: Scenario) -> None:
    """``labs.example`` claimed with subdomains enrols ``eng.labs.example`` addresses."""
    _claim_verified(acme, "labs.example", subdomains=True)
    assert acme.service.sign_up("jane", "jane@eng.labs.example", email_verified=True).enrolled
    assert acme.service.sign_up("joe", "joe@labs.example", email_verified=True).enrolled


def test_a_claim_without_subdomains_enrols_only_its_exact_domain(acme: Scenario) -> None:
    """``eng.labs.example`` is not covered by an exact claim on ``labs.example``."""
    _claim_verified(acme, "labs.example")
    decision = acme.service.sign_up("jane", "jane@eng.labs.example", email_verified=True)
    assert decision.reason is Why.NO_ORGANISATION


def test_the_most_specific_claim_decides(acme: Scenario, globex: Organisation) -> None:
    """Globex's exact claim on a subdomain wins over Acme's exact claim on the parent."""
    claim = acme.service.claim_domain("globex-admin", globex.id, "eu.acme.example")
    acme.dns.publish("eu.acme.example", claim.txt_record)
    acme.service.verify_domain("globex-admin", globex.id, "eu.acme.example")
    decision = acme.service.sign_up("jane", "jane@eu.acme.example", email_verified=True)
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.DOMAIN_MATCH, globex.id)


# ---------------------------------------------------------------------------- free mail


@pytest.mark.parametrize(
    "domain", ["gmail.com", "GMail.com.", "uol.com.br", "bol.com.br", "mail.yahoo.com"]
)
def test_free_mail_domains_cannot_be_claimed(acme: Scenario, domain: str) -> None:
    """Claiming a free-mail provider (or a name under one) is refused outright."""
    with pytest.raises(DomainNotClaimable):
        acme.service.claim_domain(acme.admin, acme.org_id, domain)
    assert len(acme.service.list_domains(acme.admin, acme.org_id)) == 1


def test_the_host_can_extend_the_free_mail_list() -> None:
    """A service built with an extended list refuses the host's own providers too."""
    store = MemoryStore()
    service = EnterpriseService(
        store, clock=FrozenClock(), free_mail=FreeMailList().with_extra(["correo.example"])
    )
    org = service.create_organisation(
        name="Acme", admin_user_id="admin", admin_email="admin@acme.example"
    )
    with pytest.raises(DomainNotClaimable):
        service.claim_domain("admin", org.id, "correo.example")
    decision = service.sign_up("jane", "jane@correo.example", email_verified=True)
    assert decision.reason is Why.FREE_MAIL_PROVIDER


# ---------------------------------------------------------------------------- seat limit


def test_the_seat_limit_refuses_sign_ups_once_every_seat_is_taken(acme: Scenario) -> None:
    """With three seats and three members, the next sign-up is refused with the reason."""
    acme.service.update_settings(acme.admin, acme.org_id, seat_limit=3)
    decision = acme.service.sign_up("jane", "jane@acme.example", email_verified=True)
    assert decision == EnrolmentDecision(Out.NOT_ENROLLED, Why.SEAT_LIMIT_REACHED, acme.org_id)
    with pytest.raises(EnrolmentRefused) as caught:
        acme.service.enrol("jane", "jane@acme.example", email_verified=True)
    assert caught.value.reason is Why.SEAT_LIMIT_REACHED
    assert len(_members(acme)) == 3


def test_removing_a_member_frees_a_seat(acme: Scenario) -> None:
    """Only active members take seats."""
    acme.service.update_settings(acme.admin, acme.org_id, seat_limit=3)
    acme.service.remove_member(acme.admin, acme.org_id, "member-2")
    assert acme.service.sign_up("jane", "jane@acme.example", email_verified=True).enrolled


def test_the_seat_limit_applies_to_invited_users(acme: Scenario) -> None:
    """An invitation does not create a seat."""
    acme.service.update_settings(acme.admin, acme.org_id, seat_limit=3)
    acme.service.invite(acme.admin, acme.org_id, "guest@partner.example")
    decision = acme.service.sign_up("guest", "guest@partner.example", email_verified=True)
    assert decision.reason is Why.SEAT_LIMIT_REACHED


# ---------------------------------------------------------------------------- invitations


def test_invite_only_organisations_refuse_uninvited_company_addresses(acme: Scenario) -> None:
    """Invite-only: a matching domain is not enough."""
    acme.service.update_settings(acme.admin, acme.org_id, join_mode=JoinMode.INVITE_ONLY)
    decision = acme.service.sign_up("jane", "jane@acme.example", email_verified=True)
    assert decision == EnrolmentDecision(Out.NOT_ENROLLED, Why.INVITATION_REQUIRED, acme.org_id)


def test_an_invited_address_enrols_with_the_invited_role(acme: Scenario) -> None:
    """An invitation as admin makes the user an admin; the invitation is then used up."""
    acme.service.update_settings(acme.admin, acme.org_id, join_mode=JoinMode.INVITE_ONLY)
    invitation = acme.service.invite(acme.admin, acme.org_id, "Jane@acme.example", role=Role.ADMIN)
    assert (invitation.role, invitation.invited_by, invitation.accepted_at) == (
        Role.ADMIN,
        acme.admin,
        None,
    )
    decision = acme.service.sign_up("jane", "Jane@acme.example", email_verified=True)
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.INVITED, acme.org_id)
    assert acme.service.profile("jane").role is Role.ADMIN
    acme.service.remove_member(acme.admin, acme.org_id, "jane")
    again = acme.service.sign_up("jane", "Jane@acme.example", email_verified=True)
    assert again.reason is Why.INVITATION_REQUIRED


def test_an_invitation_admits_an_address_outside_the_organisations_domains(
    acme: Scenario,
) -> None:
    """Contractors with other (even free-mail) addresses join by invitation."""
    acme.service.invite(acme.admin, acme.org_id, "contractor@gmail.com")
    decision = acme.service.sign_up("contractor", "contractor@gmail.com", email_verified=True)
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.INVITED, acme.org_id)


def test_a_verified_domain_keeps_its_people_against_other_invitations(
    acme: Scenario, globex: Organisation
) -> None:
    """Another organisation cannot pull a verified domain's people away by inviting them."""
    acme.service.invite("globex-admin", globex.id, "jane@acme.example")
    decision = acme.service.sign_up("jane", "jane@acme.example", email_verified=True)
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.DOMAIN_MATCH, acme.org_id)


def test_an_invitation_counts_on_a_domain_that_is_only_claimed(
    acme: Scenario, globex: Organisation
) -> None:
    """An unverified claim does not own its addresses: another organisation's invitation wins."""
    acme.service.claim_domain(acme.admin, acme.org_id, "labs.example")
    acme.service.invite("globex-admin", globex.id, "jane@labs.example")
    decision = acme.service.sign_up("jane", "jane@labs.example", email_verified=True)
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.INVITED, globex.id)


def test_an_invited_address_must_still_be_verified(acme: Scenario) -> None:
    """An invitation does not waive email verification."""
    acme.service.invite(acme.admin, acme.org_id, "contractor@partner.example")
    decision = acme.service.sign_up(
        "contractor", "contractor@partner.example", email_verified=False
    )
    assert decision.reason is Why.EMAIL_NOT_VERIFIED
    assert acme.service.sign_up(
        "contractor", "contractor@partner.example", email_verified=True
    ).enrolled


def test_only_admins_invite(acme: Scenario) -> None:
    """Members cannot invite."""
    with pytest.raises(PermissionDenied):
        acme.service.invite("member-1", acme.org_id, "friend@partner.example")
    decision = acme.service.sign_up("friend", "friend@partner.example", email_verified=True)
    assert decision.reason is Why.NO_ORGANISATION


# ---------------------------------------------------------------------------- join requests


@pytest.fixture
def request_mode(acme: Scenario) -> Scenario:
    """Acme switched to request-to-join."""
    acme.service.update_settings(acme.admin, acme.org_id, join_mode=JoinMode.REQUEST)
    return acme


def test_request_mode_files_one_join_request_per_user(request_mode: Scenario) -> None:
    """Signing up files a pending join request; signing up again does not file a second."""
    s = request_mode
    decision = s.service.sign_up("jane", "jane@acme.example", email_verified=True, display_name="J")
    assert decision == EnrolmentDecision(Out.JOIN_REQUESTED, Why.JOIN_APPROVAL_REQUIRED, s.org_id)
    s.service.sign_up("jane", "jane@acme.example", email_verified=True)
    [request] = s.service.list_join_requests(s.admin, s.org_id)
    assert (request.user_id, str(request.email), request.display_name) == (
        "jane",
        "jane@acme.example",
        "J",
    )
    assert "jane" not in _members(s)


def test_enrol_in_request_mode_raises_and_files_nothing(request_mode: Scenario) -> None:
    """The strict variant writes nothing when it raises, join request included."""
    s = request_mode
    with pytest.raises(EnrolmentRefused) as caught:
        s.service.enrol("jane", "jane@acme.example", email_verified=True)
    assert caught.value.reason is Why.JOIN_APPROVAL_REQUIRED
    assert s.service.list_join_requests(s.admin, s.org_id) == []


def test_approving_a_join_request_enrols_the_user(request_mode: Scenario) -> None:
    """An approved request makes the user a member and leaves the pending list."""
    s = request_mode
    s.service.sign_up("jane", "jane@acme.example", email_verified=True)
    [request] = s.service.list_join_requests(s.admin, s.org_id)
    decided = s.service.decide_join_request(s.admin, s.org_id, request.id, approve=True)
    assert decided.decided_by == s.admin
    assert "jane" in _members(s)
    assert s.service.list_join_requests(s.admin, s.org_id) == []


def test_rejecting_a_join_request_leaves_the_user_out(request_mode: Scenario) -> None:
    """A rejected user is not a member and may ask again by signing up."""
    s = request_mode
    s.service.sign_up("jane", "jane@acme.example", email_verified=True)
    [request] = s.service.list_join_requests(s.admin, s.org_id)
    s.service.decide_join_request(s.admin, s.org_id, request.id, approve=False)
    assert "jane" not in _members(s)
    with pytest.raises(InvalidTransition):
        s.service.decide_join_request(s.admin, s.org_id, request.id, approve=True)
    s.service.sign_up("jane", "jane@acme.example", email_verified=True)
    assert len(s.service.list_join_requests(s.admin, s.org_id)) == 1


def test_approving_a_join_request_respects_the_seat_limit(request_mode: Scenario) -> None:
    """With no free seat the approval is refused and the request stays pending."""
    s = request_mode
    s.service.sign_up("jane", "jane@acme.example", email_verified=True)
    [request] = s.service.list_join_requests(s.admin, s.org_id)
    s.service.update_settings(s.admin, s.org_id, seat_limit=3)
    with pytest.raises(EnrolmentRefused) as caught:
        s.service.decide_join_request(s.admin, s.org_id, request.id, approve=True)
    assert caught.value.reason is Why.SEAT_LIMIT_REACHED
    assert s.service.list_join_requests(s.admin, s.org_id) == [request]


def test_approving_a_join_request_of_someone_who_joined_elsewhere_fails(
    request_mode: Scenario, globex: Organisation
) -> None:
    """One active membership per user holds through join requests too."""
    s = request_mode
    s.service.sign_up("jane", "jane@acme.example", email_verified=True)
    [request] = s.service.list_join_requests(s.admin, s.org_id)
    s.service.invite("globex-admin", globex.id, "jane@freelance.example")
    s.service.sign_up("jane", "jane@freelance.example", email_verified=True)
    assert s.service.profile("jane").organisation_id == globex.id
    with pytest.raises(AlreadyMember):
        s.service.decide_join_request(s.admin, s.org_id, request.id, approve=True)
    assert s.service.list_join_requests(s.admin, s.org_id) == [request]


def test_join_requests_are_for_admins_and_unknown_ones_are_not_found(
    request_mode: Scenario,
) -> None:
    """Members can neither list nor decide join requests."""
    s = request_mode
    s.service.sign_up("jane", "jane@acme.example", email_verified=True)
    [request] = s.service.list_join_requests(s.admin, s.org_id)
    with pytest.raises(PermissionDenied):
        s.service.list_join_requests("member-1", s.org_id)
    with pytest.raises(PermissionDenied):
        s.service.decide_join_request("member-1", s.org_id, request.id, approve=True)
    with pytest.raises(JoinRequestNotFound):
        s.service.decide_join_request(s.admin, s.org_id, "no-such-request", approve=True)
    assert "jane" not in _members(s)


# ---------------------------------------------------------------------------- capture


def test_capture_enrols_verified_users_of_verified_domains_and_explains_the_rest(
    acme: Scenario, globex: Organisation
) -> None:
    """Existing users are captured in bulk; each gets its own decision, in order."""
    _claim_unverified(acme, "pending.example")
    decisions = acme.service.capture_existing_users(
        acme.admin,
        acme.org_id,
        [
            ExistingUser("ann", "ann@acme.example", True, "Ann"),
            ExistingUser("bob", "bob@acme.example", False),
            ExistingUser("cid", "cid@gmail.com", True),
            ExistingUser("dee", "dee@elsewhere.example", True),
            ExistingUser("eve", "eve@pending.example", True),
            ExistingUser("member-1", "member-1@acme.example", True),
            ExistingUser("globex-admin", "boss@acme.example", True),
        ],
    )
    assert [(d.outcome, d.reason) for d in decisions] == [
        (Out.ENROLLED, Why.DOMAIN_MATCH),
        (Out.NOT_ENROLLED, Why.EMAIL_NOT_VERIFIED),
        (Out.NOT_ENROLLED, Why.FREE_MAIL_PROVIDER),
        (Out.NOT_ENROLLED, Why.NO_ORGANISATION),
        (Out.NOT_ENROLLED, Why.DOMAIN_NOT_VERIFIED),
        (Out.ENROLLED, Why.ALREADY_MEMBER),
        (Out.NOT_ENROLLED, Why.MEMBER_OF_ANOTHER_ORGANISATION),
    ]
    assert sorted(_members(acme)) == ["admin", "ann", "member-1", "member-2"]
    assert acme.service.profile("ann").badge == "Acme"


def test_capture_does_not_take_another_organisations_domain(
    acme: Scenario, globex: Organisation
) -> None:
    """An admin cannot capture users of a domain their organisation does not hold."""
    claim = acme.service.claim_domain("globex-admin", globex.id, "globex.example")
    acme.dns.publish("globex.example", claim.txt_record)
    acme.service.verify_domain("globex-admin", globex.id, "globex.example")
    [decision] = acme.service.capture_existing_users(
        acme.admin, acme.org_id, [ExistingUser("gus", "gus@globex.example", True)]
    )
    assert decision.reason is Why.NO_ORGANISATION
    assert acme.service.profile("gus").is_enterprise is False


@pytest.mark.parametrize("mode", [JoinMode.REQUEST, JoinMode.INVITE_ONLY])
def test_capture_ignores_the_join_mode(acme: Scenario, mode: JoinMode) -> None:
    """The admin asked for it, so request and invite-only modes do not block capture."""
    acme.service.update_settings(acme.admin, acme.org_id, join_mode=mode)
    [decision] = acme.service.capture_existing_users(
        acme.admin, acme.org_id, [ExistingUser("ann", "ann@acme.example", True)]
    )
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.DOMAIN_MATCH, acme.org_id)
    assert "ann" in _members(acme)


@pytest.mark.parametrize("mode", list(JoinMode))
def test_capture_respects_the_seat_limit_in_every_join_mode(acme: Scenario, mode: JoinMode) -> None:
    """Capture fills the free seats in order and refuses the rest, whatever the join mode."""
    acme.service.update_settings(acme.admin, acme.org_id, join_mode=mode, seat_limit=4)
    decisions = acme.service.capture_existing_users(
        acme.admin,
        acme.org_id,
        [
            ExistingUser("ann", "ann@acme.example", True),
            ExistingUser("bob", "bob@acme.example", True),
        ],
    )
    assert [d.reason for d in decisions] == [Why.DOMAIN_MATCH, Why.SEAT_LIMIT_REACHED]
    assert len(_members(acme)) == 4


def test_capture_is_for_admins(acme: Scenario) -> None:
    """Members cannot capture users."""
    with pytest.raises(PermissionDenied):
        acme.service.capture_existing_users(
            "member-1", acme.org_id, [ExistingUser("ann", "ann@acme.example", True)]
        )
    assert "ann" not in _members(acme)


# ---------------------------------------------------------------------------- re-enrolment


def test_a_removed_member_can_enrol_again_and_starts_afresh(acme: Scenario) -> None:
    """Re-enrolment reactivates the membership as a plain member, with no standing allotment."""
    acme.service.change_role(acme.admin, acme.org_id, "member-1", Role.ADMIN)
    acme.service.set_standing_allotment(acme.admin, acme.org_id, "member-1", 300)
    acme.service.remove_member(acme.admin, acme.org_id, "member-1")
    assert acme.service.profile("member-1").is_enterprise is False
    acme.clock.advance(days=1)
    decision = acme.service.enrol("member-1", "member-1@acme.example", email_verified=True)
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.DOMAIN_MATCH, acme.org_id)
    [again] = [
        m for m in acme.service.list_members(acme.admin, acme.org_id) if m.user_id == "member-1"
    ]
    assert (again.role, again.standing_allotment, again.removed_at) == (Role.MEMBER, 0, None)
    assert again.joined_at == acme.clock.now()
    profile = acme.service.profile("member-1")
    assert profile.credits is not None
    assert profile.credits.remaining == 0
    assert acme.service.reconcile(acme.org_id) == []


def test_a_removed_member_can_join_another_organisation(
    acme: Scenario, globex: Organisation
) -> None:
    """Removal ends the active membership, so another organisation may enrol the user."""
    acme.service.remove_member(acme.admin, acme.org_id, "member-1")
    acme.service.invite("globex-admin", globex.id, "member-1@freelance.example")
    decision = acme.service.enrol("member-1", "member-1@freelance.example", email_verified=True)
    assert decision.organisation_id == globex.id


def test_enrolment_under_the_keep_policy_does_not_resurrect_old_credits() -> None:
    """A re-enrolled member's remainder was returned at removal; nothing comes back."""
    s = enterprise(members=1, allocate=400, rollover=RolloverPolicy(0, MemberRemainder.KEEP))
    s.service.remove_member(s.admin, s.org_id, "member-1")
    s.service.enrol("member-1", "member-1@acme.example", email_verified=True)
    credits = s.service.profile("member-1").credits
    assert credits is not None
    assert credits.remaining == 0
    assert s.service.dashboard(s.admin, s.org_id).pool.unallocated == 10_000


def test_sign_up_turns_a_due_period_over_before_enrolling(acme: Scenario) -> None:
    """Enrolment is an operation like any other: the period turns over first."""
    acme.clock.set(acme.organisation.current_period.end)
    acme.service.sign_up("jane", "jane@acme.example", email_verified=True)
    assert acme.service.get_organisation(acme.admin, acme.org_id).current_period_index == 1


def test_services_on_one_store_share_enrolments() -> None:
    """Two services on one store agree: enrolment is stored, not cached in the service."""
    store = MemoryStore()
    clock, dns = FrozenClock(), StaticDnsResolver()
    first = EnterpriseService(store, clock=clock, dns=dns)
    second = EnterpriseService(store, clock=clock, dns=dns)
    org = first.create_organisation(name="Acme", admin_user_id="a", admin_email="a@acme.example")
    claim = first.claim_domain("a", org.id, "acme.example")
    dns.publish("acme.example", claim.txt_record)
    first.verify_domain("a", org.id, "acme.example")
    assert second.sign_up("jane", "jane@acme.example", email_verified=True).enrolled
    assert first.profile("jane").organisation_id == org.id
