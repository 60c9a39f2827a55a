"""The package's shape: layers import inwards only, no cycles, no module or class too large.

These read the source with :mod:`ast`, so every import counts: those under
``if TYPE_CHECKING:`` and those inside functions too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "armox_enterprise"
MAX_MODULE_LINES = 800
MAX_CLASS_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in sorted((SRC / PACKAGE).rglob("*.py"))
        if "migrations" not in path.parts
    }


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module of the package that ``name`` imports, by its full name."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _known(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if candidate in MODULES:
                    yield candidate
                else:
                    yield from _known(base)


def _known(name: str) -> Iterator[str]:
    if name in MODULES:
        yield name


GRAPH = {name: sorted(set(_imports(name, path)) - {name}) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycles() -> None:
    """No two modules import each other, directly or through others (TYPE_CHECKING included)."""
    assert _cycles() == []


def _layer_imports(prefix: str) -> Iterator[tuple[str, str]]:
    for name, targets in GRAPH.items():
        if name == prefix or name.startswith(prefix + "."):
            for target in targets:
                yield name, target


def _inside(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_domain_imports_only_itself_and_the_exceptions() -> None:
    """The domain is pure: nothing of the package but itself and the exception tree."""
    outside = [
        (name, target)
        for name, target in _layer_imports(f"{PACKAGE}.domain")
        if not _inside(target, f"{PACKAGE}.domain", f"{PACKAGE}.exceptions")
    ]
    assert outside == []


def test_the_ports_import_only_the_domain() -> None:
    """The ports name domain records and nothing of the layers that use them."""
    outside = [
        (name, target)
        for name, target in _layer_imports(f"{PACKAGE}.ports")
        if not _inside(target, f"{PACKAGE}.ports", f"{PACKAGE}.domain", f"{PACKAGE}.exceptions")
    ]
    assert outside == []


@pytest.mark.parametrize(
    "layer",
    [f"{PACKAGE}.application", f"{PACKAGE}.views", f"{PACKAGE}.service", f"{PACKAGE}.domain"],
)
def test_the_core_imports_no_adapter(layer: str) -> None:
    """The application layer and the read models depend on ports, never on an adapter."""
    assert [
        (name, target)
        for name, target in _layer_imports(layer)
        if _inside(target, f"{PACKAGE}.adapters", f"{PACKAGE}.cli", f"{PACKAGE}.testing")
    ] == []


@pytest.mark.parametrize("layer", [f"{PACKAGE}.adapters", f"{PACKAGE}.ports"])
def test_adapters_and_ports_import_no_application_code(layer: str) -> None:
    """Adapters store: they import the ports and the domain, not the service."""
    assert [
        (name, target)
        for name, target in _layer_imports(layer)
        if _inside(
            target,
            f"{PACKAGE}.application",
            f"{PACKAGE}.service",
            f"{PACKAGE}.cli",
            f"{PACKAGE}.testing",
        )
    ] == []


def test_the_command_line_does_not_import_the_test_kit() -> None:
    """The CLI runs on the library itself, not on what it ships for tests."""
    assert [
        (name, target)
        for name, target in _layer_imports(f"{PACKAGE}.cli")
        if _inside(target, f"{PACKAGE}.testing")
    ] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_too_long(name: str) -> None:
    """Every module stays readable: at most 800 lines (migrations excepted)."""
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines"


def test_no_class_is_too_long() -> None:
    """No class grows past 400 lines: a use case that needs more hides a rule."""
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    long.append((f"{name}.{node.name}", size))
    assert long == []
