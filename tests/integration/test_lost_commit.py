"""A COMMIT whose answer is lost (the connection drops after the server committed).

Through a loopback proxy that drops the connection right after it forwards a COMMIT, the store
reports :class:`~armox_enterprise.CommitOutcomeUnknown` (not a plain transient error, which
would invite a blind retry), the pool is intact afterwards, and the outcome can be found out:
the unit of work's writes are all there or all absent, never a part.  Through the service, the
call then answers with its one effect.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest
from commit_proxy import CommitDroppingProxy
from sqlalchemy import Engine, create_engine, func, make_url, select

from armox_enterprise import CommitOutcomeUnknown, EnterpriseService, TransferKind
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.adapters.sqlalchemy import tables as default_tables
from armox_enterprise.domain.ledger import member_account
from armox_enterprise.ports import IdempotencyRecord
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)


def _through(backend: Backend, proxy: CommitDroppingProxy) -> Engine:
    """An engine on the backend's database whose connections go through ``proxy``."""
    url = make_url(backend.url).set(host="127.0.0.1", port=proxy.port)
    if backend.name == "postgresql":
        url = url.update_query_dict({"sslmode": "disable", "gssencmode": "disable"})
    return create_engine(url, pool_size=2, max_overflow=0, pool_timeout=5, pool_use_lifo=True)


@pytest.fixture(params=[True, False], ids=["answer_lost", "dropped_after_sending"])
def proxy(server_backend: Backend, request: pytest.FixtureRequest) -> Iterator[CommitDroppingProxy]:
    """A proxy to the server that loses COMMIT answers when armed."""
    url = make_url(server_backend.url)
    default_port = 5432 if server_backend.name == "postgresql" else 3306
    target = (url.host or "127.0.0.1", url.port or default_port)
    with CommitDroppingProxy(target, server_backend.name, wait_for_answer=request.param) as p:
        yield p


def _keys(engine: Engine, org_id: str) -> set[str]:
    table = default_tables.idempotency
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.key).where(table.c.organisation_id == org_id))
        return {row[0] for row in rows if row[0].startswith("lost-")}


def _scenario(backend: Backend) -> Scenario:
    return enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)


def test_a_lost_commit_answer_raises_commit_outcome_unknown(
    server_backend: Backend, proxy: CommitDroppingProxy
) -> None:
    """The store reports the unknown outcome, keeps its pool whole, and wrote all or nothing."""
    scenario = _scenario(server_backend)
    engine = _through(server_backend, proxy)
    store = SqlAlchemyStore(engine)
    try:
        with store.unit_of_work() as uow:  # a pooled connection through the proxy
            assert uow.organisations.get(scenario.org_id) is not None
        proxy.arm()
        with store.unit_of_work() as uow:
            for key in ("lost-1", "lost-2", "lost-3"):
                uow.idempotency.add(IdempotencyRecord(scenario.org_id, key, "test", "", "ref", NOW))
            with pytest.raises(CommitOutcomeUnknown):
                uow.commit()
        assert proxy.dropped == 1
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        found = _keys(server_backend.engine, scenario.org_id)
        assert found in (set(), {"lost-1", "lost-2", "lost-3"})
        if proxy.wait_for_answer:
            assert found == {"lost-1", "lost-2", "lost-3"}  # the server had committed
        for attempt in range(4):  # the next calls work, on the same pool
            with store.unit_of_work() as uow:
                uow.idempotency.add(
                    IdempotencyRecord(scenario.org_id, f"after-{attempt}", "t", "", "r", NOW)
                )
                uow.commit()
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        engine.dispose()


@pytest.mark.parametrize("operation", ["allocate", "spend", "create_organisation"])
def test_a_call_whose_commit_answer_is_lost_has_one_effect(
    server_backend: Backend, proxy: CommitDroppingProxy, operation: str
) -> None:
    """Through the service, a lost COMMIT answer is resolved: one effect, and the call answers."""
    scenario = _scenario(server_backend)
    engine = _through(server_backend, proxy)
    service = EnterpriseService(SqlAlchemyStore(engine), clock=scenario.clock)
    member = scenario.members[0]
    try:
        service.profile(member)  # the service now knows the period: spends take the fast path
        proxy.arm()
        if operation == "allocate":
            service.allocate_credits(scenario.admin, scenario.org_id, member, 40)
        elif operation == "spend":
            service.spend(member, scenario.org_id, 40, generation_id="lost-gen")
        else:
            service.create_organisation(
                name="Lost", admin_user_id="lost-admin", admin_email="lost@lost.example"
            )
        assert proxy.dropped == 1
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        with SqlAlchemyStore(server_backend.engine).unit_of_work() as uow:
            account = uow.ledger.get_account(scenario.org_id, member_account(member))
            allocations = uow.ledger.transfers(scenario.org_id, kinds=[TransferKind.ALLOCATE])
        assert account is not None
        if operation == "allocate":
            assert account.available == 140
            assert len(allocations) == 2  # the scenario's and this call's, once
        elif operation == "spend":
            assert account.available == 60
        else:
            organisations = default_tables.organisations
            with server_backend.engine.connect() as connection:
                query = select(func.count()).where(organisations.c.name == "Lost")
                assert connection.execute(query).scalar_one() == 1
        service.spend(member, scenario.org_id, 1, generation_id="next")
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        engine.dispose()
