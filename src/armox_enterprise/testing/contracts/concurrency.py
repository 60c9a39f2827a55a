"""The concurrency contract: races run from several threads at once.

A race proves something only on a store whose units of work really overlap.  The SQLAlchemy
store's do on PostgreSQL and MariaDB; SQLite and :class:`~armox_enterprise.MemoryStore` run
one writing unit of work at a time (a database lock, one lock per store), so a repository that
checks and then writes would pass there and fail on a server.  Run these cases on the store
you ship, and on a :class:`~armox_enterprise.testing.ComposedStore` when you prove one
repository at a time: its units of work use the base store only when they need it, so a
race between replacements is a real race.

The repository races use the ports directly and need organisations plus the one repository
they name; the service races drive :class:`~armox_enterprise.EnterpriseService` and need every
repository.  A race case retries a unit of work that meets a transient storage error, up to
``max_attempts`` times, as the service does.
"""

from __future__ import annotations

import attrs

from armox_enterprise.domain.ledger import (
    GRANT,
    POOL,
    USAGE,
    Hold,
    Transfer,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.organisation import DomainClaim, JoinRequest, JoinRequestStatus, Role
from armox_enterprise.domain.periods import period_at
from armox_enterprise.domain.requests import CreditRequest
from armox_enterprise.domain.values import DomainName, EmailAddress, new_id
from armox_enterprise.exceptions import (
    AlreadyMember,
    DomainAlreadyClaimed,
    DuplicateIdempotencyKey,
    HoldAlreadyResolved,
    InsufficientCredits,
    InvalidTransition,
)
from armox_enterprise.ports import IdempotencyRecord, Store
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    a_hold,
    a_membership,
    a_request,
    a_transfer,
    at,
)

__all__ = ["ConcurrencyContract", "RepositoryRaceContract", "ServiceRaceContract"]


class RepositoryRaceContract(ContractBase):
    """Races on the ports: each guard of an invariant holds when units of work overlap.

    Needs: organisations, and in each case the one repository it names (memberships, domains,
    join requests, the ledger, holds, credit requests, idempotency).
    """

    def _organisations(self, store: Store) -> list[str]:
        """Add one organisation per racing thread; return their ids."""
        return [self._organisation_in(store, name=f"Org {i}") for i in range(self.threads)]

    def test_concurrent_memberships_of_one_user_keep_one(self) -> None:
        """Organisations adding one user at once: exactly one membership commits, the others
        get AlreadyMember, and the user is a member of the winner's organisation only."""
        store = self.make_store()
        orgs = self._organisations(store)
        winners = self._race_to_commit(
            store,
            lambda uow, i: uow.memberships.add(a_membership(orgs[i], "ann", minutes=i)),
            AlreadyMember,
        )
        assert len(winners) == 1, f"{len(winners)} memberships of one user committed"
        [won] = winners
        with store.unit_of_work() as uow:
            assert uow.memberships.active_for_user("ann") == a_membership(
                orgs[won], "ann", minutes=won
            )
            assert [o for o in orgs if uow.memberships.get(o, "ann") is not None] == [orgs[won]]

    def test_concurrent_claims_of_one_domain_keep_one(self) -> None:
        """Organisations claiming one domain at once: exactly one claim commits, the others get
        DomainAlreadyClaimed, and the stored claim is the winner's."""
        store = self.make_store()
        orgs = self._organisations(store)
        domain = DomainName.parse("contested.example")
        claims = [DomainClaim(domain, org, f"token-{i}", at(i)) for i, org in enumerate(orgs)]
        winners = self._race_to_commit(
            store, lambda uow, i: uow.domains.add(claims[i]), DomainAlreadyClaimed
        )
        assert len(winners) == 1, f"{len(winners)} claims of one domain committed"
        [won] = winners
        with store.unit_of_work() as uow:
            assert uow.domains.get(domain) == claims[won]
            assert [o for o in orgs if uow.domains.list(o)] == [orgs[won]]

    def test_concurrent_decisions_of_one_join_request_keep_one(self) -> None:
        """Admins deciding one join request at once: exactly one decision commits, the others
        get InvalidTransition, and the stored request is the winner's decision."""
        store, org_id = self._with_organisation()
        email = EmailAddress.parse("x@acme.example")
        request = JoinRequest(new_id(T0), org_id, "x", email, "X", T0)
        with store.unit_of_work() as uow:
            uow.join_requests.add(request)
            uow.commit()
        decisions = [
            attrs.evolve(
                request,
                status=JoinRequestStatus.APPROVED if i % 2 else JoinRequestStatus.REJECTED,
                decided_by=f"admin-{i}",
                decided_at=at(i + 1),
            )
            for i in range(self.threads)
        ]
        winners = self._race_to_commit(
            store, lambda uow, i: uow.join_requests.update(decisions[i]), InvalidTransition
        )
        assert len(winners) == 1, f"{len(winners)} decisions of one join request committed"
        with store.unit_of_work() as uow:
            assert uow.join_requests.get(org_id, request.id) == decisions[winners[0]]
            assert uow.join_requests.list_pending(org_id) == []

    def test_concurrent_posts_never_overdraw_an_account(self) -> None:
        """Threads posting spends from one member account at once succeed exactly as often as
        its balance allows; every other post raises InsufficientCredits and writes nothing."""
        budget, cost, rounds = self.race_budget, self.race_spend, self.race_spends_per_thread
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, budget))
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, budget))
            uow.commit()

        def post(transfer: Transfer) -> bool:
            try:
                self._committed(store, lambda uow: uow.ledger.post(transfer))
            except InsufficientCredits:
                return False
            return True

        def spend_many(thread: int) -> int:
            spends = (
                a_transfer(org_id, TransferKind.SPEND, ann, USAGE, cost, minutes=1 + i)
                for i in range(rounds)
            )
            return sum(post(spend) for spend in spends)

        spent = sum(self._race(spend_many))
        expected = min(self.threads * rounds, budget // cost)
        assert spent == expected
        assert self._account(store, org_id, ann).available == budget - expected * cost
        assert self._account(store, org_id, USAGE).balance == expected * cost
        assert len(self._transfers(store, org_id, TransferKind.SPEND)) == expected

    def test_concurrent_posts_of_one_generation_id_keep_one(self) -> None:
        """Threads posting spends under one generation id at once: exactly one commits, the
        others get DuplicateIdempotencyKey, and the account is debited once."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100))
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 100))
            uow.commit()
        spends = [
            attrs.evolve(
                a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 1 + i % 10, minutes=1),
                idempotency_key="same-generation",
            )
            for i in range(self.threads)
        ]
        winners = self._race_to_commit(
            store, lambda uow, i: uow.ledger.post(spends[i]), DuplicateIdempotencyKey
        )
        assert len(winners) == 1, f"{len(winners)} spends of one generation id committed"
        won = spends[winners[0]]
        with store.unit_of_work() as uow:
            assert uow.ledger.transfer_by_key(org_id, "same-generation") == won
        assert self._transfers(store, org_id, TransferKind.SPEND) == [won]
        assert self._account(store, org_id, ann).available == 100 - won.amount

    def test_concurrent_resolves_of_one_hold_keep_one(self) -> None:
        """Threads capturing and releasing one hold at once: exactly one resolution commits,
        the others get HoldAlreadyResolved, and the stored hold is the winner's."""
        store, org_id = self._with_organisation()
        hold = a_hold(org_id, "ann", 30)
        with store.unit_of_work() as uow:
            uow.holds.add(hold)
            uow.commit()
        resolutions = [
            hold.release(at(i + 1)) if i % 2 else hold.capture(1 + i % 30, at(i + 1))
            for i in range(self.threads)
        ]
        winners = self._race_to_commit(
            store, lambda uow, i: uow.holds.resolve(resolutions[i]), HoldAlreadyResolved
        )
        assert len(winners) == 1, f"{len(winners)} resolutions of one hold committed"
        with store.unit_of_work() as uow:
            assert uow.holds.get(org_id, hold.id) == resolutions[winners[0]]
            assert uow.holds.pending(org_id) == []

    def test_concurrent_decisions_of_one_credit_request_keep_one(self) -> None:
        """Admins and the requester deciding one credit request at once: exactly one decision
        commits, the others get InvalidTransition, and the stored request is the winner's."""
        store, org_id = self._with_organisation()
        request = a_request(org_id, "ann", 50)
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.commit()
        decisions = [
            (
                request.approve(f"admin-{i}", at(i + 1), 50, f"thread {i}"),
                request.reject(f"admin-{i}", at(i + 1), f"thread {i}"),
                request.cancel("ann", at(i + 1)),
            )[i % 3]
            for i in range(self.threads)
        ]
        winners = self._race_to_commit(
            store, lambda uow, i: uow.requests.decide(decisions[i]), InvalidTransition
        )
        assert len(winners) == 1, f"{len(winners)} decisions of one credit request committed"
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == decisions[winners[0]]

    def test_concurrent_adds_of_one_idempotency_key_keep_one(self) -> None:
        """Threads adding one idempotency key at once: exactly one record commits, the others
        get DuplicateIdempotencyKey, and the stored record is the winner's."""
        store, org_id = self._with_organisation()
        records = [
            IdempotencyRecord(org_id, "same-key", "spend", f"thread-{i}", f"result-{i}", T0)
            for i in range(self.threads)
        ]
        winners = self._race_to_commit(
            store, lambda uow, i: uow.idempotency.add(records[i]), DuplicateIdempotencyKey
        )
        assert len(winners) == 1, f"{len(winners)} records of one idempotency key committed"
        with store.unit_of_work() as uow:
            assert uow.idempotency.get(org_id, "same-key") == records[winners[0]]


class ServiceRaceContract(ContractBase):
    """Races through :class:`~armox_enterprise.EnterpriseService`: no overdraft, one effect per
    generation id, one decision per request and hold, one grant per period.

    Needs: every repository.
    """

    def test_concurrent_spends_never_overdraw(self) -> None:
        """Threads spending from one member at once succeed exactly as often as the balance
        allows; every other spend raises InsufficientCredits."""
        budget, cost, rounds = self.race_budget, self.race_spend, self.race_spends_per_thread
        scenario = self._scenario(members=1, allowance=budget, allocate=budget)
        service, org_id, store = self._service(scenario), scenario.org_id, scenario.store

        def spend_many(thread: int) -> tuple[int, int]:
            spent = refused = 0
            for i in range(rounds):
                try:
                    service.spend("member-1", org_id, cost, generation_id=f"race-{thread}-{i}")
                except InsufficientCredits:
                    refused += 1
                else:
                    spent += 1
            return spent, refused

        tallies = self._race(spend_many)
        attempts = self.threads * rounds
        expected = min(attempts, budget // cost)
        assert sum(s for s, _ in tallies) == expected
        assert sum(r for _, r in tallies) == attempts - expected
        account = self._account(store, org_id, member_account("member-1"))
        assert account.available == budget - expected * cost
        assert self._account(store, org_id, USAGE).balance == expected * cost
        assert len(self._transfers(store, org_id, TransferKind.SPEND)) == expected
        assert service.reconcile(org_id) == []

    def test_concurrent_replays_of_one_generation_id_spend_once(self) -> None:
        """One generation id sent from several threads at once makes one transfer, which
        every caller gets back."""
        scenario = self._scenario(members=1, allocate=100)
        service, org_id, store = self._service(scenario), scenario.org_id, scenario.store
        results = self._race(
            lambda _: service.spend("member-1", org_id, 7, generation_id="same-generation")
        )
        assert len({t.id for t in results}) == 1
        assert [t.id for t in self._transfers(store, org_id, TransferKind.SPEND)] == [results[0].id]
        assert self._account(store, org_id, member_account("member-1")).available == 93
        assert service.reconcile(org_id) == []

    def test_concurrent_approvals_of_one_request_decide_it_once(self) -> None:
        """Admins approving one request at once: exactly one succeeds, the others get
        InvalidTransition, and the credits move once."""
        scenario = self._scenario(members=2, allowance=1000)
        service, org_id, store = self._service(scenario), scenario.org_id, scenario.store
        service.change_role("admin", org_id, "member-2", Role.ADMIN)
        request = service.request_credits("member-1", org_id, 50)
        admins = ("admin", "member-2")

        def approve(index: int) -> CreditRequest | InvalidTransition:
            try:
                return service.approve_request(admins[index % 2], org_id, request.id)
            except InvalidTransition as exc:
                return exc

        outcomes = self._race(approve)
        approved = [o for o in outcomes if isinstance(o, CreditRequest)]
        assert len(approved) == 1
        assert len(outcomes) - 1 == sum(isinstance(o, InvalidTransition) for o in outcomes)
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == approved[0]
        assert len(self._transfers(store, org_id, TransferKind.APPROVE)) == 1
        assert self._account(store, org_id, POOL).available == 950
        assert self._account(store, org_id, member_account("member-1")).available == 50

    def test_concurrent_resolutions_of_one_hold_resolve_it_once(self) -> None:
        """Threads capturing and releasing one hold at once: exactly one resolves it, the
        others get HoldAlreadyResolved."""
        scenario = self._scenario(members=1, allocate=100)
        service, org_id, store = self._service(scenario), scenario.org_id, scenario.store
        hold = service.reserve("member-1", org_id, 40, generation_id="gen-1")

        def resolve(index: int) -> Hold | HoldAlreadyResolved:
            try:
                if index % 2:
                    return service.release_hold("member-1", org_id, hold.id)
                return service.capture_hold("admin", org_id, hold.id, 30)
            except HoldAlreadyResolved as exc:
                return exc

        outcomes = self._race(resolve)
        resolved = [o for o in outcomes if isinstance(o, Hold)]
        assert len(resolved) == 1
        assert len(outcomes) - 1 == sum(isinstance(o, HoldAlreadyResolved) for o in outcomes)
        used = resolved[0].captured
        account = self._account(store, org_id, member_account("member-1"))
        assert (account.debits_pending, account.available) == (0, 100 - used)
        assert self._account(store, org_id, USAGE).balance == used
        assert service.reconcile(org_id) == []

    def test_concurrent_period_jobs_grant_once_per_period(self) -> None:
        """Period jobs run from several threads at once turn each organisation over once and
        grant each period's allowance once."""
        scenario = self._scenario(members=1, allowance=100)
        service, store = self._service(scenario), scenario.store
        other = service.create_organisation(
            name="Beta",
            admin_user_id="beta-admin",
            admin_email="admin@beta.example",
            monthly_allowance=70,
        )
        scenario.clock.advance(days=100)
        turned = self._race(lambda _: service.close_due_periods())
        assert sorted(org for batch in turned for org in batch) == sorted(
            [scenario.org_id, other.id]
        )
        for org_id, allowance, anchor in (
            (scenario.org_id, 100, scenario.organisation.cycle_anchor),
            (other.id, 70, other.cycle_anchor),
        ):
            target = period_at(anchor, scenario.clock.now()).index
            grants = self._transfers(store, org_id, TransferKind.GRANT)
            assert [(t.period_index, t.amount) for t in grants] == [
                (i, allowance) for i in range(target + 1)
            ]
            assert service.reconcile(org_id) == []


class ConcurrencyContract(RepositoryRaceContract, ServiceRaceContract):
    """Every race case: :class:`RepositoryRaceContract` and :class:`ServiceRaceContract`.

    Needs: every repository.
    """
