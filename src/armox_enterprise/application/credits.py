"""Use cases: the pool's credits — top-ups, allocations, reclaims and refunds."""

from __future__ import annotations

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases, active_member, load_transfer, record_id
from armox_enterprise.application.context import Context
from armox_enterprise.application.holds import lock_for_late_credit, settle
from armox_enterprise.application.runner import Replay
from armox_enterprise.application.teams import authorise_for_team, may_manage_a_team, team_id_of
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission
from armox_enterprise.domain.idempotency import internal_key
from armox_enterprise.domain.ledger import (
    GRANT,
    POOL,
    SPENT_KINDS,
    USAGE,
    Transfer,
    TransferKind,
    member_account,
    member_of,
)
from armox_enterprise.domain.teams import funding_account, home_account
from armox_enterprise.domain.values import credits
from armox_enterprise.exceptions import (
    InvalidAmount,
    InvalidTransition,
    TransferNotFound,
    credit_amount,
)
from armox_enterprise.ports import IdempotencyRecord

__all__ = ["CreditUseCases"]


def _transfer_replay(
    operation: str, key: str | None, parameters: tuple[object, ...]
) -> Replay[Transfer]:
    return Replay(operation, key, parameters, load_transfer, record_id)


class CreditUseCases(UseCases):
    """Admins move the pool's credits: top up, allocate, reclaim, refund."""

    def top_up(
        self,
        actor: str,
        organisation_id: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Add credits to the pool outside the monthly grant (a purchase, a goodwill credit).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        value = credits(amount)
        key = args.optional_key(idempotency_key)

        def work(ctx: Context) -> Transfer:
            transfer = ctx.post(
                ctx.transfer(TransferKind.TOP_UP, GRANT, POOL, value, reference=key)
            )
            ctx.record(ev.PoolToppedUp, amount=value)
            return transfer

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_POOL,
            work,
            replay=_transfer_replay("top_up", key, (actor, value)),
        )

    def allocate_credits(
        self,
        actor: str,
        organisation_id: str,
        user_id: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Move credits from the pool to a member for the current period; to a member of a
        team, from the team's budget.

        Raises:
            InsufficientPoolCredits: the pool holds fewer unallocated credits.
            InsufficientTeamCredits: the member's team's budget holds fewer.
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin, nor (for a member of a team) the
                team's delegated manager.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        target_id = args.user(user_id)
        value = credits(amount)
        key = args.optional_key(idempotency_key)

        def work(ctx: Context) -> Transfer:
            may_manage_a_team(ctx, Permission.MANAGE_POOL)
            active_member(ctx, target_id)
            team_id = team_id_of(ctx, target_id)
            authorise_for_team(ctx, Permission.MANAGE_POOL, team_id)
            code = member_account(target_id)
            source = funding_account(team_id)
            transfer = ctx.from_pool(
                ctx.transfer(TransferKind.ALLOCATE, source, code, value, reference=key)
            )
            ctx.record(ev.CreditsAllocated, user_id=target_id, amount=value, kind="allocate")
            return transfer

        # Every member may ask; the work checks the permission for the member's team (an
        # admin's, or the team's delegated manager's).
        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.VIEW_ORGANISATION,
            work,
            replay=_transfer_replay("allocate", key, (actor, target_id, value)),
        )

    def reclaim_credits(
        self,
        actor: str,
        organisation_id: str,
        user_id: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Move credits from a member back to the pool; from a member of a team, back to the
        team's budget.

        Raises:
            InsufficientCredits: the member has fewer available credits.
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin, nor (for a member of a team) the
                team's delegated manager.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        target_id = args.user(user_id)
        value = credits(amount)
        key = args.optional_key(idempotency_key)

        def work(ctx: Context) -> Transfer:
            may_manage_a_team(ctx, Permission.MANAGE_POOL)
            active_member(ctx, target_id)
            team_id = team_id_of(ctx, target_id)
            authorise_for_team(ctx, Permission.MANAGE_POOL, team_id)
            code = member_account(target_id)
            transfer = ctx.post(
                ctx.transfer(
                    TransferKind.RECLAIM, code, home_account(team_id), value, reference=key
                )
            )
            ctx.record(ev.CreditsReclaimed, user_id=target_id, amount=value)
            return transfer

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.VIEW_ORGANISATION,
            work,
            replay=_transfer_replay("reclaim", key, (actor, target_id, value)),
        )

    def refund(
        self,
        actor: str,
        organisation_id: str,
        transfer_id: str,
        amount: int | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Give back all or part of a spend (or captured hold), once (admins only).

        The credits return to the member who spent them.  If the spend's period has closed,
        they are treated as the organisation's rollover policy treats a remainder (they
        expire, return to the pool, or stay); a member who has left gives them to the pool.
        For a generation that fails, prefer a hold and :meth:`release_hold`: members cannot
        refund themselves.

        Raises:
            InvalidTransition: the spend was already refunded.
            InvalidAmount: ``amount`` is more than was spent.
            TransferNotFound: no such spend in the organisation.
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        value = args.optional_amount(amount)
        ref = args.ref(transfer_id, "transfer_id")
        key = args.optional_key(idempotency_key)

        def work(ctx: Context) -> Transfer:
            spent = ctx.uow.ledger.get_transfer(ctx.org.id, ref)
            if spent is None or spent.kind not in SPENT_KINDS:
                raise TransferNotFound(f"no spend {ref} in the organisation")
            refund_amount = spent.amount if value is None else value
            if refund_amount > spent.amount:
                raise InvalidAmount(
                    f"cannot refund {credit_amount(refund_amount)} of a spend of "
                    f"{credit_amount(spent.amount)}"
                )
            once = internal_key("refund", spent.id)
            if ctx.uow.idempotency.get(ctx.org.id, once) is not None:
                raise InvalidTransition(f"spend {ref} was already refunded")
            user = member_of(spent.debit_account)
            if user is not None:
                lock_for_late_credit(ctx, user, refund_amount, spent.period_index)
            transfer = ctx.post(
                ctx.transfer(
                    TransferKind.REFUND,
                    USAGE,
                    spent.debit_account,
                    refund_amount,
                    reference=spent.id,
                    feature=spent.feature,
                    model=spent.model,
                )
            )
            if user is not None:
                settle(ctx, user, refund_amount, spent.period_index, spent.id)
            # The store's unique key makes "one refund per spend" hold under races too.
            ctx.uow.idempotency.add(
                IdempotencyRecord(ctx.org.id, once, "refund", spent.id, transfer.id, ctx.now)
            )
            return transfer

        return self._runner.as_member(
            actor,
            organisation_id,
            Permission.MANAGE_POOL,
            work,
            replay=_transfer_replay("refund", key, (actor, ref, value)),
        )
