"""The domain is pure: importing all of it loads nothing of the package but the domain and the
exceptions, no SQLAlchemy, and no third-party code but attrs and typing-extensions."""

from __future__ import annotations

import json
import subprocess
import sys
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

ALLOWED_THIRD_PARTY = {"attr", "attrs", "typing_extensions"}


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
    outside = [
        m
        for m in ours
        if m not in ("armox_enterprise", "armox_enterprise.exceptions")
        and not (m == "armox_enterprise.domain" or m.startswith("armox_enterprise.domain."))
    ]
    assert outside == []


def test_the_domain_does_not_import_sqlalchemy(probe: dict[str, Any]) -> None:
    """SQLAlchemy is an optional extra; the domain never needs it."""
    assert not [m for m in probe["loaded"] if m.split(".")[0] == "sqlalchemy"]


def test_the_domain_needs_no_third_party_code_but_attrs(probe: dict[str, Any]) -> None:
    """Besides the standard library, only attrs (and typing-extensions) may be loaded."""
    stdlib = set(probe["stdlib"])
    tops = {m.split(".")[0] for m in probe["loaded"]}
    third_party = {t for t in tops if t not in stdlib and t != "armox_enterprise"}
    assert third_party <= ALLOWED_THIRD_PARTY
