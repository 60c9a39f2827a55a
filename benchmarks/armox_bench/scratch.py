"""A database of its own for each benchmark, on each backend, dropped when it is done.

SQLite gets a file in a temporary directory.  PostgreSQL and MariaDB get a new database on the
server named by ``--postgresql-url`` / ``--mysql-url`` (default: ``$ARMOX_TEST_POSTGRESQL_URL``
and ``$ARMOX_TEST_MYSQL_URL``), made with the server's own driver and dropped at the end, so a
benchmark never touches another's tables or a test run's.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armox_bench.harness import BACKENDS, Options

__all__ = ["Target", "backends", "scratch", "server_url", "server_versions"]

_ENV = {"postgresql": "ARMOX_TEST_POSTGRESQL_URL", "mariadb": "ARMOX_TEST_MYSQL_URL"}
_OPTION = {"postgresql": "postgresql_url", "mariadb": "mysql_url"}


def server_url(options: Options, backend: str) -> str | None:
    """The SQLAlchemy URL of ``backend``'s server, or ``None`` when none is named."""
    if backend not in _ENV:
        return None
    url: str | None = getattr(options, _OPTION[backend], None) or os.environ.get(_ENV[backend])
    return url or None


def backends(options: Options, wanted: tuple[str, ...] = BACKENDS) -> list[str]:
    """The backends of ``wanted`` this run covers: those ``--only`` names (all by default),
    less the servers no URL names (reported once; an error when ``--only`` named them)."""
    chosen = [b for b in wanted if b in options.only]
    found = []
    for backend in chosen:
        if backend in _ENV and server_url(options, backend) is None:
            if options.only_explicit:
                raise SystemExit(f"--only {backend}: set ${_ENV[backend]} or --{_OPTION[backend]}")
            print(f"  ({backend} skipped: ${_ENV[backend]} is not set)")
            continue
        found.append(backend)
    return found


@dataclass(frozen=True)
class Target:
    """A scratch database: its backend and SQLAlchemy URL, and how to reach it by driver.

    Attributes:
        backend: ``sqlite``, ``postgresql`` or ``mariadb``.
        url: the SQLAlchemy URL of the scratch database.
        path: the SQLite file (``None`` for a server).
    """

    backend: str
    url: str
    path: Path | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The server's host and port."""
        from sqlalchemy import make_url

        parsed = make_url(self.url)
        default = 5432 if self.backend == "postgresql" else 3306
        return parsed.host or "127.0.0.1", parsed.port or default

    def through(self, port: int) -> Target:
        """This target reached through a proxy listening on 127.0.0.1:``port``."""
        from sqlalchemy import make_url

        moved = make_url(self.url).set(host="127.0.0.1", port=port)
        if self.backend == "postgresql":
            # Unencrypted, so the proxy can read the statements in the stream.
            moved = moved.update_query_dict({"sslmode": "disable", "gssencmode": "disable"})
        return Target(self.backend, moved.render_as_string(hide_password=False), self.path)

    def driver_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``psycopg.connect`` or ``pymysql.connect`` for this database."""
        from sqlalchemy import make_url

        parsed = make_url(self.url)
        host, port = self.address
        found: dict[str, Any] = {"host": host, "port": port, "user": parsed.username}
        if parsed.password:
            found["password"] = parsed.password
        found["dbname" if self.backend == "postgresql" else "database"] = parsed.database
        if self.backend == "postgresql":
            found.update({k: v for k, v in parsed.query.items() if isinstance(v, str)})
        return {k: v for k, v in found.items() if v is not None}


def _admin(backend: str, url: str) -> Any:
    """An autocommit driver connection to the server of ``url``."""
    target = Target(backend, url)
    kwargs = target.driver_kwargs()
    if backend == "postgresql":
        import psycopg

        return psycopg.connect(**kwargs, autocommit=True)
    import pymysql

    return pymysql.connect(**kwargs, autocommit=True)


@contextlib.contextmanager
def scratch(options: Options, backend: str, purpose: str) -> Iterator[Target]:
    """A new, empty database for ``purpose`` on ``backend``, dropped on the way out."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"armox-bench-{purpose}-") as tmp:
            path = Path(tmp) / f"{purpose}.sqlite3"
            yield Target("sqlite", f"sqlite:///{path}", path)
        return
    from sqlalchemy import make_url

    url = server_url(options, backend)
    if url is None:
        raise RuntimeError(f"no server URL for {backend}")
    name = re.sub(r"[^a-z0-9_]", "_", f"armox_bench_{purpose}_{os.getpid()}".lower())
    admin = _admin(backend, url)
    quoted = f'"{name}"' if backend == "postgresql" else f"`{name}`"
    try:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {quoted}")
        admin.cursor().execute(f"CREATE DATABASE {quoted}")
        moved = make_url(url).set(database=name).render_as_string(hide_password=False)
        yield Target(backend, moved)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        try:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS {quoted}{force}")
        finally:
            admin.close()


def server_versions(options: Options) -> dict[str, str]:
    """The version each server named for this run reports (for the results file)."""
    found: dict[str, str] = {}
    for backend in ("postgresql", "mariadb"):
        url = server_url(options, backend)
        if url is None or backend not in options.only:
            continue
        try:
            connection = _admin(backend, url)
        except Exception as exc:
            found[backend] = f"unreachable: {type(exc).__name__}"
            continue
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT version()")
            row = cursor.fetchone()
            found[backend] = str(row[0]) if row else "?"
        finally:
            connection.close()
    import sqlite3

    found["sqlite"] = sqlite3.sqlite_version
    return found
