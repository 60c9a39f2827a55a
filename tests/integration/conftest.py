"""Database backends for the integration tests.

SQLite (a file) always runs.  PostgreSQL and MariaDB/MySQL take their SQLAlchemy URL from
``ARMOX_TEST_POSTGRESQL_URL`` and ``ARMOX_TEST_MYSQL_URL``; without one (or if the server is
unreachable) their tests skip, except with ``CI=true``, where that fails the run.

Each test starts from empty tables; after each test every organisation's ledger must reconcile;
at the end of the run the tables are dropped, leaving the shared databases as they were.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, make_url, select, text
from sqlalchemy.pool import NullPool

from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore, configure_sqlite, metadata
from armox_enterprise.adapters.sqlalchemy import tables as default_tables
from armox_enterprise.domain.ledger import reconcile
from armox_enterprise.domain.reconciliation import team_problems

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

SERVER_ENV = {"postgresql": "ARMOX_TEST_POSTGRESQL_URL", "mysql": "ARMOX_TEST_MYSQL_URL"}
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when running in CI, where every backend must be there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: every database backend must be available)")
    pytest.skip(reason)


def server_url(backend: str) -> str:
    """Return the URL of a server backend from the environment, or skip/fail without it."""
    env = SERVER_ENV[backend]
    url = os.environ.get(env, "")
    if not url:
        unavailable(f"{env} is not set")
    return url


def empty_tables(engine: Engine) -> None:
    """Remove every row of the library's tables, children first.

    The database refuses to DELETE transfers (they are append-only), so the transfers table
    is truncated (PostgreSQL, MariaDB: no row trigger fires) or, on SQLite, which has no
    TRUNCATE, dropped and created again with its indexes and triggers.
    """
    transfers = default_tables.transfers
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            transfers.drop(connection)
            transfers.create(connection)
        else:
            connection.execute(text(f"TRUNCATE TABLE {transfers.name}"))
        for table in reversed(metadata.sorted_tables):
            if table is not transfers:
                connection.execute(delete(table))


def reconcile_all(engine: Engine) -> list[str]:
    """Reconcile every organisation's ledger in the database; return the problems."""
    store = SqlAlchemyStore(engine)
    problems: list[str] = []
    with engine.connect() as connection:
        org_ids = [row[0] for row in connection.execute(select(default_tables.organisations.c.id))]
    with store.unit_of_work() as uow:
        for org_id in org_ids:
            transfers = uow.ledger.transfers(org_id)
            found = reconcile(uow.ledger.accounts(org_id), transfers) + team_problems(transfers)
            problems.extend(f"{org_id}: {p}" for p in found)
    return problems


class Backend:
    """One database backend of the test run: its engine, and how to make fresh engines.

    On a server, each test run works in a schema (PostgreSQL) or database (MariaDB) of its
    own, created for the run and dropped after it: runs never see each other's rows, and the
    shared ``test`` database is left as it was.

    Attributes:
        url: the run's own URL (PostgreSQL: with its search path in the connection options).
        namespace: the run's schema or database name (``None`` for SQLite).
    """

    def __init__(
        self,
        name: str,
        url: str,
        make_engine: Callable[..., Engine],
        namespace: str | None = None,
        cleanup: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.namespace = namespace
        self._make_engine = make_engine
        self._cleanup = cleanup
        self.engine = make_engine()

    def close(self) -> None:
        """Dispose of the engine and drop the run's schema or database."""
        self.engine.dispose()
        if self._cleanup is not None:
            self._cleanup()

    def new_engine(self, **options: object) -> Engine:
        """Return another engine on the same database (e.g. with another isolation level)."""
        return self._make_engine(**options)

    def empty(self) -> None:
        """Delete every row of the library's tables."""
        empty_tables(self.engine)

    def store(self, **options: object) -> SqlAlchemyStore:
        """Return a store that owns its transactions on a fresh engine."""
        return SqlAlchemyStore(self.new_engine(**options) if options else self.engine)


def _make_server_backend(name: str) -> Backend:
    base_url = server_url(name)
    namespace = f"armox_run_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, poolclass=NullPool)
    try:
        with admin.begin() as connection:
            kind = "SCHEMA" if name == "postgresql" else "DATABASE"
            connection.execute(text(f"CREATE {kind} {namespace}"))
    except Exception as exc:  # any failure to connect means "unavailable"
        admin.dispose()
        unavailable(f"cannot connect to {name} at {base_url}: {exc}")
    parsed = make_url(base_url)
    if name == "postgresql":
        url = parsed.update_query_dict({"options": f"-csearch_path={namespace}"})
    else:
        url = parsed.set(database=namespace)
    run_url = url.render_as_string(hide_password=False)

    def make(**options: object) -> Engine:
        return create_engine(run_url, pool_size=12, max_overflow=4, **options)  # type: ignore[arg-type]

    def cleanup() -> None:
        with admin.begin() as connection:
            kind = "SCHEMA" if name == "postgresql" else "DATABASE"
            cascade = " CASCADE" if name == "postgresql" else ""
            connection.execute(text(f"DROP {kind} IF EXISTS {namespace}{cascade}"))
        admin.dispose()

    return Backend(name, run_url, make, namespace, cleanup)


def _make_sqlite_backend(directory: Path) -> Backend:
    url = f"sqlite:///{directory / 'armox.sqlite3'}"

    def make(**options: object) -> Engine:
        engine = create_engine(url, **options)  # type: ignore[arg-type]
        configure_sqlite(engine)
        return engine

    return Backend("sqlite", url, make)


_backends: dict[str, Backend] = {}


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Backend]]:
    """The backends opened so far in this run; their tables are dropped at the end."""
    yield _backends
    for backend in _backends.values():
        metadata.drop_all(backend.engine)
        backend.close()
    _backends.clear()


def _use(
    name: str, backends: dict[str, Backend], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    if name not in backends:
        if name == "sqlite":
            created = _make_sqlite_backend(tmp_path_factory.mktemp("sqlite"))
        else:
            created = _make_server_backend(name)
        metadata.drop_all(created.engine)
        metadata.create_all(created.engine)
        backends[name] = created
    chosen = backends[name]
    empty_tables(chosen.engine)
    yield chosen
    problems = reconcile_all(chosen.engine)
    assert not problems, "the ledger does not reconcile:\n" + "\n".join(problems)
    empty_tables(chosen.engine)


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest,
    backends: dict[str, Backend],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Backend]:
    """Each backend in turn, with empty tables; the ledger must reconcile after the test."""
    yield from _use(request.param, backends, tmp_path_factory)


@pytest.fixture(params=BACKENDS[1:])
def server_backend(
    request: pytest.FixtureRequest,
    backends: dict[str, Backend],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Backend]:
    """Each server backend (PostgreSQL, MariaDB) in turn, like :func:`backend`."""
    yield from _use(request.param, backends, tmp_path_factory)
