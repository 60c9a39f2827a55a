"""The shipped Alembic migrations build exactly the tables of the exported ``MetaData``, with
the triggers ``create_all`` installs, and each revision downgrades to the one before; a
database that holds rows keeps them, and its guarantees, both ways."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, exc, insert, inspect, select, text

from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore, Tables, make_tables, metadata
from armox_enterprise.adapters.sqlalchemy import tables as default_tables
from armox_enterprise.adapters.sqlalchemy.migrations import alembic_config, downgrade, upgrade
from armox_enterprise.domain.alerts import DEFAULT_THRESHOLDS, AlertThresholds
from armox_enterprise.domain.directory import DirectoryLink
from armox_enterprise.domain.grace import SoftLimit
from armox_enterprise.domain.ledger import Transfer, TransferKind
from armox_enterprise.domain.organisation import Membership, Role
from armox_enterprise.domain.values import DomainName, EmailAddress
from armox_enterprise.exceptions import AlreadyMember

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

FIRST = "ae0001"
SECOND = "ae0002"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)

#: What the MetaData has that a database at ``ae0002`` lacks, as ``compare_metadata`` sees it
#: (``add``/``remove``, name); it sees neither primary keys nor checks, which are looked at apart.
AE0003 = {
    ("add", "armox_active_members"),
    ("add", "armox_domain_owners"),
    ("remove", "ix_armox_domain_claims_organisation_id"),
    ("add", "fk_armox_domain_claims_organisation_id_domain"),
    ("remove", "uq_armox_memberships_active_user_id"),
    ("add", "ix_armox_memberships_organisation_id_active_user_id"),
    ("add", "fk_armox_memberships_organisation_id_active_user_id"),
}
#: The tables ae0003 adds (the reference tables).
REFERENCE = {"armox_active_members", "armox_domain_owners"}
#: The columns ae0004 adds to the accounts (each member's figures of a period), which the
#: MetaData has and a database at an earlier revision lacks.
FIGURES = ("figures_period", "figures_allocated", "figures_used", "figures_at")
AE0004 = {("add", name) for name in FIGURES}
#: The columns ae0005 adds to the organisations (the time zone and the alert thresholds).
SETTINGS = ("time_zone", "member_alert_thresholds", "pool_alert_thresholds")
AE0005 = {("add", name) for name in SETTINGS}
#: The columns ae0006 adds to the domain claims (the re-check job's state).
RECHECKS = ("last_checked_at", "failing_since", "lapses_at", "lapsed_at")
AE0006 = {("add", name) for name in RECHECKS}
#: The tables ae0007 adds (teams and members' assignments), and the assignments' index.
TEAMS = {"armox_teams", "armox_team_members"}
AE0007 = {
    ("add", "armox_teams"),
    ("add", "armox_team_members"),
    ("add", "ix_armox_team_members_organisation_id_team_id"),
}
#: The column ae0008 adds to the organisations, the memberships and the accounts (the monthly
#: caps), which ``compare_metadata`` names by the column alone.
CAPS = "spend_cap"
AE0008 = {("add", CAPS)}
#: The column ae0009 adds to the teams (a team's cap): the same name, so ``compare_metadata``
#: reports it as ae0008's columns.
AE0009 = {("add", CAPS)}
#: The columns ae0011 adds: the organisations' soft limit, the requests' automatic mark.
SOFT = ("soft_limit_credits", "soft_limit_percent", "automatic")
AE0011 = {("add", name) for name in SOFT}
#: The table ae0012 adds (the directory's links to memberships).
LINKS = "armox_directory_links"
AE0012 = {("add", LINKS)}


def head(engine: Engine) -> str:
    """The newest revision of the library's branch."""
    found = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert found is not None
    return found


def differences(engine: Engine) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write to bring the database to the
    exported MetaData (the library's tables only: the shared database may hold others)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table": "armox_alembic_version",
                "include_name": lambda name, kind, _parent: (
                    kind != "table" or str(name).startswith("armox_")
                ),
            },
        )
        return list(compare_metadata(context, metadata))


def changes(engine: Engine) -> set[tuple[str, str]]:
    """:func:`differences` as ``(add|remove, name)`` (MariaDB reports a unique key as an
    index, the others as a constraint)."""
    return {(d[0].split("_")[0], d[-1].name) for d in differences(engine)}


def primary_keys(engine: Engine, names: set[str] | None = None) -> dict[str, list[str]]:
    """The primary key columns of the library's tables in the database (or of ``names``)."""
    inspector = inspect(engine)
    found = armox_tables(engine) - {"armox_alembic_version"} if names is None else names
    return {t: inspector.get_pk_constraint(t)["constrained_columns"] for t in sorted(found)}


def metadata_keys() -> dict[str, list[str]]:
    """The primary key columns of the MetaData's tables."""
    return {t.name: [c.name for c in t.primary_key.columns] for t in metadata.sorted_tables}


def guards(engine: Engine, *, schema: str | None = None, prefix: str = "armox_") -> set[str]:
    """The triggers (and, on PostgreSQL, trigger functions) named ``<prefix>...`` in the
    run's schema or database (or in ``schema``)."""
    name = engine.dialect.name
    if name == "sqlite":
        queries = ["SELECT name FROM sqlite_master WHERE type = 'trigger'"]
    elif name == "postgresql":
        where = "n.nspname = " + (f"'{schema}'" if schema else "current_schema()")
        queries = [
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {where}",
            "SELECT 'function ' || p.proname FROM pg_proc p "
            f"JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {where}",
        ]
    else:
        queries = [
            "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
        ]
    with engine.connect() as connection:
        found = {row[0] for query in queries for row in connection.execute(text(query))}
    return {n for n in found if n.removeprefix("function ").startswith(prefix)}


def armox_tables(engine: Engine) -> set[str]:
    """The library's tables in the run's database."""
    return {t for t in inspect(engine).get_table_names() if t.startswith("armox_")}


def add_ledger(
    connection: Connection, tables: Tables, org_id: str = "org-1", ids: str = ""
) -> None:
    """Write an organisation with a grant and a top-up in period 0, row by row (no store:
    the store reads columns an older revision may not have); the transfers' ids start with
    ``ids``."""
    connection.execute(
        insert(tables.organisations).values(
            id=org_id,
            name="Acme",
            monthly_allowance=1_000,
            cycle_anchor=NOW,
            created_at=NOW,
            current_period_index=0,
            current_period_end=NOW.replace(month=2),
            join_mode="invite",
            seat_limit=None,
            pool_carry_over_cap=0,
            member_remainder="expire",
            max_open_requests=1,
            allow_pool_spend=False,
            hold_lifetime_us=3_600_000_000,
        )
    )
    for code, guarded in (("grant", False), ("pool", True)):
        connection.execute(
            insert(tables.accounts).values(
                organisation_id=org_id,
                code=code,
                guarded=guarded,
                credits_posted=1_500 if code == "pool" else 0,
                debits_posted=1_500 if code == "grant" else 0,
                debits_pending=0,
                closed=False,
                spent=0,
                spend_period=0,
                spend_total=0,
            )
        )
    for transfer_id, kind, amount in (("t-grant", "grant", 1_000), ("t-top-up", "top_up", 500)):
        add_transfer(connection, tables, ids + transfer_id, kind, amount, org_id=org_id)


def add_transfer(
    connection: Connection,
    tables: Tables,
    transfer_id: str,
    kind: str,
    amount: int,
    *,
    org_id: str = "org-1",
    period: int = 0,
) -> None:
    """Insert one transfer from the grant account to the pool."""
    connection.execute(
        insert(tables.transfers).values(
            id=transfer_id,
            organisation_id=org_id,
            kind=kind,
            debit_account="grant",
            credit_account="pool",
            amount=amount,
            period_index=period,
            actor="system",
            created_at=NOW,
        )
    )


def _restore(engine: Engine) -> None:
    """Put back what the other tests expect: the tables of ``create_all``, no version table."""
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS armox_alembic_version"))
    metadata.drop_all(engine)
    metadata.create_all(engine)


def test_upgrade_to_head_matches_the_metadata_and_downgrade_removes_everything(
    backend: Backend,
) -> None:
    """Upgrading an empty database gives the MetaData's tables exactly, and the triggers that
    ``create_all`` installs; downgrade empties it."""
    engine = backend.engine
    installed = guards(engine)
    assert installed, "create_all installed no triggers"
    metadata.drop_all(engine)
    try:
        assert not armox_tables(engine)
        assert guards(engine) == set()  # dropping the tables leaves no trigger function behind
        upgrade(engine)
        assert differences(engine) == []
        assert {t.name for t in metadata.sorted_tables} <= armox_tables(engine)
        assert primary_keys(engine) == metadata_keys()
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM armox_alembic_version"))
            assert version.scalar_one() == head(engine)
        assert guards(engine) == installed
        downgrade(engine)
        assert armox_tables(engine) == {"armox_alembic_version"}
        assert guards(engine) == set()
    finally:
        _restore(engine)


def test_each_revision_upgrades_a_ledger_in_place_and_downgrades_to_the_one_before(
    backend: Backend,
) -> None:
    """A ledger written at ``ae0001`` gains the grant column and the triggers on upgrade,
    keeps its rows, and loses both again on downgrade to ``ae0001``."""
    engine = backend.engine
    metadata.drop_all(engine)
    try:
        upgrade(engine, FIRST)
        assert guards(engine) == set()
        # ae0001 is the MetaData but for the grant column and its index, ae0003's keys and
        # ae0004's figures.
        assert changes(engine) == {
            ("add", "grant_period"),
            ("add", "uq_armox_transfers_grant_period"),
            *AE0003,
            *AE0004,
            *AE0005,
            *AE0006,
            *AE0007,
            *AE0008,
            *AE0009,
            *AE0011,
            *AE0012,
        }
        with engine.begin() as connection:
            add_ledger(connection, default_tables)
        upgrade(engine)
        assert differences(engine) == []
        assert guards(engine)
        transfers = default_tables.transfers
        with engine.connect() as connection:
            rows = connection.execute(select(transfers.c.id, transfers.c.grant_period))
            assert dict(rows.all()) == {"t-grant": 0, "t-top-up": None}
        with pytest.raises(exc.IntegrityError), engine.begin() as connection:
            add_transfer(connection, default_tables, "t-grant-2", "grant", 1)
        with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(transfers.delete())

        downgrade(engine, FIRST)
        assert guards(engine) == set()
        columns = {c["name"] for c in inspect(engine).get_columns("armox_transfers")}
        assert "grant_period" not in columns
        with engine.begin() as connection:
            # ae0001 had neither the constraint nor the triggers.
            connection.execute(
                text(
                    "INSERT INTO armox_transfers (id, organisation_id, kind, debit_account, "
                    "credit_account, amount, period_index, actor, created_at) "
                    "SELECT 't-grant-2', organisation_id, kind, debit_account, credit_account, "
                    "amount, period_index, actor, created_at FROM armox_transfers "
                    "WHERE id = 't-grant'"
                )
            )
            connection.execute(text("DELETE FROM armox_transfers WHERE id = 't-grant-2'"))
            count = connection.execute(text("SELECT count(*) FROM armox_transfers"))
            assert count.scalar_one() == 2
        downgrade(engine)
        assert armox_tables(engine) == {"armox_alembic_version"}
    finally:
        _restore(engine)


def add_records(connection: Connection, tables: Tables) -> None:
    """Write, row by row, two organisations with what ae0003 re-keys: memberships (active and
    removed), claims, holds, credit requests and a join request (pending and settled), events."""
    add_ledger(connection, tables, "org-1")
    add_ledger(connection, tables, "org-2", ids="org-2-")
    for org_id, user, active in (
        ("org-1", "ann", True),
        ("org-1", "bob", False),
        ("org-2", "bob", True),
    ):
        connection.execute(
            insert(tables.memberships).values(
                organisation_id=org_id,
                user_id=user,
                active_user_id=user if active else None,
                email=f"{user}@{org_id}.example",
                display_name=user.title(),
                name_key=user,
                role="admin",
                status="active" if active else "removed",
                joined_at=NOW,
                removed_at=None if active else NOW,
                standing_allotment=0,
            )
        )
    for domain, org_id in (("acme.example", "org-1"), ("beta.example", "org-2")):
        connection.execute(
            insert(tables.domain_claims).values(
                domain=domain,
                organisation_id=org_id,
                verification_token="token",
                claimed_at=NOW,
                include_subdomains=False,
                verified_at=NOW,
            )
        )
    for hold_id, status in (("h-open", "pending"), ("h-done", "captured")):
        connection.execute(
            insert(tables.holds).values(
                id=hold_id,
                organisation_id="org-1",
                user_id="ann",
                amount=10,
                period_index=0,
                created_at=NOW,
                expires_at=NOW.replace(hour=1),
                reference=f"gen-{hold_id}",
                status=status,
                captured=10 if status == "captured" else 0,
                resolved_at=None if status == "pending" else NOW,
            )
        )
    for request_id, status in (("r-open", "pending"), ("r-done", "rejected")):
        connection.execute(
            insert(tables.credit_requests).values(
                id=request_id,
                organisation_id="org-1",
                user_id="ann",
                amount=5,
                note="more",
                period_index=0,
                created_at=NOW,
                status=status,
                decided_by=None if status == "pending" else "ann",
                decided_at=None if status == "pending" else NOW,
                decision_note="",
            )
        )
    connection.execute(
        insert(tables.join_requests).values(
            id="j-done",
            organisation_id="org-2",
            user_id="cy",
            email="cy@beta.example",
            display_name="Cy",
            created_at=NOW,
            status="rejected",
            decided_by="bob",
            decided_at=NOW,
        )
    )
    for event_id, org_id in (("e-1", "org-1"), ("e-2", "org-2")):
        connection.execute(insert(tables.relay_locks).values(organisation_id=org_id))
        connection.execute(
            insert(tables.events).values(
                id=event_id,
                organisation_id=org_id,
                name="PoolToppedUp",
                actor="system",
                occurred_at=NOW,
                payload="{}",
                published_at=None,
            )
        )


def rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables ae0002 has, as stored (generated columns and the columns ae0004,
    ae0005, ae0006 and ae0008 add left out; the tables ae0003, ae0007 and ae0012 add too),
    sorted."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            if table.name in REFERENCE or table.name in TEAMS or table.name == LINKS:
                continue
            columns = [
                c
                for c in table.columns
                if c.computed is None
                and c.name not in FIGURES
                and c.name not in SETTINGS
                and c.name not in RECHECKS
                and c.name != CAPS
                and c.name not in SOFT
            ]
            found[table.name] = sorted(
                (tuple(r) for r in connection.execute(select(*columns))), key=repr
            )
    return found


def refused(engine: Engine, statement: Any, match: str | None = None) -> bool:
    """Whether the database refuses ``statement`` (an integrity error, or a trigger's)."""
    try:
        with engine.begin() as connection:
            connection.execute(statement)
    except exc.DBAPIError as error:
        return match is None or match in str(error)
    return False


def ann_in(org_id: str) -> Any:
    """An INSERT of Ann's active membership of ``org_id``, written around the library."""
    return insert(default_tables.memberships).values(
        organisation_id=org_id,
        user_id="ann",
        active_user_id="ann",
        email="ann@beta.example",
        display_name="Ann",
        name_key="ann",
        role="member",
        status="active",
        joined_at=NOW,
        standing_allotment=0,
    )


def reads_back(engine: Engine) -> None:
    """The store reads the upgraded rows, and refuses Ann a second active membership."""
    store = SqlAlchemyStore(engine)
    with store.unit_of_work() as uow:
        bob = uow.memberships.active_for_user("bob")
        assert bob is not None
        assert bob.organisation_id == "org-2"
        claim = uow.domains.get(DomainName.parse("acme.example"))
        assert claim is not None
        assert claim.organisation_id == "org-1"
        assert [h.id for h in uow.holds.pending("org-1")] == ["h-open"]
        request = uow.requests.get("org-1", "r-done")
        assert request is not None
        assert request.status.value == "rejected"
        assert uow.join_requests.get("org-2", "j-done") is not None
        assert {e.id for e in uow.events.claim(limit=10)} == {"e-1", "e-2"}
    ann = Membership("org-2", "ann", EmailAddress.parse("ann@x.example"), "Ann", Role.MEMBER, NOW)
    with store.unit_of_work() as uow, pytest.raises(AlreadyMember):
        uow.memberships.add(ann)


def refuses_a_second_member_or_owner(db: Engine) -> None:
    """Direct SQL gets no second active membership of Ann, no second owner of acme.example,
    and cannot move or delete the reference rows that memberships and claims name."""
    t = default_tables
    assert refused(db, ann_in("org-2"))
    assert refused(db, insert(t.active_members).values(user_id="ann", organisation_id="org-2"))
    taken = insert(t.domain_claims).values(
        domain="acme.example",
        organisation_id="org-2",
        verification_token="mine",
        claimed_at=NOW,
        include_subdomains=False,
    )
    assert refused(db, taken)
    assert refused(db, insert(t.domain_owners).values(domain="acme.example", organisation_id="x"))
    moved = t.active_members.update().where(t.active_members.c.user_id == "bob")
    assert refused(db, moved.values(organisation_id="org-1"))
    assert refused(db, t.active_members.delete())
    assert refused(db, t.domain_owners.delete())
    with db.connect() as connection:  # the same rows, by the rules, go in (rolled back)
        connection.execute(ann_in("org-2").values(active_user_id=None, status="removed"))
        connection.execute(
            insert(t.domain_owners).values(domain="x.example", organisation_id="org-2")
        )
        connection.execute(taken.values(domain="x.example"))
        connection.rollback()


def keeps_the_ledger_guards(engine: Engine, bare: Engine) -> None:
    """The triggers of ``ae0002`` hold on the re-keyed tables."""
    t = default_tables
    assert refused(engine, t.transfers.update().values(amount=1), "append-only")
    assert refused(engine, t.transfers.delete(), "append-only")
    grant = t.transfers.insert().values(
        id="t-grant-2",
        organisation_id="org-1",
        kind="grant",
        debit_account="grant",
        credit_account="pool",
        amount=1,
        period_index=0,
        actor="system",
        created_at=NOW,
    )
    assert refused(engine, grant)
    decided = t.credit_requests.update().where(t.credit_requests.c.id == "r-done")
    assert refused(engine, decided.values(status="approved"), "decided credit request")
    resolved = t.holds.update().where(t.holds.c.id == "h-done")
    assert refused(engine, resolved.values(captured=1), "resolved hold")
    joined = t.join_requests.update().where(t.join_requests.c.id == "j-done")
    assert refused(engine, joined.values(status="approved"), "decided join request")
    # An account of no organisation: the foreign keys, and on SQLite the triggers.
    assert refused(bare, grant.values(id="t-cross", kind="top_up", credit_account="nobody"))


def test_ae0003_upgrades_a_database_with_rows_and_keeps_its_guarantees_both_ways(
    backend: Backend,
) -> None:
    """Rows written at ``ae0002`` stay exactly as they were through ``ae0003`` and back; the
    reference tables hold one row per active membership and per claim; after the upgrade the
    store reads the rows, a second active membership or owner is refused (by direct SQL too,
    on SQLite without the pragma) and the triggers of ``ae0002`` still hold; after the
    downgrade the old unique keys hold again."""
    engine, t = backend.engine, default_tables
    installed = guards(engine)
    metadata.drop_all(engine)
    bare = create_engine(backend.url) if backend.name == "sqlite" else engine
    try:
        upgrade(engine, SECOND)
        at_second = guards(engine)
        assert (
            changes(engine)
            == AE0003 | AE0004 | AE0005 | AE0006 | AE0007 | AE0008 | AE0009 | AE0011 | AE0012
        )
        with engine.begin() as connection:
            add_records(connection, t)
        before = rows(engine)

        upgrade(engine)
        assert differences(engine) == []
        assert primary_keys(engine) == metadata_keys()
        assert guards(engine) == installed
        assert rows(engine) == before
        with engine.connect() as connection:
            members = [tuple(r) for r in connection.execute(select(t.active_members))]
            assert sorted(members) == [("ann", "org-1"), ("bob", "org-2")]
            owners = [tuple(r) for r in connection.execute(select(t.domain_owners))]
            assert sorted(owners) == [("acme.example", "org-1"), ("beta.example", "org-2")]
        reads_back(engine)
        for db in {engine, bare}:
            refuses_a_second_member_or_owner(db)
        keeps_the_ledger_guards(engine, bare)
        assert rows(engine) == before

        downgrade(engine, SECOND)
        assert (
            changes(engine)
            == AE0003 | AE0004 | AE0005 | AE0006 | AE0007 | AE0008 | AE0009 | AE0011 | AE0012
        )
        assert guards(engine) == at_second
        assert rows(engine) == before
        assert not REFERENCE & armox_tables(engine)
        keys = primary_keys(engine, {"armox_transfers", "armox_events", "armox_domain_claims"})
        assert keys == {
            "armox_domain_claims": ["domain"],
            "armox_events": ["id"],
            "armox_transfers": ["id"],
        }
        # The unique column holds again: a second active membership of Ann is refused, a
        # removed one allowed.
        assert refused(engine, ann_in("org-2"))
        with engine.begin() as connection:
            connection.execute(ann_in("org-2").values(active_user_id=None, status="removed"))
        assert refused(engine, t.transfers.delete(), "append-only")
        downgrade(engine)
        assert armox_tables(engine) == {"armox_alembic_version"}
    finally:
        if bare is not engine:
            bare.dispose()
        _restore(engine)


SCHEMA = "armox_migrated_schema"


@pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)
def test_migrations_put_the_triggers_in_the_tables_schema_under_their_prefix(
    backend: Backend,
) -> None:
    """With ``schema=`` and ``prefix=``, the trigger functions live in that schema, carry the
    prefix, guard those tables, and go with the downgrade."""
    engine = backend.engine
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    names = {"prefix": "sx_", "schema": SCHEMA}
    try:
        upgrade(engine, **names)
        found = guards(engine, schema=SCHEMA, prefix="sx_")
        assert "function sx_transfers_append_only" in found
        assert "sx_credit_requests_decided" in found
        assert not guards(engine, prefix="sx_")  # nothing in the run's own schema
        tables = make_tables(prefix="sx_", schema=SCHEMA)
        with engine.begin() as connection:
            add_ledger(connection, tables)
        with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(tables.transfers.update().values(amount=1))
        with pytest.raises(exc.IntegrityError), engine.begin() as connection:
            add_transfer(connection, tables, "t-grant-2", "grant", 1)
        downgrade(engine, **names)
        assert guards(engine, schema=SCHEMA, prefix="sx_") == set()
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))


def test_ae0004_fills_each_members_figures_of_the_current_period_and_drops_them_again(
    backend: Backend,
) -> None:
    """Rows written at ``ae0003`` gain each member's figures of its organisation's current
    period, from the period totals (other periods' totals and other accounts left out); the
    store then keeps them as it posts; the downgrade drops the columns and leaves every other
    value as it was."""
    engine, t = backend.engine, default_tables
    metadata.drop_all(engine)
    at = [NOW.replace(hour=hour) for hour in range(4)]
    try:
        upgrade(engine, "ae0003")
        with engine.begin() as connection:
            add_ledger(connection, t)
            connection.execute(t.organisations.update().values(current_period_index=1))
            for user in ("ann", "bob", "cy"):
                connection.execute(
                    insert(t.accounts).values(
                        organisation_id="org-1",
                        code=f"member:{user}",
                        guarded=True,
                        credits_posted=1_000,
                        debits_posted=0,
                        debits_pending=0,
                        closed=False,
                        spent=0,
                        spend_period=1,
                        spend_total=0,
                    )
                )
            for account, period, side, kind, amount, last in (
                ("member:ann", 0, "c", "allocate", 5, at[0]),  # an earlier period's
                ("member:ann", 1, "c", "allocate", 300, at[1]),
                ("member:ann", 1, "c", "approve", 20, at[1]),
                ("member:ann", 1, "d", "capture", 40, at[2]),
                ("member:ann", 1, "d", "hold", 60, at[2]),
                ("member:ann", 1, "c", "refund", 10, at[3]),
                ("member:bob", 0, "c", "allocate", 700, at[0]),
                ("pool", 1, "d", "allocate", 320, at[1]),  # not a member's
            ):
                connection.execute(
                    insert(t.period_totals).values(
                        organisation_id="org-1",
                        account=account,
                        period_index=period,
                        side=side,
                        kind=kind,
                        amount=amount,
                        last_activity=last,
                    )
                )
        before = rows(engine)

        upgrade(engine)
        assert differences(engine) == []
        a = t.accounts
        figures = select(a.c.code, *(a.c[name] for name in FIGURES)).where(
            a.c.organisation_id == "org-1"
        )
        with engine.connect() as connection:
            found = {row[0]: tuple(row[1:]) for row in connection.execute(figures)}
        assert found == {
            "grant": (0, 0, 0, None),
            "pool": (0, 0, 0, None),
            "member:ann": (1, 320, 30, at[3]),
            "member:bob": (1, 0, 0, None),
            "member:cy": (1, 0, 0, None),
        }
        assert rows(engine) == before

        downgrade(engine, "ae0003")
        columns = {c["name"] for c in inspect(engine).get_columns("armox_accounts")}
        assert not columns & set(FIGURES)
        assert rows(engine) == before

        upgrade(engine)
        store = SqlAlchemyStore(engine)
        allocation = Transfer(
            id="t-more",
            organisation_id="org-1",
            kind=TransferKind.ALLOCATE,
            debit_account="pool",
            credit_account="member:cy",
            amount=15,
            period_index=1,
            actor="admin",
            created_at=at[3],
        )
        with store.unit_of_work() as uow:
            uow.ledger.post(allocation)
            uow.commit()
        with engine.connect() as connection:
            found = {row[0]: tuple(row[1:]) for row in connection.execute(figures)}
        assert found["member:cy"] == (1, 15, 0, at[3])
        assert found["member:ann"] == (1, 320, 30, at[3])
    finally:
        _restore(engine)


def test_ae0005_gives_every_organisation_utc_and_the_default_thresholds_and_drops_them_again(
    backend: Backend,
) -> None:
    """Organisations written at ``ae0004`` read back in ``UTC`` with the thresholds they had
    (members 80% and 100%, the pool 90%), their period end unchanged; the store then writes
    another zone and thresholds; the downgrade drops the columns, every other value kept."""
    engine, t = backend.engine, default_tables
    metadata.drop_all(engine)
    try:
        upgrade(engine, "ae0004")
        with engine.begin() as connection:
            add_ledger(connection, t, "org-1")
            add_ledger(connection, t, "org-2", ids="org-2-")
            # A join mode the store reads (add_ledger's only has to fit the column).
            connection.execute(t.organisations.update().values(join_mode="automatic"))
        before = rows(engine)

        upgrade(engine)
        assert differences(engine) == []
        o = t.organisations
        with engine.connect() as connection:
            stored = connection.execute(select(o.c.id, *(o.c[name] for name in SETTINGS)))
            assert sorted(stored.all()) == [
                ("org-1", "UTC", "80,100", "90"),
                ("org-2", "UTC", "80,100", "90"),
            ]
        assert rows(engine) == before
        store = SqlAlchemyStore(engine)
        with store.unit_of_work() as uow:
            org = uow.organisations.get("org-1", for_update=True)
            assert org is not None
            assert (org.time_zone, org.alert_thresholds) == ("UTC", DEFAULT_THRESHOLDS)
            assert org.current_period.end == NOW.replace(month=2)
            uow.organisations.update(
                attrs.evolve(org, alert_thresholds=AlertThresholds(member=(50,), pool=()))
            )
            uow.commit()
        with engine.connect() as connection:
            one = connection.execute(
                select(*(o.c[name] for name in SETTINGS)).where(o.c.id == "org-1")
            )
            assert one.one() == ("UTC", "50", "")

        downgrade(engine, "ae0004")
        columns = {c["name"] for c in inspect(engine).get_columns("armox_organisations")}
        assert not columns & set(SETTINGS)
        assert rows(engine) == before
    finally:
        _restore(engine)


def test_ae0006_marks_verified_claims_checked_once_and_drops_the_columns_again(
    backend: Backend,
) -> None:
    """Claims written at ``ae0005`` gain the re-check columns: a verified claim's last check is
    its verification, an unverified one has none; the store then keeps a lapse; the downgrade
    drops the columns and leaves every other value as it was."""
    engine, t = backend.engine, default_tables
    metadata.drop_all(engine)
    try:
        upgrade(engine, "ae0005")
        assert changes(engine) == AE0006 | AE0007 | AE0008 | AE0009 | AE0011 | AE0012
        with engine.begin() as connection:
            add_ledger(connection, t)
            for domain, verified in (("acme.example", NOW), ("new.example", None)):
                connection.execute(
                    insert(t.domain_owners).values(domain=domain, organisation_id="org-1")
                )
                connection.execute(
                    insert(t.domain_claims).values(
                        domain=domain,
                        organisation_id="org-1",
                        verification_token="token",
                        claimed_at=NOW,
                        include_subdomains=False,
                        verified_at=verified,
                    )
                )
        before = rows(engine)

        upgrade(engine)
        assert differences(engine) == []
        c = t.domain_claims
        state = select(c.c.domain, *(c.c[name] for name in RECHECKS))
        with engine.connect() as connection:
            found = {row[0]: tuple(row[1:]) for row in connection.execute(state)}
        assert found == {
            "acme.example": (NOW, None, None, None),
            "new.example": (None, None, None, None),
        }
        assert rows(engine) == before
        store = SqlAlchemyStore(engine)
        with store.unit_of_work() as uow:
            claim = uow.domains.get(DomainName.parse("acme.example"))
            assert claim is not None
            assert claim.is_verified
            lapsed = attrs.evolve(claim, failing_since=NOW, lapses_at=NOW, lapsed_at=NOW)
            uow.domains.update(lapsed)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.domains.get(DomainName.parse("acme.example")) == lapsed

        downgrade(engine, "ae0005")
        columns = {col["name"] for col in inspect(engine).get_columns("armox_domain_claims")}
        assert not columns & set(RECHECKS)
        assert rows(engine) == before
        assert changes(engine) == AE0006 | AE0007 | AE0008 | AE0009 | AE0011 | AE0012
    finally:
        _restore(engine)


def test_ae0007_adds_teams_with_their_keys_and_drops_them_again(backend: Backend) -> None:
    """Rows written at ``ae0006`` stay as they were through ``ae0007`` and back; the new tables
    start empty; one team per case-folded name and one team per member are the database's
    keys; the downgrade drops both tables."""
    engine, t = backend.engine, default_tables
    metadata.drop_all(engine)
    try:
        upgrade(engine, "ae0006")
        assert changes(engine) == AE0007 | AE0008 | AE0009 | AE0011 | AE0012
        with engine.begin() as connection:
            add_ledger(connection, t)
            connection.execute(
                insert(t.memberships).values(
                    organisation_id="org-1",
                    user_id="ann",
                    active_user_id=None,
                    email="ann@acme.example",
                    display_name="Ann",
                    name_key="ann",
                    role="member",
                    status="removed",
                    joined_at=NOW,
                    removed_at=NOW,
                    standing_allotment=0,
                )
            )
        before = rows(engine)
        upgrade(engine)
        assert differences(engine) == []
        assert rows(engine) == before
        team = {"organisation_id": "org-1", "name": "Design", "created_at": NOW}
        with engine.begin() as connection:
            assert connection.execute(select(t.teams)).all() == []
            connection.execute(insert(t.teams).values(id="team-1", name_key="design", **team))
            connection.execute(insert(t.teams).values(id="team-2", name_key="sales", **team))
            connection.execute(
                insert(t.team_members).values(
                    organisation_id="org-1", user_id="ann", team_id="team-1", manager=False
                )
            )
        with pytest.raises(exc.IntegrityError), engine.begin() as connection:
            connection.execute(insert(t.teams).values(id="team-3", name_key="design", **team))
        with pytest.raises(exc.IntegrityError), engine.begin() as connection:
            connection.execute(
                insert(t.team_members).values(
                    organisation_id="org-1", user_id="ann", team_id="team-2", manager=True
                )
            )
        downgrade(engine, "ae0006")
        assert not armox_tables(engine) & TEAMS
        assert rows(engine) == before
    finally:
        _restore(engine)


def test_ae0008_adds_the_caps_empty_and_drops_them_again(backend: Backend) -> None:
    """Rows written at ``ae0007`` gain the three cap columns, all ``NULL`` (no cap), and keep
    every other value; the store then keeps and enforces a cap; the downgrade drops the
    columns and leaves every other value as it was."""
    engine, t = backend.engine, default_tables
    metadata.drop_all(engine)
    try:
        upgrade(engine, "ae0007")
        assert changes(engine) == AE0008 | AE0009 | AE0011 | AE0012
        with engine.begin() as connection:
            add_ledger(connection, t)
            connection.execute(
                insert(t.memberships).values(
                    organisation_id="org-1",
                    user_id="ann",
                    active_user_id=None,
                    email="ann@org-1.example",
                    display_name="Ann",
                    name_key="ann",
                    role="member",
                    status="removed",
                    joined_at=NOW,
                    removed_at=NOW,
                    standing_allotment=0,
                )
            )
        before = rows(engine)

        upgrade(engine)
        assert differences(engine) == []
        assert rows(engine) == before
        with engine.connect() as connection:
            for table in (t.organisations, t.memberships, t.accounts):
                caps = connection.execute(select(table.c.spend_cap)).scalars().all()
                assert caps, table.name
                assert set(caps) == {None}, table.name
        store = SqlAlchemyStore(engine)
        with store.unit_of_work() as uow:
            (account, *_) = uow.ledger.accounts("org-1")
            uow.ledger.set_spend_cap("org-1", account.code, 7)
            uow.commit()
        with engine.connect() as connection:
            kept = connection.execute(
                select(t.accounts.c.spend_cap).where(t.accounts.c.code == account.code)
            ).scalar_one()
        assert kept == 7

        downgrade(engine, "ae0007")
        for table in ("armox_organisations", "armox_memberships", "armox_accounts"):
            columns = {c["name"] for c in inspect(engine).get_columns(table)}
            assert CAPS not in columns
        assert rows(engine) == before
    finally:
        _restore(engine)


def test_ae0009_adds_the_team_cap_empty_and_its_downgrade_gives_members_their_own_cap(
    backend: Backend,
) -> None:
    """Teams written at ``ae0008`` gain ``spend_cap``, ``NULL`` (no cap), every other value
    kept; the store then keeps a team's cap and rewrites its members' rows; the downgrade
    gives each member of a capped team the cap ``ae0008`` knows (their own, else the
    default), leaves every other row's cap alone, and drops the column."""
    engine, t = backend.engine, default_tables
    metadata.drop_all(engine)
    try:
        upgrade(engine, "ae0008")
        assert changes(engine) == AE0009 | AE0011 | AE0012
        team = {"organisation_id": "org-1", "created_at": NOW}
        with engine.begin() as connection:
            add_ledger(connection, t)
            connection.execute(
                t.organisations.update().where(t.organisations.c.id == "org-1").values(spend_cap=90)
            )
            for user, own in (("ann", None), ("bob", 30), ("cy", None)):
                connection.execute(
                    insert(t.active_members).values(user_id=user, organisation_id="org-1")
                )
                connection.execute(
                    insert(t.memberships).values(
                        organisation_id="org-1",
                        user_id=user,
                        active_user_id=user,
                        email=f"{user}@org-1.example",
                        display_name=user.title(),
                        name_key=user,
                        role="member",
                        status="active",
                        joined_at=NOW,
                        standing_allotment=0,
                        spend_cap=own,
                    )
                )
                connection.execute(
                    insert(t.accounts).values(
                        organisation_id="org-1",
                        code=f"member:{user}",
                        guarded=True,
                        credits_posted=0,
                        debits_posted=0,
                        debits_pending=0,
                        closed=False,
                        spent=0,
                        spend_period=0,
                        spend_total=0,
                        spend_cap=90 if own is None else own,
                    )
                )
            for team_id, name in (("team-1", "Design"), ("team-2", "Sales")):
                connection.execute(
                    insert(t.teams).values(id=team_id, name=name, name_key=name.lower(), **team)
                )
            for user, team_id in (("ann", "team-1"), ("bob", "team-1"), ("cy", "team-2")):
                connection.execute(
                    insert(t.team_members).values(
                        organisation_id="org-1", user_id=user, team_id=team_id, manager=False
                    )
                )
        before = rows(engine)

        upgrade(engine)
        assert differences(engine) == []
        assert rows(engine) == before
        with engine.connect() as connection:
            caps = connection.execute(select(t.teams.c.spend_cap)).scalars().all()
        assert caps == [None, None]
        store = SqlAlchemyStore(engine)
        with store.unit_of_work() as uow:
            design = uow.teams.get("org-1", "team-1")
            assert design is not None
            assert design.spend_cap is None
            uow.teams.update(attrs.evolve(design, spend_cap=20))
            for user in ("ann", "bob"):  # as set_spend_cap(team_id=...) rewrites them
                own = 30 if user == "bob" else None
                uow.ledger.set_spend_cap("org-1", f"member:{user}", own or 20)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.teams.get("org-1", "team-1") == attrs.evolve(design, spend_cap=20)

        def kept() -> dict[str, int | None]:
            a = t.accounts
            with engine.connect() as connection:
                found = connection.execute(
                    select(a.c.code, a.c.spend_cap).where(a.c.code.like("member:%"))
                )
                return dict(found.all())

        assert kept() == {"member:ann": 20, "member:bob": 30, "member:cy": 90}

        downgrade(engine, "ae0008")
        columns = {c["name"] for c in inspect(engine).get_columns("armox_teams")}
        assert CAPS not in columns
        # Ann takes the default again, Bob keeps his own, Cy (a team with no cap) is untouched.
        assert kept() == {"member:ann": 90, "member:bob": 30, "member:cy": 90}
        assert changes(engine) == AE0009 | AE0011 | AE0012
    finally:
        _restore(engine)


def test_ae0011_adds_the_soft_limit_empty_and_refuses_to_drop_grace(backend: Backend) -> None:
    """Rows written at ``ae0009`` gain no soft limit and requests that are not automatic; the
    store then keeps a soft limit and lends on grace; the downgrade refuses while a grace
    transfer is stored, and once it is gone drops the columns, every other value as it was."""
    engine, t = backend.engine, default_tables
    metadata.drop_all(engine)
    try:
        upgrade(engine, "ae0009")
        assert changes(engine) == AE0011 | AE0012
        with engine.begin() as connection:
            add_ledger(connection, t)
            # A join mode the store reads (add_ledger's is only a value for the database).
            connection.execute(t.organisations.update().values(join_mode="invite_only"))
            connection.execute(
                insert(t.credit_requests).values(
                    id="r-1",
                    organisation_id="org-1",
                    user_id="ann",
                    amount=40,
                    note="more please",
                    period_index=0,
                    created_at=NOW,
                    status="pending",
                    approved_amount=None,
                    decided_by=None,
                    decided_at=None,
                    decision_note="",
                )
            )
        before = rows(engine)

        upgrade(engine)
        assert differences(engine) == []
        assert rows(engine) == before
        with engine.connect() as connection:
            limits = connection.execute(
                select(t.organisations.c.soft_limit_credits, t.organisations.c.soft_limit_percent)
            ).all()
            marks = connection.execute(select(t.credit_requests.c.automatic)).scalars().all()
        assert limits
        assert set(limits) == {(None, None)}
        assert marks
        assert set(marks) == {False}
        store = SqlAlchemyStore(engine)
        with store.unit_of_work() as uow:
            org = uow.organisations.get("org-1")
            assert org is not None
            assert org.soft_limit is None
            uow.organisations.update(attrs.evolve(org, soft_limit=SoftLimit(percent=15)))
            uow.commit()
        with store.unit_of_work() as uow:
            kept = uow.organisations.get("org-1")
            assert kept is not None
            assert kept.soft_limit == SoftLimit(percent=15)
            assert {r.automatic for r in uow.requests.list("org-1")} == {False}
        downgrade(engine, "ae0009")
        for table, names in (
            ("armox_organisations", SOFT[:2]),
            ("armox_credit_requests", SOFT[2:]),
        ):
            columns = {c["name"] for c in inspect(engine).get_columns(table)}
            assert not columns & set(names)
        assert rows(engine) == before

        # With a grace transfer stored (transfers are append-only), the downgrade refuses
        # before it drops anything (from ae0011 itself: a later revision's downgrade would
        # run first, and SQLite and MariaDB do not take DDL back).
        upgrade(engine, "ae0011")
        with engine.begin() as connection:
            add_transfer(connection, t, "grace-1", "grace", 1)
        with pytest.raises(RuntimeError, match="grace transfers"):
            downgrade(engine, "ae0009")
        assert changes(engine) == AE0012
    finally:
        _restore(engine)


def test_ae0012_adds_the_directory_links_empty_and_drops_them_again(backend: Backend) -> None:
    """Rows written at ``ae0011`` stay as they were through ``ae0012`` and back; the links start
    empty (every member answers the directory as before); the store then keeps an external
    id, one user per id in an organisation by the database's own key, and a deletion; the
    downgrade drops the table and leaves the removed membership."""
    engine, t = backend.engine, default_tables
    metadata.drop_all(engine)
    try:
        upgrade(engine, "ae0011")
        assert changes(engine) == AE0012
        with engine.begin() as connection:
            add_ledger(connection, t)
            for user, status in (("ann", "removed"), ("bob", "removed")):
                connection.execute(
                    insert(t.memberships).values(
                        organisation_id="org-1",
                        user_id=user,
                        active_user_id=None,
                        email=f"{user}@acme.example",
                        display_name=user.title(),
                        name_key=user,
                        role="member",
                        status=status,
                        joined_at=NOW,
                        removed_at=NOW,
                        standing_allotment=0,
                    )
                )
        before = rows(engine)

        upgrade(engine)
        assert differences(engine) == []
        assert rows(engine) == before
        store = SqlAlchemyStore(engine)
        with store.unit_of_work() as uow:
            assert uow.memberships.links("org-1") == []
            uow.memberships.put_link(DirectoryLink("org-1", "ann", "00u-Ann"))
            uow.memberships.put_link(DirectoryLink("org-1", "bob", None, NOW))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.memberships.link_by_external_id("org-1", "00u-Ann") == DirectoryLink(
                "org-1", "ann", "00u-Ann"
            )
            assert uow.memberships.link_by_external_id("org-1", "00u-ann") is None
            assert uow.memberships.link("org-1", "bob") == DirectoryLink("org-1", "bob", None, NOW)
        with pytest.raises(exc.IntegrityError), engine.begin() as connection:
            connection.execute(
                t.directory_links.update()
                .where(t.directory_links.c.user_id == "bob")
                .values(external_id="00u-Ann")
            )
        with pytest.raises(exc.IntegrityError), engine.begin() as connection:
            connection.execute(
                insert(t.directory_links).values(
                    organisation_id="org-1", user_id="nobody", external_id=None, deleted_at=None
                )
            )
        downgrade(engine, "ae0011")
        assert LINKS not in armox_tables(engine)
        assert rows(engine) == before
    finally:
        _restore(engine)
