"""The documentation: every ```python example runs as written, and every relative link resolves.

Each page's blocks run in order in one fresh namespace, so a page reads like a session.  Only
blocks fenced exactly as ```python run; ```pycon and ```text show what cannot run here (a
database server, real DNS) and must stay rare.

A page whose examples need optional packages names them near its top, in an HTML comment such
as ``<!-- requires: sqlalchemy, alembic -->``; without one of them installed (the ``tests_core``
session has no extras) that page's examples are skipped, and only that page's.
"""

from __future__ import annotations

import linecache
import re
import textwrap
from pathlib import Path

import pytest

import armox_enterprise
from armox_enterprise import exceptions

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^```(\S*)", flags=re.MULTILINE)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", flags=re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)")
REQUIRES = re.compile(r"^<!-- requires: ([\w., ]+) -->$", flags=re.MULTILINE)
#: Imports that need an extra (or a test-group package), so a ``requires`` marker.
OPTIONAL_IMPORT = re.compile(
    r"^\s*(?:from|import) (sqlalchemy|alembic|aiosqlite|asyncpg|greenlet|psycopg|pymysql"
    r"|armox_enterprise\.adapters\.sqlalchemy(?:\.migrations)?)\b",
    flags=re.MULTILINE,
)
#: What the library's own optional modules import.
OPTIONAL_MODULES = {
    "armox_enterprise.adapters.sqlalchemy": {"sqlalchemy"},
    "armox_enterprise.adapters.sqlalchemy.migrations": {"sqlalchemy", "alembic"},
}
LANGUAGES = {"python", "pycon", "text", "sh", ""}
REQUIRED = [
    "index.md",
    "quickstart.md",
    "concepts/ledger.md",
    "concepts/periods.md",
    "concepts/enrolment.md",
    "concepts/requests.md",
    "service.md",
    "views.md",
    "testing.md",
    "errors.md",
    "decisions.md",
]


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def python_blocks(page: Path) -> list[str]:
    return PYTHON_BLOCK.findall(page.read_text(encoding="utf-8"))


def required_modules(page: Path) -> list[str]:
    """Return the modules the page's ``<!-- requires: ... -->`` marker names (none without one)."""
    found = REQUIRES.search(page.read_text(encoding="utf-8"))
    if found is None:
        return []
    return [name.strip() for name in found.group(1).split(",") if name.strip()]


EXAMPLE_PAGES = [page for page in PAGES if python_blocks(page)]


def test_documentation_has_every_page() -> None:
    """The home page, the quickstart, the concept pages and the references all exist."""
    assert [p for p in REQUIRED if not (DOCS / p).is_file()] == []


def test_most_pages_carry_runnable_examples() -> None:
    """Examples are the rule: all but a few pages have ```python blocks that the suite runs."""
    assert len(EXAMPLE_PAGES) >= len(REQUIRED) - 2


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=page_id)
def test_python_examples_run(page: Path) -> None:
    """Every ```python block of the page runs, in order, in one fresh namespace."""
    for module in required_modules(page):
        pytest.importorskip(module)
    namespace: dict[str, object] = {"__name__": f"docs.{page_id(page)}"}
    for number, block in enumerate(python_blocks(page), start=1):
        name = f"docs/{page_id(page)} (python block {number})"
        linecache.cache[name] = (len(block), None, block.splitlines(keepends=True), name)
        exec(compile(block, name, "exec"), namespace)


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=page_id)
def test_pages_name_the_optional_packages_their_examples_import(page: Path) -> None:
    """A page whose examples import an extra's package says so in its ``requires`` marker."""
    imported: set[str] = set()
    for block in python_blocks(page):
        for module in OPTIONAL_IMPORT.findall(block):
            imported |= OPTIONAL_MODULES.get(module, {module})
    assert sorted(imported - set(required_modules(page))) == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_code_fences_use_known_languages(page: Path) -> None:
    """No example hides behind a fence the runner skips by accident (```py, ```python3 ...)."""
    text = page.read_text(encoding="utf-8")
    assert text.count("```") % 2 == 0, "unbalanced code fences"
    openings = FENCE.findall(text)[::2]
    assert [lang for lang in openings if lang not in LANGUAGES] == []


@pytest.mark.parametrize("page", [*PAGES, ROOT / "README.md"], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link of the README and the docs names a file that exists."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert broken == []


def test_error_tree_mirrors_the_exceptions_module() -> None:
    """docs/errors.md draws the same tree as ``armox_enterprise.exceptions``' docstring."""
    doc = exceptions.__doc__ or ""
    start = doc.index("    ArmoxError")
    drawn = textwrap.dedent(doc[start : doc.index("\n\n", start)]).strip()
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    assert f"```text\n{drawn}\n```" in page


def test_error_tree_names_every_public_error() -> None:
    """Every error class the package exports appears in the documented tree."""
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    exported = [
        name
        for name in exceptions.__all__
        if isinstance(getattr(exceptions, name), type)
        and issubclass(getattr(exceptions, name), exceptions.ArmoxError)
    ]
    assert [name for name in exported if f"── {name}" not in page and name != "ArmoxError"] == []


def test_errors_missing_from_the_package_namespace_are_named_as_such() -> None:
    """The page says which errors are not importable from ``armox_enterprise`` itself."""
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    intro = page.split("```text", 1)[0]
    hidden = sorted(
        name
        for name in exceptions.__all__
        if name not in armox_enterprise.__all__
        and isinstance(getattr(exceptions, name), type)
        and issubclass(getattr(exceptions, name), exceptions.ArmoxError)
    )
    assert [name for name in hidden if f"`{name}`" not in intro] == []
