"""Domain claims: which claim keeps others off a domain, and whether a new claim may stand.

A claim binds its domain (keeps every other organisation off it, and off its subdomains when it
includes them) once verified, or while it is young: an unverified claim lapses after
:data:`CLAIM_VERIFICATION_WINDOW`, so a squatter cannot hold a domain it cannot prove.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from armox_enterprise.domain.enrolment import FreeMailList
from armox_enterprise.domain.organisation import DomainClaim
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import DomainAlreadyClaimed, DomainNotClaimable

__all__ = [
    "CLAIM_VERIFICATION_WINDOW",
    "ClaimOutcome",
    "ClaimPlan",
    "claim_candidates",
    "ensure_claimable",
    "is_binding",
    "plan_claim",
]

#: An unverified claim older than this no longer keeps other organisations off the domain.
CLAIM_VERIFICATION_WINDOW = timedelta(days=7)


def is_binding(claim: DomainClaim, now: datetime) -> bool:
    """Return whether ``claim`` keeps other organisations off its domain at ``now``."""
    return claim.is_verified or now < claim.claimed_at + CLAIM_VERIFICATION_WINDOW


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
