"""Use cases the host runs as jobs: period turnover, alerts, domain re-checks, the outbox relay.

A job over every organisation runs each in its own unit of work: one that fails is logged
(on the ``armox_enterprise`` logger, with the organisation's id) and handed to the caller's
``on_failure`` callback, and the job carries on with the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import attrs

from armox_enterprise import views
from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases
from armox_enterprise.application.context import SYSTEM, Context
from armox_enterprise.application.runner import Replay
from armox_enterprise.application.turnover import bring_current
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.alerts import MemberUsage, PoolUsage, due_alerts
from armox_enterprise.domain.claims import (
    RECHECK_GRACE,
    CheckOutcome,
    CheckStep,
    CheckTransition,
    RecheckReport,
    apply_check,
    record_published,
)
from armox_enterprise.domain.organisation import DomainClaim
from armox_enterprise.domain.requests import RequestStatus
from armox_enterprise.exceptions import DomainVerificationFailed
from armox_enterprise.ports import IdempotencyRecord, StoredEvent, UnitOfWork
from armox_enterprise.serialise import instant

__all__ = ["JobUseCases", "OnFailure"]

_ALERT_PAGE = 500
_log = logging.getLogger("armox_enterprise")

#: What a job calls for an organisation it could not process: ``(organisation_id, error)``.
OnFailure = Callable[[str, Exception], None]


def _failed(job: str, org_id: str, error: Exception, on_failure: OnFailure | None) -> None:
    """Report that ``job`` failed for one organisation: log it, tell the caller, carry on."""
    _log.error(
        "%s failed for organisation %s: %s: %s",
        job,
        org_id,
        type(error).__name__,
        error,
        exc_info=error,
        extra={"organisation_id": org_id, "job": job},
    )
    if on_failure is None:
        return
    try:
        on_failure(org_id, error)
    except Exception:
        _log.exception("the on_failure callback of %s failed for organisation %s", job, org_id)


def _member_usage(ctx: Context) -> list[MemberUsage]:
    """Every active member's figures for the current period, read a page at a time."""
    usage: list[MemberUsage] = []
    offset = 0
    while True:
        page, total = ctx.uow.views.member_page(
            ctx.org.id,
            ctx.org.current_period_index,
            sort="name",
            descending=False,
            offset=offset,
            limit=_ALERT_PAGE,
        )
        for figures in page:
            given = figures.used + figures.remaining + figures.on_hold
            usage.append(MemberUsage(figures.membership.user_id, figures.used, given))
        offset += len(page)
        if not page or offset >= total:
            return usage


def _check_event(before: DomainClaim, step: CheckStep, now: datetime) -> ev.Event | None:
    """The event a re-check's transition records (a grace window opened or closed), if any."""
    org_id, domain = before.organisation_id, before.domain.value
    if step.transition is CheckTransition.FAILING:
        assert step.claim.lapses_at is not None
        return ev.DomainCheckFailing(
            organisation_id=org_id,
            actor=SYSTEM,
            occurred_at=now,
            domain=domain,
            lapses_at=instant(step.claim.lapses_at),
        )
    if step.transition not in (CheckTransition.RECOVERED, CheckTransition.LAPSED):
        return None
    assert before.failing_since is not None
    since = instant(before.failing_since)
    if step.transition is CheckTransition.RECOVERED:
        return ev.DomainRecovered(
            organisation_id=org_id,
            actor=SYSTEM,
            occurred_at=now,
            domain=domain,
            failing_since=since,
        )
    return ev.DomainLapsed(
        organisation_id=org_id, actor=SYSTEM, occurred_at=now, domain=domain, failing_since=since
    )


@attrs.define
class _Tally:
    """The re-check job's findings as they come in, made a report at the end."""

    checked: int = 0
    passed: list[str] = attrs.Factory(list)
    failing: list[str] = attrs.Factory(list)
    recovered: list[str] = attrs.Factory(list)
    lapsed: list[str] = attrs.Factory(list)
    unanswered: list[tuple[str, str]] = attrs.Factory(list)
    errors: list[str] = attrs.Factory(list)

    def count(self, domain: str, outcome: CheckOutcome, step: CheckStep | None) -> None:
        """Count one domain's check, by what the look-up found and what it did."""
        if step is None or step.transition is CheckTransition.NOT_VERIFIED:
            return  # removed, lapsed or re-claimed since it was listed: not this run's
        self.checked += 1
        if outcome is CheckOutcome.PASSED:
            self.passed.append(domain)
            if step.transition is CheckTransition.RECOVERED:
                self.recovered.append(domain)
        elif step.transition is CheckTransition.LAPSED:
            self.lapsed.append(domain)
        else:
            self.failing.append(domain)

    def report(self) -> RecheckReport:
        """The findings, each list sorted."""
        return RecheckReport(
            checked=self.checked,
            passed=tuple(sorted(self.passed)),
            failing=tuple(sorted(self.failing)),
            recovered=tuple(sorted(self.recovered)),
            lapsed=tuple(sorted(self.lapsed)),
            unanswered=tuple(sorted(self.unanswered)),
            errors=tuple(sorted(self.errors)),
        )


class JobUseCases(UseCases):
    """Jobs: turn periods over, raise alerts, re-check domains, relay the outbox."""

    def close_due_periods(self, *, on_failure: OnFailure | None = None) -> list[str]:
        """Close every period whose boundary has passed and open the next: the period job.

        Safe to run from several workers at once and to run twice: each organisation's turnover
        happens once, in its own unit of work.  Periods also turn over lazily on the first call
        that touches an organisation after its boundary.  An organisation whose turnover fails
        is left as it was, logged and passed to ``on_failure``; the others still turn over.

        Args:
            on_failure: called with ``(organisation_id, error)`` for each organisation whose
                turnover raised.

        Returns:
            The ids of the organisations this call turned over.
        """
        runner = self._runner
        due = runner.run(lambda uow, now: uow.organisations.due_for_turnover(now))
        turned: list[str] = []
        for org_id in due:

            def turn(uow: UnitOfWork, now: datetime, org_id: str = org_id) -> bool:
                # Locked for update at once: the organisation was listed as due, and another
                # worker may have turned it over since; the locked row says which.
                locked = runner.organisation(uow, org_id, now=now, for_update=True)
                if now < locked.current_period.end:
                    return False
                ctx = Context(uow, now, locked, SYSTEM)
                bring_current(ctx)
                return ctx.org.current_period_index != locked.current_period_index

            def turned_in(done: bool, org_id: str = org_id) -> str | None:
                # A turnover is recorded under the call's own key: after a lost COMMIT answer
                # the organisation is still reported as turned over by this call.
                return org_id if done else None

            try:
                if runner.run(turn, replay=Replay("close_due_periods"), scope=turned_in):
                    turned.append(org_id)
            except Exception as error:
                _failed("close_due_periods", org_id, error, on_failure)
        return turned

    def check_alerts(
        self, organisation_id: str | None = None, *, on_failure: OnFailure | None = None
    ) -> int:
        """Raise the alerts that are due, as events: the alert job.

        For each organisation (or the one given): a member who used each of the organisation's
        member alert thresholds (80% and 100% unless set otherwise) of what they were given
        this period (allocated plus carried in), the pool once each pool threshold (90% unless
        set otherwise) of what the period put in it is allocated, and a credit request waiting
        longer than ``request_alert_after``.  Each alert is raised at most once per threshold
        and period (per request for waiting requests), however often the job runs, and safely when
        several workers run it at once.  Run it every minute or so; handlers and the relay
        then carry the alerts to e-mail, Slack or webhooks.

        Over every organisation, one that fails is logged and passed to ``on_failure``, and
        the others are still checked; for the one organisation given, its error is raised.

        Args:
            organisation_id: check only this organisation.
            on_failure: called with ``(organisation_id, error)`` for each organisation whose
                check raised, when checking them all.

        Returns:
            How many alerts this call raised.
        """
        runner = self._runner
        if organisation_id is not None:
            return runner.as_system(
                args.ref(organisation_id, "organisation_id"), self._raise_alerts
            )
        raised = 0
        for org_id in runner.run(lambda uow, now: uow.organisations.all_ids()):
            try:
                raised += runner.as_system(org_id, self._raise_alerts)
            except Exception as error:
                _failed("check_alerts", org_id, error, on_failure)
        return raised

    def _raise_alerts(self, ctx: Context) -> int:
        org = ctx.org
        pool = views.pool_figures(ctx.uow, org, org.current_period_index)
        due = due_alerts(
            org.id,
            org.current_period_index,
            ctx.now,
            members=_member_usage(ctx),
            pool=PoolUsage(pool.allocated, pool.available_total),
            pending=ctx.uow.requests.list(org.id, status=RequestStatus.PENDING),
            request_alert_after=self._request_alert_after,
            thresholds=org.alert_thresholds,
        )
        raised = 0
        for alert in due:
            # The record's unique key makes "at most once" hold across runs and workers.
            if ctx.uow.idempotency.get(org.id, alert.key) is not None:
                continue
            ctx.uow.idempotency.add(
                IdempotencyRecord(org.id, alert.key, "alert", alert.what, alert.event.name, ctx.now)
            )
            ctx.uow.record(alert.event)
            raised += 1
        return raised

    def recheck_domains(
        self,
        *,
        grace: timedelta = RECHECK_GRACE,
        on_failure: OnFailure | None = None,
    ) -> RecheckReport:
        """Look every verified domain's TXT record up again: the domain re-check job.

        A domain whose record is found stays verified (its ``last_checked_at`` moves on); one
        whose record is missing opens a grace window of ``grace`` (``DomainCheckFailing``),
        during which it still enrols; found again within it, the domain recovers
        (``DomainRecovered``); missing at a check once the window has passed, it lapses
        (``DomainLapsed``) and enrols nobody until an admin verifies it again.  A look-up the
        resolver could not answer (it raised ``DomainVerificationFailed``, an ``OSError`` or
        anything else, which is also logged) changes nothing and is reported in
        ``unanswered``.  The rule is
        :func:`~armox_enterprise.domain.claims.apply_check`.

        Each domain is looked up outside any transaction, then its transition is applied in a
        unit of work of its own that locks the organisation's row and reads the claim again:
        safe to run twice and from several workers at once (each transition's event is
        recorded once).  Run it every hour or so.  A domain whose transition cannot be stored
        is logged, passed to ``on_failure`` and reported in ``errors``; the others go on.

        Args:
            grace: how long the grace window lasts that a failing check opens (a positive
                timedelta of at most 31 days; 72 hours by default).  A window keeps the end it
                was opened with.
            on_failure: called with ``(organisation_id, error)`` for each domain whose check
                could not be stored.

        Raises:
            DomainVerificationFailed: no DNS resolver is configured.
            InvalidInput: ``grace`` is not such a timedelta.
        """
        window = args.duration(grace, "grace")
        if self._dns is None:
            raise DomainVerificationFailed("no DNS resolver is configured for the domain re-check")
        runner = self._runner

        def verified(uow: UnitOfWork, now: datetime) -> list[DomainClaim]:
            claims: list[DomainClaim] = []
            for org_id in uow.organisations.all_ids():
                claims += [c for c in uow.domains.list(org_id) if c.is_verified]
            return claims

        tally = _Tally()
        for claim in runner.run(verified):
            domain = claim.domain.value
            outcome = self._look_up(claim, tally)
            if outcome is CheckOutcome.UNANSWERED:
                tally.checked += 1  # nothing to apply: the claim stays as it is
                continue

            def apply(
                uow: UnitOfWork,
                now: datetime,
                claim: DomainClaim = claim,
                outcome: CheckOutcome = outcome,
            ) -> CheckStep | None:
                return self._apply_check(uow, now, claim, outcome, window)

            try:
                step = runner.run(apply)
            except Exception as error:
                tally.checked += 1
                tally.errors.append(domain)
                _failed("recheck_domains", claim.organisation_id, error, on_failure)
                continue
            tally.count(domain, outcome, step)
        return tally.report()

    def _look_up(self, claim: DomainClaim, tally: _Tally) -> CheckOutcome:
        """Look the claim's record up (outside any unit of work: a slow resolver holds no
        locks)."""
        assert self._dns is not None
        try:
            records = self._dns.txt_records(claim.domain.value)
        except Exception as error:
            # Whatever the resolver raised, it did not say the record is missing.
            if not isinstance(error, DomainVerificationFailed | OSError):
                _log.warning(
                    "the DNS resolver raised on %s: %r",
                    claim.domain.value,
                    error,
                    extra={"organisation_id": claim.organisation_id, "job": "recheck_domains"},
                )
            tally.unanswered.append((claim.domain.value, str(error) or type(error).__name__))
            return CheckOutcome.UNANSWERED
        return CheckOutcome.PASSED if record_published(claim, records) else CheckOutcome.FAILED

    def _apply_check(
        self,
        uow: UnitOfWork,
        now: datetime,
        seen: DomainClaim,
        outcome: CheckOutcome,
        grace: timedelta,
    ) -> CheckStep | None:
        """Apply one check to the claim as stored now; ``None`` if it is no longer the one
        that was looked up."""
        # The organisation's row first (the lock order): two runs apply one claim's checks one
        # after the other, and the second reads what the first stored.
        self._runner.organisation(uow, seen.organisation_id, now=now, for_update=True)
        current = uow.domains.get(seen.domain)
        if (
            current is None
            or current.organisation_id != seen.organisation_id
            or current.verification_token != seen.verification_token
        ):
            return None
        step = apply_check(current, outcome, now, grace)
        if step.changed:
            uow.domains.update(step.claim)
        event = _check_event(current, step, now)
        if event is not None:
            uow.record(event)
        return step

    def relay(self, publish: Callable[[Sequence[StoredEvent]], None], *, limit: int = 100) -> int:
        """Hand unpublished events to the host and mark them published: the outbox relay.

        ``publish`` receives up to ``limit`` events, oldest first within each organisation,
        inside the relay's unit of work; if it raises, nothing is marked and the same events
        come again on the next call (at least once).  Several relays may run at once: each
        organisation's events are relayed by one of them at a time, so they go out in order.
        Events committed by a slower transaction than later ones reach the host in the next
        call after they commit.

        Returns:
            How many events were handed over (0 when there was nothing to relay).
        """
        args.handler(publish, "publish")
        count = args.int_between(limit, "limit", 1, 10_000)

        def work(uow: UnitOfWork, now: datetime) -> int:
            events = uow.events.claim(limit=count)
            if events:
                publish(events)
                uow.events.mark_published([e.id for e in events], now)
            return len(events)

        return self._runner.run(work)
