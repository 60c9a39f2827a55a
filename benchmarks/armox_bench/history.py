"""Organisations with a long history, on any store.

Building a million transfers through the service takes minutes on SQLite and longer on a
server, and a period turnover of 10,000 members costs minutes of its own, so on the SQL store
the history is written in bulk with SQL instead, through the library's own tables
(:mod:`armox_enterprise.adapters.sqlalchemy.tables`) and, wherever the library has one, its
own statement, laid out as the store keeps it:

* the organisation is created at the start of period 0 and the service's period job turns it
  over, with no members yet, to the current period (``--closed-periods``, 11 by default); the
  members are added after that, through the store's ports;
* each *closed* period is then written as the store leaves a period once it is sealed: its
  top-up and allocations as ``_post_any`` writes them (transfer rows, the accounts' cached
  totals, one ``period_totals`` row per side and kind, upserted with the library's
  ``upsert_add``, and a member's kept figures moved by the library's ``figures_update`` with
  ``figure_moves``), and its spends as transfer rows, the members' cached totals (``spent``
  and ``debits_posted``) and each member's sealed spend total in ``period_totals``;
* the *current* period's top-up is made through the service, its allocations as above, and
  its spends as transfer rows with each member's row moved by the library's own spend
  statement (``spend_statements(...).debit``), once per member, by the sum of its spends.

The effects are read from the domain's :data:`~armox_enterprise.domain.ledger.EFFECTS`.  On the
memory store everything goes through the service, period by period.  A run checks what it
built: the profile of each member against the plan and, up to :data:`RECONCILE_UP_TO`
transfers, the library's own ``reconcile`` (cached balances against the transfers).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from armox_bench.scratch import Target
from armox_enterprise import Account, EnterpriseService, Membership, MemoryStore, Role
from armox_enterprise.domain.ledger import (
    EFFECTS,
    GRANT,
    POOL,
    USAGE,
    AccountKind,
    Side,
    Transfer,
    TransferKind,
    account_kind,
    member_account,
)
from armox_enterprise.domain.periods import period_by_index
from armox_enterprise.domain.values import EmailAddress, new_id
from armox_enterprise.testing import FrozenClock

__all__ = ["ADMIN", "RECONCILE_UP_TO", "Organisation", "organisation"]

ADMIN = "admin"
ANCHOR = datetime(2025, 1, 15, 9, 0, tzinfo=timezone.utc)
#: The library's reconciliation reads every transfer: it runs on histories up to this size.
RECONCILE_UP_TO = 200_000
#: Rows per INSERT batch of the bulk loader.
_BATCH = 20_000
_TICK = timedelta(milliseconds=1)


@dataclass
class Organisation:
    """An organisation on a store whose clock is frozen, and what was planned for it.

    Attributes:
        backend: ``memory``, ``sqlite``, ``postgresql`` or ``mariadb``.
        current: the current period's index (periods ``0`` to ``current - 1`` have closed).
        service: the service on the store, with :attr:`clock`.
        engine: the SQL store's engine (``None`` on the memory store).
        transfers: how many transfers were written for the history.
        allocated: each member's allocation in the current period.
        spent: each member's spends in the current period.
    """

    backend: str
    store: Any
    service: EnterpriseService
    clock: FrozenClock
    org_id: str
    anchor: datetime
    current: int
    engine: Any = None
    transfers: int = 0
    allocated: dict[str, int] = field(default_factory=dict)
    spent: dict[str, int] = field(default_factory=dict)

    # -- building --------------------------------------------------------------

    def add_members(self, members: Sequence[tuple[str, str]]) -> None:
        """Add active members ``(user id, display name)`` and open their accounts, through the
        store's ports, in one unit of work."""
        with self.store.unit_of_work() as uow:
            for user, name in members:
                uow.memberships.add(
                    Membership(
                        organisation_id=self.org_id,
                        user_id=user,
                        email=EmailAddress.parse(f"{user}@bench.example"),
                        display_name=name,
                        role=Role.MEMBER,
                        joined_at=self.anchor,
                    )
                )
                uow.ledger.open_account(Account(self.org_id, member_account(user)))
            uow.commit()

    def period(
        self,
        index: int,
        allocations: Mapping[str, int],
        spends: Mapping[str, Sequence[int]],
    ) -> None:
        """Give period ``index`` (in order, up to :attr:`current`) a top-up of the
        allocations' total, the allocations, then each member's spends (amounts, in order)."""
        bounds = period_by_index(self.anchor, index)
        at = bounds.start + timedelta(minutes=30)
        if self.engine is None:
            self._through_service(index, allocations, spends, at)
        else:
            if index == self.current and allocations:
                self.clock.set(at - timedelta(minutes=10))
                self.service.top_up(ADMIN, self.org_id, sum(allocations.values()))
            with self.engine.begin() as connection:
                _Bulk(self, connection, index).write(allocations, spends, at)
        self.transfers += 1 + len(allocations) + sum(len(s) for s in spends.values())
        if index == self.current:
            self.allocated = {u: allocations.get(u, 0) for u in set(allocations) | set(spends)}
            self.spent = {u: sum(spends.get(u, ())) for u in self.allocated}

    def _through_service(
        self,
        index: int,
        allocations: Mapping[str, int],
        spends: Mapping[str, Sequence[int]],
        at: datetime,
    ) -> None:
        service, clock, org_id = self.service, self.clock, self.org_id
        clock.set(at - timedelta(minutes=10))
        if index > 0:
            service.close_due_periods()
        service.top_up(ADMIN, org_id, sum(allocations.values()))
        clock.set(at)
        for user, amount in allocations.items():
            service.allocate_credits(ADMIN, org_id, user, amount)
        clock.set(at + timedelta(minutes=30))
        tick = timedelta(microseconds=100)
        for user, amounts in spends.items():
            for i, amount in enumerate(amounts):
                clock.advance(tick)
                service.spend(user, org_id, amount, generation_id=f"h-{user}-{index}-{i}")

    def finish(self, now_after_start: timedelta = timedelta(days=5)) -> None:
        """Set the clock into the current period and bring the database's statistics up to
        date as the server would on its own (PostgreSQL's autovacuum, InnoDB's statistics)."""
        self.clock.set(period_by_index(self.anchor, self.current).start + now_after_start)
        if self.engine is None or self.backend == "sqlite":
            return  # SQLite keeps no statistics unless a host runs ANALYZE itself
        from sqlalchemy import text

        names = ("transfers", "accounts", "period_totals", "memberships", "events")
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in names:
                verb = "VACUUM ANALYZE" if self.backend == "postgresql" else "ANALYZE TABLE"
                conn.execute(text(f"{verb} armox_{name}"))

    # -- checking --------------------------------------------------------------

    def check(self, users: Sequence[str]) -> None:
        """Raise unless each of ``users``' profile shows what was planned, and (for a history
        of at most :data:`RECONCILE_UP_TO` transfers) the library's reconciliation is clean."""
        for user in users:
            section = self.service.profile(user).credits
            want = (self.allocated.get(user, 0), self.spent.get(user, 0))
            if section is None or (section.allocated, section.used) != want:
                got = None if section is None else (section.allocated, section.used)
                raise RuntimeError(f"{user}: profile shows {got}, the plan was {want}")
            if section.remaining + section.on_hold != want[0] - want[1]:
                left = want[0] - want[1]
                raise RuntimeError(f"{user}: {section.remaining} remaining, not {left}")
        if self.transfers <= RECONCILE_UP_TO:
            problems = self.service.reconcile(self.org_id)
            if problems:
                raise RuntimeError(f"the history does not reconcile: {problems[:3]}")

    def dispose(self) -> None:
        """Close the store's connections."""
        if self.engine is not None:
            self.engine.dispose()


def organisation(backend: str, target: Target | None, current: int) -> Organisation:
    """A new organisation (no allowance, default rollover) on a new store: the memory store
    (in period 0), or the library's tables created at ``target`` (turned over to the current
    period, with no members yet)."""
    if backend == "memory":
        store: Any = MemoryStore()
        engine = None
    else:
        from armox_enterprise.adapters.sqlalchemy import SqlAlchemyStore

        assert target is not None
        store = SqlAlchemyStore.from_url(target.url)
        store.create_schema()
        engine = store.engine
    clock = FrozenClock(ANCHOR)
    service = EnterpriseService(store, clock=clock)
    org = service.create_organisation(
        name="Bench Corp",
        admin_user_id=ADMIN,
        admin_email=f"{ADMIN}@bench.example",
        monthly_allowance=0,
    )
    if engine is not None:
        clock.set(period_by_index(org.cycle_anchor, current).start + timedelta(minutes=1))
        service.close_due_periods()
    return Organisation(backend, store, service, clock, org.id, org.cycle_anchor, current, engine)


def _moves(kind: TransferKind) -> tuple[int, int]:
    """How many times its amount ``kind`` adds to the debit row's ``debits_posted`` and the
    credit row's ``credits_posted`` (the only totals the loader's kinds move)."""
    effect = EFFECTS[kind]
    if effect.debit_pending:
        raise ValueError(f"the loader does not write {kind.value} transfers")
    return effect.debit_posted, effect.credit_posted


class _Bulk:
    """One period's transfers written in bulk, in one transaction."""

    def __init__(self, org: Organisation, connection: Any, period: int) -> None:
        from armox_enterprise.adapters.sqlalchemy import tables

        self.org = org
        self.connection = connection
        self.period = period
        self.tables = tables
        self.dialect: str = connection.dialect.name

    def write(
        self,
        allocations: Mapping[str, int],
        spends: Mapping[str, Sequence[int]],
        at: datetime,
    ) -> None:
        """The period's top-up (closed periods only: the current one's is the service's),
        allocations and spends."""
        total = sum(allocations.values())
        if total and self.period < self.org.current:
            self._post(TransferKind.TOP_UP, GRANT, {POOL: total}, at - timedelta(minutes=10))
        if allocations:
            self._post(TransferKind.ALLOCATE, POOL, _codes(allocations), at)
        if spends:
            self._spend(spends, at + timedelta(minutes=30))

    def _insert(self, table: Any, rows: Iterator[dict[str, Any]]) -> None:
        from sqlalchemy import insert

        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == _BATCH:
                self.connection.execute(insert(table), batch)
                batch = []
        if batch:
            self.connection.execute(insert(table), batch)

    def _transfer(self, **values: Any) -> dict[str, Any]:
        row = {
            "id": new_id(values["created_at"]),
            "organisation_id": self.org.org_id,
            "period_index": self.period,
            "idempotency_key": None,
            "reference": None,
            "feature": None,
            "model": None,
        }
        row.update(values)
        return row

    def _add_to(self, column: str, amounts: Mapping[str, int]) -> None:
        """``column += amount`` on each account row of ``amounts`` (code → amount): one
        statement per amount and thousand rows (a driver such as PyMySQL sends an
        ``executemany`` of UPDATEs one by one)."""
        from sqlalchemy import update

        accounts = self.tables.accounts
        by_amount: dict[int, list[str]] = {}
        for code, amount in amounts.items():
            by_amount.setdefault(amount, []).append(code)
        for amount, codes in by_amount.items():
            for start in range(0, len(codes), 1_000):
                self.connection.execute(
                    update(accounts)
                    .where(
                        accounts.c.organisation_id == self.org.org_id,
                        accounts.c.code.in_(codes[start : start + 1_000]),
                    )
                    .values({column: accounts.c[column] + amount})
                )

    def _count(
        self, side: Side, kind: TransferKind, amounts: Mapping[str, tuple[int, datetime]]
    ) -> None:
        """Add to the period's totals of each account (code → amount, last activity), as the
        library's ``upsert_add`` does."""
        from armox_enterprise.adapters.sqlalchemy.period_totals import upsert_add

        for code, (amount, last) in amounts.items():
            row = {
                "organisation_id": self.org.org_id,
                "account": code,
                "period_index": self.period,
                "side": side.value,
                "kind": kind.value,
                "amount": amount,
                "last_activity": last,
            }
            self.connection.execute(upsert_add(self.dialect, self.tables.period_totals, row))

    def _count_new(
        self, side: Side, kind: TransferKind, amounts: Mapping[str, tuple[int, datetime]]
    ) -> None:
        """Like :meth:`_count` for accounts with no total yet of the kind in the period (each
        member's: one allocation and one sealed spend total per period), in one batch."""
        self._insert(
            self.tables.period_totals,
            (
                {
                    "organisation_id": self.org.org_id,
                    "account": code,
                    "period_index": self.period,
                    "side": side.value,
                    "kind": kind.value,
                    "amount": amount,
                    "last_activity": last,
                }
                for code, (amount, last) in amounts.items()
            ),
        )

    def _post(
        self, kind: TransferKind, debit: str, credits: Mapping[str, int], at: datetime
    ) -> None:
        """One ``kind`` transfer from ``debit`` to each account of ``credits``, as
        ``_post_any`` posts it: both rows' totals, and both sides' period totals."""
        debit_times, credit_times = _moves(kind)
        times = {code: at + i * _TICK for i, code in enumerate(credits)}
        self._insert(
            self.tables.transfers,
            (
                self._transfer(
                    kind=kind.value,
                    debit_account=debit,
                    credit_account=code,
                    amount=amount,
                    actor=ADMIN,
                    created_at=times[code],
                )
                for code, amount in credits.items()
            ),
        )
        total = sum(credits.values())
        self._add_to("debits_posted", {debit: debit_times * total})
        self._add_to("credits_posted", {c: credit_times * a for c, a in credits.items()})
        self._count(Side.DEBIT, kind, {debit: (total, max(times.values()))})
        members = {c: (a, times[c]) for c, a in credits.items()}
        if len(credits) > 1:
            self._count_new(Side.CREDIT, kind, members)
        else:
            self._count(Side.CREDIT, kind, members)
        self._keep_figures(kind, members)

    def _keep_figures(
        self, kind: TransferKind, credited: Mapping[str, tuple[int, datetime]]
    ) -> None:
        """What the library keeps on a member's row for each transfer counted in its period
        totals (the dashboard's figures), by the library's own statement and rule."""
        from armox_enterprise.adapters.sqlalchemy import period_totals

        rows = [code for code in credited if account_kind(code) is AccountKind.MEMBER]
        if not rows:
            return
        statement = period_totals.figures_update(self.tables)
        moves = []
        for code in rows:
            amount, when = credited[code]
            probe = Transfer(
                id="bulk",
                organisation_id=self.org.org_id,
                kind=kind,
                debit_account=POOL,
                credit_account=code,
                amount=amount,
                period_index=self.period,
                actor=ADMIN,
                created_at=when,
            )
            allocated, used = period_totals.figure_moves(probe, Side.CREDIT)
            moves.append(
                {
                    "o": self.org.org_id,
                    "c": code,
                    "p": self.period,
                    "da": allocated,
                    "du": used,
                    "t": when,
                }
            )
        self.connection.execute(statement, moves)

    def _spend(self, spends: Mapping[str, Sequence[int]], at: datetime) -> None:
        """The spends' transfer rows, then the members' rows: for a closed period as sealed
        (``debits_posted`` and ``spent`` moved, the spend total in ``period_totals``), for the
        current one by the library's own spend statement, once per member."""
        last: dict[str, datetime] = {}
        counter = [0]

        def rows() -> Iterator[dict[str, Any]]:
            for user, amounts in spends.items():
                for amount in amounts:
                    counter[0] += 1
                    when = at + counter[0] * _TICK
                    key = f"h-{user}-{self.period}-{counter[0]}"
                    last[user] = when
                    yield self._transfer(
                        kind=TransferKind.SPEND.value,
                        debit_account=member_account(user),
                        credit_account=USAGE,
                        amount=amount,
                        actor=user,
                        created_at=when,
                        idempotency_key=key,
                        reference=key,
                        feature="image",
                        model="v2",
                    )

        self._insert(self.tables.transfers, rows())
        sums = {member_account(u): sum(a) for u, a in spends.items() if a}
        if self.period < self.org.current:
            debit_times, usage_times = _moves(TransferKind.SPEND)
            self._add_to("debits_posted", {c: debit_times * a for c, a in sums.items()})
            # The usage sink's credit is counted on the member's row.
            self._add_to("spent", {c: usage_times * a for c, a in sums.items()})
            sealed = {member_account(u): (sums[member_account(u)], last[u]) for u in last}
            self._count_new(Side.DEBIT, TransferKind.SPEND, sealed)
            return
        from armox_enterprise.adapters.sqlalchemy.postings import spend_statements

        debit = spend_statements(self.tables, self.dialect).debit
        moved = [
            {"o": self.org.org_id, "c": code, "a": sums[code], "p": self.period, "t": when}
            for code, when in ((member_account(u), at) for u, at in last.items())
        ]
        result = self.connection.execute(debit, moved)
        if result.rowcount not in (-1, len(moved)):
            short = len(moved) - result.rowcount
            raise RuntimeError(f"{short} members could not cover their spends")


def _codes(allocations: Mapping[str, int]) -> dict[str, int]:
    return {member_account(user): amount for user, amount in allocations.items()}
