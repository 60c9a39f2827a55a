"""A random walk through the service on the memory store, with the ledger checked at every step.

Hypothesis drives one organisation (an admin and three members, a frozen clock) through valid
and invalid operations in any order: allocations, reclaims, spends and holds with new, replayed
and conflicting generation ids, refunds, top-ups, credit requests and their decisions, member
removal and re-enrolment, rollover changes, the clock moving across period boundaries, and the
period and hold jobs.

Each rule predicts its outcome from the state before the call: which error a call must raise
(and then that nothing changed), or how the accounts must move.  When the clock has passed the
period's end the call also turns the period over first, so the rule only checks that the call
succeeded or raised one of the errors that turnover can explain.  After every step the
invariants below hold.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from armox_enterprise import (
    Account,
    AmountTypeError,
    ArmoxError,
    CreditRequest,
    CreditRequestNotFound,
    EnrolmentOutcome,
    EnrolmentReason,
    Hold,
    HoldAlreadyResolved,
    HoldNotFound,
    HoldStatus,
    IdempotencyConflict,
    InsufficientCredits,
    InsufficientPoolCredits,
    InsufficientTeamCredits,
    InvalidAmount,
    InvalidTransition,
    LastAdminError,
    MemberNotFound,
    MemberRemainder,
    MemoryStore,
    OrganisationNotFound,
    PermissionDenied,
    RequestStatus,
    RolloverPolicy,
    TooManyOpenRequests,
    Transfer,
    TransferKind,
)
from armox_enterprise.domain.events import SYSTEM_ACTOR
from armox_enterprise.domain.grace import SoftLimit, files_automatic_request
from armox_enterprise.domain.ledger import (
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    AccountKind,
    member_account,
    member_of,
    reconcile,
    team_account,
)
from armox_enterprise.domain.periods import period_at
from armox_enterprise.domain.values import months_later
from armox_enterprise.testing import enterprise

MEMBERS = ("member-1", "member-2", "member-3")
ALLOWANCE = 1000
ALLOCATED = 200

members = st.sampled_from(MEMBERS)
# Mostly amounts a member or the pool can cover, sometimes more than anyone holds.
amounts = st.one_of(
    st.integers(1, 50), st.integers(1, 50), st.integers(51, 400), st.integers(401, 3000)
)
# Half the time the first of a list, which puts the newest still-open item first.
picks = st.one_of(st.just(0), st.integers(0, 1000))
bad_amounts = st.sampled_from([0, -5, True, 2.5, "3", 2**63])
lifetimes = st.sampled_from([None, timedelta(minutes=5), timedelta(minutes=30), timedelta(days=1)])


#: The calls keyed by a generation id; other calls take an optional idempotency key.
GENERATION_OPERATIONS = ("spend", "reserve")


@attrs.frozen
class KeyUse:
    """What the model remembers of a call made under an idempotency key."""

    params: tuple[Any, ...]
    result_id: str


class LedgerMachine(RuleBasedStateMachine):
    """One organisation driven through random operations, its ledger checked at every step."""

    def __init__(self) -> None:
        super().__init__()
        scenario = enterprise(members=len(MEMBERS), allowance=ALLOWANCE, allocate=ALLOCATED)
        assert isinstance(scenario.store, MemoryStore)
        self.store: MemoryStore = scenario.store
        self.service = scenario.service
        self.clock = scenario.clock
        self.org_id = scenario.org_id
        self.anchor = scenario.organisation.cycle_anchor
        self.active = {*MEMBERS}
        self.keys: dict[str, KeyUse] = {}
        self.counter = itertools.count()
        self.top_ups = 0
        self.used = 0
        self.decided: dict[str, CreditRequest] = {}
        self.resolved: dict[str, Hold] = {}
        # A team with no members: its budget moves with the pool only (the team rules of
        # members are the domain model's, tests/unit/domain/test_teams.py).
        self.team = team_account(self.service.create_team("admin", self.org_id, "Studio").id)

    @initialize(
        cap=st.sampled_from([0, 100, 10**6]),
        remainder=st.sampled_from(list(MemberRemainder)),
        hold_lifetime=st.sampled_from([timedelta(hours=1), timedelta(days=3)]),
    )
    def configure(self, cap: int, remainder: MemberRemainder, hold_lifetime: timedelta) -> None:
        self.change_rollover(cap, remainder)
        org = self.service.update_settings("admin", self.org_id, hold_lifetime=hold_lifetime)
        assert org.hold_lifetime == hold_lifetime

    # ------------------------------------------------------------------ reading the store

    def _org_now(self) -> Any:
        return self.store.organisations[self.org_id]

    def _due(self) -> bool:
        return self.clock.now() >= self._org_now().current_period.end

    def _accounts(self) -> dict[str, Account]:
        return {code: a for (org, code), a in self.store.accounts.items() if org == self.org_id}

    def _available(self, code: str) -> int:
        return self.store.accounts[(self.org_id, code)].available

    def _transfers(self) -> list[Transfer]:
        return list(self.store.transfers.get(self.org_id, ()))

    def _holds(self) -> list[Hold]:
        return [h for (org, _), h in self.store.holds.items() if org == self.org_id]

    def _requests(self) -> list[CreditRequest]:
        return [r for (org, _), r in self.store.requests.items() if org == self.org_id]

    def _request_at(self, pick: int) -> CreditRequest:
        """Return a request: pending ones first, newest first."""
        requests = sorted(self._requests(), key=lambda r: r.id, reverse=True)
        requests.sort(key=lambda r: not r.is_pending)
        return requests[pick % len(requests)]

    def _spends(self) -> list[Transfer]:
        kinds = (TransferKind.SPEND, TransferKind.CAPTURE)
        return [t for t in self._transfers() if t.kind in kinds]

    def _pending_requests(self, user: str) -> int:
        return sum(1 for r in self._requests() if r.user_id == user and r.is_pending)

    def _grace_left(self, user: str) -> int:
        """What the member may still draw on grace this period (0 with no soft limit)."""
        org = self._org_now()
        if org.soft_limit is None:
            return 0
        drawn = sum(
            t.amount
            for t in self._transfers()
            if t.kind is TransferKind.GRACE
            and t.credit_account == member_account(user)
            and t.period_index == org.current_period_index
        )
        return int(org.soft_limit.credits) - drawn

    def _stale(self, user: str) -> int:
        now = self.clock.now()
        return sum(
            h.amount
            for h in self._holds()
            if h.user_id == user and h.status is HoldStatus.PENDING and h.expires_at <= now
        )

    def _state(self) -> dict[str, Any]:
        store = self.store
        return {
            "organisations": dict(store.organisations),
            "memberships": dict(store.memberships),
            "active_member_of": dict(store.active_member_of),
            "accounts": dict(store.accounts),
            "transfers": {org: list(ts) for org, ts in store.transfers.items() if ts},
            "totals": {key: tally.totals() for key, tally in store.totals.items()},
            "holds": dict(store.holds),
            "requests": dict(store.requests),
            "idempotency": dict(store.idempotency),
            "invitations": dict(store.invitations),
            "join_requests": dict(store.join_requests),
            "domains": dict(store.domains),
            "teams": dict(store.teams),
            "team_members": dict(store.team_members),
            "outbox": len(store.outbox),
        }

    def _key(self) -> str:
        return f"key-{next(self.counter)}"

    # ------------------------------------------------------------------ expectations

    def _fails(self, error: type[ArmoxError], call: Callable[[], object]) -> ArmoxError:
        """Make a call that must raise exactly ``error`` and leave the store untouched."""
        before = self._state()
        with pytest.raises(ArmoxError) as raised:
            call()
        assert type(raised.value) is error, f"expected {error.__name__}, got {raised.value!r}"
        assert self._state() == before, f"{error.__name__} was raised but the store changed"
        return raised.value

    def _attempt(self, call: Callable[[], Any], *allowed: type[ArmoxError]) -> Any:
        """Make a call that may succeed or raise one of ``allowed`` (then changing nothing)."""
        before = self._state()
        try:
            return call()
        except ArmoxError as exc:
            raised = exc
        assert type(raised) in allowed, f"unexpected {raised!r}"
        assert self._state() == before, f"{type(raised).__name__} was raised but the store changed"
        return None

    def _moved(
        self,
        before: dict[str, Account],
        available: dict[str, int],
        balance: dict[str, int] | None = None,
    ) -> None:
        """Check every account moved by exactly the given available and balance deltas."""
        posted = available if balance is None else balance
        after = self._accounts()
        for code, account in after.items():
            old = before.get(code, Account(self.org_id, code))
            assert account.available - old.available == available.get(code, 0), code
            assert account.balance - old.balance == posted.get(code, 0), code

    def _remember(self, key: str | None, params: tuple[Any, ...], result: Any) -> None:
        if key is not None and result is not None:
            self.keys[key] = KeyUse(params, result.id)

    def _invoke(self, params: tuple[Any, ...], key: str) -> Any:
        """Repeat a keyed call from its remembered parameters."""
        service, org = self.service, self.org_id
        operation, *args = params
        calls: dict[str, Callable[[], Any]] = {
            "allocate": lambda: service.allocate_credits(
                "admin", org, args[0], args[1], idempotency_key=key
            ),
            "reclaim": lambda: service.reclaim_credits(
                "admin", org, args[0], args[1], idempotency_key=key
            ),
            "top_up": lambda: service.top_up("admin", org, args[0], idempotency_key=key),
            "spend": lambda: service.spend(args[0], org, args[1], generation_id=key),
            "reserve": lambda: service.reserve(
                args[0], org, args[1], generation_id=key, lifetime=args[2]
            ),
            "refund": lambda: service.refund(args[0], org, args[1], args[2], idempotency_key=key),
            "request": lambda: service.request_credits(args[0], org, args[1], idempotency_key=key),
        }
        return calls[operation]()

    # ------------------------------------------------------------------ pool and allocation

    @rule(amount=amounts, keyed=st.booleans())
    def top_up(self, amount: int, keyed: bool) -> None:
        key = self._key() if keyed else None
        before, due = self._accounts(), self._due()
        transfer = self.service.top_up("admin", self.org_id, amount, idempotency_key=key)
        assert (transfer.kind, transfer.amount) == (TransferKind.TOP_UP, amount)
        self.top_ups += amount
        self._remember(key, ("top_up", amount), transfer)
        if not due:
            self._moved(before, {GRANT: -amount, POOL: amount})

    @rule(user=members, amount=amounts, keyed=st.booleans())
    def allocate(self, user: str, amount: int, keyed: bool) -> None:
        key = self._key() if keyed else None

        def call() -> Transfer:
            return self.service.allocate_credits(
                "admin", self.org_id, user, amount, idempotency_key=key
            )

        if self._due():
            result = self._attempt(call, MemberNotFound, InsufficientPoolCredits)
        elif user not in self.active:
            self._fails(MemberNotFound, call)
            return
        elif amount > self._available(POOL):
            self._fails(InsufficientPoolCredits, call)
            return
        else:
            before = self._accounts()
            result = call()
            self._moved(before, {POOL: -amount, member_account(user): amount})
        self._remember(key, ("allocate", user, amount), result)

    @rule(user=members, amount=amounts, keyed=st.booleans())
    def reclaim(self, user: str, amount: int, keyed: bool) -> None:
        key = self._key() if keyed else None

        def call() -> Transfer:
            return self.service.reclaim_credits(
                "admin", self.org_id, user, amount, idempotency_key=key
            )

        if self._due():
            result = self._attempt(call, MemberNotFound, InsufficientCredits)
        elif user not in self.active:
            self._fails(MemberNotFound, call)
            return
        elif amount > self._available(member_account(user)):
            self._fails(InsufficientCredits, call)
            return
        else:
            before = self._accounts()
            result = call()
            self._moved(before, {POOL: amount, member_account(user): -amount})
        self._remember(key, ("reclaim", user, amount), result)

    @rule(amount=amounts, back=st.booleans())
    def move_team_budget(self, amount: int, back: bool) -> None:
        """Fund the team's budget from the pool, or give it back."""
        team_id = self.team.removeprefix("team:")
        source, error = (self.team, InsufficientTeamCredits) if back else (POOL, None)

        def call() -> Transfer:
            if back:
                return self.service.reclaim_team_budget("admin", self.org_id, team_id, amount)
            return self.service.fund_team("admin", self.org_id, team_id, amount)

        refused = error or InsufficientPoolCredits
        if self._due():
            self._attempt(call, refused)
        elif amount > self._available(source):
            self._fails(refused, call)
        else:
            before = self._accounts()
            call()
            sign = -1 if back else 1
            self._moved(before, {POOL: -sign * amount, self.team: sign * amount})

    # ------------------------------------------------------------------ spending

    @rule(user=members, amount=amounts)
    def spend(self, user: str, amount: int) -> None:
        key = self._key()

        def call() -> Transfer:
            return self.service.spend(user, self.org_id, amount, generation_id=key)

        if user not in self.active:
            self._fails(OrganisationNotFound, call)
            return
        code = member_account(user)
        available, stale = self._available(code), self._stale(user)
        # With pool spending on, the pool allocates the shortfall to the member first.
        shortfall = amount - available
        from_pool = self._org_now().allow_pool_spend and shortfall <= self._available(POOL)
        # Under a soft limit, what is left of the member's grace lends the shortfall.
        on_grace = not from_pool and shortfall <= min(self._grace_left(user), self._available(POOL))
        if self._due() or (stale and amount > available):
            result = self._attempt(call, InsufficientCredits)
        elif amount <= available:
            before = self._accounts()
            result = call()
            self._moved(before, {code: -amount, USAGE: amount})
        elif from_pool:
            before = self._accounts()
            result = call()
            self._moved(before, {code: -available, POOL: -shortfall, USAGE: amount})
        elif on_grace:
            before, asked = self._accounts(), self._requests()
            files = files_automatic_request(
                sorted((r for r in asked if r.user_id == user), key=lambda r: r.id),
                period_index=self._org_now().current_period_index,
            )
            result = call()
            self._moved(before, {code: -available, POOL: -shortfall, USAGE: amount})
            filed = [r for r in self._requests() if r not in asked]
            assert [(r.user_id, r.automatic, r.is_pending) for r in filed] == (
                [(user, True, True)] if files else []
            )
        else:
            error = self._fails(InsufficientCredits, call)
            assert isinstance(error, InsufficientCredits)
            assert (error.available, error.requested) == (available, amount)
            assert error.can_request == (self._pending_requests(user) == 0)
            return
        if result is not None:
            assert (result.kind, result.amount, result.reference) == (
                TransferKind.SPEND,
                amount,
                key,
            )
            assert result.debit_account == code
            self.used += amount
        self._remember(key, ("spend", user, amount), result)

    @rule(user=members, amount=amounts, lifetime=lifetimes)
    def reserve(self, user: str, amount: int, lifetime: timedelta | None) -> None:
        key = self._key()

        def call() -> Hold:
            return self.service.reserve(
                user, self.org_id, amount, generation_id=key, lifetime=lifetime
            )

        if user not in self.active:
            self._fails(OrganisationNotFound, call)
            return
        code = member_account(user)
        available, stale = self._available(code), self._stale(user)
        if self._due() or (stale and amount > available):
            result = self._attempt(call, InsufficientCredits)
        elif amount > available:
            self._fails(InsufficientCredits, call)
            return
        else:
            before = self._accounts()
            result = call()
            self._moved(before, {code: -amount}, {})
        if result is not None:
            longest = self._org_now().hold_lifetime
            life = longest if lifetime is None else min(lifetime, longest)
            assert (result.status, result.amount, result.user_id) == (
                HoldStatus.PENDING,
                amount,
                user,
            )
            assert result.expires_at == self.clock.now() + life
        self._remember(key, ("reserve", user, amount, lifetime), result)

    @precondition(lambda self: self._holds())
    @rule(
        pick=picks,
        mode=st.sampled_from(["full", "partial", "partial", "release", "over", "zero"]),
        actor=st.sampled_from(["owner", "owner", "admin", "other"]),
    )
    def resolve_hold(self, pick: int, mode: str, actor: str) -> None:
        holds = sorted(self._holds(), key=lambda h: h.id, reverse=True)
        holds.sort(key=lambda h: h.status is not HoldStatus.PENDING)
        hold = holds[pick % len(holds)]
        who = {"owner": hold.user_id, "admin": "admin", "other": "stranger"}[actor]
        if actor == "other":
            others = [m for m in MEMBERS if m != hold.user_id]
            who = others[pick % len(others)]
        captured = {
            "full": hold.amount,
            "partial": max(1, hold.amount // 3),
            "release": 0,
            "over": hold.amount + 1,
            "zero": 0,
        }[mode]

        def call() -> Hold:
            if mode == "release":
                return self.service.release_hold(who, self.org_id, hold.id)
            return self.service.capture_hold(who, self.org_id, hold.id, captured)

        due = self._due()
        # Past its lifetime a pending hold can no longer be captured (only released); a period
        # turnover expires such holds itself.
        lapsed = hold.status is HoldStatus.PENDING and hold.expires_at <= self.clock.now()
        if mode == "zero":
            self._fails(InvalidAmount, call)
        elif actor == "other":
            # A former member is answered as an outsider, whether or not the hold exists.
            self._fails(HoldNotFound if who in self.active else OrganisationNotFound, call)
        elif mode != "release" and lapsed and not due:
            self._fails(HoldAlreadyResolved, call)
        elif mode == "over":
            self._fails(InvalidAmount, call)
        elif due:
            self._settled(hold, captured, self._attempt(call, HoldAlreadyResolved))
        elif hold.status is not HoldStatus.PENDING:
            self._fails(HoldAlreadyResolved, call)
        else:
            before = self._accounts()
            result = call()
            self._moved(before, *self._hold_deltas(hold, captured))
            self._settled(hold, captured, result)

    def _settled(self, hold: Hold, captured: int, result: Hold | None) -> None:
        if result is not None:
            status = HoldStatus.CAPTURED if captured else HoldStatus.RELEASED
            assert (result.id, result.status, result.captured) == (hold.id, status, captured)
            self.used += captured

    def _hold_deltas(self, hold: Hold, captured: int) -> tuple[dict[str, int], dict[str, int]]:
        """Return the available and balance deltas of resolving ``hold`` for ``captured``."""
        code = member_account(hold.user_id)
        available = {code: 0, USAGE: captured}
        balance = {code: -captured, USAGE: captured}
        self._comes_back(
            available,
            balance,
            hold.user_id,
            hold.amount - captured,
            hold.period_index,
            released=True,
        )
        return available, balance

    def _comes_back(
        self,
        available: dict[str, int],
        balance: dict[str, int],
        user: str,
        amount: int,
        period_index: int,
        *,
        released: bool,
    ) -> None:
        """Add the deltas of ``amount`` credits coming back to ``user`` from period
        ``period_index``, released from a hold or refunded: a closed period's policy applies,
        a removed member gives them to the pool, otherwise the member has them again."""
        org = self._org_now()
        older = period_index < org.current_period_index
        policy = org.rollover.member_remainder
        code = member_account(user)
        if older and policy is MemberRemainder.EXPIRE:
            destination = EXPIRED
        elif user not in self.active or (older and policy is MemberRemainder.RETURN_TO_POOL):
            destination = POOL
        else:
            available[code] = available.get(code, 0) + amount
            if not released:
                balance[code] = balance.get(code, 0) + amount
            return
        available[destination] = available.get(destination, 0) + amount
        balance[destination] = balance.get(destination, 0) + amount
        if released:
            # A release frees the reservation; the member then posts it onwards.
            balance[code] = balance.get(code, 0) - amount

    @precondition(lambda self: self._spends())
    @rule(
        pick=picks,
        mode=st.sampled_from(["full", "partial", "over", "zero"]),
        actor=st.sampled_from(["admin", "admin", "owner", "other"]),
        keyed=st.booleans(),
    )
    def refund(self, pick: int, mode: str, actor: str, keyed: bool) -> None:
        spends = sorted(self._spends(), key=lambda t: t.id, reverse=True)
        spends.sort(key=self._refunded)
        spent = spends[pick % len(spends)]
        owner = member_of(spent.debit_account)
        assert owner is not None
        others = [m for m in MEMBERS if m != owner]
        who = {"owner": owner, "admin": "admin", "other": others[pick % len(others)]}[actor]
        amount = {
            "full": spent.amount,
            "partial": max(1, spent.amount // 2),
            "over": spent.amount + 1,
            "zero": 0,
        }[mode]
        key = self._key() if keyed else None

        def call() -> Transfer:
            return self.service.refund(who, self.org_id, spent.id, amount, idempotency_key=key)

        if mode == "zero":
            self._fails(InvalidAmount, call)
        elif who != "admin":
            # Refunds are for admins; a member who has left does not see the organisation.
            self._fails(PermissionDenied if who in self.active else OrganisationNotFound, call)
        elif mode == "over":
            self._fails(InvalidAmount, call)
        elif self._refunded(spent):
            self._fails(InvalidTransition, call)
        else:
            before, due = self._accounts(), self._due()
            refund = call()
            assert (refund.kind, refund.amount, refund.reference) == (
                TransferKind.REFUND,
                amount,
                spent.id,
            )
            assert (refund.debit_account, refund.credit_account) == (USAGE, spent.debit_account)
            self.used -= amount
            self._remember(key, ("refund", "admin", spent.id, amount), refund)
            if not due:
                available = {USAGE: -amount}
                balance = {USAGE: -amount}
                self._comes_back(
                    available, balance, owner, amount, spent.period_index, released=False
                )
                self._moved(before, available, balance)

    def _refunded(self, spent: Transfer) -> bool:
        return any(
            t.kind is TransferKind.REFUND and t.reference == spent.id for t in self._transfers()
        )

    # ------------------------------------------------------------------ idempotency keys

    @precondition(lambda self: self.keys)
    @rule(pick=picks)
    def replay(self, pick: int) -> None:
        key = sorted(self.keys)[pick % len(self.keys)]
        use = self.keys[key]
        operation, actor = use.params[0], use.params[1]
        call = lambda: self._invoke(use.params, key)  # noqa: E731
        if operation in ("spend", "reserve", "request") and actor not in self.active:
            self._fails(OrganisationNotFound, call)
            return
        before, due = self._state(), self._due()
        again = call()
        assert again.id == use.result_id
        if not due:
            assert self._state() == before, "a replay changed the store"

    @precondition(lambda self: self.keys)
    @rule(pick=picks)
    def reuse_key_with_other_parameters(self, pick: int) -> None:
        key = sorted(self.keys)[pick % len(self.keys)]
        operation, *args = self.keys[key].params
        if operation in GENERATION_OPERATIONS:
            # Another spend under a generation id: by another member, or for another amount.
            spender = sorted(self.active)[0]
            same = operation == "spend" and spender == args[0]
            params: tuple[Any, ...] = ("spend", spender, args[1] + 1 if same else args[1])
        else:
            params = ("top_up", args[0] + 1 if operation == "top_up" else 1)
        self._fails(IdempotencyConflict, lambda: self._invoke(params, key))

    # ------------------------------------------------------------------ credit requests

    @rule(user=members, amount=amounts, keyed=st.booleans())
    def request_credits(self, user: str, amount: int, keyed: bool) -> None:
        key = self._key() if keyed else None

        def call() -> CreditRequest:
            return self.service.request_credits(user, self.org_id, amount, idempotency_key=key)

        if user not in self.active:
            self._fails(OrganisationNotFound, call)
            return
        if self._due():
            result = self._attempt(call, TooManyOpenRequests)
        elif self._pending_requests(user) >= 1:
            self._fails(TooManyOpenRequests, call)
            return
        else:
            result = call()
        if result is not None:
            assert (result.status, result.amount, result.user_id) == (
                RequestStatus.PENDING,
                amount,
                user,
            )
        self._remember(key, ("request", user, amount), result)

    @precondition(lambda self: self._requests())
    @rule(pick=picks, other_amount=st.one_of(st.none(), amounts))
    def approve(self, pick: int, other_amount: int | None) -> None:
        request = self._request_at(pick)

        def call() -> CreditRequest:
            return self.service.approve_request(
                "admin", self.org_id, request.id, amount=other_amount
            )

        amount = request.amount if other_amount is None else other_amount
        if self._due():
            self._attempt(call, InvalidTransition, InsufficientPoolCredits)
        elif not request.is_pending:
            self._fails(InvalidTransition, call)
        elif amount > self._available(POOL):
            self._fails(InsufficientPoolCredits, call)
        else:
            assert request.user_id in self.active, "a pending request of a removed member"
            before = self._accounts()
            approved = call()
            assert (approved.status, approved.approved_amount) == (RequestStatus.APPROVED, amount)
            self._moved(before, {POOL: -amount, member_account(request.user_id): amount})

    @precondition(lambda self: self._requests())
    @rule(pick=picks)
    def reject(self, pick: int) -> None:
        request = self._request_at(pick)

        def call() -> CreditRequest:
            return self.service.reject_request("admin", self.org_id, request.id)

        if self._due():
            self._attempt(call, InvalidTransition)
        elif not request.is_pending:
            self._fails(InvalidTransition, call)
        else:
            before = self._accounts()
            assert call().status is RequestStatus.REJECTED
            self._moved(before, {})

    @precondition(lambda self: self._requests())
    @rule(pick=picks, by_owner=st.booleans())
    def cancel(self, pick: int, by_owner: bool) -> None:
        request = self._request_at(pick)
        others = sorted(self.active - {request.user_id})
        actor = request.user_id if by_owner or not others else others[0]

        def call() -> CreditRequest:
            return self.service.cancel_request(actor, self.org_id, request.id)

        if actor not in self.active:
            self._fails(OrganisationNotFound, call)
        elif actor != request.user_id:
            self._fails(CreditRequestNotFound, call)
        elif self._due():
            self._attempt(call, InvalidTransition)
        elif not request.is_pending:
            self._fails(InvalidTransition, call)
        else:
            assert call().status is RequestStatus.CANCELLED

    # ------------------------------------------------------------------ membership and settings

    # At most two members are away at once, so that most steps have members to act on.
    @precondition(lambda self: len(self.active) >= len(MEMBERS) - 1)
    @rule(user=members)
    def remove_member(self, user: str) -> None:
        def call() -> object:
            return self.service.remove_member("admin", self.org_id, user)

        if user not in self.active:
            self._fails(MemberNotFound, call)
            return
        code = member_account(user)
        before, due, available = self._accounts(), self._due(), self._available(code)
        call()
        self.active.discard(user)
        assert self._pending_requests(user) == 0
        assert self._available(code) == 0
        if not due:
            self._moved(before, {code: -available, POOL: available})

    @rule()
    def remove_last_admin(self) -> None:
        self._fails(
            LastAdminError, lambda: self.service.remove_member("admin", self.org_id, "admin")
        )

    @rule(user=members)
    def enrol(self, user: str) -> None:
        def call() -> Any:
            return self.service.enrol(user, f"{user}@acme.example", email_verified=True)

        if user in self.active:
            before = self._state()
            decision = call()
            assert decision.reason is EnrolmentReason.ALREADY_MEMBER
            assert self._state() == before
            return
        before, due = self._accounts(), self._due()
        decision = call()
        assert decision.outcome is EnrolmentOutcome.ENROLLED
        self.active.add(user)
        if not due:
            self._moved(before, {})

    @rule(
        cap=st.sampled_from([0, 100, 10**6]),
        remainder=st.sampled_from(list(MemberRemainder)),
    )
    def change_rollover(self, cap: int, remainder: MemberRemainder) -> None:
        policy = RolloverPolicy(pool_carry_over_cap=cap, member_remainder=remainder)
        changed = self.service.update_settings("admin", self.org_id, rollover=policy)
        assert changed.rollover == policy

    @rule(user=members, amount=st.sampled_from([0, 50, 300]))
    def set_standing_allotment(self, user: str, amount: int) -> None:
        def call() -> Any:
            return self.service.set_standing_allotment("admin", self.org_id, user, amount)

        if user not in self.active:
            self._fails(MemberNotFound, call)
        else:
            assert call().standing_allotment == amount

    @rule(grace=st.one_of(st.none(), st.sampled_from([1, 40, 500])))
    def set_soft_limit(self, grace: int | None) -> None:
        limit = None if grace is None else SoftLimit(credits=grace)
        assert self.service.set_soft_limit("admin", self.org_id, limit).soft_limit == limit

    @rule(allow=st.booleans())
    def allow_pool_spend(self, allow: bool) -> None:
        changed = self.service.update_settings("admin", self.org_id, allow_pool_spend=allow)
        assert changed.allow_pool_spend is allow

    @rule(user=members, amount=amounts)
    def member_tries_an_admin_operation(self, user: str, amount: int) -> None:
        call = lambda: self.service.allocate_credits(user, self.org_id, user, amount)  # noqa: E731
        error = PermissionDenied if user in self.active else OrganisationNotFound
        self._fails(error, call)

    @rule(amount=amounts)
    def outsider_spends(self, amount: int) -> None:
        self._fails(
            OrganisationNotFound,
            lambda: self.service.spend("stranger", self.org_id, amount, generation_id="g"),
        )

    @rule(
        operation=st.sampled_from(
            ["allocate", "reclaim", "top_up", "spend", "reserve", "request", "approve", "refund"]
        ),
        amount=bad_amounts,
    )
    def invalid_amount(self, operation: str, amount: Any) -> None:
        service, org = self.service, self.org_id
        calls: dict[str, Callable[[], object]] = {
            "allocate": lambda: service.allocate_credits("admin", org, "member-1", amount),
            "reclaim": lambda: service.reclaim_credits("admin", org, "member-1", amount),
            "top_up": lambda: service.top_up("admin", org, amount),
            "spend": lambda: service.spend("member-1", org, amount, generation_id=self._key()),
            "reserve": lambda: service.reserve("member-1", org, amount, generation_id=self._key()),
            "request": lambda: service.request_credits("member-1", org, amount),
            "approve": lambda: service.approve_request("admin", org, "nothing", amount=amount),
            "refund": lambda: service.refund("admin", org, "nothing", amount),
        }
        is_int = isinstance(amount, int) and not isinstance(amount, bool)
        self._fails(InvalidAmount if is_int else AmountTypeError, calls[operation])

    # ------------------------------------------------------------------ time and jobs

    @rule(unit=st.sampled_from(["minutes", "hours", "days"]), count=st.integers(1, 90))
    def advance(self, unit: str, count: int) -> None:
        self.clock.advance(timedelta(**{unit: count if unit == "minutes" else count % 12 + 1}))

    @rule(months=st.integers(1, 3))
    def advance_months(self, months: int) -> None:
        self.clock.set(months_later(self.clock.now(), months))

    @precondition(lambda self: not self._due())
    @rule()
    def advance_to_the_period_end(self) -> None:
        self.clock.set(self._org_now().current_period.end)

    @rule()
    def close_due_periods(self) -> None:
        due = self._due()
        assert self.service.close_due_periods() == ([self.org_id] if due else [])
        assert (
            self._org_now().current_period_index == period_at(self.anchor, self.clock.now()).index
        )

    @rule()
    def release_expired_holds(self) -> None:
        now, due = self.clock.now(), self._due()
        stale = {
            h.id for h in self._holds() if h.status is HoldStatus.PENDING and h.expires_at <= now
        }
        released = self.service.release_expired_holds(self.org_id)
        if not due:
            assert released == len(stale)
            for hold_id in stale:
                assert self.store.holds[(self.org_id, hold_id)].status is HoldStatus.EXPIRED
        assert not any(
            h.status is HoldStatus.PENDING and h.expires_at <= now for h in self._holds()
        )

    # ------------------------------------------------------------------ invariants

    @invariant()
    def ledger_reconciles(self) -> None:
        accounts = self._accounts()
        assert reconcile(accounts.values(), self._transfers()) == []
        for account in accounts.values():
            if account.kind.guarded:
                assert account.available >= 0, account

    @invariant()
    def credits_are_conserved(self) -> None:
        accounts = self._accounts()
        granted = -accounts[GRANT].balance
        members_total = sum(a.balance for a in accounts.values() if a.kind is AccountKind.MEMBER)
        assert granted == (
            accounts[POOL].balance
            + accounts[self.team].balance
            + members_total
            + accounts[USAGE].balance
            + accounts[EXPIRED].balance
        )
        periods = self._org_now().current_period_index + 1
        assert granted == ALLOWANCE * periods + self.top_ups
        assert accounts[USAGE].balance == self.used

    @invariant()
    def each_period_is_granted_once(self) -> None:
        org = self._org_now()
        grants = [t for t in self._transfers() if t.kind is TransferKind.GRANT]
        assert [t.period_index for t in grants] == list(range(org.current_period_index + 1))
        assert all(t.amount == ALLOWANCE for t in grants)
        assert org.current_period_index <= period_at(self.anchor, self.clock.now()).index

    @invariant()
    def nothing_lands_in_a_closed_period(self) -> None:
        transfers = self._transfers()
        indexes = [t.period_index for t in transfers]
        assert indexes == sorted(indexes), "a transfer was booked to an earlier period"
        for t in transfers:
            if t.actor != SYSTEM_ACTOR:
                # A caller's transfer belongs to the period of its instant: a call after the
                # boundary turns the period over first.
                assert t.period_index == period_at(self.anchor, t.created_at).index, t
        current = self._org_now().current_period_index
        for request in self._requests():
            if request.is_pending:
                assert request.period_index == current, "a pending request outlived its period"

    @invariant()
    def holds_match_pending_debits(self) -> None:
        transfers = self._transfers()
        pending: dict[str, int] = {}
        for hold in self._holds():
            if hold.id in self.resolved:
                assert hold == self.resolved[hold.id], "a resolved hold changed"
            elif hold.status is HoldStatus.PENDING:
                pending[hold.user_id] = pending.get(hold.user_id, 0) + hold.amount
                continue
            else:
                self.resolved[hold.id] = hold
            moves = {
                t.kind: t.amount
                for t in transfers
                if t.reference == hold.id and t.kind in (TransferKind.CAPTURE, TransferKind.RELEASE)
            }
            assert moves.get(TransferKind.CAPTURE, 0) == hold.captured
            assert moves.get(TransferKind.RELEASE, 0) == hold.amount - hold.captured
        for code, account in self._accounts().items():
            user = member_of(code)
            if user is not None:
                assert account.debits_pending == pending.get(user, 0), code

    @invariant()
    def only_pending_requests_change(self) -> None:
        approvals: dict[str | None, list[int]] = {}
        for t in self._transfers():
            if t.kind is TransferKind.APPROVE:
                approvals.setdefault(t.reference, []).append(t.amount)
        for request in self._requests():
            if request.id in self.decided:
                assert request == self.decided[request.id], "a decided request changed"
            elif not request.is_pending:
                self.decided[request.id] = request
            expected = [request.approved_amount] if request.status is RequestStatus.APPROVED else []
            assert approvals.get(request.id, []) == expected

    @invariant()
    def membership_matches_the_model(self) -> None:
        active = {user for user, org in self.store.active_member_of.items() if org == self.org_id}
        assert active == self.active | {"admin"}


def test_random_operations_keep_the_ledger_consistent() -> None:
    """Any sequence of valid and invalid operations keeps balances, holds and requests right."""
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(max_examples=settings.default.max_examples * 2, stateful_step_count=100),
    )


def test_the_rules_reach_every_kind_of_transfer() -> None:
    """The walk's rules can produce every kind of transfer, so no invariant is checked idly."""
    machine = LedgerMachine()
    machine.configure(0, MemberRemainder.EXPIRE, timedelta(hours=1))
    machine.allocate("member-1", 300, keyed=True)
    machine.spend("member-1", 20)
    machine.reserve("member-1", 50, None)
    machine.resolve_hold(0, "partial", "owner")
    machine.refund(0, "partial", "admin", keyed=True)
    machine.request_credits("member-2", 40, keyed=False)
    machine.approve(0, 30)
    machine.top_up(5, keyed=True)
    machine.replay(0)
    machine.reuse_key_with_other_parameters(0)
    machine.reclaim("member-1", 10, keyed=False)
    machine.reserve("member-1", 10, None)
    machine.remove_member("member-1")
    machine.resolve_hold(0, "release", "admin")
    machine.set_standing_allotment("member-3", 50)
    machine.move_team_budget(40, back=False)
    machine.move_team_budget(10, back=True)
    machine.advance_months(2)
    machine.spend("member-2", 5)
    machine.set_soft_limit(40)
    machine.spend("member-2", machine._available(member_account("member-2")) + 10)
    machine.enrol("member-1")
    machine.close_due_periods()
    for check in (
        machine.ledger_reconciles,
        machine.credits_are_conserved,
        machine.each_period_is_granted_once,
        machine.nothing_lands_in_a_closed_period,
        machine.holds_match_pending_debits,
        machine.only_pending_requests_change,
        machine.membership_matches_the_model,
    ):
        check()
    kinds = {t.kind for t in machine._transfers()}
    assert kinds == set(TransferKind)
    machine.teardown()
