"""Use cases: claiming, verifying, removing and listing an organisation's email domains."""

from __future__ import annotations

import secrets

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases
from armox_enterprise.application.context import SYSTEM, Context
from armox_enterprise.application.runner import Replay
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission
from armox_enterprise.domain.claims import (
    ClaimOutcome,
    ensure_claimable,
    mark_verified,
    plan_claim,
    record_published,
)
from armox_enterprise.domain.organisation import DomainClaim, DomainStatus
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import DomainNotFound, DomainVerificationFailed

__all__ = ["DomainUseCases"]


def _claim_of(ctx: Context, name: DomainName) -> DomainClaim:
    claim = ctx.uow.domains.get(name)
    if claim is None or claim.organisation_id != ctx.org.id:
        raise DomainNotFound(f"the organisation holds no claim on {name}")
    return claim


class DomainUseCases(UseCases):
    """An organisation's email domains: claim, verify by DNS, remove, list."""

    def claim_domain(
        self,
        actor: str,
        organisation_id: str,
        domain: str,
        *,
        include_subdomains: bool = False,
    ) -> DomainClaim:
        """Claim an email domain for the organisation; it enrols nobody until verified.

        Publish the returned claim's :attr:`~DomainClaim.txt_record` as a DNS TXT record on the
        domain, then call :meth:`verify_domain`.  Claiming a domain the organisation already
        holds returns the existing claim.

        Raises:
            DomainNotClaimable: a free-mail or disposable provider (or a domain under one).
            DomainAlreadyClaimed: another organisation holds the domain, or a parent domain
                with its subdomains.
            PermissionDenied: ``actor`` is not an admin.
            InvalidDomain: the name is malformed.
        """
        actor = args.user(actor, "actor")
        name = DomainName.parse(domain)
        subdomains = args.flag(include_subdomains, "include_subdomains")
        ensure_claimable(name, self._free_mail)

        def work(ctx: Context) -> DomainClaim:
            domains = ctx.uow.domains
            parents = [c for c in map(domains.get, name.parents()) if c is not None]
            plan = plan_claim(name, ctx.org.id, domains.get(name), parents, ctx.now)
            if plan.outcome is ClaimOutcome.ALREADY_OURS:
                assert plan.existing is not None
                return plan.existing
            if plan.outcome is ClaimOutcome.REPLACES_LAPSED:
                assert plan.existing is not None
                # An unverified claim past its window no longer keeps the domain off others.
                domains.remove(name)
                ctx.uow.record(
                    ev.DomainRemoved(
                        organisation_id=plan.existing.organisation_id,
                        actor=SYSTEM,
                        occurred_at=ctx.now,
                        domain=name.value,
                    )
                )
            claim = DomainClaim(name, ctx.org.id, secrets.token_hex(16), ctx.now, subdomains)
            domains.add(claim)
            ctx.record(ev.DomainClaimed, domain=name.value)
            return claim

        return self._runner.as_member(
            actor, organisation_id, Permission.MANAGE_DOMAINS, work, replay=Replay("claim_domain")
        )

    def verify_domain(self, actor: str, organisation_id: str, domain: str) -> DomainClaim:
        """Look for the claim's TXT record and, if it is there, mark the domain verified.

        A domain that lapsed (its record went missing for longer than the re-check job's
        grace window) is verified again the same way, and enrols again; a failing one (in its
        grace window) is looked up too, and found, its window closes.  A verified domain is
        returned as it is.

        Raises:
            DomainVerificationFailed: no resolver, or the record is not published.
            DomainNotFound: the organisation holds no claim on the domain.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        name = DomainName.parse(domain)
        claim = self._runner.as_member(
            actor, organisation_id, Permission.MANAGE_DOMAINS, lambda ctx: _claim_of(ctx, name)
        )
        if claim.status is DomainStatus.VERIFIED:
            return claim
        if self._dns is None:
            raise DomainVerificationFailed("no DNS resolver is configured for verification")
        # DNS is looked up outside any transaction: a slow resolver must not hold locks.
        records = self._dns.txt_records(name.value)
        if not record_published(claim, records):
            raise DomainVerificationFailed(
                f"TXT record {claim.txt_record!r} was not found on {name}"
            )

        def mark(ctx: Context) -> DomainClaim:
            current = _claim_of(ctx, name)
            if current.verification_token != claim.verification_token:
                raise DomainVerificationFailed(f"the claim on {name} changed during verification")
            if current.status is DomainStatus.VERIFIED:
                return current
            verified = mark_verified(current, ctx.now)
            ctx.uow.domains.update(verified)
            ctx.record(ev.DomainVerified, domain=name.value)
            return verified

        return self._runner.as_member(
            actor, organisation_id, Permission.MANAGE_DOMAINS, mark, replay=Replay("verify_domain")
        )

    def remove_domain(self, actor: str, organisation_id: str, domain: str) -> None:
        """Give up a domain: it enrols nobody from now on (existing members stay).

        Raises:
            DomainNotFound: the organisation holds no claim on the domain.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        name = DomainName.parse(domain)

        def work(ctx: Context) -> None:
            _claim_of(ctx, name)
            ctx.uow.domains.remove(name)
            ctx.record(ev.DomainRemoved, domain=name.value)

        self._runner.as_member(
            actor, organisation_id, Permission.MANAGE_DOMAINS, work, replay=Replay("remove_domain")
        )

    def list_domains(self, actor: str, organisation_id: str) -> list[DomainClaim]:
        """Return the organisation's domain claims (admins only).

        Each claim's :attr:`~DomainClaim.status` says where it stands: unverified, verified
        (``last_checked_at``: its last passing re-check), failing (since ``failing_since``; it
        lapses at ``lapses_at`` unless a re-check passes) or lapsed (since ``lapsed_at``).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = args.user(actor, "actor")
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_DOMAINS,
            lambda ctx: ctx.uow.domains.list(ctx.org.id),
        )
