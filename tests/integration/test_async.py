"""An asyncio host calls the library through ``AsyncSession.run_sync``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from armox_enterprise import EnterpriseService, InsufficientCredits, Transfer
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore, configure_sqlite
from armox_enterprise.testing import enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


@pytest.mark.parametrize(
    "backend",
    [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgresql)],
    indirect=True,
)
def test_async_session_runs_use_cases_through_run_sync(backend: Backend) -> None:
    """Spends made inside an AsyncSession commit with it, and refusals roll back cleanly."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=100)
    member = scenario.members[0]
    url = make_url(backend.url).set(drivername=ASYNC_DRIVERS[backend.name])
    options: dict[str, object] = {}
    if backend.name == "postgresql":
        # asyncpg takes the run's search path as a server setting, not a libpq option.
        url = url.difference_update_query(["options"])
        options["connect_args"] = {"server_settings": {"search_path": backend.namespace}}

    async def host() -> tuple[Transfer, int]:
        engine = create_async_engine(url, **options)
        if backend.name == "sqlite":
            configure_sqlite(engine.sync_engine)
        try:
            async with AsyncSession(engine) as session:

                def spend(sync_session: Session) -> Transfer:
                    store = SqlAlchemyStore.joining(sync_session)
                    service = EnterpriseService(store, clock=scenario.clock)
                    return service.spend(member, scenario.org_id, 30, generation_id="async-1")

                def overspend(sync_session: Session) -> None:
                    store = SqlAlchemyStore.joining(sync_session)
                    service = EnterpriseService(store, clock=scenario.clock)
                    service.spend(member, scenario.org_id, 500, generation_id="async-2")

                transfer = await session.run_sync(spend)
                with pytest.raises(InsufficientCredits):
                    await session.run_sync(overspend)
                await session.commit()

                def remaining(sync_session: Session) -> int:
                    store = SqlAlchemyStore.joining(sync_session)
                    service = EnterpriseService(store, clock=scenario.clock)
                    credits = service.profile(member).credits
                    assert credits is not None
                    return credits.remaining

                left = await session.run_sync(remaining)
                await session.commit()
                return transfer, left
        finally:
            await engine.dispose()

    transfer, left = asyncio.run(host())
    assert transfer.amount == 30
    assert left == 70
    assert scenario.service.profile(member).credits.remaining == 70  # type: ignore[union-attr]
