"""Use cases: members spending credits, in one step or two (holds), and releasing stale holds."""

from __future__ import annotations

from datetime import datetime, timedelta

from armox_enterprise.application import arguments as args
from armox_enterprise.application.base import UseCases, load_hold, record_id
from armox_enterprise.application.context import Context
from armox_enterprise.application.holds import release_expired, release_stale, resolve_hold
from armox_enterprise.application.runner import GenerationReplay, Replay
from armox_enterprise.application.teams import team_id_of
from armox_enterprise.application.turnover import bring_current
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.access import Permission, can
from armox_enterprise.domain.grace import (
    AUTOMATIC_REQUEST_NOTE,
    files_automatic_request,
    grace_allowance,
    grace_draw,
)
from armox_enterprise.domain.idempotency import check_generation_replay
from armox_enterprise.domain.ledger import (
    ALLOCATED_KINDS,
    USAGE,
    Hold,
    HoldStatus,
    Transfer,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.requests import CreditRequest, RequestStatus, can_request
from armox_enterprise.domain.spending import draws_on_pool, hold_expiry, pool_shortfall
from armox_enterprise.domain.teams import funding_account
from armox_enterprise.domain.values import credits, new_id
from armox_enterprise.exceptions import (
    AccountClosed,
    ArmoxError,
    CapReached,
    CommitOutcomeUnknown,
    HoldAlreadyResolved,
    HoldNotFound,
    InsufficientCredits,
    InvalidAmount,
    OrganisationNotFound,
    credit_amount,
)
from armox_enterprise.ports import UnitOfWork, spend_in_unit_of_work

__all__ = ["SpendingUseCases"]

_Tags = tuple[str | None, str | None]


class _LockFirst(Exception):
    """A spend on grace files an automatic credit request: it must hold the organisation's
    row, as every request does (the open-request limit holds under races), so the spend is
    made again from the start with it locked first."""


def _replayed(
    ctx: Context, key: str, kind: TransferKind, amount: int, tags: _Tags
) -> Transfer | None:
    """Return the spend or hold already made under generation id ``key``, if any.

    Raises:
        IdempotencyConflict: the generation id was used for another call.
    """
    first = ctx.uow.ledger.transfer_by_key(ctx.org.id, key)
    if first is not None:
        check_generation_replay(
            first, kind=kind, actor=ctx.actor, amount=amount, feature=tags[0], model=tags[1]
        )
    return first


def _debit_member(
    ctx: Context, kind: TransferKind, amount: int, key: str, tags: _Tags, *, locked: bool = False
) -> Transfer:
    """Debit the acting member for a spend or hold, or refuse with the precise reason.

    ``locked`` says the organisation's row is locked (a spend on grace may file a request).

    Raises:
        InsufficientCredits: the member cannot cover ``amount``, even after releasing their
            stale holds and (where allowed) drawing on the pool, or on grace.
        OrganisationNotFound: the member was removed meanwhile (their account is closed).
    """
    try:
        return _debit(ctx, kind, amount, key, tags, locked=locked)
    except AccountClosed:
        # Answered as the member's next call will be: they are no longer in the organisation.
        raise OrganisationNotFound.for_user(ctx.org.id, ctx.actor) from None


def _debit(
    ctx: Context, kind: TransferKind, amount: int, key: str, tags: _Tags, *, locked: bool
) -> Transfer:
    uow, org, user = ctx.uow, ctx.org, ctx.actor
    account = member_account(user)
    transfer = ctx.transfer(
        kind, account, USAGE, amount, key=key, reference=key, feature=tags[0], model=tags[1]
    )
    capped = False
    try:
        return ctx.post(transfer)
    except InsufficientCredits:
        pass
    except CapReached:
        capped = True
    # Holds past their lifetime still reserve credits (and room under the member's cap)
    # until someone releases them; release them now rather than refuse a spend they would
    # have allowed (one that its owner released meanwhile is skipped, and its credits are
    # there all the same).
    stale = uow.holds.pending(org.id, user_id=user, expiring_before=ctx.now)
    if stale:
        release_expired(ctx, stale)
        try:
            return ctx.post(transfer)
        except InsufficientCredits:
            capped = False
        except CapReached:
            capped = True
    if capped:
        # The cap is the answer, whatever the pool or a request could give: post again for
        # the refusal with the figures as they stand (or the spend, if room came back).
        return ctx.post(transfer)
    covered = _cover_shortfall(ctx, transfer, locked=locked)
    if covered is not None:
        return covered
    current = uow.ledger.get_account(org.id, account, for_update=True)
    available = 0 if current is None else current.available
    if available >= amount:
        # Credits came back since the refusal (a stale hold its owner released meanwhile,
        # an allocation): the balance, now locked, covers the spend.
        return ctx.post(transfer)
    pending = len(uow.requests.list(org.id, status=RequestStatus.PENDING, user_id=user))
    raise InsufficientCredits(
        f"{credit_amount(available)} credits available, {credit_amount(amount)} needed",
        available=available,
        requested=amount,
        can_request=can_request(pending, org.max_open_requests),
    ) from None


def _cover_shortfall(ctx: Context, transfer: Transfer, *, locked: bool) -> Transfer | None:
    """Post ``transfer`` with what the member lacks covered, where the organisation allows:
    out of the pool (``allow_pool_spend``), else on grace (a spend under a soft limit);
    ``None`` when neither covers it (nothing is written)."""
    org = ctx.org
    if draws_on_pool(transfer.kind, allow_pool_spend=org.allow_pool_spend):
        covered = _spend_from_pool(ctx, transfer)
        if covered is not None:
            return covered
    if transfer.kind is TransferKind.SPEND and org.soft_limit is not None:
        return _spend_on_grace(ctx, transfer, locked=locked)
    return None


def _spend_from_pool(ctx: Context, transfer: Transfer) -> Transfer | None:
    """Cover what the member lacks for ``transfer`` out of the pool (``allow_pool_spend``),
    or out of their team's budget, and post it; ``None`` when it cannot (nothing is
    written)."""
    uow, org, user = ctx.uow, ctx.org, ctx.actor
    account, amount, key = transfer.debit_account, transfer.amount, transfer.reference
    held = uow.ledger.get_account(org.id, account, for_update=True)
    shortfall = pool_shortfall(0 if held is None else held.available, amount)
    if shortfall == 0:
        # Credits reached the member since the refusal (an allocation committed in
        # between): the balance, now locked, covers the spend.
        return ctx.post(transfer)
    # A team's member is covered by the team's budget, as every credit reaches them.
    source = funding_account(team_id_of(ctx, user))
    system = ctx.as_system()
    try:
        system.post(
            system.transfer(TransferKind.ALLOCATE, source, account, shortfall, reference=key)
        )
    except InsufficientCredits:
        pass
    else:
        system.record(ev.CreditsAllocated, user_id=user, amount=shortfall, kind="pool_spend")
        return ctx.post(transfer)
    return None


def _spend_on_grace(ctx: Context, transfer: Transfer, *, locked: bool) -> Transfer | None:
    """Make a spend the member's credits do not cover on grace, under the organisation's soft
    limit (:mod:`~armox_enterprise.domain.grace`): the shortfall lent from their team's
    budget or the pool, the spend, and the run-out's automatic credit request.

    Returns:
        The spend, or ``None`` when the grace left, or the lender's credits, do not cover it
        (nothing is written).

    Raises:
        _LockFirst: the spend files a request and the organisation's row is not locked.
    """
    uow, org, user = ctx.uow, ctx.org, ctx.actor
    account = transfer.debit_account
    held = uow.ledger.get_account(org.id, account, for_update=True)
    totals = uow.ledger.period_totals(org.id, account, org.current_period_index)
    allowance = grace_allowance(org.soft_limit, given=totals.credited(*ALLOCATED_KINDS))
    drawn = totals.credited(TransferKind.GRACE)
    lent = grace_draw(
        allowance,
        drawn=drawn,
        available=0 if held is None else held.available,
        amount=transfer.amount,
    )
    if lent is None:
        return None
    if lent == 0:
        # Credits reached the member since the refusal: the balance, now locked, covers it.
        return ctx.post(transfer)
    mine = uow.requests.list(org.id, user_id=user)
    files = files_automatic_request(mine, period_index=org.current_period_index)
    if files and not locked:
        raise _LockFirst
    source = funding_account(team_id_of(ctx, user))
    system = ctx.as_system()
    try:
        system.post(
            system.transfer(TransferKind.GRACE, source, account, lent, reference=transfer.reference)
        )
    except InsufficientCredits:
        return None  # the pool, or the team's budget, cannot lend it either
    system.record(
        ev.GraceDrawn,
        user_id=user,
        amount=lent,
        source=source,
        reference=transfer.reference or "",
        drawn=drawn + lent,
        allowance=allowance,
    )
    spent = ctx.post(transfer)
    if files:
        request = CreditRequest(
            id=new_id(ctx.now),
            organisation_id=org.id,
            user_id=user,
            amount=max(1, allowance),
            note=AUTOMATIC_REQUEST_NOTE,
            period_index=org.current_period_index,
            created_at=ctx.now,
            automatic=True,
        )
        uow.requests.add(request)
        system.record(
            ev.CreditRequestSubmitted,
            request_id=request.id,
            user_id=user,
            amount=request.amount,
            automatic=True,
        )
    return spent


class SpendingUseCases(UseCases):
    """Members spend their credits: a spend, or a hold that is captured or released."""

    def spend(
        self,
        actor: str,
        organisation_id: str,
        amount: int,
        *,
        generation_id: str,
        feature: str | None = None,
        model: str | None = None,
    ) -> Transfer:
        """Spend a member's credits on one generation; idempotent by ``generation_id``.

        Sending the same generation id again returns the first transfer and spends nothing.

        Raises:
            InsufficientCredits: the member has fewer credits available; the error carries
                ``available`` and whether a request can be made (``can_request``).
            CapReached: the spend would take the member past their monthly cap (see
                :meth:`set_spend_cap`); the error carries ``cap``, ``spent`` and ``requested``.
            IdempotencyConflict: the generation id was used with other parameters.
            OrganisationNotFound: ``actor`` is not an active member.
        """
        actor = args.user(actor, "actor")
        organisation_id = args.ref(organisation_id, "organisation_id")
        value = credits(amount)
        key = args.key(generation_id, "generation_id")
        tags = (args.tag(feature, "feature"), args.tag(model, "model"))
        fast = self._fast_spend(organisation_id, actor, value, key, tags)
        if fast is not None:
            return fast

        locked = False

        def work(ctx: Context) -> Transfer:
            transfer = _debit_member(ctx, TransferKind.SPEND, value, key, tags, locked=locked)
            ctx.record(ev.CreditsSpent, user_id=actor, amount=value, reference=key)
            return transfer

        def first(ctx: Context) -> Transfer | None:
            return _replayed(ctx, key, TransferKind.SPEND, value, tags)

        replay = GenerationReplay("spend", key, reference=record_id, find=first)
        runner = self._runner
        try:
            return runner.as_member(actor, organisation_id, Permission.SPEND, work, replay=replay)
        except _LockFirst:
            locked = True
        return runner.as_member(
            actor, organisation_id, Permission.SPEND, work, replay=replay, lock=True
        )

    def _fast_spend(
        self, organisation_id: str, actor: str, amount: int, key: str, tags: _Tags
    ) -> Transfer | None:
        """Try the common spend in one short step: no reads, the debit, the transfer and its
        event, committed at once.

        It works from the period remembered for the organisation (valid until the period's
        end, whoever turns it over) and relies on the store to refuse what a full check would
        refuse: a closed or missing account, too few credits, a reused generation id, a
        period already sealed.  Any refusal sends the call down the full path, which finds
        the precise answer.  A store with a ``post_spend`` method does it in as few round
        trips as it can (see :class:`~armox_enterprise.ports.Store`); any other in a unit of
        work.
        """
        runner = self._runner
        if not runner.retry_transient:
            return None  # joined to a host's transaction: keep to the full path
        known = runner.periods.get(organisation_id)
        if known is None:
            return None
        index, end = known
        now = runner.now()
        if now >= end:
            return None
        # In field order (id, organisation, kind, debit, credit, amount, period, actor, instant,
        # generation id, reference, feature, model): positional arguments cost less to pass.
        transfer = Transfer(
            new_id(now),
            organisation_id,
            TransferKind.SPEND,
            member_account(actor),
            USAGE,
            amount,
            index,
            actor,
            now,
            key,
            key,
            tags[0],
            tags[1],
        )
        event = ev.CreditsSpent(
            organisation_id=organisation_id,
            actor=actor,
            occurred_at=now,
            user_id=actor,
            amount=amount,
            reference=key,
        )
        try:
            if not self._post_spend(transfer, event):
                return None
        except CommitOutcomeUnknown:
            return self._spent_after_all(transfer, key, [event])
        runner.dispatch([event])
        return transfer

    def _post_spend(self, transfer: Transfer, event: ev.Event) -> bool:
        """Post the spend with its event by the store's short path, or in a unit of work;
        whether it committed (``False``: refused, nothing written)."""
        store = self._runner.store
        post_spend = getattr(store, "post_spend", None)
        if post_spend is None:
            return spend_in_unit_of_work(store, transfer, event)
        try:
            return bool(post_spend(transfer, event))
        except CommitOutcomeUnknown:
            raise
        except ArmoxError:
            return False

    def _spent_after_all(
        self, transfer: Transfer, key: str, events: list[ev.Event]
    ) -> Transfer | None:
        """After the answer to a fast spend's COMMIT was lost: the spend, if its generation id
        shows that it committed (``None``: the full path finds out)."""
        runner = self._runner
        try:
            with runner.store.unit_of_work() as uow:
                first = uow.ledger.transfer_by_key(transfer.organisation_id, key)
        except ArmoxError:
            return None
        if first is None or first.id != transfer.id:
            return None
        runner.dispatch(events)
        return transfer

    def reserve(
        self,
        actor: str,
        organisation_id: str,
        amount: int,
        *,
        generation_id: str,
        lifetime: timedelta | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> Hold:
        """Reserve credits for a generation that takes time (the first phase of a spend).

        Capture the hold when the generation finishes, or release it if it fails; one left
        pending is released after ``lifetime`` (at most the organisation's hold lifetime).
        Idempotent by ``generation_id``.

        Raises:
            InsufficientCredits: the member has fewer credits available.
            CapReached: the hold would take the member past their monthly cap (a hold counts
                against the cap while it is pending).
            IdempotencyConflict: the generation id was used with other parameters.
        """
        actor = args.user(actor, "actor")
        value = credits(amount)
        key = args.key(generation_id, "generation_id")
        tags = (args.tag(feature, "feature"), args.tag(model, "model"))
        if lifetime is not None:
            args.duration(lifetime, "lifetime")

        def first(ctx: Context) -> Hold | None:
            replayed = _replayed(ctx, key, TransferKind.HOLD, value, tags)
            return None if replayed is None else load_hold(ctx, replayed.id)

        def work(ctx: Context) -> Hold:
            transfer = _debit_member(ctx, TransferKind.HOLD, value, key, tags)
            hold = Hold(
                id=transfer.id,
                organisation_id=ctx.org.id,
                user_id=actor,
                amount=value,
                period_index=ctx.org.current_period_index,
                created_at=ctx.now,
                expires_at=hold_expiry(ctx.now, lifetime, ctx.org.hold_lifetime),
                reference=key,
                feature=tags[0],
                model=tags[1],
            )
            ctx.uow.holds.add(hold)
            return hold

        replay = GenerationReplay("reserve", key, reference=record_id, find=first)
        return self._runner.as_member(actor, organisation_id, Permission.SPEND, work, replay=replay)

    def capture_hold(
        self,
        actor: str,
        organisation_id: str,
        hold_id: str,
        amount: int | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Hold:
        """Post all or part of a hold as spent; the rest is released.

        The hold's owner may capture it (even after leaving the organisation), and so may
        an admin.

        Raises:
            HoldAlreadyResolved: the hold was already captured, released or expired, or its
                lifetime has passed.
            InvalidAmount: ``amount`` is more than the hold reserved.
            HoldNotFound: no such hold visible to ``actor``.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        value = args.optional_amount(amount)
        return self._finish_hold(actor, organisation_id, hold_id, value, idempotency_key)

    def release_hold(
        self,
        actor: str,
        organisation_id: str,
        hold_id: str,
        *,
        idempotency_key: str | None = None,
    ) -> Hold:
        """Void a hold: its credits are available again.

        If the period it was reserved in has closed, the released credits are treated as the
        organisation's rollover policy treats a remainder (they expire, return to the pool or
        stay); if its owner has left, they return to the pool.

        Raises:
            HoldAlreadyResolved: the hold was already captured, released or expired.
            HoldNotFound: no such hold visible to ``actor``.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = args.user(actor, "actor")
        return self._finish_hold(actor, organisation_id, hold_id, 0, idempotency_key)

    def _finish_hold(
        self,
        actor: str,
        organisation_id: str,
        hold_id: str,
        amount: int | None,
        idempotency_key: str | None,
    ) -> Hold:
        hold_ref = args.ref(hold_id, "hold_id")
        key = args.optional_key(idempotency_key)
        capture = amount != 0
        runner = self._runner

        def act(ctx: Context) -> Hold:
            current = load_hold(ctx, hold_ref)
            if capture and current.status is HoldStatus.PENDING and current.expires_at <= ctx.now:
                # Past its lifetime a hold counts as expired whether or not a job released it.
                raise HoldAlreadyResolved(f"hold {current.id} expired at {current.expires_at}")
            wanted = current.amount if amount is None else amount
            if capture and wanted > current.amount:
                raise InvalidAmount(
                    f"cannot capture {credit_amount(wanted)} credits from a hold of "
                    f"{credit_amount(current.amount)}"
                )
            return resolve_hold(ctx, current, wanted)

        replay = Replay(
            "capture" if capture else "release",
            key,
            (actor, hold_ref, amount),
            load_hold,
            record_id,
        )

        def enter(uow: UnitOfWork, now: datetime) -> Context:
            org = runner.organisation(uow, organisation_id, now=now, actor=actor)
            hold = uow.holds.get(org.id, hold_ref)
            membership = uow.memberships.get(org.id, actor)
            # The owner may resolve their hold after leaving; nobody else outside may.
            if membership is None or (
                not membership.is_active and (hold is None or hold.user_id != actor)
            ):
                raise OrganisationNotFound.for_user(organisation_id, actor)
            if hold is None or (
                hold.user_id != actor and not can(membership, Permission.RESOLVE_ANY_HOLD)
            ):
                raise HoldNotFound(f"hold {hold_ref} does not exist")
            ctx = Context(uow, now, org, actor, membership)
            bring_current(ctx)
            return ctx

        return runner.in_context(enter, act, replay=replay)

    def release_expired_holds(self, organisation_id: str) -> int:
        """Release the organisation's holds whose lifetime has passed: a job for the host.

        Returns:
            How many holds were released.
        """
        replay: Replay[int] = Replay("release_expired_holds", kept=bool)
        return self._runner.as_system(organisation_id, release_stale, replay=replay)
