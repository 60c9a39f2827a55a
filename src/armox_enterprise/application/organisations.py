"""Use cases: creating an organisation, reading it, changing its settings."""

from __future__ import annotations

from datetime import datetime, timedelta

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases
from armox_enterprise.application.context import Context
from armox_enterprise.application.runner import Replay
from armox_enterprise.application.turnover import open_period
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission
from armox_enterprise.domain.alerts import AlertThresholds
from armox_enterprise.domain.ledger import EXPIRED, GRANT, POOL, USAGE, Account, member_account
from armox_enterprise.domain.organisation import (
    JoinMode,
    Membership,
    Organisation,
    Role,
    RolloverPolicy,
)
from armox_enterprise.domain.periods import ensure_same_zone, period_at, period_by_index
from armox_enterprise.domain.values import (
    DEFAULT_TIME_ZONE,
    ensure_utc,
    new_id,
    non_negative_credits,
)
from armox_enterprise.domain.values import time_zone as valid_time_zone
from armox_enterprise.exceptions import InvalidInput
from armox_enterprise.ports import UnitOfWork

__all__ = ["OrganisationUseCases"]


class OrganisationUseCases(UseCases):
    """Creating an organisation, reading it and changing its settings."""

    def create_organisation(
        self,
        *,
        name: str,
        admin_user_id: str,
        admin_email: str,
        admin_display_name: str = "",
        monthly_allowance: int = 0,
        cycle_anchor: datetime | None = None,
        join_mode: JoinMode = JoinMode.AUTOMATIC,
        seat_limit: int | None = None,
        rollover: RolloverPolicy | None = None,
        max_open_requests: int = 1,
        allow_pool_spend: bool = False,
        hold_lifetime: timedelta = timedelta(hours=1),
        time_zone: str = DEFAULT_TIME_ZONE,
        alert_thresholds: AlertThresholds | None = None,
    ) -> Organisation:
        """Create an organisation with its first admin and open its first period.

        The first period's grant of ``monthly_allowance`` lands in the pool at once.  Periods
        repeat the anchor's local date and time in ``time_zone`` every month (see
        ``docs/time-zones.md``); the zone is fixed once the organisation exists.

        Args:
            name: the organisation's display name (shown on members' badges).
            admin_user_id: the host's id of the first admin.
            admin_email: the first admin's email address.
            admin_display_name: the first admin's name as shown on the dashboard.
            monthly_allowance: credits granted to the pool at every period opening.
            cycle_anchor: when periods start (its day of month repeats); defaults to now.
            join_mode: how users with a company address join.
            seat_limit: the most active members allowed, or ``None`` for no limit.
            rollover: what a closing period does with unspent credits.
            max_open_requests: how many pending credit requests a member may have.
            allow_pool_spend: whether a member short of credits may spend from the pool.
            hold_lifetime: how long a hold may stay pending before it is released.
            time_zone: the IANA time zone the periods are counted in (default ``"UTC"``).
            alert_thresholds: the percentages that raise usage alerts (default: members at
                80% and 100%, the pool at 90%).

        Raises:
            AlreadyMember: the first admin already belongs to an organisation.
            InvalidInput: any argument is malformed.
        """
        org_name = args.name(name, "name")
        admin = args.user(admin_user_id, "admin_user_id")
        email = args.email(admin_email, "admin_email")
        display = args.name(admin_display_name, "admin_display_name", allow_empty=True)
        allowance = non_negative_credits(monthly_allowance, name="monthly_allowance")
        anchor = None if cycle_anchor is None else ensure_utc(cycle_anchor, name="cycle_anchor")
        zone = valid_time_zone(time_zone)
        settings = args.settings(
            join_mode=join_mode,
            seat_limit=seat_limit,
            rollover=rollover,
            max_open_requests=max_open_requests,
            allow_pool_spend=allow_pool_spend,
            hold_lifetime=hold_lifetime,
            alert_thresholds=alert_thresholds,
        )

        def work(uow: UnitOfWork, now: datetime) -> Organisation:
            given = anchor if anchor is not None else now
            if given > now:
                raise InvalidInput("cycle_anchor must not be in the future")
            # The first period's start by the zone's rule: the anchor itself, or for an
            # instant in a daylight-saving overlap's second occurrence, the first.
            start = period_by_index(given, 0, zone).start
            org = Organisation(
                id=new_id(now),
                name=org_name,
                monthly_allowance=allowance,
                cycle_anchor=start,
                created_at=now,
                current_period_index=period_at(start, now, zone).index,
                time_zone=zone,
                **settings,
            )
            uow.organisations.add(org)
            for code in (GRANT, POOL, USAGE, EXPIRED, member_account(admin)):
                uow.ledger.open_account(Account(org.id, code))
            uow.memberships.add(
                Membership(org.id, admin, email, display or str(email), Role.ADMIN, now)
            )
            ctx = Context(uow, now, org, admin)
            ctx.record(ev.OrganisationCreated, organisation_name=org_name, admin_user_id=admin)
            ctx.record(ev.MemberEnrolled, user_id=admin, role=Role.ADMIN.value, reason="founder")
            open_period(ctx)
            return org

        return self._runner.run(
            work, replay=Replay("create_organisation"), scope=lambda org: org.id
        )

    def get_organisation(self, actor: str, organisation_id: str) -> Organisation:
        """Return the organisation, as any active member of it sees it.

        Raises:
            OrganisationNotFound: no such organisation, or ``actor`` is not a member of it.
        """
        actor = args.user(actor, "actor")
        return self._runner.as_member(
            actor, organisation_id, Permission.VIEW_ORGANISATION, lambda ctx: ctx.org
        )

    def set_monthly_allowance(self, actor: str, organisation_id: str, amount: int) -> Organisation:
        """Change the monthly grant; it applies from the next period opening.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidAmount: ``amount`` is negative, not an int, or too large.
        """
        actor = args.user(actor, "actor")
        allowance = non_negative_credits(amount, name="amount")

        def work(ctx: Context) -> Organisation:
            changed = ctx.change_organisation(monthly_allowance=allowance)
            ctx.record(
                ev.OrganisationSettingsChanged, setting="monthly_allowance", value=str(allowance)
            )
            return changed

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_SETTINGS,
            work,
            replay=Replay("set_monthly_allowance"),
            lock=True,
        )

    def update_settings(
        self,
        actor: str,
        organisation_id: str,
        *,
        join_mode: JoinMode | None = None,
        seat_limit: int | args.NoSeatLimit | None = None,
        rollover: RolloverPolicy | None = None,
        max_open_requests: int | None = None,
        allow_pool_spend: bool | None = None,
        hold_lifetime: timedelta | None = None,
        alert_thresholds: AlertThresholds | None = None,
        time_zone: str | None = None,
    ) -> Organisation:
        """Change any of the organisation's settings; arguments left out stay as they are.

        ``seat_limit=None`` keeps the limit; pass :data:`NO_SEAT_LIMIT` to remove it.
        ``alert_thresholds`` apply from the alert job's next run.  ``time_zone`` is fixed when
        the organisation is created: naming the zone it has changes nothing, naming another is
        refused (every period index in the ledger is counted in it; see
        ``docs/time-zones.md``).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a setting is malformed, or ``time_zone`` names another zone.
        """
        actor = args.user(actor, "actor")
        zone = None if time_zone is None else valid_time_zone(time_zone)

        def work(ctx: Context) -> Organisation:
            org = ctx.org
            if zone is not None:
                ensure_same_zone(org.time_zone, zone)
            current = args.Settings(
                join_mode=org.join_mode,
                seat_limit=org.seat_limit,
                rollover=org.rollover,
                max_open_requests=org.max_open_requests,
                allow_pool_spend=org.allow_pool_spend,
                hold_lifetime=org.hold_lifetime,
                alert_thresholds=org.alert_thresholds,
            )
            merged = args.settings_update(
                current,
                join_mode=join_mode,
                seat_limit=seat_limit,
                rollover=rollover,
                max_open_requests=max_open_requests,
                allow_pool_spend=allow_pool_spend,
                hold_lifetime=hold_lifetime,
                alert_thresholds=alert_thresholds,
            )
            changed = ctx.change_organisation(**merged)
            for setting, value in merged.items():
                if current[setting] != value:  # type: ignore[literal-required]
                    ctx.record(ev.OrganisationSettingsChanged, setting=setting, value=str(value))
            return changed

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_SETTINGS,
            work,
            replay=Replay("update_settings"),
            lock=True,
        )
