"""A typing test of AsyncEnterpriseService: ``mypy tests/typing`` must pass with ``strict``.

It is never run.  Each twin must keep its use case's parameters and result, awaited: a wrong
argument is an error (the ``type: ignore`` comments would be unused otherwise, which strict
mypy reports), and ``assert_type`` fails the check if a result drifts to ``Any``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from typing_extensions import assert_type

from armox_enterprise import (
    AsyncEnterpriseService,
    CreditRequest,
    Dashboard,
    EnterpriseService,
    Event,
    MemoryStore,
    ProfileView,
    Transfer,
)


async def owned(engine: AsyncEngine, maker: async_sessionmaker[AsyncSession]) -> None:
    service = AsyncEnterpriseService(engine, max_attempts=3)
    AsyncEnterpriseService(maker)
    transfer = await service.spend("bruno", "org", 10, generation_id="gen-1", feature="image")
    assert_type(transfer, Transfer)
    assert_type(await service.profile("bruno"), ProfileView)
    assert_type(await service.dashboard("ana", "org", sort="used", limit=10), Dashboard)
    made = await service.request_credits("bruno", "org", 50, note="launch")
    assert_type(made, CreditRequest)
    lines = await service.export_usage_csv("ana", "org", first_period=0)
    assert_type(lines, AsyncGenerator[str, None])
    await service.spend("bruno", "org", "ten", generation_id="gen-2")  # type: ignore[arg-type]
    await service.spend("bruno", "org", 10, generation="gen-3")  # type: ignore[call-arg]


async def joined(session: AsyncSession) -> None:
    service = AsyncEnterpriseService.joining(session)
    assert_type(await service.allocate_credits("ana", "org", "bruno", 100), Transfer)

    def handler(event: Event) -> None:
        print(event.name)

    service.subscribe(handler)


async def memory() -> None:
    service = AsyncEnterpriseService.over(EnterpriseService(MemoryStore()))
    assert_type(await service.reconcile("org"), list[str])
