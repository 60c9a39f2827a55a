"""The storage contract: the test cases every adapter of :mod:`armox_enterprise.ports` passes.

The cases live in :mod:`armox_enterprise.testing.contracts`, one class per port; this module
re-exports them, so ``from armox_enterprise.testing.conformance import StoreContract`` keeps
working.  It needs ``pytest`` (imported at module level); the library itself does not.

Subclass :class:`StoreContract` in a module pytest collects, name the subclass ``Test...`` and
implement ``make_store()`` so that it returns a store holding no data at all, every time it is
called (create or truncate the tables there)::

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
clean-up around each case.  To run one port's cases only, subclass that port's contract
(``LedgerContract``, ``CreditRequestContract`` ...) instead.
"""

from __future__ import annotations

from armox_enterprise.testing.contracts import (
    CapContract,
    ConcurrencyContract,
    ContractBase,
    CreditRequestContract,
    DirectoryContract,
    DomainClaimContract,
    DomainRecheckContract,
    EventContract,
    HoldContract,
    IdempotencyContract,
    InvitationContract,
    JoinRequestContract,
    LedgerContract,
    MembershipContract,
    OrganisationContract,
    OrganisationSettingsContract,
    ReportContract,
    RepositoryRaceContract,
    ServiceContract,
    ServiceRaceContract,
    SoftLimitContract,
    StoreContract,
    TeamContract,
    TeamServiceContract,
    TransactionContract,
    ViewContract,
)

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
