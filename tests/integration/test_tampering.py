"""Direct SQL cannot rewrite the ledger's history, and what it can still forge is caught.

Every test writes around the library, as a host's script or a console session would: the
database itself refuses changing or deleting a transfer, a second grant in a period, changing
a decided request or a resolved hold, and (on SQLite, on a connection that never enabled
foreign keys) a transfer between two organisations.  What the database must allow (a new
transfer, edits of account rows, deciding a pending request) is caught by
``EnterpriseService.reconcile``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Connection, create_engine, delete, insert, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from armox_enterprise import EnterpriseService, JoinMode, TransferKind
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.adapters.sqlalchemy import tables as t
from armox_enterprise.domain.ledger import member_account, reconcile
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

MEMBER = "member-1"
APPEND_ONLY = "append-only"
GRANT_INDEX = "uq_armox_transfers_grant_period"


@pytest.fixture
def acme(backend: Backend) -> Scenario:
    """Acme on ``backend``: an admin, one member with 50 credits, this period's grant."""
    return enterprise(store=SqlAlchemyStore(backend.engine), members=1, allocate=50)


def grant_of(acme: Scenario) -> str:
    """The id of Acme's grant for its current period."""
    with acme.store.unit_of_work() as uow:
        [grant] = uow.ledger.transfers(acme.org_id, kinds=[TransferKind.GRANT])
    return grant.id


def forge_transfer(
    connection: Connection,
    acme: Scenario,
    transfer_id: str,
    kind: str,
    debit: str,
    credit: str,
    amount: int,
    *,
    organisation_id: str | None = None,
    period: int = 0,
    reference: str | None = None,
) -> None:
    """INSERT a transfer row by hand."""
    connection.execute(
        insert(t.transfers).values(
            id=transfer_id,
            organisation_id=organisation_id or acme.org_id,
            kind=kind,
            debit_account=debit,
            credit_account=credit,
            amount=amount,
            period_index=period,
            actor="intruder",
            created_at=acme.clock.now(),
            reference=reference,
        )
    )


def shift(connection: Connection, acme: Scenario, code: str, column: str, amount: int) -> None:
    """Add ``amount`` to one cached total of one of Acme's account rows."""
    accounts = t.accounts
    connection.execute(
        update(accounts)
        .where(accounts.c.organisation_id == acme.org_id, accounts.c.code == code)
        .values({column: accounts.c[column] + amount})
    )


def balances_agree(acme: Scenario) -> bool:
    """Whether the balance check alone (cached totals against transfers) finds nothing."""
    with acme.store.unit_of_work() as uow:
        return reconcile(uow.ledger.accounts(acme.org_id), uow.ledger.transfers(acme.org_id)) == []


# -- transfers are append-only --------------------------------------------------------------


def test_a_transfers_amount_cannot_be_updated(backend: Backend, acme: Scenario) -> None:
    """UPDATE ... SET amount is refused by a trigger, for one transfer or all of them."""
    transfers, grant = t.transfers, grant_of(acme)
    with pytest.raises(DBAPIError, match=APPEND_ONLY), backend.engine.begin() as connection:
        connection.execute(
            update(transfers)
            .where(transfers.c.id == grant)
            .values(amount=transfers.c.amount + 1_000)
        )
    with pytest.raises(DBAPIError, match=APPEND_ONLY), backend.engine.begin() as connection:
        connection.execute(update(transfers).values(amount=1))
    assert acme.service.reconcile(acme.org_id) == []


def test_a_transfer_cannot_move_to_another_organisation(backend: Backend, acme: Scenario) -> None:
    """UPDATE ... SET organisation_id is refused, even towards an organisation with the
    same account codes."""
    globex = acme.service.create_organisation(
        name="Globex", admin_user_id="gina", admin_email="gina@globex.example"
    )
    transfers, grant = t.transfers, grant_of(acme)
    with pytest.raises(DBAPIError, match=APPEND_ONLY), backend.engine.begin() as connection:
        connection.execute(
            update(transfers).where(transfers.c.id == grant).values(organisation_id=globex.id)
        )
    assert acme.service.reconcile(acme.org_id) == []
    assert acme.service.reconcile(globex.id) == []


def test_a_transfer_cannot_be_deleted(backend: Backend, acme: Scenario) -> None:
    """DELETE is refused by a trigger, for one transfer or all of them."""
    transfers, grant = t.transfers, grant_of(acme)
    with pytest.raises(DBAPIError, match=APPEND_ONLY), backend.engine.begin() as connection:
        connection.execute(delete(transfers).where(transfers.c.id == grant))
    with pytest.raises(DBAPIError, match=APPEND_ONLY), backend.engine.begin() as connection:
        connection.execute(delete(transfers))
    with backend.engine.connect() as connection:
        kept = connection.execute(select(transfers.c.id).where(transfers.c.id == grant))
        assert kept.scalar_one() == grant


# -- one grant per organisation and period --------------------------------------------------


def test_a_second_grant_for_a_period_is_refused(backend: Backend, acme: Scenario) -> None:
    """INSERTing another grant for the current period breaks the unique grant index, while a
    grant for another period and a top-up in this one are accepted (and rolled back here)."""
    with pytest.raises(IntegrityError, match="grant_period"), backend.engine.begin() as c:
        forge_transfer(c, acme, "forged-grant", "grant", "grant", "pool", 1)
    with backend.engine.connect() as connection, connection.begin() as transaction:
        forge_transfer(connection, acme, "next-grant", "grant", "grant", "pool", 1, period=1)
        forge_transfer(connection, acme, "a-top-up", "top_up", "grant", "pool", 1)
        transaction.rollback()
    assert acme.service.reconcile(acme.org_id) == []


# -- decided stays decided ------------------------------------------------------------------


@pytest.mark.parametrize(("decision", "status"), [("approve", "approved"), ("reject", "rejected")])
def test_a_decided_credit_request_cannot_change(
    backend: Backend, acme: Scenario, decision: str, status: str
) -> None:
    """Neither back to pending, nor to another amount or decider; its notes may be erased."""
    request = acme.service.request_credits(MEMBER, acme.org_id, 20, note="for the launch")
    decide = getattr(acme.service, f"{decision}_request")
    decide(acme.admin, acme.org_id, request.id, note="ok")
    requests = t.credit_requests
    mine = requests.c.id == request.id
    for change in (
        {"status": "pending"},
        {"approved_amount": 2_000},
        {"amount": 2_000},
        {"decided_by": "intruder"},
        {"user_id": "intruder"},
    ):
        with (
            pytest.raises(DBAPIError, match="decided credit request"),
            backend.engine.begin() as connection,
        ):
            connection.execute(update(requests).where(mine).values(change))
    with backend.engine.begin() as connection:
        connection.execute(update(requests).where(mine).values(note="", decision_note=""))
    [stored] = acme.service.list_requests(acme.admin, acme.org_id, status=None)
    assert (stored.status.value, stored.note, stored.decision_note) == (status, "", "")
    assert acme.service.reconcile(acme.org_id) == []


def test_a_pending_request_still_moves(backend: Backend, acme: Scenario) -> None:
    """The trigger leaves pending requests alone: the library's own decision goes through."""
    request = acme.service.request_credits(MEMBER, acme.org_id, 20)
    with backend.engine.begin() as connection:
        connection.execute(
            update(t.credit_requests)
            .where(t.credit_requests.c.id == request.id)
            .values(note="edited while pending")
        )
    approved = acme.service.approve_request(acme.admin, acme.org_id, request.id)
    assert approved.approved_amount == 20
    assert acme.service.reconcile(acme.org_id) == []


def test_a_resolved_hold_cannot_change(backend: Backend, acme: Scenario) -> None:
    """A captured hold's status and captured amount stay as they were."""
    hold = acme.service.reserve(MEMBER, acme.org_id, 10, generation_id="gen-1")
    acme.service.capture_hold(MEMBER, acme.org_id, hold.id, 5)
    holds = t.holds
    for change in ({"status": "pending"}, {"captured": 10}, {"amount": 1}):
        with pytest.raises(DBAPIError, match="resolved hold"), backend.engine.begin() as c:
            c.execute(update(holds).where(holds.c.id == hold.id).values(change))
    assert acme.service.reconcile(acme.org_id) == []


def test_a_decided_join_request_cannot_change(backend: Backend, acme: Scenario) -> None:
    """A decided join request is not set back to pending; its name and address may be
    erased."""
    acme.service.update_settings(acme.admin, acme.org_id, join_mode=JoinMode.REQUEST)
    acme.service.sign_up("jane", "jane@acme.example", email_verified=True)
    [request] = acme.service.list_join_requests(acme.admin, acme.org_id)
    acme.service.decide_join_request(acme.admin, acme.org_id, request.id, approve=False)
    joins = t.join_requests
    with pytest.raises(DBAPIError, match="decided join request"), backend.engine.begin() as c:
        c.execute(update(joins).where(joins.c.id == request.id).values(status="pending"))
    with backend.engine.begin() as connection:
        connection.execute(
            update(joins).where(joins.c.id == request.id).values(display_name="", email="-")
        )


# -- transfers stay inside their organisation -----------------------------------------------


@pytest.fixture
def bare(backend: Backend) -> Iterator[Connection]:
    """A connection as a host's tool might open it: on SQLite, a plain engine that never
    ran ``PRAGMA foreign_keys = ON`` (so SQLite checks no foreign key on it)."""
    if backend.name != "sqlite":
        with backend.engine.connect() as connection:
            yield connection
        return
    engine = create_engine(backend.url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 0
            connection.rollback()
            yield connection
    finally:
        engine.dispose()


def test_a_transfer_between_two_organisations_is_refused(acme: Scenario, bare: Connection) -> None:
    """A transfer of Globex's naming an account only Acme has is refused: by the composite
    foreign keys, and on SQLite by triggers that need no pragma."""
    globex = acme.service.create_organisation(
        name="Globex", admin_user_id="gina", admin_email="gina@globex.example"
    )
    for debit, credit in (("pool", member_account(MEMBER)), (member_account(MEMBER), "usage")):
        with pytest.raises(IntegrityError), bare.begin():
            forge_transfer(
                bare,
                acme,
                f"cross-{debit}",
                "allocate",
                debit,
                credit,
                1,
                organisation_id=globex.id,
            )
    assert acme.service.reconcile(globex.id) == []


def test_an_account_that_transfers_name_is_neither_deleted_nor_renamed(
    acme: Scenario, bare: Connection
) -> None:
    """Without the pragma too, SQLite keeps the accounts a transfer names."""
    accounts = t.accounts
    member = (accounts.c.organisation_id == acme.org_id) & (
        accounts.c.code == member_account(MEMBER)
    )
    with pytest.raises(IntegrityError), bare.begin():
        bare.execute(delete(accounts).where(member))
    with pytest.raises(IntegrityError), bare.begin():
        bare.execute(update(accounts).where(member).values(code=member_account("someone")))
    assert acme.service.reconcile(acme.org_id) == []


# -- what the database allows, reconcile catches --------------------------------------------


def test_a_forged_approval_hidden_by_edited_balances_is_caught(
    backend: Backend, acme: Scenario
) -> None:
    """An approval transfer for a request still pending, with the pool and member rows edited
    to match, passes the balance check; reconcile names the request."""
    request = acme.service.request_credits(MEMBER, acme.org_id, 30)
    with backend.engine.begin() as connection:
        forge_transfer(
            connection,
            acme,
            "forged-approval",
            "approve",
            "pool",
            member_account(MEMBER),
            30,
            reference=request.id,
        )
        shift(connection, acme, "pool", "debits_posted", 30)
        shift(connection, acme, member_account(MEMBER), "credits_posted", 30)
    assert balances_agree(acme)
    assert acme.service.reconcile(acme.org_id) == [
        f"credit request {request.id} is pending but approval transfer(s) forged-approval name it"
    ]


def test_a_request_approved_by_hand_is_caught(backend: Backend, acme: Scenario) -> None:
    """A pending request set to approved, no credits moved: reconcile finds it."""
    request = acme.service.request_credits(MEMBER, acme.org_id, 30)
    with backend.engine.begin() as connection:
        connection.execute(
            update(t.credit_requests)
            .where(t.credit_requests.c.id == request.id)
            .values(status="approved", approved_amount=30, decided_by=acme.admin)
        )
    assert acme.service.reconcile(acme.org_id) == [
        f"credit request {request.id} is approved but has 0 approval transfers"
    ]


def test_a_hold_resolved_by_hand_is_caught(backend: Backend, acme: Scenario) -> None:
    """A pending hold marked released, its credits still reserved: reconcile finds it."""
    hold = acme.service.reserve(MEMBER, acme.org_id, 10, generation_id="gen-1")
    with backend.engine.begin() as connection:
        connection.execute(update(t.holds).where(t.holds.c.id == hold.id).values(status="released"))
    assert acme.service.reconcile(acme.org_id) == [
        f"hold {hold.id} is not pending but no transfer captured or released it"
    ]


@pytest.mark.parametrize(
    "backend",
    [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgresql)],
    indirect=True,
)
def test_a_second_grant_past_a_dropped_index_is_caught(backend: Backend, acme: Scenario) -> None:
    """Whoever may drop the grant index can forge a second grant and balance the accounts;
    reconcile still reports the period.  (In one transaction, rolled back: PostgreSQL and
    SQLite undo DDL too; MariaDB commits DDL at once, so it is not tried there.)"""
    grant = grant_of(acme)
    with backend.engine.connect() as connection, connection.begin() as transaction:
        connection.execute(text(f"DROP INDEX {GRANT_INDEX}"))
        forge_transfer(connection, acme, "forged-grant", "grant", "grant", "pool", 1_000)
        shift(connection, acme, "grant", "debits_posted", 1_000)
        shift(connection, acme, "pool", "credits_posted", 1_000)
        joined = EnterpriseService(SqlAlchemyStore.joining(connection), clock=acme.clock)
        problems = joined.reconcile(acme.org_id)
        transaction.rollback()
    assert len(problems) == 1
    assert problems[0].startswith("period 0 has 2 grants")
    assert grant in problems[0]
    assert "forged-grant" in problems[0]
    assert GRANT_INDEX in {
        i["name"] for i in inspect(backend.engine).get_indexes("armox_transfers")
    }
