"""A period turnover committing between a use case's read of the period and its write.

A unit of work reads its organisation's current period without locking it on PostgreSQL (on
MariaDB the read takes the row in share mode, which a turnover waits for); a turnover that
commits after that read and before the unit of work posts would leave it stamping transfers
with the period just closed.  The store refuses such a transfer in the posting's own
conditional ``UPDATE`` (every account row is sealed on to the next period with it) and says
so with a transient error, so the call runs again in the new period.

Each test here makes that interleaving happen every time: a hook on the organisation's read
(or on the spend's short path) runs the whole turnover, on another connection, after the use
case has read its period, and then hands the use case the period as it read it.  On both
servers the call answers as it would have in the new period, and nothing lands in the
closed one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from armox_enterprise import (
    EnterpriseService,
    InsufficientCredits,
    MemberRemainder,
    RolloverPolicy,
)
from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore
from armox_enterprise.adapters.sqlalchemy.organisations import SqlOrganisations
from armox_enterprise.domain.ledger import Transfer
from armox_enterprise.testing import Scenario, enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend


@attrs.define
class _Turnover:
    """Turns the scenario's organisation over once, from another thread and connection,
    when the use case under test reaches the armed point."""

    scenario: Scenario
    armed: bool = False
    turned: int = 0
    #: The closed period's transfers as the turnover left them (its own closing ones).
    closed: list[Transfer] = attrs.Factory(list)
    #: The ids of every transfer there was once the turnover committed.
    seen: set[str] = attrs.Factory(set)

    def run(self) -> None:
        """Move the clock just past the period's end and run the period job to its commit."""
        self.armed = False
        with self.scenario.store.unit_of_work() as uow:
            org = uow.organisations.get(self.scenario.org_id)
        assert org is not None
        self.scenario.clock.set(org.current_period.end + timedelta(seconds=1))
        job = EnterpriseService(self.scenario.store, clock=self.scenario.clock)
        failures: list[BaseException] = []

        def turn() -> None:
            try:
                job.close_due_periods()
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        thread = threading.Thread(target=turn)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the turnover waited for the use case under test"
        assert not failures, failures
        self.turned += 1
        self.closed = _closed_period_transfers(self.scenario)
        self.seen = {transfer.id for transfer in _transfers(self.scenario)}


@pytest.fixture(params=[None, "SERIALIZABLE"], ids=["default-isolation", "serializable"])
def race(
    server_backend: Backend, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> tuple[Scenario, _Turnover]:
    """A scenario whose next plain read of the organisation (in this thread) is answered as
    it was before a turnover that commits right then (at the server's default isolation
    level, where the store's guard refuses the stale transfer, and at SERIALIZABLE, where
    the server may refuse it first: either is run again)."""
    engine = server_backend.engine
    if request.param is not None:
        engine = engine.execution_options(isolation_level=request.param)
    # Members keep their remainder: the call's answer is the same in either period.
    keep = RolloverPolicy(member_remainder=MemberRemainder.KEEP)
    scenario = enterprise(store=SqlAlchemyStore(engine), allocate=1_000, rollover=keep)
    turnover = _Turnover(scenario)
    original = SqlOrganisations.get
    caller = threading.get_ident()

    def get(self: Any, organisation_id: str, *, for_update: bool = False) -> Any:
        if not turnover.armed or for_update or threading.get_ident() != caller:
            return original(self, organisation_id, for_update=for_update)
        turnover.armed = False
        # The period as the use case reads it, before the turnover, which commits right
        # after: on PostgreSQL by the use case's own plain read; on MariaDB, where that read
        # would take the row in share mode (and the turnover would wait for it), by a read
        # of its own, handed to the use case as if the row had not been locked.
        if self._db.dialect == "postgresql":
            seen = original(self, organisation_id)
        else:
            with scenario.store.unit_of_work() as uow:
                seen = uow.organisations.get(organisation_id)
        turnover.run()
        return seen

    monkeypatch.setattr(SqlOrganisations, "get", get)
    return scenario, turnover


def _closed_period_transfers(scenario: Scenario) -> list[Transfer]:
    with scenario.store.unit_of_work() as uow:
        return uow.ledger.transfers(scenario.org_id, period_index=0)


def _transfers(scenario: Scenario) -> list[Transfer]:
    with scenario.store.unit_of_work() as uow:
        return uow.ledger.transfers(scenario.org_id)


def _hold(service: EnterpriseService, scenario: Scenario) -> str:
    # Made well into the period and pending still after the turnover (a period is at most
    # 31 days long), so that it can be captured then.
    scenario.clock.advance(timedelta(days=10))
    life = timedelta(days=31)
    service.update_settings(scenario.admin, scenario.org_id, hold_lifetime=life)
    member = scenario.members[0]
    return service.reserve(member, scenario.org_id, 9, generation_id="held", lifetime=life).id


def _spent(service: EnterpriseService, scenario: Scenario) -> str:
    return service.spend(scenario.members[0], scenario.org_id, 9, generation_id="spent").id


def _nothing(service: EnterpriseService, scenario: Scenario) -> str:
    return ""


#: Use cases that stamp transfers with the period: what to make first (in period 0, before
#: the race), and the call that races the turnover, given the service, the scenario and
#: what was made.
CALLS: dict[
    str,
    tuple[
        Callable[[EnterpriseService, Scenario], str],
        Callable[[EnterpriseService, Scenario, str], object],
    ],
] = {
    "spend": (_nothing, lambda s, sc, _: s.spend(sc.members[0], sc.org_id, 5, generation_id="g")),
    "reserve": (
        _nothing,
        lambda s, sc, _: s.reserve(sc.members[0], sc.org_id, 5, generation_id="h"),
    ),
    "capture": (_hold, lambda s, sc, hold: s.capture_hold(sc.members[0], sc.org_id, hold, 4)),
    "release": (_hold, lambda s, sc, hold: s.release_hold(sc.members[0], sc.org_id, hold)),
    "refund": (_spent, lambda s, sc, spend: s.refund(sc.admin, sc.org_id, spend, 3)),
    "allocate": (
        _nothing,
        lambda s, sc, _: s.allocate_credits(sc.admin, sc.org_id, sc.members[0], 7),
    ),
    "reclaim": (
        _nothing,
        lambda s, sc, _: s.reclaim_credits(sc.admin, sc.org_id, sc.members[0], 5),
    ),
    "top-up": (_nothing, lambda s, sc, _: s.top_up(sc.admin, sc.org_id, 11)),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_use_case_racing_a_turnover_posts_in_the_new_period(
    race: tuple[Scenario, _Turnover], name: str
) -> None:
    """The call reads period 0, the turnover commits, the call still answers, and what it
    posted is stamped with period 1: nothing lands in the closed period."""
    scenario, turnover = race
    make, call = CALLS[name]
    made = make(scenario.service, scenario)
    # A service with no memory of the organisation's period: the spend takes its full path.
    service = EnterpriseService(scenario.store, clock=scenario.clock)
    turnover.armed = True
    call(service, scenario, made)
    assert turnover.turned == 1
    assert _closed_period_transfers(scenario) == turnover.closed
    posted = [t for t in _transfers(scenario) if t.id not in turnover.seen]
    assert posted, "the call posted nothing"
    assert {t.period_index for t in posted} == {1}
    with scenario.store.unit_of_work() as uow:
        org = uow.organisations.get(scenario.org_id)
    assert org is not None
    assert org.current_period_index == 1


def test_a_refusal_racing_a_turnover_is_the_precise_error(
    race: tuple[Scenario, _Turnover],
) -> None:
    """A reclaim of more than the member holds, racing the turnover, is refused as too few
    credits (in the new period), never as a storage failure."""
    scenario, turnover = race
    service = EnterpriseService(scenario.store, clock=scenario.clock)
    turnover.armed = True
    with pytest.raises(InsufficientCredits) as raised:
        service.reclaim_credits(scenario.admin, scenario.org_id, scenario.members[0], 1_000_000)
    assert raised.value.requested == 1_000_000
    assert turnover.turned == 1
    assert _closed_period_transfers(scenario) == turnover.closed


def test_a_short_path_spend_racing_a_turnover_spends_in_the_new_period(
    race: tuple[Scenario, _Turnover], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spend's short path works from the remembered period; a turnover committing just
    before its statement makes the store refuse it, and the full path spends in period 1."""
    scenario, turnover = race
    service = EnterpriseService(scenario.store, clock=scenario.clock)
    member = scenario.members[0]
    service.spend(member, scenario.org_id, 1, generation_id="warm-up")  # remembers period 0
    store = scenario.store
    original = type(store).post_spend

    def post_spend(self: Any, transfer: Transfer, event: Any) -> bool:
        if turnover.turned == 0:
            turnover.run()
        return bool(original(self, transfer, event))

    monkeypatch.setattr(type(store), "post_spend", post_spend)
    spent = service.spend(member, scenario.org_id, 5, generation_id="g-short")
    assert turnover.turned == 1
    assert spent.period_index == 1
    assert _closed_period_transfers(scenario) == turnover.closed
