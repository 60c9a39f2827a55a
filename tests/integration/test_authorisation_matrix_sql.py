"""The authorisation matrix on every database backend: SQLite, PostgreSQL and MariaDB.

The cells, the world they start from and the check of each one are those of
``tests/unit/test_authorisation_matrix.py`` (imported from its directory: the test
directories are not packages); here the store is the SQLAlchemy store, and the snapshot a
refusal must leave unchanged is every row of every table of the library.

Building the world takes some thirty units of work, too slow to repeat for each of the
matrix's cells on a server.  So it is built once per backend, its rows are kept, and each
cell starts from those rows inserted again into the emptied tables, with a service of its
own (whose first call, as in a freshly built world, has already been made).

SQLite runs every cell.  PostgreSQL and MariaDB run a representative subset, to stay well
under a minute each on a busy machine: in each row, one actor for each distinct answer (taking
turns, row by row, among the actors who get that answer, so every kind of actor is met), and
every actor in the rows whose answers read the stored memberships and accounts themselves
(spending, reserving and resolving holds).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from sqlalchemy import select

from armox_enterprise import EnterpriseService
from armox_enterprise.adapters.sqlalchemy import metadata
from armox_enterprise.testing import FrozenClock, StaticDnsResolver

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


# The unit tests' directory goes on the path as pytest's own (prepend) imports put it there,
# so the matrix is one module, whose assertions pytest rewrites, whichever directory runs.
_UNIT_TESTS = str(Path(__file__).resolve().parents[1] / "unit")
if _UNIT_TESTS not in sys.path:
    sys.path.insert(0, _UNIT_TESTS)
matrix = importlib.import_module("test_authorisation_matrix")

#: Rows of each table, by table name.
Rows = dict[str, list[dict[str, Any]]]


def _rows(backend: Backend) -> Rows:
    with backend.engine.connect() as connection:
        return {
            table.name: [dict(row._mapping) for row in connection.execute(select(table))]
            for table in metadata.sorted_tables
        }


def table_snapshot(backend: Backend) -> matrix.Snapshot:
    """Return a snapshot of every row of every table of the library on ``backend``."""

    def take() -> object:
        return {
            name: sorted((tuple(row.items()) for row in rows), key=repr)
            for name, rows in _rows(backend).items()
        }

    return take


#: Each backend's world as first built, and its rows: by backend name and namespace.
_WORLDS: dict[tuple[str, str | None], tuple[Any, Rows]] = {}


def world_on(backend: Backend) -> Any:
    """The matrix's world on ``backend``, whose tables the fixture has just emptied."""
    key = (backend.name, backend.namespace)
    if key not in _WORLDS:
        world = matrix.build_world(backend.store())
        _WORLDS[key] = (world, _rows(backend))
        return world
    built, rows = _WORLDS[key]
    with backend.engine.begin() as connection:
        for table in metadata.sorted_tables:
            # Generated columns (the grant's period) are the database's to fill in.
            stored = [c.name for c in table.columns if c.computed is None]
            values = [{name: row[name] for name in stored} for row in rows[table.name]]
            if values:
                connection.execute(table.insert(), values)
    store = backend.store()
    clock = FrozenClock(built.clock.now())
    dns = StaticDnsResolver(built.dns.records)
    service = EnterpriseService(store, clock=clock, dns=dns)
    service.get_organisation("admin", built.org_id)
    return attrs.evolve(built, service=service, store=store, clock=clock, dns=dns)


def test_a_restored_world_holds_what_the_built_one_did(backend: Backend) -> None:
    """The rows a cell starts from read back exactly as the world that was built."""
    world = world_on(backend)
    first = table_snapshot(backend)()
    backend.empty()
    again = world_on(backend)
    assert table_snapshot(backend)() == first
    assert again.service.reconcile(again.org_id) == []
    assert again.service.dashboard("admin", again.org_id) == world.service.dashboard(
        "admin", world.org_id
    )


#: The rows every backend runs with every actor.
EVERY_ACTOR = frozenset(
    {"spend", "reserve", "capture_hold", "release_hold", "capture_own_hold", "release_own_hold"}
)


def representative(case: str, actor: str) -> bool:
    """Whether a server backend runs the cell: see the module's docstring."""
    if case in EVERY_ACTOR:
        return True
    groups: dict[object, list[str]] = {}
    for someone in matrix.SPEC[case].rule.actors:
        groups.setdefault(matrix.expected(case, someone), []).append(someone)
    turn = list(matrix.SPEC).index(case)
    return any(group[turn % len(group)] == actor for group in groups.values())


#: The backends of ``conftest.BACKENDS``, with their marks.
BACKEND_MARKS: dict[str, list[pytest.MarkDecorator]] = {
    "sqlite": [],
    "postgresql": [pytest.mark.postgresql],
    "mysql": [pytest.mark.mysql],
}


def _cells() -> list[Any]:
    """The cells of each backend, as parameters of the (indirect) ``backend`` fixture."""
    params = []
    for name, marks in BACKEND_MARKS.items():
        chosen = matrix.cells() if name == "sqlite" else matrix.cells(representative)
        for cell in chosen:
            values, cell_marks = cell.values, list(cell.marks)
            params.append(
                pytest.param(name, *values, id=f"{name}-{cell.id}", marks=[*marks, *cell_marks])
            )
    return params


@pytest.mark.parametrize(("backend", "case", "actor"), _cells(), indirect=["backend"])
def test_cell(backend: Backend, case: str, actor: str) -> None:
    """On the SQL store, the cell answers as the spec and ROLE_PERMISSIONS say."""
    matrix.check_cell(world_on(backend), case, actor, table_snapshot(backend))
