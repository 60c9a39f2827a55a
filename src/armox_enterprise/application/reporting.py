"""Use cases that read: profile and dashboard, analytics, the audit log, exports, reconciling."""

from __future__ import annotations

import csv
from collections.abc import Callable, Generator, Sequence
from datetime import datetime

from armox_enterprise import views
from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases
from armox_enterprise.application.context import Context
from armox_enterprise.application.turnover import bring_current
from armox_enterprise.domain.access import Permission, can
from armox_enterprise.domain.ledger import Transfer, member_account, member_of, reconcile
from armox_enterprise.domain.reconciliation import reconcile_records
from armox_enterprise.domain.usage import UsageGrouping, parse_grouping, usage_entry
from armox_enterprise.domain.values import ensure_utc
from armox_enterprise.exceptions import PermissionDenied
from armox_enterprise.ports import StoredEvent, UnitOfWork, UsageRow

__all__ = ["LEDGER_CSV_HEADER", "USAGE_CSV_HEADER", "ReportingUseCases"]

#: The header line of :meth:`EnterpriseService.export_usage_csv`.
USAGE_CSV_HEADER = (
    "created_at",
    "period",
    "transfer_id",
    "kind",
    "user_id",
    "feature",
    "model",
    "spent",
    "refunded",
    "reference",
)
#: The header line of :meth:`EnterpriseService.export_ledger_csv`.
LEDGER_CSV_HEADER = (
    "created_at",
    "period",
    "transfer_id",
    "kind",
    "debit_account",
    "credit_account",
    "amount",
    "actor",
    "reference",
    "idempotency_key",
    "feature",
    "model",
)

_Line = Callable[[Transfer], "list[object] | None"]


def _csv_instant(value: datetime) -> str:
    return ensure_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ledger_line(transfer: Transfer) -> list[object]:
    return [
        _csv_instant(transfer.created_at),
        transfer.period_index,
        transfer.id,
        transfer.kind.value,
        transfer.debit_account,
        transfer.credit_account,
        transfer.amount,
        transfer.actor,
        transfer.reference or "",
        transfer.idempotency_key or "",
        transfer.feature or "",
        transfer.model or "",
    ]


def _usage_lines(wanted: str | None) -> _Line:
    def line(transfer: Transfer) -> list[object] | None:
        entry = usage_entry(transfer)
        if entry is None or (wanted is not None and entry.account != wanted):
            return None
        return [
            _csv_instant(transfer.created_at),
            transfer.period_index,
            transfer.id,
            transfer.kind.value,
            member_of(entry.account) or entry.account,
            transfer.feature or "",
            transfer.model or "",
            entry.spent,
            entry.refunded,
            transfer.reference or "",
        ]

    return line


class _CsvLine:
    """Where :func:`csv.writer` writes: it keeps the text until :meth:`take` hands it out."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text


class ReportingUseCases(UseCases):
    """What the product's pages and an admin's reports read."""

    def profile(self, user_id: str) -> views.ProfileView:
        """Return what the profile page shows ``user_id``.

        For an enterprise member: the badge, the Enterprise Credits section and the flag that
        subscription management is hidden.  For anyone else: a view that says so, and the host
        shows its usual page.
        """
        user = args.user(user_id)
        runner = self._runner

        def work(uow: UnitOfWork, now: datetime) -> views.ProfileView:
            membership = uow.memberships.active_for_user(user)
            if membership is None:
                return views.ProfileView.personal(user)
            org = runner.organisation(uow, membership.organisation_id, now=now)
            ctx = Context(uow, now, org, user)
            bring_current(ctx)
            return views.build_profile(uow, ctx.org, membership)

        return runner.run(work)

    def dashboard(
        self,
        actor: str,
        organisation_id: str,
        *,
        sort: views.MemberSort = "name",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> views.Dashboard:
        """Return the admin dashboard: pool figures, a page of members, pending requests.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: unknown sort key, or a bad page.
        """
        actor = args.user(actor, "actor")
        page = views.Page.of(sort=sort, descending=descending, offset=offset, limit=limit)
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.VIEW_DASHBOARD,
            lambda ctx: views.build_dashboard(ctx.uow, ctx.org, page),
        )

    def reconcile(self, organisation_id: str) -> list[str]:
        """Check the organisation's ledger: cached balances against the transfers, and the
        transfers against the records that caused them (one grant per period, approved
        credit requests, holds; see :mod:`armox_enterprise.domain.reconciliation`).

        Returns:
            A list of problems; empty when the ledger is consistent.
        """
        runner = self._runner

        def work(uow: UnitOfWork, now: datetime) -> list[str]:
            org = runner.organisation(uow, organisation_id)
            transfers = uow.ledger.transfers(org.id)
            return reconcile(uow.ledger.accounts(org.id), transfers) + reconcile_records(
                transfers, uow.requests.list(org.id), uow.holds.pending(org.id)
            )

        return runner.run(work)

    def audit_log(
        self,
        actor: str,
        organisation_id: str,
        *,
        names: Sequence[str] | None = None,
        by: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> list[StoredEvent]:
        """Return who did what and when in the organisation, newest first (admins only).

        Args:
            names: only these event names (e.g. ``["CreditsAllocated", "RoleChanged"]``).
            by: only what this user did.
            since: only events at or after this instant.
            until: only events before this instant.
            offset: how many matching events to skip (paging).
            limit: how many to return, at most 500.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a malformed filter or page.
        """
        actor = args.user(actor, "actor")
        wanted = args.event_names(names)
        who = args.optional_user(by, "by")
        start = args.instant(since, "since")
        end = args.instant(until, "until")
        skip = args.int_between(offset, "offset", 0, 2**31)
        count = args.int_between(limit, "limit", 1, 500)
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.VIEW_AUDIT_LOG,
            lambda ctx: ctx.uow.events.list(
                ctx.org.id,
                names=wanted,
                actor=who,
                since=start,
                until=end,
                offset=skip,
                limit=count,
            ),
        )

    def usage_report(
        self,
        actor: str,
        organisation_id: str,
        *,
        by: UsageGrouping,
        first_period: int | None = None,
        last_period: int | None = None,
        user_id: str | None = None,
    ) -> list[UsageRow]:
        """Return the credits used in a range of periods, grouped by one key, ordered by key.

        Spends and captured holds count as spent, refunds as refunded; a refund counts for the
        member and tags of the spend it gives back, on the day it was made.  Admins see
        everyone's usage; a member sees only their own.

        Args:
            by: ``"member"`` (the key is the user id), ``"feature"`` or ``"model"`` (the tag,
                ``""`` when untagged), or ``"day"``, ``"week"``, ``"month"`` (UTC:
                ``2026-01-15``, ISO week ``2026-W03``, ``2026-01``).
            first_period: the first period of the range (default: ``last_period``).
            last_period: the last period, inclusive (default: the current period).
            user_id: only this member's usage (a member may name only themselves).

        Raises:
            PermissionDenied: a member asked for someone else's usage.
            InvalidInput: an unknown grouping or a bad range of periods.
            OrganisationNotFound: ``actor`` is not a member.
        """
        actor = args.user(actor, "actor")
        grouping = parse_grouping(by)
        periods = args.period_range(first_period, last_period)
        wanted = args.optional_user(user_id)

        def work(ctx: Context) -> list[UsageRow]:
            first, last = periods.resolve(ctx.org.current_period_index)
            user = wanted
            if not can(ctx.membership, Permission.VIEW_ALL_USAGE):
                if wanted not in (None, actor):
                    raise PermissionDenied(f"user {actor} may see only their own usage")
                user = actor
            return ctx.uow.reports.usage(
                ctx.org.id, first_period=first, last_period=last, by=grouping, user_id=user
            )

        return self._runner.as_member(actor, organisation_id, Permission.VIEW_OWN_USAGE, work)

    def top_consumers(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
        limit: int = 10,
    ) -> list[UsageRow]:
        """Return the members who used the most credits (net of refunds) in a range of periods,
        most first, ties by user id (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods, or ``limit`` outside 1..1000.
        """
        actor = args.user(actor, "actor")
        periods = args.period_range(first_period, last_period)
        count = args.report_limit(limit)

        def work(ctx: Context) -> list[UsageRow]:
            first, last = periods.resolve(ctx.org.current_period_index)
            rows = ctx.uow.reports.usage(
                ctx.org.id, first_period=first, last_period=last, by="member"
            )
            rows.sort(key=lambda row: (-row.net, row.key))
            return rows[:count]

        return self._runner.as_member(actor, organisation_id, Permission.VIEW_ALL_USAGE, work)

    def request_statistics(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
    ) -> views.RequestStatistics:
        """Return the credit requests made in a range of periods counted by outcome, the
        approval rate and the median time to a decision (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods.
        """
        actor = args.user(actor, "actor")
        periods = args.period_range(first_period, last_period)

        def work(ctx: Context) -> views.RequestStatistics:
            first, last = periods.resolve(ctx.org.current_period_index)
            if first == last:
                requests = ctx.uow.requests.list(ctx.org.id, period_index=first)
            else:
                requests = [
                    r for r in ctx.uow.requests.list(ctx.org.id) if first <= r.period_index <= last
                ]
            return views.build_request_statistics(requests, first, last)

        return self._runner.as_member(actor, organisation_id, Permission.VIEW_DASHBOARD, work)

    def pool_utilisation(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
    ) -> list[views.PoolFigures]:
        """Return the pool's figures for each period of a range, oldest first (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods.
        """
        actor = args.user(actor, "actor")
        periods = args.period_range(first_period, last_period)

        def work(ctx: Context) -> list[views.PoolFigures]:
            first, last = periods.resolve(ctx.org.current_period_index)
            return views.pool_history(ctx.uow, ctx.org, first, last)

        return self._runner.as_member(actor, organisation_id, Permission.VIEW_DASHBOARD, work)

    def export_usage_csv(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
        user_id: str | None = None,
    ) -> Generator[str, None, None]:
        """Return the usage of a range of periods as CSV lines, streamed (admins only).

        One line per spend, captured hold and refund, oldest first, after a header:
        ``created_at`` (UTC, ISO 8601), ``period``, ``transfer_id``, ``kind``, ``user_id``,
        ``feature``, ``model``, ``spent``, ``refunded``, ``reference``; each line ends with
        ``\\r\\n``.  Summing ``spent`` and ``refunded`` gives :meth:`usage_report`'s figures.

        Permissions and arguments are checked now; the iterator reads the transfers in its
        own unit of work, opened on the first ``next()`` and closed when it is exhausted or
        closed, so close it (or exhaust it) promptly.  With a :class:`MemoryStore`, consume
        it in one thread: the unit of work holds the store's lock until it ends.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods.
        """
        actor = args.user(actor, "actor")
        wanted = None if user_id is None else member_account(args.user(user_id))
        scope = self._export_scope(actor, organisation_id, first_period, last_period)
        return self._csv_lines(*scope, USAGE_CSV_HEADER, _usage_lines(wanted))

    def export_ledger_csv(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
    ) -> Generator[str, None, None]:
        """Return every transfer of a range of periods as CSV lines, streamed (admins only).

        One line per transfer, oldest first, after a header: ``created_at`` (UTC, ISO 8601),
        ``period``, ``transfer_id``, ``kind``, ``debit_account``, ``credit_account``,
        ``amount``, ``actor``, ``reference``, ``idempotency_key``, ``feature``, ``model``.
        The iterator behaves as :meth:`export_usage_csv`'s does.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods.
        """
        actor = args.user(actor, "actor")
        scope = self._export_scope(actor, organisation_id, first_period, last_period)
        return self._csv_lines(*scope, LEDGER_CSV_HEADER, _ledger_line)

    def _export_scope(
        self, actor: str, organisation_id: str, first_period: object, last_period: object
    ) -> tuple[str, int, int]:
        """Check that ``actor`` may export, and resolve the range of periods."""
        periods = args.period_range(first_period, last_period)

        def work(ctx: Context) -> tuple[str, int, int]:
            return (ctx.org.id, *periods.resolve(ctx.org.current_period_index))

        return self._runner.as_member(actor, organisation_id, Permission.VIEW_ALL_USAGE, work)

    def _csv_lines(
        self,
        organisation_id: str,
        first: int,
        last: int,
        header: Sequence[str],
        line: _Line,
    ) -> Generator[str, None, None]:
        out = _CsvLine()
        writer = csv.writer(out, lineterminator="\r\n")
        with self._runner.store.unit_of_work() as uow:
            transfers = uow.reports.stream_transfers(
                organisation_id, first_period=first, last_period=last
            )
            try:
                writer.writerow(header)
                yield out.take()
                for transfer in transfers:
                    values = line(transfer)
                    if values is not None:
                        writer.writerow(values)
                        yield out.take()
            finally:
                # Close the store's cursor before its unit of work ends, also when the caller
                # stops early (a closed or garbage-collected iterator lands here).
                close = getattr(transfers, "close", None)
                if close is not None:
                    close()
