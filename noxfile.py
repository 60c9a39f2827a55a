"""Build/test automation. Run ``nox`` for the default sessions, ``nox -l`` to list them."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"  # for nox.project.dependency_groups()

nox.options.default_venv_backend = "venv"
nox.options.sessions = [
    "tests",
    "tests_core",
    "tests_postgresql",
    "tests_mariadb",
    "lint",
    "typecheck",
    "docs",
    "examples",
    "demo",
]
# Locally, interpreters that are not installed are skipped; on CI (env CI set) they are errors.
nox.options.error_on_missing_interpreters = "CI" in os.environ

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DEFAULT_PYTHON = "3.12"


def _expose_pyenv_pythons() -> None:
    """Make pyenv-installed ``python3.X`` findable even if pyenv's shims don't resolve them.

    pyenv's shims only answer for versions selected with ``pyenv global/local``; put the
    ``bin`` dir of each installed 3.10-3.13 on PATH so plain ``nox`` finds them all.
    """
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    path = os.environ.get("PATH", "").split(os.pathsep)
    for v in PYTHONS:
        exes = sorted(
            versions.glob(f"{v}.*/bin/python{v}"),
            key=lambda exe: [int(n) if n.isdigit() else -1 for n in exe.parents[1].name.split(".")],
        )
        if exes and str(exes[-1].parent) not in path:
            path.append(str(exes[-1].parent))
    os.environ["PATH"] = os.pathsep.join(path)


_expose_pyenv_pythons()


def _groups(*names: str) -> tuple[str, ...]:
    """Requirements of the given PEP 735 dependency groups (include-group resolved)."""
    return nox.project.dependency_groups(PYPROJECT, *names)


def _existing(*paths: str) -> list[str]:
    return [p for p in paths if (ROOT / p).exists()]


@nox.session(python=PYTHONS, tags=["tests"])
def tests(session: nox.Session) -> None:
    """Full test suite on the memory store and SQLite, on every supported Python.

    Both server drivers are installed: tests that only build their errors (the translation of
    driver errors) run here too.
    """
    session.install(".[postgresql,mysql,dns]", *_groups("test"))
    session.run(
        "pytest",
        "-m",
        "not postgresql and not mysql",
        *(session.posargs or ["tests/unit", "tests/integration"]),
    )


@nox.session(python=DEFAULT_PYTHON, tags=["tests"])
def tests_core(session: nox.Session) -> None:
    """Unit tests with no extras installed: the core must not need SQLAlchemy."""
    session.install(".", *_groups("test"))
    session.run(
        "python",
        "-c",
        "import armox_enterprise, sys; "
        "assert 'sqlalchemy' not in sys.modules, 'importing armox_enterprise pulled in sqlalchemy'",
    )
    session.run("pytest", "-p", "no:cacheprovider", *(session.posargs or ["tests/unit"]))


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check."""
    session.install(*_groups("lint"))
    paths = _existing("src", "tests", "benchmarks", "docs", "examples", "noxfile.py")
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=DEFAULT_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src (config in pyproject.toml), plus tests/typing if present."""
    session.install(".[sqlalchemy]", *_groups("typecheck"))
    session.run("mypy")  # files = ["src"] from [tool.mypy]
    if (ROOT / "tests" / "typing").is_dir():
        session.run("mypy", "tests/typing")


@nox.session(python=DEFAULT_PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly: any warning fails (``nox -s docs -- serve``)."""
    session.install(".[sqlalchemy]", *_groups("docs"))
    site = Path(session.create_tmp()) / "site"
    # Material for MkDocs prints a banner about MkDocs 2.0 on every build; it is not a warning
    # of this site's, so keep it out of the output.
    env = {"NO_MKDOCS_2_WARNING": "1"}
    if session.posargs:
        session.run("mkdocs", *session.posargs, env=env)
    else:
        session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env=env)


@nox.session(python=DEFAULT_PYTHON, tags=["tests"])
def examples(session: nox.Session) -> None:
    """The example host applications (FastAPI, Flask) under examples/, and their tests."""
    session.install(".[sqlalchemy]", *_groups("test", "examples"))
    session.run("pytest", *(session.posargs or ["tests/examples"]))


@nox.session(python=DEFAULT_PYTHON)
def demo(session: nox.Session) -> None:
    """The README's first command: the demo on a fresh embedded SQLite file, run twice."""
    session.install(".[sqlalchemy]")
    database = Path(session.create_tmp()) / "demo.sqlite3"
    database.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    session.run("python", "-m", "armox_enterprise", "demo", "--database-url", url)
    # A second run on the same file must work too (a newcomer runs it again).
    session.run("python", "-m", "armox_enterprise", "demo", "--database-url", url, silent=True)
    database.unlink(missing_ok=True)


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """Paired benchmarks (not a default session): ``nox -s bench -- ARGS``.

    PostgreSQL and MariaDB are measured when $ARMOX_TEST_POSTGRESQL_URL / $ARMOX_TEST_MYSQL_URL
    name a server; ``nox -s bench -- --quick --only sqlite,memory`` is a check in seconds,
    ``nox -s bench -- --list`` lists the benchmarks.
    """
    session.install(".[postgresql,mysql]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def soak(session: nox.Session) -> None:
    """Soak run on PostgreSQL and MariaDB (not a default session, not in CI): mixed traffic
    while connections are killed, then a reconciliation by SQL (``nox -s soak -- --help``)."""
    session.install(".[postgresql,mysql]")
    session.run("python", "benchmarks/soak.py", *session.posargs)


@nox.session(python=DEFAULT_PYTHON, tags=["tests"])
def tests_postgresql(session: nox.Session) -> None:
    """The integration tests on PostgreSQL ($ARMOX_TEST_POSTGRESQL_URL; required when CI=true)."""
    session.install(".[postgresql,mysql]", *_groups("test-postgresql"))
    session.run("pytest", "-m", "postgresql", *(session.posargs or ["tests/integration"]))


@nox.session(python=DEFAULT_PYTHON, tags=["tests"])
def tests_mariadb(session: nox.Session) -> None:
    """The integration tests on MariaDB/MySQL ($ARMOX_TEST_MYSQL_URL; required when CI=true)."""
    session.install(".[postgresql,mysql]", *_groups("test"))
    session.run("pytest", "-m", "mysql", *(session.posargs or ["tests/integration"]))
