"""The domain is pure: importing all of it loads nothing of the package but the domain and the
exceptions, no SQLAlchemy, and no third-party code but attrs, typing-extensions and idna; and this
specification tests it through the domain alone."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# The package's own ``__init__`` re-exports the service and the adapters, so running it would
# hide what the domain itself pulls in.  The probe therefore registers an empty stand-in for the
# top-level package (same search path, nothing executed) before importing every domain module.
PROBE = """
import importlib, importlib.util, json, pkgutil, sys, types

before = set(sys.modules)
spec = importlib.util.find_spec("armox_enterprise")
root = types.ModuleType("armox_enterprise")
root.__path__ = list(spec.submodule_search_locations)
sys.modules["armox_enterprise"] = root
domain = importlib.import_module("armox_enterprise.domain")
names = [m.name for m in pkgutil.walk_packages(domain.__path__, "armox_enterprise.domain.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "domain": names,
    "loaded": sorted(set(sys.modules) - before),
    "stdlib": sorted(sys.stdlib_module_names),
}))
"""

ALLOWED_THIRD_PARTY = {"attr", "attrs", "idna", "typing_extensions"}


def _in_the_domain_or_its_errors(name: str) -> bool:
    """Whether module ``name`` is part of the domain, or the exceptions module."""
    return name in ("armox_enterprise.domain", "armox_enterprise.exceptions") or name.startswith(
        "armox_enterprise.domain."
    )


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    """What a fresh interpreter loads when it imports every module of the domain."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_probe_imported_every_domain_module(probe: dict[str, Any]) -> None:
    """The check covers the whole domain package, the rule modules included."""
    found = {name.rsplit(".", 1)[-1] for name in probe["domain"]}
    assert {"ledger", "access", "rollover", "requests", "claims", "alerts", "usage"} <= found
    assert set(probe["domain"]) <= set(probe["loaded"])


def test_the_domain_imports_nothing_of_the_package_but_itself_and_the_exceptions(
    probe: dict[str, Any],
) -> None:
    """No service, store, port, adapter, view or testing module is loaded by the domain."""
    ours = [m for m in probe["loaded"] if m.split(".")[0] == "armox_enterprise"]
    # The stand-in for the top-level package is loaded; nothing in it runs.
    assert [
        m for m in ours if m != "armox_enterprise" and not _in_the_domain_or_its_errors(m)
    ] == []


def test_the_domain_does_not_import_sqlalchemy(probe: dict[str, Any]) -> None:
    """SQLAlchemy is an optional extra; the domain never needs it."""
    assert not [m for m in probe["loaded"] if m.split(".")[0] == "sqlalchemy"]


def test_the_domain_needs_no_third_party_code_but_attrs_and_idna(probe: dict[str, Any]) -> None:
    """Besides the standard library, only attrs, typing-extensions and idna may be loaded."""
    stdlib = set(probe["stdlib"])
    tops = {m.split(".")[0] for m in probe["loaded"]}
    third_party = {t for t in tops if t not in stdlib and t != "armox_enterprise"}
    assert third_party <= ALLOWED_THIRD_PARTY


SPECIFICATION = sorted(Path(__file__).parent.glob("*.py"))
TEST_IMPORTS = {"pytest", "hypothesis", "attrs"}


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", SPECIFICATION, ids=lambda p: p.name)
def test_the_specification_imports_only_the_domain_and_its_errors(path: Path) -> None:
    """Each test module imports only the domain, its errors, pytest, Hypothesis, stdlib."""
    names = _imported(path)
    ours = {n for n in names if n.split(".")[0] == "armox_enterprise"}
    assert {n for n in ours if not _in_the_domain_or_its_errors(n)} == set()
    others = {n.split(".")[0] for n in names - ours}
    assert others - set(sys.stdlib_module_names) - TEST_IMPORTS - {"__future__"} == set()
