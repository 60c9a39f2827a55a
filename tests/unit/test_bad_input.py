"""Bad input: every bad call gets a specific error from the library's tree and changes nothing.

Each test runs the bad call inside ``unchanged(scenario)``, which compares every record of the
store, the admin's dashboard and the ledger's reconciliation before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest

from armox_enterprise import (
    MAX_CREDITS,
    AmountTypeError,
    ArmoxError,
    DomainAlreadyClaimed,
    DomainNotClaimable,
    EnrolmentReason,
    EnrolmentRefused,
    EnterpriseService,
    ExistingUser,
    IdempotencyConflict,
    InsufficientCredits,
    InsufficientPoolCredits,
    InvalidAmount,
    InvalidDomain,
    InvalidEmail,
    InvalidInstant,
    InvalidText,
    InvalidTransition,
    LastAdminError,
    Organisation,
    OrganisationNotFound,
    PermissionDenied,
    Role,
)
from armox_enterprise.testing import Scenario

Unchanged = Callable[[Scenario], AbstractContextManager[None]]


@attrs.frozen
class Prepared:
    """Acme with one of everything a bad call could target."""

    s: Scenario
    request_id: str
    hold_id: str
    spend_id: str


@pytest.fixture
def prepared(acme: Scenario) -> Prepared:
    """Acme where member-1 has a pending request, a pending hold and a spend."""
    svc, org = acme.service, acme.org_id
    request = svc.request_credits("member-1", org, 100)
    hold = svc.reserve("member-1", org, 100, generation_id="hold-gen")
    spend = svc.spend("member-1", org, 100, generation_id="spend-gen")
    return Prepared(acme, request.id, hold.id, spend.id)


def _is_library_error(exc: BaseException) -> None:
    assert isinstance(exc, ArmoxError)


# ---------------------------------------------------------------------------- amounts

AmountCall = Callable[[Prepared, Any], object]

AMOUNT_CALLS: dict[str, AmountCall] = {
    "top_up": lambda p, a: p.s.service.top_up("admin", p.s.org_id, a),
    "allocate": lambda p, a: p.s.service.allocate_credits("admin", p.s.org_id, "member-2", a),
    "reclaim": lambda p, a: p.s.service.reclaim_credits("admin", p.s.org_id, "member-2", a),
    "spend": lambda p, a: p.s.service.spend("member-2", p.s.org_id, a, generation_id="new"),
    "reserve": lambda p, a: p.s.service.reserve("member-2", p.s.org_id, a, generation_id="new"),
    "request": lambda p, a: p.s.service.request_credits("member-2", p.s.org_id, a),
    "approve": lambda p, a: p.s.service.approve_request(
        "admin", p.s.org_id, p.request_id, amount=a
    ),
    "capture": lambda p, a: p.s.service.capture_hold("member-1", p.s.org_id, p.hold_id, a),
    "refund": lambda p, a: p.s.service.refund("admin", p.s.org_id, p.spend_id, a),
}

BAD_AMOUNTS: list[tuple[object, type[ArmoxError]]] = [
    (True, AmountTypeError),
    (False, AmountTypeError),
    (0, InvalidAmount),
    (-1, InvalidAmount),
    (-(2**63), InvalidAmount),
    (MAX_CREDITS + 1, InvalidAmount),
    (10.0, AmountTypeError),
    (0.5, AmountTypeError),
    ("10", AmountTypeError),
    (Decimal(10), AmountTypeError),
]


@pytest.mark.parametrize(("amount", "error"), BAD_AMOUNTS, ids=repr)
@pytest.mark.parametrize("call", list(AMOUNT_CALLS))
def test_bad_credit_amounts_are_refused(
    prepared: Prepared, unchanged: Unchanged, call: str, amount: object, error: type[ArmoxError]
) -> None:
    """Bools, zero, negatives, past-BIGINT, floats, strings and decimals are refused everywhere."""
    with unchanged(prepared.s), pytest.raises(error) as caught:
        AMOUNT_CALLS[call](prepared, amount)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, TypeError) == (error is AmountTypeError)


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (True, AmountTypeError),
        (-1, InvalidAmount),
        (MAX_CREDITS + 1, InvalidAmount),
        (1.5, AmountTypeError),
    ],
    ids=repr,
)
@pytest.mark.parametrize("call", ["allowance", "allotment"])
def test_bad_allowances_and_allotments_are_refused(
    acme: Scenario, unchanged: Unchanged, call: str, amount: object, error: type[ArmoxError]
) -> None:
    """Allowances and allotments may be zero, but not bools, negatives, huge or fractional."""
    if call == "allowance":
        with unchanged(acme), pytest.raises(error):
            acme.service.set_monthly_allowance(acme.admin, acme.org_id, amount)  # type: ignore[arg-type]
    else:
        with unchanged(acme), pytest.raises(error):
            acme.service.set_standing_allotment(acme.admin, acme.org_id, "member-1", amount)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- balances


def test_allocating_more_than_the_pool_holds_is_refused(
    acme: Scenario, unchanged: Unchanged
) -> None:
    """The pool holds 8,000; asking for 8,001 fails with the pool's figures."""
    with unchanged(acme), pytest.raises(InsufficientPoolCredits) as caught:
        acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 8_001)
    assert (caught.value.available, caught.value.requested) == (8_000, 8_001)


def test_approving_more_than_the_pool_holds_is_refused(
    prepared: Prepared, unchanged: Unchanged
) -> None:
    """An approval the pool cannot cover fails and the request stays pending."""
    s = prepared.s
    with unchanged(s), pytest.raises(InsufficientPoolCredits):
        s.service.approve_request(s.admin, s.org_id, prepared.request_id, amount=8_001)


@pytest.mark.parametrize("operation", ["spend", "reserve"])
def test_spending_more_than_the_member_holds_is_refused(
    acme: Scenario, unchanged: Unchanged, operation: str
) -> None:
    """Member-1 holds 1,000; spending or reserving 1,001 fails with the available amount."""
    call = acme.service.spend if operation == "spend" else acme.service.reserve
    with unchanged(acme), pytest.raises(InsufficientCredits) as caught:
        call("member-1", acme.org_id, 1_001, generation_id="too-much")
    assert (caught.value.available, caught.value.requested) == (1_000, 1_001)


def test_reclaiming_more_than_the_member_holds_is_refused(
    acme: Scenario, unchanged: Unchanged
) -> None:
    """A reclaim cannot overdraw a member."""
    with unchanged(acme), pytest.raises(InsufficientCredits):
        acme.service.reclaim_credits(acme.admin, acme.org_id, "member-1", 1_001)


# ---------------------------------------------------------------------------- permissions

MEMBER_CALLS: dict[str, Callable[[Prepared], object]] = {
    "allocate": lambda p: p.s.service.allocate_credits("member-1", p.s.org_id, "member-1", 10),
    "approve": lambda p: p.s.service.approve_request("member-2", p.s.org_id, p.request_id),
    "reject": lambda p: p.s.service.reject_request("member-2", p.s.org_id, p.request_id),
    "dashboard": lambda p: p.s.service.dashboard("member-1", p.s.org_id),
    "top_up": lambda p: p.s.service.top_up("member-1", p.s.org_id, 10),
    "reclaim": lambda p: p.s.service.reclaim_credits("member-1", p.s.org_id, "member-2", 10),
    "promote": lambda p: p.s.service.change_role("member-1", p.s.org_id, "member-1", Role.ADMIN),
    "remove": lambda p: p.s.service.remove_member("member-1", p.s.org_id, "member-2"),
    "invite": lambda p: p.s.service.invite("member-1", p.s.org_id, "x@acme.example"),
    "claim": lambda p: p.s.service.claim_domain("member-1", p.s.org_id, "x.example"),
    "capture": lambda p: p.s.service.capture_existing_users(
        "member-1", p.s.org_id, [ExistingUser("x", "x@acme.example", True)]
    ),
    "settings": lambda p: p.s.service.update_settings("member-1", p.s.org_id, seat_limit=1),
    "refund": lambda p: p.s.service.refund("member-1", p.s.org_id, p.spend_id),
}


@pytest.mark.parametrize("call", list(MEMBER_CALLS))
def test_members_cannot_use_admin_operations(
    prepared: Prepared, unchanged: Unchanged, call: str
) -> None:
    """Allocating, approving, reading the dashboard and every other admin call is refused."""
    with unchanged(prepared.s), pytest.raises(PermissionDenied):
        MEMBER_CALLS[call](prepared)


OUTSIDER_CALLS: dict[str, Callable[[Prepared, str], object]] = {
    "read": lambda p, who: p.s.service.get_organisation(who, p.s.org_id),
    "dashboard": lambda p, who: p.s.service.dashboard(who, p.s.org_id),
    "allocate": lambda p, who: p.s.service.allocate_credits(who, p.s.org_id, "member-1", 10),
    "approve": lambda p, who: p.s.service.approve_request(who, p.s.org_id, p.request_id),
    "spend": lambda p, who: p.s.service.spend(who, p.s.org_id, 10, generation_id="x"),
    "request": lambda p, who: p.s.service.request_credits(who, p.s.org_id, 10),
    "list_requests": lambda p, who: p.s.service.list_requests(who, p.s.org_id),
    "refund": lambda p, who: p.s.service.refund(who, p.s.org_id, p.spend_id),
    "capture_hold": lambda p, who: p.s.service.capture_hold(who, p.s.org_id, p.hold_id),
    "remove": lambda p, who: p.s.service.remove_member(who, p.s.org_id, "member-1"),
    "claim": lambda p, who: p.s.service.claim_domain(who, p.s.org_id, "x.example"),
    "members": lambda p, who: p.s.service.list_members(who, p.s.org_id),
}


@pytest.mark.parametrize("outsider", ["globex-admin", "stranger"])
@pytest.mark.parametrize("call", list(OUTSIDER_CALLS))
def test_nobody_acts_on_another_organisation(
    prepared: Prepared,
    globex: Organisation,
    unchanged: Unchanged,
    call: str,
    outsider: str,
) -> None:
    """Another organisation's admin, or a stranger, is told the organisation does not exist."""
    with unchanged(prepared.s), pytest.raises(OrganisationNotFound):
        OUTSIDER_CALLS[call](prepared, outsider)


def test_an_admin_cannot_reach_another_organisation_by_its_id(
    acme: Scenario, globex: Organisation, unchanged: Unchanged
) -> None:
    """Acme's admin acting on Globex's id gets the same answer as for an unknown id."""
    with unchanged(acme), pytest.raises(OrganisationNotFound) as real:
        acme.service.allocate_credits(acme.admin, globex.id, "globex-admin", 10)
    with unchanged(acme), pytest.raises(OrganisationNotFound) as unknown:
        acme.service.allocate_credits(acme.admin, "no-such-org", "globex-admin", 10)
    assert type(real.value) is type(unknown.value)


@pytest.mark.parametrize("change", ["demote", "remove"])
def test_the_last_admin_cannot_be_demoted_or_removed(
    acme: Scenario, unchanged: Unchanged, change: str
) -> None:
    """The organisation keeps its only active admin."""
    if change == "demote":
        with unchanged(acme), pytest.raises(LastAdminError):
            acme.service.change_role(acme.admin, acme.org_id, acme.admin, Role.MEMBER)
    else:
        with unchanged(acme), pytest.raises(LastAdminError):
            acme.service.remove_member(acme.admin, acme.org_id, acme.admin)


# ---------------------------------------------------------------------------- domains and enrolment


@pytest.mark.parametrize("domain", ["gmail.com", "uol.com.br", "Mail.UOL.com.br."])
def test_free_mail_domains_cannot_be_claimed(
    acme: Scenario, unchanged: Unchanged, domain: str
) -> None:
    """Free-mail providers, Brazilian ones included, are never claimable."""
    with unchanged(acme), pytest.raises(DomainNotClaimable) as caught:
        acme.service.claim_domain(acme.admin, acme.org_id, domain)
    _is_library_error(caught.value)


def test_a_domain_another_organisation_holds_cannot_be_claimed(
    acme: Scenario, globex: Organisation, unchanged: Unchanged
) -> None:
    """Acme's verified domain is not Globex's to claim."""
    with unchanged(acme), pytest.raises(DomainAlreadyClaimed):
        acme.service.claim_domain("globex-admin", globex.id, "ACME.example")


def test_enrolling_an_unverified_email_address_is_refused(
    acme: Scenario, unchanged: Unchanged
) -> None:
    """``enrol`` refuses an address the host has not verified."""
    with unchanged(acme), pytest.raises(EnrolmentRefused) as caught:
        acme.service.enrol("jane", "jane@acme.example", email_verified=False)
    assert caught.value.reason is EnrolmentReason.EMAIL_NOT_VERIFIED


def test_enrolling_on_a_domain_not_yet_verified_is_refused(
    acme: Scenario, unchanged: Unchanged
) -> None:
    """``enrol`` refuses an address whose domain is claimed but not verified."""
    acme.service.claim_domain(acme.admin, acme.org_id, "labs.example")
    with unchanged(acme), pytest.raises(EnrolmentRefused) as caught:
        acme.service.enrol("jane", "jane@labs.example", email_verified=True)
    assert caught.value.reason is EnrolmentReason.DOMAIN_NOT_VERIFIED


# ---------------------------------------------------------------------------- state conflicts


@pytest.mark.parametrize("decision", ["approved", "rejected", "cancelled"])
def test_approving_a_request_that_is_no_longer_pending_is_refused(
    prepared: Prepared, unchanged: Unchanged, decision: str
) -> None:
    """A decided request is final; the second approval moves no credits."""
    s, request_id = prepared.s, prepared.request_id
    if decision == "approved":
        s.service.approve_request(s.admin, s.org_id, request_id)
    elif decision == "rejected":
        s.service.reject_request(s.admin, s.org_id, request_id)
    else:
        s.service.cancel_request("member-1", s.org_id, request_id)
    with unchanged(s), pytest.raises(InvalidTransition):
        s.service.approve_request(s.admin, s.org_id, request_id)


KEYED_CALLS: dict[str, Callable[[Scenario, int], object]] = {
    "top_up": lambda s, a: s.service.top_up("admin", s.org_id, a, idempotency_key="k"),
    "allocate": lambda s, a: s.service.allocate_credits(
        "admin", s.org_id, "member-1", a, idempotency_key="k"
    ),
    "reclaim": lambda s, a: s.service.reclaim_credits(
        "admin", s.org_id, "member-1", a, idempotency_key="k"
    ),
    "spend": lambda s, a: s.service.spend("member-1", s.org_id, a, generation_id="k"),
    "reserve": lambda s, a: s.service.reserve("member-1", s.org_id, a, generation_id="k"),
    "request": lambda s, a: s.service.request_credits("member-1", s.org_id, a, idempotency_key="k"),
}


@pytest.mark.parametrize("call", list(KEYED_CALLS))
def test_reusing_an_idempotency_key_with_other_parameters_is_refused(
    acme: Scenario, unchanged: Unchanged, call: str
) -> None:
    """Same key, other amount: IdempotencyConflict, and the first call's effect stands alone."""
    KEYED_CALLS[call](acme, 10)
    with unchanged(acme), pytest.raises(IdempotencyConflict):
        KEYED_CALLS[call](acme, 11)


def test_reusing_a_key_for_another_operation_is_refused(
    acme: Scenario, unchanged: Unchanged
) -> None:
    """A key used by a top-up cannot be replayed as an allocation."""
    acme.service.top_up(acme.admin, acme.org_id, 10, idempotency_key="k")
    with unchanged(acme), pytest.raises(IdempotencyConflict):
        acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 10, idempotency_key="k")


# ---------------------------------------------------------------------------- malformed text

TOO_LONG_NAME = "N" * 201

MALFORMED: dict[str, tuple[Callable[[Scenario], object], type[ArmoxError]]] = {
    "sign_up email": (
        lambda s: s.service.sign_up("jane", "jane@@acme.example", email_verified=True),
        InvalidEmail,
    ),
    "enrol email": (
        lambda s: s.service.enrol("jane", "jane at acme.example", email_verified=True),
        InvalidEmail,
    ),
    "invite email": (lambda s: s.service.invite("admin", s.org_id, "@acme.example"), InvalidEmail),
    "founder email": (
        lambda s: s.service.create_organisation(
            name="Initech", admin_user_id="boss", admin_email="boss@initech"
        ),
        InvalidEmail,
    ),
    "captured email": (
        lambda s: s.service.capture_existing_users(
            "admin", s.org_id, [ExistingUser("x", "x@", True)]
        ),
        InvalidEmail,
    ),
    "claimed domain": (
        lambda s: s.service.claim_domain("admin", s.org_id, "not a domain"),
        InvalidDomain,
    ),
    "claimed single label": (
        lambda s: s.service.claim_domain("admin", s.org_id, "localhost"),
        InvalidDomain,
    ),
    "verified domain": (
        lambda s: s.service.verify_domain("admin", s.org_id, "-acme.example"),
        InvalidDomain,
    ),
    "removed domain": (
        lambda s: s.service.remove_domain("admin", s.org_id, "acme..example"),
        InvalidDomain,
    ),
    "organisation name": (
        lambda s: s.service.create_organisation(
            name=TOO_LONG_NAME, admin_user_id="boss", admin_email="boss@initech.example"
        ),
        InvalidText,
    ),
    "empty organisation name": (
        lambda s: s.service.create_organisation(
            name="   ", admin_user_id="boss", admin_email="boss@initech.example"
        ),
        InvalidText,
    ),
    "founder display name": (
        lambda s: s.service.create_organisation(
            name="Initech",
            admin_user_id="boss",
            admin_email="boss@initech.example",
            admin_display_name=TOO_LONG_NAME,
        ),
        InvalidText,
    ),
    "sign-up display name": (
        lambda s: s.service.sign_up(
            "jane", "jane@acme.example", email_verified=True, display_name=TOO_LONG_NAME
        ),
        InvalidText,
    ),
    "user id": (
        lambda s: s.service.sign_up("u" * 129, "jane@acme.example", email_verified=True),
        InvalidText,
    ),
    "actor": (lambda s: s.service.dashboard("a" * 129, s.org_id), InvalidText),
    "request note": (
        lambda s: s.service.request_credits("member-1", s.org_id, 10, note="n" * 1001),
        InvalidText,
    ),
    "generation id": (
        lambda s: s.service.spend("member-1", s.org_id, 10, generation_id="g" * 129),
        InvalidText,
    ),
    "empty generation id": (
        lambda s: s.service.spend("member-1", s.org_id, 10, generation_id=""),
        InvalidText,
    ),
    "feature tag": (
        lambda s: s.service.spend("member-1", s.org_id, 10, generation_id="g", feature="f" * 65),
        InvalidText,
    ),
    "idempotency key": (
        lambda s: s.service.top_up("admin", s.org_id, 10, idempotency_key="k" * 129),
        InvalidText,
    ),
    "non-string user id": (
        lambda s: s.service.profile(42),  # type: ignore[arg-type]
        InvalidText,
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_emails_domains_and_over_long_names_are_refused(
    acme: Scenario, unchanged: Unchanged, case: str
) -> None:
    """Each malformed value gets its own error type, a ValueError, and writes nothing."""
    call, error = MALFORMED[case]
    with unchanged(acme), pytest.raises(error) as caught:
        call(acme)
    assert isinstance(caught.value, ValueError)


def test_a_naive_cycle_anchor_is_refused(acme: Scenario, unchanged: Unchanged) -> None:
    """Instants must be timezone-aware; a naive anchor creates nothing."""
    with unchanged(acme), pytest.raises(InvalidInstant):
        acme.service.create_organisation(
            name="Initech",
            admin_user_id="boss",
            admin_email="boss@initech.example",
            cycle_anchor=datetime(2026, 1, 1),
        )


def test_a_host_clock_that_answers_naive_instants_is_refused(acme: Scenario) -> None:
    """A misconfigured clock is caught before it can date anything."""

    class NaiveClock:
        def now(self) -> datetime:
            return datetime(2026, 1, 15, 9, 0)

    service = EnterpriseService(acme.store, clock=NaiveClock())
    with pytest.raises(InvalidInstant):
        service.spend("member-1", acme.org_id, 1, generation_id="g1")
    credits = acme.service.profile("member-1").credits
    assert credits is not None
    assert (credits.used, credits.remaining) == (0, 1_000)


def test_a_name_at_the_limit_is_accepted(acme: Scenario) -> None:
    """The limits are inclusive: a 200-character organisation name is fine."""
    org = acme.service.create_organisation(
        name="N" * 200, admin_user_id="boss", admin_email="boss@initech.example"
    )
    assert len(org.name) == 200


def test_a_non_bool_flag_is_refused(acme: Scenario, unchanged: Unchanged) -> None:
    """``email_verified`` must be a real bool: a truthy string does not verify an address."""
    with unchanged(acme), pytest.raises(ArmoxError) as caught:
        acme.service.enrol("jane", "jane@acme.example", email_verified="yes")  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)


def test_the_unchanged_check_notices_a_write(acme: Scenario, unchanged: Unchanged) -> None:
    """The check used above is not vacuous: a call that writes makes it fail."""
    with pytest.raises(AssertionError), unchanged(acme):
        acme.service.top_up(acme.admin, acme.org_id, 1)
    with pytest.raises(AssertionError), unchanged(acme):
        acme.service.request_credits("member-1", acme.org_id, 1)
