"""The SQLAlchemy store passes the shipped storage contract on every database backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.testing.conformance import StoreContract

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


class TestSqlAlchemyStore(StoreContract):
    """The contract, run on SQLite (a file), PostgreSQL and MariaDB."""

    backend: Backend

    @pytest.fixture(autouse=True)
    def _use_backend(self, backend: Backend) -> None:
        self.backend = backend

    def make_store(self) -> SqlAlchemyStore:
        """A store on the backend's database, its tables emptied."""
        self.backend.empty()
        return SqlAlchemyStore(self.backend.engine)
