"""Configuration shared by every test: Hypothesis profiles and the ledger check.

Hypothesis profiles
    ``dev`` runs fewer examples, for a quick local loop; ``ci`` runs more, and is derandomized
    when the ``CI`` environment variable is set, so a CI failure reproduces.  Neither has a
    deadline (speed is measured by the benchmarks, not by tests).  ``HYPOTHESIS_PROFILE``
    picks one; otherwise ``ci`` is used when ``CI`` is set and ``dev`` when it is not.

The ledger check
    Whatever a test does, every ledger it leaves behind must reconcile: cached balances equal
    what the transfers imply, no guarded account is below zero, credits are conserved.  The
    autouse fixture :func:`ledger_checks` records every :class:`MemoryStore` created during the
    test; right after the test body passes (before fixtures are torn down, so a database is
    still there) every organisation of every recorded store is reconciled, and the test fails
    with the problems found.

    Other stores join the check through the :func:`track_store` fixture, giving a function
    that returns the store's reconciliation problems::

        @pytest.fixture
        def sql_store(track_store, engine):
            store = SqlAlchemyStore(engine)
            track_store(store, lambda: reconcile_all(engine))
            return store

    A test that breaks a ledger on purpose (to see reconciliation report it) is marked
    ``@pytest.mark.unreconciled``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator

import pytest
from hypothesis import settings

from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.domain.ledger import reconcile

#: Returns the problems reconciliation finds in one store (empty when its ledgers are right).
ReconcileFn = Callable[[], list[str]]

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

settings.register_profile("ci", max_examples=400, deadline=None, derandomize=IN_CI)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that exempts a test from the ledger check."""
    config.addinivalue_line(
        "markers", "unreconciled: the test leaves an inconsistent ledger on purpose"
    )


def reconcile_memory_store(store: MemoryStore) -> list[str]:
    """Reconcile every organisation of a memory store, reading its dictionaries directly."""
    org_ids = set(store.organisations) | {org for org, _ in store.accounts}
    problems: list[str] = []
    for org_id in sorted(org_ids):
        accounts = [a for (org, _), a in store.accounts.items() if org == org_id]
        transfers = list(store.transfers.get(org_id, ()))
        problems.extend(f"organisation {org_id}: {p}" for p in reconcile(accounts, transfers))
    return problems


class LedgerChecks:
    """The stores a test used, each with the function that reconciles it."""

    def __init__(self) -> None:
        self._tracked: list[tuple[object, ReconcileFn]] = []

    def track(self, store: object, reconcile_fn: ReconcileFn) -> None:
        """Reconcile ``store`` with ``reconcile_fn`` after the test (once, however often
        it is tracked)."""
        if all(tracked is not store for tracked, _ in self._tracked):
            self._tracked.append((store, reconcile_fn))

    def problems(self) -> list[str]:
        """Return every tracked store's reconciliation problems."""
        found: list[str] = []
        for number, (store, reconcile_fn) in enumerate(self._tracked, start=1):
            found.extend(f"{type(store).__name__} #{number}: {p}" for p in reconcile_fn())
        return found


_CHECKS = pytest.StashKey[LedgerChecks]()


@pytest.fixture(autouse=True)
def ledger_checks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> LedgerChecks:
    """Record every MemoryStore the test creates, for reconciliation after the test."""
    checks = LedgerChecks()
    request.node.stash[_CHECKS] = checks
    original_init = MemoryStore.__init__

    def tracking_init(self: MemoryStore) -> None:
        original_init(self)
        checks.track(self, functools.partial(reconcile_memory_store, self))

    monkeypatch.setattr(MemoryStore, "__init__", tracking_init)
    return checks


@pytest.fixture
def track_store(ledger_checks: LedgerChecks) -> Callable[[object, ReconcileFn], None]:
    """Return ``track_store(store, reconcile_fn)``: add a store to the after-test check."""
    return ledger_checks.track


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After a passing test body, fail the test if a tracked ledger does not reconcile."""
    result = yield
    checks = item.stash.get(_CHECKS, None)
    if checks is not None and item.get_closest_marker("unreconciled") is None:
        problems = checks.problems()
        if problems:
            pytest.fail(
                "a ledger does not reconcile after the test:\n  " + "\n  ".join(problems),
                pytrace=False,
            )
    return result
