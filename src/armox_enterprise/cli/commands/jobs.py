"""The background jobs: ``periods close-due``, ``ledger verify``, ``events relay``, ``alerts``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_ERROR, EXIT_OK
from armox_enterprise.domain.events import Event, PeriodOpened
from armox_enterprise.ports import StoredEvent
from armox_enterprise.serialise import dumps

__all__ = ["check_alerts", "close_due_periods", "relay_events", "verify_ledgers"]


def close_due_periods(context: Context) -> int:
    """``periods close-due``: turn every organisation whose period has ended over."""
    service = context.service()
    with context.store.unit_of_work() as uow:
        due = len(uow.organisations.due_for_turnover(context.clock.now()))
    progress = context.progress("closing due periods", "organisations", total=due)
    opened: set[str] = set()

    def count(event: Event) -> None:
        # One unit of work per organisation: its events arrive as soon as it has turned over.
        if isinstance(event, PeriodOpened) and event.organisation_id not in opened:
            opened.add(event.organisation_id)
            progress.advance()

    service.subscribe(count)
    turned = service.close_due_periods()
    progress.finish()
    if turned:
        line = f"Turned {len(turned):,} organisation(s) over to their next period."
    else:
        line = "No organisation had a period to close."
    context.emit({"turned_over": turned}, [line])
    return EXIT_OK


def verify_ledgers(context: Context) -> int:
    """``ledger verify``: reconcile every organisation (or ``--org``); 1 on any problem."""
    service = context.service()
    org = getattr(context.args, "org", None)
    if org:
        ids = [str(org)]
    else:
        with context.store.unit_of_work() as uow:
            ids = uow.organisations.all_ids()
    progress = context.progress("verifying ledgers", "organisations", total=len(ids))
    problems: list[tuple[str, str]] = []
    for org_id in ids:
        problems += [(org_id, problem) for problem in service.reconcile(org_id)]
        progress.advance()
    progress.finish()
    failing = len({org_id for org_id, _ in problems})
    data = {
        "organisations": len(ids),
        "problems": [{"organisation_id": org_id, "problem": text} for org_id, text in problems],
    }
    if problems:
        lines = [f"{org_id}: {text}" for org_id, text in problems]
    else:
        lines = [
            f"Verified the ledgers of {len(ids):,} organisation(s): every cached balance "
            "matches its transfers and every balance sums to zero."
        ]
    context.emit(data, lines)
    if not problems:
        return EXIT_OK
    if not context.as_json:
        print(
            f"error: the ledgers of {failing:,} of {len(ids):,} organisation(s) do not reconcile",
            file=context.err,
        )
    return EXIT_ERROR


def relay_events(context: Context) -> int:
    """``events relay``: print unpublished events as JSON lines, marking them published."""
    args = context.args
    service = context.service()

    def publish(events: Sequence[StoredEvent]) -> None:
        for event in events:
            context.out.write(dumps(event) + "\n")
        # Flushed inside the relay's transaction: events are marked published only once
        # they have left the process.
        context.out.flush()

    relayed = 0
    try:
        while True:
            batch = args.batch if args.limit is None else min(args.batch, args.limit - relayed)
            count = service.relay(publish, limit=batch)
            relayed += count
            if args.limit is not None and relayed >= args.limit:
                break
            if count == batch:
                continue  # a full batch: more may be waiting
            if not args.follow:
                break
            context.sleep(args.interval)
    except KeyboardInterrupt:
        if not args.follow:
            raise
    return EXIT_OK


def check_alerts(context: Context) -> int:
    """``alerts check``: raise the usage, pool and waiting-request alerts that are due."""
    after = timedelta(hours=context.args.request_alert_after)
    service = context.service(request_alert_after=after)
    org = getattr(context.args, "org", None)
    raised = service.check_alerts(str(org) if org else None)
    if raised:
        line = f"Raised {raised:,} alert(s); 'events relay' hands them to the host."
    else:
        line = "No alerts were due."
    context.emit({"raised": raised}, [line])
    return EXIT_OK
