"""The documentation names only what exists, and installs only what can be installed.

Every Markdown page under ``docs/`` and the README is read as text (fenced blocks of every
language, not only the ones that run) and checked against the installed package and
``pyproject.toml``.  The rules:

A *reference* is a code span that holds a dotted name and nothing else, or a dotted name
called (`` `SqlAlchemyStore.from_url(url).engine` ``: the arguments and what follows the call
are not checked).  A span of code to write, such as `` `Role.NEW: {...}` ``, is not one.

1. **Dotted names of the package.**  A reference such as `` `armox_enterprise.domain.ledger` ``
   or `` `armox_enterprise.cli.main(argv=None)` ``, and a ``::: armox_enterprise...`` line of
   mkdocstrings, must resolve: the longest prefix that imports is a module, and the rest are
   attributes of it.
2. **Attributes of the package's classes.**  A reference ``Name.attribute``, where ``Name`` is
   a class the package exports (in the ``__all__`` of ``armox_enterprise`` or of one of its
   modules), such as `` `SqlAlchemyStore.joining(session)` ``, must name an
   attribute of that class: a class attribute or method, an ``attrs`` or dataclass field, an
   annotation, or a ``self.attribute =`` assignment in the class's source.  Names of other
   libraries (`` `AsyncSession.run_sync` ``) are not checked, nor are lower-case names
   (`` `service.spend` ``), which are variables of the page.
3. **Imports in code blocks.**  In every fenced block (``python``, ``pycon`` with its ``>>>``
   and ``...`` prompts, ``text``, ``sh``), ``from armox_enterprise... import a, b as c``
   (parenthesised lists included) and ``import armox_enterprise...`` must import.
4. **No home-made copy of a shipped class.**  A code block must not define, at its top level,
   a class with the name of a class the package exports: the page would have the reader write
   what the library ships (``DnsPythonResolver``, say).
5. **Install commands that work from this repository.**  In fenced blocks and code spans, every
   ``pip install`` (also ``python -m pip``, ``.venv/bin/pip``, ``uv pip``) and ``uv add``: the
   package is not published, so a requirement named ``armox-enterprise`` (with extras or a
   version, in any spelling) is refused unless it is a direct reference
   (``armox-enterprise @ git+https://...`` or ``@ file://...``); a path (``.``, ``-e .``,
   ``./dir``, ``/abs/dir``) is fine.  The extras of either must be extras that
   ``pyproject.toml`` defines.  Other packages (``nox``, ``dnspython``) are not checked.

A name in a module that needs an extra which is not installed (the ``tests_core`` session
has none) cannot be checked there: the page is then skipped after every other check passed;
the ``tests`` sessions, with the extras, check it.

``KNOWN_MISMATCHES`` lists pages that still break a rule, each with what is wrong; their case
is an expected failure, strict, so fixing the page makes the test fail until its entry goes.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import armox_enterprise

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]
PACKAGE = "armox_enterprise"

#: Pages that break a rule today, and how.  Each one's case must fail until the page is fixed.
KNOWN_MISMATCHES: dict[str, str] = {}

FENCED = re.compile(r"^ {0,3}```[^\n]*\n(.*?)^ {0,3}```[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
AUTODOC = re.compile(r"^::: ([\w.]+)", re.MULTILINE)
CALLED = r"(?:\(.*\)(?:\.\w+)*(?:\(\))?)?$"
PACKAGE_NAME = re.compile(rf"^({PACKAGE}(?:\.\w+)*){CALLED}", re.DOTALL)
CLASS_ATTRIBUTE = re.compile(rf"^([A-Z]\w*)((?:\.\w+)+){CALLED}", re.DOTALL)
PROMPT = re.compile(r"^(?:>>> |\.\.\. |>>>$|\.\.\.$)", re.MULTILINE)
FROM_IMPORT = re.compile(
    rf"^[ \t]*from ({PACKAGE}(?:\.\w+)*) import (\([^)]*\)|[^\n]*)", re.MULTILINE
)
PLAIN_IMPORT = re.compile(rf"^[ \t]*import ({PACKAGE}(?:\.\w+)*)", re.MULTILINE)
TOP_LEVEL_CLASS = re.compile(r"^class (\w+)\b", re.MULTILINE)
INSTALLER = re.compile(
    r"(?:^|[\s;&|(])(?:\S*/)?(?:(?:python[\d.]*\s+-m\s+)?pip[\d.]*|uv\s+pip)\s+install\b"
    r"|(?:^|[\s;&|(])uv\s+add\b"
)
#: pip options whose value is not a requirement.
OPTION_WITH_VALUE = {
    "-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url",
    "-f", "--find-links", "-t", "--target", "--prefix", "--root", "--python", "-p", "--group",
}  # fmt: skip
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(.*)$")
PATH_REQUIREMENT = re.compile(r"^(\.{1,2}(?:/[^\[]*)?|/[^\[]*)(?:\[([^\]]*)\])?$")


def page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def defined_extras() -> set[str]:
    """The extras ``pyproject.toml`` defines (read without tomllib on Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        return set(tomllib.loads(text)["project"]["optional-dependencies"])
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([A-Za-z0-9_-]+)\s*=", section, flags=re.MULTILINE))


def missing_optional_dependency(error: BaseException) -> str | None:
    """The third-party module whose absence caused ``error``, if that is what it was."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ModuleNotFoundError) and seen.name:
            if not seen.name.startswith(PACKAGE):
                return seen.name
            return None
        seen = seen.__cause__ or seen.__context__
    return None


class Unverifiable(Exception):
    """The name lives in a module whose extra is not installed."""


def resolve(dotted: str) -> bool:
    """Whether ``dotted`` names a module of the package or an attribute of one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj: object = importlib.import_module(module_name)
        except ImportError as error:
            missing = missing_optional_dependency(error)
            if missing is not None:
                raise Unverifiable(f"{dotted} (needs {missing})") from error
            continue
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def _walk_modules() -> Iterator[object]:
    yield armox_enterprise
    for info in pkgutil.walk_packages(armox_enterprise.__path__, f"{PACKAGE}."):
        # The Alembic environment and revisions run when imported; __main__ is the script.
        if ".migrations." in info.name or info.name.endswith("__main__"):
            continue
        try:
            yield importlib.import_module(info.name)
        except ImportError as error:
            if missing_optional_dependency(error) is None:
                raise


def exported_classes() -> dict[str, list[type]]:
    """The classes named in the ``__all__`` of the package and its modules, by name."""
    found: dict[str, list[type]] = {}
    for module in _walk_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if isinstance(obj, type) and obj not in found.setdefault(name, []):
                found[name].append(obj)
    return {name: classes for name, classes in found.items() if classes}


EXPORTED = exported_classes()


def has_attribute(cls: type, name: str) -> bool:
    """Whether the class, or its instances, have ``name`` (see rule 2)."""
    if hasattr(cls, name):
        return True
    if attrs.has(cls) and name in attrs.fields_dict(cls):
        return True
    if dataclasses.is_dataclass(cls) and name in {f.name for f in dataclasses.fields(cls)}:
        return True
    for klass in cls.__mro__:
        if name in getattr(klass, "__annotations__", {}):
            return True
        if klass.__module__.startswith(PACKAGE):
            try:
                source = inspect.getsource(klass)
            except (OSError, TypeError):
                continue
            if re.search(rf"\bself\.{re.escape(name)}\s*[:=]", source):
                return True
    return False


def fenced_blocks(text: str) -> list[str]:
    return FENCED.findall(text)


def prose(text: str) -> str:
    """The page without its fenced blocks."""
    return FENCED.sub("", text)


def code_spans(text: str) -> list[str]:
    return [body.strip() for _, body in CODE_SPAN.findall(prose(text))]


def imports(block: str) -> Iterator[tuple[str, str | None]]:
    """``(module, name)`` for each import of the package in ``block`` (name None: the module)."""
    code = PROMPT.sub("", block)
    for module, names in FROM_IMPORT.findall(code):
        for item in names.strip("()").split(","):
            name = item.split("#", 1)[0].split(" as ", 1)[0].strip()
            if name:
                yield module, name
    for module in PLAIN_IMPORT.findall(code):
        yield module, None


def install_commands(text: str) -> Iterator[str]:
    """Every install command of the page: lines of fenced blocks, and code spans."""
    candidates = [line for block in fenced_blocks(text) for line in block.splitlines()]
    candidates += code_spans(text)
    for candidate in candidates:
        line = PROMPT.sub("", candidate.strip()).removeprefix("$ ")
        if INSTALLER.search(line):
            yield line


def _words(command: str) -> list[str]:
    """The shell words of ``command``, with ``&&``, ``;`` and ``|`` as words of their own."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def install_problems(command: str, extras: set[str]) -> list[str]:
    """What cannot work in one install command line (see rule 5)."""
    try:
        words = _words(command)
    except ValueError:
        return [f"{command!r}: does not parse as a shell command"]
    problems = []
    arguments: list[str] | None = None
    skip_next = False
    for index, word in enumerate(words):
        before = words[index - 1] if index else ""
        if word in {"&&", "||", ";", "|", "&", "(", ")"}:
            arguments = None
        elif arguments is None:
            pip = re.fullmatch(r"(?:\S*/)?pip[\d.]*", before) or before == "pip"
            if (word == "install" and pip) or (word == "add" and before == "uv"):
                arguments, skip_next = [], False
        elif skip_next:
            skip_next = False
        elif word in OPTION_WITH_VALUE:
            skip_next = True
        elif not word.startswith("-"):
            problems += requirement_problems(command, word, extras)
    return problems


def requirement_problems(command: str, requirement: str, extras: set[str]) -> list[str]:
    path = PATH_REQUIREMENT.match(requirement)
    if path is not None:
        named = path.group(2) or ""
    else:
        parsed = REQUIREMENT.match(requirement)
        if parsed is None:
            return []
        name, named, rest = parsed.group(1), parsed.group(2) or "", parsed.group(3)
        if re.sub(r"[-_.]+", "-", name).lower() != "armox-enterprise":
            return []
        if not rest.startswith("@"):
            return [
                f"{command!r}: {requirement!r} is not on PyPI; install from the checkout "
                "(pip install '.[extras]') or a direct reference (armox-enterprise @ git+...)"
            ]
    unknown = sorted({e.strip() for e in named.split(",") if e.strip()} - extras)
    return [f"{command!r}: extra {e!r} is not in pyproject.toml" for e in unknown]


def page_problems(text: str) -> tuple[list[str], list[str]]:
    """(what is wrong on the page, what could not be checked here)."""
    problems: list[str] = []
    unverifiable: list[str] = []

    def check(dotted: str, where: str) -> None:
        try:
            if not resolve(dotted):
                problems.append(f"{where}: {dotted} does not exist")
        except Unverifiable as why:
            unverifiable.append(str(why))

    for span in code_spans(text):
        name = PACKAGE_NAME.match(span)
        if name is not None:
            check(name.group(1), f"`{span}`")
            continue
        method = CLASS_ATTRIBUTE.match(span)
        if method is not None and method.group(1) in EXPORTED:
            cls_name, chain = method.group(1), method.group(2).split(".")[1:]
            if not any(has_attribute(cls, chain[0]) for cls in EXPORTED[cls_name]):
                problems.append(f"`{span}`: {cls_name} has no attribute {chain[0]!r}")
    for target in AUTODOC.findall(prose(text)):
        if target.startswith(PACKAGE):
            check(target, f"::: {target}")
    for block in fenced_blocks(text):
        for module, name in imports(block):
            dotted = module if name is None else f"{module}.{name}"
            check(dotted, f"import {module}" if name is None else f"from {module} import {name}")
        for cls_name in TOP_LEVEL_CLASS.findall(block):
            if cls_name in EXPORTED:
                where = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in EXPORTED[cls_name])
                problems.append(f"class {cls_name}: the library ships it ({where}); use that")
    extras = defined_extras()
    for command in install_commands(text):
        problems += install_problems(command, extras)
    return problems, unverifiable


def _cases() -> list[object]:
    cases = []
    for page in PAGES:
        known = KNOWN_MISMATCHES.get(page_id(page))
        marks = [pytest.mark.xfail(reason=known, strict=True)] if known else []
        cases.append(pytest.param(page, id=page_id(page), marks=marks))
    return cases


@pytest.mark.parametrize("page", _cases())
def test_page_names_what_exists_and_installs_what_can_be_installed(page: Path) -> None:
    """The page follows the module docstring's five rules."""
    problems, unverifiable = page_problems(page.read_text(encoding="utf-8"))
    assert problems == []
    if unverifiable:
        pytest.skip("not checked without the extras: " + "; ".join(sorted(set(unverifiable))))


def test_known_mismatches_name_pages_that_exist() -> None:
    """An entry of ``KNOWN_MISMATCHES`` whose page is gone is dropped, not kept."""
    assert [p for p in KNOWN_MISMATCHES if not (ROOT / p).is_file()] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```sh\npip install armox-enterprise\n```", "is not on PyPI"),
        ("```sh\npip install 'armox-enterprise[dns]'  # + dnspython\n```", "is not on PyPI"),
        ("Run `python -m pip install armox_enterprise==0.1`.", "is not on PyPI"),
        ("```sh\npip install -e '.[sqlalchemy,dnspython]'\n```", "extra 'dnspython'"),
        ("`uv pip install 'armox-enterprise[redis] @ git+https://x.example/a.git'`", "redis"),
        ("Use `armox_enterprise.adapters.dnz`.", "does not exist"),
        ("Call `armox_enterprise.cli.mian(argv=None)`.", "does not exist"),
        ("`EnterpriseService.spend_credits`", "has no attribute 'spend_credits'"),
        ("```pycon\n>>> from armox_enterprise import (\n...     Nope,\n... )\n```", "Nope"),
        ("```python\nclass MemoryStore:\n    pass\n```", "the library ships it"),
        ("```python\nclass DnsPythonResolver:\n    pass\n```", "the library ships it"),
        ("::: armox_enterprise.no_such_module", "does not exist"),
    ],
)  # fmt: skip
def test_rules_catch_what_they_are_for(text: str, expected: str) -> None:
    """Each rule flags a made-up page that breaks it."""
    problems, _ = page_problems(text)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "text",
    [
        "```sh\npip install nox && nox\n```",
        "```sh\npython3 -m venv .venv && .venv/bin/pip install -e '.[sqlalchemy]' && x\n```",
        "```sh\npip install '.[postgresql,mysql,dns]' fastapi 'uvicorn>=0.30'\n```",
        "`armox-enterprise[sqlalchemy] @ file:///src/armox` in requirements.txt",
        "```sh\npip install 'armox-enterprise @ git+https://example.com/armox.git'\n```",
        "`armox_enterprise.domain.ledger.reconcile(accounts, transfers)`",
        "`armox_enterprise_prefix` and `AsyncSession.run_sync` and `service.spend`",
        "`EnterpriseService.sign_up` and `InsufficientCredits.can_request` and `Role.ADMIN`",
        "```python\nclass MyStore:\n    pass\n```",
        "```text\nfrom armox_enterprise.testing import StaticDnsResolver as Dns  # a stub\n```",
    ],
)
def test_rules_leave_correct_text_alone(text: str) -> None:
    """What is right passes (and the README's two commands are right)."""
    assert page_problems(text) == ([], [])
