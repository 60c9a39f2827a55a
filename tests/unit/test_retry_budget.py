"""What a call raises when its retries run out: the same error, saying it is safe to retry.

A transient failure (a deadlock, a serialization failure) rolled the attempt back; a lost
COMMIT answer may have committed.  After the last attempt the caller is told which, so that a
host retries a call safely: with the same idempotency key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise import EnterpriseService, TransientStorageError
from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.domain.ledger import POOL
from armox_enterprise.exceptions import CommitOutcomeUnknown
from armox_enterprise.testing import FrozenClock, enterprise


class _FailingCommits:
    """A store whose COMMITs fail with ``error`` (each attempt rolls back instead)."""

    def __init__(self, inner: MemoryStore, error: type[TransientStorageError]) -> None:
        self._inner = inner
        self.error = error
        self.commits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @contextmanager
    def unit_of_work(self) -> Iterator[Any]:
        with self._inner.unit_of_work() as uow:
            store = self

            class Failing:
                def __getattr__(self, name: str) -> Any:
                    return getattr(uow, name)

                def commit(self) -> None:
                    store.commits += 1
                    raise store.error(
                        "the database failed (deadlock with a concurrent transaction)"
                    )

            yield Failing()


@settings(max_examples=20, deadline=None)
@given(
    attempts=st.integers(min_value=1, max_value=6),
    error=st.sampled_from([TransientStorageError, CommitOutcomeUnknown]),
)
def test_the_last_transient_failure_says_how_often_and_whether_to_retry(
    attempts: int, error: type[TransientStorageError]
) -> None:
    scenario = enterprise(members=1)
    failing = _FailingCommits(scenario.store, error)  # type: ignore[arg-type]
    clock = FrozenClock(scenario.clock.now())
    service = EnterpriseService(failing, clock=clock, max_attempts=attempts)  # type: ignore[arg-type]
    before = _pool(scenario.store, scenario.org_id)
    with pytest.raises(error) as raised:
        service.top_up(scenario.admin, scenario.org_id, 5, idempotency_key="invoice-1")
    message = str(raised.value)
    assert f"tried {attempts} times" in message
    assert "deadlock with a concurrent transaction" in message
    if error is CommitOutcomeUnknown:
        assert "same idempotency key" in message
        assert "never without one" in message
    else:
        assert "nothing of the call was committed" in message
        assert "safe to run again" in message
    assert isinstance(raised.value.__cause__, error)
    assert failing.commits >= attempts
    assert _pool(scenario.store, scenario.org_id) == before
    assert scenario.service.reconcile(scenario.org_id) == []


def _pool(store: MemoryStore, organisation_id: str) -> int:
    with store.unit_of_work() as uow:
        pool = uow.ledger.get_account(organisation_id, POOL)
        assert pool is not None
        return pool.credits_posted
