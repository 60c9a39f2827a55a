"""The public surface: names, docstrings, the exception tree, and no SQLAlchemy on import."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import armox_enterprise
import armox_enterprise.testing
from armox_enterprise import exceptions


def _public_objects(module: Any) -> list[tuple[str, Any]]:
    return [(name, getattr(module, name)) for name in module.__all__]


def _documented(obj: Any) -> bool:
    return bool((inspect.getdoc(obj) or "").strip())


def test_every_exported_name_exists() -> None:
    """``__all__`` names only things the package really has, without duplicates."""
    for module in (armox_enterprise, armox_enterprise.testing, exceptions):
        assert len(set(module.__all__)) == len(module.__all__)
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], f"{module.__name__} exports missing names {missing}"


def test_version_is_a_string() -> None:
    """``__version__`` comes from the package metadata."""
    assert isinstance(armox_enterprise.__version__, str)
    assert re.match(r"^\d+\.\d+", armox_enterprise.__version__)


@pytest.mark.parametrize("module", [armox_enterprise, armox_enterprise.testing])
def test_every_public_class_and_function_has_a_docstring(module: Any) -> None:
    """Public classes, functions, methods and properties all say what they are for."""
    undocumented: list[str] = []
    for name, obj in _public_objects(module):
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if obj.__doc__ is None or not obj.__doc__.strip():
            undocumented.append(name)
        if not inspect.isclass(obj):
            continue
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            target = member.fget if isinstance(member, property) else member
            target = getattr(target, "__func__", target)
            if inspect.isfunction(target) and not _documented(target):
                undocumented.append(f"{name}.{attr}")
    assert undocumented == []


def test_every_error_is_exported_from_the_exceptions_module() -> None:
    """Each error class defined in ``exceptions`` is in its ``__all__``."""
    defined = {
        name
        for name, obj in vars(exceptions).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException)
    }
    assert defined == set(exceptions.__all__)


def test_every_error_derives_from_the_root() -> None:
    """A host catches everything the library raises on purpose with ``ArmoxError``."""
    for name in exceptions.__all__:
        assert issubclass(getattr(exceptions, name), exceptions.ArmoxError), name


def _drawn_tree() -> dict[str, tuple[str, set[str]]]:
    """Parse the tree in the exceptions module docstring: name -> (parent, builtin bases)."""
    doc = exceptions.__doc__ or ""
    tree: dict[str, tuple[str, set[str]]] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^(\s*(?:[│ ]   )*(?:[├└]── )?)([A-Z]\w+)(?: \((\w+)\))?\s*$", line)
        if not match or not line.startswith("    "):
            continue
        depth = len(match.group(1))
        name = match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        tree[name] = (parent, {match.group(3)} if match.group(3) else set())
        stack.append((depth, name))
    return tree


def test_the_exception_tree_in_the_docstring_matches_the_classes() -> None:
    """The drawn tree is the real hierarchy, including the ValueError/TypeError bases."""
    tree = _drawn_tree()
    assert set(tree) == set(exceptions.__all__)
    for name, (parent, builtins) in tree.items():
        cls = getattr(exceptions, name)
        library_bases = [b.__name__ for b in cls.__bases__ if b.__module__ == exceptions.__name__]
        other_bases = {b.__name__ for b in cls.__bases__ if b.__module__ == "builtins"}
        assert library_bases == ([parent] if parent else []), name
        if name != "ArmoxError":
            assert other_bases == builtins, name


@pytest.mark.parametrize(
    "name",
    [
        "InvalidInput",
        "InvalidAmount",
        "AmountTypeError",
        "InvalidEmail",
        "InvalidDomain",
        "InvalidText",
        "InvalidInstant",
    ],
)
def test_bad_input_errors_are_value_errors(name: str) -> None:
    """Callers catching ``ValueError`` catch every bad-input error."""
    assert issubclass(getattr(armox_enterprise, name), ValueError)


def test_only_amount_type_errors_are_type_errors() -> None:
    """A wrong-typed amount is also a ``TypeError``; no other library error is."""
    type_errors = [
        name for name in exceptions.__all__ if issubclass(getattr(exceptions, name), TypeError)
    ]
    assert type_errors == ["AmountTypeError"]


@pytest.mark.parametrize(
    "name",
    [
        "NotFound",
        "PermissionDenied",
        "Conflict",
        "LimitExceeded",
        "InsufficientCredits",
        "DomainNotClaimable",
        "DomainVerificationFailed",
        "EnrolmentRefused",
        "StorageError",
    ],
)
def test_state_errors_are_not_value_errors(name: str) -> None:
    """Refusals about state or permission are not mistaken for bad arguments."""
    assert not issubclass(getattr(exceptions, name), ValueError)


def test_a_total_past_the_range_is_a_conflict_exported_at_the_root() -> None:
    """LimitExceeded (a balance, counter or total would pass a signed 64-bit integer) is a
    Conflict a host catches from the package itself."""
    assert "LimitExceeded" in armox_enterprise.__all__
    assert armox_enterprise.LimitExceeded is exceptions.LimitExceeded
    assert issubclass(armox_enterprise.LimitExceeded, armox_enterprise.Conflict)


def test_insufficient_credits_carries_its_figures() -> None:
    """The error a host shows a member carries what was available and what was asked."""
    error = armox_enterprise.InsufficientPoolCredits("short", available=3, requested=5)
    assert isinstance(error, armox_enterprise.InsufficientCredits)
    assert (error.available, error.requested, error.can_request, str(error)) == (
        3,
        5,
        False,
        "short",
    )


def test_enrolment_refused_carries_its_reason() -> None:
    """The refusal says why, as an EnrolmentReason."""
    reason = armox_enterprise.EnrolmentReason.SEAT_LIMIT_REACHED
    error = armox_enterprise.EnrolmentRefused("full", reason=reason)
    assert error.reason is reason


def test_importing_the_package_does_not_import_sqlalchemy() -> None:
    """The core works without the SQLAlchemy extra: importing it never loads SQLAlchemy."""
    code = (
        "import sys, armox_enterprise\n"
        "armox_enterprise.EnterpriseService(armox_enterprise.MemoryStore())\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_domain_imports_only_the_stdlib_attrs_and_itself() -> None:
    """The pure core depends on nothing but the stdlib, attrs, typing-extensions and exceptions."""
    allowed_third_party = {"attrs", "idna", "typing_extensions"}
    own = ("armox_enterprise.domain", "armox_enterprise.exceptions")
    domain = Path(inspect.getfile(armox_enterprise)).parent / "domain"
    sources = sorted(domain.glob("*.py"))
    assert sources
    for source in sources:
        modules = re.findall(r"^\s*(?:from|import) ([\w.]+)", source.read_text(), re.MULTILINE)
        for module in modules:
            top = module.split(".")[0]
            if top == "armox_enterprise":
                assert module.startswith(own), f"{source.name} imports {module}"
            else:
                assert top in sys.stdlib_module_names or top in allowed_third_party, (
                    f"{source.name} imports {module}"
                )
