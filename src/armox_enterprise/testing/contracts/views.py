"""The views repository's contract: the dashboard's member table, its figures, sorting and
paging."""

from __future__ import annotations

from typing import ClassVar

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
from armox_enterprise.domain.organisation import (
    MemberStatus,
)
from armox_enterprise.domain.values import new_id
from armox_enterprise.ports import (
    MemberFigures,
    MemberSort,
    Store,
)
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    a_membership,
    a_transfer,
    an_organisation,
    at,
)

__all__ = ["ViewContract"]


class ViewContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.ViewRepository`.

    Needs: organisations (for the foreign key), memberships and the ledger (the table reads
    them) and views.
    """

    @staticmethod
    def _page(
        store: Store,
        org_id: str,
        sort: MemberSort = "name",
        *,
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
        period: int = 0,
    ) -> tuple[list[MemberFigures], int]:
        with store.unit_of_work() as uow:
            return uow.views.member_page(
                org_id, period, sort=sort, descending=descending, offset=offset, limit=limit
            )

    @staticmethod
    def _figures(page: list[MemberFigures]) -> dict[str, tuple[object, ...]]:
        """Each member's (allocated, used, remaining, on hold, last activity)."""
        return {
            f.membership.user_id: (f.allocated, f.used, f.remaining, f.on_hold, f.last_activity)
            for f in page
        }

    @staticmethod
    def _people(store: Store, names: dict[str, str]) -> str:
        """Seed an organisation whose members have the given ids and display names."""
        org_id = new_id(T0)
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(org_id))
            for code in (GRANT, POOL, USAGE, EXPIRED):
                uow.ledger.open_account(Account(org_id, code))
            for minutes, (user, name) in enumerate(names.items()):
                member = attrs.evolve(a_membership(org_id, "x", minutes=minutes), display_name=name)
                uow.memberships.add(attrs.evolve(member, user_id=user))
                uow.ledger.open_account(Account(org_id, member_account(user)))
            uow.commit()
        return org_id

    def test_member_page_shows_each_active_members_figures_for_the_period(self) -> None:
        """The member table has each active member's allocations, use less refunds, available
        credits, holds and latest activity of the period; removed members are left out."""
        store, org_id = self._seeded("ann", "bob", "cy", "dee")
        ann, bob, cy, dee = (member_account(u) for u in ("ann", "bob", "cy", "dee"))
        with store.unit_of_work() as uow:
            for transfer in (
                a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 1000, minutes=1),
                a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 300, minutes=2),
                a_transfer(org_id, TransferKind.APPROVE, POOL, bob, 200, minutes=3),
                a_transfer(org_id, TransferKind.ALLOT, POOL, cy, 100, minutes=4),
                a_transfer(org_id, TransferKind.ALLOCATE, POOL, dee, 10, minutes=4),
                a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 50, minutes=5),
                a_transfer(org_id, TransferKind.HOLD, ann, USAGE, 30, minutes=6),
                a_transfer(org_id, TransferKind.SPEND, bob, USAGE, 120, minutes=7),
                a_transfer(org_id, TransferKind.REFUND, USAGE, bob, 20, minutes=8),
                a_transfer(org_id, TransferKind.HOLD, bob, USAGE, 40, minutes=9),
                a_transfer(org_id, TransferKind.CAPTURE, bob, USAGE, 25, minutes=10),
                a_transfer(org_id, TransferKind.RELEASE, bob, USAGE, 15, minutes=10),
                a_transfer(org_id, TransferKind.RECLAIM, cy, POOL, 40, minutes=11),
            ):
                uow.ledger.post(transfer)
            removed = uow.memberships.get(org_id, "dee")
            assert removed is not None
            uow.memberships.update(
                attrs.evolve(removed, status=MemberStatus.REMOVED, removed_at=at(12))
            )
            uow.commit()
        page, total = self._page(store, org_id)
        assert total == 3
        assert [f.membership.user_id for f in page] == ["ann", "bob", "cy"]
        assert self._figures(page) == {
            "ann": (300, 50, 220, 30, at(6)),
            "bob": (200, 125, 75, 0, at(10)),
            "cy": (100, 0, 60, 0, at(11)),
        }
        with store.unit_of_work() as uow:
            assert page[0].membership == uow.memberships.get(org_id, "ann")

    def test_member_page_counts_only_the_periods_own_movements(self) -> None:
        """A period's figures ignore other periods' movements (the balance carries over), and
        read the same after the period is sealed."""
        store, org_id = self._seeded("ann")
        ann = member_account("ann")
        with store.unit_of_work() as uow:
            for transfer in (
                a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 100, minutes=1),
                a_transfer(org_id, TransferKind.ALLOCATE, POOL, ann, 60, minutes=2),
                a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 25, minutes=3),
            ):
                uow.ledger.post(transfer)
            uow.commit()
        before = self._figures(self._page(store, org_id)[0])
        assert before == {"ann": (60, 25, 35, 0, at(3))}
        with store.unit_of_work() as uow:
            uow.ledger.seal_period(org_id, 0)
            uow.commit()
        assert self._figures(self._page(store, org_id)[0]) == before
        assert self._figures(self._page(store, org_id, period=1)[0]) == {"ann": (0, 0, 35, 0, None)}
        spend = a_transfer(org_id, TransferKind.SPEND, ann, USAGE, 5, minutes=40, period=1)
        refund = a_transfer(org_id, TransferKind.REFUND, USAGE, ann, 25, minutes=41, period=1)
        with store.unit_of_work() as uow:
            uow.ledger.post(spend)
            uow.ledger.post(refund)
            uow.commit()
        # An earlier period's spend refunded now does not take this period's use below zero.
        assert self._figures(self._page(store, org_id, period=1)[0]) == {
            "ann": (0, 0, 55, 0, at(41))
        }
        # Remaining and on hold are the account's now, whichever period is asked for.
        assert self._figures(self._page(store, org_id)[0]) == {"ann": (60, 25, 55, 0, at(3))}

    _SORTED: ClassVar[dict[str, list[str]]] = {
        "name": ["u2", "u4", "u3", "u1", "u5", "u6"],
        "allocated": ["u6", "u2", "u5", "u3", "u4", "u1"],
        "used": ["u3", "u6", "u1", "u5", "u4", "u2"],
        "remaining": ["u6", "u3", "u2", "u5", "u4", "u1"],
        "last_activity": ["u6", "u2", "u4", "u1", "u5", "u3"],
    }

    def _sortable(self, store: Store) -> str:
        """Seed the organisation of :data:`_SORTED`: six members, five with allocations and
        spends of their own, one (``u6``) with nothing; return its id."""
        names = {"u1": "delta", "u2": "Alpha", "u3": "charlie", "u4": "BRAVO", "u5": "echo"}
        org_id = self._people(store, {**names, "u6": "Foxtrot"})
        codes = {user: member_account(user) for user in names}
        with store.unit_of_work() as uow:
            uow.ledger.post(a_transfer(org_id, TransferKind.GRANT, GRANT, POOL, 10_000))
            for minutes, (user, amount) in enumerate(
                [("u1", 500), ("u2", 100), ("u3", 300), ("u4", 400), ("u5", 200)], start=1
            ):
                uow.ledger.post(
                    a_transfer(
                        org_id, TransferKind.ALLOCATE, POOL, codes[user], amount, minutes=minutes
                    )
                )
            for minutes, (user, amount) in enumerate(
                [("u2", 50), ("u4", 30), ("u1", 10), ("u5", 20)], start=10
            ):
                uow.ledger.post(
                    a_transfer(
                        org_id, TransferKind.SPEND, codes[user], USAGE, amount, minutes=minutes
                    )
                )
            uow.ledger.post(
                a_transfer(org_id, TransferKind.HOLD, codes["u3"], USAGE, 280, minutes=14)
            )
            uow.commit()
        return org_id

    @pytest.mark.parametrize("sort", list(_SORTED))
    def test_member_page_sorts_by_each_key_both_ways(self, sort: MemberSort) -> None:
        """Each sort key orders the members ascending (by name ignoring case; idle members
        first by last activity; ties by user id), and descending is the exact reverse."""
        store = self.make_store()
        org_id = self._sortable(store)
        expected = self._SORTED[sort]
        page, total = self._page(store, org_id, sort)
        assert ([f.membership.user_id for f in page], total) == (expected, 6)
        page, total = self._page(store, org_id, sort, descending=True)
        assert ([f.membership.user_id for f in page], total) == (expected[::-1], 6)

    def test_member_page_cuts_every_page_of_each_order(self) -> None:
        """Every page, of every size, at every offset, of every sort key in both directions is
        that slice of the whole order, with the figures the whole order shows (a page near the
        end is the same whichever end a store picks it from)."""
        store = self.make_store()
        org_id = self._sortable(store)
        for sort, ascending in self._SORTED.items():
            for descending in (False, True):
                expected = ascending[::-1] if descending else ascending
                whole, _ = self._page(store, org_id, sort, descending=descending)  # type: ignore[arg-type]
                figures = self._figures(whole)
                for limit in (1, 2, 4, 6):
                    for offset in range(len(expected) + 2):
                        page, total = self._page(
                            store,
                            org_id,
                            sort,  # type: ignore[arg-type]
                            descending=descending,
                            offset=offset,
                            limit=limit,
                        )
                        where = (sort, descending, offset, limit)
                        users = [f.membership.user_id for f in page]
                        assert (users, total) == (expected[offset : offset + limit], 6), where
                        assert self._figures(page) == {u: figures[u] for u in users}, where

    def test_member_page_pages_and_breaks_ties_by_user_id(self) -> None:
        """Members with equal keys come in user id order by code point (upper case before
        lower, punctuation counts), reversed descending; offset and limit cut pages of it."""
        store = self.make_store()
        users = ["b1", "a-1", "Z", "B-2", "a1", "A2", "\u00e9"]
        org_id = self._people(
            store, {user: "Same" if i % 2 else "SAME" for i, user in enumerate(users)}
        )
        ordered = sorted(users)
        assert ordered == ["A2", "B-2", "Z", "a-1", "a1", "b1", "\u00e9"]
        for sort in self._SORTED:
            page, total = self._page(store, org_id, sort)  # type: ignore[arg-type]
            assert ([f.membership.user_id for f in page], total) == (ordered, 7), sort
            page, _ = self._page(store, org_id, sort, descending=True)  # type: ignore[arg-type]
            assert [f.membership.user_id for f in page] == ordered[::-1], sort
            for descending in (False, True):
                tied = ordered[::-1] if descending else ordered
                cut = [
                    self._page(
                        store,
                        org_id,
                        sort,  # type: ignore[arg-type]
                        descending=descending,
                        offset=offset,
                        limit=3,
                    )[0]
                    for offset in range(len(tied) + 1)
                ]
                assert [[f.membership.user_id for f in page] for page in cut] == [
                    tied[offset : offset + 3] for offset in range(len(tied) + 1)
                ], (sort, descending)
        pages = [self._page(store, org_id, offset=offset, limit=3) for offset in (0, 3, 6, 7, 50)]
        assert [[f.membership.user_id for f in page] for page, _ in pages] == [
            ordered[0:3],
            ordered[3:6],
            ordered[6:],
            [],
            [],
        ]
        assert {total for _, total in pages} == {7}
        assert self._page(store, "no-such-organisation") == ([], 0)
