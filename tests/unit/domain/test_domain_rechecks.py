"""The domain re-check rule: grace windows, recovery, lapse, and what a lapsed claim still does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.claims import (
    CLAIM_VERIFICATION_WINDOW,
    RECHECK_GRACE,
    CheckOutcome,
    CheckTransition,
    apply_check,
    is_binding,
    mark_verified,
    record_published,
)
from armox_enterprise.domain.organisation import DomainClaim, DomainStatus
from armox_enterprise.domain.values import DomainName

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
PASSED, FAILED, UNANSWERED = CheckOutcome.PASSED, CheckOutcome.FAILED, CheckOutcome.UNANSWERED


def verified_claim() -> DomainClaim:
    """A claim on acme.example, verified at T0."""
    claim = DomainClaim(DomainName("acme.example"), "org-acme", "tok", T0 - HOUR)
    return mark_verified(claim, T0)


def test_the_default_grace_window_is_72_hours() -> None:
    """A domain whose record went missing keeps enrolling for three days by default."""
    assert timedelta(hours=72) == RECHECK_GRACE


def test_a_pass_on_a_healthy_domain_records_the_last_successful_check() -> None:
    """A passing check moves ``last_checked_at`` on and leaves the claim verified."""
    step = apply_check(verified_claim(), PASSED, T0 + HOUR)
    assert step.transition is CheckTransition.CONFIRMED
    assert step.claim.last_checked_at == T0 + HOUR
    assert step.claim.status is DomainStatus.VERIFIED
    assert step.changed


def test_a_failure_opens_a_grace_window_during_which_the_domain_still_enrols() -> None:
    """The first failing check sets ``failing_since`` and ``lapses_at``; still verified."""
    step = apply_check(verified_claim(), FAILED, T0 + HOUR, grace=24 * HOUR)
    assert step.transition is CheckTransition.FAILING
    assert (step.claim.failing_since, step.claim.lapses_at) == (T0 + HOUR, T0 + 25 * HOUR)
    assert step.claim.is_verified
    assert step.claim.status is DomainStatus.FAILING
    assert step.claim.last_checked_at == T0  # the last successful check stays


def test_a_failure_within_the_window_changes_nothing() -> None:
    """A second failure before ``lapses_at`` keeps the window as it was opened."""
    failing = apply_check(verified_claim(), FAILED, T0, grace=24 * HOUR).claim
    step = apply_check(failing, FAILED, T0 + 23 * HOUR, grace=HOUR)
    assert step.transition is CheckTransition.STILL_FAILING
    assert step.claim == failing
    assert not step.changed


def test_a_pass_within_the_window_recovers_the_domain() -> None:
    """A passing check closes the window: verified again, ``last_checked_at`` moved on."""
    failing = apply_check(verified_claim(), FAILED, T0 + HOUR).claim
    step = apply_check(failing, PASSED, T0 + 2 * HOUR)
    assert step.transition is CheckTransition.RECOVERED
    assert (step.claim.failing_since, step.claim.lapses_at) == (None, None)
    assert step.claim.last_checked_at == T0 + 2 * HOUR
    assert step.claim.status is DomainStatus.VERIFIED


def test_a_failure_once_the_window_has_passed_lapses_the_domain() -> None:
    """At ``lapses_at`` exactly, a failing check lapses the claim: it is no longer verified."""
    failing = apply_check(verified_claim(), FAILED, T0, grace=24 * HOUR).claim
    step = apply_check(failing, FAILED, T0 + 24 * HOUR)
    assert step.transition is CheckTransition.LAPSED
    assert step.claim.lapsed_at == T0 + 24 * HOUR
    assert not step.claim.is_verified
    assert step.claim.status is DomainStatus.LAPSED
    assert step.claim.verified_at == T0  # when it was last verified, kept for the record


def test_an_unanswered_look_up_neither_opens_nor_closes_a_window() -> None:
    """A resolver that could not answer changes nothing, even past ``lapses_at``."""
    healthy = verified_claim()
    assert apply_check(healthy, UNANSWERED, T0 + HOUR).claim == healthy
    failing = apply_check(healthy, FAILED, T0, grace=HOUR).claim
    step = apply_check(failing, UNANSWERED, T0 + 10 * HOUR)
    assert (step.transition, step.claim) == (CheckTransition.UNANSWERED, failing)


@pytest.mark.parametrize("outcome", list(CheckOutcome))
def test_a_check_of_an_unverified_or_lapsed_claim_changes_nothing(outcome: CheckOutcome) -> None:
    """Only verified claims are re-checked: a lapsed one needs the admin's verification."""
    unverified = DomainClaim(DomainName("acme.example"), "org-acme", "tok", T0)
    failing = apply_check(verified_claim(), FAILED, T0, grace=HOUR).claim
    lapsed = apply_check(failing, FAILED, T0 + HOUR).claim
    for claim in (unverified, lapsed):
        step = apply_check(claim, outcome, T0 + 5 * HOUR)
        assert (step.transition, step.claim) == (CheckTransition.NOT_VERIFIED, claim)


@pytest.mark.parametrize("grace", [timedelta(0), -HOUR])
def test_the_grace_window_must_be_longer_than_zero(grace: timedelta) -> None:
    """A window of no length is refused rather than lapsing at the first failure."""
    with pytest.raises(ValueError, match="grace window"):
        apply_check(verified_claim(), FAILED, T0, grace=grace)


def test_verifying_a_lapsed_claim_again_clears_its_window() -> None:
    """``mark_verified`` makes a lapsed claim verified and healthy."""
    failing = apply_check(verified_claim(), FAILED, T0, grace=HOUR).claim
    lapsed = apply_check(failing, FAILED, T0 + HOUR).claim
    again = mark_verified(lapsed, T0 + 2 * HOUR)
    assert again.status is DomainStatus.VERIFIED
    assert (again.verified_at, again.last_checked_at) == (T0 + 2 * HOUR, T0 + 2 * HOUR)
    assert (again.failing_since, again.lapses_at, again.lapsed_at) == (None, None, None)


def test_a_lapsed_claim_binds_its_domain_for_the_verification_window_after_it_lapsed() -> None:
    """Another organisation cannot claim a lapsed domain at once, but can a week later."""
    failing = apply_check(verified_claim(), FAILED, T0, grace=HOUR).claim
    lapsed = apply_check(failing, FAILED, T0 + 30 * 24 * HOUR).claim
    assert is_binding(lapsed, T0 + 30 * 24 * HOUR)
    assert is_binding(lapsed, T0 + 30 * 24 * HOUR + CLAIM_VERIFICATION_WINDOW - HOUR)
    assert not is_binding(lapsed, T0 + 30 * 24 * HOUR + CLAIM_VERIFICATION_WINDOW)


def test_the_record_is_found_among_the_answers_quoted_or_not() -> None:
    """Blanks and double quotes around a TXT string are ignored; other records are not it."""
    claim = verified_claim()
    assert record_published(claim, ["v=spf1 -all", f' "{claim.txt_record}" '])
    assert not record_published(claim, ["v=spf1 -all", claim.txt_record + "x"])
    assert not record_published(claim, [])


# ---------------------------------------------------------------------- the property


checks = st.lists(
    st.tuples(st.sampled_from(list(CheckOutcome)), st.integers(min_value=0, max_value=40)),
    max_size=30,
)


@given(checks=checks, grace_hours=st.integers(min_value=1, max_value=48))
def test_a_domain_lapses_exactly_when_a_failure_run_lasted_the_grace_window(
    checks: list[tuple[CheckOutcome, int]], grace_hours: int
) -> None:
    """Over any sequence of checks: lapsed iff some failing check came at least ``grace`` after
    the first failure of a run no pass interrupted; a pass recovers; unanswered changes nothing.

    The model tracks only the start of the current failure run (unanswered checks ignored).
    """
    grace = grace_hours * HOUR
    claim = verified_claim()
    now = T0
    run_start: datetime | None = None
    model_lapsed = False
    for outcome, hours_later in checks:
        now += hours_later * HOUR
        before = claim
        step = apply_check(claim, outcome, now, grace)
        claim = step.claim
        if model_lapsed:
            assert step.transition is CheckTransition.NOT_VERIFIED
            assert claim == before
            continue
        if outcome is UNANSWERED:
            assert claim == before
        elif outcome is PASSED:
            expected = CheckTransition.RECOVERED if run_start else CheckTransition.CONFIRMED
            assert step.transition is expected
            assert claim.last_checked_at == now
            run_start = None
        elif run_start is None:
            assert step.transition is CheckTransition.FAILING
            run_start = now
        elif now - run_start >= grace:
            assert step.transition is CheckTransition.LAPSED
            model_lapsed = True
        else:
            assert step.transition is CheckTransition.STILL_FAILING
        assert claim.is_verified is not model_lapsed
        assert claim.failing_since == run_start
        if run_start is not None:
            assert claim.lapses_at == run_start + grace


@given(checks=checks)
def test_unanswered_checks_can_be_left_out_without_changing_the_outcome(
    checks: list[tuple[CheckOutcome, int]],
) -> None:
    """Removing every unanswered check from a sequence leaves the final claim the same."""

    def replay(sequence: list[tuple[CheckOutcome, int]], keep_unanswered: bool) -> DomainClaim:
        claim, now = verified_claim(), T0
        for outcome, hours_later in sequence:
            now += hours_later * HOUR
            if outcome is UNANSWERED and not keep_unanswered:
                continue
            claim = apply_check(claim, outcome, now).claim
        return claim

    assert replay(checks, True) == replay(checks, False)


def test_a_claim_made_before_the_re_checks_is_still_verified() -> None:
    """A claim stored without the new fields (as before migration ae0006) reads as verified."""
    claim = attrs.evolve(verified_claim(), last_checked_at=None)
    assert claim.status is DomainStatus.VERIFIED
    assert apply_check(claim, PASSED, T0 + HOUR).claim.last_checked_at == T0 + HOUR
