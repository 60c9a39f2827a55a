"""Build/test automation. Run ``nox`` for the default sessions, ``nox -l`` to list them."""

from __future__ import annotations

import os
import socket
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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


def _in_ci() -> bool:
    """CI is set to something other than empty, 0, false or no (as in tests/conftest.py)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unreachable(url: str, default_port: int) -> str | None:
    """Why the server of a SQLAlchemy ``url`` cannot be reached in 3 seconds, or None.

    TCP for a host name, or the Unix socket a ``host=/dir`` (PostgreSQL) or
    ``unix_socket=/path`` (MySQL) query names. A URL with neither is not checked: its driver's
    default socket is left to pytest.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or default_port
    except ValueError as exc:
        return f"the URL does not parse ({exc})"
    query = parse_qs(parts.query)
    socket_dir = next((h for h in query.get("host", []) if h.startswith("/")), None)
    socket_path = (query.get("unix_socket") or [None])[0]
    if socket_dir is not None:
        socket_path = f"{socket_dir}/.s.PGSQL.{port}"
    try:
        if socket_path is not None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
                unix.settimeout(3.0)
                unix.connect(socket_path)
        elif parts.hostname:
            socket.create_connection((parts.hostname, port), timeout=3.0).close()
    except OSError as exc:
        where = socket_path or f"{parts.hostname}:{port}"
        return f"nothing answers at {where} ({exc})"
    return None


def _require_server(session: nox.Session, variable: str, default_port: int) -> None:
    """Skip the session without ``$variable`` or its server; on CI (CI=true), fail instead.

    A session whose every test would skip reports itself skipped, not successful.
    """
    url = os.environ.get(variable, "")
    problem = f"no {variable} is set" if not url else _unreachable(url, default_port)
    if problem is None:
        return
    if _in_ci():
        session.error(f"{problem}; on CI (CI={os.environ['CI']}) the server is required")
    session.skip(f"{problem}: set {variable} to a SQLAlchemy URL of a reachable server")


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


PACKAGE = ROOT / "src" / "armox_enterprise"


def _package_files() -> set[str]:
    """The files of the package in src/, as paths inside a wheel (no bytecode)."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def _wheel_problems(wheel: Path) -> list[str]:
    """What is wrong with the wheel's contents: every file of the package, nothing else."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = sorted(n for n in names if n.split("/", 1)[0].endswith(".dist-info"))
        entry_points = next((n for n in info if n.endswith("/entry_points.txt")), None)
        scripts = archive.read(entry_points).decode() if entry_points else ""
    required = _package_files() | {
        "armox_enterprise/py.typed",
        "armox_enterprise/adapters/sqlalchemy/migrations/env.py",
        "armox_enterprise/adapters/sqlalchemy/migrations/script.py.mako",
        "armox_enterprise/adapters/sqlalchemy/migrations/versions/ae0001_create_tables.py",
    }
    problems = [f"missing {name}" for name in sorted(required - names)]
    problems += [
        f"unexpected {name}"
        for name in sorted(names)
        if name.split("/", 1)[0] != "armox_enterprise" and name not in info
    ]
    problems += [f"bytecode {name}" for name in sorted(names) if name.endswith(".pyc")]
    if "armox-enterprise = armox_enterprise.__main__:main" not in scripts:
        problems.append("no armox-enterprise console script in entry_points.txt")
    return problems


def _sdist_problems(sdist: Path) -> list[str]:
    """What is wrong with the sdist's contents: the sources to build from, no local clutter."""
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    required = ["pyproject.toml", "README.md", *(f"src/{name}" for name in _package_files())]
    problems = [f"missing {name}" for name in required if name not in names]
    clutter = (".venv/", ".nox/", ".ci/.venv/", "site/", "dist/", ".git/")
    problems += [f"unexpected {n}" for n in sorted(names) if n.startswith(clutter)]
    return problems


@nox.session(python=DEFAULT_PYTHON)
def build(session: nox.Session) -> None:
    """The wheel and the sdist a release publishes: built, checked, and the wheel installed.

    ``python -m build`` makes the sdist and then the wheel from it; ``twine check --strict``
    checks their metadata; the wheel must hold the package's every file (py.typed and the
    migrations included) and nothing else (no tests). The wheel is then installed in a venv of
    its own: imported without SQLAlchemy, ``armox-enterprise --help``, and with the
    ``sqlalchemy`` extra, ``armox-enterprise migrate`` from the installed revisions.
    """
    session.install(*_groups("build"))
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    for old in dist.glob("*"):
        old.unlink()
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        session.error(f"expected one wheel and one sdist in {dist}: {wheels + sdists}")
    session.run("twine", "check", "--strict", str(wheels[0]), str(sdists[0]))
    problems = [f"{wheels[0].name}: {p}" for p in _wheel_problems(wheels[0])]
    problems += [f"{sdists[0].name}: {p}" for p in _sdist_problems(sdists[0])]
    if problems:
        session.error("the release artifacts are wrong:\n  " + "\n  ".join(problems))
    session.log(f"{wheels[0].name} and {sdists[0].name}: contents as expected")

    venv = tmp / "wheel-venv"
    session.run("python", "-m", "venv", "--clear", str(venv))
    python, script = venv / "bin" / "python", venv / "bin" / "armox-enterprise"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    session.chdir(tmp)  # nothing of the checkout on sys.path
    session.run(*pip, str(wheels[0]), external=True)
    session.run(
        str(python),
        "-c",
        "import sys, armox_enterprise; "
        "assert armox_enterprise.__file__.startswith(sys.prefix), armox_enterprise.__file__; "
        "assert 'sqlalchemy' not in sys.modules",
        external=True,
    )
    session.run(str(script), "--help", external=True, silent=True)
    session.run(*pip, f"{wheels[0]}[sqlalchemy]", external=True)
    database = tmp / "wheel.sqlite3"
    database.unlink(missing_ok=True)
    session.run(str(script), "migrate", "--database-url", f"sqlite:///{database}", external=True)


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
    _require_server(session, "ARMOX_TEST_POSTGRESQL_URL", 5432)
    session.install(".[postgresql,mysql]", *_groups("test-postgresql"))
    session.run("pytest", "-m", "postgresql", *(session.posargs or ["tests/integration"]))


@nox.session(python=DEFAULT_PYTHON, tags=["tests"])
def tests_mariadb(session: nox.Session) -> None:
    """The integration tests on MariaDB/MySQL ($ARMOX_TEST_MYSQL_URL; required when CI=true)."""
    _require_server(session, "ARMOX_TEST_MYSQL_URL", 3306)
    session.install(".[postgresql,mysql]", *_groups("test"))
    session.run("pytest", "-m", "mysql", *(session.posargs or ["tests/integration"]))
