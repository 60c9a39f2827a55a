"""The read side: the profile view's flatness in history, and the dashboard's member table.

* ``profile``: two members of one organisation, with about 1,000 and 1,000,000 transfers of
  history (``--history``) over twelve periods, eleven of them closed (``--closed-periods``).
  Their profile views run in shuffled rounds; the figure that matters is the per-round ratio
  of the longest history's time to the shortest's (target: at most :data:`PROFILE_TARGET`).
* ``dashboard``: an organisation of 10,000 members (``--dashboard-members``) with eleven closed
  periods of history (``--closed-periods``).  One page of 50 for every sort key the dashboard offers
  (:data:`~armox_enterprise.ports.MemberSort`), in both directions, first page and last page,
  in shuffled rounds; each case's time is divided, per round, by the first page by name.

Histories are built as :mod:`armox_bench.history` describes (in bulk on the SQL store).
"""

from __future__ import annotations

import argparse
import contextlib
import random
from collections.abc import Callable
from typing import Any, get_args

from armox_bench.harness import BACKENDS, Options, Row, Setup, Stat, benchmark, interleaved, ratios
from armox_bench.history import ADMIN, Organisation, organisation
from armox_bench.scratch import Target, backends, scratch
from armox_enterprise.ports import MemberSort

__all__ = ["PROFILE_TARGET"]

#: The profile view of the longest history may take at most this many times the shortest's.
PROFILE_TARGET = 1.1
_PAGE = 50


def _repeat(call: Callable[[], object], calls: int) -> Setup:
    def work() -> None:
        for _ in range(calls):
            call()

    return lambda: work


def _statements(org: Organisation, call: Callable[[], object]) -> int | None:
    """How many statements one ``call`` sends on the SQL store (``None`` on the memory store)."""
    if org.engine is None:
        return None
    from sqlalchemy import event

    seen = [0]

    def record(*_: Any) -> None:
        seen[0] += 1

    event.listen(org.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(org.engine, "before_cursor_execute", record)
    return seen[0]


@contextlib.contextmanager
def _store_for(options: Options, backend: str, purpose: str) -> Any:
    if backend == "memory":
        yield None
    else:
        with scratch(options, backend, purpose) as target:
            yield target


def _built_profile_history(
    backend: str, target: Target | None, sizes: list[int], current: int
) -> Organisation:
    org = organisation(backend, target, current)
    users = [f"history-{i}" for i in range(len(sizes))]
    org.add_members([(u, f"History {n:,}") for u, n in zip(users, sizes, strict=True)])
    periods = current + 1
    per = {u: max(1, n // periods - 1) for u, n in zip(users, sizes, strict=True)}
    for index in range(periods):
        # Each closed period's allocation is spent in full; the current one keeps 500.
        extra = 500 if index == current else 0
        org.period(index, {u: per[u] + extra for u in users}, {u: [1] * per[u] for u in users})
    org.finish()
    org.check(users)
    return org


@benchmark(
    "profile",
    "service.profile() for a member with ~1,000 and one with ~1,000,000 transfers, paired "
    f"in shuffled rounds (target: at most {PROFILE_TARGET}x); memory, SQLite, PostgreSQL, "
    "MariaDB",
)
def profile(options: Options) -> list[Row]:
    """Per backend: build both histories, then ``--profile-calls`` views per case and round."""
    sizes: list[int] = sorted(options.history)
    calls: int = options.profile_calls
    rows: list[Row] = []
    for backend in backends(options, BACKENDS):
        with _store_for(options, backend, "profile") as target:
            org = _built_profile_history(backend, target, sizes, options.closed_periods)
            try:
                view = org.service.profile
                cases: dict[str, Setup] = {}
                users = [f"history-{i}" for i in range(len(sizes))]
                names = []
                for user in users:
                    section = view(user).credits
                    assert section is not None
                    transfers = (org.current + 1) * (section.allocated - 500 + 1)
                    name = f"{backend}: profile, {transfers:,} transfers"
                    names.append(name)
                    cases[name] = _repeat(_profile_of(org, user), calls)
                statements = [_statements(org, _profile_of(org, user)) for user in users]
                seconds = interleaved(cases, options.rounds, random.Random(options.seed))
            finally:
                org.dispose()
        smallest = seconds[names[0]]
        for name, count in zip(names, statements, strict=True):
            per_round = ratios(seconds[name], smallest)
            ratio = Stat.of(per_round, 3)
            rows.append(
                {
                    "case": name,
                    "ms/view": Stat.of((s / calls * 1e3 for s in seconds[name]), 3),
                    "statements": count,
                    "vs smallest": ratio,
                    "meets target": None if name == names[0] else ratio.median <= PROFILE_TARGET,
                    "org transfers": org.transfers,
                }
            )
    return rows


def _profile_of(org: Organisation, user: str) -> Callable[[], object]:
    view = org.service.profile

    def call() -> object:
        return view(user)

    return call


_FIRST = ["ana", "Bruno", "chloé", "Dmitri", "eve", "Fatima", "gus", "Hana", "Ivo", "jun"]
_LAST = ["Silva", "müller", "O'Brien", "nguyen", "Kowalski", "van Dijk", "Åberg", "lee"]


def _built_dashboard_history(
    backend: str, target: Target, members: int, current: int
) -> Organisation:
    """``members`` members; ``current`` closed periods of 3 credits allocated and spent one at a
    time; this period an allocation of 100 to 999, up to four spends, and a few holds and
    pending requests."""
    org = organisation(backend, target, current)
    people = [
        (f"m{i:05d}", f"{_FIRST[i % 10]} {_LAST[i * 7 % 8]} {i}") for i in range(1, members + 1)
    ]
    org.add_members(people)
    users = [user for user, _ in people]
    for index in range(current):
        org.period(index, dict.fromkeys(users, 3), {u: [1, 1, 1] for u in users})
    org.period(
        current,
        {u: 100 + i * 37 % 900 for i, u in enumerate(users, 1)},
        {u: [i * 13 % 20 + 1] * (i % 5) for i, u in enumerate(users, 1)},
    )
    org.finish()
    service = org.service
    for i in range(1, min(members, 200) + 1, 10):
        service.reserve(f"m{i:05d}", org.org_id, 7, generation_id=f"hold-{i}")
    for i in range(5, min(members, 200) + 1, 20):
        service.request_credits(f"m{i:05d}", org.org_id, 50)
    org.check(users[:: max(1, members // 10)])
    # The member table agrees with each member's profile.
    page = service.dashboard(ADMIN, org.org_id, sort="used", descending=True, limit=_PAGE)
    if page.total_members != members + 1:
        raise RuntimeError(f"{page.total_members} members listed, not {members + 1}")
    for row in page.members[:10]:
        section = service.profile(row.user_id).credits
        if section is not None and (row.used, row.remaining) != (
            section.used,
            section.remaining,
        ):
            raise RuntimeError(f"the member table and the profile of {row.user_id} disagree")
    return org


@benchmark(
    "dashboard",
    "service.dashboard(): a page of 50 of 10,000 members for every sort key, both directions, "
    "first and last page, each against the first page by name in the same round; SQLite, "
    "PostgreSQL, MariaDB",
)
def dashboard(options: Options) -> list[Row]:
    """Per backend: build the organisation, then ``--dashboard-calls`` pages per case and
    round."""
    members: int = options.dashboard_members
    calls: int = options.dashboard_calls
    rows: list[Row] = []
    for backend in backends(options, ("sqlite", "postgresql", "mariadb")):
        with scratch(options, backend, "dashboard") as target:
            org = _built_dashboard_history(backend, target, members, options.closed_periods)
            try:
                last = members + 1 - _PAGE
                cases: dict[str, Setup] = {}
                pages: dict[str, dict[str, Any]] = {}
                for sort in get_args(MemberSort):
                    for descending in (False, True):
                        for where, offset in (("first", 0), ("last", last)):
                            name = f"{sort} {'desc' if descending else 'asc'}, {where} page"
                            page = {"sort": sort, "descending": descending, "offset": offset}
                            pages[name] = page
                            cases[name] = _repeat(_page(org, page), calls)
                statements = {name: _statements(org, _page(org, p)) for name, p in pages.items()}
                seconds = interleaved(cases, options.rounds, random.Random(options.seed))
            finally:
                org.dispose()
        by_name = seconds["name asc, first page"]
        for name, times in seconds.items():
            rows.append(
                {
                    "case": f"{backend}: {name}",
                    "ms/page": Stat.of((s / calls * 1e3 for s in times), 2),
                    "vs name asc, first": Stat.of(ratios(times, by_name), 2),
                    "statements": statements[name],
                }
            )
    return rows


def _page(org: Organisation, page: dict[str, Any]) -> Callable[[], object]:
    dashboard = org.service.dashboard
    org_id = org.org_id

    def call() -> object:
        return dashboard(ADMIN, org_id, limit=_PAGE, **page)

    return call


def _on_postgresql(run: Callable[[Options], list[Row]]) -> Callable[[Options], list[Row]]:
    def on_postgresql(options: Options) -> list[Row]:
        return run(argparse.Namespace(**{**vars(options), "only": ("postgresql",)}))

    return on_postgresql


# The names the views page's command uses.
benchmark("pg-profile", "profile, on PostgreSQL only", default=False)(_on_postgresql(profile))
benchmark("pg-dashboard", "dashboard, on PostgreSQL only", default=False)(_on_postgresql(dashboard))
