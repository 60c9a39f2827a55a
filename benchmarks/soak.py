"""A soak run: mixed concurrent traffic on a SQL server while its connections are killed.

Usage::

    python benchmarks/soak.py                                   # 3 minutes per server, both
    python benchmarks/soak.py --backend postgresql --duration 120 --threads 8
    nox -s soak -- --duration 120 --threads 8                   # the same, in its own venv

For each server (PostgreSQL at ``$ARMOX_TEST_POSTGRESQL_URL``, MariaDB/MySQL at
``$ARMOX_TEST_MYSQL_URL``; defaults: the local test servers) the run:

1. creates a database of its own (``armox_soak_<random>``) and the library's tables in it by
   the shipped migrations, and sets up a few organisations with admins and members;
2. runs ``--threads`` workers for ``--duration`` seconds, each picking a use case by weight:
   members spend (one step, or reserve then capture or release), request credits and read
   their profile; admins allocate, reclaim, top up, refund, set standing allotments, decide
   requests, read the dashboard, remove members and enrol them again.  A jobs thread runs
   ``close_due_periods``, ``check_alerts`` and ``release_expired_holds``, a relay thread
   drains the outbox, and every service shares one clock that runs fast (one simulated month
   per ``--month-seconds``), so periods turn over during the run;
3. meanwhile a killer thread terminates random connections of the run every few seconds
   (PostgreSQL: ``pg_terminate_backend`` on the run's database and ``application_name``;
   MariaDB: ``KILL`` on the ``PROCESSLIST`` rows of the run's database), never another's;
4. then checks the stored data by direct SQL, independently of the library: cached totals
   against the transfers (by :data:`armox_enterprise.domain.ledger.EFFECTS`), conservation,
   no negative available balance, one grant per organisation and period, one approval
   transfer per approved request, holds against their transfers, period totals against the
   transfers, requests, the outbox, and every acknowledged spend; and also runs the library's
   own ``reconcile``;
5. reports operations per second, p50/p99 latency per use case, refusals (the library's
   expected answers such as ``InsufficientCredits``) apart from failures (``StorageError``
   and anything else that escaped the service's retries), the driver errors the run met,
   and the deadlocks the server recorded; and drops the database, whatever happened.

It exits with 1 when a check fails (``--strict``: also when a failure escaped), 2 when a
server cannot be reached.  It is not part of CI: ``nox -s soak`` runs it on request.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import platform
import random
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from armox_enterprise import (
    AlreadyMember,
    ArmoxError,
    EnrolmentReason,
    EnrolmentRefused,
    EnterpriseService,
    MemberNotFound,
    Role,
    RolloverPolicy,
    StorageError,
    __version__,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.adapters.sqlalchemy.migrations import upgrade
from armox_enterprise.domain.ledger import EFFECTS, TransferKind
from armox_enterprise.domain.organisation import MemberRemainder

Row = Sequence[Any]
Options = argparse.Namespace

# ---------------------------------------------------------------------------- the servers


def _pg_deadlocks(connection: Connection, database: str) -> int:
    connection.execute(text("SELECT pg_stat_clear_snapshot()"))
    found = connection.execute(
        text("SELECT deadlocks FROM pg_stat_database WHERE datname = :db"), {"db": database}
    ).scalar()
    return int(found or 0)


def _mysql_deadlocks(connection: Connection, _database: str) -> int:
    row = connection.execute(text("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")).one()
    return int(row[1])


def _pg_victims(connection: Connection, database: str) -> list[int]:
    rows = connection.execute(
        text(
            "SELECT pid FROM pg_stat_activity WHERE datname = :db "
            "AND pid <> pg_backend_pid() AND application_name = :app"
        ),
        {"db": database, "app": database},
    )
    return [int(r[0]) for r in rows]


def _mysql_victims(connection: Connection, database: str) -> list[int]:
    rows = connection.execute(
        text(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :db AND ID <> CONNECTION_ID()"
        ),
        {"db": database},
    )
    return [int(r[0]) for r in rows]


def _pg_log_deadlocks(database: str) -> int | None:
    """Count "deadlock detected" in the server log for the run's database (None: unreadable)."""
    count = 0
    try:
        for path in glob.glob("/var/log/postgresql/*.log"):
            with open(path, encoding="utf-8", errors="replace") as log:
                count += sum(
                    1 for line in log if f"@{database} " in line and "deadlock detected" in line
                )
    except OSError:
        return None
    return count


@dataclass(frozen=True)
class Server:
    """How the soak creates, watches and drops its database on one kind of server."""

    label: str
    env: str
    default_url: str
    create: str
    drop: str
    kill: str
    victims: Callable[[Connection, str], list[int]]
    deadlocks: Callable[[Connection, str], int]
    deadlock_scope: str
    log_deadlocks: Callable[[str], int | None]
    connect_args: Callable[[str], dict[str, Any]]


SERVERS: dict[str, Server] = {
    "postgresql": Server(
        label="PostgreSQL",
        env="ARMOX_TEST_POSTGRESQL_URL",
        default_url="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        create='CREATE DATABASE "{name}"',
        drop='DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        kill="SELECT pg_terminate_backend({id})",
        victims=_pg_victims,
        deadlocks=_pg_deadlocks,
        deadlock_scope="pg_stat_database.deadlocks of the run's own database",
        log_deadlocks=_pg_log_deadlocks,
        connect_args=lambda name: {"application_name": name},
    ),
    "mysql": Server(
        label="MariaDB/MySQL",
        env="ARMOX_TEST_MYSQL_URL",
        default_url="mysql+pymysql://root@127.0.0.1:3306/test",
        create="CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        drop="DROP DATABASE IF EXISTS `{name}`",
        kill="KILL {id}",
        victims=_mysql_victims,
        deadlocks=_mysql_deadlocks,
        deadlock_scope="Innodb_deadlocks, server-wide (other clients' deadlocks count too)",
        log_deadlocks=lambda _name: None,
        connect_args=lambda _name: {},
    ),
}

# Driver error codes, as the run's engine sees them (retried by the service or translated).
_DRIVER_ERRORS: dict[object, str] = {
    "40P01": "deadlock",
    1213: "deadlock",
    "40001": "serialization failure",
    "55P03": "lock not available",
    1205: "lock wait timeout",
    "57P01": "connection killed",
    1927: "connection killed",
    2006: "connection lost",
    2013: "connection lost",
    4031: "connection lost",
    "23505": "unique violation",
    1062: "unique violation",
    "23514": "check violation",
    4025: "check violation",
    "23503": "foreign key violation",
    1452: "foreign key violation",
    "42P01": "no such table (the migrations' first look)",
    1146: "no such table (the migrations' first look)",
}


def _driver_code(error: BaseException | None) -> object:
    """MySQL's error number (PyMySQL's first argument), else the SQLSTATE (psycopg)."""
    if error is not None and error.args and isinstance(error.args[0], int):
        return error.args[0]
    return getattr(error, "sqlstate", None)


# ---------------------------------------------------------------------------- the fast clock


class FastClock:
    """A clock shared by every thread that runs ``speed`` times faster than real time."""

    def __init__(self, start: datetime, speed: float) -> None:
        self._start = start
        self._speed = speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        """Return the simulated instant (aware UTC), never earlier than a previous one."""
        return self._start + timedelta(seconds=(time.monotonic() - self._origin) * self._speed)


_START = datetime(2027, 1, 4, 9, 0, tzinfo=timezone.utc)
_MONTH = timedelta(days=30).total_seconds()

# ---------------------------------------------------------------------------- measurements


@dataclass
class Stats:
    """What one thread saw: outcomes and latencies per use case, and what it was told."""

    ok: Counter[str] = field(default_factory=Counter)
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: dict[tuple[str, str], str] = field(default_factory=dict)
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    acked: dict[str, tuple[str, int]] = field(default_factory=dict)
    replay_mismatches: list[str] = field(default_factory=list)

    def merge(self, other: Stats) -> None:
        """Add ``other``'s figures to these."""
        self.ok.update(other.ok)
        self.refused.update(other.refused)
        self.failed.update(other.failed)
        for key, message in other.samples.items():
            self.samples.setdefault(key, message)
        for name, values in other.latencies.items():
            self.latencies[name].extend(values)
        self.acked.update(other.acked)
        self.replay_mismatches.extend(other.replay_mismatches)


def _error_name(error: BaseException) -> str:
    kind = type(error)
    if isinstance(error, ArmoxError):
        return kind.__name__
    return f"{kind.__module__}.{kind.__qualname__} (not a library error)"


def _raised_at(error: BaseException) -> str:
    """Where the library raised or let ``error`` through: its innermost frame in the package."""
    frames = [
        f"{Path(f.filename).name}:{f.lineno} in {f.name}"
        for f in traceback.extract_tb(error.__traceback__)
        if "armox_enterprise" in f.filename
    ]
    return frames[-1] if frames else "outside the library"


def _is_failure(error: BaseException) -> bool:
    """A failure escaped the library's retries or its error tree; a refusal is an answer."""
    return isinstance(error, StorageError) or not isinstance(error, ArmoxError)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


# ---------------------------------------------------------------------------- the organisations

#: What each organisation of the run is like, in turn: the rollover policies and options differ.
_ORG_KINDS: tuple[dict[str, Any], ...] = (
    {"rollover": RolloverPolicy(), "allow_pool_spend": False, "max_open_requests": 1},
    {
        "rollover": RolloverPolicy(50_000, MemberRemainder.RETURN_TO_POOL),
        "allow_pool_spend": True,
        "max_open_requests": 1,
    },
    {"rollover": RolloverPolicy(0, MemberRemainder.KEEP), "max_open_requests": 2},
)
_ALLOWANCE = 200_000
_FEATURES = ("image", "video", "chat", None)
_MODELS = ("fast", "large", None)


@dataclass
class Org:
    """An organisation of the run, and what the workers know of its members."""

    id: str
    tag: str
    admins: tuple[str, ...]
    members: tuple[str, ...]
    active: set[str]
    removed: set[str] = field(default_factory=set)
    spends: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def email(self, user: str) -> str:
        """The address ``user`` is invited and enrolled with."""
        return f"{user}@{self.tag}.soak.example"

    def pick_active(self, rng: random.Random) -> str | None:
        """A member believed active (they may be removed by the time they act)."""
        with self.lock:
            return rng.choice(sorted(self.active)) if self.active else None

    def take(self, rng: random.Random, pool: set[str], keep: int) -> str | None:
        """Take a member out of ``pool`` (active or removed) for a removal or an enrolment."""
        with self.lock:
            if len(pool) <= keep:
                return None
            user = rng.choice(sorted(pool))
            pool.discard(user)
            return user

    def put(self, user: str, *, active: bool) -> None:
        """Record where ``user`` stands now."""
        with self.lock:
            (self.active if active else self.removed).add(user)


def set_up(service: EnterpriseService, organisations: int, members: int) -> list[Org]:
    """Create the organisations, each with two admins and ``members`` funded members."""
    orgs = []
    for i in range(organisations):
        tag = f"o{i}"
        admins = (f"{tag}-admin-0", f"{tag}-admin-1")
        org = service.create_organisation(
            name=f"Soak {i}",
            admin_user_id=admins[0],
            admin_email=f"{admins[0]}@{tag}.soak.example",
            monthly_allowance=_ALLOWANCE,
            hold_lifetime=timedelta(days=2),
            **_ORG_KINDS[i % len(_ORG_KINDS)],
        )
        users = tuple(f"{tag}-m{j}" for j in range(members))
        state = Org(org.id, tag, admins, users, set(users))
        service.invite(admins[0], org.id, state.email(admins[1]), role=Role.ADMIN)
        service.enrol(admins[1], state.email(admins[1]), email_verified=True)
        for j, user in enumerate(users):
            service.invite(admins[0], org.id, state.email(user))
            service.enrol(user, state.email(user), email_verified=True)
            service.allocate_credits(admins[0], org.id, user, 2_000)
            if j % 2 == 0:
                service.set_standing_allotment(admins[0], org.id, user, 3_000)
        orgs.append(state)
    return orgs


# ---------------------------------------------------------------------------- the workers


class Worker:
    """One thread of traffic: picks an organisation and a use case, and measures the call."""

    def __init__(self, run: Run, index: int, seed: int) -> None:
        self.run = run
        self.service = run.service
        self.index = index
        self.rng = random.Random(seed * 1_000 + index)
        self.stats = Stats()
        #: What the last call raised, or ``None``.
        self.error: BaseException | None = None
        #: The organisation (tag) the current use case acts in, for the samples of errors.
        self.where = "jobs"
        self._count = 0

    def key(self, what: str) -> str:
        """A fresh idempotency key (or generation id) of this worker's."""
        self._count += 1
        return f"{what}-{self.index}-{self._count}"

    def call(self, name: str, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Call ``func``, time it under ``name``, count its outcome; ``None`` if it raised (see
        :attr:`error`)."""
        start = time.perf_counter()
        self.error = None
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            self.error = error
            kind = (name, _error_name(error))
            (self.stats.failed if _is_failure(error) else self.stats.refused)[kind] += 1
            self.stats.samples.setdefault(
                kind, f"[{self.where}; raised at {_raised_at(error)}] {str(error)[:300]}"
            )
            result = None
        else:
            self.stats.ok[name] += 1
        self.stats.latencies[name].append(time.perf_counter() - start)
        return result

    def loop(self) -> None:
        """Run use cases until the run stops."""
        names = list(ACTIONS)
        weights = [ACTIONS[n][0] for n in names]
        while not self.run.stop.is_set():
            org = self.rng.choice(self.run.orgs)
            action = self.rng.choices(names, weights)[0]
            self.where = f"{org.tag}, {action}"
            try:
                ACTIONS[action][1](self, org)
            except Exception as error:  # a mistake of the soak's own: count it, carry on
                self.stats.failed[("soak script", _error_name(error))] += 1
                self.stats.samples.setdefault(("soak script", _error_name(error)), repr(error))


def _admin(w: Worker, org: Org) -> str:
    return w.rng.choice(org.admins)


def do_spend(w: Worker, org: Org) -> None:
    """A member spends on a generation; now and then the same call is sent again."""
    user = org.pick_active(w.rng)
    if user is None:
        return
    gid, amount = w.key("gen"), w.rng.randint(1, 40)
    tags = {"feature": w.rng.choice(_FEATURES), "model": w.rng.choice(_MODELS)}
    transfer = w.call("spend", w.service.spend, user, org.id, amount, generation_id=gid, **tags)
    if transfer is None:
        return
    w.stats.acked[gid] = ("spend", amount)
    with org.lock:
        org.spends.append(transfer.id)
    if w.rng.random() < 0.05:
        again = w.call(
            "spend (replayed)", w.service.spend, user, org.id, amount, generation_id=gid, **tags
        )
        if again is not None and again.id != transfer.id:
            w.stats.replay_mismatches.append(f"{gid}: {transfer.id} then {again.id}")


def do_hold(w: Worker, org: Org) -> None:
    """A member reserves for a generation, which then succeeds, fails or is abandoned."""
    user = org.pick_active(w.rng)
    if user is None:
        return
    gid = w.key("hold")
    amount = w.rng.randint(5, 80)
    hold = w.call("reserve", w.service.reserve, user, org.id, amount, generation_id=gid)
    if hold is None:
        return
    w.stats.acked[gid] = ("hold", amount)
    time.sleep(w.rng.uniform(0, 0.02))  # the generation runs
    fate = w.rng.random()
    actor = user if w.rng.random() < 0.8 else _admin(w, org)
    if fate < 0.6:
        part = None if w.rng.random() < 0.5 else w.rng.randint(1, amount)
        w.call(
            "capture_hold",
            w.service.capture_hold,
            actor,
            org.id,
            hold.id,
            part,
            idempotency_key=w.key("capture"),
        )
    elif fate < 0.9:
        w.call(
            "release_hold",
            w.service.release_hold,
            actor,
            org.id,
            hold.id,
            idempotency_key=w.key("release"),
        )
    # else: abandoned, left for its lifetime to pass (the jobs release it)


def do_request(w: Worker, org: Org) -> None:
    """A member asks for more credits."""
    user = org.pick_active(w.rng)
    if user is not None:
        amount = w.rng.randint(100, 2_000)
        w.call(
            "request_credits",
            w.service.request_credits,
            user,
            org.id,
            amount,
            note="soak",
            idempotency_key=w.key("request"),
        )


def do_decide(w: Worker, org: Org) -> None:
    """An admin looks at the pending requests and approves or rejects one."""
    admin = _admin(w, org)
    pending = w.call("list_requests", w.service.list_requests, admin, org.id)
    if not pending:
        return
    request = w.rng.choice(pending)
    if w.rng.random() < 0.75:
        amount = None if w.rng.random() < 0.7 else max(1, request.amount // 2)
        w.call(
            "approve_request",
            w.service.approve_request,
            admin,
            org.id,
            request.id,
            amount=amount,
            idempotency_key=w.key("approve"),
        )
    else:
        w.call(
            "reject_request",
            w.service.reject_request,
            admin,
            org.id,
            request.id,
            note="not now",
            idempotency_key=w.key("reject"),
        )


def _pool_move(name: str, low: int, high: int) -> Callable[[Worker, Org], None]:
    def act(w: Worker, org: Org) -> None:
        user = org.pick_active(w.rng)
        if user is not None:
            method = getattr(w.service, name)
            amount = w.rng.randint(low, high)
            w.call(name, method, _admin(w, org), org.id, user, amount, idempotency_key=w.key(name))

    act.__doc__ = f"An admin calls {name} for a member."
    return act


def do_top_up(w: Worker, org: Org) -> None:
    """An admin buys credits for the pool."""
    amount = w.rng.randint(5_000, 40_000)
    w.call("top_up", w.service.top_up, _admin(w, org), org.id, amount, idempotency_key=w.key("t"))


def do_refund(w: Worker, org: Org) -> None:
    """An admin refunds a recent spend, in whole or in part."""
    with org.lock:
        transfer_id = w.rng.choice(org.spends) if org.spends else None
    if transfer_id is not None:
        amount = None if w.rng.random() < 0.5 else 1
        w.call(
            "refund",
            w.service.refund,
            _admin(w, org),
            org.id,
            transfer_id,
            amount,
            idempotency_key=w.key("refund"),
        )


def do_allotment(w: Worker, org: Org) -> None:
    """An admin changes a member's standing monthly allotment."""
    user = org.pick_active(w.rng)
    if user is not None:
        amount = w.rng.choice((0, 1_000, 3_000))
        w.call(
            "set_standing_allotment",
            w.service.set_standing_allotment,
            _admin(w, org),
            org.id,
            user,
            amount,
        )


def do_remove(w: Worker, org: Org) -> None:
    """An admin removes a member (at least half of them stay)."""
    user = org.take(w.rng, org.active, keep=len(org.members) // 2)
    if user is None:
        return
    w.call("remove_member", w.service.remove_member, _admin(w, org), org.id, user)
    # Removed now, or already (MemberNotFound); after a failure, enrolment finds out.
    error = w.error
    kept = error is not None and not _is_failure(error) and not isinstance(error, MemberNotFound)
    org.put(user, active=kept)


def do_enrol_again(w: Worker, org: Org) -> None:
    """A removed member is invited again and enrols."""
    user = org.take(w.rng, org.removed, keep=0)
    if user is None:
        return
    w.call("invite", w.service.invite, _admin(w, org), org.id, org.email(user))
    w.call("enrol", w.service.enrol, user, org.email(user), email_verified=True)
    error = w.error
    already = isinstance(error, AlreadyMember) or (
        isinstance(error, EnrolmentRefused) and error.reason is EnrolmentReason.ALREADY_MEMBER
    )
    org.put(user, active=error is None or already)


def do_profile(w: Worker, org: Org) -> None:
    """A member opens their profile page."""
    user = org.pick_active(w.rng)
    if user is not None:
        w.call("profile", w.service.profile, user)


def do_dashboard(w: Worker, org: Org) -> None:
    """An admin opens the dashboard."""
    w.call("dashboard", w.service.dashboard, _admin(w, org), org.id)


#: The use cases the workers run, by weight.
ACTIONS: dict[str, tuple[float, Callable[[Worker, Org], None]]] = {
    "spend": (40, do_spend),
    "hold": (14, do_hold),
    "request": (5, do_request),
    "decide": (5, do_decide),
    "allocate": (7, _pool_move("allocate_credits", 100, 1_500)),
    "reclaim": (3, _pool_move("reclaim_credits", 10, 300)),
    "top_up": (2, do_top_up),
    "refund": (2, do_refund),
    "allotment": (1, do_allotment),
    "remove": (1.5, do_remove),
    "enrol again": (1.5, do_enrol_again),
    "profile": (4, do_profile),
    "dashboard": (2, do_dashboard),
}


# ---------------------------------------------------------------------------- the background


class Run:
    """One soak run on one server: the service, the organisations and the threads."""

    def __init__(self, service: EnterpriseService, orgs: list[Org], options: Options) -> None:
        self.service = service
        self.orgs = orgs
        self.options = options
        self.stop = threading.Event()
        self.delivered: Counter[str] = Counter()
        self.kills = 0
        self.kill_rounds = 0
        self.kill_errors = 0

    def publish(self, events: Sequence[Any]) -> None:
        """The relay's publisher: remember every event handed over (at least once)."""
        self.delivered.update(e.id for e in events)


def jobs(run: Run, worker: Worker) -> None:
    """The host's jobs: the period job, the alert job, releasing stale holds."""
    service = run.service
    while not run.stop.wait(run.options.jobs_every):
        worker.call("close_due_periods", service.close_due_periods)
        worker.call("check_alerts", service.check_alerts)
        for org in run.orgs:
            worker.call("release_expired_holds", service.release_expired_holds, org.id)


def relay(run: Run, worker: Worker) -> None:
    """The outbox relay, polling when the outbox is empty."""
    while not run.stop.is_set():
        handed = worker.call("relay", run.service.relay, run.publish, limit=200)
        if not handed:
            run.stop.wait(0.1)


def killer(run: Run, server: Server, admin: Engine, database: str, rng: random.Random) -> None:
    """Terminate a few random connections of the run's database every few seconds."""
    every = run.options.kill_every
    while not run.stop.wait(rng.uniform(0.5 * every, 1.5 * every)):
        try:
            with admin.connect() as connection:
                victims = server.victims(connection, database)
                if not victims:
                    continue
                chosen = rng.sample(victims, rng.randint(1, max(1, len(victims) // 3)))
                for victim in chosen:
                    connection.execute(text(server.kill.format(id=int(victim))))
                run.kills += len(chosen)
                run.kill_rounds += 1
        except Exception:  # a victim that already left, say; the next round tries again
            run.kill_errors += 1


class DriverErrors:
    """Counts the driver errors the run's engine met, by kind (retried or translated)."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.samples: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, context: Any) -> None:
        error = context.original_exception
        code = _driver_code(error)
        kind = _DRIVER_ERRORS.get(code)
        if kind is None:
            kind = "connection lost" if context.is_disconnect else f"other ({code})"
        with self._lock:
            self.seen[kind] += 1
            self.samples.setdefault(kind, f"{type(error).__name__}: {str(error)[:200]}")


class PoolLog(logging.Handler):
    """Counts what SQLAlchemy's pool logs as errors (resetting a killed connection it was
    given back), instead of printing each traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self._logger = logging.getLogger("sqlalchemy.pool")

    def __enter__(self) -> PoolLog:
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def __exit__(self, *_: object) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = True

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record."""
        self.count += 1


# ---------------------------------------------------------------------------- the checks

_QUERIES = {
    "accounts": (
        "SELECT organisation_id, code, guarded, closed, credits_posted, debits_posted, "
        "debits_pending, spent, spend_period, spend_total FROM armox_accounts"
    ),
    "moves": (
        "SELECT organisation_id, kind, debit_account, credit_account, period_index, "
        "SUM(amount), COUNT(*) FROM armox_transfers "
        "GROUP BY organisation_id, kind, debit_account, credit_account, period_index"
    ),
    "totals": (
        "SELECT organisation_id, account, period_index, side, kind, amount FROM armox_period_totals"
    ),
    "orgs": (
        "SELECT id, monthly_allowance, current_period_index, max_open_requests "
        "FROM armox_organisations"
    ),
    "members": "SELECT organisation_id, user_id, status FROM armox_memberships",
    "requests": (
        "SELECT organisation_id, id, user_id, status, approved_amount, period_index "
        "FROM armox_credit_requests"
    ),
    "by_reference": (
        "SELECT organisation_id, kind, reference, COUNT(*), SUM(amount) FROM armox_transfers "
        "WHERE kind IN ('approve', 'capture', 'release') "
        "GROUP BY organisation_id, kind, reference"
    ),
    "holds": "SELECT organisation_id, id, user_id, amount, status, captured FROM armox_holds",
    "hold_transfers": "SELECT organisation_id, id, amount FROM armox_transfers WHERE kind = 'hold'",
    "keys": (
        "SELECT idempotency_key, kind, amount FROM armox_transfers WHERE kind IN ('spend', 'hold')"
    ),
    "events": "SELECT id, published_at FROM armox_events",
}


@dataclass
class Snapshot:
    """The stored data, read by direct SQL, and what the clients were told."""

    rows: dict[str, list[Row]]
    delivered: Counter[str]
    acked: dict[str, tuple[str, int]]
    replay_mismatches: list[str]

    @classmethod
    def read(cls, engine: Engine, run: Run, stats: Stats) -> Snapshot:
        """Read every table the checks need, in one transaction."""
        with engine.connect() as connection:
            rows = {name: list(connection.execute(text(q)).all()) for name, q in _QUERIES.items()}
        return cls(rows, run.delivered, stats.acked, stats.replay_mismatches)

    def usage_credits(self) -> dict[str, int]:
        """Per organisation, the usage account's credits kept on the member rows (``spent``)."""
        spent: Counter[str] = Counter()
        for org, _code, *_, row_spent, _period, _total in self.rows["accounts"]:
            spent[org] += int(row_spent)
        return dict(spent)

    def cached(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        """Each account's cached totals, as the store means them."""
        extra = self.usage_credits()
        found = {}
        for org, code, _g, _c, credits, debits, pending, *_ in self.rows["accounts"]:
            bonus = extra.get(org, 0) if code == "usage" else 0
            found[(org, code)] = (int(credits) + bonus, int(debits), int(pending))
        return found


def check_totals(s: Snapshot) -> list[str]:
    """Every account's cached totals equal what its transfers imply (by EFFECTS)."""
    implied: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for org, kind, debit, credit, _period, amount, _n in s.rows["moves"]:
        effect = EFFECTS[TransferKind(kind)]
        implied[(org, credit)][0] += effect.credit_posted * int(amount)
        implied[(org, debit)][1] += effect.debit_posted * int(amount)
        implied[(org, debit)][2] += effect.debit_pending * int(amount)
    cached = s.cached()
    problems = [f"transfers name unknown account {key}" for key in implied if key not in cached]
    for key, totals in cached.items():
        expected = tuple(implied.get(key, (0, 0, 0)))
        if totals != expected:
            problems.append(f"{key}: cached {totals}, transfers imply {expected}")
    return problems


def check_spent(s: Snapshot) -> list[str]:
    """Each account row's ``spent`` equals what its spends (and, where the store keeps them
    there too, its captures) credited the usage sink: the store counts the sink's credits on
    the rows that send them, so that spends never queue on the usage row."""
    sent: dict[str, Counter[tuple[str, str]]] = {"spends": Counter(), "captures": Counter()}
    for org, kind, debit, credit, _period, amount, _n in s.rows["moves"]:
        if credit == "usage" and kind in (TransferKind.SPEND.value, TransferKind.CAPTURE.value):
            sent["spends" if kind == TransferKind.SPEND.value else "captures"][(org, debit)] += int(
                amount
            )
    models = (sent["spends"] + sent["captures"], sent["spends"])
    found: list[str] = []
    for expected in models:
        found = [
            f"{(org, code)}: spent {spent}, sent to usage {expected[(org, code)]}"
            for org, code, *_, spent, _p, _t in s.rows["accounts"]
            if int(spent) != expected[(org, code)]
        ]
        if not found:
            return []
    return found


def check_conservation(s: Snapshot) -> list[str]:
    """Every organisation's balances sum to zero (double entry)."""
    sums: Counter[str] = Counter()
    for (org, _code), (credits, debits, _pending) in s.cached().items():
        sums[org] += credits - debits
    return [f"{org}: balances sum to {total}" for org, total in sums.items() if total]


def check_not_negative(s: Snapshot) -> list[str]:
    """No pool or member row below zero available; no negative pending debits anywhere."""
    problems = []
    for org, code, guarded, _closed, credits, debits, pending, *_ in s.rows["accounts"]:
        available = int(credits) - int(debits) - int(pending)
        if guarded and available < 0:
            problems.append(f"{(org, code)}: {available} available")
        if int(pending) < 0:
            problems.append(f"{(org, code)}: {pending} pending")
    return problems


def check_grants(s: Snapshot) -> list[str]:
    """One grant per organisation and period, for every period so far."""
    grants: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for org, kind, _debit, _credit, period, _amount, count in s.rows["moves"]:
        if kind == TransferKind.GRANT.value:
            grants[org][int(period)] += int(count)
    problems = []
    for org, allowance, current, _cap in s.rows["orgs"]:
        expected = dict.fromkeys(range(int(current) + 1), 1) if allowance else {}
        if dict(grants[org]) != expected:
            problems.append(f"{org}: grants per period {dict(grants[org])}, expected {expected}")
    return problems


def _by_reference(s: Snapshot, kind: str) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        (org, ref): (int(count), int(total))
        for org, k, ref, count, total in s.rows["by_reference"]
        if k == kind
    }


def check_approvals(s: Snapshot) -> list[str]:
    """Every approved request has exactly one approve transfer, of the approved amount; no
    other request has any."""
    approvals = _by_reference(s, TransferKind.APPROVE.value)
    problems = []
    seen = set()
    for org, request_id, _user, status, approved, _period in s.rows["requests"]:
        seen.add((org, request_id))
        found = approvals.get((org, request_id), (0, 0))
        expected = (1, int(approved)) if status == "approved" else (0, 0)
        if found != expected:
            problems.append(f"request {request_id} ({status}): approve transfers {found}")
    problems += [
        f"approve transfer of unknown request {key}" for key in approvals if key not in seen
    ]
    return problems


def check_requests(s: Snapshot) -> list[str]:
    """Open requests: within the cap, of the current period, of active members only."""
    orgs = {org: (int(current), int(cap)) for org, _a, current, cap in s.rows["orgs"]}
    active = {(org, user) for org, user, status in s.rows["members"] if status == "active"}
    pending: Counter[tuple[str, str]] = Counter()
    problems = []
    for org, request_id, user, status, _approved, period in s.rows["requests"]:
        if status != "pending":
            continue
        pending[(org, user)] += 1
        if int(period) < orgs[org][0]:
            problems.append(f"request {request_id} of closed period {period} still pending")
        if (org, user) not in active:
            problems.append(f"request {request_id} of removed member {user} still pending")
    problems += [
        f"{key}: {count} pending requests, cap {orgs[key[0]][1]}"
        for key, count in pending.items()
        if count > orgs[key[0]][1]
    ]
    return problems


def _hold_problem(
    hold: Row, reserved: dict[tuple[str, str], int], moves: dict[str, dict[Any, Any]]
) -> str | None:
    org, hold_id, _user, amount, status, captured = hold
    amount, captured = int(amount), int(captured)
    capture = moves["capture"].get((org, hold_id), (0, 0))
    release = moves["release"].get((org, hold_id), (0, 0))
    expected = {
        "pending": ((0, 0), (0, 0)),
        "captured": ((1, captured), (1, amount - captured) if amount > captured else (0, 0)),
        "released": ((0, 0), (1, amount)),
        "expired": ((0, 0), (1, amount)),
    }[status]
    if reserved.get((org, hold_id)) != amount:
        return f"hold {hold_id}: reserved {reserved.get((org, hold_id))}, hold of {amount}"
    if (capture, release) != expected:
        return f"hold {hold_id} ({status}): capture {capture}, release {release}"
    return None


def check_holds(s: Snapshot) -> list[str]:
    """Each hold's transfers match its state; pending holds make the members' pending debits."""
    reserved = {(org, tid): int(amount) for org, tid, amount in s.rows["hold_transfers"]}
    moves = {kind: _by_reference(s, kind) for kind in ("capture", "release")}
    pending: Counter[tuple[str, str]] = Counter()
    problems = []
    for hold in s.rows["holds"]:
        problem = _hold_problem(hold, reserved, moves)
        if problem:
            problems.append(problem)
        if hold[4] == "pending":
            pending[(hold[0], f"member:{hold[2]}")] += int(hold[3])
    if len(reserved) != len(s.rows["holds"]):
        problems.append(f"{len(reserved)} hold transfers, {len(s.rows['holds'])} holds")
    for (org, code), (_c, _d, on_hold) in s.cached().items():
        if code.startswith("member:") and on_hold != pending[(org, code)]:
            problems.append(f"{(org, code)}: {on_hold} pending, holds {pending[(org, code)]}")
    return problems


def check_closed(s: Snapshot) -> list[str]:
    """A removed member's account holds nothing available (it went back to the pool)."""
    return [
        f"{(org, code)}: closed with {int(c) - int(d) - int(p)} available"
        for org, code, _g, closed, c, d, p, *_ in s.rows["accounts"]
        if closed and int(c) - int(d) - int(p) != 0
    ]


def check_period_totals(s: Snapshot) -> list[str]:
    """The period totals the views read (plus the spends still on the rows) equal the
    transfers of each account, period, side and kind.  The usage sink's credit side is left
    out: the store reads it from its senders' debits, checked here."""
    implied: Counter[tuple[str, str, int, str, str]] = Counter()
    for org, kind, debit, credit, period, amount, _n in s.rows["moves"]:
        implied[(org, debit, int(period), "d", kind)] += int(amount)
        if EFFECTS[TransferKind(kind)].credit_posted and credit != "usage":
            implied[(org, credit, int(period), "c", kind)] += int(amount)
    kept: Counter[tuple[str, str, int, str, str]] = Counter()
    for org, account, period, side, kind, amount in s.rows["totals"]:
        if (account, side) != ("usage", "c"):
            kept[(org, account, int(period), side, kind)] += int(amount)
    for org, code, *_, period, total in s.rows["accounts"]:
        if int(total):
            kept[(org, code, int(period), "d", "spend")] += int(total)
    keys = {k for k in implied | kept if implied[k] != kept[k]}
    return [f"{key}: kept {kept[key]}, transfers {implied[key]}" for key in sorted(keys)]


def check_outbox(s: Snapshot) -> list[str]:
    """After the last relay, every event is published and was handed over at least once."""
    problems = [f"event {eid} unpublished" for eid, published in s.rows["events"] if not published]
    missing = [eid for eid, _p in s.rows["events"] if eid not in s.delivered]
    if missing:
        problems.append(f"{len(missing)} events never handed over, e.g. {missing[:3]}")
    return problems


def check_acknowledged(s: Snapshot) -> list[str]:
    """Every spend and hold a caller was told succeeded is in the ledger, once, as told;
    a spend sent again returned the first transfer."""
    stored = {key: (kind, int(amount)) for key, kind, amount in s.rows["keys"]}
    problems = [
        f"{gid}: acknowledged {told}, stored {stored.get(gid)}"
        for gid, told in s.acked.items()
        if stored.get(gid) != told
    ]
    return problems + [f"replay returned another transfer: {m}" for m in s.replay_mismatches]


#: The direct-SQL checks, by what they prove.
CHECKS: dict[str, Callable[[Snapshot], list[str]]] = {
    "cached totals = transfers (by EFFECTS)": check_totals,
    "member rows' spent = their credits to usage": check_spent,
    "balances sum to zero per organisation": check_conservation,
    "no negative available on pool/member rows": check_not_negative,
    "one grant per organisation and period": check_grants,
    "one approve transfer per approved request": check_approvals,
    "open requests: cap, current period, active members": check_requests,
    "holds match their transfers and pending debits": check_holds,
    "removed members' accounts hold nothing": check_closed,
    "period totals (views) = transfers": check_period_totals,
    "outbox: all published, all handed over": check_outbox,
    "acknowledged spends/holds stored once, replays agree": check_acknowledged,
}


def run_checks(snapshot: Snapshot, service: EnterpriseService, orgs: list[Org]) -> dict[str, Any]:
    """Run every check, and the library's own reconciliation of each organisation."""
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        problems = check(snapshot)
        results[name] = {"passed": not problems, "problems": len(problems), "e.g.": problems[:5]}
    library = [f"{org.id}: {p}" for org in orgs for p in service.reconcile(org.id)]
    results["service.reconcile(org) for every organisation"] = {
        "passed": not library,
        "problems": len(library),
        "e.g.": library[:5],
    }
    return results


# ---------------------------------------------------------------------------- one server


def _latency_table(stats: Stats) -> dict[str, dict[str, Any]]:
    table = {}
    for name in sorted(stats.latencies):
        values = stats.latencies[name]
        refused = sum(n for (case, _), n in stats.refused.items() if case == name)
        failed = sum(n for (case, _), n in stats.failed.items() if case == name)
        table[name] = {
            "calls": len(values),
            "ok": stats.ok[name],
            "refused": refused,
            "failed": failed,
            "p50_ms": round(_percentile(values, 0.50) * 1000, 2),
            "p99_ms": round(_percentile(values, 0.99) * 1000, 2),
        }
    return table


def _by_type(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    found: defaultdict[str, dict[str, int]] = defaultdict(dict)
    for (case, kind), n in sorted(counts.items()):
        found[kind][case] = n
    return dict(found)


def _traffic(run: Run, server: Server, admin: Engine, database: str) -> tuple[Stats, float]:
    """Run the workers, the jobs, the relay and the killer for the run's duration."""
    options = run.options
    workers = [Worker(run, i, options.seed) for i in range(options.threads + 2)]
    targets: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
        (w.loop, ()) for w in workers[: options.threads]
    ]
    targets += [(jobs, (run, workers[-2])), (relay, (run, workers[-1]))]
    if options.kill_every > 0:
        rng = random.Random(options.seed)
        targets.append((killer, (run, server, admin, database, rng)))
    threads = [threading.Thread(target=t, args=a, daemon=True) for t, a in targets]
    started = time.perf_counter()
    try:
        for thread in threads:
            thread.start()
        run.stop.wait(options.duration)
    finally:  # interrupted too: no thread may hold a transaction when the database is dropped
        run.stop.set()
        for thread in threads:
            if thread.ident is not None:
                thread.join()
    elapsed = time.perf_counter() - started
    stats = Stats()
    for w in workers:
        stats.merge(w.stats)
    return stats, elapsed


def _drain(run: Run, stats: Stats) -> None:
    """With the killer stopped: the period job once more, and the relay until it is empty."""
    closing = Worker(run, -1, run.options.seed)
    closing.call("close_due_periods", run.service.close_due_periods)
    while closing.call("relay", run.service.relay, run.publish, limit=500):
        pass
    stats.failed.update(closing.stats.failed)
    stats.samples.update(closing.stats.samples)


class Unavailable(Exception):
    """The server cannot be reached."""


def soak(server: Server, options: Options) -> dict[str, Any]:
    """Create the run's database, soak it, check it, report; drop the database whatever."""
    base_url = os.environ.get(server.env) or server.default_url
    database = f"armox_soak_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        base_url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args=server.connect_args(f"{database}_admin"),
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(server.create.format(name=database)))
    except sa_exc.OperationalError as error:
        admin.dispose()
        raise Unavailable(f"{server.label} at {base_url}: {error.orig}") from error
    try:
        return _soak_in(server, options, admin, base_url, database)
    finally:
        with admin.connect() as connection:
            connection.execute(text(server.drop.format(name=database)))
        admin.dispose()


def _soak_in(
    server: Server, options: Options, admin: Engine, base_url: str, database: str
) -> dict[str, Any]:
    url = make_url(base_url).set(database=database)
    engine = create_engine(
        url,
        pool_size=options.threads + 3,
        max_overflow=4,
        connect_args=server.connect_args(database),
    )
    driver_errors = DriverErrors()
    event.listen(engine, "handle_error", driver_errors)
    try:
        upgrade(engine)
        clock = FastClock(_START, _MONTH / options.month_seconds)
        bound = (
            engine
            if options.isolation == "default"
            else engine.execution_options(isolation_level=options.isolation)
        )
        service = EnterpriseService(SqlAlchemyStore(bound), clock=clock)
        orgs = set_up(service, options.orgs, options.members)
        with admin.connect() as connection:
            deadlocks_before = server.deadlocks(connection, database)
            version = connection.execute(text("SELECT version()")).scalar()
        run = Run(service, orgs, options)
        first_period = {o.id: service.get_organisation(o.admins[0], o.id) for o in orgs}
        with PoolLog() as pool_log:
            stats, elapsed = _traffic(run, server, admin, database)
        _drain(run, stats)
        checks = run_checks(Snapshot.read(engine, run, stats), service, orgs)
        periods = {
            o.tag: service.get_organisation(o.admins[0], o.id).current_period_index
            - first_period[o.id].current_period_index
            for o in orgs
        }
    finally:
        engine.dispose()
    time.sleep(1.0)  # let the server flush the statistics of the connections just closed
    with admin.connect() as connection:
        deadlocks = server.deadlocks(connection, database) - deadlocks_before
    calls = sum(len(v) for v in stats.latencies.values())
    return {
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "server": server.label,
        "version": version,
        "database": database,
        "seconds": round(elapsed, 1),
        "threads": options.threads,
        "isolation": options.isolation,
        "organisations": options.orgs,
        "members_each": options.members,
        "month_seconds": options.month_seconds,
        "periods_turned": periods,
        "calls": calls,
        "ops_per_s": round(calls / elapsed, 1),
        "use_cases": _latency_table(stats),
        "refusals": _by_type(stats.refused),
        "failures": _by_type(stats.failed),
        "failure_samples": {
            f"{c}: {k}": m for (c, k), m in stats.samples.items() if (c, k) in stats.failed
        },
        "driver_errors": dict(driver_errors.seen.most_common()),
        "driver_error_samples": driver_errors.samples,
        "connections_killed": run.kills,
        "pool_reset_errors": pool_log.count,
        "kill_rounds": run.kill_rounds,
        "events_handed_over": sum(run.delivered.values()),
        "events_handed_over_again": sum(n - 1 for n in run.delivered.values()),
        "server_deadlocks": deadlocks,
        "server_deadlocks_scope": server.deadlock_scope,
        "server_log_deadlocks": server.log_deadlocks(database),
        "checks": checks,
        "passed": all(c["passed"] for c in checks.values()),
    }


# ---------------------------------------------------------------------------- the report


def _print_counts(title: str, counts: dict[str, dict[str, int]]) -> None:
    total = sum(sum(v.values()) for v in counts.values())
    print(f"{title}: {total}")
    for kind, cases in sorted(counts.items(), key=lambda kv: -sum(kv[1].values())):
        where = ", ".join(f"{c} {n}" for c, n in sorted(cases.items(), key=lambda kv: -kv[1]))
        print(f"  {kind:<28} {sum(cases.values()):>7}  ({where})")


def print_report(report: dict[str, Any]) -> None:
    """Print one server's report."""
    print(f"\n== {report['server']}: {report['version']}")
    print(
        f"{report['seconds']} s, {report['threads']} threads, isolation "
        f"{report.get('isolation', 'default')}, {report['organisations']} "
        f"organisations x {report['members_each']} members, one month per "
        f"{report['month_seconds']} s (periods turned: {report['periods_turned']}); "
        f"load average at the end: {report['load_average_1min_at_end']}"
    )
    print(f"calls: {report['calls']}, {report['ops_per_s']} per second")
    print(
        f"{'use case':<24} {'calls':>7} {'ok':>7} {'refused':>7} {'failed':>6} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    )
    for name, row in report["use_cases"].items():
        print(
            f"{name:<24} {row['calls']:>7} {row['ok']:>7} {row['refused']:>7} "
            f"{row['failed']:>6} {row['p50_ms']:>8} {row['p99_ms']:>8}"
        )
    _print_counts("refusals (expected answers)", report["refusals"])
    _print_counts("failures (escaped the retries)", report["failures"])
    for where, message in report["failure_samples"].items():
        print(f"  e.g. {where}: {message}")
    print(f"driver errors met (retried or translated): {report['driver_errors']}")
    print(f"  killed connections the pool failed to reset: {report['pool_reset_errors']}")
    print(
        f"connections killed: {report['connections_killed']} in {report['kill_rounds']} rounds; "
        f"events handed over: {report['events_handed_over']} "
        f"({report['events_handed_over_again']} again)"
    )
    print(
        f"server deadlocks during the run: {report['server_deadlocks']} "
        f"({report['server_deadlocks_scope']}); server log: {report['server_log_deadlocks']}"
    )
    print("checks:")
    for name, result in report["checks"].items():
        mark = "ok  " if result["passed"] else "FAIL"
        print(f"  [{mark}] {name}" + ("" if result["passed"] else f": {result['problems']}"))
        for problem in result["e.g."]:
            print(f"         {problem}")
    print("reconciliation:", "PASSED" if report["passed"] else "FAILED")


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value}")
    return number


def parse(argv: Sequence[str] | None) -> Options:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Soak armox-enterprise on PostgreSQL and/or MariaDB (see the module doc)."
    )
    parser.add_argument(
        "--backend",
        choices=("postgresql", "mysql", "both"),
        default="both",
        help="which servers (default both)",
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=180.0,
        help="seconds of traffic per server (default 180)",
    )
    parser.add_argument("--threads", type=_count, default=4, help="worker threads (default 4)")
    parser.add_argument("--orgs", type=_count, default=3, help="organisations (default 3)")
    parser.add_argument(
        "--members", type=_count, default=6, help="members per organisation (default 6)"
    )
    parser.add_argument(
        "--month-seconds",
        type=_positive,
        default=30.0,
        help="real seconds per simulated month (default 30)",
    )
    parser.add_argument(
        "--kill-every",
        type=float,
        default=3.0,
        help="mean seconds between kills (default 3; 0: none)",
    )
    parser.add_argument(
        "--jobs-every", type=_positive, default=0.5, help="seconds between job runs (default 0.5)"
    )
    parser.add_argument(
        "--isolation",
        choices=("default", "REPEATABLE READ", "SERIALIZABLE"),
        default="default",
        help="the engine's isolation level (default: the library's own per server)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on escaped failures too")
    parser.add_argument("--json", type=Path, default=None, help="also write the reports here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Soak each chosen server in turn; return the exit status."""
    options = parse(argv)
    chosen = ("postgresql", "mysql") if options.backend == "both" else (options.backend,)
    print(
        f"armox-enterprise {__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    )
    reports = []
    for name in chosen:
        try:
            report = soak(SERVERS[name], options)
        except Unavailable as error:
            print(f"cannot connect to {error}", file=sys.stderr)
            return 2
        print_report(report)
        reports.append(report)
    if options.json is not None:
        options.json.write_text(json.dumps(reports, indent=2, default=str) + "\n")
    passed = all(r["passed"] for r in reports)
    escaped = any(r["failures"] for r in reports)
    return 0 if passed and not (options.strict and escaped) else 1


if __name__ == "__main__":
    sys.exit(main())
