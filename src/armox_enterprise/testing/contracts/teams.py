"""The teams contract: the repository's rules (one team per name, one team per member) and
the service's team use cases on the store (budgets, allocations from a team, refusals that
write nothing, removal, rollover, deletion, the delegated manager)."""

from __future__ import annotations

import attrs
import pytest

from armox_enterprise.domain.ledger import POOL, TransferKind, member_account, team_account
from armox_enterprise.domain.organisation import MemberRemainder, RolloverPolicy
from armox_enterprise.domain.periods import period_at
from armox_enterprise.domain.teams import Team, TeamMember
from armox_enterprise.domain.values import MAX_CREDITS, new_id
from armox_enterprise.exceptions import (
    AlreadyExists,
    CreditRequestNotFound,
    InsufficientCredits,
    InsufficientPoolCredits,
    InsufficientTeamCredits,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    TeamNotFound,
)
from armox_enterprise.ports import Store
from armox_enterprise.testing.contracts.base import T0, ContractBase, a_membership, at

__all__ = ["TeamContract", "TeamServiceContract"]


class TeamContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.TeamRepository`.

    Needs: organisations, memberships (an assignment names a membership) and teams.
    """

    def _with_team(self, *users: str) -> tuple[Store, str, Team]:
        store, org_id = self._with_organisation()
        team = Team(org_id, new_id(T0), "Design", T0)
        with store.unit_of_work() as uow:
            for minutes, user in enumerate(users):
                uow.memberships.add(a_membership(org_id, user, minutes=minutes))
            uow.teams.add(team)
            uow.commit()
        return store, org_id, team

    def test_team_add_get_list_update(self) -> None:
        """A team reads back; teams list by name; an update (a new name) keeps the id."""
        store, org_id, design = self._with_team()
        sales = Team(org_id, new_id(at(1)), "sales", at(1))
        with store.unit_of_work() as uow:
            uow.teams.add(sales)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.teams.get(org_id, design.id) == design
            assert uow.teams.get(org_id, "nope") is None
            assert [t.name for t in uow.teams.list(org_id)] == ["Design", "sales"]
            uow.teams.update(attrs.evolve(design, name="Zeta"))
            uow.commit()
        with store.unit_of_work() as uow:
            assert [t.name for t in uow.teams.list(org_id)] == ["sales", "Zeta"]
            assert uow.teams.get(org_id, design.id) == attrs.evolve(design, name="Zeta")

    def test_one_team_per_name_case_folded(self) -> None:
        """A second team of one name (in any case) is AlreadyExists, and so is a rename to
        another team's name; nothing is written."""
        store, org_id, _ = self._with_team()
        with store.unit_of_work() as uow, pytest.raises(AlreadyExists):
            uow.teams.add(Team(org_id, new_id(at(1)), "DESIGN", at(1)))
        sales = Team(org_id, new_id(at(2)), "Sales", at(2))
        with store.unit_of_work() as uow:
            uow.teams.add(sales)
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(AlreadyExists):
            uow.teams.update(attrs.evolve(sales, name="design"))
        with store.unit_of_work() as uow:
            assert [t.name for t in uow.teams.list(org_id)] == ["Design", "Sales"]
            with pytest.raises(NotFound):
                uow.teams.update(Team(org_id, "missing", "Other", T0))

    def test_a_team_keeps_its_cap(self) -> None:
        """A team's cap is stored by add and by update, as any value a cap may take (0 and
        MAX_CREDITS included) and back to None; an update changes the name and the cap
        together and nothing of another team."""
        store, org_id, design = self._with_team()
        sales = Team(org_id, new_id(at(1)), "Sales", at(1), spend_cap=250)
        with store.unit_of_work() as uow:
            uow.teams.add(sales)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.teams.get(org_id, sales.id) == sales
            assert uow.teams.get(org_id, design.id) == design
            assert design.spend_cap is None
        for cap in (0, MAX_CREDITS, 75, None):
            with store.unit_of_work() as uow:
                uow.teams.update(attrs.evolve(design, spend_cap=cap))
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.teams.get(org_id, design.id) == attrs.evolve(design, spend_cap=cap)
        both = attrs.evolve(sales, name="Field sales", spend_cap=None)
        with store.unit_of_work() as uow:
            uow.teams.update(both)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.teams.list(org_id) == [design, both]

    def test_a_member_has_one_team(self) -> None:
        """Assigning a member again moves them (one row per member); unassigning removes it;
        a missing team is NotFound."""
        store, org_id, design = self._with_team("ann", "bob")
        sales = Team(org_id, new_id(at(1)), "Sales", at(1))
        with store.unit_of_work() as uow:
            uow.teams.add(sales)
            uow.teams.assign(TeamMember(org_id, "ann", design.id))
            uow.teams.assign(TeamMember(org_id, "bob", design.id, manager=True))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.teams.assign(TeamMember(org_id, "ann", sales.id))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.teams.assignment(org_id, "ann") == TeamMember(org_id, "ann", sales.id)
            assert uow.teams.members(org_id, design.id) == [
                TeamMember(org_id, "bob", design.id, manager=True)
            ]
            assert uow.teams.members(org_id, sales.id) == [TeamMember(org_id, "ann", sales.id)]
            with pytest.raises(NotFound):
                uow.teams.assign(TeamMember(org_id, "ann", "missing"))
        with store.unit_of_work() as uow:
            uow.teams.unassign(org_id, "ann")
            uow.teams.unassign(org_id, "nobody")
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.teams.assignment(org_id, "ann") is None
            assert uow.teams.members(org_id, sales.id) == []

    def test_a_team_with_members_is_not_deleted(self) -> None:
        """Deleting a team with an assignment is refused; an empty one goes."""
        store, org_id, design = self._with_team("ann")
        with store.unit_of_work() as uow:
            uow.teams.assign(TeamMember(org_id, "ann", design.id))
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(InvalidTransition):
            uow.teams.delete(org_id, design.id)
        with store.unit_of_work() as uow:
            assert uow.teams.get(org_id, design.id) == design
            uow.teams.unassign(org_id, "ann")
            uow.teams.delete(org_id, design.id)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.teams.get(org_id, design.id) is None
            with pytest.raises(NotFound):
                uow.teams.delete(org_id, design.id)


class TeamServiceContract(ContractBase):
    """The team use cases of :class:`~armox_enterprise.EnterpriseService` on the store.

    Needs: every repository.
    """

    def test_team_budget_funds_its_members_only(self) -> None:
        """Pool → team → member: a team member's allocation debits the team's budget, a
        member with no team keeps the pool; reclaims go back where the credits came from;
        an overdraft of the team is refused and writes nothing."""
        scenario = self._scenario(members=2, allowance=1000)
        svc, org, store = scenario.service, scenario.org_id, scenario.store
        team = svc.create_team("admin", org, "Design")
        svc.assign_team("admin", org, "member-1", team.id)
        svc.fund_team("admin", org, team.id, 300)
        svc.allocate_credits("admin", org, "member-1", 200)
        svc.allocate_credits("admin", org, "member-2", 50)
        budget = team_account(team.id)
        assert self._account(store, org, budget).available == 100
        assert self._account(store, org, POOL).available == 1000 - 300 - 50
        before = self._accounts(store, org)
        with pytest.raises(InsufficientTeamCredits) as refused:
            svc.allocate_credits("admin", org, "member-1", 101)
        assert (refused.value.available, refused.value.requested) == (100, 101)
        with pytest.raises(InsufficientPoolCredits):
            svc.fund_team("admin", org, team.id, 651)
        assert self._accounts(store, org) == before
        svc.reclaim_credits("admin", org, "member-1", 20)
        svc.reclaim_team_budget("admin", org, team.id, 120)
        assert self._account(store, org, budget).available == 0
        assert self._account(store, org, POOL).available == 1000 - 300 - 50 + 120
        allocations = self._transfers(store, org, TransferKind.ALLOCATE)
        assert [(t.debit_account, t.amount) for t in allocations] == [(budget, 200), (POOL, 50)]
        [reclaim] = self._transfers(store, org, TransferKind.RECLAIM)
        assert reclaim.credit_account == budget
        assert svc.reconcile(org) == []

    def test_team_names_and_deletion(self) -> None:
        """Names are unique; a team with members or credits is not deleted; an empty one is,
        and its closed budget takes no funding."""
        scenario = self._scenario(members=1)
        svc, org = scenario.service, scenario.org_id
        team = svc.create_team("admin", org, "Design")
        with pytest.raises(AlreadyExists):
            svc.create_team("admin", org, "design")
        svc.assign_team("admin", org, "member-1", team.id)
        svc.fund_team("admin", org, team.id, 10)
        with pytest.raises(InvalidTransition, match="member"):
            svc.delete_team("admin", org, team.id)
        svc.assign_team("admin", org, "member-1", None)
        with pytest.raises(InvalidTransition, match="credits"):
            svc.delete_team("admin", org, team.id)
        svc.reclaim_team_budget("admin", org, team.id, 10)
        renamed = svc.rename_team("admin", org, team.id, "Studio")
        assert svc.list_teams("admin", org) == [renamed]
        svc.delete_team("admin", org, team.id)
        assert svc.list_teams("admin", org) == []
        with pytest.raises(TeamNotFound):
            svc.fund_team("admin", org, team.id, 1)
        with pytest.raises(TeamNotFound):
            svc.assign_team("admin", org, "member-1", team.id)
        assert svc.reconcile(org) == []

    def test_removal_returns_credits_to_the_team(self) -> None:
        """A removed member's credits go back to their team's budget, and they leave it."""
        scenario = self._scenario(members=2, allowance=500)
        svc, org, store = scenario.service, scenario.org_id, scenario.store
        team = svc.create_team("admin", org, "Design")
        svc.assign_team("admin", org, "member-1", team.id)
        svc.fund_team("admin", org, team.id, 100)
        svc.allocate_credits("admin", org, "member-1", 60)
        svc.spend("member-1", org, 15, generation_id="gen-1")
        svc.remove_member("admin", org, "member-1")
        assert self._account(store, org, team_account(team.id)).available == 85
        assert svc.team_members("admin", org, team.id) == []
        [returned] = self._transfers(store, org, TransferKind.RETURN)
        assert (returned.debit_account, returned.credit_account, returned.amount) == (
            member_account("member-1"),
            team_account(team.id),
            45,
        )
        assert svc.reconcile(org) == []

    def test_a_closing_period_returns_team_budgets_to_the_pool(self) -> None:
        """At the close a team's remainder goes to the pool before its cap; a member's
        remainder under "return to pool" goes to their team, which keeps it."""
        scenario = self._scenario(members=2, allowance=100)
        svc, org, store = scenario.service, scenario.org_id, scenario.store
        svc.update_settings(
            "admin",
            org,
            rollover=RolloverPolicy(1_000, MemberRemainder.RETURN_TO_POOL),
        )
        team = svc.create_team("admin", org, "Design")
        svc.assign_team("admin", org, "member-1", team.id)
        svc.fund_team("admin", org, team.id, 70)
        svc.allocate_credits("admin", org, "member-1", 30)
        svc.allocate_credits("admin", org, "member-2", 10)
        anchor = scenario.organisation.cycle_anchor
        now = scenario.clock.now()
        scenario.clock.advance(days=40)
        assert period_at(anchor, scenario.clock.now()).index == period_at(anchor, now).index + 1
        svc.close_due_periods()
        # The team's 40 went to the pool; member-1's 30 came back to the team.
        assert self._account(store, org, team_account(team.id)).available == 30
        assert self._account(store, org, POOL).available == 100 - 70 - 10 + 40 + 10 + 100
        defunded = self._transfers(store, org, TransferKind.DEFUND_TEAM)
        assert [t.amount for t in defunded] == [40]
        assert svc.reconcile(org) == []

    def test_a_delegated_manager_runs_their_team_only(self) -> None:
        """A member delegated a team allocates from its budget to its members, reclaims from
        them and approves their requests from the budget; outside their team, and for
        admin-only calls, they are refused and nothing is written."""
        scenario = self._scenario(members=3, allowance=1000)
        svc, org, store = scenario.service, scenario.org_id, scenario.store
        team = svc.create_team("admin", org, "Design")
        for user in ("member-1", "member-2"):
            svc.assign_team("admin", org, user, team.id)
        svc.fund_team("admin", org, team.id, 100)
        with pytest.raises(PermissionDenied):
            svc.allocate_credits("member-1", org, "member-2", 10)
        svc.delegate_team("admin", org, "member-1")
        svc.allocate_credits("member-1", org, "member-2", 10)
        svc.reclaim_credits("member-1", org, "member-2", 4)
        request = svc.request_credits("member-2", org, 25)
        svc.approve_request("member-1", org, request.id)
        assert self._account(store, org, team_account(team.id)).available == 100 - 10 + 4 - 25
        before = self._accounts(store, org)
        with pytest.raises(PermissionDenied):
            svc.allocate_credits("member-1", org, "member-3", 10)
        with pytest.raises(PermissionDenied):
            svc.fund_team("member-1", org, team.id, 10)
        outsider = svc.request_credits("member-3", org, 5)
        with pytest.raises(CreditRequestNotFound):
            svc.approve_request("member-1", org, outsider.id)
        assert self._accounts(store, org) == before
        svc.delegate_team("admin", org, "member-1", manager=False)
        with pytest.raises(PermissionDenied):
            svc.allocate_credits("member-1", org, "member-2", 1)
        assert svc.reconcile(org) == []

    def test_a_team_manager_reaches_their_teams_requests_only(self) -> None:
        """A team's manager lists the pending requests of their team's members (theirs
        included) and decides them; another team's member's request, or one of a member
        with no team, does not exist for them (approving, rejecting or cancelling it answers
        as an unknown id does, and writes nothing); an admin reaches every request, a member
        only their own, and a member who manages no team is refused before any lookup."""
        scenario = self._scenario(members=4, allowance=1000)
        svc, org, store = scenario.service, scenario.org_id, scenario.store
        design = svc.create_team("admin", org, "Design")
        audit = svc.create_team("admin", org, "Audit")
        for user, team in (("member-1", design), ("member-2", design), ("member-3", audit)):
            svc.assign_team("admin", org, user, team.id)
        svc.fund_team("admin", org, design.id, 100)
        svc.fund_team("admin", org, audit.id, 100)
        svc.delegate_team("admin", org, "member-1")
        own = svc.request_credits("member-1", org, 1)
        mate = svc.request_credits("member-2", org, 2)
        other = svc.request_credits("member-3", org, 3)
        loner = svc.request_credits("member-4", org, 4)
        assert svc.list_requests("member-1", org) == [own, mate]
        assert svc.list_requests("member-1", org, status=None) == [own, mate]
        assert svc.list_requests("member-2", org) == [mate]
        assert svc.list_requests("admin", org) == [own, mate, other, loner]
        before = self._accounts(store, org)
        unknown = new_id(T0)
        with pytest.raises(CreditRequestNotFound) as missing:
            svc.approve_request("member-1", org, unknown)
        for hidden in (other, loner):
            with pytest.raises(CreditRequestNotFound) as refused:
                svc.approve_request("member-1", org, hidden.id)
            assert str(refused.value).replace(hidden.id, unknown) == str(missing.value)
            with pytest.raises(CreditRequestNotFound):
                svc.reject_request("member-1", org, hidden.id)
            with pytest.raises(CreditRequestNotFound):
                svc.cancel_request("member-1", org, hidden.id)
        with pytest.raises(PermissionDenied):
            svc.approve_request("member-3", org, other.id)
        with pytest.raises(PermissionDenied):
            svc.reject_request("member-2", org, unknown)
        assert self._accounts(store, org) == before
        assert svc.list_requests("admin", org) == [own, mate, other, loner]
        svc.reject_request("member-1", org, mate.id)
        assert svc.list_requests("member-1", org) == [own]
        assert [r.id for r in svc.list_requests("member-1", org, status=None)] == [own.id, mate.id]
        svc.approve_request("admin", org, other.id)
        svc.approve_request("admin", org, loner.id)
        assert self._account(store, org, team_account(audit.id)).available == 100 - 3
        assert svc.reconcile(org) == []

    def test_a_pool_covered_spend_of_a_team_member_draws_on_the_team(self) -> None:
        """Where the organisation lets spends be covered (``allow_pool_spend``), a team
        member's shortfall comes from the team's budget, the pool untouched; a budget too
        short refuses the spend (InsufficientCredits) and writes nothing; a member with no
        team is covered by the pool."""
        scenario = self._scenario(members=2, allowance=1000, allocate=10)
        svc, org, store = scenario.service, scenario.org_id, scenario.store
        svc.update_settings("admin", org, allow_pool_spend=True)
        team = svc.create_team("admin", org, "Design")
        svc.assign_team("admin", org, "member-1", team.id)
        svc.fund_team("admin", org, team.id, 25)
        budget = team_account(team.id)
        pool = self._account(store, org, POOL).balance
        assert svc.spend("member-1", org, 30, generation_id="p-1").amount == 30
        assert self._account(store, org, budget).balance == 25 - 20
        assert self._account(store, org, POOL).balance == pool
        before = self._accounts(store, org)
        with pytest.raises(InsufficientCredits):
            svc.spend("member-1", org, 6, generation_id="p-2")
        assert self._accounts(store, org) == before
        assert svc.spend("member-2", org, 15, generation_id="p-3").amount == 15
        assert self._account(store, org, POOL).balance == pool - 5
        assert svc.reconcile(org) == []

    def test_a_team_members_standing_allotment_comes_from_the_pool(self) -> None:
        """At a period's opening every standing allotment, a team member's too, is issued
        from the pool (decision 32): the team's budget, swept to the pool at the close, is
        not drawn on, and a team member's allotment is not reported short for it."""
        scenario = self._scenario(members=2, allowance=100)
        svc, org, store = scenario.service, scenario.org_id, scenario.store
        team = svc.create_team("admin", org, "Design")
        svc.assign_team("admin", org, "member-1", team.id)
        svc.fund_team("admin", org, team.id, 50)
        svc.set_standing_allotment("admin", org, "member-1", 20)
        svc.set_standing_allotment("admin", org, "member-2", 30)
        scenario.clock.advance(days=40)
        svc.close_due_periods()
        allots = self._transfers(store, org, TransferKind.ALLOT)
        assert sorted((t.debit_account, t.credit_account, t.amount) for t in allots) == [
            (POOL, member_account("member-1"), 20),
            (POOL, member_account("member-2"), 30),
        ]
        assert self._account(store, org, team_account(team.id)).available == 0
        assert svc.audit_log("admin", org, names=["AllotmentShortfall"]) == []
        assert svc.reconcile(org) == []

    def test_dashboard_and_profile_show_the_team(self) -> None:
        """The dashboard lists each team with its budget, what it allocated to its members,
        what they used and what it has left; a team member's profile names the team and
        what its budget has left; the member table is unchanged."""
        scenario = self._scenario(members=2, allowance=1000)
        svc, org = scenario.service, scenario.org_id
        design = svc.create_team("admin", org, "Design")
        svc.create_team("admin", org, "Audit")
        svc.assign_team("admin", org, "member-1", design.id)
        svc.fund_team("admin", org, design.id, 300)
        svc.allocate_credits("admin", org, "member-1", 200)
        svc.spend("member-1", org, 50, generation_id="gen-1")
        svc.reclaim_credits("admin", org, "member-1", 20)
        board = svc.dashboard("admin", org)
        rows = [
            (t.name, t.members, t.budget, t.allocated, t.used, t.remaining) for t in board.teams
        ]
        assert rows == [("Audit", 0, 0, 0, 0, 0), ("Design", 1, 300, 180, 50, 120)]
        [member] = [m for m in board.members if m.user_id == "member-1"]
        assert (member.allocated, member.used, member.remaining) == (200, 50, 130)
        assert board.pool.unallocated == 1000 - 300
        mine = svc.profile("member-1")
        assert (mine.team, mine.team_remaining) == ("Design", 120)
        other = svc.profile("member-2")
        assert (other.team, other.team_remaining) == (None, None)
