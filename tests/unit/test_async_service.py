"""AsyncEnterpriseService: a coroutine twin for every use case, and the memory store under it.

These need neither SQLAlchemy nor greenlet: ``AsyncEnterpriseService.over`` runs a service on
the memory store straight from the coroutine.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from armox_enterprise import (
    AsyncEnterpriseService,
    EnterpriseService,
    Event,
    InsufficientCredits,
    OrganisationNotFound,
    PermissionDenied,
)
from armox_enterprise.testing import Scenario, enterprise

_T = TypeVar("_T")

#: The public methods that stay plain functions: they touch no store.
NOT_COROUTINES = {"subscribe"}


def public_methods(kind: type) -> set[str]:
    return {name for name in dir(kind) if not name.startswith("_")}


def run(main: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    return asyncio.run(main())


@pytest.fixture
def acme() -> Scenario:
    """Acme on the memory store; member-1 holds 100 credits."""
    return enterprise(members=1, allocate=100)


def test_every_public_method_of_the_service_has_a_twin_declared_in_the_class() -> None:
    """A use case added to EnterpriseService without its twin fails here: the twins are
    declared one per line in the class body, which is what mypy types."""
    declared = {name for name in vars(AsyncEnterpriseService) if not name.startswith("_")}
    assert declared - {"joining", "over"} == public_methods(EnterpriseService)


@pytest.mark.parametrize("name", sorted(public_methods(EnterpriseService) - NOT_COROUTINES))
def test_each_twin_is_a_coroutine_with_the_use_cases_signature_and_docstring(name: str) -> None:
    """Same name, parameters and docstring; awaited instead of called."""
    sync = getattr(EnterpriseService, name)
    twin = getattr(AsyncEnterpriseService, name)
    assert inspect.iscoroutinefunction(twin)
    assert twin.__wrapped__ is sync
    assert twin.__name__ == name
    assert twin.__doc__ == sync.__doc__
    assert (
        list(inspect.signature(twin).parameters)[1:] == list(inspect.signature(sync).parameters)[1:]
    )


@pytest.mark.parametrize("name", sorted(NOT_COROUTINES))
def test_the_plain_methods_stay_plain(name: str) -> None:
    """subscribe registers a handler: nothing to await."""
    assert not inspect.iscoroutinefunction(getattr(AsyncEnterpriseService, name))


def test_over_the_memory_store_a_spend_and_the_views(acme: Scenario) -> None:
    """The async service shares the sync service's store: what one spends the other sees."""
    service = AsyncEnterpriseService.over(acme.service)
    member = acme.members[0]

    async def main() -> tuple[int, int, int]:
        transfer = await service.spend(member, acme.org_id, 30, generation_id="gen-1")
        again = await service.spend(member, acme.org_id, 30, generation_id="gen-1")
        assert again.id == transfer.id
        credits = (await service.profile(member)).credits
        assert credits is not None
        dashboard = await service.dashboard(acme.admin, acme.org_id)
        return transfer.amount, credits.remaining, dashboard.pool.used

    assert run(main) == (30, 70, 30)
    credits = acme.service.profile(member).credits
    assert credits is not None
    assert credits.remaining == 70


def test_over_the_memory_store_errors_are_the_librarys(acme: Scenario) -> None:
    """Refusals raise the same errors as the synchronous service, from the await."""
    service = AsyncEnterpriseService.over(acme.service)
    member = acme.members[0]

    async def main() -> None:
        with pytest.raises(InsufficientCredits):
            await service.spend(member, acme.org_id, 500, generation_id="gen-big")
        with pytest.raises(PermissionDenied):
            await service.dashboard(member, acme.org_id)
        with pytest.raises(OrganisationNotFound):
            await service.dashboard("stranger", acme.org_id)

    run(main)


def test_over_the_memory_store_coroutines_spending_at_once_never_overdraw(
    acme: Scenario,
) -> None:
    """Fifteen coroutines spend 10 each from 100: ten succeed, five are refused."""
    service = AsyncEnterpriseService.over(acme.service)
    member = acme.members[0]

    async def main() -> list[object]:
        spends = [
            service.spend(member, acme.org_id, 10, generation_id=f"race-{n}") for n in range(15)
        ]
        return await asyncio.gather(*spends, return_exceptions=True)

    results = run(main)
    assert sum(isinstance(r, InsufficientCredits) for r in results) == 5
    assert acme.service.reconcile(acme.org_id) == []


def test_over_the_memory_store_handlers_and_exports(acme: Scenario) -> None:
    """Handlers see committed events; an export's lines come from an async generator."""
    service = AsyncEnterpriseService.over(acme.service)
    member = acme.members[0]
    seen: list[str] = []

    def handler(event: Event) -> None:
        seen.append(event.name)

    service.subscribe(handler)

    async def main() -> list[str]:
        await service.spend(member, acme.org_id, 10, generation_id="gen-1")
        lines = await service.export_usage_csv(acme.admin, acme.org_id)
        return [line async for line in lines]

    lines = run(main)
    assert seen == ["CreditsSpent"]
    assert len(lines) == 2
    assert lines[1].split(",")[3] == "spend"


def test_over_takes_only_a_service() -> None:
    """Anything but an EnterpriseService is refused."""
    with pytest.raises(TypeError):
        AsyncEnterpriseService.over(object())  # type: ignore[arg-type]
