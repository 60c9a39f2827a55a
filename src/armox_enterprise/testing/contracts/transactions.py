"""The unit of work's contract: all or nothing, commit visibility, rollback, and events handed
out only after commit."""

from __future__ import annotations

import pytest

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import (
    GRANT,
    POOL,
    Account,
    Transfer,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinRequest,
    Role,
)
from armox_enterprise.domain.values import DomainName, EmailAddress, new_id
from armox_enterprise.ports import (
    IdempotencyRecord,
    Store,
    UnitOfWork,
)
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    a_hold,
    a_membership,
    a_request,
    a_transfer,
    an_organisation,
)

__all__ = ["TransactionContract"]


class TransactionContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.UnitOfWork`: one transaction over every
    repository.

    Needs: every repository but reports and views (each case writes to all of them).
    """

    def test_uncommitted_unit_of_work_is_discarded(self) -> None:
        """Nothing written in a unit of work that ends without commit is visible afterwards."""
        store, org_id = self._seeded("ann")
        other_id = new_id(T0)
        before = self._accounts(store, org_id)
        with store.unit_of_work() as uow:
            self._write_everything(uow, org_id, other_id)
        self._assert_nothing_written(store, org_id, other_id, before)

    def test_unit_of_work_that_raises_after_writing_is_discarded(self) -> None:
        """An exception raised inside a unit of work after its first write propagates and
        discards every write."""
        store, org_id = self._seeded("ann")
        other_id = new_id(T0)
        before = self._accounts(store, org_id)

        class Boom(Exception):
            pass

        def write_then_fail() -> None:
            with store.unit_of_work() as uow:
                uow.organisations.add(an_organisation(other_id, name="Beta"))
                self._write_everything(uow, org_id, other_id, add_organisation=False)
                raise Boom

        with pytest.raises(Boom):
            write_then_fail()
        self._assert_nothing_written(store, org_id, other_id, before)

    def test_explicit_rollback_discards_writes(self) -> None:
        """rollback() discards what the unit of work wrote, and its events."""
        store, org_id = self._seeded("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10))
            uow.record(ev.PoolToppedUp(organisation_id=org_id, actor="a", occurred_at=T0, amount=1))
            uow.rollback()
            assert uow.collect_events() == []
        assert self._transfers(store, org_id) == []
        assert self._account(store, org_id, POOL) == Account(org_id, POOL)

    def test_committed_writes_are_visible_to_the_next_unit_of_work(self) -> None:
        """What a unit of work committed, the next one reads, in every repository."""
        store, org_id = self._seeded("ann")
        other_id = new_id(T0)
        with store.unit_of_work() as uow:
            written = self._write_everything(uow, org_id, other_id)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.organisations.get(other_id) is not None
            assert uow.memberships.active_for_user("zed") is not None
            assert uow.domains.get(DomainName.parse("beta.example")) is not None
            assert uow.invitations.list(org_id) != []
            assert uow.join_requests.pending_for_user("yan") is not None
            assert uow.ledger.get_transfer(org_id, written.id) == written
            assert uow.holds.pending(org_id) != []
            assert uow.requests.list(org_id) != []
            assert uow.idempotency.get(org_id, "k") is not None
            assert [e.name for e in uow.events.list(org_id)] == ["PoolToppedUp"]
        assert self._account(store, org_id, POOL).balance == 10

    def test_events_are_handed_out_only_after_commit(self) -> None:
        """Recorded events come out of collect_events once committed, and only once."""
        store, org_id = self._seeded("ann")
        first = ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=5)
        second = ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=6)
        with store.unit_of_work() as uow:
            uow.record(first)
            uow.record(second)
            assert uow.collect_events() == []
            uow.commit()
            assert uow.collect_events() == [first, second]
            assert uow.collect_events() == []

    def test_each_unit_of_work_hands_out_its_own_events(self) -> None:
        """A unit of work hands out only the events it recorded, not another's."""
        store, org_id = self._seeded("ann")
        dropped = ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=5)
        kept = ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=6)
        with store.unit_of_work() as uow:
            uow.record(dropped)
        with store.unit_of_work() as uow:
            uow.record(kept)
            uow.commit()
            assert uow.collect_events() == [kept]

    @staticmethod
    def _write_everything(
        work: UnitOfWork, org_id: str, other_id: str, *, add_organisation: bool = True
    ) -> Transfer:
        """Write one record to every repository; return the transfer it posted."""
        if add_organisation:
            work.organisations.add(an_organisation(other_id, name="Beta"))
        work.memberships.add(a_membership(org_id, "zed", minutes=5))
        work.ledger.open_account(Account(org_id, member_account("zed")))
        work.domains.add(DomainClaim(DomainName.parse("beta.example"), org_id, "t", T0))
        email = EmailAddress.parse("yan@beta.example")
        work.invitations.put(Invitation(org_id, email, Role.MEMBER, "ann", T0))
        work.join_requests.add(JoinRequest(new_id(T0), org_id, "yan", email, "Yan", T0))
        transfer = a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10)
        work.ledger.post(transfer)
        work.holds.add(a_hold(org_id, "ann", 1))
        work.requests.add(a_request(org_id, "ann", 5))
        work.idempotency.add(IdempotencyRecord(org_id, "k", "top_up", "x", transfer.id, T0))
        work.record(ev.PoolToppedUp(organisation_id=org_id, actor="ann", occurred_at=T0, amount=1))
        return transfer

    def _assert_nothing_written(
        self, store: Store, org_id: str, other_id: str, accounts: list[Account]
    ) -> None:
        """Assert that no record of :meth:`_write_everything` is there, nor its event."""
        with store.unit_of_work() as uow:
            assert uow.organisations.get(other_id) is None
            assert uow.memberships.get(org_id, "zed") is None
            assert uow.memberships.active_for_user("zed") is None
            assert uow.domains.get(DomainName.parse("beta.example")) is None
            assert uow.invitations.list(org_id) == []
            assert uow.join_requests.list_pending(org_id) == []
            assert uow.ledger.transfers(org_id) == []
            assert uow.holds.pending(org_id) == []
            assert uow.requests.list(org_id) == []
            assert uow.idempotency.get(org_id, "k") is None
            assert uow.events.list(org_id) == []
        assert self._accounts(store, org_id) == accounts
