"""The soft limit's contract: a member who ran out spends on grace, lent by their team's
budget or the pool, never past the period's allowance, and their run-out files exactly one
automatic credit request, the same on every store and under threads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from armox_enterprise.domain.grace import AUTOMATIC_REQUEST_NOTE, SoftLimit
from armox_enterprise.domain.ledger import POOL, TransferKind, member_account, team_account
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.exceptions import (
    CapReached,
    InsufficientCredits,
    InvalidInput,
    PermissionDenied,
)
from armox_enterprise.ports import Store
from armox_enterprise.service import EnterpriseService
from armox_enterprise.testing.contracts.base import ContractBase

__all__ = ["SoftLimitContract"]


def _automatic(service: EnterpriseService, org_id: str, user: str) -> list[CreditRequest]:
    everything = service.list_requests("admin", org_id, status=None)
    return [r for r in everything if r.user_id == user and r.automatic]


class SoftLimitContract(ContractBase):
    """Soft limits through the service, on this store: grace from the pool and from a team's
    budget, the allowance, the automatic request once per run-out, the cap first, and
    threads spending on grace at once.

    Needs: every repository.
    """

    def _grace(self, store: Store, org_id: str, user: str) -> list[int]:
        code = member_account(user)
        grace = self._transfers(store, org_id, TransferKind.GRACE)
        return [t.amount for t in grace if t.credit_account == code]

    def test_grace_lends_the_shortfall_and_files_one_request(self) -> None:
        """A member with 30 credits spends 50 under a grace of 100: 20 are lent from the pool,
        the spend is theirs, and one automatic request is filed; the next spend on grace
        files none; the profile shows what was drawn."""
        scenario = self._scenario(members=1, allowance=1000, allocate=30)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        changed = service.set_soft_limit("admin", org_id, SoftLimit(credits=100))
        assert changed.soft_limit == SoftLimit(credits=100)
        pool = self._account(store, org_id, POOL).balance
        spent = service.spend("member-1", org_id, 50, generation_id="g-1")
        assert (spent.kind, spent.amount, spent.debit_account) == (
            TransferKind.SPEND,
            50,
            member_account("member-1"),
        )
        assert self._grace(store, org_id, "member-1") == [20]
        assert self._account(store, org_id, POOL).balance == pool - 20
        assert self._account(store, org_id, member_account("member-1")).balance == 0
        (request,) = _automatic(service, org_id, "member-1")
        assert (request.status, request.amount, request.note) == (
            RequestStatus.PENDING,
            100,
            AUTOMATIC_REQUEST_NOTE,
        )
        service.spend("member-1", org_id, 30, generation_id="g-2")
        assert self._grace(store, org_id, "member-1") == [20, 30]
        assert len(_automatic(service, org_id, "member-1")) == 1
        credits = service.profile("member-1").credits
        assert credits is not None
        assert (credits.grace_allowance, credits.grace_drawn, credits.used) == (100, 50, 80)
        assert credits.pending_request == request
        # Replaying a spend made on grace lends nothing more.
        assert service.spend("member-1", org_id, 50, generation_id="g-1") == spent
        assert self._grace(store, org_id, "member-1") == [20, 30]
        assert service.reconcile(org_id) == []

    def test_grace_stops_at_the_allowance(self) -> None:
        """Spends pass while what is left of the allowance covers them whole; the one that
        would pass it is refused with InsufficientCredits and writes nothing."""
        scenario = self._scenario(members=1, allowance=1000, allocate=0)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        service.set_soft_limit("admin", org_id, SoftLimit(credits=25))
        service.spend("member-1", org_id, 10, generation_id="a")
        service.spend("member-1", org_id, 10, generation_id="b")
        before = self._accounts(store, org_id)
        with pytest.raises(InsufficientCredits) as refused:
            service.spend("member-1", org_id, 6, generation_id="c")
        assert (refused.value.available, refused.value.requested) == (0, 6)
        assert self._accounts(store, org_id) == before
        assert service.spend("member-1", org_id, 5, generation_id="d").amount == 5
        assert sum(self._grace(store, org_id, "member-1")) == 25
        assert service.reconcile(org_id) == []

    def test_a_percentage_of_what_was_given(self) -> None:
        """A grace of 10% lends up to a tenth of what the member was given this period."""
        scenario = self._scenario(members=1, allowance=1000, allocate=200)
        service, org_id = scenario.service, scenario.org_id
        service.set_soft_limit("admin", org_id, SoftLimit(percent=10))
        assert service.profile("member-1").credits.grace_allowance == 20  # type: ignore[union-attr]
        service.spend("member-1", org_id, 220, generation_id="all")
        with pytest.raises(InsufficientCredits):
            service.spend("member-1", org_id, 1, generation_id="more")
        # What the grace lent is not "given": the allowance stays 20.
        service.allocate_credits("admin", org_id, "member-1", 100)
        credits = service.profile("member-1").credits
        assert credits is not None
        assert (credits.grace_allowance, credits.grace_drawn) == (30, 20)

    def test_a_team_member_draws_on_the_team_budget(self) -> None:
        """A team's member is lent by the team's budget, not the pool; a team too short to
        lend refuses the spend."""
        scenario = self._scenario(members=2, allowance=1000, allocate=0)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        team = service.create_team("admin", org_id, "Design")
        service.assign_team("admin", org_id, "member-1", team.id)
        service.fund_team("admin", org_id, team.id, 15)
        service.set_soft_limit("admin", org_id, SoftLimit(credits=100))
        pool = self._account(store, org_id, POOL).balance
        service.spend("member-1", org_id, 15, generation_id="t-1")
        assert self._account(store, org_id, team_account(team.id)).balance == 0
        assert self._account(store, org_id, POOL).balance == pool
        (grace,) = self._transfers(store, org_id, TransferKind.GRACE)
        assert grace.debit_account == team_account(team.id)
        with pytest.raises(InsufficientCredits):
            service.spend("member-1", org_id, 1, generation_id="t-2")
        # A member with no team is lent by the pool.
        service.spend("member-2", org_id, 5, generation_id="p-1")
        assert self._account(store, org_id, POOL).balance == pool - 5
        assert service.reconcile(org_id) == []

    def test_one_request_per_run_out(self) -> None:
        """An approval ends a run-out: the next spend on grace files a new request; a
        rejection is the answer for the rest of the period; a new period starts afresh."""
        scenario = self._scenario(members=1, allowance=1000, allocate=0)
        service, org_id = scenario.service, scenario.org_id
        service.set_soft_limit("admin", org_id, SoftLimit(credits=100))
        service.spend("member-1", org_id, 5, generation_id="r-1")
        (first,) = _automatic(service, org_id, "member-1")
        service.approve_request("admin", org_id, first.id, amount=10)
        service.spend("member-1", org_id, 10, generation_id="r-2")  # the approved credits
        assert len(_automatic(service, org_id, "member-1")) == 1
        service.spend("member-1", org_id, 5, generation_id="r-3")  # runs out again
        second = _automatic(service, org_id, "member-1")[-1]
        assert second.id != first.id
        assert second.is_pending
        service.reject_request("admin", org_id, second.id)
        service.spend("member-1", org_id, 5, generation_id="r-4")
        assert len(_automatic(service, org_id, "member-1")) == 2
        scenario.clock.advance(timedelta(days=40))
        service.spend("member-1", org_id, 5, generation_id="r-5")
        third = _automatic(service, org_id, "member-1")[-1]
        assert third.is_pending
        assert third.period_index == second.period_index + 1
        assert service.reconcile(org_id) == []

    def test_a_pending_request_of_their_own_files_none(self) -> None:
        """A member who already asked gets no automatic request, and their request is the
        one the profile shows."""
        scenario = self._scenario(members=1, allowance=1000, allocate=0)
        service, org_id = scenario.service, scenario.org_id
        own = service.request_credits("member-1", org_id, 40)
        service.set_soft_limit("admin", org_id, SoftLimit(credits=100))
        service.spend("member-1", org_id, 5, generation_id="o-1")
        assert _automatic(service, org_id, "member-1") == []
        assert [r.id for r in service.list_requests("member-1", org_id)] == [own.id]

    def test_the_cap_comes_before_the_grace_and_holds_take_none(self) -> None:
        """A cap bounds spends on grace too (CapReached, nothing lent); a hold is never
        made on grace."""
        scenario = self._scenario(members=1, allowance=1000, allocate=10)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        service.set_soft_limit("admin", org_id, SoftLimit(credits=100))
        service.set_spend_cap("admin", org_id, 30)
        with pytest.raises(CapReached):
            service.spend("member-1", org_id, 31, generation_id="c-1")
        assert self._grace(store, org_id, "member-1") == []
        with pytest.raises(InsufficientCredits):
            service.reserve("member-1", org_id, 20, generation_id="h-1")
        assert service.spend("member-1", org_id, 30, generation_id="c-2").amount == 30
        assert self._grace(store, org_id, "member-1") == [20]
        assert service.reconcile(org_id) == []

    def test_soft_limit_settings_are_checked(self) -> None:
        """Only admins set it, only a SoftLimit or None is accepted, None turns grace off."""
        scenario = self._scenario(members=1, allowance=1000, allocate=0)
        service, org_id = scenario.service, scenario.org_id
        with pytest.raises(PermissionDenied):
            service.set_soft_limit("member-1", org_id, SoftLimit(credits=5))
        with pytest.raises(InvalidInput):
            service.set_soft_limit("admin", org_id, 5)  # type: ignore[arg-type]
        assert service.get_organisation("admin", org_id).soft_limit is None
        service.set_soft_limit("admin", org_id, SoftLimit(percent=50))
        assert service.get_organisation("admin", org_id).soft_limit == SoftLimit(percent=50)
        assert service.set_soft_limit("admin", org_id, None).soft_limit is None
        with pytest.raises(InsufficientCredits):
            service.spend("member-1", org_id, 1, generation_id="off")

    # ------------------------------------------------------------------ races

    def test_concurrent_spends_on_grace_file_one_request(self) -> None:
        """Threads spending at once for a member who has run out: the grace lends each spend
        whole until the allowance is used, never past it, and the run-out files exactly one
        automatic request."""
        cost, rounds = self.race_spend, self.race_spends_per_thread
        allowance = cost * max(1, (self.threads * rounds) // 2)
        scenario = self._scenario(members=1, allowance=10 * allowance, allocate=0)
        service, org_id, store = self._service(scenario), scenario.org_id, scenario.store
        service.set_soft_limit("admin", org_id, SoftLimit(credits=allowance))
        pool = self._account(store, org_id, POOL).balance

        def spend_many(thread: int) -> int:
            done = 0
            for i in range(rounds):
                try:
                    service.spend("member-1", org_id, cost, generation_id=f"gr-{thread}-{i}")
                except InsufficientCredits:
                    continue
                done += 1
            return done

        done = sum(self._race(spend_many))
        assert done == min(self.threads * rounds, allowance // cost)
        assert sum(self._grace(store, org_id, "member-1")) == done * cost <= allowance
        assert self._account(store, org_id, POOL).balance == pool - done * cost
        automatic = _automatic(service, org_id, "member-1")
        assert [r.is_pending for r in automatic] == [True]
        assert service.reconcile(org_id) == []
