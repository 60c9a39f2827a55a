"""The spend's short path (``SqlAlchemyStore.post_spend``): all of it, or nothing and ``False``.

Whatever the member's account holds and whatever the spend asks, the short path either commits
the debit, the transfer and the event together, or answers ``False`` having written nothing;
and the service then gives the same answer on every backend as on the memory store (the
precise refusal from the full path).  Every refusal the guards make is generated: too many
credits, a closed account, a missing account, a generation id already used, a period already
sealed, an amount past the bounds of the database's integers, a member's monthly cap (with
what they spent and hold this period).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from armox_enterprise import ArmoxError, CapReached, EnterpriseService
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.adapters.sqlalchemy import tables as default_tables
from armox_enterprise.domain.events import CreditsSpent
from armox_enterprise.domain.ledger import USAGE, Transfer, TransferKind, member_account
from armox_enterprise.domain.values import MAX_CREDITS, new_id
from armox_enterprise.testing import enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _counts(store: SqlAlchemyStore, org_id: str) -> tuple[int, int]:
    t = default_tables
    with store.engine.connect() as connection:
        transfers = connection.execute(
            select(func.count()).where(t.transfers.c.organisation_id == org_id)
        ).scalar_one()
        events = connection.execute(
            select(func.count()).where(t.events.c.organisation_id == org_id)
        ).scalar_one()
    return transfers, events


def _available(store: SqlAlchemyStore, org_id: str, user: str) -> int:
    with store.unit_of_work() as uow:
        account = uow.ledger.get_account(org_id, member_account(user))
        assert account is not None
        return account.available


def _spend(org_id: str, user: str, amount: int, key: str, period: int, at: Any) -> Transfer:
    return Transfer(
        id=new_id(at),
        organisation_id=org_id,
        kind=TransferKind.SPEND,
        debit_account=member_account(user),
        credit_account=USAGE,
        amount=amount,
        period_index=period,
        actor=user,
        created_at=at,
        idempotency_key=key,
        reference=key,
    )


@_SETTINGS
@given(
    held=st.integers(min_value=0, max_value=500),
    asked=st.one_of(st.integers(min_value=1, max_value=600), st.just(MAX_CREDITS)),
    closed=st.booleans(),
    reused=st.booleans(),
    who=st.sampled_from(["member-1", "nobody"]),
    period_shift=st.sampled_from([0, -1]),
    stamp=st.sampled_from(["alike", "later", "other actor"]),
    cap=st.one_of(st.none(), st.integers(min_value=0, max_value=600)),
    reserved=st.sampled_from([0, 7]),
)
def test_the_short_path_commits_all_or_answers_false_having_written_nothing(
    backend: Backend,
    held: int,
    asked: int,
    closed: bool,
    reused: bool,
    who: str,
    period_shift: int,
    stamp: str,
    cap: int | None,
    reserved: int,
) -> None:
    backend.empty()  # each example starts from empty tables
    store = SqlAlchemyStore(backend.engine)
    s = enterprise(store=store, members=1, allowance=10_000, allocate=held)
    org, now = s.org_id, s.clock.now()
    period = s.organisation.current_period_index
    counted = 0  # what counts against the cap this period: spent and held
    if reused:
        s.service.allocate_credits(s.admin, org, "member-1", 1)
        s.service.spend("member-1", org, 1, generation_id="used")
        counted += 1
    if reserved and held >= reserved:
        s.service.reserve("member-1", org, reserved, generation_id="hold")
        counted += reserved
    s.service.set_spend_cap(s.admin, org, cap)
    if period_shift:
        # The row already counts a later period than the spend names (a lagging clock).
        s.clock.advance(timedelta(days=40))
        s.service.profile("member-1")
        period += 1
    if closed:
        with store.unit_of_work() as uow:
            uow.ledger.set_closed(org, member_account("member-1"), True)
            uow.commit()
    before = _counts(store, org)
    available = _available(store, org, "member-1")
    key = "used" if reused else "fresh"
    transfer = _spend(org, who, asked, key, period + period_shift, now)
    # The short path binds the event's organisation, actor and time once, with the transfer's;
    # an event stamped otherwise is posted in a unit of work, as given.
    event = CreditsSpent(
        organisation_id=org,
        actor="auditor" if stamp == "other actor" else who,
        occurred_at=now + timedelta(seconds=1) if stamp == "later" else now,
        user_id=who,
        amount=asked,
        reference=key,
    )
    allowed = (
        who == "member-1"
        and not closed
        and not reused
        and period_shift == 0
        and asked <= available
        and (cap is None or counted + asked <= cap)
    )
    assert store.post_spend(transfer, event) is allowed
    after = _counts(store, org)
    if allowed:
        assert after == (before[0] + 1, before[1] + 1)
        assert _available(store, org, "member-1") == available - asked
        with store.unit_of_work() as uow:
            assert uow.ledger.transfer_by_key(org, key) == transfer
        e = default_tables.events
        with store.engine.connect() as connection:
            stored = connection.execute(
                select(e.c.actor, e.c.occurred_at)
                .where(e.c.organisation_id == org, e.c.name == "CreditsSpent")
                .order_by(e.c.id.desc())
                .limit(1)
            ).one()
        assert (stored.actor, stored.occurred_at) == (event.actor, event.occurred_at)
    else:
        assert after == before
        assert _available(store, org, "member-1") == available
    assert s.service.reconcile(org) == []
    # The pool's connections all went back.
    assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


@_SETTINGS
@given(
    held=st.integers(min_value=0, max_value=300),
    asked=st.integers(min_value=1, max_value=400),
    closed=st.booleans(),
    cap=st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
    member_cap=st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
    before=st.integers(min_value=0, max_value=100),
    reserved=st.integers(min_value=0, max_value=100),
    pool=st.booleans(),
)
def test_the_service_answers_as_the_memory_store_does(
    backend: Backend,
    held: int,
    asked: int,
    closed: bool,
    cap: int | None,
    member_cap: int | None,
    before: int,
    reserved: int,
    pool: bool,
) -> None:
    """A spend refused on the short path gets the full path's precise answer, the same
    (class, available, can_request, and for a cap the cap, the period's count and the
    amount) on the backend as on the memory store, after spends and holds under the
    organisation's default cap and a member's own."""

    def outcome(service: EnterpriseService, org: str) -> tuple[Any, ...]:
        service.profile("member-1")  # the period is known: the spend takes the short path
        if pool:
            service.update_settings("admin", org, allow_pool_spend=True)
        first = []
        for key, amount, act in (
            ("before", before, service.spend),
            ("held", reserved, service.reserve),
        ):
            if amount:
                try:
                    act("member-1", org, amount, generation_id=key)
                    first.append("ok")
                except ArmoxError as error:
                    first.append(type(error).__name__)
        service.set_spend_cap("admin", org, cap)
        service.set_spend_cap("admin", org, member_cap, user_id="member-1")
        if closed:
            service.remove_member("admin", org, "member-1")
        try:
            spent = service.spend("member-1", org, asked, generation_id="g")
        except ArmoxError as error:
            return (
                *first,
                type(error).__name__,
                getattr(error, "available", None),
                getattr(error, "can_request", None),
                getattr(error, "cap", None),
                getattr(error, "spent", None),
                getattr(error, "requested", None),
                str(error) if isinstance(error, CapReached) else None,
            )
        return (*first, "spent", spent.amount)

    backend.empty()
    sql = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=held)
    memory = enterprise(members=1, allocate=held)
    assert outcome(sql.service, sql.org_id) == outcome(memory.service, memory.org_id)
    assert sql.service.reconcile(sql.org_id) == []


def test_a_store_joined_to_a_host_keeps_to_its_transaction(backend: Backend) -> None:
    """A joining store never takes the short path: the spend is the host's to commit."""
    owner = enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=50)
    with backend.engine.connect() as connection:
        host = connection.begin()
        joined = EnterpriseService(SqlAlchemyStore.joining(connection), clock=owner.clock)
        joined.profile("member-1")
        joined.spend("member-1", owner.org_id, 5, generation_id="in-host")
        host.rollback()
    assert _available(SqlAlchemyStore(backend.engine), owner.org_id, "member-1") == 50


#: Text a value may hold that an escaping must neutralise: quotes, backslashes, the
#: paramstyle's own marks, NUL, line ends, and characters past ASCII.
_HOSTILE = st.text(
    alphabet=st.one_of(st.sampled_from("'\"\\%()s;-\x00\n\r\x1a`"), st.characters()),
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.fixed_dictionaries(
        {"c": _HOSTILE, "t_actor": _HOSTILE, "t_idempotency_key": _HOSTILE, "e_payload": _HOSTILE}
    ),
    no_backslash_escapes=st.booleans(),
)
def test_on_pymysql_each_statement_sends_what_the_driver_would_bind(
    server_backend: Backend, texts: dict[str, str], no_backslash_escapes: bool
) -> None:
    """On MariaDB and MySQL the short path escapes each value once per spend and puts the
    literals in every statement's text: each text is, byte for byte, what PyMySQL's cursor
    makes of the statement and its parameters (its own escaping, injection-safe), in either
    of the server's string modes (``NO_BACKSLASH_ESCAPES`` or not)."""
    from armox_enterprise.adapters.sqlalchemy.quick import _values, quick_spend

    if server_backend.name != "mysql":
        pytest.skip("PyMySQL's escaping: MariaDB and MySQL only")
    store = SqlAlchemyStore(server_backend.engine)
    quick = quick_spend(store.tables, store.engine.dialect)
    assert quick is not None
    assert quick.literals is not None
    at = enterprise().clock.now()
    transfer = _spend("org-1", "member-1", 3, "key", 0, at)
    event = CreditsSpent(
        organisation_id="org-1",
        actor="member-1",
        occurred_at=at,
        user_id="member-1",
        amount=3,
        reference="key",
    )
    values = {**_values(transfer, event), **texts}
    fairy = store.engine.raw_connection()
    try:
        dbapi: Any = fairy.driver_connection
        cursor = dbapi.cursor()
        mode = "CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')" if no_backslash_escapes else "''"
        cursor.execute(f"SET SESSION sql_mode = {mode}")
        escaped = quick.literals.escaped(dbapi.escape, values)
        for statement in quick.statements:
            assert statement.sql % escaped == cursor.mogrify(
                statement.sql, statement.params(values)
            )
    finally:
        fairy.invalidate()  # the session's sql_mode goes with it


def test_a_generation_id_with_quotes_and_backslashes_is_stored_as_given(
    server_backend: Backend,
) -> None:
    """A spend whose generation id holds quotes, backslashes and the paramstyle's marks
    commits on the short path, and its transfer keeps the id as given."""
    store = SqlAlchemyStore(server_backend.engine)
    fx = enterprise(store=store, members=1, allocate=50)
    fx.service.profile("member-1")  # the period is known: the spend takes the short path
    key = "g'); DROP TABLE x; -- \\' \" %(o)s %s"
    spent = fx.service.spend("member-1", fx.org_id, 4, generation_id=key)
    assert spent.idempotency_key == key
    with store.engine.connect() as connection:
        stored = connection.execute(
            select(default_tables.transfers.c.idempotency_key).where(
                default_tables.transfers.c.id == spent.id
            )
        ).scalar_one()
    assert stored == key
    assert _available(store, fx.org_id, "member-1") == 46
