"""The directory's calls racing each other and the member's own, on PostgreSQL and MariaDB.

Two threads released together by a barrier, a few rounds each:

- the same user provisioned from two threads (a directory that retries, two workers of the
  host): one active membership, both callers told the same membership, one ``MemberEnrolled``;
- a deactivation racing a spend (or a hold's capture) of the member: whatever wins, the
  removed member keeps no credits, the ledger reconciles, and each caller got a result or a
  specific error;
- two users provisioned at once with one external id: one holds it, the other is told
  ``AlreadyExists`` and was not provisioned.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from armox_enterprise import (
    AlreadyExists,
    DirectoryResult,
    EnterpriseService,
    OrganisationNotFound,
)
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import member_account, reconcile
from armox_enterprise.testing import enterprise

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

ROUNDS = 5
AMOUNT = 10


def _racing(*calls: Callable[[], object]) -> list[object]:
    """Run the calls at once; return what each returned or raised."""
    barrier = threading.Barrier(len(calls))

    def run(work: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return work()
        except Exception as exc:  # what each caller got is checked below
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_one_user_provisioned_from_two_threads_is_one_membership(
    server_backend: Backend,
) -> None:
    """Both calls answer with the same active membership; exactly one of them enrolled."""
    s = enterprise(store=server_backend.store(), members=1)
    services = [
        EnterpriseService(s.store, clock=s.clock, dns=s.dns, max_attempts=200) for _ in range(2)
    ]
    enrolled: list[ev.Event] = []
    for service in services:
        service.subscribe(
            lambda e: enrolled.append(e) if isinstance(e, ev.MemberEnrolled) else None
        )
    for round_ in range(ROUNDS):
        user, email = f"hired-{round_}", f"hired-{round_}@else.example"
        outcomes = _racing(
            *(functools.partial(svc.provision_member, s.org_id, user, email) for svc in services)
        )
        assert all(isinstance(o, DirectoryResult) for o in outcomes), outcomes
        results = [o for o in outcomes if isinstance(o, DirectoryResult)]
        assert results[0].membership == results[1].membership
        assert results[0].membership.is_active
        assert sorted(r.changed for r in results) == [False, True]
        with s.store.unit_of_work() as uow:
            active = [m.user_id for m in uow.memberships.list(s.org_id)]
        assert active.count(user) == 1
    assert len(enrolled) == ROUNDS


def test_two_users_racing_for_one_external_id_leave_one_holder(
    server_backend: Backend,
) -> None:
    """One call provisions its user with the id, the other is AlreadyExists and left nothing:
    its user is no member and the id names the winner."""
    s = enterprise(store=server_backend.store(), members=1)
    services = [
        EnterpriseService(s.store, clock=s.clock, dns=s.dns, max_attempts=200) for _ in range(2)
    ]
    for round_ in range(ROUNDS):
        external = f"ext-{round_}"
        outcomes = _racing(
            *(
                functools.partial(
                    svc.provision_member,
                    s.org_id,
                    f"u-{round_}-{i}",
                    f"u-{round_}-{i}@else.example",
                    external_id=external,
                )
                for i, svc in enumerate(services)
            )
        )
        won = [o for o in outcomes if isinstance(o, DirectoryResult)]
        lost = [o for o in outcomes if isinstance(o, AlreadyExists)]
        assert (len(won), len(lost)) == (1, 1), outcomes
        winner = won[0].membership.user_id
        loser = next(f"u-{round_}-{i}" for i in range(2) if f"u-{round_}-{i}" != winner)
        with s.store.unit_of_work() as uow:
            holder = uow.memberships.link_by_external_id(s.org_id, external)
            assert holder is not None
            assert holder.user_id == winner
            assert uow.memberships.get(s.org_id, loser) is None


def test_a_deactivation_racing_the_members_spends_leaves_the_ledger_whole(
    server_backend: Backend,
) -> None:
    """A spend and a capture race the deactivation; the removed member keeps nothing and
    every credit is accounted for."""
    s = enterprise(store=server_backend.store(), members=1, allowance=100_000)
    service = EnterpriseService(s.store, clock=s.clock, dns=s.dns, max_attempts=200)
    org, member = s.org_id, s.members[0]
    for round_ in range(ROUNDS):
        service.reactivate_member(org, member)
        service.allocate_credits(s.admin, org, member, 5 * AMOUNT)
        hold = service.reserve(member, org, AMOUNT, generation_id=f"hold-{round_}")
        deactivated, spent, captured = _racing(
            functools.partial(service.deactivate_member, org, member),
            functools.partial(service.spend, member, org, AMOUNT, generation_id=f"spend-{round_}"),
            functools.partial(service.capture_hold, member, org, hold.id),
        )
        assert isinstance(deactivated, DirectoryResult), deactivated
        assert deactivated.changed
        assert not isinstance(spent, Exception) or isinstance(spent, OrganisationNotFound)
        assert not isinstance(captured, Exception), repr(captured)
        with s.store.unit_of_work() as uow:
            accounts = uow.ledger.accounts(org)
            transfers = uow.ledger.transfers(org)
            account = uow.ledger.get_account(org, member_account(member))
        assert account is not None
        assert account.available == 0
        assert [(a.code, a.available) for a in accounts if a.closed and a.available] == []
        assert reconcile(accounts, transfers) == []
