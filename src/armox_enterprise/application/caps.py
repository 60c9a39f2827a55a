"""Use cases: monthly spending caps, the organisation's default and a member's own."""

from __future__ import annotations

import attrs

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases, active_member
from armox_enterprise.application.context import Context
from armox_enterprise.application.runner import Replay
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission, can
from armox_enterprise.domain.caps import CapStatus, counted_against_cap, effective_cap
from armox_enterprise.domain.caps import spend_cap as valid_cap
from armox_enterprise.domain.grace import SoftLimit, soft_limit
from armox_enterprise.domain.ledger import REFUND_KINDS, SPENT_KINDS, member_account
from armox_enterprise.domain.organisation import Organisation
from armox_enterprise.exceptions import PermissionDenied

__all__ = ["CapUseCases", "cap_status"]


def cap_status(ctx: Context, user_id: str | None) -> CapStatus:
    """Where ``user_id`` stands against their cap this period (``None``: the default alone)."""
    org = ctx.org
    if user_id is None:
        return CapStatus(org.spend_cap, None, org.spend_cap)
    member = ctx.uow.memberships.get(org.id, user_id)
    own = None if member is None else member.spend_cap
    code = member_account(user_id)
    account = ctx.uow.ledger.get_account(org.id, code)
    totals = ctx.uow.ledger.period_totals(org.id, code, org.current_period_index)
    counted = counted_against_cap(
        used=totals.debited(*SPENT_KINDS) - totals.credited(*REFUND_KINDS),
        held=0 if account is None else account.debits_pending,
    )
    cap = effective_cap(member=own, organisation=org.spend_cap)
    return CapStatus(org.spend_cap, own, cap, counted, user_id)


class CapUseCases(UseCases):
    """Monthly caps on members' spending: an organisation default and per-member overrides."""

    def set_spend_cap(
        self, actor: str, organisation_id: str, cap: int | None, *, user_id: str | None = None
    ) -> CapStatus:
        """Set the organisation's default monthly cap, or (with ``user_id``) a member's own.

        ``cap`` is whole credits (``0`` stops all spending) or ``None``: no default cap, or
        for a member, the default applies again.  A cap bounds what the member spends and
        holds in a period (see :mod:`~armox_enterprise.domain.caps`); it applies to the next
        spend, and refuses nothing already spent.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            MemberNotFound: ``user_id`` is not an active member.
            InvalidAmount: ``cap`` is negative or past ``MAX_CREDITS``
                (``AmountTypeError``: not an int).
        """
        actor = args.user(actor, "actor")
        target = args.optional_user(user_id)
        value = valid_cap(cap, name="cap")

        def work(ctx: Context) -> CapStatus:
            uow, org = ctx.uow, ctx.org
            if target is None:
                changed = attrs.evolve(org, spend_cap=value)
                uow.organisations.update(changed)
                ctx.org = changed
                # Every member's effective cap, kept where the spend checks it.
                for member in uow.memberships.list(org.id, active_only=False):
                    uow.ledger.set_spend_cap(
                        org.id,
                        member_account(member.user_id),
                        effective_cap(member=member.spend_cap, organisation=value),
                    )
            else:
                member = attrs.evolve(active_member(ctx, target), spend_cap=value)
                uow.memberships.update(member)
                uow.ledger.set_spend_cap(
                    org.id,
                    member_account(target),
                    effective_cap(member=value, organisation=org.spend_cap),
                )
            ctx.record(
                ev.SpendCapSet, user_id=target or "", cap="" if value is None else str(value)
            )
            return cap_status(ctx, target)

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_SETTINGS,
            work,
            replay=Replay("set_spend_cap"),
            lock=True,
        )

    def set_soft_limit(
        self, actor: str, organisation_id: str, limit: SoftLimit | None
    ) -> Organisation:
        """Set the organisation's soft limit: what a member who ran out may still spend.

        With a :class:`~armox_enterprise.domain.grace.SoftLimit`, a member whose credits do not
        cover a spend spends the difference on grace, out of their team's budget or the pool,
        up to the limit in each period, and their first spend on grace files a credit request
        for them (one per run-out; see :mod:`~armox_enterprise.domain.grace`).  ``None`` turns
        it off: spends beyond a member's credits are refused again.  A member's cap still
        bounds every spend.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: ``limit`` is neither a ``SoftLimit`` nor ``None``.
        """
        actor = args.user(actor, "actor")
        value = soft_limit(limit)

        def work(ctx: Context) -> Organisation:
            changed = attrs.evolve(ctx.org, soft_limit=value)
            ctx.uow.organisations.update(changed)
            ctx.org = changed
            ctx.record(
                ev.SoftLimitSet,
                credits=_text(None if value is None else value.credits),
                percent=_text(None if value is None else value.percent),
            )
            return changed

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_SETTINGS,
            work,
            replay=Replay("set_soft_limit"),
            lock=True,
        )

    def spend_cap_status(
        self, actor: str, organisation_id: str, *, user_id: str | None = None
    ) -> CapStatus:
        """Return where a member stands against their monthly cap this period.

        ``user_id`` defaults to ``actor``; an admin may ask about any member, and pass
        ``user_id=""`` for the organisation's default alone.

        Raises:
            PermissionDenied: a member asked about someone else.
            MemberNotFound: ``user_id`` is not an active member.
        """
        actor = args.user(actor, "actor")
        target = actor if user_id is None else (None if user_id == "" else args.user(user_id))

        def work(ctx: Context) -> CapStatus:
            if target != actor and not can(ctx.membership, Permission.MANAGE_SETTINGS):
                raise PermissionDenied(f"user {actor} may see only their own cap")
            if target is not None:
                active_member(ctx, target)
            return cap_status(ctx, target)

        return self._runner.as_member(actor, organisation_id, Permission.VIEW_ORGANISATION, work)


def _text(value: int | None) -> str:
    return "" if value is None else str(value)
