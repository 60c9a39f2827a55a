"""The ledger's contract: accounts, double-entry transfers and holds on them, the guards
against overdrafts, closed accounts and reused generation ids, lists and period totals."""

from __future__ import annotations

import attrs
import pytest

from armox_enterprise.domain.ledger import (
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    Account,
    TransferKind,
    member_account,
)
from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import (
    AccountClosed,
    CapReached,
    DuplicateIdempotencyKey,
    InsufficientCredits,
    NotFound,
    TransientStorageError,
)
from armox_enterprise.ports import PeriodTotals
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    a_transfer,
    an_organisation,
    at,
)

__all__ = ["LedgerContract"]


class LedgerContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.Ledger`.

    Needs: organisations (for the foreign key) and the ledger.
    """

    def test_open_account_keeps_an_existing_account(self) -> None:
        """Opening an account that exists changes nothing; accounts list per organisation."""
        store, org_id = self._seeded("ann", members=False)
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 50))
            uow.ledger.open_account(Account(org_id, POOL))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.ledger.open_account(Account(org_id, POOL))
            uow.commit()
        other_store_org = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(other_store_org, name="Beta"))
            uow.ledger.open_account(Account(other_store_org, POOL))
            uow.commit()
        assert self._account(store, org_id, POOL) == Account(org_id, POOL, credits_posted=50)
        with store.unit_of_work() as uow:
            codes = sorted(a.code for a in uow.ledger.accounts(org_id))
            assert codes == sorted([GRANT, POOL, USAGE, EXPIRED, member_account("ann")])
            assert uow.ledger.accounts(other_store_org) == [Account(other_store_org, POOL)]
            assert uow.ledger.get_account(org_id, member_account("nobody")) is None

    def test_post_moves_credits_between_two_accounts(self) -> None:
        """A posted transfer reads back by id and moves its amount from debit to credit."""
        store, org_id = self._seeded("ann", members=False)
        grant = a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100)
        allocate = a_transfer(
            org_id, TransferKind.ALLOCATE, POOL, member_account("ann"), 30, minutes=1
        )
        with store.unit_of_work() as uow:
            uow.ledger.post(grant)
            uow.ledger.post(allocate)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.ledger.get_transfer(org_id, grant.id) == grant
            assert uow.ledger.get_transfer(org_id, allocate.id) == allocate
            assert uow.ledger.get_transfer(org_id, new_id(T0)) is None
            assert uow.ledger.get_transfer(new_id(T0), grant.id) is None
        assert self._account(store, org_id, GRANT) == Account(org_id, GRANT, debits_posted=100)
        assert self._account(store, org_id, POOL) == Account(org_id, POOL, 100, 30)
        assert self._account(store, org_id, member_account("ann")) == Account(
            org_id, member_account("ann"), credits_posted=30
        )

    def test_hold_capture_and_release_move_pending_debits(self) -> None:
        """A hold reserves without posting; a capture posts what it takes; a release frees
        the rest."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100))
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 100, minutes=1))
            uow.ledger.post(a_transfer(org_id, TransferKind.HOLD, ann, USAGE, 40, minutes=2))
            uow.commit()
        member = self._account(store, org_id, ann)
        assert (member.balance, member.available, member.debits_pending) == (100, 60, 40)
        assert self._account(store, org_id, USAGE) == Account(org_id, USAGE)
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.CAPTURE, ann, USAGE, 25, minutes=3))
            uow.ledger.post(a_transfer(org_id, TransferKind.RELEASE, ann, USAGE, 15, minutes=3))
            uow.commit()
        assert self._account(store, org_id, ann) == Account(org_id, ann, 100, 25, 0)
        assert self._account(store, org_id, USAGE) == Account(org_id, USAGE, credits_posted=25)

    def test_overdrawing_a_guarded_account_raises_and_writes_nothing(self) -> None:
        """Posting more than a pool or member account has available raises
        InsufficientCredits, writes nothing, and leaves the unit of work usable."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10))
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 6, minutes=1))
            uow.ledger.post(a_transfer(org_id, TransferKind.HOLD, ann, USAGE, 4, minutes=2))
            uow.commit()
        before = {a.code: a for a in self._accounts(store, org_id)}
        attempts = [
            a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 5, minutes=3),
            a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 3, minutes=3),
            a_transfer(org_id, TransferKind.HOLD, ann, USAGE, 3, minutes=3),
        ]
        with store.unit_of_work() as uow:
            for attempt in attempts:
                with pytest.raises(InsufficientCredits) as raised:
                    uow.ledger.post(attempt)
                assert raised.value.requested == attempt.amount
                assert raised.value.available == (4 if attempt.debit_account == POOL else 2)
                assert uow.ledger.get_transfer(org_id, attempt.id) is None
            assert {a.code: a for a in uow.ledger.accounts(org_id)} == before
            uow.ledger.post(a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 2, minutes=4))
            uow.commit()
        assert len(self._transfers(store, org_id)) == 4
        assert self._account(store, org_id, ann).available == 0
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.TOP_UP, GRANT, POOL, 10**12))
            uow.commit()
        assert self._account(store, org_id, GRANT).balance == -(10 + 10**12)

    def test_post_naming_an_unknown_account_raises_not_found(self) -> None:
        """A transfer from or to an account that does not exist raises NotFound."""
        store, org_id = self._seeded("ann", members=False)
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10))
            uow.commit()
        before = self._accounts(store, org_id)
        for debit, credit in ((POOL, member_account("ghost")), (member_account("ghost"), USAGE)):
            with store.unit_of_work() as uow, pytest.raises(NotFound):
                uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, debit, credit, 1))
        with store.unit_of_work() as uow, pytest.raises(NotFound):
            uow.ledger.post(a_transfer(new_id(T0), TransferKind.GRANT, GRANT, POOL, 1))
        assert self._accounts(store, org_id) == before
        assert len(self._transfers(store, org_id)) == 1

    def test_generation_ids_are_unique_per_organisation(self) -> None:
        """A spend or hold is found by its generation id, which a second spend or hold in the
        organisation cannot reuse (DuplicateIdempotencyKey); another organisation can."""
        store, org_id = self._seeded("ann", members=False)
        other_id = self._seed(store, "bob", members=False)
        ann, bob = member_account("ann"), member_account("bob")
        spend = attrs.evolve(
            a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 5, minutes=2), idempotency_key="g1"
        )
        hold = attrs.evolve(
            a_transfer(org_id, TransferKind.HOLD, ann, USAGE, 7, minutes=3), idempotency_key="g2"
        )
        with store.unit_of_work() as uow:
            for org, member in ((org_id, ann), (other_id, bob)):
                uow.ledger.post(a_transfer(org, TransferKind.GRANT, GRANT, POOL, 100))
                uow.ledger.post(a_transfer(org, TransferKind.ALLOCATE, POOL, member, 50, minutes=1))
            uow.ledger.post(spend)
            uow.ledger.post(hold)
            uow.commit()
        before = self._accounts(store, org_id)
        for kind in (TransferKind.SPEND, TransferKind.HOLD):
            for key in ("g1", "g2"):
                again = attrs.evolve(
                    a_transfer(org_id, kind, ann, USAGE, 1, minutes=4), idempotency_key=key
                )
                with store.unit_of_work() as uow, pytest.raises(DuplicateIdempotencyKey):
                    uow.ledger.post(again)
        elsewhere = attrs.evolve(
            a_transfer(other_id, TransferKind.SPEND, bob, USAGE, 5, minutes=5), idempotency_key="g1"
        )
        with store.unit_of_work() as uow:
            uow.ledger.post(elsewhere)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.ledger.transfer_by_key(org_id, "g1") == spend
            assert uow.ledger.transfer_by_key(org_id, "g2") == hold
            assert uow.ledger.transfer_by_key(org_id, "g3") is None
            assert uow.ledger.transfer_by_key(other_id, "g1") == elsewhere
            assert uow.ledger.transfer_by_key(other_id, "g2") is None
        assert self._accounts(store, org_id) == before
        assert len(self._transfers(store, org_id)) == 4

    def test_spend_cap_refuses_spends_and_holds_past_it_in_the_posting(self) -> None:
        """With a cap kept by set_spend_cap, a spend or hold that would take what the member
        used and holds in the period past it raises CapReached (the cap, the period's count,
        the amount) and writes nothing; a release gives room back, a new period starts from
        what is held, no cap refuses nothing, a closed account is refused as closed first."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 1000))
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 500, minutes=1))
            uow.ledger.set_spend_cap(org_id, ann, 50)
            uow.ledger.post(a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 30, minutes=2))
            uow.ledger.post(a_transfer(org_id, TransferKind.HOLD, ann, USAGE, 20, minutes=2))
            uow.commit()
        before = self._accounts(store, org_id)
        for kind in (TransferKind.SPEND, TransferKind.HOLD):
            with store.unit_of_work() as uow, pytest.raises(CapReached) as refused:
                uow.ledger.post(a_transfer(org_id, kind, ann, USAGE, 1, minutes=3))
            assert (refused.value.cap, refused.value.spent, refused.value.requested) == (50, 50, 1)
        assert self._accounts(store, org_id) == before
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.RELEASE, ann, USAGE, 20, minutes=4))
            uow.ledger.post(a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 20, minutes=5))
            with pytest.raises(CapReached):
                uow.ledger.post(a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 1, minutes=5))
            # The refusal wrote nothing: the unit of work goes on.
            uow.ledger.post(
                a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 50, minutes=6, period=1)
            )
            uow.commit()
        assert self._account(store, org_id, ann).debits_posted == 100
        with store.unit_of_work() as uow:
            uow.ledger.set_spend_cap(org_id, ann, None)
            uow.ledger.post(
                a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 60, minutes=7, period=1)
            )
            uow.ledger.set_spend_cap(org_id, ann, 0)
            uow.ledger.set_closed(org_id, ann, True)
            with pytest.raises(AccountClosed):
                uow.ledger.post(
                    a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 1, minutes=8, period=1)
                )
            with pytest.raises(NotFound):
                uow.ledger.set_spend_cap(org_id, member_account("nobody"), 5)
            uow.commit()
        assert self._account(store, org_id, ann).debits_posted == 160
        assert self._account(store, org_id, USAGE).balance == 160

    def test_closed_account_refuses_new_spending_only(self) -> None:
        """A closed member account refuses spends and holds (AccountClosed) and still takes
        captures, releases, refunds and returns; reopened, it spends again."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100))
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 50, minutes=1))
            uow.ledger.post(a_transfer(org_id, TransferKind.HOLD, ann, USAGE, 10, minutes=2))
            uow.ledger.post(a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 5, minutes=2))
            uow.ledger.set_closed(org_id, ann, True)
            uow.commit()
        with store.unit_of_work() as uow:
            closed = uow.ledger.get_account(org_id, ann, for_update=True)
            assert closed is not None
            assert closed.closed
            assert closed == uow.ledger.get_account(org_id, ann)
        before = self._accounts(store, org_id)
        for kind in (TransferKind.SPEND, TransferKind.HOLD):
            with store.unit_of_work() as uow, pytest.raises(AccountClosed):
                uow.ledger.post(a_transfer(org_id, kind, ann, USAGE, 1, minutes=3))
        assert self._accounts(store, org_id) == before
        with store.unit_of_work() as uow:
            for transfer in (
                a_transfer(org_id, TransferKind.CAPTURE, ann, USAGE, 4, minutes=4),
                a_transfer(org_id, TransferKind.RELEASE, ann, USAGE, 6, minutes=4),
                a_transfer(org_id, TransferKind.REFUND, USAGE, ann, 5, minutes=5),
                a_transfer(org_id, TransferKind.RETURN, ann, POOL, 46, minutes=6),
            ):
                uow.ledger.post(transfer)
            uow.commit()
        assert self._account(store, org_id, ann) == Account(org_id, ann, 55, 55, 0, closed=True)
        with store.unit_of_work() as uow:
            uow.ledger.set_closed(org_id, ann, False)
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 3, minutes=7))
            uow.ledger.post(a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 3, minutes=8))
            uow.commit()
        assert self._account(store, org_id, ann) == Account(org_id, ann, 58, 58, 0)

    def test_transfers_filter_and_list_oldest_first(self) -> None:
        """Transfers list oldest first and filter by account, period, kinds and reference."""
        store, org_id = self._seeded("ann", "bob", members=False)
        ann, bob = member_account("ann"), member_account("bob")
        posted = [
            a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=0),
            a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 20, minutes=1),
            a_transfer(org_id, TransferKind.ALLOCATE, POOL, bob, 20, minutes=2),
            a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 5, minutes=3, reference="gen-1"),
            a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=4, period=1),
            a_transfer(org_id, TransferKind.SPEND, bob, USAGE, 7, minutes=5, period=1),
            a_transfer(
                org_id, TransferKind.REFUND, USAGE, ann, 5, minutes=6, period=1, reference="gen-1"
            ),
        ]
        with store.unit_of_work() as uow:
            for transfer in posted:
                uow.ledger.post(transfer)
            uow.commit()
        with store.unit_of_work() as uow:
            ledger = uow.ledger
            assert ledger.transfers(org_id) == posted
            assert ledger.transfers(org_id, account=ann) == [posted[1], posted[3], posted[6]]
            assert ledger.transfers(org_id, period_index=1) == posted[4:]
            assert ledger.transfers(org_id, kinds=[TransferKind.SPEND, TransferKind.REFUND]) == [
                posted[3],
                posted[5],
                posted[6],
            ]
            assert ledger.transfers(org_id, reference="gen-1") == [posted[3], posted[6]]
            assert ledger.transfers(
                org_id, account=USAGE, period_index=1, kinds=[TransferKind.SPEND]
            ) == [posted[5]]
            assert ledger.transfers(org_id, kinds=[TransferKind.EXPIRE]) == []
            assert ledger.transfers(new_id(T0)) == []

    def test_period_totals_sum_movements_by_kind(self) -> None:
        """Period totals sum an account's credits and debits of one period by kind and note
        its last activity."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            for transfer in (
                a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=0),
                a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 30, minutes=1),
                a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 10, minutes=2),
                a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 8, minutes=3),
                a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 4, minutes=4),
                a_transfer(org_id, TransferKind.REFUND, USAGE, ann, 4, minutes=5),
                a_transfer(org_id, TransferKind.RECLAIM, ann, POOL, 2, minutes=6),
                a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=7, period=1),
                a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 1, minutes=8, period=1),
            ):
                uow.ledger.post(transfer)
            uow.commit()
        with store.unit_of_work() as uow:
            member = uow.ledger.period_totals(org_id, ann, 0)
            assert member.credited(TransferKind.ALLOCATE) == 40
            assert member.credited(TransferKind.REFUND) == 4
            assert member.debited(TransferKind.SPEND) == 12
            assert member.debited(TransferKind.RECLAIM) == 2
            assert member.credited(TransferKind.SPEND) == 0
            assert member.last_activity == at(6)
            pool = uow.ledger.period_totals(org_id, POOL, 0)
            assert pool.credited(TransferKind.GRANT, TransferKind.RECLAIM) == 102
            assert pool.debited(TransferKind.ALLOCATE) == 40
            usage = uow.ledger.period_totals(org_id, USAGE, 0)
            assert (usage.credited(TransferKind.SPEND), usage.debited(TransferKind.REFUND)) == (
                12,
                4,
            )
            later = uow.ledger.period_totals(org_id, ann, 1)
            assert (later.credited(TransferKind.ALLOCATE), later.last_activity) == (1, at(8))
            assert uow.ledger.period_totals(org_id, ann, 2) == PeriodTotals()
            assert uow.ledger.period_totals(org_id, EXPIRED, 0).last_activity is None

    def test_sealing_a_period_keeps_its_totals(self) -> None:
        """Period totals read the same before and after the period is sealed."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            for transfer in (
                a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=0),
                a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 30, minutes=1),
                a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 8, minutes=2),
                a_transfer(org_id, TransferKind.REFUND, USAGE, ann, 3, minutes=3),
                a_transfer(org_id, TransferKind.EXPIRE, ann, EXPIRED, 25, minutes=4),
            ):
                uow.ledger.post(transfer)
            uow.commit()
        codes = (GRANT, POOL, ann, USAGE, EXPIRED)

        def totals() -> list[PeriodTotals]:
            with store.unit_of_work() as uow:
                return [uow.ledger.period_totals(org_id, code, 0) for code in codes]

        before = totals()
        with store.unit_of_work() as uow:
            uow.ledger.seal_period(org_id, 0)
            uow.commit()
        assert totals() == before
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, period=1))
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 9, period=1))
            uow.commit()
        assert totals() == before
        with store.unit_of_work() as uow:
            assert uow.ledger.period_totals(org_id, ann, 1).credited(TransferKind.ALLOCATE) == 9
        assert before[2].debited(TransferKind.SPEND, TransferKind.EXPIRE) == 33

    def test_a_transfer_stamped_with_a_closed_period_is_refused_as_transient(self) -> None:
        """Once a period is sealed and the organisation has moved on, a transfer of any kind
        still stamped with the closed period (its use case read the period before the
        turnover committed) is refused as a transient failure, on either side, and writes
        nothing; the same transfer stamped with the new period posts."""
        store, org_id = self._seeded("ann", members=False)
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100))
            uow.ledger.post(a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 40, minutes=1))
            uow.commit()
        with store.unit_of_work() as uow:
            org = uow.organisations.get(org_id, for_update=True)
            assert org is not None
            uow.ledger.seal_period(org_id, 0)
            uow.organisations.update(attrs.evolve(org, current_period_index=1))
            uow.commit()
        before = self._accounts(store, org_id)
        late = [
            a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 5, minutes=2),
            a_transfer(org_id, TransferKind.HOLD, ann, USAGE, 5, minutes=2),
            a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 5, minutes=2),
            a_transfer(org_id, TransferKind.RECLAIM, ann, POOL, 5, minutes=2),
            a_transfer(org_id, TransferKind.TOP_UP, GRANT, POOL, 5, minutes=2),
            # Refused by its debit row and by the balance: the period is the answer.
            a_transfer(org_id, TransferKind.RECLAIM, ann, POOL, 10**6, minutes=2),
        ]
        for transfer in late:
            with store.unit_of_work() as uow:
                with pytest.raises(TransientStorageError, match="closed period 0"):
                    uow.ledger.post(transfer)
                assert uow.ledger.get_transfer(org_id, transfer.id) is None
        assert self._accounts(store, org_id) == before
        assert len(self._transfers(store, org_id)) == 2
        with store.unit_of_work() as uow:
            for transfer in late[:-1]:
                uow.ledger.post(attrs.evolve(transfer, period_index=1))
            uow.commit()
        assert len(self._transfers(store, org_id)) == 2 + len(late) - 1
