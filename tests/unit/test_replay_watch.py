"""``watch_replays``: a host can tell a call made again from a first call."""

from __future__ import annotations

import threading

from armox_enterprise import watch_replays
from armox_enterprise.testing import Scenario, enterprise


def test_a_first_call_is_not_a_replay_and_the_same_call_again_is(acme: Scenario) -> None:
    """Same key, same parameters: the second call is a replay and changes nothing."""
    service, org = acme.service, acme.org_id
    with watch_replays() as first:
        made = service.top_up("admin", org, 5_000, idempotency_key="inv-1")
    with watch_replays() as again:
        replayed = service.top_up("admin", org, 5_000, idempotency_key="inv-1")
    assert (first.replayed, again.replayed, again.replays) == (False, True, 1)
    assert replayed == made


def test_spends_and_holds_replay_by_generation_id(acme: Scenario) -> None:
    """A spend's fast path is never a replay; the same generation id again is."""
    service, org = acme.service, acme.org_id
    with watch_replays() as watch:
        service.spend("member-1", org, 10, generation_id="g-1")
        service.reserve("member-1", org, 10, generation_id="g-2")
    assert watch.replays == 0
    with watch_replays() as watch:
        service.spend("member-1", org, 10, generation_id="g-1")
        service.reserve("member-1", org, 10, generation_id="g-2")
        service.spend("member-1", org, 10, generation_id="g-3")
    assert watch.replays == 2


def test_calls_without_a_key_and_reads_are_never_replays(acme: Scenario) -> None:
    """No caller's key: every call acts; reads count for nothing."""
    service, org = acme.service, acme.org_id
    with watch_replays() as watch:
        service.allocate_credits("admin", org, "member-1", 5)
        service.allocate_credits("admin", org, "member-1", 5)
        service.dashboard("admin", org)
    assert not watch.replayed


def test_a_watch_counts_its_own_thread_and_watches_nest(acme: Scenario) -> None:
    """Another thread's replays do not count; every service's in the block do."""
    other = enterprise(members=1)
    other.service.top_up("admin", other.org_id, 1, idempotency_key="k")
    acme.service.top_up("admin", acme.org_id, 1, idempotency_key="k")
    with watch_replays() as watch:
        thread = threading.Thread(
            target=lambda: acme.service.top_up("admin", acme.org_id, 1, idempotency_key="k")
        )
        thread.start()
        thread.join()
    assert not watch.replayed
    with watch_replays() as outer:
        other.service.top_up("admin", other.org_id, 1, idempotency_key="k")
        with watch_replays() as inner:
            acme.service.top_up("admin", acme.org_id, 1, idempotency_key="k")
    assert (outer.replays, inner.replays) == (2, 1)
