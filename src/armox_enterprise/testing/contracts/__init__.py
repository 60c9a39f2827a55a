"""The storage contract, one test-case class per port: subclass the ones your store passes.

Each class holds the cases of one port, and names in its docstring the repositories it needs,
so a store that implements only those can run it (a host that proves its adapter one
repository at a time composes the rest from another store with
:class:`~armox_enterprise.testing.ComposedStore`).  :class:`StoreContract` is all of them.
Every class has one abstract method, ``make_store()``, which returns a store holding no data.

The repositories each contract needs:

* ``OrganisationContract``: organisations
* ``MembershipContract``: organisations, memberships
* ``DomainClaimContract``: organisations, domains
* ``InvitationContract``: organisations, invitations
* ``JoinRequestContract``: organisations, join requests
* ``LedgerContract``: organisations, ledger
* ``HoldContract``: organisations, holds
* ``CreditRequestContract``: organisations, credit requests
* ``IdempotencyContract``: organisations, idempotency
* ``EventContract``: organisations, events
* ``ReportContract``: organisations, ledger, reports
* ``ViewContract``: organisations, memberships, ledger, views
* ``TeamContract``: organisations, memberships, teams
* ``TransactionContract``: every repository but reports and views
* ``RepositoryRaceContract``: organisations and, in each case, the repository it races on
* ``ServiceRaceContract``: every repository
* ``ConcurrencyContract``: every repository (both race contracts)
* ``ServiceContract``: every repository
* ``OrganisationSettingsContract``: every repository
* ``DomainRecheckContract``: every repository (the domain re-check job through the service)
* ``DirectoryContract``: every repository
* ``TeamServiceContract``: every repository
* ``CapContract``: every repository
* ``SoftLimitContract``: every repository
* ``StoreContract``: every repository (every contract above)

The modules import ``pytest``; the library itself does not need it.
"""

from __future__ import annotations

from armox_enterprise.testing.contracts.base import ContractBase
from armox_enterprise.testing.contracts.caps import CapContract
from armox_enterprise.testing.contracts.concurrency import (
    ConcurrencyContract,
    RepositoryRaceContract,
    ServiceRaceContract,
)
from armox_enterprise.testing.contracts.directory import DirectoryContract
from armox_enterprise.testing.contracts.domains import DomainClaimContract
from armox_enterprise.testing.contracts.events import EventContract
from armox_enterprise.testing.contracts.grace import SoftLimitContract
from armox_enterprise.testing.contracts.holds import HoldContract
from armox_enterprise.testing.contracts.idempotency import IdempotencyContract
from armox_enterprise.testing.contracts.invitations import InvitationContract
from armox_enterprise.testing.contracts.join_requests import JoinRequestContract
from armox_enterprise.testing.contracts.ledger import LedgerContract
from armox_enterprise.testing.contracts.memberships import MembershipContract
from armox_enterprise.testing.contracts.organisations import OrganisationContract
from armox_enterprise.testing.contracts.rechecks import DomainRecheckContract
from armox_enterprise.testing.contracts.reports import ReportContract
from armox_enterprise.testing.contracts.requests import CreditRequestContract
from armox_enterprise.testing.contracts.service import ServiceContract
from armox_enterprise.testing.contracts.settings import OrganisationSettingsContract
from armox_enterprise.testing.contracts.store import StoreContract
from armox_enterprise.testing.contracts.teams import TeamContract, TeamServiceContract
from armox_enterprise.testing.contracts.transactions import TransactionContract
from armox_enterprise.testing.contracts.views import ViewContract

__all__ = [
    "CapContract",
    "ConcurrencyContract",
    "ContractBase",
    "CreditRequestContract",
    "DirectoryContract",
    "DomainClaimContract",
    "DomainRecheckContract",
    "EventContract",
    "HoldContract",
    "IdempotencyContract",
    "InvitationContract",
    "JoinRequestContract",
    "LedgerContract",
    "MembershipContract",
    "OrganisationContract",
    "OrganisationSettingsContract",
    "ReportContract",
    "RepositoryRaceContract",
    "ServiceContract",
    "ServiceRaceContract",
    "SoftLimitContract",
    "StoreContract",
    "TeamContract",
    "TeamServiceContract",
    "TransactionContract",
    "ViewContract",
]
