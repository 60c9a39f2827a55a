"""The storage contract: the test cases every adapter of :mod:`armox_enterprise.ports` passes.

The in-memory store and the SQLAlchemy store prove themselves with these cases, and so can a
host's own adapter.  The module needs ``pytest`` (it is imported at module level); the library
itself does not.

Subclass :class:`StoreContract` in a module pytest collects, name the subclass ``Test...`` and
implement :meth:`~StoreContract.make_store` so that it returns a store holding no data at all,
every time it is called (create or truncate the tables there)::

    # tests/test_my_store.py
    from armox_enterprise.testing.conformance import StoreContract

    from my_app.storage import MyStore


    class TestMyStore(StoreContract):
        threads = 4  # fewer racing threads for a small connection pool

        def make_store(self) -> MyStore:
            store = MyStore.connect("postgresql+psycopg://localhost/armox_test")
            store.truncate_everything()
            return store

Then run ``pytest tests/test_my_store.py``.  Every case is a ``test_...`` method with a
one-line docstring saying what it proves: each repository's behaviour through the ports,
the errors that guard invariants, rollback and commit visibility, events handed out after
commit, the service's idempotency on top of the store, and races run from several threads.
The race sizes are class attributes, so a slower store can run smaller races; a store that
cannot be shared between threads sets ``supports_concurrency = False`` and its race cases are
reported as skipped.  Add pytest fixtures to the subclass if the store needs set-up or
clean-up around each case.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import ClassVar, TypeVar

import attrs
import pytest

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import (
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    Account,
    Hold,
    HoldStatus,
    Transfer,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinRequest,
    JoinRequestStatus,
    Membership,
    MemberStatus,
    Organisation,
    Role,
)
from armox_enterprise.domain.periods import period_at
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.values import DomainName, EmailAddress, new_id
from armox_enterprise.exceptions import (
    AccountClosed,
    AlreadyMember,
    DomainAlreadyClaimed,
    DuplicateIdempotencyKey,
    HoldAlreadyResolved,
    IdempotencyConflict,
    InsufficientCredits,
    InsufficientPoolCredits,
    InvalidAmount,
    InvalidTransition,
    NotFound,
)
from armox_enterprise.ports import (
    IdempotencyRecord,
    MemberFigures,
    MemberSort,
    PeriodTotals,
    Store,
    UnitOfWork,
    UsageGrouping,
    UsageRow,
)
from armox_enterprise.service import EnterpriseService
from armox_enterprise.testing.builders import Scenario, enterprise

__all__ = ["StoreContract"]

_T = TypeVar("_T")

#: The instant the port-level cases are set at; every record they write is dated from it.
T0 = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _organisation(org_id: str, *, index: int = 0, name: str = "Acme") -> Organisation:
    return Organisation(
        id=org_id,
        name=name,
        monthly_allowance=1000,
        cycle_anchor=T0,
        created_at=T0,
        current_period_index=index,
    )


def _membership(
    org_id: str, user: str, *, minutes: int = 0, role: Role = Role.MEMBER
) -> Membership:
    return Membership(
        organisation_id=org_id,
        user_id=user,
        email=EmailAddress.parse(f"{user}@acme.example"),
        display_name=user.title(),
        role=role,
        joined_at=_at(minutes),
    )


def _transfer(
    org_id: str,
    kind: TransferKind,
    debit: str,
    credit: str,
    amount: int,
    *,
    minutes: int = 0,
    period: int = 0,
    reference: str | None = None,
) -> Transfer:
    at = _at(minutes)
    return Transfer(
        id=new_id(at),
        organisation_id=org_id,
        kind=kind,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        period_index=period,
        actor="admin",
        created_at=at,
        reference=reference,
    )


def _hold(org_id: str, user: str, amount: int, *, minutes: int = 0, life: int = 60) -> Hold:
    at = _at(minutes)
    return Hold(
        id=new_id(at),
        organisation_id=org_id,
        user_id=user,
        amount=amount,
        period_index=0,
        created_at=at,
        expires_at=at + timedelta(minutes=life),
        reference=f"generation-{minutes}-{amount}",
    )


def _request(
    org_id: str, user: str, amount: int, *, minutes: int = 0, period: int = 0
) -> CreditRequest:
    at = _at(minutes)
    return CreditRequest(
        id=new_id(at),
        organisation_id=org_id,
        user_id=user,
        amount=amount,
        note="please",
        period_index=period,
        created_at=at,
    )


class StoreContract(abc.ABC):
    """The cases every store passes; subclass it as ``Test<YourStore>`` and implement
    :meth:`make_store`.

    Attributes:
        supports_concurrency: whether one store may be used from several threads at once; the
            race cases are skipped when it is false.
        threads: how many threads each race starts.
        race_budget: the credits the member of the spending race holds.
        race_spend: what each spend of the spending race costs.
        race_spends_per_thread: how many spends each thread of the spending race makes.
        race_timeout: seconds a racing thread waits for the others before giving up (a guard
            against a deadlocked store, not a speed requirement).
        max_attempts: how often the service retries a unit of work that hit a transient
            storage error (raise it for stores that report many serialization failures).
    """

    supports_concurrency: bool = True
    threads: int = 8
    race_budget: int = 300
    race_spend: int = 3
    race_spends_per_thread: int = 50
    race_timeout: float = 120.0
    max_attempts: int = 8

    @abc.abstractmethod
    def make_store(self) -> Store:
        """Return a store that holds no data (a new one, or one whose tables were emptied)."""

    # ------------------------------------------------------------------ helpers

    def _seeded(self, *users: str) -> tuple[Store, str]:
        """Return a new store with one organisation, its accounts and ``users`` as members."""
        store = self.make_store()
        return store, self._seed(store, *users)

    @staticmethod
    def _seed(store: Store, *users: str) -> str:
        """Add an organisation with its accounts and ``users`` as members; return its id."""
        org_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(org_id))
            for code in (GRANT, POOL, USAGE, EXPIRED):
                uow.ledger.open_account(Account(org_id, code))
            for minutes, user in enumerate(users):
                uow.memberships.add(_membership(org_id, user, minutes=minutes))
                uow.ledger.open_account(Account(org_id, member_account(user)))
            uow.commit()
        return org_id

    def _scenario(self, *, members: int = 2, allowance: int = 1000, allocate: int = 0) -> Scenario:
        """Return an organisation built through the service on a new store."""
        return enterprise(
            store=self.make_store(), members=members, allowance=allowance, allocate=allocate
        )

    def _service(self, scenario: Scenario) -> EnterpriseService:
        """Return a service on the scenario's store and clock that retries ``max_attempts``."""
        return EnterpriseService(
            scenario.store, clock=scenario.clock, dns=scenario.dns, max_attempts=self.max_attempts
        )

    @staticmethod
    def _account(store: Store, org_id: str, code: str) -> Account:
        with store.unit_of_work() as uow:
            account = uow.ledger.get_account(org_id, code)
        assert account is not None, f"account {code} does not exist"
        return account

    @staticmethod
    def _transfers(store: Store, org_id: str, *kinds: TransferKind) -> list[Transfer]:
        with store.unit_of_work() as uow:
            return uow.ledger.transfers(org_id, kinds=list(kinds) if kinds else None)

    def _race(self, work: Callable[[int], _T], count: int | None = None) -> list[_T]:
        """Run ``work(0)`` ... ``work(count - 1)`` in as many threads, released together."""
        if not self.supports_concurrency:
            pytest.skip("the store does not support use from several threads")
        n = self.threads if count is None else count
        barrier = threading.Barrier(n)

        def run(index: int) -> _T:
            barrier.wait(timeout=self.race_timeout)
            return work(index)

        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(run, i) for i in range(n)]
            return [f.result(timeout=self.race_timeout) for f in futures]

    # ------------------------------------------------------------------ organisations

    def test_organisation_add_then_get(self) -> None:
        """An added organisation reads back equal, also when locked for update."""
        store = self.make_store()
        org = _organisation(new_id(T0))
        with store.unit_of_work() as uow:
            uow.organisations.add(org)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.organisations.get(org.id) == org
            assert uow.organisations.get(org.id, for_update=True) == org
            assert uow.organisations.get(new_id(T0)) is None

    def test_organisation_update_replaces_it(self) -> None:
        """Updating an organisation replaces every field of the stored one."""
        store, org_id = self._seeded()
        with store.unit_of_work() as uow:
            org = uow.organisations.get(org_id, for_update=True)
            assert org is not None
            changed = attrs.evolve(
                org, name="Acme Ltd", monthly_allowance=5, current_period_index=2
            )
            uow.organisations.update(changed)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.organisations.get(org_id) == changed

    def test_organisations_due_for_turnover(self) -> None:
        """Organisations whose current period ended at or before the instant are due."""
        store = self.make_store()
        first = _organisation(new_id(T0))
        second = _organisation(new_id(T0), index=1, name="Beta")
        with store.unit_of_work() as uow:
            uow.organisations.add(first)
            uow.organisations.add(second)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.organisations.due_for_turnover(first.current_period.end - timedelta(1)) == []
            assert uow.organisations.due_for_turnover(first.current_period.end) == [first.id]
            due = uow.organisations.due_for_turnover(second.current_period.end)
            assert sorted(due) == sorted([first.id, second.id])

    # ------------------------------------------------------------------ memberships

    def test_membership_add_and_get(self) -> None:
        """An added membership reads back by organisation and user, and as the user's active
        one."""
        store, org_id = self._seeded()
        membership = _membership(org_id, "ann", role=Role.ADMIN)
        with store.unit_of_work() as uow:
            uow.memberships.add(membership)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.memberships.get(org_id, "ann") == membership
            assert uow.memberships.active_for_user("ann") == membership
            assert uow.memberships.get(org_id, "bob") is None
            assert uow.memberships.active_for_user("bob") is None

    def test_second_active_membership_raises_already_member(self) -> None:
        """A user with an active membership cannot get another, here or elsewhere."""
        store, org_id = self._seeded("ann")
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(other_id, name="Beta"))
            uow.commit()
        for target in (org_id, other_id):
            with store.unit_of_work() as uow, pytest.raises(AlreadyMember):
                uow.memberships.add(_membership(target, "ann", minutes=5))
        with store.unit_of_work() as uow:
            active = uow.memberships.active_for_user("ann")
            assert active is not None
            assert active.organisation_id == org_id
            assert uow.memberships.get(other_id, "ann") is None

    def test_removed_membership_frees_the_user(self) -> None:
        """A removed membership is kept but no longer active, and the user may join another
        organisation."""
        store, org_id = self._seeded("ann")
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(other_id, name="Beta"))
            current = uow.memberships.get(org_id, "ann")
            assert current is not None
            uow.memberships.update(
                attrs.evolve(current, status=MemberStatus.REMOVED, removed_at=_at(10))
            )
            uow.commit()
        with store.unit_of_work() as uow:
            removed = uow.memberships.get(org_id, "ann")
            assert removed is not None
            assert (removed.status, removed.removed_at) == (MemberStatus.REMOVED, _at(10))
            assert uow.memberships.active_for_user("ann") is None
            uow.memberships.add(_membership(other_id, "ann", minutes=20))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.memberships.active_for_user("ann") == _membership(
                other_id, "ann", minutes=20
            )
            assert uow.memberships.get(org_id, "ann") == removed

    def test_removed_membership_is_reactivated_by_update_not_by_add(self) -> None:
        """A removed membership comes back in its organisation by update; add refuses it."""
        store, org_id = self._seeded("ann", "bob")
        with store.unit_of_work() as uow:
            for user in ("ann", "bob"):
                current = uow.memberships.get(org_id, user)
                assert current is not None
                uow.memberships.update(attrs.evolve(current, status=MemberStatus.REMOVED))
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(AlreadyMember):
            uow.memberships.add(_membership(org_id, "bob", minutes=20))
        with store.unit_of_work() as uow:
            uow.memberships.update(_membership(org_id, "ann", minutes=20))
            uow.memberships.update(_membership(org_id, "bob", minutes=20))
            uow.commit()
        with store.unit_of_work() as uow:
            for user in ("ann", "bob"):
                assert uow.memberships.active_for_user(user) == _membership(
                    org_id, user, minutes=20
                )
            assert uow.memberships.count_active(org_id) == 2

    def test_memberships_list_by_join_time_then_user(self) -> None:
        """Memberships list by join time then user id, active ones only unless asked, and
        count active members and admins."""
        store, org_id = self._seeded()
        with store.unit_of_work() as uow:
            uow.memberships.add(_membership(org_id, "dan", minutes=3))
            uow.memberships.add(_membership(org_id, "cat", minutes=3, role=Role.ADMIN))
            uow.memberships.add(_membership(org_id, "bob", minutes=1))
            uow.memberships.add(_membership(org_id, "ann", minutes=2, role=Role.ADMIN))
            uow.commit()
        with store.unit_of_work() as uow:
            ann = uow.memberships.get(org_id, "ann")
            assert ann is not None
            uow.memberships.update(attrs.evolve(ann, status=MemberStatus.REMOVED))
            uow.commit()
        with store.unit_of_work() as uow:
            assert [m.user_id for m in uow.memberships.list(org_id)] == ["bob", "cat", "dan"]
            every = uow.memberships.list(org_id, active_only=False)
            assert [m.user_id for m in every] == ["bob", "ann", "cat", "dan"]
            assert uow.memberships.count_active(org_id) == 3
            assert uow.memberships.count_active(org_id, admins_only=True) == 1
            assert uow.memberships.list(new_id(T0)) == []

    # ------------------------------------------------------------------ domains

    def test_domain_claim_add_get_update_remove(self) -> None:
        """A claim reads back by domain, updates in place and disappears when removed."""
        store, org_id = self._seeded()
        claim = DomainClaim(DomainName.parse("acme.example"), org_id, "token", T0)
        with store.unit_of_work() as uow:
            uow.domains.add(claim)
            uow.commit()
        verified = attrs.evolve(claim, verified_at=_at(5), include_subdomains=True)
        with store.unit_of_work() as uow:
            assert uow.domains.get(DomainName.parse("ACME.example.")) == claim
            assert uow.domains.get(DomainName.parse("other.example")) is None
            uow.domains.update(verified)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.domains.get(claim.domain) == verified
            uow.domains.remove(claim.domain)
            uow.domains.remove(DomainName.parse("never-claimed.example"))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.domains.get(claim.domain) is None

    def test_second_claim_on_a_domain_raises_domain_already_claimed(self) -> None:
        """A domain is claimed by one organisation at most; the first claim stays."""
        store, org_id = self._seeded()
        other_id = new_id(T0)
        domain = DomainName.parse("acme.example")
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(other_id, name="Beta"))
            uow.domains.add(DomainClaim(domain, org_id, "first", T0))
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(DomainAlreadyClaimed):
            uow.domains.add(DomainClaim(domain, other_id, "second", _at(1)))
        with store.unit_of_work() as uow:
            claim = uow.domains.get(domain)
            assert claim is not None
            assert (claim.organisation_id, claim.verification_token) == (org_id, "first")

    def test_domain_claims_list_by_domain(self) -> None:
        """An organisation's claims list in domain order, without other organisations'."""
        store, org_id = self._seeded()
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(other_id, name="Beta"))
            for name in ("zeta.example", "acme.example", "mid.example"):
                uow.domains.add(DomainClaim(DomainName.parse(name), org_id, name, T0))
            uow.domains.add(DomainClaim(DomainName.parse("beta.example"), other_id, "b", T0))
            uow.commit()
        with store.unit_of_work() as uow:
            assert [c.domain.value for c in uow.domains.list(org_id)] == [
                "acme.example",
                "mid.example",
                "zeta.example",
            ]
            assert [c.domain.value for c in uow.domains.list(other_id)] == ["beta.example"]

    # ------------------------------------------------------------------ invitations

    def test_invitations_put_replace_and_list(self) -> None:
        """Putting an invitation again replaces it; open ones list oldest first per address,
        accepted ones drop out."""
        store, org_id = self._seeded()
        other_id = new_id(T0)
        carol = EmailAddress.parse("carol@contractor.example")
        dave = EmailAddress.parse("dave@contractor.example")
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(other_id, name="Beta"))
            uow.invitations.put(Invitation(other_id, carol, Role.MEMBER, "admin", _at(2)))
            uow.invitations.put(Invitation(org_id, carol, Role.MEMBER, "admin", _at(1)))
            uow.invitations.put(Invitation(org_id, dave, Role.MEMBER, "admin", _at(3)))
            uow.commit()
        again = Invitation(org_id, carol, Role.ADMIN, "admin", _at(4))
        with store.unit_of_work() as uow:
            uow.invitations.put(again)
            uow.commit()
        with store.unit_of_work() as uow:
            assert [(i.organisation_id, i.role) for i in uow.invitations.open_for(carol)] == [
                (other_id, Role.MEMBER),
                (org_id, Role.ADMIN),
            ]
            assert [i.email for i in uow.invitations.list(org_id)] == [dave, carol]
            uow.invitations.put(attrs.evolve(again, accepted_at=_at(5)))
            uow.commit()
        with store.unit_of_work() as uow:
            assert [i.organisation_id for i in uow.invitations.open_for(carol)] == [other_id]
            assert uow.invitations.list(org_id)[-1].accepted_at == _at(5)
            assert uow.invitations.open_for(EmailAddress.parse("eve@x.example")) == []

    # ------------------------------------------------------------------ join requests

    def test_join_requests_add_get_and_list_pending(self) -> None:
        """Join requests read back by id and list pending, oldest first; deciding one takes it
        off the pending list."""
        store, org_id = self._seeded("admin")
        email = EmailAddress.parse("x@acme.example")
        late = JoinRequest(new_id(_at(5)), org_id, "late", email, "Late", _at(5))
        early = JoinRequest(new_id(_at(1)), org_id, "early", email, "Early", _at(1))
        with store.unit_of_work() as uow:
            uow.join_requests.add(late)
            uow.join_requests.add(early)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.join_requests.get(org_id, late.id) == late
            assert uow.join_requests.get(org_id, new_id(T0)) is None
            assert uow.join_requests.pending_for_user("early") == early
            assert uow.join_requests.pending_for_user("nobody") is None
            assert uow.join_requests.list_pending(org_id) == [early, late]
            decided = attrs.evolve(
                early, status=JoinRequestStatus.APPROVED, decided_by="admin", decided_at=_at(6)
            )
            uow.join_requests.update(decided)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.join_requests.get(org_id, early.id) == decided
            assert uow.join_requests.pending_for_user("early") is None
            assert uow.join_requests.list_pending(org_id) == [late]

    def test_deciding_a_decided_join_request_raises_invalid_transition(self) -> None:
        """Only a pending join request may be decided; the first decision stays."""
        store, org_id = self._seeded("admin")
        email = EmailAddress.parse("x@acme.example")
        request = JoinRequest(new_id(T0), org_id, "x", email, "X", T0)
        rejected = attrs.evolve(
            request, status=JoinRequestStatus.REJECTED, decided_by="admin", decided_at=_at(1)
        )
        with store.unit_of_work() as uow:
            uow.join_requests.add(request)
            uow.join_requests.update(rejected)
            uow.commit()
        approved = attrs.evolve(rejected, status=JoinRequestStatus.APPROVED)
        with store.unit_of_work() as uow, pytest.raises(InvalidTransition):
            uow.join_requests.update(approved)
        with store.unit_of_work() as uow:
            assert uow.join_requests.get(org_id, request.id) == rejected

    # ------------------------------------------------------------------ ledger

    def test_open_account_keeps_an_existing_account(self) -> None:
        """Opening an account that exists changes nothing; accounts list per organisation."""
        store, org_id = self._seeded("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 50))
            uow.ledger.open_account(Account(org_id, POOL))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.ledger.open_account(Account(org_id, POOL))
            uow.commit()
        other_store_org = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(other_store_org, name="Beta"))
            uow.ledger.open_account(Account(other_store_org, POOL))
            uow.commit()
        assert self._account(store, org_id, POOL) == Account(org_id, POOL, credits_posted=50)
        with store.unit_of_work() as uow:
            codes = sorted(a.code for a in uow.ledger.accounts(org_id))
            assert codes == sorted([GRANT, POOL, USAGE, EXPIRED, member_account("ann")])
            assert uow.ledger.accounts(other_store_org) == [Account(other_store_org, POOL)]
            assert uow.ledger.get_account(org_id, member_account("nobody")) is None

    def test_post_moves_credits_between_two_accounts(self) -> None:
        """A posted transfer reads back by id and moves its amount from debit to credit."""
        store, org_id = self._seeded("ann")
        grant = _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100)
        allocate = _transfer(
            org_id, TransferKind.ALLOCATE, POOL, member_account("ann"), 30, minutes=1
        )
        with store.unit_of_work() as uow:
            uow.ledger.post(grant)
            uow.ledger.post(allocate)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.ledger.get_transfer(org_id, grant.id) == grant
            assert uow.ledger.get_transfer(org_id, allocate.id) == allocate
            assert uow.ledger.get_transfer(org_id, new_id(T0)) is None
            assert uow.ledger.get_transfer(new_id(T0), grant.id) is None
        assert self._account(store, org_id, GRANT) == Account(org_id, GRANT, debits_posted=100)
        assert self._account(store, org_id, POOL) == Account(org_id, POOL, 100, 30)
        assert self._account(store, org_id, member_account("ann")) == Account(
            org_id, member_account("ann"), credits_posted=30
        )

    def test_hold_capture_and_release_move_pending_debits(self) -> None:
        """A hold reserves without posting; a capture posts what it takes; a release frees
        the rest."""
        store, org_id = self._seeded("ann")
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100))
            uow.ledger.post(_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 100, minutes=1))
            uow.ledger.post(_transfer(org_id, TransferKind.HOLD, ann, USAGE, 40, minutes=2))
            uow.commit()
        member = self._account(store, org_id, ann)
        assert (member.balance, member.available, member.debits_pending) == (100, 60, 40)
        assert self._account(store, org_id, USAGE) == Account(org_id, USAGE)
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.CAPTURE, ann, USAGE, 25, minutes=3))
            uow.ledger.post(_transfer(org_id, TransferKind.RELEASE, ann, USAGE, 15, minutes=3))
            uow.commit()
        assert self._account(store, org_id, ann) == Account(org_id, ann, 100, 25, 0)
        assert self._account(store, org_id, USAGE) == Account(org_id, USAGE, credits_posted=25)

    def test_overdrawing_a_guarded_account_raises_and_writes_nothing(self) -> None:
        """Posting more than a pool or member account has available raises
        InsufficientCredits, writes nothing, and leaves the unit of work usable."""
        store, org_id = self._seeded("ann")
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10))
            uow.ledger.post(_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 6, minutes=1))
            uow.ledger.post(_transfer(org_id, TransferKind.HOLD, ann, USAGE, 4, minutes=2))
            uow.commit()
        before = {a.code: a for a in self._accounts(store, org_id)}
        attempts = [
            _transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 5, minutes=3),
            _transfer(org_id, TransferKind.SPEND, ann, USAGE, 3, minutes=3),
            _transfer(org_id, TransferKind.HOLD, ann, USAGE, 3, minutes=3),
        ]
        with store.unit_of_work() as uow:
            for attempt in attempts:
                with pytest.raises(InsufficientCredits) as raised:
                    uow.ledger.post(attempt)
                assert raised.value.requested == attempt.amount
                assert raised.value.available == (4 if attempt.debit_account == POOL else 2)
                assert uow.ledger.get_transfer(org_id, attempt.id) is None
            assert {a.code: a for a in uow.ledger.accounts(org_id)} == before
            uow.ledger.post(_transfer(org_id, TransferKind.SPEND, ann, USAGE, 2, minutes=4))
            uow.commit()
        assert len(self._transfers(store, org_id)) == 4
        assert self._account(store, org_id, ann).available == 0
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.TOP_UP, GRANT, POOL, 10**12))
            uow.commit()
        assert self._account(store, org_id, GRANT).balance == -(10 + 10**12)

    def test_post_naming_an_unknown_account_raises_not_found(self) -> None:
        """A transfer from or to an account that does not exist raises NotFound."""
        store, org_id = self._seeded("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10))
            uow.commit()
        before = self._accounts(store, org_id)
        for debit, credit in ((POOL, member_account("ghost")), (member_account("ghost"), USAGE)):
            with store.unit_of_work() as uow, pytest.raises(NotFound):
                uow.ledger.post(_transfer(org_id, TransferKind.ALLOCATE, debit, credit, 1))
        with store.unit_of_work() as uow, pytest.raises(NotFound):
            uow.ledger.post(_transfer(new_id(T0), TransferKind.GRANT, GRANT, POOL, 1))
        assert self._accounts(store, org_id) == before
        assert len(self._transfers(store, org_id)) == 1

    def test_generation_ids_are_unique_per_organisation(self) -> None:
        """A spend or hold is found by its generation id, which a second spend or hold in the
        organisation cannot reuse (DuplicateIdempotencyKey); another organisation can."""
        store, org_id = self._seeded("ann")
        other_id = self._seed(store, "bob")
        ann, bob = member_account("ann"), member_account("bob")
        spend = attrs.evolve(
            _transfer(org_id, TransferKind.SPEND, ann, USAGE, 5, minutes=2), idempotency_key="g1"
        )
        hold = attrs.evolve(
            _transfer(org_id, TransferKind.HOLD, ann, USAGE, 7, minutes=3), idempotency_key="g2"
        )
        with store.unit_of_work() as uow:
            for org, member in ((org_id, ann), (other_id, bob)):
                uow.ledger.post(_transfer(org, TransferKind.GRANT, GRANT, POOL, 100))
                uow.ledger.post(_transfer(org, TransferKind.ALLOCATE, POOL, member, 50, minutes=1))
            uow.ledger.post(spend)
            uow.ledger.post(hold)
            uow.commit()
        before = self._accounts(store, org_id)
        for kind in (TransferKind.SPEND, TransferKind.HOLD):
            for key in ("g1", "g2"):
                again = attrs.evolve(
                    _transfer(org_id, kind, ann, USAGE, 1, minutes=4), idempotency_key=key
                )
                with store.unit_of_work() as uow, pytest.raises(DuplicateIdempotencyKey):
                    uow.ledger.post(again)
        elsewhere = attrs.evolve(
            _transfer(other_id, TransferKind.SPEND, bob, USAGE, 5, minutes=5), idempotency_key="g1"
        )
        with store.unit_of_work() as uow:
            uow.ledger.post(elsewhere)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.ledger.transfer_by_key(org_id, "g1") == spend
            assert uow.ledger.transfer_by_key(org_id, "g2") == hold
            assert uow.ledger.transfer_by_key(org_id, "g3") is None
            assert uow.ledger.transfer_by_key(other_id, "g1") == elsewhere
            assert uow.ledger.transfer_by_key(other_id, "g2") is None
        assert self._accounts(store, org_id) == before
        assert len(self._transfers(store, org_id)) == 4

    def test_closed_account_refuses_new_spending_only(self) -> None:
        """A closed member account refuses spends and holds (AccountClosed) and still takes
        captures, releases, refunds and returns; reopened, it spends again."""
        store, org_id = self._seeded("ann")
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100))
            uow.ledger.post(_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 50, minutes=1))
            uow.ledger.post(_transfer(org_id, TransferKind.HOLD, ann, USAGE, 10, minutes=2))
            uow.ledger.post(_transfer(org_id, TransferKind.SPEND, ann, USAGE, 5, minutes=2))
            uow.ledger.set_closed(org_id, ann, True)
            uow.commit()
        with store.unit_of_work() as uow:
            closed = uow.ledger.get_account(org_id, ann, for_update=True)
            assert closed is not None
            assert closed.closed
            assert closed == uow.ledger.get_account(org_id, ann)
        before = self._accounts(store, org_id)
        for kind in (TransferKind.SPEND, TransferKind.HOLD):
            with store.unit_of_work() as uow, pytest.raises(AccountClosed):
                uow.ledger.post(_transfer(org_id, kind, ann, USAGE, 1, minutes=3))
        assert self._accounts(store, org_id) == before
        with store.unit_of_work() as uow:
            for transfer in (
                _transfer(org_id, TransferKind.CAPTURE, ann, USAGE, 4, minutes=4),
                _transfer(org_id, TransferKind.RELEASE, ann, USAGE, 6, minutes=4),
                _transfer(org_id, TransferKind.REFUND, USAGE, ann, 5, minutes=5),
                _transfer(org_id, TransferKind.RETURN, ann, POOL, 46, minutes=6),
            ):
                uow.ledger.post(transfer)
            uow.commit()
        assert self._account(store, org_id, ann) == Account(org_id, ann, 55, 55, 0, closed=True)
        with store.unit_of_work() as uow:
            uow.ledger.set_closed(org_id, ann, False)
            uow.ledger.post(_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 3, minutes=7))
            uow.ledger.post(_transfer(org_id, TransferKind.SPEND, ann, USAGE, 3, minutes=8))
            uow.commit()
        assert self._account(store, org_id, ann) == Account(org_id, ann, 58, 58, 0)

    def test_transfers_filter_and_list_oldest_first(self) -> None:
        """Transfers list oldest first and filter by account, period, kinds and reference."""
        store, org_id = self._seeded("ann", "bob")
        ann, bob = member_account("ann"), member_account("bob")
        posted = [
            _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=0),
            _transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 20, minutes=1),
            _transfer(org_id, TransferKind.ALLOCATE, POOL, bob, 20, minutes=2),
            _transfer(org_id, TransferKind.SPEND, ann, USAGE, 5, minutes=3, reference="gen-1"),
            _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=4, period=1),
            _transfer(org_id, TransferKind.SPEND, bob, USAGE, 7, minutes=5, period=1),
            _transfer(
                org_id, TransferKind.REFUND, USAGE, ann, 5, minutes=6, period=1, reference="gen-1"
            ),
        ]
        with store.unit_of_work() as uow:
            for transfer in posted:
                uow.ledger.post(transfer)
            uow.commit()
        with store.unit_of_work() as uow:
            ledger = uow.ledger
            assert ledger.transfers(org_id) == posted
            assert ledger.transfers(org_id, account=ann) == [posted[1], posted[3], posted[6]]
            assert ledger.transfers(org_id, period_index=1) == posted[4:]
            assert ledger.transfers(org_id, kinds=[TransferKind.SPEND, TransferKind.REFUND]) == [
                posted[3],
                posted[5],
                posted[6],
            ]
            assert ledger.transfers(org_id, reference="gen-1") == [posted[3], posted[6]]
            assert ledger.transfers(
                org_id, account=USAGE, period_index=1, kinds=[TransferKind.SPEND]
            ) == [posted[5]]
            assert ledger.transfers(org_id, kinds=[TransferKind.EXPIRE]) == []
            assert ledger.transfers(new_id(T0)) == []

    def test_period_totals_sum_movements_by_kind(self) -> None:
        """Period totals sum an account's credits and debits of one period by kind and note
        its last activity."""
        store, org_id = self._seeded("ann")
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            for transfer in (
                _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=0),
                _transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 30, minutes=1),
                _transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 10, minutes=2),
                _transfer(org_id, TransferKind.SPEND, ann, USAGE, 8, minutes=3),
                _transfer(org_id, TransferKind.SPEND, ann, USAGE, 4, minutes=4),
                _transfer(org_id, TransferKind.REFUND, USAGE, ann, 4, minutes=5),
                _transfer(org_id, TransferKind.RECLAIM, ann, POOL, 2, minutes=6),
                _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=7, period=1),
                _transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 1, minutes=8, period=1),
            ):
                uow.ledger.post(transfer)
            uow.commit()
        with store.unit_of_work() as uow:
            member = uow.ledger.period_totals(org_id, ann, 0)
            assert member.credited(TransferKind.ALLOCATE) == 40
            assert member.credited(TransferKind.REFUND) == 4
            assert member.debited(TransferKind.SPEND) == 12
            assert member.debited(TransferKind.RECLAIM) == 2
            assert member.credited(TransferKind.SPEND) == 0
            assert member.last_activity == _at(6)
            pool = uow.ledger.period_totals(org_id, POOL, 0)
            assert pool.credited(TransferKind.GRANT, TransferKind.RECLAIM) == 102
            assert pool.debited(TransferKind.ALLOCATE) == 40
            usage = uow.ledger.period_totals(org_id, USAGE, 0)
            assert (usage.credited(TransferKind.SPEND), usage.debited(TransferKind.REFUND)) == (
                12,
                4,
            )
            later = uow.ledger.period_totals(org_id, ann, 1)
            assert (later.credited(TransferKind.ALLOCATE), later.last_activity) == (1, _at(8))
            assert uow.ledger.period_totals(org_id, ann, 2) == PeriodTotals()
            assert uow.ledger.period_totals(org_id, EXPIRED, 0).last_activity is None

    def test_sealing_a_period_keeps_its_totals(self) -> None:
        """Period totals read the same before and after the period is sealed."""
        store, org_id = self._seeded("ann")
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            for transfer in (
                _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=0),
                _transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 30, minutes=1),
                _transfer(org_id, TransferKind.SPEND, ann, USAGE, 8, minutes=2),
                _transfer(org_id, TransferKind.REFUND, USAGE, ann, 3, minutes=3),
                _transfer(org_id, TransferKind.EXPIRE, ann, EXPIRED, 25, minutes=4),
            ):
                uow.ledger.post(transfer)
            uow.commit()
        codes = (GRANT, POOL, ann, USAGE, EXPIRED)

        def totals() -> list[PeriodTotals]:
            with store.unit_of_work() as uow:
                return [uow.ledger.period_totals(org_id, code, 0) for code in codes]

        before = totals()
        with store.unit_of_work() as uow:
            uow.ledger.seal_period(org_id, 0)
            uow.commit()
        assert totals() == before
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, period=1))
            uow.ledger.post(_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 9, period=1))
            uow.commit()
        assert totals() == before
        with store.unit_of_work() as uow:
            assert uow.ledger.period_totals(org_id, ann, 1).credited(TransferKind.ALLOCATE) == 9
        assert before[2].debited(TransferKind.SPEND, TransferKind.EXPIRE) == 33

    # ------------------------------------------------------------------ holds

    def test_hold_add_get_and_resolve(self) -> None:
        """A hold reads back by id; resolving it stores its final state."""
        store, org_id = self._seeded("ann")
        hold = _hold(org_id, "ann", 30)
        with store.unit_of_work() as uow:
            uow.holds.add(hold)
            uow.commit()
        captured = hold.capture(20, _at(5))
        with store.unit_of_work() as uow:
            assert uow.holds.get(org_id, hold.id) == hold
            assert uow.holds.get(org_id, new_id(T0)) is None
            uow.holds.resolve(captured)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.holds.get(org_id, hold.id) == captured

    def test_resolving_a_resolved_hold_raises_hold_already_resolved(self) -> None:
        """A hold resolves once; a second resolution raises and the first stays."""
        store, org_id = self._seeded("ann")
        hold = _hold(org_id, "ann", 30)
        released = hold.release(_at(1))
        with store.unit_of_work() as uow:
            uow.holds.add(hold)
            uow.holds.resolve(released)
            uow.commit()
        for second in (hold.capture(30, _at(2)), hold.release(_at(2), expired=True)):
            with store.unit_of_work() as uow, pytest.raises(HoldAlreadyResolved):
                uow.holds.resolve(second)
        with store.unit_of_work() as uow:
            assert uow.holds.get(org_id, hold.id) == released

    def test_pending_holds_filter_and_list_oldest_first(self) -> None:
        """Pending holds list oldest first, by user and by expiry (inclusive); resolved ones
        drop out."""
        store, org_id = self._seeded("ann", "bob")
        late = _hold(org_id, "ann", 5, minutes=10, life=60)
        early = _hold(org_id, "bob", 6, minutes=1, life=5)
        middle = _hold(org_id, "ann", 7, minutes=5, life=120)
        gone = _hold(org_id, "ann", 8, minutes=6)
        with store.unit_of_work() as uow:
            for hold in (late, early, middle, gone):
                uow.holds.add(hold)
            uow.holds.resolve(gone.release(_at(7)))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.holds.pending(org_id) == [early, middle, late]
            assert uow.holds.pending(org_id, user_id="ann") == [middle, late]
            assert uow.holds.pending(org_id, expiring_before=_at(6)) == [early]
            assert uow.holds.pending(org_id, expiring_before=late.expires_at) == [early, late]
            assert uow.holds.pending(org_id, user_id="bob", expiring_before=_at(5)) == []
            assert uow.holds.pending(new_id(T0)) == []

    # ------------------------------------------------------------------ credit requests

    def test_credit_request_add_get_and_decide(self) -> None:
        """A request reads back by id; deciding it stores the decision."""
        store, org_id = self._seeded("admin", "ann")
        request = _request(org_id, "ann", 50)
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.commit()
        approved = request.approve("admin", _at(3), 40, "less")
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == request
            assert uow.requests.get(org_id, new_id(T0)) is None
            uow.requests.decide(approved)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == approved

    def test_deciding_a_decided_request_raises_invalid_transition(self) -> None:
        """Only a pending request may be decided; a second decision raises and the first
        stays."""
        store, org_id = self._seeded("admin", "ann")
        request = _request(org_id, "ann", 50)
        rejected = request.reject("admin", _at(1))
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.requests.decide(rejected)
            uow.commit()
        for second in (
            request.approve("admin", _at(2), 50),
            request.cancel("ann", _at(2)),
            request.expire(_at(2)),
        ):
            with store.unit_of_work() as uow, pytest.raises(InvalidTransition):
                uow.requests.decide(second)
        with store.unit_of_work() as uow:
            assert uow.requests.get(org_id, request.id) == rejected

    def test_credit_requests_filter_and_list_oldest_first(self) -> None:
        """Requests list oldest first and filter by status, user and period."""
        store, org_id = self._seeded("admin", "ann", "bob")
        third = _request(org_id, "ann", 3, minutes=9, period=1)
        first = _request(org_id, "ann", 1, minutes=1)
        second = _request(org_id, "bob", 2, minutes=4)
        with store.unit_of_work() as uow:
            for request in (third, first, second):
                uow.requests.add(request)
            decided = first.cancel("ann", _at(2))
            uow.requests.decide(decided)
            uow.commit()
        with store.unit_of_work() as uow:
            requests = uow.requests
            assert requests.list(org_id) == [decided, second, third]
            assert requests.list(org_id, status=RequestStatus.PENDING) == [second, third]
            assert requests.list(org_id, status=RequestStatus.CANCELLED) == [decided]
            assert requests.list(org_id, user_id="ann") == [decided, third]
            assert requests.list(org_id, period_index=0) == [decided, second]
            assert (
                requests.list(org_id, status=RequestStatus.PENDING, user_id="ann", period_index=0)
                == []
            )
            assert requests.list(new_id(T0)) == []

    # ------------------------------------------------------------------ idempotency

    def test_idempotency_record_add_and_get(self) -> None:
        """An idempotency record reads back by organisation and key."""
        store, org_id = self._seeded()
        record = IdempotencyRecord(org_id, "key-1", "spend", "a|3", new_id(T0), T0)
        with store.unit_of_work() as uow:
            uow.idempotency.add(record)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.idempotency.get(org_id, "key-1") == record
            assert uow.idempotency.get(org_id, "key-2") is None
            assert uow.idempotency.get(new_id(T0), "key-1") is None

    def test_reused_idempotency_key_raises_duplicate_idempotency_key(self) -> None:
        """A key is unique per organisation, within a unit of work and across them; another
        organisation may use it."""
        store, org_id = self._seeded()
        other_id = new_id(T0)
        first = IdempotencyRecord(org_id, "key", "spend", "a|3", new_id(T0), T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(other_id, name="Beta"))
            uow.idempotency.add(first)
            with pytest.raises(DuplicateIdempotencyKey):
                uow.idempotency.add(attrs.evolve(first, fingerprint="a|4"))
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(other_id, name="Beta"))
            uow.idempotency.add(first)
            uow.idempotency.add(attrs.evolve(first, organisation_id=other_id))
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(DuplicateIdempotencyKey):
            uow.idempotency.add(attrs.evolve(first, operation="top_up", created_at=_at(1)))
        with store.unit_of_work() as uow:
            assert uow.idempotency.get(org_id, "key") == first

    # ------------------------------------------------------------------ units of work

    def test_uncommitted_unit_of_work_is_discarded(self) -> None:
        """Nothing written in a unit of work that ends without commit is visible afterwards."""
        store, org_id = self._seeded("ann")
        other_id = new_id(T0)
        before = self._accounts(store, org_id)
        with store.unit_of_work() as uow:
            self._write_everything(uow, org_id, other_id)
        self._assert_nothing_written(store, org_id, other_id, before)

    def test_unit_of_work_that_raises_after_writing_is_discarded(self) -> None:
        """An exception raised inside a unit of work after its first write propagates and
        discards every write."""
        store, org_id = self._seeded("ann")
        other_id = new_id(T0)
        before = self._accounts(store, org_id)

        class Boom(Exception):
            pass

        def write_then_fail() -> None:
            with store.unit_of_work() as uow:
                uow.organisations.add(_organisation(other_id, name="Beta"))
                self._write_everything(uow, org_id, other_id, add_organisation=False)
                raise Boom

        with pytest.raises(Boom):
            write_then_fail()
        self._assert_nothing_written(store, org_id, other_id, before)

    def test_explicit_rollback_discards_writes(self) -> None:
        """rollback() discards what the unit of work wrote, and its events."""
        store, org_id = self._seeded("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10))
            uow.record(ev.PoolToppedUp(organisation_id=org_id, actor="a", occurred_at=T0, amount=1))
            uow.rollback()
            assert uow.collect_events() == []
        assert self._transfers(store, org_id) == []
        assert self._account(store, org_id, POOL) == Account(org_id, POOL)

    def test_committed_writes_are_visible_to_the_next_unit_of_work(self) -> None:
        """What a unit of work committed, the next one reads, in every repository."""
        store, org_id = self._seeded("ann")
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            written = self._write_everything(uow, org_id, other_id)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.organisations.get(other_id) is not None
            assert uow.memberships.active_for_user("zed") is not None
            assert uow.domains.get(DomainName.parse("beta.example")) is not None
            assert uow.invitations.list(org_id) != []
            assert uow.join_requests.pending_for_user("yan") is not None
            assert uow.ledger.get_transfer(org_id, written.id) == written
            assert uow.holds.pending(org_id) != []
            assert uow.requests.list(org_id) != []
            assert uow.idempotency.get(org_id, "k") is not None
        assert self._account(store, org_id, POOL).balance == 10

    def test_events_are_handed_out_only_after_commit(self) -> None:
        """Recorded events come out of collect_events once committed, and only once."""
        store, org_id = self._seeded("ann")
        first = ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=5)
        second = ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=6)
        with store.unit_of_work() as uow:
            uow.record(first)
            uow.record(second)
            assert uow.collect_events() == []
            uow.commit()
            assert uow.collect_events() == [first, second]
            assert uow.collect_events() == []

    def test_each_unit_of_work_hands_out_its_own_events(self) -> None:
        """A unit of work hands out only the events it recorded, not another's."""
        store, org_id = self._seeded("ann")
        dropped = ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=5)
        kept = ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=6)
        with store.unit_of_work() as uow:
            uow.record(dropped)
        with store.unit_of_work() as uow:
            uow.record(kept)
            uow.commit()
            assert uow.collect_events() == [kept]

    def _accounts(self, store: Store, org_id: str) -> list[Account]:
        with store.unit_of_work() as uow:
            return sorted(uow.ledger.accounts(org_id), key=lambda a: a.code)

    @staticmethod
    def _write_everything(
        work: UnitOfWork, org_id: str, other_id: str, *, add_organisation: bool = True
    ) -> Transfer:
        """Write one record to every repository; return the transfer it posted."""
        if add_organisation:
            work.organisations.add(_organisation(other_id, name="Beta"))
        work.memberships.add(_membership(org_id, "zed", minutes=5))
        work.ledger.open_account(Account(org_id, member_account("zed")))
        work.domains.add(DomainClaim(DomainName.parse("beta.example"), org_id, "t", T0))
        email = EmailAddress.parse("yan@beta.example")
        work.invitations.put(Invitation(org_id, email, Role.MEMBER, "ann", T0))
        work.join_requests.add(JoinRequest(new_id(T0), org_id, "yan", email, "Yan", T0))
        transfer = _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10)
        work.ledger.post(transfer)
        work.holds.add(_hold(org_id, "ann", 1))
        work.requests.add(_request(org_id, "ann", 5))
        work.idempotency.add(IdempotencyRecord(org_id, "k", "top_up", "x", transfer.id, T0))
        work.record(ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=1))
        return transfer

    def _assert_nothing_written(
        self, store: Store, org_id: str, other_id: str, accounts: list[Account]
    ) -> None:
        with store.unit_of_work() as uow:
            assert uow.organisations.get(other_id) is None
            assert uow.memberships.get(org_id, "zed") is None
            assert uow.memberships.active_for_user("zed") is None
            assert uow.domains.get(DomainName.parse("beta.example")) is None
            assert uow.invitations.list(org_id) == []
            assert uow.join_requests.list_pending(org_id) == []
            assert uow.ledger.transfers(org_id) == []
            assert uow.holds.pending(org_id) == []
            assert uow.requests.list(org_id) == []
            assert uow.idempotency.get(org_id, "k") is None
        assert self._accounts(store, org_id) == accounts

    # ------------------------------------------------------------------ through the service

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
        target = period_at(scenario.organisation.cycle_anchor, scenario.clock.now()).index
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

    # ------------------------------------------------------------------ races

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

    # ------------------------------------------------------------------ reports

    @staticmethod
    def _usage_transfer(
        org_id: str,
        kind: TransferKind,
        debit: str,
        credit: str,
        amount: int,
        at: datetime,
        *,
        period: int = 0,
        feature: str | None = None,
        model: str | None = None,
    ) -> Transfer:
        return Transfer(
            id=new_id(at),
            organisation_id=org_id,
            kind=kind,
            debit_account=debit,
            credit_account=credit,
            amount=amount,
            period_index=period,
            actor="admin",
            created_at=at,
            feature=feature,
            model=model,
        )

    def _usage_history(self) -> tuple[Store, str]:
        """Seed the usage the report cases compute by hand (times UTC, January 2026).

        ======  =========================  ======  ==============  ======  ==================
        period  at                         member  kind            amount  feature / model
        ======  =========================  ======  ==============  ======  ==================
        0       Thu 15th 09:10             ann     spend           10      chat / gpt
        0       Thu 15th 23:59:59.999999   ann     spend           20      image / flux
        0       Fri 16th 00:00             bob     spend           30      chat / GPT
        0       Sat 17th 08:00             bob     hold 40 (not usage)
        0       Sun 18th 10:00             bob     capture         25      chat / gpt
        0       Sun 18th 10:00             bob     release 15 (not usage)
        0       Mon 19th 12:00             ann     spend           5       (untagged)
        0       Tue 20th 12:00             ann     refund of 20th  20      image / flux
        1       Mon 16 Feb 12:00           bob     spend           7       chat / gpt
        1       Tue 17 Feb 12:00           bob     refund of 30    30      chat / GPT
        ======  =========================  ======  ==============  ======  ==================

        Grants, allocations, a reclaim, an expiry and another organisation's spend are there
        too, and must not count.
        """
        store, org_id = self._seeded("ann", "bob")
        other = self._seed(store, "ann-elsewhere")
        ann, bob = member_account("ann"), member_account("bob")
        jan = datetime(2026, 1, 15, tzinfo=timezone.utc)
        feb = datetime(2026, 2, 16, 12, tzinfo=timezone.utc)
        k = TransferKind
        chat_gpt = {"feature": "chat", "model": "gpt"}
        chat_upper = {"feature": "chat", "model": "GPT"}
        image = {"feature": "image", "model": "flux"}
        history: list[tuple[TransferKind, str, str, int, datetime, int, dict[str, str]]] = [
            (k.GRANT, GRANT, POOL, 1000, jan, 0, {}),
            (k.ALLOCATE, POOL, ann, 300, jan, 0, {}),
            (k.ALLOCATE, POOL, bob, 300, jan, 0, {}),
            (k.SPEND, ann, USAGE, 10, jan.replace(hour=9, minute=10), 0, chat_gpt),
            (k.SPEND, ann, USAGE, 20, jan + timedelta(days=1, microseconds=-1), 0, image),
            (k.SPEND, bob, USAGE, 30, jan + timedelta(days=1), 0, chat_upper),
            (k.HOLD, bob, USAGE, 40, jan + timedelta(days=2, hours=8), 0, chat_gpt),
            (k.CAPTURE, bob, USAGE, 25, jan + timedelta(days=3, hours=10), 0, chat_gpt),
            (k.RELEASE, bob, USAGE, 15, jan + timedelta(days=3, hours=10), 0, chat_gpt),
            (k.SPEND, ann, USAGE, 5, jan + timedelta(days=4, hours=12), 0, {}),
            (k.REFUND, USAGE, ann, 20, jan + timedelta(days=5, hours=12), 0, image),
            (k.RECLAIM, ann, POOL, 50, jan + timedelta(days=6), 0, {}),
            (k.EXPIRE, POOL, EXPIRED, 100, jan + timedelta(days=7), 0, {}),
            (k.GRANT, GRANT, POOL, 1000, feb - timedelta(hours=12), 1, {}),
            (k.SPEND, bob, USAGE, 7, feb, 1, chat_gpt),
            (k.REFUND, USAGE, bob, 30, feb + timedelta(days=1), 1, chat_upper),
        ]
        elsewhere = member_account("ann-elsewhere")
        with store.unit_of_work() as uow:
            for kind, debit, credit, amount, at, period, tags in history:
                uow.ledger.post(
                    self._usage_transfer(
                        org_id, kind, debit, credit, amount, at, period=period, **tags
                    )
                )
            for kind, debit, credit, amount in (
                (k.GRANT, GRANT, POOL, 100),
                (k.ALLOCATE, POOL, elsewhere, 100),
                (k.SPEND, elsewhere, USAGE, 60),
            ):
                uow.ledger.post(
                    self._usage_transfer(other, kind, debit, credit, amount, jan, feature="chat")
                )
            uow.commit()
        return store, org_id

    @staticmethod
    def _usage(
        store: Store,
        org_id: str,
        by: UsageGrouping,
        first: int = 0,
        last: int = 0,
        user_id: str | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """The report as (key, spent, refunded, transfers) tuples."""
        with store.unit_of_work() as uow:
            rows = uow.reports.usage(
                org_id, first_period=first, last_period=last, by=by, user_id=user_id
            )
        assert all(isinstance(row, UsageRow) for row in rows)
        return [(row.key, row.spent, row.refunded, row.transfers) for row in rows]

    def test_usage_by_member_counts_spends_captures_and_refunds(self) -> None:
        """Usage by member sums each member's spends and captures, counts them, and sets
        refunds against the member they credit; other kinds and organisations do not count."""
        store, org_id = self._usage_history()
        assert self._usage(store, org_id, "member") == [
            ("ann", 35, 20, 3),
            ("bob", 55, 0, 2),
        ]
        assert self._usage(store, org_id, "member", 0, 1) == [
            ("ann", 35, 20, 3),
            ("bob", 62, 30, 3),
        ]
        with store.unit_of_work() as uow:
            [row] = uow.reports.usage(org_id, first_period=1, last_period=1, by="member")
        assert (row.key, row.net) == ("bob", -23)

    def test_usage_by_tag_keeps_untagged_apart_and_tags_exact(self) -> None:
        """Usage by feature or model groups by the exact tag (case counts), untagged usage
        under "", refunds under the tags of the spend they give back; keys in order."""
        store, org_id = self._usage_history()
        assert self._usage(store, org_id, "feature") == [
            ("", 5, 0, 1),
            ("chat", 65, 0, 3),
            ("image", 20, 20, 1),
        ]
        assert self._usage(store, org_id, "model") == [
            ("", 5, 0, 1),
            ("GPT", 30, 0, 1),
            ("flux", 20, 20, 1),
            ("gpt", 35, 0, 2),
        ]
        assert self._usage(store, org_id, "model", 1, 1) == [("GPT", 0, 30, 0), ("gpt", 7, 0, 1)]

    def test_usage_by_day_week_and_month_buckets_utc_dates(self) -> None:
        """Usage by day, ISO week and month buckets each transfer by its own UTC date (a
        refund on the day it was made); a microsecond before midnight is still that day."""
        store, org_id = self._usage_history()
        assert self._usage(store, org_id, "day") == [
            ("2026-01-15", 30, 0, 2),
            ("2026-01-16", 30, 0, 1),
            ("2026-01-18", 25, 0, 1),
            ("2026-01-19", 5, 0, 1),
            ("2026-01-20", 0, 20, 0),
        ]
        assert self._usage(store, org_id, "week") == [
            ("2026-W03", 85, 0, 4),
            ("2026-W04", 5, 20, 1),
        ]
        assert self._usage(store, org_id, "month") == [("2026-01", 90, 20, 5)]
        assert self._usage(store, org_id, "month", 0, 1) == [
            ("2026-01", 90, 20, 5),
            ("2026-02", 7, 30, 1),
        ]

    def test_usage_weeks_follow_iso_8601_across_years(self) -> None:
        """ISO weeks belong to the year of their Thursday: 30 Dec 2024 is 2025-W01 and
        1 Jan 2027 is 2026-W53."""
        store, org_id = self._seeded("ann")
        ann = member_account("ann")
        days = [
            datetime(2024, 12, 29, 23, 59, 59, 999_999, tzinfo=timezone.utc),
            datetime(2024, 12, 30, tzinfo=timezone.utc),
            datetime(2027, 1, 1, 12, tzinfo=timezone.utc),
            datetime(2027, 1, 3, 23, tzinfo=timezone.utc),
            datetime(2027, 1, 4, tzinfo=timezone.utc),
        ]
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.ALLOCATE, GRANT, ann, 100))
            for amount, at in enumerate(days, start=1):
                spend = self._usage_transfer(org_id, TransferKind.SPEND, ann, USAGE, amount, at)
                uow.ledger.post(spend)
            uow.commit()
        assert self._usage(store, org_id, "week") == [
            ("2024-W52", 1, 0, 1),
            ("2025-W01", 2, 0, 1),
            ("2026-W53", 3 + 4, 0, 2),
            ("2027-W01", 5, 0, 1),
        ]
        assert self._usage(store, org_id, "month") == [("2024-12", 3, 0, 2), ("2027-01", 12, 0, 3)]
        assert [key for key, *_ in self._usage(store, org_id, "day")] == [
            "2024-12-29",
            "2024-12-30",
            "2027-01-01",
            "2027-01-03",
            "2027-01-04",
        ]

    def test_usage_of_one_member_and_of_empty_ranges(self) -> None:
        """With a user id only that member's usage counts; a member without usage, another
        organisation's member and a range without transfers give no rows."""
        store, org_id = self._usage_history()
        assert self._usage(store, org_id, "model", 0, 1, user_id="bob") == [
            ("GPT", 30, 30, 1),
            ("gpt", 32, 0, 2),
        ]
        assert self._usage(store, org_id, "day", user_id="ann") == [
            ("2026-01-15", 30, 0, 2),
            ("2026-01-19", 5, 0, 1),
            ("2026-01-20", 0, 20, 0),
        ]
        assert self._usage(store, org_id, "member", 0, 1, user_id="bob") == [("bob", 62, 30, 3)]
        assert self._usage(store, org_id, "member", 0, 1, user_id="ann-elsewhere") == []
        assert self._usage(store, org_id, "member", 0, 1, user_id="nobody") == []
        assert self._usage(store, org_id, "day", 2, 5) == []
        assert self._usage(store, new_id(T0), "member") == []

    def test_stream_transfers_yields_the_periods_transfers_oldest_first(self) -> None:
        """Streaming yields every transfer of the periods (of every kind) ordered by time, then
        id, whatever order they were posted in, and nothing of other periods or
        organisations."""
        store, org_id = self._seeded("ann")
        ann = member_account("ann")
        at = _at(60)
        make, spend = self._usage_transfer, TransferKind.SPEND
        later = make(org_id, spend, ann, USAGE, 1, at + timedelta(minutes=5))
        tie_a = make(org_id, spend, ann, USAGE, 2, at)
        tie_b = make(org_id, spend, ann, USAGE, 3, at)
        earlier = make(org_id, TransferKind.ALLOCATE, POOL, ann, 10, at - timedelta(minutes=5))
        next_period = make(org_id, spend, ann, USAGE, 4, at, period=1)
        grant = _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10)
        with store.unit_of_work() as uow:
            for transfer in (grant, earlier, later, tie_b, tie_a, next_period):
                uow.ledger.post(transfer)
            uow.commit()
        expected = sorted([grant, earlier, later, tie_a, tie_b], key=lambda t: (t.created_at, t.id))
        with store.unit_of_work() as uow:
            stream = uow.reports.stream_transfers(org_id, first_period=0, last_period=0)
            assert iter(stream) is stream
            assert list(stream) == expected
            both = list(uow.reports.stream_transfers(org_id, first_period=0, last_period=1))
            assert both == sorted([*expected, next_period], key=lambda t: (t.created_at, t.id))
            assert list(uow.reports.stream_transfers(org_id, first_period=2, last_period=9)) == []
            elsewhere = uow.reports.stream_transfers(new_id(T0), first_period=0, last_period=0)
            assert list(elsewhere) == []

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

    # ------------------------------------------------------------------ views

    @staticmethod
    def _page(
        store: Store,
        org_id: str,
        sort: MemberSort = "name",
        *,
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
        period: int = 0,
    ) -> tuple[list[MemberFigures], int]:
        with store.unit_of_work() as uow:
            return uow.views.member_page(
                org_id, period, sort=sort, descending=descending, offset=offset, limit=limit
            )

    @staticmethod
    def _figures(page: list[MemberFigures]) -> dict[str, tuple[object, ...]]:
        """Each member's (allocated, used, remaining, on hold, last activity)."""
        return {
            f.membership.user_id: (f.allocated, f.used, f.remaining, f.on_hold, f.last_activity)
            for f in page
        }

    @staticmethod
    def _people(store: Store, names: dict[str, str]) -> str:
        """Seed an organisation whose members have the given ids and display names."""
        org_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(org_id))
            for code in (GRANT, POOL, USAGE, EXPIRED):
                uow.ledger.open_account(Account(org_id, code))
            for minutes, (user, name) in enumerate(names.items()):
                member = attrs.evolve(_membership(org_id, "x", minutes=minutes), display_name=name)
                uow.memberships.add(attrs.evolve(member, user_id=user))
                uow.ledger.open_account(Account(org_id, member_account(user)))
            uow.commit()
        return org_id

    def test_member_page_shows_each_active_members_figures_for_the_period(self) -> None:
        """The member table has each active member's allocations, use less refunds, available
        credits, holds and latest activity of the period; removed members are left out."""
        store, org_id = self._seeded("ann", "bob", "cy", "dee")
        ann, bob, cy, dee = (member_account(u) for u in ("ann", "bob", "cy", "dee"))
        with store.unit_of_work() as uow:
            for transfer in (
                _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 1000, minutes=1),
                _transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 300, minutes=2),
                _transfer(org_id, TransferKind.APPROVE, POOL, bob, 200, minutes=3),
                _transfer(org_id, TransferKind.ALLOT, POOL, cy, 100, minutes=4),
                _transfer(org_id, TransferKind.ALLOCATE, POOL, dee, 10, minutes=4),
                _transfer(org_id, TransferKind.SPEND, ann, USAGE, 50, minutes=5),
                _transfer(org_id, TransferKind.HOLD, ann, USAGE, 30, minutes=6),
                _transfer(org_id, TransferKind.SPEND, bob, USAGE, 120, minutes=7),
                _transfer(org_id, TransferKind.REFUND, USAGE, bob, 20, minutes=8),
                _transfer(org_id, TransferKind.HOLD, bob, USAGE, 40, minutes=9),
                _transfer(org_id, TransferKind.CAPTURE, bob, USAGE, 25, minutes=10),
                _transfer(org_id, TransferKind.RELEASE, bob, USAGE, 15, minutes=10),
                _transfer(org_id, TransferKind.RECLAIM, cy, POOL, 40, minutes=11),
            ):
                uow.ledger.post(transfer)
            removed = uow.memberships.get(org_id, "dee")
            assert removed is not None
            uow.memberships.update(
                attrs.evolve(removed, status=MemberStatus.REMOVED, removed_at=_at(12))
            )
            uow.commit()
        page, total = self._page(store, org_id)
        assert total == 3
        assert [f.membership.user_id for f in page] == ["ann", "bob", "cy"]
        assert self._figures(page) == {
            "ann": (300, 50, 220, 30, _at(6)),
            "bob": (200, 125, 75, 0, _at(10)),
            "cy": (100, 0, 60, 0, _at(11)),
        }
        with store.unit_of_work() as uow:
            assert page[0].membership == uow.memberships.get(org_id, "ann")

    def test_member_page_counts_only_the_periods_own_movements(self) -> None:
        """A period's figures ignore other periods' movements (the balance carries over), and
        read the same after the period is sealed."""
        store, org_id = self._seeded("ann")
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            for transfer in (
                _transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=1),
                _transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 60, minutes=2),
                _transfer(org_id, TransferKind.SPEND, ann, USAGE, 25, minutes=3),
            ):
                uow.ledger.post(transfer)
            uow.commit()
        before = self._figures(self._page(store, org_id)[0])
        assert before == {"ann": (60, 25, 35, 0, _at(3))}
        with store.unit_of_work() as uow:
            uow.ledger.seal_period(org_id, 0)
            uow.commit()
        assert self._figures(self._page(store, org_id)[0]) == before
        assert self._figures(self._page(store, org_id, period=1)[0]) == {"ann": (0, 0, 35, 0, None)}
        spend = _transfer(org_id, TransferKind.SPEND, ann, USAGE, 5, minutes=40, period=1)
        refund = _transfer(org_id, TransferKind.REFUND, USAGE, ann, 25, minutes=41, period=1)
        with store.unit_of_work() as uow:
            uow.ledger.post(spend)
            uow.ledger.post(refund)
            uow.commit()
        # An earlier period's spend refunded now does not take this period's use below zero.
        assert self._figures(self._page(store, org_id, period=1)[0]) == {
            "ann": (0, 0, 55, 0, _at(41))
        }
        # Remaining and on hold are the account's now, whichever period is asked for.
        assert self._figures(self._page(store, org_id)[0]) == {"ann": (60, 25, 55, 0, _at(3))}

    _SORTED: ClassVar[dict[str, list[str]]] = {
        "name": ["u2", "u4", "u3", "u1", "u5", "u6"],
        "allocated": ["u6", "u2", "u5", "u3", "u4", "u1"],
        "used": ["u3", "u6", "u1", "u5", "u4", "u2"],
        "remaining": ["u6", "u3", "u2", "u5", "u4", "u1"],
        "last_activity": ["u6", "u2", "u4", "u1", "u5", "u3"],
    }

    @pytest.mark.parametrize("sort", list(_SORTED))
    def test_member_page_sorts_by_each_key_both_ways(self, sort: MemberSort) -> None:
        """Each sort key orders the members ascending (by name ignoring case; idle members
        first by last activity; ties by user id), and descending is the exact reverse."""
        store = self.make_store()
        names = {"u1": "delta", "u2": "Alpha", "u3": "charlie", "u4": "BRAVO", "u5": "echo"}
        org_id = self._people(store, {**names, "u6": "Foxtrot"})
        codes = {user: member_account(user) for user in names}
        with store.unit_of_work() as uow:
            uow.ledger.post(_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10_000))
            for minutes, (user, amount) in enumerate(
                [("u1", 500), ("u2", 100), ("u3", 300), ("u4", 400), ("u5", 200)], start=1
            ):
                uow.ledger.post(
                    _transfer(
                        org_id, TransferKind.ALLOCATE, POOL, codes[user], amount, minutes=minutes
                    )
                )
            for minutes, (user, amount) in enumerate(
                [("u2", 50), ("u4", 30), ("u1", 10), ("u5", 20)], start=10
            ):
                uow.ledger.post(
                    _transfer(
                        org_id, TransferKind.SPEND, codes[user], USAGE, amount, minutes=minutes
                    )
                )
            uow.ledger.post(
                _transfer(org_id, TransferKind.HOLD, codes["u3"], USAGE, 280, minutes=14)
            )
            uow.commit()
        expected = self._SORTED[sort]
        page, total = self._page(store, org_id, sort)
        assert ([f.membership.user_id for f in page], total) == (expected, 6)
        page, total = self._page(store, org_id, sort, descending=True)
        assert ([f.membership.user_id for f in page], total) == (expected[::-1], 6)

    def test_member_page_pages_and_breaks_ties_by_user_id(self) -> None:
        """Members with equal keys come in user id order by code point (upper case before
        lower, punctuation counts), reversed descending; offset and limit cut pages of it."""
        store = self.make_store()
        users = ["b1", "a-1", "Z", "B-2", "a1", "A2", "\u00e9"]
        org_id = self._people(
            store, {user: "Same" if i % 2 else "SAME" for i, user in enumerate(users)}
        )
        ordered = sorted(users)
        assert ordered == ["A2", "B-2", "Z", "a-1", "a1", "b1", "\u00e9"]
        for sort in self._SORTED:
            page, total = self._page(store, org_id, sort)  # type: ignore[arg-type]
            assert ([f.membership.user_id for f in page], total) == (ordered, 7), sort
            page, _ = self._page(store, org_id, sort, descending=True)  # type: ignore[arg-type]
            assert [f.membership.user_id for f in page] == ordered[::-1], sort
        pages = [self._page(store, org_id, offset=offset, limit=3) for offset in (0, 3, 6, 7, 50)]
        assert [[f.membership.user_id for f in page] for page, _ in pages] == [
            ordered[0:3],
            ordered[3:6],
            ordered[6:],
            [],
            [],
        ]
        assert {total for _, total in pages} == {7}
        assert self._page(store, "no-such-organisation") == ([], 0)

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

    # ------------------------------------------------------------------ events

    def _with_events(self) -> tuple[Store, str, str]:
        """A store with two organisations; the first recorded three events, the second one."""
        store, org_id = self._seeded()
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(_organisation(other_id, name="Beta"))
            uow.commit()
        with store.unit_of_work() as uow:
            for minutes, amount in ((1, 10), (2, 20)):
                uow.record(
                    ev.PoolToppedUp(
                        organisation_id=org_id,
                        actor="ann",
                        occurred_at=T0 + timedelta(minutes=minutes),
                        amount=amount,
                    )
                )
            uow.record(
                ev.PoolToppedUp(
                    organisation_id=other_id,
                    actor="bob",
                    occurred_at=T0 + timedelta(minutes=2),
                    amount=99,
                )
            )
            uow.commit()
        with store.unit_of_work() as uow:
            uow.record(
                ev.RoleChanged(
                    organisation_id=org_id,
                    actor="bob",
                    occurred_at=T0 + timedelta(minutes=3),
                    user_id="ann",
                    role="admin",
                )
            )
            uow.commit()
        return store, org_id, other_id

    def test_committed_events_are_stored_and_discarded_ones_are_not(self) -> None:
        """Events recorded in a committed unit of work are stored with their fields; a unit of
        work that does not commit stores none."""
        store, org_id, _ = self._with_events()
        with store.unit_of_work() as uow:
            uow.record(ev.PoolToppedUp(organisation_id=org_id, actor="x", occurred_at=T0, amount=1))
        with store.unit_of_work() as uow:
            log = uow.events.list(org_id)
        assert [(e.name, e.actor, dict(e.payload)) for e in log] == [
            ("RoleChanged", "bob", {"user_id": "ann", "role": "admin"}),
            ("PoolToppedUp", "ann", {"amount": 20}),
            ("PoolToppedUp", "ann", {"amount": 10}),
        ]
        assert [e.occurred_at for e in log] == [T0 + timedelta(minutes=m) for m in (3, 2, 1)]
        assert all(e.organisation_id == org_id and e.published_at is None for e in log)

    def test_the_event_log_filters_and_pages(self) -> None:
        """The log filters by name, actor and time window and pages, newest first."""
        store, org_id, other_id = self._with_events()
        with store.unit_of_work() as uow:
            events = uow.events
            assert [e.payload["amount"] for e in events.list(org_id, names=["PoolToppedUp"])] == [
                20,
                10,
            ]
            assert [e.name for e in events.list(org_id, actor="bob")] == ["RoleChanged"]
            window = events.list(
                org_id, since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=3)
            )
            assert [e.payload["amount"] for e in window] == [20]
            assert [e.payload.get("amount") for e in events.list(org_id, offset=1, limit=1)] == [20]
            assert [e.payload["amount"] for e in events.list(other_id)] == [99]

    def test_claimed_events_come_oldest_first_until_marked_published(self) -> None:
        """A relay claims unpublished events, oldest first within each organisation; once
        marked published they are not claimed again and the log shows when."""
        store, org_id, other_id = self._with_events()
        with store.unit_of_work() as uow:
            claimed = uow.events.claim(limit=100)
        mine = [e for e in claimed if e.organisation_id == org_id]
        assert [e.name for e in mine] == ["PoolToppedUp", "PoolToppedUp", "RoleChanged"]
        assert [e.id for e in mine] == sorted(e.id for e in mine)
        assert {e.organisation_id for e in claimed} == {org_id, other_id}
        published = T0 + timedelta(hours=1)
        with store.unit_of_work() as uow:  # not committed: nothing is marked
            uow.events.mark_published([e.id for e in mine], published)
        with store.unit_of_work() as uow:
            assert uow.events.claim(limit=100) == claimed
        with store.unit_of_work() as uow:
            uow.events.mark_published([e.id for e in mine], published)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.events.claim(limit=100) == [
                e for e in claimed if e.organisation_id == other_id
            ]
            log = uow.events.list(org_id)
        assert {e.published_at for e in log} == {published}
