"""A driver error never puts the statement or its values into the library's message.

Hostile text (SQL metacharacters, quotes, placeholders, long text, non-ASCII, and the very
words drivers use in their own messages) goes through use cases that make the database refuse
a statement: a unique or a check violation (constraints a test adds to its own tables), a
missing table (tables that were never created) and a lost connection.  The library's error
says which operation failed and what kind of failure it was; ``str`` and ``repr`` of it show
neither the statement's SQL nor any value, while ``__cause__`` is SQLAlchemy's wrapper of the
driver's own error, which has both.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
import pymysql
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import CheckConstraint, Engine, MetaData, UniqueConstraint, create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from armox_enterprise import EnterpriseService, Role, StorageError, TransientStorageError
from armox_enterprise.adapters.sqlalchemy import (
    NAMING_CONVENTION,
    SqlAlchemyStore,
    Tables,
    make_tables,
)
from armox_enterprise.adapters.sqlalchemy.errors import (
    Failure,
    classify,
    describe,
    is_transient,
    translate,
)
from armox_enterprise.adapters.sqlalchemy.ledger import SqlLedger
from armox_enterprise.domain.ledger import Transfer
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import InvalidDomain
from armox_enterprise.testing import FrozenClock, StaticDnsResolver

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

# -- hostile text -------------------------------------------------------------------------

_FRAGMENTS = (
    "'",
    "''",
    '"',
    "`",
    ";",
    "--",
    "/*",
    "*/",
    "%s",
    "%(amount)s",
    "?",
    ":note",
    "\\",
    "\\'",
    "' OR '1'='1",
    "'); DROP TABLE armox_transfers; --",
    "SELECT * FROM armox_accounts",
    "INSERT INTO",
    "UPDATE",
    "foreign key",
    "idempotency_key",
    "UNIQUE constraint failed",
    "Duplicate entry",
    "deadlock",
    "database is locked",
    "terminating connection",
    "[SQL: x]",
    "[parameters: y]",
    "\u202e",
    "\u200b",
    "\ufeff",
    "é",
    "ß",
    "İ",
    "中文",
    "👾",
    "\t",
    "\u2028",
    "NULL",
    "\x1b[31m",
)
_CHARACTER = st.characters(codec="utf-8", exclude_characters="\x00\r\n")


def _wrapped(head: str, tail: str, size: int) -> str:
    """``«head¦tail»`` within ``size`` characters: the marks make any leaked part visible,
    and keep the value from starting or ending with blanks (which the library strips)."""
    room = size - 3
    head = head[: room // 2]
    tail = tail[: room - len(head)]
    return f"«{head}¦{tail}»"


def hostile(size: int) -> st.SearchStrategy[str]:
    """Text of at most ``size`` characters made of SQL metacharacters, driver words, random
    Unicode and anything else, between marks."""
    part = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(_CHARACTER, max_size=12)))
    return st.builds(lambda h, t: _wrapped("".join(h), "".join(t), size), part, part)


_LONG = st.text(_CHARACTER, min_size=300, max_size=900).map(lambda t: _wrapped(t, t[:40], 1000))
_LABEL = st.text("abcdefghijklmnopqrstuvwxyzàáâäåçèéêëìíîïñòóôöøùúûüýÿßæœ0123456789", min_size=1)
_LOCAL = st.text("abcXYZ019!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=20)


class Hostile(NamedTuple):
    """The values one example pushes through the use cases."""

    org_name: str
    admin: str
    member: str
    display_name: str
    note: str
    key: str
    feature: str
    model: str
    label: str
    local: str

    @property
    def marked(self) -> tuple[str, ...]:
        """The values between marks (the label and the local part go into a domain and an
        address, which are checked whole)."""
        return self[:8]


HOSTILE = st.builds(
    Hostile,
    org_name=hostile(200),
    admin=hostile(120),
    member=hostile(120),
    display_name=hostile(200),
    note=st.one_of(hostile(1000), _LONG),
    key=hostile(128),
    feature=hostile(64),
    model=hostile(64),
    label=_LABEL.map(lambda s: s[:20]),
    local=_LOCAL,
)

_SQL_WORDS = ("INSERT INTO", "UPDATE", "SELECT", "DELETE", "VALUES", "WHERE", "[SQL", "[param")
_DRIVER_ERRORS: dict[str, type[BaseException]] = {
    "sqlite": sqlite3.Error,
    "postgresql": psycopg.Error,
    "mysql": pymysql.err.MySQLError,
}
_numbers = itertools.count()


class World(NamedTuple):
    """One example's organisation, made of hostile values, and every value it was fed."""

    service: EnterpriseService
    org_id: str
    admin: str
    member: str
    domain: str
    values: tuple[str, ...]


def build_world(store: SqlAlchemyStore, v: Hostile) -> World:
    """An organisation with a hostile name, admin, member, domain and display names."""
    n = next(_numbers)
    domain = f"{v.label}-{n}.example"
    try:
        punycode = DomainName.parse(domain).value
    except InvalidDomain:
        assume(False)
        raise
    clock, dns = FrozenClock(), StaticDnsResolver()
    service = EnterpriseService(store, clock=clock, dns=dns, max_attempts=1)
    admin, member = f"{v.admin}·a{n}", f"{v.member}·m{n}"
    emails = (f"{v.local}.{n}@{domain}", f"{v.local}.{n}.m@{domain}")
    org = service.create_organisation(
        name=v.org_name,
        admin_user_id=admin,
        admin_email=emails[0],
        admin_display_name=v.display_name,
        monthly_allowance=10_000,
    )
    claim = service.claim_domain(admin, org.id, domain)
    dns.publish(punycode, claim.txt_record)
    service.verify_domain(admin, org.id, domain)
    decision = service.enrol(member, emails[1], email_verified=True, display_name=v.display_name)
    assert decision.enrolled
    values = (*v.marked, admin, member, domain, punycode, *emails)
    return World(service, org.id, admin, member, domain, values)


def assert_clean(error: BaseException, values: Iterable[str], backend: str) -> None:
    """``error`` shows no SQL and no value, names an operation, and keeps the driver's error."""
    assert isinstance(error, StorageError)
    for shown in (str(error), repr(error)):
        assert "the store could not " in shown
        for word in _SQL_WORDS:
            assert word not in shown
        for word in ("insert into", "select ", "update ", "delete from"):
            assert word not in shown.lower()
        assert not {"«", "¦", "»"} & set(shown), shown
        for value in values:
            assert value not in shown
    cause = error.__cause__
    assert isinstance(cause, sa_exc.DBAPIError), repr(cause)
    assert isinstance(cause.orig, _DRIVER_ERRORS[backend]), repr(cause.orig)


def _examples(backend: Backend, on_sqlite: int, on_servers: int) -> Any:
    return settings(
        max_examples=on_sqlite if backend.name == "sqlite" else on_servers,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=False,
    )


# -- tables of the tests' own, with constraints the library does not have ------------------


@pytest.fixture
def guarded(backend: Backend) -> Iterator[SqlAlchemyStore]:
    """A store on tables of its own (prefix ``errmsg_``) with extra constraints: one credit
    request per amount, none of 777 credits, one transfer per feature tag, no invitation of
    an admin."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    tables: Tables = make_tables(metadata, prefix="errmsg_")
    tables.credit_requests.append_constraint(
        UniqueConstraint("organisation_id", "amount", name="uq_errmsg_request_amount")
    )
    tables.credit_requests.append_constraint(CheckConstraint("amount <> 777", name="amount"))
    tables.transfers.append_constraint(
        UniqueConstraint("organisation_id", "feature", name="uq_errmsg_transfer_feature")
    )
    tables.invitations.append_constraint(CheckConstraint("role <> 'admin'", name="role"))
    metadata.drop_all(backend.engine)
    metadata.create_all(backend.engine)
    yield SqlAlchemyStore(backend.engine, tables=tables)
    metadata.drop_all(backend.engine)


def test_a_unique_violation_names_the_operation_and_no_value(
    backend: Backend, guarded: SqlAlchemyStore
) -> None:
    """A second credit request of the same amount breaks a unique constraint: the error says
    the store could not write the request, and shows none of the note, ids or names."""

    @_examples(backend, 25, 8)
    @given(v=HOSTILE)
    def check(v: Hostile) -> None:
        world = build_world(guarded, v)
        world.service.allocate_credits(world.admin, world.org_id, world.member, 50)
        world.service.request_credits(world.admin, world.org_id, 5, note=v.note)
        with pytest.raises(StorageError) as caught:
            world.service.request_credits(
                world.member, world.org_id, 5, note=v.note, idempotency_key=v.key
            )
        error = caught.value
        assert_clean(error, world.values, backend.name)
        assert "unique violation" in str(error)
        assert "credit_requests" in str(error)
        assert "INSERT INTO" in str(error.__cause__)  # what the message leaves out

    check()


def test_a_unique_violation_on_a_transfer_is_not_taken_for_a_reused_key(
    backend: Backend, guarded: SqlAlchemyStore
) -> None:
    """Two spends with one feature tag break a unique constraint on the transfers: "the
    store could not post a transfer", even when the tag reads "foreign key" or
    "idempotency_key" (the driver's message repeats it; the ledger looks at codes)."""

    @_examples(backend, 25, 8)
    @given(v=HOSTILE)
    def check(v: Hostile) -> None:
        world = build_world(guarded, v)
        service = world.service
        service.allocate_credits(world.admin, world.org_id, world.member, 50)
        service.spend(world.member, world.org_id, 5, generation_id="first", feature=v.feature)
        with pytest.raises(StorageError) as caught:
            service.spend(
                world.member,
                world.org_id,
                5,
                generation_id=v.key,
                feature=v.feature,
                model=v.model,
            )
        error = caught.value
        assert_clean(error, world.values, backend.name)
        assert str(error).startswith(
            "the store could not post a transfer: the database refused it (unique violation)"
        )

    check()


def test_a_check_violation_names_the_operation_and_no_value(
    backend: Backend, guarded: SqlAlchemyStore
) -> None:
    """A request of 777 credits and the invitation of an admin break check constraints
    (whose failing rows PostgreSQL would print): no note, address or domain is shown."""

    @_examples(backend, 25, 8)
    @given(v=HOSTILE)
    def check(v: Hostile) -> None:
        world = build_world(guarded, v)
        with pytest.raises(StorageError) as request:
            world.service.request_credits(
                world.member, world.org_id, 777, note=v.note, idempotency_key=v.key
            )
        invited = f"{v.local}.x@{world.domain}"
        with pytest.raises(StorageError) as invitation:
            world.service.invite(world.admin, world.org_id, invited, role=Role.ADMIN)
        for error, table in ((request.value, "credit_requests"), (invitation.value, "invit")):
            assert_clean(error, (*world.values, invited), backend.name)
            assert "check violation" in str(error)
            assert table in str(error)

    check()


def test_a_missing_table_says_to_run_the_migrations(backend: Backend) -> None:
    """Tables that were never created (another prefix): every call fails with a message that
    says to run the migrations, and shows none of the caller's values."""
    missing = SqlAlchemyStore(backend.engine, tables=make_tables(prefix="errmsg_missing_"))

    @_examples(backend, 25, 10)
    @given(v=HOSTILE)
    def check(v: Hostile) -> None:
        service = EnterpriseService(missing, clock=FrozenClock(), max_attempts=1)
        email = f"{v.local}@{v.label}.example"
        try:
            DomainName.parse(f"{v.label}.example")
        except InvalidDomain:
            assume(False)
        calls: list[Callable[[], object]] = [
            lambda: service.create_organisation(
                name=v.org_name,
                admin_user_id=v.admin,
                admin_email=email,
                admin_display_name=v.display_name,
            ),
            lambda: service.profile(v.member),
            lambda: service.spend(v.member, v.admin, 5, generation_id=v.key, feature=v.feature),
            lambda: service.request_credits(v.member, v.admin, 5, note=v.note),
        ]
        for call in calls:
            with pytest.raises(StorageError) as caught:
                call()
            error = caught.value
            assert_clean(error, (*v.marked, email), backend.name)
            assert "a table it needs does not exist" in str(error)
            assert "run the migrations" in str(error)
            assert "errmsg_missing_" in str(error)  # the table named (never data)

    check()


# -- a lost connection ---------------------------------------------------------------------


@pytest.fixture
def admin_engine(backend: Backend) -> Iterator[Engine | None]:
    """On a server, another engine, to kill the connection of a unit of work."""
    if backend.name == "sqlite":
        yield None
        return
    engine = create_engine(backend.url, poolclass=NullPool)
    yield engine
    engine.dispose()


def _cut(backend: Backend, admin: Engine | None, ledger: Any) -> None:
    """Lose the unit of work's connection: the server kills it (SQLite: it is closed)."""
    connection = ledger._db.connection
    if admin is None:
        connection.connection.dbapi_connection.close()
        return
    if backend.name == "postgresql":
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        kill = text("SELECT pg_terminate_backend(:pid)")
    else:
        pid = connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        kill = text(f"KILL {int(pid)}")
    with admin.begin() as other:
        other.execute(kill, {"pid": pid})


def test_a_lost_connection_is_transient_and_shows_no_value(
    backend: Backend,
    guarded: SqlAlchemyStore,
    admin_engine: Engine | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection is lost right after an allocation's transfer is written: with one
    attempt allowed, the caller gets a ``TransientStorageError`` that names the operation and
    none of the ids, names or keys; nothing was written."""
    original = SqlLedger.post

    @_examples(backend, 15, 6)
    @given(v=HOSTILE)
    def check(v: Hostile) -> None:
        world = build_world(guarded, v)
        armed = [True]

        def post(self: Any, transfer: Transfer) -> None:
            original(self, transfer)
            if armed[0]:
                armed[0] = False
                _cut(backend, admin_engine, self)

        monkeypatch.setattr(SqlLedger, "post", post)
        try:
            with pytest.raises(TransientStorageError) as caught:
                world.service.allocate_credits(
                    world.admin, world.org_id, world.member, 40, idempotency_key=v.key
                )
        finally:
            monkeypatch.setattr(SqlLedger, "post", original)
        error = caught.value
        assert_clean(error, world.values, backend.name)
        assert "the connection to the database was lost" in str(error)
        assert world.service.profile(world.member).credits.remaining == 0  # type: ignore[union-attr]

    check()


# -- the translation itself, for every code the table knows ---------------------------------


def _pg(sqlstate: str) -> Callable[[str], BaseException]:
    return psycopg.errors.lookup(sqlstate)


def _my(errno: int) -> Callable[[str], BaseException]:
    return lambda message: pymysql.err.OperationalError(errno, message)


def _lite(name: str, kind: type[sqlite3.Error] = sqlite3.IntegrityError) -> Any:
    def make(message: str) -> BaseException:
        error = kind(message)
        error.sqlite_errorname = name  # type: ignore[attr-defined]
        return error

    return make


_CODES: list[tuple[Callable[[str], BaseException], Failure]] = [
    (_pg("23505"), Failure.UNIQUE),
    (_pg("23503"), Failure.FOREIGN_KEY),
    (_pg("23514"), Failure.CHECK),
    (_pg("23502"), Failure.NOT_NULL),
    (_pg("P0001"), Failure.TRIGGER),
    (_pg("40001"), Failure.SERIALIZATION),
    (_pg("40P01"), Failure.DEADLOCK),
    (_pg("55P03"), Failure.LOCK_TIMEOUT),
    (_pg("57P01"), Failure.CONNECTION_LOST),
    (_pg("08006"), Failure.CONNECTION_LOST),
    (_pg("42P01"), Failure.MISSING_TABLE),
    (_pg("42703"), Failure.MISSING_COLUMN),
    (_pg("22003"), Failure.OUT_OF_RANGE),
    (_pg("42883"), Failure.OTHER),
    (_my(1062), Failure.UNIQUE),
    (_my(1452), Failure.FOREIGN_KEY),
    (_my(4025), Failure.CHECK),
    (_my(3819), Failure.CHECK),
    (_my(1048), Failure.NOT_NULL),
    (_my(1644), Failure.TRIGGER),
    (_my(1213), Failure.DEADLOCK),
    (_my(1205), Failure.LOCK_TIMEOUT),
    (_my(2013), Failure.CONNECTION_LOST),
    (_my(4031), Failure.CONNECTION_LOST),
    (_my(1146), Failure.MISSING_TABLE),
    (_my(1406), Failure.TOO_LONG),
    (_my(1292), Failure.OTHER),
    (_lite("SQLITE_CONSTRAINT_UNIQUE"), Failure.UNIQUE),
    (_lite("SQLITE_CONSTRAINT_PRIMARYKEY"), Failure.UNIQUE),
    (_lite("SQLITE_CONSTRAINT_FOREIGNKEY"), Failure.FOREIGN_KEY),
    (_lite("SQLITE_CONSTRAINT_CHECK"), Failure.CHECK),
    (_lite("SQLITE_CONSTRAINT_TRIGGER"), Failure.TRIGGER),
    (_lite("SQLITE_BUSY", sqlite3.OperationalError), Failure.BUSY),
    (_lite("SQLITE_ERROR", sqlite3.OperationalError), Failure.OTHER),
]


@settings(max_examples=300, deadline=None)
@given(
    code=st.sampled_from(_CODES),
    values=st.lists(hostile(300), min_size=1, max_size=4),
    operation=st.sampled_from(["post a transfer", "write to armox_credit_requests", None]),
)
def test_every_kind_is_named_and_no_value_is_shown(
    code: tuple[Callable[[str], BaseException], Failure],
    values: list[str],
    operation: str | None,
) -> None:
    """Whatever the driver's message repeats (here: every value), the translation shows the
    operation and the kind only; transient kinds are ``TransientStorageError``s."""
    make, failure = code
    orig = make(f"refused: {' '.join(values)} DETAIL: Key (note)=({values[0]}) already exists")
    statement = "INSERT INTO armox_credit_requests (note, id) VALUES (%(note)s, %(id)s)"
    error = sa_exc.DBAPIError.instance(statement, {"note": values[0]}, orig, Exception)  # type: ignore[arg-type]
    assert classify(error) is failure
    assert is_transient(error) is failure.transient
    translated = translate(error, operation)
    assert isinstance(translated, TransientStorageError) is failure.transient
    for shown in (str(translated), repr(translated)):
        assert not {"«", "¦", "»"} & set(shown)
        assert not any(word in shown for word in _SQL_WORDS)
    expected = operation or "write to the database"
    assert str(translated).startswith(f"the store could not {expected}: {failure.value}")


def test_a_statement_is_described_by_its_verb_and_table() -> None:
    """The default operation of a statement names its verb and its tables, nothing else."""
    from sqlalchemy import delete, insert, select, update

    t = make_tables(prefix="armox_")
    assert describe(insert(t.transfers).values(amount=5)) == "write to armox_transfers"
    assert describe(update(t.accounts).values(debits_posted=1)) == "change rows of armox_accounts"
    assert describe(delete(t.holds)) == "remove rows from armox_holds"
    joined = select(t.accounts).join(
        t.memberships, t.accounts.c.organisation_id == t.memberships.c.organisation_id
    )
    assert describe(joined) == "read armox_accounts and armox_memberships"
    assert describe(text("SELECT 1")) == "run a statement"
