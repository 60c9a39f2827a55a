"""Each contract uses only the repositories its docstring names: run on a store whose every
other repository fails the case as soon as it is touched, it still passes."""

from __future__ import annotations

from typing import Any

import pytest

from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.ports import Store
from armox_enterprise.testing import ComposedStore
from armox_enterprise.testing.contracts import (
    CreditRequestContract,
    DomainClaimContract,
    EventContract,
    HoldContract,
    IdempotencyContract,
    InvitationContract,
    JoinRequestContract,
    LedgerContract,
    MembershipContract,
    OrganisationContract,
    ReportContract,
    RepositoryRaceContract,
    TeamContract,
    TransactionContract,
    ViewContract,
)

REPOSITORIES = frozenset(
    {
        "organisations",
        "memberships",
        "domains",
        "invitations",
        "join_requests",
        "ledger",
        "holds",
        "requests",
        "idempotency",
        "events",
        "reports",
        "views",
        "teams",
    }
)


class Unneeded:
    """Stands in for a repository a contract says it does not need."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        pytest.fail(f"the contract used {self._name}.{attribute}, which it says it does not need")


def store_with_only(*needed: str) -> Store:
    """A memory store whose repositories other than ``needed`` fail the case when used."""
    assert set(needed) <= REPOSITORIES
    unneeded = {name: (lambda _, n=name: Unneeded(n)) for name in REPOSITORIES - set(needed)}
    return ComposedStore(MemoryStore(), **unneeded)


class TestOrganisationContractNeeds(OrganisationContract):
    """The organisations contract needs organisations only."""

    def make_store(self) -> Store:
        """A store with organisations only."""
        return store_with_only("organisations")


class TestMembershipContractNeeds(MembershipContract):
    """The memberships contract needs organisations and memberships."""

    def make_store(self) -> Store:
        """A store with organisations and memberships only."""
        return store_with_only("organisations", "memberships")


class TestDomainClaimContractNeeds(DomainClaimContract):
    """The domain-claims contract needs organisations and domains."""

    def make_store(self) -> Store:
        """A store with organisations and domains only."""
        return store_with_only("organisations", "domains")


class TestInvitationContractNeeds(InvitationContract):
    """The invitations contract needs organisations and invitations."""

    def make_store(self) -> Store:
        """A store with organisations and invitations only."""
        return store_with_only("organisations", "invitations")


class TestJoinRequestContractNeeds(JoinRequestContract):
    """The join-requests contract needs organisations and join requests."""

    def make_store(self) -> Store:
        """A store with organisations and join requests only."""
        return store_with_only("organisations", "join_requests")


class TestLedgerContractNeeds(LedgerContract):
    """The ledger contract needs organisations and the ledger."""

    def make_store(self) -> Store:
        """A store with organisations and the ledger only."""
        return store_with_only("organisations", "ledger")


class TestHoldContractNeeds(HoldContract):
    """The holds contract needs organisations and holds."""

    def make_store(self) -> Store:
        """A store with organisations and holds only."""
        return store_with_only("organisations", "holds")


class TestCreditRequestContractNeeds(CreditRequestContract):
    """The credit-requests contract needs organisations and credit requests."""

    def make_store(self) -> Store:
        """A store with organisations and credit requests only."""
        return store_with_only("organisations", "requests")


class TestIdempotencyContractNeeds(IdempotencyContract):
    """The idempotency contract needs organisations and idempotency."""

    def make_store(self) -> Store:
        """A store with organisations and idempotency only."""
        return store_with_only("organisations", "idempotency")


class TestEventContractNeeds(EventContract):
    """The events contract needs organisations and events."""

    def make_store(self) -> Store:
        """A store with organisations and events only."""
        return store_with_only("organisations", "events")


class TestReportContractNeeds(ReportContract):
    """The reports contract needs organisations, the ledger and reports."""

    def make_store(self) -> Store:
        """A store with organisations, the ledger and reports only."""
        return store_with_only("organisations", "ledger", "reports")


class TestViewContractNeeds(ViewContract):
    """The views contract needs organisations, memberships, the ledger and views."""

    def make_store(self) -> Store:
        """A store with organisations, memberships, the ledger and views only."""
        return store_with_only("organisations", "memberships", "ledger", "views")


class TestTransactionContractNeeds(TransactionContract):
    """The unit-of-work contract needs every repository but reports and views."""

    def make_store(self) -> Store:
        """A store without reports and views."""
        return store_with_only(*(REPOSITORIES - {"reports", "views"}))


class TestRepositoryRaceContractNeeds(RepositoryRaceContract):
    """The repository races need organisations and the repositories they race on."""

    def make_store(self) -> Store:
        """A store without invitations, events, reports and views."""
        return store_with_only(*(REPOSITORIES - {"invitations", "events", "reports", "views"}))


class TestTeamContractNeeds(TeamContract):
    """The teams contract needs organisations, memberships and teams."""

    def make_store(self) -> Store:
        """A store with organisations, memberships and teams only."""
        return store_with_only("organisations", "memberships", "teams")
