"""Organisations, their email domains and their members: ``org``, ``domains``, ``members``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import timedelta

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_ERROR, EXIT_OK, ConfigurationError
from armox_enterprise.cli.rendering import credits, period_line, table, thresholds_line, when
from armox_enterprise.domain.alerts import DEFAULT_THRESHOLDS, AlertThresholds
from armox_enterprise.domain.enrolment import EnrolmentOutcome
from armox_enterprise.domain.organisation import (
    DomainClaim,
    DomainStatus,
    JoinMode,
    Organisation,
    Role,
)
from armox_enterprise.domain.values import DomainName
from armox_enterprise.ports import DnsResolver
from armox_enterprise.serialise import to_json

__all__ = [
    "add_domain",
    "create_organisation",
    "invite",
    "list_domains",
    "list_members",
    "recheck_domains",
    "remove_domain",
    "set_role",
    "settings",
    "sign_up",
    "verify_domain",
]


def create_organisation(context: Context) -> int:
    """``org create``: an organisation with its first admin."""
    args = context.args
    org = context.service().create_organisation(
        name=args.name,
        admin_user_id=args.admin,
        admin_email=args.admin_email,
        admin_display_name=args.admin_name,
        monthly_allowance=args.allowance,
        join_mode=JoinMode(args.join_mode),
        seat_limit=args.seat_limit,
        time_zone=args.time_zone,
        alert_thresholds=_thresholds(args, DEFAULT_THRESHOLDS),
    )
    context.emit(
        org,
        [
            f"Created organisation {org.name!r}: {org.id}",
            f"First admin: {args.admin} <{args.admin_email}>",
            *_settings_lines(org),
        ],
    )
    return EXIT_OK


def settings(context: Context) -> int:
    """``org settings``: the organisation's settings; the alert thresholds changed if asked."""
    service = context.service()
    actor = context.actor()
    org_id = context.organisation(service, actor)
    args = context.args
    if args.time_zone is None and args.member_alerts is None and args.pool_alerts is None:
        org = service.get_organisation(actor, org_id)
    else:
        current = service.get_organisation(actor, org_id).alert_thresholds
        org = service.update_settings(
            actor,
            org_id,
            time_zone=args.time_zone,
            alert_thresholds=_thresholds(args, current),
        )
    context.emit(org, [f"Organisation {org.name!r}: {org.id}", *_settings_lines(org)])
    return EXIT_OK


def _thresholds(args: argparse.Namespace, current: AlertThresholds) -> AlertThresholds:
    """The thresholds ``--member-alerts`` and ``--pool-alerts`` ask for, the others as in
    ``current``."""
    member = current.member if args.member_alerts is None else args.member_alerts
    pool = current.pool if args.pool_alerts is None else args.pool_alerts
    return AlertThresholds(member, pool)


def _settings_lines(org: Organisation) -> list[str]:
    seats = "no seat limit" if org.seat_limit is None else f"seat limit {org.seat_limit:,}"
    return [
        f"Monthly allowance: {credits(org.monthly_allowance)}, granted each period",
        f"Join mode: {org.join_mode.value}; {seats}",
        f"Time zone: {org.time_zone}",
        period_line(org.current_period, org.time_zone),
        thresholds_line(org.alert_thresholds),
    ]


def add_domain(context: Context) -> int:
    """``domains add``: claim a domain and print the TXT record that verifies it."""
    service = context.service()
    actor = context.actor()
    org = context.organisation(service, actor)
    args = context.args
    claim = service.claim_domain(
        actor, org, args.domain, include_subdomains=args.include_subdomains
    )
    scope = " and its subdomains" if claim.include_subdomains else ""
    if claim.is_verified:
        lines = [f"{claim.domain}{scope} is already claimed and verified by the organisation."]
    else:
        lines = [
            f"Claimed {claim.domain}{scope} for organisation {org}.",
            "It enrols nobody until it is verified. Publish this DNS TXT record on it:",
            f"  {claim.txt_record}",
            f"then run: armox-enterprise domains verify {claim.domain}",
        ]
    context.emit(claim, lines)
    return EXIT_OK


def _dns_resolver(
    timeout: float, nameservers: Sequence[str] | None, command: str = "domains verify"
) -> DnsResolver:
    """The dnspython resolver, which only the ``dns`` extra brings."""
    try:
        from armox_enterprise.adapters.dns import DnsPythonResolver

        return DnsPythonResolver(lifetime=timeout, nameservers=nameservers)
    except ImportError as exc:
        raise ConfigurationError(
            f"'{command}' looks up DNS with dnspython, which is not installed; install the "
            "'dns' extra: pip install '.[dns]' from a checkout of armox-enterprise"
        ) from exc


def verify_domain(context: Context) -> int:
    """``domains verify``: look up the domain's TXT record and verify the claim."""
    args = context.args
    actor = context.actor()
    resolver = context.dns or _dns_resolver(args.dns_timeout, args.nameserver)
    service = context.service(dns=resolver)
    org = context.organisation(service, actor)
    claim = service.verify_domain(actor, org, args.domain)
    context.emit(
        claim,
        [
            f"{claim.domain} is verified (since {when(claim.verified_at)}): users who sign up "
            "with a verified address at it join the organisation."
        ],
    )
    return EXIT_OK


def remove_domain(context: Context) -> int:
    """``domains remove``: give up a domain, keeping the members it enrolled."""
    service = context.service()
    actor = context.actor()
    org = context.organisation(service, actor)
    service.remove_domain(actor, org, context.args.domain)
    domain = str(DomainName.parse(context.args.domain))
    context.emit(
        {"domain": domain, "removed": True},
        [f"Removed {domain}: it enrols nobody from now on; its members stay."],
    )
    return EXIT_OK


def _status(claim: DomainClaim) -> str:
    """A claim's status as ``domains list`` shows it."""
    status = claim.status
    if status is DomainStatus.FAILING:
        return f"failing since {when(claim.failing_since)} (lapses at {when(claim.lapses_at)})"
    if status is DomainStatus.LAPSED:
        return f"lapsed at {when(claim.lapsed_at)}"
    return str(status.value)


def list_domains(context: Context) -> int:
    """``domains list``: the organisation's claims, verified or not."""
    service = context.service()
    actor = context.actor()
    claims = service.list_domains(actor, context.organisation(service, actor))
    rows = [
        (
            str(claim.domain),
            _status(claim),
            "yes" if claim.include_subdomains else "no",
            when(claim.claimed_at),
            claim.txt_record,
        )
        for claim in claims
    ]
    header = ("domain", "status", "subdomains", "claimed", "TXT record")
    lines = table(header, rows) if rows else ["No domains are claimed."]
    context.emit(claims, lines)
    return EXIT_OK


def list_members(context: Context) -> int:
    """``members list``: the active members."""
    service = context.service()
    actor = context.actor()
    members = service.list_members(actor, context.organisation(service, actor))
    rows = [
        (
            member.user_id,
            member.role.value,
            f"{member.standing_allotment:,}",
            member.display_name,
            str(member.email),
            when(member.joined_at),
        )
        for member in members
    ]
    header = ("user", "role", "monthly", "name", "email", "joined")
    count = f"{len(members):,} active member{'' if len(members) == 1 else 's'}."
    context.emit(members, [*table(header, rows, right=(2,)), count])
    return EXIT_OK


def set_role(context: Context) -> int:
    """``members set-role``: make a member an admin, or an admin a member."""
    service = context.service()
    actor = context.actor()
    org = context.organisation(service, actor)
    member = service.change_role(actor, org, context.args.user, Role(context.args.role))
    role = "an admin" if member.role is Role.ADMIN else "a member"
    context.emit(member, [f"{member.user_id} is now {role} of organisation {org}."])
    return EXIT_OK


def sign_up(context: Context) -> int:
    """``sign-up``: what the host's sign-up flow does for a user, from the shell."""
    args = context.args
    service = context.service()
    call = service.enrol if args.require_enrolment else service.sign_up
    decision = call(args.user, args.email, email_verified=args.verified, display_name=args.name)
    outcome = {
        EnrolmentOutcome.ENROLLED: f"enrolled in organisation {decision.organisation_id}",
        EnrolmentOutcome.JOIN_REQUESTED: (
            f"a join request awaits an admin of organisation {decision.organisation_id}"
        ),
        EnrolmentOutcome.NOT_ENROLLED: "not enrolled",
    }[decision.outcome]
    context.emit(
        {"user_id": args.user, **to_json(decision)},
        [f"{args.user} signed up with {args.email}: {outcome} ({decision.reason.value})."],
    )
    return EXIT_OK


def invite(context: Context) -> int:
    """``members invite``: invite an address; its owner joins on signing up with it, verified."""
    service = context.service()
    actor = context.actor()
    org = context.organisation(service, actor)
    invitation = service.invite(actor, org, context.args.email, role=Role(context.args.role))
    role = "an admin" if invitation.role is Role.ADMIN else "a member"
    context.emit(
        invitation,
        [
            f"Invited {invitation.email} to organisation {org} as {role}: they join when they "
            "sign up with that address, verified."
        ],
    )
    return EXIT_OK


def recheck_domains(context: Context) -> int:
    """``domains recheck``: look every verified domain up again, the domain re-check job."""
    args = context.args
    resolver = context.dns or _dns_resolver(args.dns_timeout, args.nameserver, "domains recheck")
    service = context.service(dns=resolver)
    report = service.recheck_domains(grace=timedelta(hours=args.grace))
    lines = [
        f"Checked {report.checked:,} verified domain(s): {len(report.passed):,} passed, "
        f"{len(report.failing):,} failing, {len(report.recovered):,} recovered, "
        f"{len(report.lapsed):,} lapsed, {len(report.unanswered):,} unanswered."
    ]
    lines += [
        f"  failing: {domain} (still enrols until its grace window ends)"
        for domain in report.failing
    ]
    lines += [f"  recovered: {domain}" for domain in report.recovered]
    lines += [
        f"  lapsed: {domain} (enrols nobody until verified again)" for domain in report.lapsed
    ]
    lines += [f"  unanswered: {domain}: {why}" for domain, why in report.unanswered]
    lines += [f"  not stored: {domain} (see the log)" for domain in report.errors]
    context.emit(report, lines)
    return EXIT_ERROR if report.errors else EXIT_OK
