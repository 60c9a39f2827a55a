"""The rules that span organisations, kept in the reference tables, on every backend.

One active membership per user lives in ``active_members`` and one organisation per domain in
``domain_owners``: a row per active member or claimed domain, naming its organisation, which a
membership's or a claim's foreign key must find.  These tests check that the library keeps
those rows in step with the memberships and claims through the use cases that move them, that
SQL written around the library cannot make a second active membership or a second owner (on
SQLite also on a connection without ``PRAGMA foreign_keys``), and that the statements the
relay runs name the organisation of each event.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, create_engine, event, insert, select, text
from sqlalchemy.exc import DBAPIError

from armox_enterprise import EnterpriseService
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.adapters.sqlalchemy import tables as t
from armox_enterprise.domain.claims import CLAIM_VERIFICATION_WINDOW
from armox_enterprise.exceptions import DomainAlreadyClaimed
from armox_enterprise.ports import StoredEvent
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


@pytest.fixture
def acme(backend: Backend) -> Scenario:
    """Acme on ``backend``, with one member, and its verified domain ``acme.example``."""
    return enterprise(store=SqlAlchemyStore(backend.engine), members=1)


@pytest.fixture
def bare(backend: Backend) -> Iterator[Engine]:
    """An engine as a host's tool might make it: on SQLite, one that never ran
    ``PRAGMA foreign_keys = ON``; elsewhere the backend's own."""
    if backend.name != "sqlite":
        yield backend.engine
        return
    engine = create_engine(backend.url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 0
        yield engine
    finally:
        engine.dispose()


def in_step(engine: Engine) -> None:
    """The reference rows are exactly the active memberships and the claims."""
    m, a, c, o = t.memberships, t.active_members, t.domain_claims, t.domain_owners
    with engine.connect() as connection:
        active = set(
            connection.execute(
                select(m.c.user_id, m.c.organisation_id).where(m.c.status == "active")
            ).all()
        )
        marked = set(
            connection.execute(
                select(m.c.active_user_id, m.c.organisation_id).where(
                    m.c.active_user_id.is_not(None)
                )
            ).all()
        )
        members = set(connection.execute(select(a.c.user_id, a.c.organisation_id)).all())
        claims = set(connection.execute(select(c.c.domain, c.c.organisation_id)).all())
        owners = set(connection.execute(select(o.c.domain, o.c.organisation_id)).all())
    assert members == active == marked
    assert owners == claims


def test_the_reference_rows_follow_members_and_claims_through_the_use_cases(
    acme: Scenario, backend: Backend
) -> None:
    """Enrolment, removal, joining another organisation, a second organisation's claim on a
    lapsed one and giving a domain up each leave the reference rows as the memberships and
    claims say."""
    service, engine = acme.service, backend.engine
    in_step(engine)
    member = acme.members[0]
    globex = service.create_organisation(
        name="Globex", admin_user_id="gina", admin_email="gina@globex.example"
    )
    in_step(engine)
    service.remove_member(acme.admin, acme.org_id, member)
    in_step(engine)
    service.invite("gina", globex.id, "m1@contractor.example")
    assert service.sign_up(member, "m1@contractor.example", email_verified=True).enrolled
    in_step(engine)
    back = service.sign_up(member, f"{member}@acme.example", email_verified=True)
    assert not back.enrolled  # a member of Globex now
    profile = service.profile(member)
    assert profile.badge == "Globex"
    service.remove_member("gina", globex.id, member)
    assert service.enrol(member, f"{member}@acme.example", email_verified=True).enrolled
    in_step(engine)

    service.claim_domain("gina", globex.id, "globex.example")
    in_step(engine)
    with pytest.raises(DomainAlreadyClaimed):
        service.claim_domain(acme.admin, acme.org_id, "globex.example")
    acme.clock.advance(CLAIM_VERIFICATION_WINDOW + timedelta(hours=1))
    taken = service.claim_domain(acme.admin, acme.org_id, "globex.example")
    assert taken.organisation_id == acme.org_id
    in_step(engine)
    assert [c.domain.value for c in service.list_domains("gina", globex.id)] == []
    service.remove_domain(acme.admin, acme.org_id, "globex.example")
    in_step(engine)
    service.claim_domain("gina", globex.id, "globex.example")
    in_step(engine)


def refused(engine: Engine, statement: Any) -> bool:
    """Whether the database refuses ``statement``."""
    try:
        with engine.begin() as connection:
            connection.execute(statement)
    except DBAPIError:
        return True
    return False


def test_sql_around_the_library_gets_no_second_member_or_owner(
    acme: Scenario, bare: Engine
) -> None:
    """A second active membership of a member, in another organisation, or a second owner of
    a claimed domain, is refused; so is moving or deleting a reference row that a membership
    or claim names; the same rows by the rules go in."""
    globex = acme.service.create_organisation(
        name="Globex", admin_user_id="gina", admin_email="gina@globex.example"
    )
    now, member = acme.clock.now(), acme.members[0]
    membership = insert(t.memberships).values(
        organisation_id=globex.id,
        user_id=member,
        active_user_id=member,
        email=f"{member}@globex.example",
        display_name="M",
        name_key="m",
        role="member",
        status="active",
        joined_at=now,
        standing_allotment=0,
    )
    assert refused(bare, membership)
    assert refused(bare, insert(t.active_members).values(user_id=member, organisation_id=globex.id))
    # One user's mark on another's membership.
    assert refused(bare, membership.values(user_id="someone", status="removed"))
    claim = insert(t.domain_claims).values(
        domain=acme.domain,
        organisation_id=globex.id,
        verification_token="mine",
        claimed_at=now,
        include_subdomains=False,
    )
    assert refused(bare, claim)
    assert refused(bare, insert(t.domain_owners).values(domain=acme.domain, organisation_id="x"))
    a, o = t.active_members, t.domain_owners
    assert refused(bare, a.update().where(a.c.user_id == member).values(organisation_id="x"))
    assert refused(bare, a.delete().where(a.c.user_id == member))
    assert refused(bare, o.update().where(o.c.domain == acme.domain).values(domain="b.example"))
    assert refused(bare, o.delete())
    with bare.connect() as connection:
        connection.execute(membership.values(active_user_id=None, status="removed"))
        connection.execute(insert(o).values(domain="globex.example", organisation_id=globex.id))
        connection.execute(claim.values(domain="globex.example"))
        connection.rollback()
    assert acme.service.profile(member).badge == "Acme"


def test_the_relay_marks_each_event_in_its_organisation(backend: Backend) -> None:
    """The relay's ``UPDATE`` of the events it handed over names their organisations (one
    shard each where the tables are distributed), and marks exactly those events."""
    store = SqlAlchemyStore(backend.engine)
    service = EnterpriseService(store)
    orgs = [
        service.create_organisation(
            name=f"Org {n}", admin_user_id=f"admin-{n}", admin_email=f"a@org{n}.example"
        ).id
        for n in range(2)
    ]
    statements: list[str] = []

    def record(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split()))

    handed: list[StoredEvent] = []
    event.listen(backend.engine, "before_cursor_execute", record)
    try:
        while service.relay(handed.extend):
            pass
    finally:
        event.remove(backend.engine, "before_cursor_execute", record)
    assert {e.organisation_id for e in handed} == set(orgs)
    marks = [s for s in statements if re.match(r"UPDATE \S*armox_events SET published_at", s)]
    assert marks
    assert all("organisation_id IN" in s.split(" WHERE ", 1)[1] for s in marks)
    with store.unit_of_work() as uow:
        for org_id in orgs:
            assert all(e.published_at is not None for e in uow.events.list(org_id, limit=100))
