"""The service's contract on a store: the use cases of
:class:`~armox_enterprise.EnterpriseService` that lean on the store's guarantees (idempotency,
one decision, refusals that write nothing, events after commit, exports that let go of their
unit of work, a dashboard that agrees with the profile)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import (
    GRANT,
    POOL,
    USAGE,
    HoldStatus,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.requests import RequestStatus
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import (
    AlreadyMember,
    DomainAlreadyClaimed,
    HoldAlreadyResolved,
    IdempotencyConflict,
    InsufficientCredits,
    InsufficientPoolCredits,
    InvalidAmount,
    InvalidTransition,
)
from armox_enterprise.testing.contracts.base import (
    ContractBase,
)

__all__ = ["ServiceContract"]


class ServiceContract(ContractBase):
    """The cases that drive :class:`~armox_enterprise.EnterpriseService` on the store, not a port.

    Needs: every repository.
    """

    def test_service_allocates_spends_and_reconciles(self) -> None:
        """Through the service on this store, credits move from grant to pool to member to
        usage, the profile shows them and the ledger reconciles."""
        scenario = self._scenario(members=2, allowance=1000)
        service, org_id = scenario.service, scenario.org_id
        service.allocate_credits("admin", org_id, "member-1", 300)
        service.spend("member-1", org_id, 120, generation_id="gen-1")
        service.top_up("admin", org_id, 50)
        profile = service.profile("member-1")
        assert profile.is_enterprise
        assert profile.credits is not None
        assert (profile.credits.allocated, profile.credits.used, profile.credits.remaining) == (
            300,
            120,
            180,
        )
        store = scenario.store
        assert self._account(store, org_id, POOL).available == 1000 - 300 + 50
        assert self._account(store, org_id, USAGE).balance == 120
        assert self._account(store, org_id, GRANT).balance == -1050
        assert service.reconcile(org_id) == []

    def test_service_replays_a_generation_id_and_refuses_other_parameters(self) -> None:
        """The same generation id spends once and returns the first transfer; reused with
        other parameters it raises IdempotencyConflict and changes nothing."""
        scenario = self._scenario(members=2, allocate=100)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        first = service.spend("member-1", org_id, 30, generation_id="gen-1", model="m")
        again = service.spend("member-1", org_id, 30, generation_id="gen-1", model="m")
        assert again == first
        before = self._accounts(store, org_id)
        conflicting: list[Callable[[], object]] = [
            lambda: service.spend("member-1", org_id, 31, generation_id="gen-1", model="m"),
            lambda: service.spend("member-1", org_id, 30, generation_id="gen-1"),
            lambda: service.spend("member-2", org_id, 30, generation_id="gen-1", model="m"),
            lambda: service.reserve("member-1", org_id, 30, generation_id="gen-1", model="m"),
        ]
        for call in conflicting:
            with pytest.raises(IdempotencyConflict):
                call()
        assert self._accounts(store, org_id) == before
        assert self._account(store, org_id, member_account("member-1")).available == 70
        assert [t.id for t in self._transfers(store, org_id, TransferKind.SPEND)] == [first.id]

    def test_service_replays_keyed_top_ups_and_allocations(self) -> None:
        """Keyed top-ups, allocations and reclaims happen once per key; other parameters
        under a used key raise IdempotencyConflict."""
        scenario = self._scenario(members=1, allowance=100)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        top_up = service.top_up("admin", org_id, 40, idempotency_key="t")
        assert service.top_up("admin", org_id, 40, idempotency_key="t") == top_up
        allocation = service.allocate_credits("admin", org_id, "member-1", 60, idempotency_key="a")
        assert (
            service.allocate_credits("admin", org_id, "member-1", 60, idempotency_key="a")
            == allocation
        )
        reclaim = service.reclaim_credits("admin", org_id, "member-1", 10, idempotency_key="r")
        assert service.reclaim_credits("admin", org_id, "member-1", 10, idempotency_key="r") == (
            reclaim
        )
        with pytest.raises(IdempotencyConflict):
            service.top_up("admin", org_id, 41, idempotency_key="t")
        with pytest.raises(IdempotencyConflict):
            service.allocate_credits("admin", org_id, "member-1", 60, idempotency_key="t")
        with pytest.raises(IdempotencyConflict):
            service.reclaim_credits("admin", org_id, "member-1", 11, idempotency_key="r")
        assert self._account(store, org_id, POOL).available == 100 + 40 - 60 + 10
        assert self._account(store, org_id, member_account("member-1")).available == 50
        assert service.reconcile(org_id) == []

    def test_service_overdraft_raises_insufficient_credits_and_writes_nothing(self) -> None:
        """Spending or reserving more than the member holds raises InsufficientCredits with
        the figures, and nothing is written."""
        scenario = self._scenario(members=1, allocate=20)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        before = (self._accounts(store, org_id), len(self._transfers(store, org_id)))
        with pytest.raises(InsufficientCredits) as raised:
            service.spend("member-1", org_id, 21, generation_id="gen-1")
        assert (raised.value.available, raised.value.requested) == (20, 21)
        assert raised.value.can_request
        with pytest.raises(InsufficientCredits):
            service.reserve("member-1", org_id, 21, generation_id="gen-2")
        with pytest.raises(InsufficientPoolCredits):
            service.allocate_credits("admin", org_id, "member-1", 10**6)
        assert (self._accounts(store, org_id), len(self._transfers(store, org_id))) == before
        with store.unit_of_work() as uow:
            assert uow.idempotency.get(org_id, "gen-1") is None
            assert uow.holds.pending(org_id) == []

    def test_service_decides_a_request_once(self) -> None:
        """An approved request moves the credits once; deciding it again raises
        InvalidTransition."""
        scenario = self._scenario(members=1, allowance=500)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        request = service.request_credits("member-1", org_id, 100, note="more")
        approved = service.approve_request("admin", org_id, request.id, amount=80)
        assert (approved.status, approved.approved_amount) == (RequestStatus.APPROVED, 80)
        second_decisions: list[Callable[[], object]] = [
            lambda: service.approve_request("admin", org_id, request.id),
            lambda: service.reject_request("admin", org_id, request.id),
            lambda: service.cancel_request("member-1", org_id, request.id),
        ]
        for call in second_decisions:
            with pytest.raises(InvalidTransition):
                call()
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == approved
        assert self._account(store, org_id, member_account("member-1")).available == 80
        approvals = self._transfers(store, org_id, TransferKind.APPROVE)
        assert [(t.amount, t.reference) for t in approvals] == [(80, request.id)]

    def test_service_approval_the_pool_cannot_cover_leaves_the_request_pending(self) -> None:
        """Approving more than the pool holds raises InsufficientPoolCredits and the request
        stays pending."""
        scenario = self._scenario(members=1, allowance=50)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        request = service.request_credits("member-1", org_id, 100)
        with pytest.raises(InsufficientPoolCredits):
            service.approve_request("admin", org_id, request.id)
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == request
        assert self._transfers(store, org_id, TransferKind.APPROVE) == []
        service.approve_request("admin", org_id, request.id, amount=50)
        assert self._account(store, org_id, POOL).available == 0

    def test_service_hold_resolves_once(self) -> None:
        """A partly captured hold posts what it took and frees the rest; resolving it again
        raises HoldAlreadyResolved."""
        scenario = self._scenario(members=1, allocate=100)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        hold = service.reserve("member-1", org_id, 40, generation_id="gen-1")
        account = self._account(store, org_id, member_account("member-1"))
        assert (account.available, account.debits_pending) == (60, 40)
        captured = service.capture_hold("member-1", org_id, hold.id, 25)
        assert (captured.status, captured.captured) == (HoldStatus.CAPTURED, 25)
        with pytest.raises(HoldAlreadyResolved):
            service.capture_hold("member-1", org_id, hold.id)
        with pytest.raises(HoldAlreadyResolved):
            service.release_hold("admin", org_id, hold.id)
        account = self._account(store, org_id, member_account("member-1"))
        assert (account.available, account.debits_pending, account.balance) == (75, 0, 75)
        assert self._account(store, org_id, USAGE).balance == 25
        assert service.reconcile(org_id) == []

    def test_service_refunds_a_spend_once(self) -> None:
        """A spend is refunded once and never for more than was spent."""
        scenario = self._scenario(members=1, allocate=100)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        spend = service.spend("member-1", org_id, 30, generation_id="gen-1")
        with pytest.raises(InvalidAmount):
            service.refund("admin", org_id, spend.id, 31)
        refund = service.refund("admin", org_id, spend.id, 10)
        assert (refund.kind, refund.amount, refund.reference) == (TransferKind.REFUND, 10, spend.id)
        with pytest.raises(InvalidTransition):
            service.refund("admin", org_id, spend.id, 5)
        assert self._account(store, org_id, member_account("member-1")).available == 80
        assert self._account(store, org_id, USAGE).balance == 20

    def test_service_refuses_a_claimed_domain_and_a_second_membership(self) -> None:
        """Another organisation cannot claim a claimed domain (DomainAlreadyClaimed), nor can a
        member found one (AlreadyMember)."""
        scenario = self._scenario(members=1)
        service, store = scenario.service, scenario.store
        other = service.create_organisation(
            name="Beta", admin_user_id="beta-admin", admin_email="admin@beta.example"
        )
        with pytest.raises(DomainAlreadyClaimed):
            service.claim_domain("beta-admin", other.id, scenario.domain)
        with pytest.raises(AlreadyMember):
            service.create_organisation(
                name="Gamma", admin_user_id="member-1", admin_email="member-1@gamma.example"
            )
        with store.unit_of_work() as uow:
            claim = uow.domains.get(DomainName.parse(scenario.domain))
            assert claim is not None
            assert claim.organisation_id == scenario.org_id
            membership = uow.memberships.active_for_user("member-1")
            assert membership is not None
            assert membership.organisation_id == scenario.org_id

    def test_service_removal_returns_credits_and_cancels_requests(self) -> None:
        """Removing a member returns their available credits to the pool and cancels their
        pending request."""
        scenario = self._scenario(members=1, allowance=100, allocate=60)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        request = service.request_credits("member-1", org_id, 10)
        service.remove_member("admin", org_id, "member-1")
        with store.unit_of_work() as uow:
            stored = uow.requests.get(org_id, request.id)
            assert stored is not None
            assert stored.status is RequestStatus.CANCELLED
            assert uow.memberships.active_for_user("member-1") is None
        assert self._account(store, org_id, POOL).available == 100
        assert self._account(store, org_id, member_account("member-1")).balance == 0
        assert not service.profile("member-1").is_enterprise

    def test_service_hands_events_to_handlers_after_commit_only(self) -> None:
        """Handlers get the events of calls that committed and none of calls that failed."""
        scenario = self._scenario(members=1, allowance=100)
        service, org_id = scenario.service, scenario.org_id
        seen: list[ev.Event] = []
        service.subscribe(seen.append)
        service.allocate_credits("admin", org_id, "member-1", 60)
        with pytest.raises(InsufficientPoolCredits):
            service.allocate_credits("admin", org_id, "member-1", 60)
        assert [type(e) for e in seen] == [ev.CreditsAllocated]
        assert isinstance(seen[0], ev.CreditsAllocated)
        assert (seen[0].user_id, seen[0].amount) == ("member-1", 60)

    def test_service_turns_periods_over_once_each(self) -> None:
        """The period job grants the allowance once per period, however often it runs."""
        scenario = self._scenario(members=1, allowance=100)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        scenario.clock.advance(days=100)
        target = scenario.organisation.period_at(scenario.clock.now()).index
        assert service.close_due_periods() == [org_id]
        assert service.close_due_periods() == []
        grants = self._transfers(store, org_id, TransferKind.GRANT)
        assert [(t.period_index, t.amount) for t in grants] == [(i, 100) for i in range(target + 1)]
        with store.unit_of_work() as uow:
            org = uow.organisations.get(org_id)
            assert org is not None
            assert org.current_period_index == target
            totals = uow.ledger.period_totals(org_id, POOL, target)
            assert totals.credited(TransferKind.GRANT) == 100
        assert self._account(store, org_id, POOL).available == 100
        assert service.reconcile(org_id) == []

    def test_service_export_closes_its_unit_of_work_when_stopped_early(self) -> None:
        """A CSV export abandoned after a few lines (closed, or dropped) releases its unit of
        work: later calls read and write as usual, and a full export sees their effects."""
        scenario = self._scenario(members=1, allocate=100)
        service, org_id = self._service(scenario), scenario.org_id
        for i in range(5):
            service.spend("member-1", org_id, 1, generation_id=f"gen-{i}")
        lines = service.export_ledger_csv("admin", org_id)
        assert next(lines).startswith("created_at,period,transfer_id,kind,")
        next(lines)
        lines.close()
        dropped = service.export_usage_csv("admin", org_id)
        next(dropped)
        del dropped
        service.spend("member-1", org_id, 1, generation_id="after")
        usage = list(service.export_usage_csv("admin", org_id))
        assert len(usage) == 1 + 6
        assert usage[-1].endswith(",1,0,after\r\n")
        [row] = service.usage_report("admin", org_id, by="member")
        assert (row.key, row.spent, row.transfers) == ("member-1", 6, 6)

    def test_member_page_figures_equal_the_profile(self) -> None:
        """Through the service, across a period turnover, holds, refunds and a removal, every
        row of the member table shows what that member's profile shows."""
        scenario = self._scenario(members=3, allowance=5_000, allocate=400)
        service, org_id, clock = scenario.service, scenario.org_id, scenario.clock
        old = service.spend("member-1", org_id, 150, generation_id="g1")
        hold = service.reserve("member-2", org_id, 90, generation_id="g2")
        service.capture_hold("member-2", org_id, hold.id, 60)
        service.spend("member-3", org_id, 10, generation_id="g3")
        clock.advance(days=40)
        service.allocate_credits("admin", org_id, "member-2", 75)
        request = service.request_credits("member-3", org_id, 30)
        service.approve_request("admin", org_id, request.id)
        service.spend("member-2", org_id, 20, generation_id="g4")
        service.reserve("member-3", org_id, 5, generation_id="g5")
        service.refund("admin", org_id, old.id, 100)
        service.remove_member("admin", org_id, "member-3")
        board = service.dashboard("admin", org_id, sort="used", descending=True)
        assert [r.user_id for r in board.members] == ["member-2", "member-1", "admin"]
        assert board.total_members == 3
        for row in board.members:
            section = service.profile(row.user_id).credits
            assert section is not None
            assert (row.allocated, row.used, row.remaining, row.on_hold) == (
                section.allocated,
                section.used,
                section.remaining,
                section.on_hold,
            )
        rows = {r.user_id: r for r in board.members}
        # The refund of last period's spend lapsed at once (the default policy expires
        # remainders) and does not show this period's use below zero.
        one, two = rows["member-1"], rows["member-2"]
        assert (one.allocated, one.used, one.remaining, one.last_activity) == (0, 0, 0, clock.now())
        assert (two.allocated, two.used, two.remaining, two.on_hold) == (75, 20, 55, 0)
        assert rows["admin"].last_activity is None
