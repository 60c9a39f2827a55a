"""Identifiers compare byte for byte on every backend, as they do in the memory store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.testing import enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


def test_user_ids_differing_only_in_case_are_two_users(backend: Backend) -> None:
    """``Bob`` and ``bob`` are two members with two accounts, even on MariaDB."""
    scenario = enterprise(store=SqlAlchemyStore(backend.engine), members=0)
    service = scenario.service
    for user in ("Bob", "bob"):
        decision = service.enrol(
            user, f"{user.lower()}.{len(user)}{user}@acme.example", email_verified=True
        )
        assert decision.enrolled
        service.allocate_credits(scenario.admin, scenario.org_id, user, 10)
    service.spend("Bob", scenario.org_id, 3, generation_id="gen")
    service.spend("bob", scenario.org_id, 4, generation_id="GEN")
    remaining = {
        user: service.profile(user).credits.remaining  # type: ignore[union-attr]
        for user in ("Bob", "bob")
    }
    assert remaining == {"Bob": 7, "bob": 6}
