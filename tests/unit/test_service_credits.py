"""Credits through the service: pool, allocation, spending, holds, refunds, allotments, events."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from armox_enterprise import (
    EnterpriseCredits,
    EnterpriseService,
    HoldAlreadyResolved,
    HoldNotFound,
    HoldStatus,
    IdempotencyConflict,
    InsufficientCredits,
    InsufficientPoolCredits,
    InvalidAmount,
    InvalidInput,
    InvalidText,
    InvalidTransition,
    MemberNotFound,
    MemoryStore,
    Organisation,
    OrganisationNotFound,
    PermissionDenied,
    Transfer,
    TransferKind,
    TransferNotFound,
)
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import GRANT, POOL, USAGE, member_account
from armox_enterprise.testing import Scenario, enterprise


def credits_of(s: Scenario, user: str) -> EnterpriseCredits:
    """The Enterprise Credits section of ``user``'s profile."""
    section = s.service.profile(user).credits
    assert section is not None
    return section


def pool_of(s: Scenario) -> int:
    """The pool's unallocated credits."""
    return s.service.dashboard(s.admin, s.org_id).pool.unallocated


def transfers(s: Scenario, **filters: object) -> list[Transfer]:
    """The organisation's transfers matching ``filters``, oldest first."""
    with s.store.unit_of_work() as uow:
        return uow.ledger.transfers(s.org_id, **filters)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- pool


def test_top_up_adds_credits_to_the_pool_from_the_grant_source(acme: Scenario) -> None:
    """A top-up moves credits grant -> pool and is reported as topped up, not granted."""
    transfer = acme.service.top_up(acme.admin, acme.org_id, 2_500)
    assert (transfer.kind, transfer.debit_account, transfer.credit_account, transfer.amount) == (
        TransferKind.TOP_UP,
        GRANT,
        POOL,
        2_500,
    )
    pool = acme.service.dashboard(acme.admin, acme.org_id).pool
    assert (pool.unallocated, pool.topped_up, pool.granted) == (10_500, 2_500, 10_000)
    assert acme.service.reconcile(acme.org_id) == []


def test_top_up_with_a_key_happens_once(acme: Scenario) -> None:
    """Replaying a top-up returns the first transfer; other parameters are a conflict."""
    first = acme.service.top_up(acme.admin, acme.org_id, 500, idempotency_key="invoice-42")
    again = acme.service.top_up(acme.admin, acme.org_id, 500, idempotency_key="invoice-42")
    assert again == first
    assert pool_of(acme) == 8_500
    with pytest.raises(IdempotencyConflict):
        acme.service.top_up(acme.admin, acme.org_id, 600, idempotency_key="invoice-42")
    assert pool_of(acme) == 8_500


def test_keys_in_the_librarys_own_namespace_are_refused(acme: Scenario) -> None:
    """Idempotency keys starting with ``armox:`` are reserved for the library."""
    with pytest.raises(InvalidText):
        acme.service.top_up(acme.admin, acme.org_id, 1, idempotency_key="armox:grant:1")
    assert pool_of(acme) == 8_000


def test_allocation_moves_credits_from_the_pool_to_the_member(acme: Scenario) -> None:
    """Allocating raises the member's allocation and remaining and lowers the pool."""
    transfer = acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 250)
    assert (transfer.kind, transfer.debit_account, transfer.credit_account) == (
        TransferKind.ALLOCATE,
        POOL,
        member_account("member-1"),
    )
    section = credits_of(acme, "member-1")
    assert (section.allocated, section.remaining) == (1_250, 1_250)
    assert pool_of(acme) == 7_750


def test_allocation_with_a_key_happens_once(acme: Scenario) -> None:
    """A retried allocation returns the first transfer and moves nothing more."""
    first = acme.service.allocate_credits(
        acme.admin, acme.org_id, "member-1", 100, idempotency_key="a1"
    )
    again = acme.service.allocate_credits(
        acme.admin, acme.org_id, "member-1", 100, idempotency_key="a1"
    )
    assert again == first
    assert credits_of(acme, "member-1").remaining == 1_100
    with pytest.raises(IdempotencyConflict):
        acme.service.allocate_credits(
            acme.admin, acme.org_id, "member-2", 100, idempotency_key="a1"
        )


def test_allocation_cannot_exceed_the_pool(acme: Scenario) -> None:
    """The pool never goes below zero; the error carries what it holds."""
    with pytest.raises(InsufficientPoolCredits) as caught:
        acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 8_001)
    assert (caught.value.available, caught.value.requested) == (8_000, 8_001)
    acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 8_000)
    assert pool_of(acme) == 0


def test_allocation_needs_an_active_member(acme: Scenario) -> None:
    """Credits cannot be allocated to strangers or removed members."""
    with pytest.raises(MemberNotFound):
        acme.service.allocate_credits(acme.admin, acme.org_id, "stranger", 10)
    acme.service.remove_member(acme.admin, acme.org_id, "member-2")
    with pytest.raises(MemberNotFound):
        acme.service.allocate_credits(acme.admin, acme.org_id, "member-2", 10)


def test_reclaim_moves_credits_from_the_member_back_to_the_pool(acme: Scenario) -> None:
    """Reclaiming lowers the member's remaining and raises the pool."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    acme.service.reclaim_credits(acme.admin, acme.org_id, "member-1", 400)
    assert credits_of(acme, "member-1").remaining == 600
    pool = acme.service.dashboard(acme.admin, acme.org_id).pool
    assert (pool.unallocated, pool.reclaimed) == (8_400, 400)
    assert [(e.user_id, e.amount) for e in delivered if isinstance(e, ev.CreditsReclaimed)] == [
        ("member-1", 400)
    ]


def test_reclaim_cannot_take_more_than_the_member_has_available(acme: Scenario) -> None:
    """Credits spent or on hold cannot be reclaimed."""
    acme.service.spend("member-1", acme.org_id, 300, generation_id="g1")
    acme.service.reserve("member-1", acme.org_id, 200, generation_id="g2")
    with pytest.raises(InsufficientCredits) as caught:
        acme.service.reclaim_credits(acme.admin, acme.org_id, "member-1", 501)
    assert caught.value.available == 500
    acme.service.reclaim_credits(acme.admin, acme.org_id, "member-1", 500)
    assert credits_of(acme, "member-1").remaining == 0


def test_pool_operations_are_for_admins(acme: Scenario) -> None:
    """Members cannot top up, allocate or reclaim."""
    with pytest.raises(PermissionDenied):
        acme.service.top_up("member-1", acme.org_id, 10)
    with pytest.raises(PermissionDenied):
        acme.service.allocate_credits("member-1", acme.org_id, "member-1", 10)
    with pytest.raises(PermissionDenied):
        acme.service.reclaim_credits("member-1", acme.org_id, "member-2", 10)
    assert pool_of(acme) == 8_000


# ---------------------------------------------------------------------------- spending


def test_spend_moves_credits_from_the_member_to_usage(acme: Scenario) -> None:
    """A spend debits the member, tags the usage and shows as used."""
    transfer = acme.service.spend(
        "member-1", acme.org_id, 120, generation_id="gen-1", feature="image", model="m-2"
    )
    assert (transfer.kind, transfer.debit_account, transfer.credit_account) == (
        TransferKind.SPEND,
        member_account("member-1"),
        USAGE,
    )
    assert (transfer.reference, transfer.feature, transfer.model) == ("gen-1", "image", "m-2")
    section = credits_of(acme, "member-1")
    assert (section.allocated, section.used, section.remaining) == (1_000, 120, 880)


def test_spend_is_idempotent_by_generation_id(acme: Scenario) -> None:
    """Sending the same generation again returns the first transfer and spends nothing more."""
    first = acme.service.spend("member-1", acme.org_id, 120, generation_id="gen-1")
    again = acme.service.spend("member-1", acme.org_id, 120, generation_id="gen-1")
    assert again == first
    assert credits_of(acme, "member-1").remaining == 880
    assert len(transfers(acme, kinds=[TransferKind.SPEND])) == 1


@pytest.mark.parametrize(
    ("user", "amount", "tags"),
    [
        ("member-1", 121, {}),
        ("member-1", 120, {"feature": "video"}),
        ("member-1", 120, {"model": "other"}),
        ("member-2", 120, {}),
    ],
)
def test_a_generation_id_reused_with_other_parameters_is_a_conflict(
    acme: Scenario, user: str, amount: int, tags: dict[str, str]
) -> None:
    """Another amount, tag or member under the same generation id is refused, unspent."""
    acme.service.spend("member-1", acme.org_id, 120, generation_id="gen-1")
    with pytest.raises(IdempotencyConflict):
        acme.service.spend(user, acme.org_id, amount, generation_id="gen-1", **tags)
    assert credits_of(acme, "member-1").remaining == 880
    assert credits_of(acme, "member-2").remaining == 1_000


def test_a_refused_spend_can_be_retried_under_the_same_generation_id(acme: Scenario) -> None:
    """A spend that failed recorded nothing, so its retry is a first attempt."""
    with pytest.raises(InsufficientCredits):
        acme.service.spend("member-1", acme.org_id, 1_500, generation_id="gen-1")
    acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 500)
    acme.service.spend("member-1", acme.org_id, 1_500, generation_id="gen-1")
    assert credits_of(acme, "member-1").remaining == 0


def test_a_spend_beyond_the_balance_says_what_is_available_and_if_a_request_can_be_made(
    acme: Scenario,
) -> None:
    """The error carries the available amount and whether the request button is usable."""
    with pytest.raises(InsufficientCredits) as caught:
        acme.service.spend("member-1", acme.org_id, 1_001, generation_id="g1")
    assert (caught.value.available, caught.value.requested, caught.value.can_request) == (
        1_000,
        1_001,
        True,
    )
    acme.service.request_credits("member-1", acme.org_id, 500)
    with pytest.raises(InsufficientCredits) as again:
        acme.service.spend("member-1", acme.org_id, 1_001, generation_id="g1")
    assert again.value.can_request is False
    assert not isinstance(again.value, InsufficientPoolCredits)


def test_members_spend_only_their_own_credits_and_admins_spend_theirs(acme: Scenario) -> None:
    """An admin has a member account too, which starts empty."""
    with pytest.raises(InsufficientCredits):
        acme.service.spend(acme.admin, acme.org_id, 1, generation_id="g-admin")
    acme.service.allocate_credits(acme.admin, acme.org_id, acme.admin, 10)
    acme.service.spend(acme.admin, acme.org_id, 10, generation_id="g-admin")
    assert credits_of(acme, "member-1").remaining == 1_000


def test_pool_spend_is_off_by_default_and_draws_on_the_pool_when_enabled(acme: Scenario) -> None:
    """With the option on, the shortfall is allocated from the pool, then the member spends."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    with pytest.raises(InsufficientCredits):
        acme.service.spend("member-1", acme.org_id, 1_500, generation_id="g1")
    acme.service.update_settings(acme.admin, acme.org_id, allow_pool_spend=True)
    transfer = acme.service.spend("member-1", acme.org_id, 1_500, generation_id="g1")
    assert (transfer.debit_account, transfer.amount) == (member_account("member-1"), 1_500)
    [shortfall] = transfers(acme, kinds=[TransferKind.ALLOCATE], reference="g1")
    assert (shortfall.debit_account, shortfall.amount, shortfall.actor) == (POOL, 500, "system")
    section = credits_of(acme, "member-1")
    assert (section.allocated, section.used, section.remaining) == (1_500, 1_500, 0)
    assert pool_of(acme) == 7_500
    kinds = [e.kind for e in delivered if isinstance(e, ev.CreditsAllocated)]
    assert kinds == ["pool_spend"]
    with pytest.raises(InsufficientCredits):
        acme.service.spend("member-1", acme.org_id, 7_501, generation_id="g2")
    assert pool_of(acme) == 7_500
    assert acme.service.reconcile(acme.org_id) == []


def test_pool_spend_prefers_the_members_own_credits(acme: Scenario) -> None:
    """While the member can cover a spend, the pool is not touched."""
    acme.service.update_settings(acme.admin, acme.org_id, allow_pool_spend=True)
    transfer = acme.service.spend("member-1", acme.org_id, 1_000, generation_id="g1")
    assert transfer.debit_account == member_account("member-1")
    assert pool_of(acme) == 8_000


# ---------------------------------------------------------------------------- holds


def test_a_hold_reserves_credits_until_it_is_resolved(acme: Scenario) -> None:
    """Reserving lowers remaining and shows the amount on hold; nothing is used yet."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    assert (hold.status, hold.amount, hold.user_id, hold.reference) == (
        HoldStatus.PENDING,
        300,
        "member-1",
        "video-1",
    )
    assert hold.expires_at == acme.clock.now() + timedelta(hours=1)
    section = credits_of(acme, "member-1")
    assert (section.remaining, section.on_hold, section.used) == (700, 300, 0)


def test_capturing_a_whole_hold_spends_it(acme: Scenario) -> None:
    """A full capture turns the reservation into use."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    captured = acme.service.capture_hold("member-1", acme.org_id, hold.id)
    assert (captured.status, captured.captured) == (HoldStatus.CAPTURED, 300)
    section = credits_of(acme, "member-1")
    assert (section.remaining, section.on_hold, section.used) == (700, 0, 300)


def test_capturing_part_of_a_hold_releases_the_rest(acme: Scenario) -> None:
    """Only the captured part is used; the remainder is available again."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    captured = acme.service.capture_hold("member-1", acme.org_id, hold.id, 120)
    assert captured.captured == 120
    section = credits_of(acme, "member-1")
    assert (section.remaining, section.on_hold, section.used) == (880, 0, 120)
    kinds = [t.kind for t in transfers(acme, reference=hold.id)]
    assert kinds == [TransferKind.CAPTURE, TransferKind.RELEASE]
    assert acme.service.reconcile(acme.org_id) == []


def test_capturing_more_than_the_hold_is_refused_and_the_hold_stays(acme: Scenario) -> None:
    """A hold caps what a generation may cost; the failed capture changes nothing."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    with pytest.raises(InvalidAmount):
        acme.service.capture_hold("member-1", acme.org_id, hold.id, 301)
    assert credits_of(acme, "member-1").on_hold == 300
    assert acme.service.capture_hold("member-1", acme.org_id, hold.id, 300).captured == 300


def test_releasing_a_hold_gives_the_credits_back(acme: Scenario) -> None:
    """A failed generation's hold is voided: nothing is used."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    released = acme.service.release_hold("member-1", acme.org_id, hold.id)
    assert (released.status, released.captured) == (HoldStatus.RELEASED, 0)
    section = credits_of(acme, "member-1")
    assert (section.remaining, section.on_hold, section.used) == (1_000, 0, 0)


@pytest.mark.parametrize("first", ["capture", "release"])
@pytest.mark.parametrize("second", ["capture", "release"])
def test_a_hold_resolves_once(acme: Scenario, first: str, second: str) -> None:
    """After a capture or release, neither can happen again, and no credit moves."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    if first == "capture":
        acme.service.capture_hold("member-1", acme.org_id, hold.id, 100)
    else:
        acme.service.release_hold("member-1", acme.org_id, hold.id)
    before = credits_of(acme, "member-1")
    resolve = acme.service.capture_hold if second == "capture" else acme.service.release_hold
    with pytest.raises(HoldAlreadyResolved):
        resolve("member-1", acme.org_id, hold.id)
    assert credits_of(acme, "member-1") == before


def test_capture_and_release_with_a_key_can_be_retried(acme: Scenario) -> None:
    """A retried capture (or release) under its key returns the resolved hold, no error."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="v1")
    first = acme.service.capture_hold("member-1", acme.org_id, hold.id, 100, idempotency_key="c")
    again = acme.service.capture_hold("member-1", acme.org_id, hold.id, 100, idempotency_key="c")
    assert again == first
    assert credits_of(acme, "member-1").used == 100
    other = acme.service.reserve("member-1", acme.org_id, 50, generation_id="v2")
    released = acme.service.release_hold("member-1", acme.org_id, other.id, idempotency_key="r")
    assert acme.service.release_hold("member-1", acme.org_id, other.id, idempotency_key="r") == (
        released
    )
    with pytest.raises(IdempotencyConflict):
        acme.service.capture_hold("member-1", acme.org_id, hold.id, 99, idempotency_key="c")


def test_reserve_is_idempotent_by_generation_id(acme: Scenario) -> None:
    """Reserving the same generation again returns the first hold."""
    first = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    again = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    assert again == first
    assert credits_of(acme, "member-1").on_hold == 300
    with pytest.raises(IdempotencyConflict):
        acme.service.reserve("member-1", acme.org_id, 301, generation_id="video-1")
    with pytest.raises(IdempotencyConflict):
        acme.service.spend("member-1", acme.org_id, 300, generation_id="video-1")


def test_a_hold_cannot_reserve_more_than_the_member_has(acme: Scenario) -> None:
    """Holds never draw on the pool, even with pool spend enabled."""
    acme.service.update_settings(acme.admin, acme.org_id, allow_pool_spend=True)
    acme.service.reserve("member-1", acme.org_id, 800, generation_id="v1")
    with pytest.raises(InsufficientCredits) as caught:
        acme.service.reserve("member-1", acme.org_id, 201, generation_id="v2")
    assert caught.value.available == 200
    assert pool_of(acme) == 8_000


def test_a_hold_past_its_lifetime_is_released_by_the_job(acme: Scenario) -> None:
    """``release_expired_holds`` expires holds older than their lifetime, once."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    acme.clock.advance(minutes=59)
    assert acme.service.release_expired_holds(acme.org_id) == 0
    acme.clock.advance(minutes=1)
    assert acme.service.release_expired_holds(acme.org_id) == 1
    assert acme.service.release_expired_holds(acme.org_id) == 0
    section = credits_of(acme, "member-1")
    assert (section.remaining, section.on_hold) == (1_000, 0)
    with pytest.raises(HoldAlreadyResolved, match="expired"):
        acme.service.capture_hold("member-1", acme.org_id, hold.id)


def test_a_hold_past_its_lifetime_cannot_be_captured_even_before_the_job_runs(
    acme: Scenario,
) -> None:
    """Expiry does not depend on when the job runs: a late capture is refused."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    acme.clock.advance(hours=1)
    with pytest.raises(HoldAlreadyResolved):
        acme.service.capture_hold("member-1", acme.org_id, hold.id)
    assert credits_of(acme, "member-1").used == 0
    assert acme.service.release_expired_holds(acme.org_id) == 1


def test_a_late_release_of_an_expired_hold_gives_the_credits_back(acme: Scenario) -> None:
    """Releasing a hold past its lifetime before the job ran simply returns its credits."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="video-1")
    acme.clock.advance(hours=2)
    acme.service.release_hold("member-1", acme.org_id, hold.id)
    assert credits_of(acme, "member-1").remaining == 1_000


def test_a_hold_lifetime_is_capped_by_the_organisation(acme: Scenario) -> None:
    """A shorter lifetime is kept; a longer one is cut to the organisation's maximum."""
    short = acme.service.reserve(
        "member-1", acme.org_id, 10, generation_id="v1", lifetime=timedelta(minutes=5)
    )
    long = acme.service.reserve(
        "member-1", acme.org_id, 10, generation_id="v2", lifetime=timedelta(days=3)
    )
    now = acme.clock.now()
    assert short.expires_at == now + timedelta(minutes=5)
    assert long.expires_at == now + timedelta(hours=1)
    acme.service.update_settings(acme.admin, acme.org_id, hold_lifetime=timedelta(hours=6))
    longer = acme.service.reserve(
        "member-1", acme.org_id, 10, generation_id="v3", lifetime=timedelta(days=3)
    )
    assert longer.expires_at == now + timedelta(hours=6)


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(seconds=-1), timedelta(days=32), 60])
def test_a_hold_lifetime_must_be_a_positive_duration(acme: Scenario, lifetime: object) -> None:
    """Zero, negative, over-long (past 31 days) or non-timedelta lifetimes are refused."""
    with pytest.raises(InvalidInput):
        acme.service.reserve(
            "member-1",
            acme.org_id,
            10,
            generation_id="v1",
            lifetime=lifetime,  # type: ignore[arg-type]
        )
    assert credits_of(acme, "member-1").on_hold == 0


def test_a_spend_releases_the_members_stale_holds_first(acme: Scenario) -> None:
    """A hold past its lifetime does not block a spend it would have allowed."""
    acme.service.reserve("member-1", acme.org_id, 900, generation_id="v1")
    with pytest.raises(InsufficientCredits):
        acme.service.spend("member-1", acme.org_id, 500, generation_id="g1")
    acme.clock.advance(hours=1)
    acme.service.spend("member-1", acme.org_id, 500, generation_id="g1")
    section = credits_of(acme, "member-1")
    assert (section.remaining, section.on_hold, section.used) == (500, 0, 500)


def test_only_the_owner_or_an_admin_resolves_a_hold(acme: Scenario, globex: Organisation) -> None:
    """Another member is told the hold does not exist; an outsider, the organisation."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="v1")
    with pytest.raises(HoldNotFound):
        acme.service.capture_hold("member-2", acme.org_id, hold.id)
    with pytest.raises(OrganisationNotFound):
        acme.service.release_hold("globex-admin", acme.org_id, hold.id)
    with pytest.raises(HoldNotFound):
        acme.service.release_hold("member-1", acme.org_id, "no-such-hold")
    assert acme.service.capture_hold(acme.admin, acme.org_id, hold.id).captured == 300


# ---------------------------------------------------------------------------- refunds


def test_a_refund_gives_a_spend_back_and_lowers_used(acme: Scenario) -> None:
    """A full refund restores the member's credits; the spend no longer counts as used."""
    spend = acme.service.spend("member-1", acme.org_id, 200, generation_id="g1")
    refund = acme.service.refund(acme.admin, acme.org_id, spend.id)
    assert (refund.kind, refund.debit_account, refund.credit_account, refund.amount) == (
        TransferKind.REFUND,
        USAGE,
        member_account("member-1"),
        200,
    )
    assert (refund.reference, refund.actor) == (spend.id, acme.admin)
    section = credits_of(acme, "member-1")
    assert (section.used, section.remaining) == (0, 1_000)
    assert acme.service.dashboard(acme.admin, acme.org_id).pool.used == 0


def test_members_cannot_refund_themselves(acme: Scenario) -> None:
    """Refunds are an admin decision; a failed generation should use a hold instead."""
    spend = acme.service.spend("member-1", acme.org_id, 200, generation_id="g1")
    with pytest.raises(PermissionDenied):
        acme.service.refund("member-1", acme.org_id, spend.id)
    assert credits_of(acme, "member-1").used == 200


def test_a_spend_is_refunded_once_even_partially(acme: Scenario) -> None:
    """After a partial refund, the rest cannot be refunded in a second call."""
    spend = acme.service.spend("member-1", acme.org_id, 200, generation_id="g1")
    acme.service.refund(acme.admin, acme.org_id, spend.id, 50)
    assert credits_of(acme, "member-1").used == 150
    with pytest.raises(InvalidTransition):
        acme.service.refund(acme.admin, acme.org_id, spend.id, 50)
    with pytest.raises(InvalidTransition):
        acme.service.refund(acme.admin, acme.org_id, spend.id)
    assert credits_of(acme, "member-1").remaining == 850


def test_a_refund_with_a_key_can_be_retried(acme: Scenario) -> None:
    """Retrying a refund under its key returns the first refund instead of refusing it."""
    spend = acme.service.spend("member-1", acme.org_id, 200, generation_id="g1")
    first = acme.service.refund(acme.admin, acme.org_id, spend.id, 50, idempotency_key="r1")
    again = acme.service.refund(acme.admin, acme.org_id, spend.id, 50, idempotency_key="r1")
    assert again == first
    assert credits_of(acme, "member-1").remaining == 850
    with pytest.raises(IdempotencyConflict):
        acme.service.refund(acme.admin, acme.org_id, spend.id, 60, idempotency_key="r1")


def test_a_refund_is_never_more_than_was_spent(acme: Scenario) -> None:
    """Refunding more than the spend is refused and refunds nothing."""
    spend = acme.service.spend("member-1", acme.org_id, 200, generation_id="g1")
    with pytest.raises(InvalidAmount):
        acme.service.refund(acme.admin, acme.org_id, spend.id, 201)
    assert credits_of(acme, "member-1").remaining == 800
    acme.service.refund(acme.admin, acme.org_id, spend.id, 200)
    assert credits_of(acme, "member-1").remaining == 1_000


def test_a_captured_hold_can_be_refunded(acme: Scenario) -> None:
    """The capture transfer is a spend like any other."""
    hold = acme.service.reserve("member-1", acme.org_id, 300, generation_id="v1")
    acme.service.capture_hold("member-1", acme.org_id, hold.id, 250)
    [capture] = transfers(acme, reference=hold.id, kinds=[TransferKind.CAPTURE])
    acme.service.refund(acme.admin, acme.org_id, capture.id)
    section = credits_of(acme, "member-1")
    assert (section.used, section.remaining) == (0, 1_000)


def test_only_spends_can_be_refunded(acme: Scenario) -> None:
    """An allocation, a hold's reservation or an unknown id is not a spend."""
    allocation = acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 5)
    hold = acme.service.reserve("member-1", acme.org_id, 10, generation_id="v1")
    for transfer_id in (allocation.id, hold.id, "no-such-transfer"):
        with pytest.raises(TransferNotFound):
            acme.service.refund(acme.admin, acme.org_id, transfer_id)
    assert credits_of(acme, "member-1").remaining == 995


def test_a_refund_for_a_removed_member_goes_to_the_pool(acme: Scenario) -> None:
    """A member who left gets nothing back; the credits return to the pool."""
    spend = acme.service.spend("member-1", acme.org_id, 200, generation_id="g1")
    acme.service.remove_member(acme.admin, acme.org_id, "member-1")
    pool = pool_of(acme)
    acme.service.refund(acme.admin, acme.org_id, spend.id)
    assert pool_of(acme) == pool + 200
    with acme.store.unit_of_work() as uow:
        account = uow.ledger.get_account(acme.org_id, member_account("member-1"))
    assert account is not None
    assert account.available == 0
    assert acme.service.reconcile(acme.org_id) == []


def test_a_pool_spend_is_refunded_to_the_member(acme: Scenario) -> None:
    """A pool spend went through the member, so its refund goes back to the member."""
    acme.service.update_settings(acme.admin, acme.org_id, allow_pool_spend=True)
    spend = acme.service.spend("member-1", acme.org_id, 1_500, generation_id="g1")
    acme.service.refund(acme.admin, acme.org_id, spend.id)
    assert credits_of(acme, "member-1").remaining == 1_500
    assert pool_of(acme) == 7_500
    assert acme.service.reconcile(acme.org_id) == []


# ---------------------------------------------------------------------------- allotments


def test_standing_allotments_are_issued_at_each_period_opening(acme: Scenario) -> None:
    """Setting an allotment issues nothing now; every opening then allots it from the pool."""
    acme.service.set_standing_allotment(acme.admin, acme.org_id, "member-1", 300)
    assert credits_of(acme, "member-1").remaining == 1_000
    acme.clock.set(acme.organisation.current_period.end)
    section = credits_of(acme, "member-1")
    assert (section.allocated, section.remaining) == (300, 300)
    assert pool_of(acme) == 9_700
    acme.clock.set(acme.organisation.current_period.end + timedelta(days=31))
    assert credits_of(acme, "member-1").allocated == 300
    allots = transfers(acme, kinds=[TransferKind.ALLOT])
    assert [(t.period_index, t.amount) for t in allots] == [(1, 300), (2, 300)]


def test_an_allotment_the_pool_cannot_cover_is_reported_not_overdrawn() -> None:
    """Allotments are issued in join order while the pool lasts; a shortfall raises an event."""
    s = enterprise(members=0)
    s.service.enrol("zed", "zed@acme.example", email_verified=True)
    s.clock.advance(minutes=1)
    s.service.enrol("abe", "abe@acme.example", email_verified=True)
    delivered: list[ev.Event] = []
    s.service.subscribe(delivered.append)
    s.service.set_standing_allotment(s.admin, s.org_id, "abe", 4_000)
    s.service.set_standing_allotment(s.admin, s.org_id, "zed", 7_000)
    s.clock.set(s.organisation.current_period.end)
    assert credits_of(s, "zed").allocated == 7_000
    assert credits_of(s, "abe").allocated == 0
    shortfalls = [e for e in delivered if isinstance(e, ev.AllotmentShortfall)]
    assert [(e.user_id, e.wanted, e.available) for e in shortfalls] == [("abe", 4_000, 3_000)]
    assert pool_of(s) == 3_000
    assert s.service.reconcile(s.org_id) == []


def test_a_zero_allotment_stops_the_issue(acme: Scenario) -> None:
    """Setting the allotment back to zero issues nothing at the next opening."""
    acme.service.set_standing_allotment(acme.admin, acme.org_id, "member-1", 300)
    member = acme.service.set_standing_allotment(acme.admin, acme.org_id, "member-1", 0)
    assert member.standing_allotment == 0
    acme.clock.set(acme.organisation.current_period.end)
    assert credits_of(acme, "member-1").allocated == 0


def test_allotments_are_set_by_admins_for_active_members(acme: Scenario) -> None:
    """Members cannot set allotments; strangers have none to set."""
    with pytest.raises(PermissionDenied):
        acme.service.set_standing_allotment("member-1", acme.org_id, "member-1", 300)
    with pytest.raises(MemberNotFound):
        acme.service.set_standing_allotment(acme.admin, acme.org_id, "stranger", 300)


def test_a_zero_allowance_opens_periods_without_a_grant(acme: Scenario) -> None:
    """With the allowance set to zero, the next period opens with an empty grant."""
    acme.service.set_monthly_allowance(acme.admin, acme.org_id, 0)
    acme.clock.set(acme.organisation.current_period.end)
    pool = acme.service.dashboard(acme.admin, acme.org_id).pool
    assert (pool.granted, pool.unallocated) == (0, 0)
    assert acme.service.reconcile(acme.org_id) == []


# ---------------------------------------------------------------------------- events


def test_events_reach_subscribers_after_the_change_is_committed(acme: Scenario) -> None:
    """A handler sees the committed state when it runs."""
    seen: list[int] = []

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.CreditsSpent):
            seen.append(credits_of(acme, event.user_id).remaining)

    acme.service.subscribe(on_event)
    acme.service.spend("member-1", acme.org_id, 100, generation_id="g1")
    assert seen == [900]


def test_events_carry_who_did_what_and_when(acme: Scenario) -> None:
    """Each event names its organisation, actor and instant."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 50)
    acme.service.spend("member-1", acme.org_id, 20, generation_id="g1")
    acme.service.top_up(acme.admin, acme.org_id, 70)
    now = acme.clock.now()
    assert delivered == [
        ev.CreditsAllocated(
            organisation_id=acme.org_id,
            actor=acme.admin,
            occurred_at=now,
            user_id="member-1",
            amount=50,
            kind="allocate",
        ),
        ev.CreditsSpent(
            organisation_id=acme.org_id,
            actor="member-1",
            occurred_at=now,
            user_id="member-1",
            amount=20,
            reference="g1",
        ),
        ev.PoolToppedUp(organisation_id=acme.org_id, actor=acme.admin, occurred_at=now, amount=70),
    ]
    assert [e.name for e in delivered] == ["CreditsAllocated", "CreditsSpent", "PoolToppedUp"]


def test_a_failed_call_delivers_no_events(acme: Scenario) -> None:
    """Nothing is delivered or kept in the outbox for a call that raised."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    assert isinstance(acme.store, MemoryStore)
    outbox = list(acme.store.outbox)
    with pytest.raises(InsufficientCredits):
        acme.service.spend("member-1", acme.org_id, 5_000, generation_id="g1")
    with pytest.raises(InsufficientPoolCredits):
        acme.service.allocate_credits(acme.admin, acme.org_id, "member-1", 50_000)
    assert delivered == []
    assert acme.store.outbox == outbox


def test_an_idempotent_replay_delivers_no_second_event(acme: Scenario) -> None:
    """Replaying a spend has no effect, events included."""
    delivered: list[ev.Event] = []
    acme.service.subscribe(delivered.append)
    acme.service.spend("member-1", acme.org_id, 100, generation_id="g1")
    acme.service.spend("member-1", acme.org_id, 100, generation_id="g1")
    assert len(delivered) == 1


def test_a_failing_handler_is_logged_and_does_not_stop_others_or_undo_the_change(
    acme: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    """Handlers run after commit: one raising is logged, the rest still run, the spend stands."""
    delivered: list[ev.Event] = []

    def broken(event: ev.Event) -> None:
        raise RuntimeError("handler down")

    acme.service.subscribe(broken)
    acme.service.subscribe(delivered.append)
    with caplog.at_level(logging.ERROR, logger="armox_enterprise"):
        acme.service.spend("member-1", acme.org_id, 100, generation_id="g1")
    assert [type(e) for e in delivered] == [ev.CreditsSpent]
    assert any("CreditsSpent" in r.getMessage() for r in caplog.records)
    assert credits_of(acme, "member-1").remaining == 900


def test_the_ledger_reconciles_after_a_busy_period() -> None:
    """Many operations of every kind leave the cached balances equal to the transfers."""
    s = enterprise(members=3, allocate=1_000)
    svc, org = s.service, s.org_id
    svc.top_up(s.admin, org, 2_000)
    for n in range(10):
        svc.spend("member-1", org, 10 + n, generation_id=f"s{n}")
    hold = svc.reserve("member-2", org, 400, generation_id="h1")
    svc.capture_hold("member-2", org, hold.id, 150)
    svc.reserve("member-3", org, 300, generation_id="h2")
    spend = svc.spend("member-3", org, 100, generation_id="s-x")
    svc.refund(s.admin, org, spend.id, 40)
    svc.reclaim_credits(s.admin, org, "member-1", 100)
    request = svc.request_credits("member-1", org, 500)
    svc.approve_request(s.admin, org, request.id, amount=300)
    svc.remove_member(s.admin, org, "member-3")
    s.clock.advance(days=40)
    svc.close_due_periods()
    assert svc.reconcile(org) == []


class _RaceLostLedger:
    """A ledger whose first spend is refused as if another writer held the member's credits
    for a moment: by the time the service looks again, they are there."""

    def __init__(self, base: Any) -> None:
        self._base = base
        self._refused = False

    def post(self, transfer: Transfer) -> None:
        if transfer.kind is TransferKind.SPEND and not self._refused:
            self._refused = True
            raise InsufficientCredits("raced", available=0, requested=transfer.amount)
        self._base.post(transfer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def test_a_pool_spend_that_lost_a_race_to_an_allocation_just_spends() -> None:
    """A spend refused for a moment, whose member holds enough once the balance is locked,
    is posted as it is: no pool allocation of nothing (or less than nothing)."""
    from armox_enterprise.testing import ComposedStore

    base = MemoryStore()
    acme = enterprise(store=base, members=1, allocate=100)
    acme.service.update_settings("admin", acme.org_id, allow_pool_spend=True)
    racy = ComposedStore(base, ledger=lambda uow: _RaceLostLedger(uow.base.ledger))
    service = EnterpriseService(racy, clock=acme.clock)
    pool_before = acme.service.dashboard("admin", acme.org_id).pool.unallocated
    spent = service.spend("member-1", acme.org_id, 30, generation_id="raced-1")
    assert spent.amount == 30
    assert acme.service.dashboard("admin", acme.org_id).pool.unallocated == pool_before
    assert acme.service.profile("member-1").credits.remaining == 70  # type: ignore[union-attr]
