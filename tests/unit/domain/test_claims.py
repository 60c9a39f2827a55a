"""Domain claims: the verification window, free-mail refusal, and whether a new claim may stand."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from armox_enterprise.domain.claims import (
    CLAIM_VERIFICATION_WINDOW,
    ClaimOutcome,
    ClaimPlan,
    claim_candidates,
    ensure_claimable,
    is_binding,
    plan_claim,
)
from armox_enterprise.domain.enrolment import FreeMailList
from armox_enterprise.domain.organisation import DomainClaim
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import AlreadyExists, DomainAlreadyClaimed, DomainNotClaimable

CLAIMED = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)
US, THEM = "org-acme", "org-globex"
ACME = DomainName("acme.example")
SALES = DomainName("sales.acme.example")


def claim(
    domain: DomainName = ACME,
    organisation_id: str = THEM,
    *,
    verified: bool = False,
    subdomains: bool = False,
) -> DomainClaim:
    """A claim made at CLAIMED, verified at once if ``verified``."""
    return DomainClaim(
        domain,
        organisation_id,
        "token",
        CLAIMED,
        include_subdomains=subdomains,
        verified_at=CLAIMED if verified else None,
    )


# ---------------------------------------------------------------------------- binding window


def test_the_verification_window_is_seven_days() -> None:
    """An unverified claim has a week to prove itself."""
    assert timedelta(days=7) == CLAIM_VERIFICATION_WINDOW


@pytest.mark.parametrize(
    ("age", "binding"),
    [
        (timedelta(0), True),
        (timedelta(days=3), True),
        (WEEK - timedelta(microseconds=1), True),
        (WEEK, False),
        (WEEK + timedelta(seconds=1), False),
        (timedelta(days=400), False),
    ],
    ids=["new", "three-days", "just-inside", "exactly-seven-days", "just-after", "long-ago"],
)
def test_an_unverified_claim_binds_only_within_the_window(age: timedelta, binding: bool) -> None:
    """An unverified claim binds while younger than 7 days; at exactly 7 days it does not."""
    assert is_binding(claim(), CLAIMED + age) is binding


@pytest.mark.parametrize("age", [timedelta(0), WEEK, timedelta(days=4000)])
def test_a_verified_claim_always_binds(age: timedelta) -> None:
    """Proof of control holds the domain for good."""
    assert is_binding(claim(verified=True), CLAIMED + age)


# ---------------------------------------------------------------------------- claimable


@pytest.mark.parametrize(
    "domain",
    ["gmail.com", "outlook.com", "uol.com.br", "bol.com.br", "mailinator.com", "yopmail.com"],
)
def test_bundled_free_mail_and_disposable_providers_cannot_be_claimed(domain: str) -> None:
    """The bundled list (international, Brazilian, disposable) is refused, naming the domain."""
    with pytest.raises(DomainNotClaimable, match=re.escape(domain)):
        ensure_claimable(DomainName(domain), FreeMailList())


def test_a_domain_under_a_free_mail_provider_cannot_be_claimed() -> None:
    """Nobody claims a name under a provider, such as ``mail.yahoo.com``."""
    with pytest.raises(DomainNotClaimable):
        ensure_claimable(DomainName("mail.yahoo.com"), FreeMailList())


def test_a_hosts_extra_providers_cannot_be_claimed() -> None:
    """Domains the host adds to the list are refused like the bundled ones."""
    free_mail = FreeMailList().with_extra(["Mail.Example.NET"])
    with pytest.raises(DomainNotClaimable):
        ensure_claimable(DomainName("mail.example.net"), free_mail)


@pytest.mark.parametrize("domain", ["acme.example", "gmail.com.acme.example", "notgmail.com"])
def test_a_company_domain_is_claimable(domain: str) -> None:
    """Anything not on (or under) the list passes."""
    ensure_claimable(DomainName(domain), FreeMailList())


# ---------------------------------------------------------------------------- candidates


@pytest.mark.parametrize(
    ("domain", "candidates"),
    [
        ("acme.example", ["acme.example"]),
        ("sales.acme.example", ["sales.acme.example", "acme.example"]),
        ("eu.sales.acme.co.uk", ["eu.sales.acme.co.uk", "sales.acme.co.uk", "acme.co.uk", "co.uk"]),
    ],
)
def test_the_claims_that_could_cover_an_address_are_listed_closest_first(
    domain: str, candidates: list[str]
) -> None:
    """An address at a domain may fall under a claim on it or on any parent, nearest first."""
    assert [d.value for d in claim_candidates(DomainName(domain))] == candidates


# ---------------------------------------------------------------------------- plan_claim


def test_a_free_domain_is_a_new_claim() -> None:
    """No claim on the domain or its parents: store a new one."""
    assert plan_claim(ACME, US, None, [], CLAIMED) == ClaimPlan(ClaimOutcome.NEW)


@pytest.mark.parametrize("verified", [True, False])
@pytest.mark.parametrize("age", [timedelta(0), WEEK * 2])
def test_claiming_our_own_domain_again_returns_our_claim(verified: bool, age: timedelta) -> None:
    """Our own claim, verified or not, young or lapsed, is simply returned."""
    ours = claim(organisation_id=US, verified=verified)
    assert plan_claim(ACME, US, ours, [], CLAIMED + age) == ClaimPlan(
        ClaimOutcome.ALREADY_OURS, ours
    )


@pytest.mark.parametrize(
    ("theirs", "age"),
    [(claim(verified=True), WEEK * 10), (claim(), timedelta(days=6))],
    ids=["verified", "young"],
)
def test_another_organisations_binding_claim_refuses_ours(
    theirs: DomainClaim, age: timedelta
) -> None:
    """A verified claim, or an unverified one inside its window, keeps us off the domain."""
    with pytest.raises(DomainAlreadyClaimed, match=re.escape("acme.example")) as caught:
        plan_claim(ACME, US, theirs, [], CLAIMED + age)
    assert isinstance(caught.value, AlreadyExists)


def test_another_organisations_lapsed_claim_is_replaced() -> None:
    """An unverified claim past its window gives way: remove it, store ours."""
    lapsed = claim()
    assert plan_claim(ACME, US, lapsed, [], CLAIMED + WEEK) == ClaimPlan(
        ClaimOutcome.REPLACES_LAPSED, lapsed
    )


@pytest.mark.parametrize("verified", [True, False])
def test_a_parent_held_by_another_with_its_subdomains_refuses_ours(verified: bool) -> None:
    """A binding claim on acme.example that includes subdomains keeps us off sales.acme.example."""
    parent = claim(verified=verified, subdomains=True)
    with pytest.raises(DomainAlreadyClaimed, match=re.escape("falls under acme.example")):
        plan_claim(SALES, US, None, [parent], CLAIMED + timedelta(days=1))


def test_a_parent_held_without_its_subdomains_does_not_refuse_ours() -> None:
    """A claim on acme.example alone leaves its subdomains free."""
    parent = claim(verified=True, subdomains=False)
    assert plan_claim(SALES, US, None, [parent], CLAIMED) == ClaimPlan(ClaimOutcome.NEW)


def test_a_lapsed_parent_claim_does_not_refuse_ours() -> None:
    """An unverified parent claim past its window keeps nobody off its subdomains."""
    parent = claim(subdomains=True)
    assert plan_claim(SALES, US, None, [parent], CLAIMED + WEEK) == ClaimPlan(ClaimOutcome.NEW)


def test_our_own_parent_claim_does_not_refuse_our_subdomain() -> None:
    """We may claim a subdomain of a domain we hold with its subdomains."""
    parent = claim(organisation_id=US, verified=True, subdomains=True)
    assert plan_claim(SALES, US, None, [parent], CLAIMED) == ClaimPlan(ClaimOutcome.NEW)


def test_any_binding_parent_refuses_not_only_the_closest() -> None:
    """Every parent is checked: a free closer parent does not hide a held further one."""
    closer = claim(SALES, US, verified=True)
    further = claim(ACME, THEM, verified=True, subdomains=True)
    with pytest.raises(DomainAlreadyClaimed):
        plan_claim(DomainName("eu.sales.acme.example"), US, None, [closer, further], CLAIMED)


def test_replacing_a_lapsed_claim_still_respects_a_held_parent() -> None:
    """A lapsed claim on the name does not open it if a parent with subdomains is held."""
    lapsed = claim(SALES)
    parent = claim(ACME, "org-initech", verified=True, subdomains=True)
    with pytest.raises(DomainAlreadyClaimed):
        plan_claim(SALES, US, lapsed, [parent], CLAIMED + WEEK)


def test_a_plan_replacing_a_lapsed_claim_names_it() -> None:
    """The plan carries the claim to remove, so the store removes exactly that one."""
    lapsed = attrs.evolve(claim(), verification_token="their-token")
    plan = plan_claim(ACME, US, lapsed, [], CLAIMED + WEEK)
    assert plan.existing is lapsed
