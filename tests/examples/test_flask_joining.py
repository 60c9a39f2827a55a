"""docs/embedding.md's recipe for a Flask host that joins the library to its transaction runs.

The recipe is the page's one ``{ .python .flask-joining }`` block (the unit suite does not run
it: it needs Flask, which only the ``examples`` session installs).  It runs here as written, on
a new SQLite file: a spend commits the host's row with the library's ledger, and a spend beyond
the member's credits answers 402 and leaves neither.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from armox_enterprise import EnterpriseService
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore

PAGE = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"
RECIPE = re.compile(r"^``` \{ \.python \.flask-joining \}\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@pytest.fixture
def recipe() -> dict[str, Any]:
    """The names the page's recipe defines."""
    blocks = RECIPE.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 1, "docs/embedding.md has one Flask joining recipe"
    namespace: dict[str, Any] = {"__name__": "flask_joining_recipe"}
    exec(compile(blocks[0], "docs/embedding.md (Flask joining recipe)", "exec"), namespace)
    return namespace


def test_the_recipe_commits_the_hosts_row_with_the_spend(
    recipe: dict[str, Any], tmp_path: Path
) -> None:
    """One commit for both; a refused spend rolls the host's row back at teardown."""
    store = SqlAlchemyStore.from_url(f"sqlite:///{tmp_path / 'host.sqlite3'}")
    store.create_schema()
    recipe["host_metadata"].create_all(store.engine)
    owner = EnterpriseService(store)
    org = owner.create_organisation(
        name="Acme", admin_user_id="ana", admin_email="ana@acme.example", monthly_allowance=1_000
    )
    owner.allocate_credits("ana", org.id, "ana", 100)
    client = recipe["create_joining_app"](store.engine).test_client()
    headers = {"X-User-Id": "ana"}

    spent = client.post(
        "/generations", json={"generation_id": "gen-1", "credits": 60}, headers=headers
    )
    assert (spent.status_code, spent.json) == (200, {"spent": 60})
    refused = client.post(
        "/generations", json={"generation_id": "gen-2", "credits": 60}, headers=headers
    )
    assert (refused.status_code, refused.json["available"]) == (402, 40)

    with store.engine.connect() as connection:
        rows = connection.execute(select(recipe["generations"].c.id)).scalars().all()
    assert rows == ["gen-1"]
    credits = owner.profile("ana").credits
    assert credits is not None
    assert (credits.used, credits.remaining) == (60, 40)
    store.engine.dispose()
