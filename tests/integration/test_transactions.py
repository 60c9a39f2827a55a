"""The two ways to own the transaction: the library's own, or the host's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.orm import Session, sessionmaker

from armox_enterprise import EnterpriseService, InsufficientCredits, TransientStorageError
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.domain.ledger import member_account
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

host_metadata = MetaData()
host_orders = Table(
    "host_orders",
    host_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("note", String(50), nullable=False),
)


@pytest.fixture
def host_table(backend: Backend) -> Iterator[Table]:
    """A table of the host's own, created for the test and dropped after it."""
    host_metadata.create_all(backend.engine)
    yield host_orders
    host_metadata.drop_all(backend.engine)


def _available(scenario: Scenario, user: str) -> int:
    with scenario.store.unit_of_work() as uow:
        account = uow.ledger.get_account(scenario.org_id, member_account(user))
        assert account is not None
        return account.available


def _host_rows(backend: Backend) -> int:
    with backend.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(host_orders)).scalar_one())


def _joined_service(scenario: Scenario, host: Session) -> EnterpriseService:
    return EnterpriseService(SqlAlchemyStore.joining(host), clock=scenario.clock)


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_joined_session_commits_and_rolls_back_with_the_host(
    backend: Backend, host_table: Table, outcome: str
) -> None:
    """Joining a host Session: the host's write and the library's spend share one fate."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    member = scenario.members[0]
    with Session(backend.engine) as session:
        session.execute(host_table.insert().values(note="generation g1"))
        _joined_service(scenario, session).spend(member, scenario.org_id, 30, generation_id="g1")
        if outcome == "commit":
            session.commit()
        else:
            session.rollback()
    committed = outcome == "commit"
    assert _host_rows(backend) == (1 if committed else 0)
    assert _available(scenario, member) == (70 if committed else 100)


def test_joined_session_is_never_committed_by_the_library(
    backend: Backend, host_table: Table
) -> None:
    """Closing the host's session without committing discards the library's writes too."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    member = scenario.members[0]
    with Session(backend.engine) as session:
        service = _joined_service(scenario, session)
        service.spend(member, scenario.org_id, 10, generation_id="g1")
        service.spend(member, scenario.org_id, 10, generation_id="g2")
        assert service.profile(member).credits.remaining == 80  # type: ignore[union-attr]
    assert _available(scenario, member) == 100


def test_failed_use_case_in_a_joined_session_undoes_only_its_own_writes(
    backend: Backend, host_table: Table
) -> None:
    """A refused spend rolls back to its SAVEPOINT; the host's work goes on and commits."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    member = scenario.members[0]
    with Session(backend.engine) as session:
        service = _joined_service(scenario, session)
        session.execute(host_table.insert().values(note="before"))
        service.spend(member, scenario.org_id, 60, generation_id="g1")
        with pytest.raises(InsufficientCredits):
            service.spend(member, scenario.org_id, 60, generation_id="g2")
        session.execute(host_table.insert().values(note="after"))
        session.commit()
    assert _host_rows(backend) == 2
    assert _available(scenario, member) == 40


def test_joined_connection_works_like_a_joined_session(backend: Backend) -> None:
    """A host Connection can be joined too; its transaction decides."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    member = scenario.members[0]
    with backend.engine.connect() as connection:
        service = EnterpriseService(SqlAlchemyStore.joining(connection), clock=scenario.clock)
        service.spend(member, scenario.org_id, 25, generation_id="g1")
        connection.commit()
    assert _available(scenario, member) == 75


def test_joined_store_does_not_retry_transient_failures(backend: Backend) -> None:
    """Joining a host, a transient failure reaches the host: its transaction is not ours."""
    with Session(backend.engine) as session:
        assert SqlAlchemyStore.joining(session).retry_transient is False
    assert SqlAlchemyStore(backend.engine).retry_transient is True
    calls: list[int] = []

    class Flaky:
        retry_transient = False

        def unit_of_work(self) -> object:
            calls.append(1)
            raise TransientStorageError("serialization failure")

    service = EnterpriseService(Flaky())  # type: ignore[arg-type]
    with pytest.raises(TransientStorageError):
        service.profile("anyone")
    assert calls == [1]


def test_store_from_a_sessionmaker_owns_and_commits_its_transactions(backend: Backend) -> None:
    """A store built on a sessionmaker opens, and commits, a session per unit of work."""
    store = SqlAlchemyStore(sessionmaker(backend.engine))
    scenario = enterprise(store=store, members=1, allocate=100)
    member = scenario.members[0]
    scenario.service.spend(member, scenario.org_id, 5, generation_id="g1")
    assert _available(scenario, member) == 95
    with pytest.raises(InsufficientCredits):
        scenario.service.spend(member, scenario.org_id, 500, generation_id="g2")
    assert _available(scenario, member) == 95
