"""What every contract shares: the abstract store factory, the records the cases write, and
small readers of a store's state.

The record builders date everything from :data:`T0`, so a case reads as a timeline of minutes
after it; they are public for a host that writes cases of its own next to the shipped ones.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import pytest

from armox_enterprise import EnterpriseService
from armox_enterprise.domain.ledger import (
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    Account,
    Hold,
    Transfer,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.organisation import Membership, Organisation, Role
from armox_enterprise.domain.requests import CreditRequest
from armox_enterprise.domain.values import EmailAddress, new_id
from armox_enterprise.exceptions import ArmoxError, TransientStorageError
from armox_enterprise.ports import Store, UnitOfWork
from armox_enterprise.testing.builders import Scenario, enterprise

__all__ = [
    "T0",
    "ContractBase",
    "a_hold",
    "a_membership",
    "a_request",
    "a_transfer",
    "an_organisation",
    "at",
]

_T = TypeVar("_T")

#: The instant the port-level cases are set at; every record they write is dated from it.
T0 = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)

#: The accounts every organisation has, besides one per member.
ORGANISATION_ACCOUNTS = (GRANT, POOL, USAGE, EXPIRED)


def at(minutes: int) -> datetime:
    """Return the instant ``minutes`` after :data:`T0`."""
    return T0 + timedelta(minutes=minutes)


def an_organisation(org_id: str, *, index: int = 0, name: str = "Acme") -> Organisation:
    """Return an organisation created at :data:`T0`, in period ``index`` of its cycle."""
    return Organisation(
        id=org_id,
        name=name,
        monthly_allowance=1000,
        cycle_anchor=T0,
        created_at=T0,
        current_period_index=index,
    )


def a_membership(
    org_id: str, user: str, *, minutes: int = 0, role: Role = Role.MEMBER
) -> Membership:
    """Return ``user``'s active membership of the organisation, joined ``minutes`` after T0."""
    return Membership(
        organisation_id=org_id,
        user_id=user,
        email=EmailAddress.parse(f"{user}@acme.example"),
        display_name=user.title(),
        role=role,
        joined_at=at(minutes),
    )


def a_transfer(
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
    """Return a transfer made by ``"admin"`` ``minutes`` after T0, with a new id."""
    created = at(minutes)
    return Transfer(
        id=new_id(created),
        organisation_id=org_id,
        kind=kind,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        period_index=period,
        actor="admin",
        created_at=created,
        reference=reference,
    )


def a_hold(org_id: str, user: str, amount: int, *, minutes: int = 0, life: int = 60) -> Hold:
    """Return a pending hold of period 0, made ``minutes`` after T0, expiring ``life`` later."""
    created = at(minutes)
    return Hold(
        id=new_id(created),
        organisation_id=org_id,
        user_id=user,
        amount=amount,
        period_index=0,
        created_at=created,
        expires_at=created + timedelta(minutes=life),
        reference=f"generation-{minutes}-{amount}",
    )


def a_request(
    org_id: str, user: str, amount: int, *, minutes: int = 0, period: int = 0
) -> CreditRequest:
    """Return a pending credit request made ``minutes`` after T0."""
    created = at(minutes)
    return CreditRequest(
        id=new_id(created),
        organisation_id=org_id,
        user_id=user,
        amount=amount,
        note="please",
        period_index=period,
        created_at=created,
    )


class ContractBase(abc.ABC):
    """The root of every contract: the store factory, and helpers to seed and read a store.

    Each seeding helper writes through as few repositories as it can, so that a contract runs
    on a store that implements only the repositories its docstring names.

    Attributes:
        supports_concurrency: whether one store may be used from several threads at once; the
            race cases are skipped when it is false.
        threads: how many threads each race starts.
        race_budget: the credits the member of the spending races holds.
        race_spend: what each spend of the spending races costs.
        race_spends_per_thread: how many spends each thread of the spending races makes.
        race_timeout: seconds a racing thread waits for the others before giving up (a guard
            against a deadlocked store, not a speed requirement).
        max_attempts: how often a unit of work that hit a transient storage error is tried
            (by the service, and by the race cases that use the ports directly); raise it for
            stores that report many serialization failures.
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

    # ------------------------------------------------------------------ seeding

    @staticmethod
    def _organisation_in(store: Store, *, name: str = "Acme") -> str:
        """Add an organisation (through the organisations repository only); return its id."""
        org_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(org_id, name=name))
            uow.commit()
        return org_id

    def _with_organisation(self) -> tuple[Store, str]:
        """Return a new store holding one organisation, and the organisation's id."""
        store = self.make_store()
        return store, self._organisation_in(store)

    @staticmethod
    def _seed(store: Store, *users: str, members: bool = True) -> str:
        """Add an organisation with its accounts and one account per user; return its id.

        With ``members`` (the default) the users become members too; without, the seeding
        uses the organisations repository and the ledger only.
        """
        org_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(org_id))
            for code in ORGANISATION_ACCOUNTS:
                uow.ledger.open_account(Account(org_id, code))
            for minutes, user in enumerate(users):
                if members:
                    uow.memberships.add(a_membership(org_id, user, minutes=minutes))
                uow.ledger.open_account(Account(org_id, member_account(user)))
            uow.commit()
        return org_id

    def _seeded(self, *users: str, members: bool = True) -> tuple[Store, str]:
        """Return a new store seeded by :meth:`_seed`, and the organisation's id."""
        store = self.make_store()
        return store, self._seed(store, *users, members=members)

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

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _account(store: Store, org_id: str, code: str) -> Account:
        """Return one account of the organisation, which must exist."""
        with store.unit_of_work() as uow:
            account = uow.ledger.get_account(org_id, code)
        assert account is not None, f"account {code} does not exist"
        return account

    @staticmethod
    def _accounts(store: Store, org_id: str) -> list[Account]:
        """Return the organisation's accounts, by code."""
        with store.unit_of_work() as uow:
            return sorted(uow.ledger.accounts(org_id), key=lambda a: a.code)

    @staticmethod
    def _transfers(store: Store, org_id: str, *kinds: TransferKind) -> list[Transfer]:
        """Return the organisation's transfers (of ``kinds``, when given), oldest first."""
        with store.unit_of_work() as uow:
            return uow.ledger.transfers(org_id, kinds=list(kinds) if kinds else None)

    # ------------------------------------------------------------------ racing

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

    def _committed(self, store: Store, work: Callable[[UnitOfWork], _T]) -> _T:
        """Run ``work`` in a unit of work and commit it; on a transient storage error run it
        again in a new one, up to ``max_attempts`` times in all (as the service does)."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                with store.unit_of_work() as uow:
                    result = work(uow)
                    uow.commit()
                    return result
            except TransientStorageError:
                if attempt == self.max_attempts:
                    raise
        raise AssertionError("max_attempts must be at least 1")

    def _race_to_commit(
        self,
        store: Store,
        work: Callable[[UnitOfWork, int], object],
        refusal: type[ArmoxError],
    ) -> list[int]:
        """Race ``work(uow, thread)`` from every thread, each in a unit of work it commits.

        Returns the threads whose unit of work committed; every other thread's must have been
        refused with ``refusal`` (any other error fails the case).
        """

        def attempt(thread: int) -> bool:
            try:
                self._committed(store, lambda uow: work(uow, thread))
            except refusal:
                return False
            return True

        return [thread for thread, won in enumerate(self._race(attempt)) if won]
