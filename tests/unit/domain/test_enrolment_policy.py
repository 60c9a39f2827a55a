"""The pure enrolment policy: who a sign-up enrols, and the reason given when it does not."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import attrs
import pytest

from armox_enterprise.domain.enrolment import (
    FREE_MAIL_PROVIDERS,
    EnrolmentDecision,
    EnrolmentOutcome,
    EnrolmentReason,
    FreeMailList,
    decide_enrolment,
)
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinMode,
    Membership,
    Organisation,
    Role,
)
from armox_enterprise.domain.values import DomainName, EmailAddress
from armox_enterprise.exceptions import InvalidDomain

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
ORG = Organisation(
    id="org-acme", name="Acme", monthly_allowance=0, cycle_anchor=NOW, created_at=NOW
)
OTHER = attrs.evolve(ORG, id="org-globex", name="Globex")
EMAIL = EmailAddress.parse("jane@acme.example")
VERIFIED_CLAIM = DomainClaim(DomainName("acme.example"), ORG.id, "token", NOW, verified_at=NOW)
UNVERIFIED_CLAIM = attrs.evolve(VERIFIED_CLAIM, verified_at=None)
INVITATION = Invitation(ORG.id, EMAIL, Role.MEMBER, "admin", NOW)

Out = EnrolmentOutcome
Why = EnrolmentReason


def decide(**overrides: Any) -> EnrolmentDecision:
    """Decide for a verified Acme address under a verified claim, with ``overrides``."""
    args: dict[str, Any] = {
        "email": EMAIL,
        "email_verified": True,
        "claim": VERIFIED_CLAIM,
        "organisation": ORG,
        "active_seats": 1,
        "existing": None,
        "invitation": None,
        "free_mail": FreeMailList(),
    }
    args.update(overrides)
    return decide_enrolment(**args)


def membership(org: Organisation) -> Membership:
    """An active membership of Jane in ``org``."""
    return Membership(org.id, "jane", EMAIL, "Jane", Role.MEMBER, NOW)


# ---------------------------------------------------------------------------- decisions


def test_verified_address_on_a_verified_domain_enrols_automatically() -> None:
    """The brief's default: a company address enrols at sign-up."""
    decision = decide()
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.DOMAIN_MATCH, ORG.id)
    assert decision.enrolled


def test_unverified_email_address_does_not_enrol() -> None:
    """Only addresses the host verified enrol; the organisation is named."""
    assert decide(email_verified=False) == EnrolmentDecision(
        Out.NOT_ENROLLED, Why.EMAIL_NOT_VERIFIED, ORG.id
    )


def test_unverified_domain_claim_does_not_enrol() -> None:
    """A claim enrols nobody until its DNS proof is found."""
    decision = decide(claim=UNVERIFIED_CLAIM)
    assert decision == EnrolmentDecision(Out.NOT_ENROLLED, Why.DOMAIN_NOT_VERIFIED, ORG.id)
    assert not decision.enrolled


def test_no_claiming_organisation_means_no_enrolment() -> None:
    """An address no organisation claims stays a personal account."""
    assert decide(claim=None, organisation=None) == EnrolmentDecision(
        Out.NOT_ENROLLED, Why.NO_ORGANISATION, None
    )


def test_organisation_without_claim_or_invitation_does_not_enrol() -> None:
    """Knowing the organisation is not enough: a claim or an invitation must cover the address."""
    assert decide(claim=None).reason is Why.NO_ORGANISATION


@pytest.mark.parametrize("address", ["ana@gmail.com", "ana@uol.com.br", "ana@mail.yahoo.com"])
def test_free_mail_address_without_organisation_says_so(address: str) -> None:
    """A free-mail sign-up is told why: its provider is not a company domain."""
    decision = decide(email=EmailAddress.parse(address), claim=None, organisation=None)
    assert decision == EnrolmentDecision(Out.NOT_ENROLLED, Why.FREE_MAIL_PROVIDER, None)


def test_free_mail_address_never_enrols_by_domain_even_if_a_claim_slipped_through() -> None:
    """A claim on a free-mail domain is ignored by the policy (defence in depth)."""
    gmail = EmailAddress.parse("ana@gmail.com")
    claim = attrs.evolve(VERIFIED_CLAIM, domain=DomainName("gmail.com"))
    assert decide(email=gmail, claim=claim).reason is Why.NO_ORGANISATION


def test_seat_limit_reached_refuses_enrolment() -> None:
    """With every seat taken, a matching sign-up is refused with the reason."""
    full = attrs.evolve(ORG, seat_limit=3)
    assert decide(organisation=full, active_seats=3) == EnrolmentDecision(
        Out.NOT_ENROLLED, Why.SEAT_LIMIT_REACHED, ORG.id
    )
    assert decide(organisation=full, active_seats=2).enrolled


def test_request_mode_files_a_join_request_instead_of_enrolling() -> None:
    """In request-to-join mode a matching sign-up waits for an admin."""
    org = attrs.evolve(ORG, join_mode=JoinMode.REQUEST)
    assert decide(organisation=org) == EnrolmentDecision(
        Out.JOIN_REQUESTED, Why.JOIN_APPROVAL_REQUIRED, ORG.id
    )


def test_request_mode_still_checks_the_seat_limit_first() -> None:
    """No join request is filed for an organisation that has no free seat."""
    org = attrs.evolve(ORG, join_mode=JoinMode.REQUEST, seat_limit=1)
    assert decide(organisation=org, active_seats=1).reason is Why.SEAT_LIMIT_REACHED


def test_invite_only_mode_refuses_uninvited_addresses() -> None:
    """An invite-only organisation does not enrol by domain."""
    org = attrs.evolve(ORG, join_mode=JoinMode.INVITE_ONLY)
    assert decide(organisation=org) == EnrolmentDecision(
        Out.NOT_ENROLLED, Why.INVITATION_REQUIRED, ORG.id
    )


@pytest.mark.parametrize("mode", list(JoinMode))
def test_an_invitation_enrols_in_every_join_mode(mode: JoinMode) -> None:
    """An invited, verified address enrols whatever the join mode."""
    org = attrs.evolve(ORG, join_mode=mode)
    assert decide(organisation=org, invitation=INVITATION) == EnrolmentDecision(
        Out.ENROLLED, Why.INVITED, ORG.id
    )


def test_an_invitation_enrols_an_address_outside_the_organisations_domains() -> None:
    """Invitations admit contractors whose address no claim covers (even free mail)."""
    outsider = EmailAddress.parse("contractor@gmail.com")
    invitation = attrs.evolve(INVITATION, email=outsider)
    decision = decide(email=outsider, claim=None, invitation=invitation)
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.INVITED, ORG.id)


def test_an_invitation_needs_a_verified_address() -> None:
    """Being invited does not waive email verification."""
    assert decide(invitation=INVITATION, email_verified=False).reason is Why.EMAIL_NOT_VERIFIED


def test_an_invitation_does_not_bypass_the_seat_limit() -> None:
    """Invited users need a free seat too."""
    full = attrs.evolve(ORG, seat_limit=1)
    decision = decide(organisation=full, invitation=INVITATION, active_seats=1)
    assert decision.reason is Why.SEAT_LIMIT_REACHED


def test_an_existing_member_of_the_organisation_is_already_enrolled() -> None:
    """Signing up again changes nothing: the decision says the user already belongs."""
    assert decide(existing=membership(ORG)) == EnrolmentDecision(
        Out.ENROLLED, Why.ALREADY_MEMBER, ORG.id
    )


def test_an_existing_member_is_recognised_even_without_a_matching_claim() -> None:
    """A member whose address no claim covers is still reported as a member of their org."""
    decision = decide(existing=membership(ORG), claim=None, organisation=None)
    assert decision == EnrolmentDecision(Out.ENROLLED, Why.ALREADY_MEMBER, ORG.id)


def test_a_member_of_another_organisation_is_not_moved() -> None:
    """A user has one active membership; another organisation's claim does not take them."""
    decision = decide(existing=membership(OTHER))
    assert decision == EnrolmentDecision(
        Out.NOT_ENROLLED, Why.MEMBER_OF_ANOTHER_ORGANISATION, ORG.id
    )


# ---------------------------------------------------------------------------- free-mail list


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "GMAIL.com.",
        "outlook.com",
        "proton.me",
        "mailinator.com",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "ig.com.br",
        "globo.com",
        "hotmail.com.br",
        "yahoo.com.br",
        "mail.uol.com.br",
    ],
)
def test_bundled_list_covers_international_brazilian_and_disposable_providers(
    domain: str,
) -> None:
    """Big providers, Brazil's own, disposable ones and their subdomains are all free mail."""
    assert DomainName.parse(domain) in FreeMailList()


@pytest.mark.parametrize("domain", ["acme.example", "gmail.com.acme.example", "notgmail.com"])
def test_company_domains_are_not_free_mail(domain: str) -> None:
    """Only the provider and names under it match; look-alikes and suffixes do not."""
    assert DomainName.parse(domain) not in FreeMailList()


def test_bundled_list_entries_are_all_normalised_domains() -> None:
    """Every bundled entry is a valid, already-normalised domain name."""
    assert all(DomainName.parse(d).value == d for d in FREE_MAIL_PROVIDERS)


def test_host_can_extend_the_list_and_extra_domains_are_normalised() -> None:
    """A host adds its own providers; spelling does not matter, the bundled list remains."""
    extended = FreeMailList().with_extra(["Correo.Example.", "webmail.test"])
    assert DomainName("correo.example") in extended
    assert DomainName("eu.webmail.test") in extended
    assert DomainName("gmail.com") in extended
    assert DomainName("correo.example") not in FreeMailList()
    assert FreeMailList(frozenset({"A.example"})).extra == frozenset({"a.example"})


def test_host_extra_domains_are_validated() -> None:
    """A malformed extra domain is refused when the list is built."""
    with pytest.raises(InvalidDomain):
        FreeMailList(frozenset({"not a domain"}))


def test_only_domain_names_are_looked_up() -> None:
    """A plain string is not a DomainName and is never reported as contained."""
    assert "gmail.com" not in FreeMailList()


# ---------------------------------------------------------------------------- claims


def test_claim_covers_its_exact_domain_only_by_default() -> None:
    """Without subdomains, ``eng.acme.example`` is not covered by ``acme.example``."""
    assert VERIFIED_CLAIM.covers(DomainName("acme.example"))
    assert not VERIFIED_CLAIM.covers(DomainName("eng.acme.example"))


def test_claim_with_subdomains_covers_names_under_it_but_not_look_alikes() -> None:
    """Subdomain claims cover ``*.acme.example`` but never ``notacme.example``."""
    claim = attrs.evolve(VERIFIED_CLAIM, include_subdomains=True)
    assert claim.covers(DomainName("eng.acme.example"))
    assert claim.covers(DomainName("a.b.acme.example"))
    assert not claim.covers(DomainName("notacme.example"))
    assert not claim.covers(DomainName("acme.example.org"))


def test_claim_verification_record_names_its_token() -> None:
    """The TXT record to publish carries the claim's token under a fixed prefix."""
    assert VERIFIED_CLAIM.txt_record == "armox-enterprise-verification=token"
    assert VERIFIED_CLAIM.is_verified
    assert not UNVERIFIED_CLAIM.is_verified
