"""Use cases the host runs as jobs: period turnover, alerts, the outbox relay.

A job over every organisation runs each in its own unit of work: one that fails is logged
(on the ``armox_enterprise`` logger, with the organisation's id) and handed to the caller's
``on_failure`` callback, and the job carries on with the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from armox_enterprise import views
from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases
from armox_enterprise.application.context import SYSTEM, Context
from armox_enterprise.application.runner import Replay
from armox_enterprise.application.turnover import bring_current
from armox_enterprise.domain.alerts import MemberUsage, PoolUsage, due_alerts
from armox_enterprise.domain.requests import RequestStatus
from armox_enterprise.ports import IdempotencyRecord, StoredEvent, UnitOfWork

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


class JobUseCases(UseCases):
    """Jobs: turn periods over, raise alerts, relay the outbox."""

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
