"""Domain claims: which claim keeps others off a domain, and whether a new claim may stand.

A claim binds its domain (keeps every other organisation off it, and off its subdomains when it
includes them) once verified, or while it is young: an unverified claim lapses after
:data:`CLAIM_VERIFICATION_WINDOW`, so a squatter cannot hold a domain it cannot prove.

A verified claim is checked again and again (:func:`apply_check`, the re-check job's rule): a
failing check opens a grace window (:data:`RECHECK_GRACE` by default) during which the domain
still enrols; a passing check closes it; a failing check once the window has passed lapses the
claim.  A lapsed claim enrols nobody, and binds its domain for
:data:`CLAIM_VERIFICATION_WINDOW` after it lapsed, as a new claim does, so its admin can verify
it again before another organisation may claim the domain.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import attrs

from armox_enterprise.domain.enrolment import FreeMailList
from armox_enterprise.domain.organisation import DomainClaim
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import DomainAlreadyClaimed, DomainNotClaimable

__all__ = [
    "CLAIM_VERIFICATION_WINDOW",
    "RECHECK_GRACE",
    "CheckOutcome",
    "CheckStep",
    "CheckTransition",
    "ClaimOutcome",
    "ClaimPlan",
    "RecheckReport",
    "apply_check",
    "claim_candidates",
    "ensure_claimable",
    "is_binding",
    "mark_verified",
    "plan_claim",
    "record_published",
]

#: An unverified claim older than this no longer keeps other organisations off the domain.
CLAIM_VERIFICATION_WINDOW = timedelta(days=7)


#: How long a verified domain keeps enrolling after a re-check first fails to find its record.
RECHECK_GRACE = timedelta(hours=72)


def is_binding(claim: DomainClaim, now: datetime) -> bool:
    """Return whether ``claim`` keeps other organisations off its domain at ``now``.

    A verified claim binds; an unverified one binds for :data:`CLAIM_VERIFICATION_WINDOW`
    after it was made, a lapsed one for as long after it lapsed.
    """
    since = claim.claimed_at if claim.lapsed_at is None else claim.lapsed_at
    return claim.is_verified or now < since + CLAIM_VERIFICATION_WINDOW


def record_published(claim: DomainClaim, records: Sequence[str]) -> bool:
    """Return whether ``records`` (a domain's TXT strings) hold ``claim``'s proof.

    Surrounding blanks and double quotes are ignored, as some resolvers keep them.
    """
    return claim.txt_record in [r.strip().strip('"') for r in records]


def mark_verified(claim: DomainClaim, now: datetime) -> DomainClaim:
    """Return ``claim`` verified at ``now``: its record was found (again, if it had lapsed)."""
    return attrs.evolve(
        claim,
        verified_at=now,
        last_checked_at=now,
        failing_since=None,
        lapses_at=None,
        lapsed_at=None,
    )


class CheckOutcome(str, enum.Enum):
    """What one re-check of a domain's TXT record found."""

    PASSED = "passed"
    """The record is published."""
    FAILED = "failed"
    """The resolver answered, and the record is not among the answers."""
    UNANSWERED = "unanswered"
    """The resolver could not answer (a timeout, no name server): nothing is learnt."""


class CheckTransition(str, enum.Enum):
    """What a re-check does to a claim (:attr:`CheckStep.transition`)."""

    CONFIRMED = "confirmed"
    """A healthy domain passed: its last successful check moves on."""
    FAILING = "failing"
    """A healthy domain failed: its grace window opens (``DomainCheckFailing``)."""
    STILL_FAILING = "still_failing"
    """A failing domain failed again within its grace window: nothing changes."""
    RECOVERED = "recovered"
    """A failing domain passed: its grace window closes (``DomainRecovered``)."""
    LAPSED = "lapsed"
    """A failing domain failed once its window had passed: it lapses (``DomainLapsed``)."""
    UNANSWERED = "unanswered"
    """The resolver could not answer: nothing changes."""
    NOT_VERIFIED = "not_verified"
    """The claim is not verified (any more): a re-check does not concern it."""


@attrs.frozen
class CheckStep:
    """The outcome of :func:`apply_check`: the claim after the check, and what happened."""

    claim: DomainClaim
    transition: CheckTransition

    @property
    def changed(self) -> bool:
        """Whether the claim must be stored again."""
        return self.transition in (
            CheckTransition.CONFIRMED,
            CheckTransition.FAILING,
            CheckTransition.RECOVERED,
            CheckTransition.LAPSED,
        )


def apply_check(
    claim: DomainClaim, outcome: CheckOutcome, now: datetime, grace: timedelta = RECHECK_GRACE
) -> CheckStep:
    """Decide what one re-check of ``claim``'s TXT record at ``now`` does to it.

    The rule of the re-check job, and the only one: a pass records ``now`` as the last
    successful check and closes a grace window if one is open; a failure of a healthy domain
    opens a window ending at ``now + grace`` (fixed when it opens: a later ``grace`` does not
    move it); a failure at or after the window's end lapses the claim; a failure within it, an
    unanswered look-up, and any check of a claim that is not verified change nothing.

    Args:
        claim: the claim as stored now.
        outcome: what the look-up found.
        now: the instant the check is applied at.
        grace: how long a window opened by this check lasts (positive).

    Raises:
        ValueError: ``grace`` is not positive.
    """
    if grace <= timedelta(0):
        raise ValueError("the grace window must be longer than zero")
    if not claim.is_verified:
        return CheckStep(claim, CheckTransition.NOT_VERIFIED)
    if outcome is CheckOutcome.UNANSWERED:
        return CheckStep(claim, CheckTransition.UNANSWERED)
    if outcome is CheckOutcome.PASSED:
        return _passed(claim, now)
    return _failed(claim, now, grace)


def _passed(claim: DomainClaim, now: datetime) -> CheckStep:
    """A verified claim's record was found: it is healthy, recovered if it was failing."""
    last = now if claim.last_checked_at is None else max(now, claim.last_checked_at)
    healed = attrs.evolve(claim, last_checked_at=last, failing_since=None, lapses_at=None)
    if claim.failing_since is None:
        return CheckStep(healed, CheckTransition.CONFIRMED)
    return CheckStep(healed, CheckTransition.RECOVERED)


def _failed(claim: DomainClaim, now: datetime, grace: timedelta) -> CheckStep:
    """A verified claim's record was not found: a window opens, or lapses once it has passed."""
    if claim.failing_since is None or claim.lapses_at is None:
        failing = attrs.evolve(claim, failing_since=now, lapses_at=now + grace)
        return CheckStep(failing, CheckTransition.FAILING)
    if now >= claim.lapses_at:
        return CheckStep(attrs.evolve(claim, lapsed_at=now), CheckTransition.LAPSED)
    return CheckStep(claim, CheckTransition.STILL_FAILING)


def ensure_claimable(name: DomainName, free_mail: FreeMailList) -> None:
    """Refuse a free-mail or disposable provider (or a domain under one).

    Raises:
        DomainNotClaimable: ``name`` is such a provider.
    """
    if name in free_mail:
        raise DomainNotClaimable(
            f"{name} is a free-mail or disposable provider and cannot be claimed"
        )


def claim_candidates(domain: DomainName) -> list[DomainName]:
    """Return the claims that could cover an address at ``domain``, the closest first."""
    return [domain, *domain.parents()]


class ClaimOutcome(str, enum.Enum):
    """What claiming a domain comes to."""

    ALREADY_OURS = "already_ours"
    """The organisation holds the claim already: return it."""
    NEW = "new"
    """Store a new claim."""
    REPLACES_LAPSED = "replaces_lapsed"
    """Another organisation's claim lapsed: remove it, then store a new one."""


@attrs.frozen
class ClaimPlan:
    """The outcome of :func:`plan_claim`, with the claim it concerns."""

    outcome: ClaimOutcome
    existing: DomainClaim | None = None


def plan_claim(
    name: DomainName,
    organisation_id: str,
    existing: DomainClaim | None,
    parents: Iterable[DomainClaim],
    now: datetime,
) -> ClaimPlan:
    """Decide whether ``organisation_id`` may claim ``name``.

    Args:
        name: the domain asked for.
        organisation_id: the organisation asking.
        existing: the claim on ``name`` itself, if any.
        parents: the claims on ``name``'s parent domains, closest first.
        now: the current instant.

    Raises:
        DomainAlreadyClaimed: another organisation's binding claim holds ``name``, or a parent
            domain with its subdomains.
    """
    outcome = ClaimOutcome.NEW
    if existing is not None:
        if existing.organisation_id == organisation_id:
            return ClaimPlan(ClaimOutcome.ALREADY_OURS, existing)
        if is_binding(existing, now):
            raise DomainAlreadyClaimed(f"{name} is already claimed by another organisation")
        outcome = ClaimOutcome.REPLACES_LAPSED
    for held in parents:
        if (
            held.include_subdomains
            and held.organisation_id != organisation_id
            and is_binding(held, now)
        ):
            raise DomainAlreadyClaimed(
                f"{name} falls under {held.domain}, claimed by another organisation"
            )
    return ClaimPlan(outcome, existing)


@attrs.frozen
class RecheckReport:
    """What one run of the re-check job found (``recheck_domains``).

    Each field but ``checked`` names domains, sorted; a domain is in at most one of
    ``passed``, ``failing``, ``lapsed``, ``unanswered`` and ``errors``.

    Attributes:
        checked: how many verified domains the run checked (one removed, lapsed or claimed
            anew by another run or organisation since the run listed it is not counted).
        passed: domains whose record was found (``recovered`` among them).
        failing: domains whose record was not found and that are in their grace window,
            opened by this run or before: they still enrol.
        recovered: domains whose record was found again within their grace window.
        lapsed: domains this run lapsed: they enrol nobody now.
        unanswered: domains the resolver could not answer for, with its message: unchanged.
        errors: domains whose check could not be stored (the error is logged and passed to
            ``on_failure``): unchanged, checked again by the next run.
    """

    checked: int = 0
    passed: tuple[str, ...] = ()
    failing: tuple[str, ...] = ()
    recovered: tuple[str, ...] = ()
    lapsed: tuple[str, ...] = ()
    unanswered: tuple[tuple[str, str], ...] = ()
    errors: tuple[str, ...] = ()
