"""The monthly cap's contract: a spend or hold that would cross a member's cap is refused,
with the same :class:`~armox_enterprise.exceptions.CapReached` on every store, by the
posting's own write (so concurrent spends never pass it), and a new period starts again.
A team's cap bounds its members who have none of their own, and follows them as they move
between teams, leave them, or the cap changes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from armox_enterprise.domain.ledger import USAGE, TransferKind, member_account
from armox_enterprise.exceptions import (
    AmountTypeError,
    CapReached,
    InsufficientCredits,
    InvalidAmount,
    InvalidInput,
    MemberNotFound,
    PermissionDenied,
    TeamNotFound,
)
from armox_enterprise.testing.builders import Scenario
from armox_enterprise.testing.contracts.base import ContractBase

__all__ = ["CapContract"]


class CapContract(ContractBase):
    """Caps through the service, on this store: the organisation's default, a member's own,
    spends and holds against them, a new period, and threads spending at once.

    Needs: every repository.
    """

    def test_cap_refuses_the_spend_that_would_cross_it(self) -> None:
        """Under a cap of 100, spends up to 100 pass and the one that would cross it raises
        CapReached with the cap, the period's spend and the amount; nothing is written."""
        scenario = self._scenario(members=1, allowance=1000, allocate=500)
        service, org_id, store = scenario.service, scenario.org_id, scenario.store
        status = service.set_spend_cap("admin", org_id, 100)
        assert (status.cap, status.organisation_cap, status.member_cap) == (100, 100, None)
        service.spend("member-1", org_id, 60, generation_id="g-1")
        service.spend("member-1", org_id, 40, generation_id="g-2")
        before = self._accounts(store, org_id)
        with pytest.raises(CapReached) as refused:
            service.spend("member-1", org_id, 1, generation_id="g-3")
        assert (refused.value.cap, refused.value.spent, refused.value.requested) == (100, 100, 1)
        assert "100" in str(refused.value)
        assert self._accounts(store, org_id) == before
        assert len(self._transfers(store, org_id, TransferKind.SPEND)) == 2
        mine = service.spend_cap_status("member-1", org_id)
        assert (mine.cap, mine.counted, mine.room) == (100, 100, 0)
        assert service.reconcile(org_id) == []

    def test_cap_is_checked_before_the_balance_and_the_pool(self) -> None:
        """A spend that crosses the cap raises CapReached even where the member lacks the
        credits or the pool would cover them: a credit request would not help."""
        scenario = self._scenario(members=1, allowance=1000, allocate=50)
        service, org_id = scenario.service, scenario.org_id
        service.update_settings("admin", org_id, allow_pool_spend=True)
        service.set_spend_cap("admin", org_id, 70)
        with pytest.raises(CapReached):
            service.spend("member-1", org_id, 80, generation_id="g-1")
        # Within the cap the pool covers the shortfall as before.
        assert service.spend("member-1", org_id, 70, generation_id="g-2").amount == 70
        with pytest.raises(CapReached):
            service.spend("member-1", org_id, 1, generation_id="g-3")

    def test_member_cap_overrides_the_organisation_default(self) -> None:
        """A member's own cap wins over the default, either way; clearing it brings the
        default back."""
        scenario = self._scenario(members=2, allowance=1000, allocate=200)
        service, org_id = scenario.service, scenario.org_id
        service.set_spend_cap("admin", org_id, 10)
        service.set_spend_cap("admin", org_id, 50, user_id="member-1")
        assert service.spend("member-1", org_id, 50, generation_id="a").amount == 50
        with pytest.raises(CapReached):
            service.spend("member-2", org_id, 11, generation_id="b")
        service.set_spend_cap("admin", org_id, None, user_id="member-1")
        with pytest.raises(CapReached) as refused:
            service.spend("member-1", org_id, 1, generation_id="c")
        assert refused.value.cap == 10
        service.set_spend_cap("admin", org_id, None)
        assert service.spend("member-1", org_id, 1, generation_id="d").amount == 1
        assert service.spend_cap_status("admin", org_id, user_id="").cap is None

    def test_hold_counts_against_the_cap_and_its_release_gives_room_back(self) -> None:
        """A pending hold takes room under the cap; a spend that would pass the cap with it is
        refused; capturing part of it leaves the rest free again."""
        scenario = self._scenario(members=1, allowance=1000, allocate=500)
        service, org_id = scenario.service, scenario.org_id
        service.set_spend_cap("admin", org_id, 100)
        hold = service.reserve("member-1", org_id, 80, generation_id="h-1")
        with pytest.raises(CapReached) as refused:
            service.spend("member-1", org_id, 30, generation_id="s-1")
        assert refused.value.spent == 80
        with pytest.raises(CapReached):
            service.reserve("member-1", org_id, 21, generation_id="h-2")
        service.capture_hold("member-1", org_id, hold.id, 50)
        assert service.spend("member-1", org_id, 50, generation_id="s-2").amount == 50
        with pytest.raises(CapReached):
            service.spend("member-1", org_id, 1, generation_id="s-3")
        assert service.spend_cap_status("member-1", org_id).counted == 100
        assert service.reconcile(org_id) == []

    def test_new_period_starts_the_cap_again(self) -> None:
        """What a member spent last period does not count against this period's cap."""
        scenario = self._scenario(members=1, allowance=1000, allocate=500)
        service, org_id = scenario.service, scenario.org_id
        service.set_spend_cap("admin", org_id, 100)
        service.spend("member-1", org_id, 100, generation_id="g-1")
        with pytest.raises(CapReached):
            service.spend("member-1", org_id, 1, generation_id="g-2")
        scenario.clock.advance(timedelta(days=40))
        service.allocate_credits("admin", org_id, "member-1", 100)
        assert service.spend_cap_status("member-1", org_id).counted == 0
        assert service.spend("member-1", org_id, 100, generation_id="g-3").amount == 100
        with pytest.raises(CapReached):
            service.spend("member-1", org_id, 1, generation_id="g-4")

    def test_refund_gives_room_back_and_a_new_member_takes_the_default(self) -> None:
        """A refund of this period's spend frees room under the cap; a member who joins
        after the default was set is capped by it."""
        scenario = self._scenario(members=1, allowance=1000, allocate=500)
        service, org_id = scenario.service, scenario.org_id
        service.set_spend_cap("admin", org_id, 100)
        spent = service.spend("member-1", org_id, 100, generation_id="g-1")
        service.refund("admin", org_id, spent.id, 30)
        assert service.spend("member-1", org_id, 30, generation_id="g-2").amount == 30
        with pytest.raises(CapReached):
            service.spend("member-1", org_id, 1, generation_id="g-3")
        service.enrol("late", f"late@{scenario.domain}", email_verified=True)
        service.allocate_credits("admin", org_id, "late", 200)
        with pytest.raises(CapReached):
            service.spend("late", org_id, 101, generation_id="g-4")

    def test_cap_settings_are_checked(self) -> None:
        """Bad caps are refused with clear errors, members may not set caps or read
        another's, and nothing changes."""
        scenario = self._scenario(members=2, allowance=1000)
        service, org_id = scenario.service, scenario.org_id
        with pytest.raises(InvalidAmount, match="negative"):
            service.set_spend_cap("admin", org_id, -1)
        with pytest.raises(InvalidAmount):
            service.set_spend_cap("admin", org_id, 2**63)
        with pytest.raises(AmountTypeError):
            service.set_spend_cap("admin", org_id, True)
        with pytest.raises(PermissionDenied):
            service.set_spend_cap("member-1", org_id, 5)
        with pytest.raises(PermissionDenied):
            service.spend_cap_status("member-1", org_id, user_id="member-2")
        with pytest.raises(MemberNotFound):
            service.set_spend_cap("admin", org_id, 5, user_id="nobody")
        assert service.spend_cap_status("admin", org_id, user_id="member-1").cap is None
        assert service.set_spend_cap("admin", org_id, 0).cap == 0

    # ------------------------------------------------------------------ team caps

    def _teams(self, members: int = 3) -> tuple[Scenario, str, str]:
        """An organisation whose members hold 500 credits each, with two teams, Design
        (member-1 and member-2) and Sales (nobody); returns the scenario and the teams' ids."""
        scenario = self._scenario(members=members, allowance=5000, allocate=500)
        service, org_id = scenario.service, scenario.org_id
        design = service.create_team("admin", org_id, "Design").id
        sales = service.create_team("admin", org_id, "Sales").id
        for user in ("member-1", "member-2"):
            service.assign_team("admin", org_id, user, design)
        return scenario, design, sales

    def test_team_cap_bounds_its_members_and_no_one_else(self) -> None:
        """A team's cap, below the organisation's default, bounds each of its members (the
        spend that would cross it raises CapReached with the team's cap), not a member of no
        team; the status, the profile and the event say which cap applies."""
        scenario, design, _ = self._teams()
        service, org_id = scenario.service, scenario.org_id
        service.set_spend_cap("admin", org_id, 400)
        status = service.set_spend_cap("admin", org_id, 100, team_id=design)
        assert (status.team_cap, status.cap, status.team_id) == (100, 100, design)
        assert (status.organisation_cap, status.member_cap, status.user_id) == (400, None, None)
        service.spend("member-1", org_id, 100, generation_id="t-1")
        with pytest.raises(CapReached) as refused:
            service.spend("member-1", org_id, 1, generation_id="t-2")
        assert (refused.value.cap, refused.value.spent, refused.value.requested) == (100, 100, 1)
        with pytest.raises(CapReached):
            service.reserve("member-2", org_id, 101, generation_id="t-3")
        assert service.spend("member-3", org_id, 400, generation_id="t-4").amount == 400
        mine = service.spend_cap_status("member-1", org_id)
        assert (mine.cap, mine.team_cap, mine.team_id, mine.member_cap) == (100, 100, design, None)
        assert (mine.counted, mine.room) == (100, 0)
        credits = service.profile("member-2").credits
        assert credits is not None
        assert (credits.spend_cap, credits.cap_room) == (100, 100)
        alone = service.spend_cap_status("admin", org_id, team_id=design)
        assert (alone.team_cap, alone.cap, alone.counted) == (100, 100, 0)
        [event, *_] = service.audit_log("admin", org_id, names=["SpendCapSet"])
        assert event.payload == {"user_id": "", "cap": "100", "team_id": design}
        assert service.reconcile(org_id) == []

    def test_member_cap_overrides_the_team_cap(self) -> None:
        """A member's own cap wins over their team's, higher or lower; clearing it brings the
        team's cap back, not the organisation's default."""
        scenario, design, _ = self._teams()
        service, org_id = scenario.service, scenario.org_id
        service.set_spend_cap("admin", org_id, 1000)
        service.set_spend_cap("admin", org_id, 100, team_id=design)
        status = service.set_spend_cap("admin", org_id, 300, user_id="member-1")
        assert (status.member_cap, status.team_cap, status.cap) == (300, 100, 300)
        service.set_spend_cap("admin", org_id, 20, user_id="member-2")
        assert service.spend("member-1", org_id, 300, generation_id="o-1").amount == 300
        with pytest.raises(CapReached) as refused:
            service.spend("member-2", org_id, 21, generation_id="o-2")
        assert refused.value.cap == 20
        service.set_spend_cap("admin", org_id, None, user_id="member-2")
        assert service.spend("member-2", org_id, 100, generation_id="o-3").amount == 100
        with pytest.raises(CapReached) as refused:
            service.spend("member-2", org_id, 1, generation_id="o-4")
        assert refused.value.cap == 100
        # A team member's own cap survives a change of the team's.
        service.set_spend_cap("admin", org_id, 5, team_id=design)
        with pytest.raises(CapReached) as refused:
            service.spend("member-1", org_id, 1, generation_id="o-5")
        assert refused.value.cap == 300

    def test_a_member_who_leaves_the_team_leaves_its_cap(self) -> None:
        """Moving a member to another team gives them its cap (or the default when it has
        none); taking them out of every team, or removing them from the organisation and
        enrolling them again, gives them the organisation's default; moving in gives them
        the team's cap."""
        scenario, design, sales = self._teams()
        service, org_id = scenario.service, scenario.org_id
        service.set_spend_cap("admin", org_id, 200)
        service.set_spend_cap("admin", org_id, 10, team_id=design)
        with pytest.raises(CapReached):
            service.spend("member-1", org_id, 11, generation_id="m-1")
        service.assign_team("admin", org_id, "member-1", sales)  # Sales has no cap
        assert service.spend("member-1", org_id, 200, generation_id="m-2").amount == 200
        with pytest.raises(CapReached) as refused:
            service.spend("member-1", org_id, 1, generation_id="m-3")
        assert refused.value.cap == 200
        service.set_spend_cap("admin", org_id, 250, team_id=sales)
        assert service.spend("member-1", org_id, 50, generation_id="m-4").amount == 50
        service.assign_team("admin", org_id, "member-2", None)
        assert service.spend("member-2", org_id, 200, generation_id="m-5").amount == 200
        assert service.spend_cap_status("member-2", org_id).team_cap is None
        service.assign_team("admin", org_id, "member-3", design)
        with pytest.raises(CapReached) as refused:
            service.spend("member-3", org_id, 11, generation_id="m-6")
        assert refused.value.cap == 10
        # Removed from the organisation while in Design, enrolled again: the default.
        service.remove_member("admin", org_id, "member-3")
        service.enrol("member-3", f"member-3@{scenario.domain}", email_verified=True)
        service.allocate_credits("admin", org_id, "member-3", 300)
        assert service.spend("member-3", org_id, 200, generation_id="m-7").amount == 200
        with pytest.raises(CapReached) as refused:
            service.spend("member-3", org_id, 1, generation_id="m-8")
        assert refused.value.cap == 200
        # Design has nobody left (and member-3's returned credits go back to the pool): it
        # can go, and caps no one.
        service.assign_team("admin", org_id, "member-1", None)
        service.reclaim_team_budget("admin", org_id, design, 500)
        service.delete_team("admin", org_id, design)
        assert service.spend_cap_status("admin", org_id, user_id="member-1").cap == 200
        assert service.reconcile(org_id) == []

    def test_changing_the_team_cap_rewrites_every_members_cap(self) -> None:
        """Lowering a team's cap below what its members spent refuses their next spend;
        clearing it brings the default back; the organisation's default changes leave a
        team member under their team's cap."""
        scenario, design, _ = self._teams()
        service, org_id = scenario.service, scenario.org_id
        service.set_spend_cap("admin", org_id, 100, team_id=design)
        for user in ("member-1", "member-2"):
            service.spend(user, org_id, 60, generation_id=f"r-{user}")
        service.set_spend_cap("admin", org_id, 50, team_id=design)
        for user in ("member-1", "member-2"):
            with pytest.raises(CapReached) as refused:
                service.spend(user, org_id, 1, generation_id=f"r-{user}-again")
            assert (refused.value.cap, refused.value.spent) == (50, 60)
        service.set_spend_cap("admin", org_id, 70)  # the default, above the team's
        with pytest.raises(CapReached) as refused:
            service.spend("member-1", org_id, 1, generation_id="r-3")
        assert refused.value.cap == 50
        assert service.spend("member-3", org_id, 70, generation_id="r-4").amount == 70
        status = service.set_spend_cap("admin", org_id, None, team_id=design)
        assert (status.team_cap, status.cap) == (None, 70)
        assert service.spend("member-2", org_id, 10, generation_id="r-5").amount == 10
        with pytest.raises(CapReached) as refused:
            service.spend("member-2", org_id, 1, generation_id="r-6")
        assert refused.value.cap == 70
        service.set_spend_cap("admin", org_id, None)
        assert service.spend("member-1", org_id, 300, generation_id="r-7").amount == 300
        assert service.reconcile(org_id) == []

    def test_team_cap_settings_are_checked(self) -> None:
        """A cap for a member and a team at once is InvalidInput, an unknown team
        TeamNotFound, and a team's delegated manager may neither set their team's cap nor
        read it alone; nothing is written."""
        scenario, design, _ = self._teams()
        service, org_id = scenario.service, scenario.org_id
        service.delegate_team("admin", org_id, "member-1")
        before = len(service.audit_log("admin", org_id, limit=500))
        with pytest.raises(InvalidInput, match="not both"):
            service.set_spend_cap("admin", org_id, 5, user_id="member-2", team_id=design)
        with pytest.raises(InvalidInput, match="not both"):
            service.spend_cap_status("admin", org_id, user_id="member-2", team_id=design)
        with pytest.raises(TeamNotFound):
            service.set_spend_cap("admin", org_id, 5, team_id="no-such-team")
        with pytest.raises(TeamNotFound):
            service.spend_cap_status("admin", org_id, team_id="no-such-team")
        with pytest.raises(PermissionDenied):
            service.set_spend_cap("member-1", org_id, 5, team_id=design)
        with pytest.raises(PermissionDenied):
            service.spend_cap_status("member-1", org_id, team_id=design)
        assert len(service.audit_log("admin", org_id, limit=500)) == before
        assert service.spend_cap_status("admin", org_id, team_id=design).team_cap is None
        assert service.spend("member-2", org_id, 500, generation_id="free").amount == 500

    # ------------------------------------------------------------------ races

    def test_concurrent_spends_never_pass_the_cap(self) -> None:
        """Threads spending from one member at once under a cap below the balance: the
        period's spend ends exactly at the cap, never past it; every other spend raises
        CapReached."""
        cost, rounds = self.race_spend, self.race_spends_per_thread
        budget = self.race_budget
        cap = budget // 2
        scenario = self._scenario(members=1, allowance=budget, allocate=budget)
        service, org_id, store = self._service(scenario), scenario.org_id, scenario.store
        service.set_spend_cap("admin", org_id, cap)

        def spend_many(thread: int) -> tuple[int, int]:
            spent = refused = 0
            for i in range(rounds):
                try:
                    service.spend("member-1", org_id, cost, generation_id=f"cap-{thread}-{i}")
                except CapReached:
                    refused += 1
                except InsufficientCredits:  # pragma: no cover - the cap comes first
                    raise
                else:
                    spent += 1
            return spent, refused

        tallies = self._race(spend_many)
        attempts = self.threads * rounds
        expected = min(attempts, cap // cost)
        assert sum(s for s, _ in tallies) == expected
        assert sum(r for _, r in tallies) == attempts - expected
        assert self._account(store, org_id, USAGE).balance == expected * cost <= cap
        account = self._account(store, org_id, member_account("member-1"))
        assert account.available == budget - expected * cost
        assert service.spend_cap_status("member-1", org_id).counted == expected * cost
        assert service.reconcile(org_id) == []

    def test_concurrent_spends_and_holds_never_pass_the_cap(self) -> None:
        """Half the threads spend, half reserve, against one cap: spent plus held never
        passes it."""
        cost, rounds = self.race_spend, max(1, self.race_spends_per_thread // 2)
        cap = self.race_budget // 3
        scenario = self._scenario(members=1, allowance=1000, allocate=1000)
        service, org_id = self._service(scenario), scenario.org_id
        service.set_spend_cap("admin", org_id, cap)

        def act(thread: int) -> int:
            done = 0
            for i in range(rounds):
                key = f"mix-{thread}-{i}"
                try:
                    if thread % 2:
                        service.reserve("member-1", org_id, cost, generation_id=key)
                    else:
                        service.spend("member-1", org_id, cost, generation_id=key)
                except CapReached:
                    continue
                done += 1
            return done

        done = sum(self._race(act))
        assert done == min(self.threads * rounds, cap // cost)
        status = service.spend_cap_status("member-1", org_id)
        assert status.counted == done * cost <= cap
        assert service.reconcile(org_id) == []

    def test_lowering_the_cap_while_members_spend_is_never_passed(self) -> None:
        """An admin lowering the cap while threads spend: every spend committed after the new
        cap keeps the period's spend within it."""
        cost = self.race_spend
        scenario = self._scenario(members=1, allowance=1000, allocate=1000)
        service, org_id = self._service(scenario), scenario.org_id
        service.set_spend_cap("admin", org_id, 1000)
        low = 10 * cost

        def act(thread: int) -> int:
            if thread == 0:
                service.set_spend_cap("admin", org_id, low)
                return 0
            done = 0
            for i in range(self.race_spends_per_thread):
                try:
                    service.spend("member-1", org_id, cost, generation_id=f"low-{thread}-{i}")
                except CapReached:
                    continue
                done += 1
            return done

        done = sum(self._race(act))
        counted = service.spend_cap_status("member-1", org_id).counted
        assert counted == done * cost
        # Spends before the change may have used more than the new cap; none came after it.
        with pytest.raises(CapReached):
            service.spend("member-1", org_id, cost, generation_id="after")
        assert service.reconcile(org_id) == []
