"""The events repository's contract: what a unit of work records is stored when it commits;
the log filters and pages; a relay claims events until they are marked published."""

from __future__ import annotations

from datetime import timedelta

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.values import new_id
from armox_enterprise.ports import (
    Store,
)
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    an_organisation,
)

__all__ = ["EventContract"]


class EventContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.EventRepository`, and of the unit of work's
    outbox that fills it.

    Needs: organisations (for the foreign key) and events.
    """

    def _with_events(self) -> tuple[Store, str, str]:
        """A store with two organisations; the first recorded three events, the second one."""
        store, org_id = self._with_organisation()
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(other_id, name="Beta"))
            uow.commit()
        with store.unit_of_work() as uow:
            for minutes, amount in ((1, 10), (2, 20)):
                uow.record(
                    ev.PoolToppedUp(
                        organisation_id=org_id,
                        actor="ann",
                        occurred_at=T0 + timedelta(minutes=minutes),
                        amount=amount,
                    )
                )
            uow.record(
                ev.PoolToppedUp(
                    organisation_id=other_id,
                    actor="bob",
                    occurred_at=T0 + timedelta(minutes=2),
                    amount=99,
                )
            )
            uow.commit()
        with store.unit_of_work() as uow:
            uow.record(
                ev.RoleChanged(
                    organisation_id=org_id,
                    actor="bob",
                    occurred_at=T0 + timedelta(minutes=3),
                    user_id="ann",
                    role="admin",
                )
            )
            uow.commit()
        return store, org_id, other_id

    def test_committed_events_are_stored_and_discarded_ones_are_not(self) -> None:
        """Events recorded in a committed unit of work are stored with their fields; a unit of
        work that does not commit stores none."""
        store, org_id, _ = self._with_events()
        with store.unit_of_work() as uow:
            uow.record(ev.PoolToppedUp(organisation_id=org_id, actor="x", occurred_at=T0, amount=1))
        with store.unit_of_work() as uow:
            log = uow.events.list(org_id)
        assert [(e.name, e.actor, dict(e.payload)) for e in log] == [
            ("RoleChanged", "bob", {"user_id": "ann", "role": "admin"}),
            ("PoolToppedUp", "ann", {"amount": 20}),
            ("PoolToppedUp", "ann", {"amount": 10}),
        ]
        assert [e.occurred_at for e in log] == [T0 + timedelta(minutes=m) for m in (3, 2, 1)]
        assert all(e.organisation_id == org_id and e.published_at is None for e in log)

    def test_the_event_log_filters_and_pages(self) -> None:
        """The log filters by name, actor and time window and pages, newest first."""
        store, org_id, other_id = self._with_events()
        with store.unit_of_work() as uow:
            events = uow.events
            assert [e.payload["amount"] for e in events.list(org_id, names=["PoolToppedUp"])] == [
                20,
                10,
            ]
            assert [e.name for e in events.list(org_id, actor="bob")] == ["RoleChanged"]
            window = events.list(
                org_id, since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=3)
            )
            assert [e.payload["amount"] for e in window] == [20]
            assert [e.payload.get("amount") for e in events.list(org_id, offset=1, limit=1)] == [20]
            assert [e.payload["amount"] for e in events.list(other_id)] == [99]

    def test_claimed_events_come_oldest_first_until_marked_published(self) -> None:
        """A relay claims unpublished events, oldest first within each organisation; once
        marked published they are not claimed again and the log shows when."""
        store, org_id, other_id = self._with_events()
        with store.unit_of_work() as uow:
            claimed = uow.events.claim(limit=100)
        mine = [e for e in claimed if e.organisation_id == org_id]
        assert [e.name for e in mine] == ["PoolToppedUp", "PoolToppedUp", "RoleChanged"]
        assert [e.id for e in mine] == sorted(e.id for e in mine)
        assert {e.organisation_id for e in claimed} == {org_id, other_id}
        published = T0 + timedelta(hours=1)
        with store.unit_of_work() as uow:  # not committed: nothing is marked
            uow.events.mark_published([e.id for e in mine], published)
        with store.unit_of_work() as uow:
            assert uow.events.claim(limit=100) == claimed
        with store.unit_of_work() as uow:
            uow.events.mark_published([e.id for e in mine], published)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.events.claim(limit=100) == [
                e for e in claimed if e.organisation_id == other_id
            ]
            log = uow.events.list(org_id)
        assert {e.published_at for e in log} == {published}
