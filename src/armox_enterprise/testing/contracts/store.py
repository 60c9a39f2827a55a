"""The whole storage contract in one class: every port's cases, the unit of work's, the races
and the service's."""

from __future__ import annotations

from armox_enterprise.testing.contracts.caps import CapContract
from armox_enterprise.testing.contracts.concurrency import ConcurrencyContract
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
from armox_enterprise.testing.contracts.teams import TeamContract, TeamServiceContract
from armox_enterprise.testing.contracts.transactions import TransactionContract
from armox_enterprise.testing.contracts.views import ViewContract

__all__ = ["StoreContract"]


class StoreContract(
    OrganisationContract,
    OrganisationSettingsContract,
    MembershipContract,
    DomainClaimContract,
    InvitationContract,
    JoinRequestContract,
    LedgerContract,
    HoldContract,
    CreditRequestContract,
    IdempotencyContract,
    TeamContract,
    EventContract,
    ReportContract,
    ViewContract,
    TransactionContract,
    ConcurrencyContract,
    ServiceContract,
    DomainRecheckContract,
    DirectoryContract,
    TeamServiceContract,
    CapContract,
    SoftLimitContract,
):
    """The cases every store passes; subclass it as ``Test<YourStore>`` and implement
    :meth:`make_store`.

    It is every contract of :mod:`armox_enterprise.testing.contracts` at once, so it needs
    every repository.  The class attributes tune the races for slower stores.

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
            (raise it for stores that report many serialization failures).
    """
