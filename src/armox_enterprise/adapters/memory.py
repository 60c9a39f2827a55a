"""A real, thread-safe, in-memory store.

It is not a mock: it keeps every promise of :mod:`armox_enterprise.ports` and raises the same
errors as the SQL adapter, so policies and host code can be tested against it in microseconds.
Units of work are serialised by one re-entrant lock held from ``__enter__`` to ``__exit__``;
every write is journalled, and a unit of work that does not commit is undone in reverse order.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, TypeVar

import attrs
from typing_extensions import Self

from armox_enterprise.domain.events import Event
from armox_enterprise.domain.ledger import (
    Account,
    Hold,
    HoldStatus,
    Transfer,
    TransferKind,
    apply_transfer,
    member_account,
    member_of,
)
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinRequest,
    JoinRequestStatus,
    Membership,
    Organisation,
)
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.values import DomainName, EmailAddress, ensure_utc
from armox_enterprise.exceptions import (
    AlreadyMember,
    DomainAlreadyClaimed,
    DuplicateIdempotencyKey,
    HoldAlreadyResolved,
    InvalidInput,
    InvalidTransition,
    NotFound,
    StorageError,
)
from armox_enterprise.ports import (
    IdempotencyRecord,
    MemberFigures,
    MemberSort,
    PeriodTotals,
    StoredEvent,
    UsageGrouping,
    UsageRow,
)

__all__ = ["MemoryStore", "MemoryUnitOfWork"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class MemoryStore:
    """Keeps every record in dictionaries; share one instance between threads freely.

    Attributes:
        outbox: the events of every committed unit of work, in commit order.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.organisations: dict[str, Organisation] = {}
        self.memberships: dict[tuple[str, str], Membership] = {}
        self.active_member_of: dict[str, str] = {}
        self.domains: dict[str, DomainClaim] = {}
        self.invitations: dict[tuple[str, str], Invitation] = {}
        self.join_requests: dict[tuple[str, str], JoinRequest] = {}
        self.accounts: dict[tuple[str, str], Account] = {}
        self.transfers: dict[str, list[Transfer]] = defaultdict(list)
        self.transfers_by_id: dict[tuple[str, str], Transfer] = {}
        self.transfers_by_key: dict[tuple[str, str], Transfer] = {}
        self.totals: dict[tuple[str, str, int], PeriodTotals] = {}
        self.holds: dict[tuple[str, str], Hold] = {}
        self.requests: dict[tuple[str, str], CreditRequest] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.outbox: list[Event] = []
        self.stored_events: dict[str, list[StoredEvent]] = defaultdict(list)
        self.published: dict[str, datetime] = {}
        # Per-organisation views of the records above, so lists scan one organisation only.
        self.by_org: dict[str, dict[str, dict[tuple[str, str], object]]] = defaultdict(
            lambda: defaultdict(dict)
        )

    def unit_of_work(self) -> MemoryUnitOfWork:
        """Return a new unit of work on this store."""
        return MemoryUnitOfWork(self)


class _Journal:
    """Writes to the store's dictionaries, remembering how to undo each one."""

    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def set(self, mapping: MutableMapping[_K, _V], key: _K, value: _V) -> None:
        if key in mapping:
            old = mapping[key]
            self.undo.append(lambda: mapping.__setitem__(key, old))
        else:
            self.undo.append(lambda: mapping.__delitem__(key))
        mapping[key] = value

    def delete(self, mapping: MutableMapping[_K, _V], key: _K) -> None:
        if key in mapping:
            old = mapping.pop(key)
            self.undo.append(lambda: mapping.__setitem__(key, old))

    def append(self, items: list[_V], item: _V) -> None:
        items.append(item)
        self.undo.append(lambda: items.__delitem__(-1))

    def rollback(self) -> None:
        while self.undo:
            self.undo.pop()()


class _Repository:
    def __init__(self, store: MemoryStore, journal: _Journal) -> None:
        self._s = store
        self._j = journal

    def _put(
        self,
        kind: str,
        mapping: MutableMapping[tuple[str, str], _V],
        key: tuple[str, str],
        value: _V,
    ) -> None:
        self._j.set(mapping, key, value)
        self._j.set(self._s.by_org[key[0]][kind], key, value)

    def _of(self, kind: str, organisation_id: str) -> list[Any]:
        return list(self._s.by_org[organisation_id][kind].values())


class _Organisations(_Repository):
    def add(self, organisation: Organisation) -> None:
        if organisation.id in self._s.organisations:
            raise StorageError(f"organisation {organisation.id} already exists")
        self._j.set(self._s.organisations, organisation.id, organisation)

    def get(self, organisation_id: str, *, for_update: bool = False) -> Organisation | None:
        return self._s.organisations.get(organisation_id)

    def update(self, organisation: Organisation) -> None:
        if organisation.id not in self._s.organisations:
            raise NotFound(f"organisation {organisation.id} does not exist")
        self._j.set(self._s.organisations, organisation.id, organisation)

    def all_ids(self) -> list[str]:
        return sorted(self._s.organisations)

    def due_for_turnover(self, instant: datetime) -> list[str]:
        return sorted(
            org.id for org in self._s.organisations.values() if org.current_period.end <= instant
        )


class _Memberships(_Repository):
    def add(self, membership: Membership) -> None:
        holder = self._s.active_member_of.get(membership.user_id)
        if holder is not None:
            raise AlreadyMember(f"user {membership.user_id} is already an enterprise member")
        key = (membership.organisation_id, membership.user_id)
        if key in self._s.memberships:
            raise AlreadyMember(f"user {membership.user_id} already has a membership here")
        self._put("memberships", self._s.memberships, key, membership)
        if membership.is_active:
            self._j.set(self._s.active_member_of, membership.user_id, membership.organisation_id)

    def get(self, organisation_id: str, user_id: str) -> Membership | None:
        return self._s.memberships.get((organisation_id, user_id))

    def active_for_user(self, user_id: str) -> Membership | None:
        org_id = self._s.active_member_of.get(user_id)
        return None if org_id is None else self._s.memberships[(org_id, user_id)]

    def update(self, membership: Membership) -> None:
        key = (membership.organisation_id, membership.user_id)
        if key not in self._s.memberships:
            raise NotFound(f"user {membership.user_id} has no membership to update")
        self._put("memberships", self._s.memberships, key, membership)
        if membership.is_active:
            self._j.set(self._s.active_member_of, membership.user_id, membership.organisation_id)
        elif self._s.active_member_of.get(membership.user_id) == membership.organisation_id:
            self._j.delete(self._s.active_member_of, membership.user_id)

    def list(self, organisation_id: str, *, active_only: bool = True) -> list[Membership]:
        found = [
            m for m in self._of("memberships", organisation_id) if m.is_active or not active_only
        ]
        return sorted(found, key=lambda m: (m.joined_at, m.user_id))

    def count_active(self, organisation_id: str, *, admins_only: bool = False) -> int:
        return sum(1 for m in self.list(organisation_id) if not admins_only or m.is_admin)


class _Domains(_Repository):
    def add(self, claim: DomainClaim) -> None:
        if claim.domain.value in self._s.domains:
            raise DomainAlreadyClaimed(f"{claim.domain} is already claimed")
        self._j.set(self._s.domains, claim.domain.value, claim)

    def get(self, domain: DomainName) -> DomainClaim | None:
        return self._s.domains.get(domain.value)

    def update(self, claim: DomainClaim) -> None:
        self._j.set(self._s.domains, claim.domain.value, claim)

    def remove(self, domain: DomainName) -> None:
        self._j.delete(self._s.domains, domain.value)

    def list(self, organisation_id: str) -> list[DomainClaim]:
        return sorted(
            (c for c in self._s.domains.values() if c.organisation_id == organisation_id),
            key=lambda c: c.domain.value,
        )


class _Invitations(_Repository):
    def put(self, invitation: Invitation) -> None:
        key = (invitation.organisation_id, str(invitation.email).lower())
        self._j.set(self._s.invitations, key, invitation)

    def open_for(self, email: EmailAddress) -> list[Invitation]:
        wanted = str(email).lower()
        found = [
            inv
            for (_, address), inv in self._s.invitations.items()
            if address == wanted and inv.accepted_at is None
        ]
        return sorted(found, key=lambda i: i.created_at)

    def list(self, organisation_id: str) -> list[Invitation]:
        return sorted(
            (i for (org, _), i in self._s.invitations.items() if org == organisation_id),
            key=lambda i: i.created_at,
        )


class _JoinRequests(_Repository):
    def add(self, request: JoinRequest) -> None:
        self._put(
            "join_requests", self._s.join_requests, (request.organisation_id, request.id), request
        )

    def get(self, organisation_id: str, request_id: str) -> JoinRequest | None:
        return self._s.join_requests.get((organisation_id, request_id))

    def pending_for_user(self, user_id: str) -> JoinRequest | None:
        for request in self._s.join_requests.values():
            if request.user_id == user_id and request.status is JoinRequestStatus.PENDING:
                return request
        return None

    def update(self, request: JoinRequest) -> None:
        key = (request.organisation_id, request.id)
        stored = self._s.join_requests.get(key)
        if stored is None or stored.status is not JoinRequestStatus.PENDING:
            raise InvalidTransition(f"join request {request.id} is no longer pending")
        self._put("join_requests", self._s.join_requests, key, request)

    def list_pending(self, organisation_id: str) -> list[JoinRequest]:
        return sorted(
            (
                r
                for r in self._of("join_requests", organisation_id)
                if r.status is JoinRequestStatus.PENDING
            ),
            key=lambda r: (r.created_at, r.id),
        )


class _Ledger(_Repository):
    def open_account(self, account: Account) -> None:
        key = (account.organisation_id, account.code)
        if key not in self._s.accounts:
            self._j.set(self._s.accounts, key, account)

    def get_account(
        self, organisation_id: str, code: str, *, for_update: bool = False
    ) -> Account | None:
        return self._s.accounts.get((organisation_id, code))

    def accounts(self, organisation_id: str) -> list[Account]:
        return sorted(
            (a for (org, _), a in self._s.accounts.items() if org == organisation_id),
            key=lambda a: a.code,
        )

    def post(self, transfer: Transfer) -> None:
        org = transfer.organisation_id
        debit = self._s.accounts.get((org, transfer.debit_account))
        credit = self._s.accounts.get((org, transfer.credit_account))
        if debit is None or credit is None:
            missing = transfer.debit_account if debit is None else transfer.credit_account
            raise NotFound(f"account {missing} does not exist in organisation {org}")
        if (org, transfer.id) in self._s.transfers_by_id:
            raise StorageError(f"transfer {transfer.id} already exists")
        key = transfer.idempotency_key
        if key is not None and (org, key) in self._s.transfers_by_key:
            raise DuplicateIdempotencyKey(f"generation id {key!r} was already used")
        new_debit, new_credit = apply_transfer(debit, credit, transfer)
        self._j.set(self._s.accounts, (org, debit.code), new_debit)
        self._j.set(self._s.accounts, (org, credit.code), new_credit)
        self._j.append(self._s.transfers[org], transfer)
        self._j.set(self._s.transfers_by_id, (org, transfer.id), transfer)
        if key is not None:
            self._j.set(self._s.transfers_by_key, (org, key), transfer)
        self._count(transfer, transfer.debit_account, credit_side=False)
        if transfer.kind.posts:
            self._count(transfer, transfer.credit_account, credit_side=True)

    def _count(self, transfer: Transfer, code: str, *, credit_side: bool) -> None:
        key = (transfer.organisation_id, code, transfer.period_index)
        totals = self._s.totals.get(key) or PeriodTotals()
        side = dict(totals.credits if credit_side else totals.debits)
        side[transfer.kind] = side.get(transfer.kind, 0) + transfer.amount
        if credit_side:
            totals = attrs.evolve(totals, credits=side, last_activity=transfer.created_at)
        else:
            totals = attrs.evolve(totals, debits=side, last_activity=transfer.created_at)
        self._j.set(self._s.totals, key, totals)

    def get_transfer(self, organisation_id: str, transfer_id: str) -> Transfer | None:
        return self._s.transfers_by_id.get((organisation_id, transfer_id))

    def transfer_by_key(self, organisation_id: str, key: str) -> Transfer | None:
        return self._s.transfers_by_key.get((organisation_id, key))

    def set_closed(self, organisation_id: str, code: str, closed: bool) -> None:
        account = self._s.accounts.get((organisation_id, code))
        if account is None:
            raise NotFound(f"account {code} does not exist in organisation {organisation_id}")
        self._j.set(self._s.accounts, (organisation_id, code), attrs.evolve(account, closed=closed))

    def seal_period(self, organisation_id: str, period_index: int) -> None:
        """Nothing to settle: the memory store keeps every period's totals the same way."""

    def transfers(
        self,
        organisation_id: str,
        *,
        account: str | None = None,
        period_index: int | None = None,
        kinds: Sequence[TransferKind] | None = None,
        reference: str | None = None,
    ) -> list[Transfer]:
        return [
            t
            for t in self._s.transfers.get(organisation_id, ())
            if (account is None or account in (t.debit_account, t.credit_account))
            and (period_index is None or t.period_index == period_index)
            and (kinds is None or t.kind in kinds)
            and (reference is None or t.reference == reference)
        ]

    def period_totals(self, organisation_id: str, account: str, period_index: int) -> PeriodTotals:
        return self._s.totals.get((organisation_id, account, period_index)) or PeriodTotals()


class _Holds(_Repository):
    def add(self, hold: Hold) -> None:
        if (hold.organisation_id, hold.id) in self._s.holds:
            raise StorageError(f"hold {hold.id} already exists")
        self._put("holds", self._s.holds, (hold.organisation_id, hold.id), hold)

    def get(self, organisation_id: str, hold_id: str) -> Hold | None:
        return self._s.holds.get((organisation_id, hold_id))

    def resolve(self, hold: Hold) -> None:
        key = (hold.organisation_id, hold.id)
        stored = self._s.holds.get(key)
        if stored is None:
            raise NotFound(f"hold {hold.id} does not exist")
        if stored.status is not HoldStatus.PENDING:
            raise HoldAlreadyResolved(f"hold {hold.id} is already {stored.status.value}")
        self._put("holds", self._s.holds, key, hold)

    def pending(
        self,
        organisation_id: str,
        *,
        user_id: str | None = None,
        expiring_before: datetime | None = None,
    ) -> list[Hold]:
        found = [
            h
            for h in self._of("holds", organisation_id)
            if h.status is HoldStatus.PENDING
            and (user_id is None or h.user_id == user_id)
            and (expiring_before is None or h.expires_at <= expiring_before)
        ]
        return sorted(found, key=lambda h: (h.created_at, h.id))


class _Requests(_Repository):
    def add(self, request: CreditRequest) -> None:
        self._put("requests", self._s.requests, (request.organisation_id, request.id), request)

    def get(self, organisation_id: str, request_id: str) -> CreditRequest | None:
        return self._s.requests.get((organisation_id, request_id))

    def decide(self, request: CreditRequest) -> None:
        key = (request.organisation_id, request.id)
        stored = self._s.requests.get(key)
        if stored is None:
            raise NotFound(f"credit request {request.id} does not exist")
        if stored.status is not RequestStatus.PENDING:
            raise InvalidTransition(f"credit request {request.id} is already {stored.status.value}")
        self._put("requests", self._s.requests, key, request)

    def list(
        self,
        organisation_id: str,
        *,
        status: RequestStatus | None = None,
        user_id: str | None = None,
        period_index: int | None = None,
    ) -> list[CreditRequest]:
        found = [
            r
            for r in self._of("requests", organisation_id)
            if (status is None or r.status is status)
            and (user_id is None or r.user_id == user_id)
            and (period_index is None or r.period_index == period_index)
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))


class _Idempotency(_Repository):
    def get(self, organisation_id: str, key: str) -> IdempotencyRecord | None:
        return self._s.idempotency.get((organisation_id, key))

    def add(self, record: IdempotencyRecord) -> None:
        key = (record.organisation_id, record.key)
        if key in self._s.idempotency:
            raise DuplicateIdempotencyKey(f"idempotency key {record.key!r} was already used")
        self._j.set(self._s.idempotency, key, record)


class _Events(_Repository):
    def _with_state(self, event: StoredEvent) -> StoredEvent:
        published = self._s.published.get(event.id)
        return event if published is None else attrs.evolve(event, published_at=published)

    def claim(self, *, limit: int) -> list[StoredEvent]:
        claimed: list[StoredEvent] = []
        for organisation_id in sorted(self._s.stored_events):
            for event in self._s.stored_events[organisation_id]:
                if len(claimed) >= limit:
                    return claimed
                if event.id not in self._s.published:
                    claimed.append(event)
        return claimed

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        for event_id in event_ids:
            self._j.set(self._s.published, event_id, at)

    def list(
        self,
        organisation_id: str,
        *,
        names: Sequence[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> list[StoredEvent]:
        found = [
            e
            for e in self._s.stored_events.get(organisation_id, ())
            if (names is None or e.name in names)
            and (actor is None or e.actor == actor)
            and (since is None or e.occurred_at >= since)
            and (until is None or e.occurred_at < until)
        ]
        found.sort(key=lambda e: (e.occurred_at, e.id), reverse=True)
        return [self._with_state(e) for e in found[offset : offset + limit]]


_ALLOCATING = (TransferKind.ALLOCATE, TransferKind.ALLOT, TransferKind.APPROVE)
_SPENDING = (TransferKind.SPEND, TransferKind.CAPTURE)
_NEVER = datetime.min.replace(tzinfo=timezone.utc)


def _figures(
    membership: Membership, account: Account | None, totals: PeriodTotals
) -> MemberFigures:
    used = totals.debited(*_SPENDING) - totals.credited(TransferKind.REFUND)
    return MemberFigures(
        membership=membership,
        allocated=totals.credited(*_ALLOCATING),
        used=max(0, used),
        remaining=0 if account is None else account.available,
        on_hold=0 if account is None else account.debits_pending,
        last_activity=totals.last_activity,
    )


def _member_order(sort: MemberSort) -> Callable[[MemberFigures], tuple[Any, ...]]:
    if sort == "name":
        return lambda f: (f.membership.display_name.casefold(), f.membership.user_id)
    if sort == "last_activity":
        # Members without activity come first ascending (False sorts before True).
        return lambda f: (
            f.last_activity is not None,
            f.last_activity or _NEVER,
            f.membership.user_id,
        )
    return lambda f: (getattr(f, sort), f.membership.user_id)


class _Views(_Repository):
    def member_page(
        self,
        organisation_id: str,
        period_index: int,
        *,
        sort: MemberSort,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[MemberFigures], int]:
        figures = []
        for membership in self._of("memberships", organisation_id):
            if not membership.is_active:
                continue
            code = member_account(membership.user_id)
            account = self._s.accounts.get((organisation_id, code))
            totals = self._s.totals.get((organisation_id, code, period_index)) or PeriodTotals()
            figures.append(_figures(membership, account, totals))
        figures.sort(key=_member_order(sort), reverse=descending)
        return figures[offset : offset + limit], len(figures)


_GROUPINGS = ("member", "feature", "model", "day", "week", "month")
_SPENT_KINDS = (TransferKind.SPEND, TransferKind.CAPTURE)


def _usage_key(by: UsageGrouping, member: str, transfer: Transfer) -> str:
    """The key a usage transfer counts under; ``member`` is the member's account code."""
    if by == "member":
        return member_of(member) or member
    if by == "feature":
        return transfer.feature or ""
    if by == "model":
        return transfer.model or ""
    day = ensure_utc(transfer.created_at).date()
    if by == "day":
        return day.isoformat()
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


class _Reports(_Repository):
    def usage(
        self,
        organisation_id: str,
        *,
        first_period: int,
        last_period: int,
        by: UsageGrouping,
        user_id: str | None = None,
    ) -> list[UsageRow]:
        if by not in _GROUPINGS:
            raise InvalidInput(f"unknown usage grouping {by!r}")
        wanted = None if user_id is None else member_account(user_id)
        sums: dict[str, tuple[int, int, int]] = {}
        for transfer in self._s.transfers.get(organisation_id, ()):
            if not first_period <= transfer.period_index <= last_period:
                continue
            # A refund gives a spend back to the member it credits, under the spend's tags.
            if transfer.kind in _SPENT_KINDS:
                member, spent, refunded, count = transfer.debit_account, transfer.amount, 0, 1
            elif transfer.kind is TransferKind.REFUND:
                member, spent, refunded, count = transfer.credit_account, 0, transfer.amount, 0
            else:
                continue
            if wanted is not None and member != wanted:
                continue
            key = _usage_key(by, member, transfer)
            old_spent, old_refunded, old_count = sums.get(key, (0, 0, 0))
            sums[key] = (old_spent + spent, old_refunded + refunded, old_count + count)
        return [UsageRow(key, *sums[key]) for key in sorted(sums)]

    def stream_transfers(
        self, organisation_id: str, *, first_period: int, last_period: int
    ) -> Iterator[Transfer]:
        # The transfers are in memory anyway: the copy holds references, not new records.
        found = [
            t
            for t in self._s.transfers.get(organisation_id, ())
            if first_period <= t.period_index <= last_period
        ]
        found.sort(key=lambda t: (t.created_at, t.id))
        yield from found


class MemoryUnitOfWork:
    """A unit of work on a :class:`MemoryStore`: exclusive while open, undone unless committed."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._journal = _Journal()
        self._events: list[Event] = []
        self._committed: list[Event] = []
        self._entered = False
        journal = self._journal
        self.events = _Events(store, journal)
        self.organisations = _Organisations(store, journal)
        self.memberships = _Memberships(store, journal)
        self.domains = _Domains(store, journal)
        self.invitations = _Invitations(store, journal)
        self.join_requests = _JoinRequests(store, journal)
        self.ledger = _Ledger(store, journal)
        self.holds = _Holds(store, journal)
        self.requests = _Requests(store, journal)
        self.idempotency = _Idempotency(store, journal)
        self.reports = _Reports(store, journal)
        self.views = _Views(store, journal)

    def __enter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a unit of work can be entered only once")
        self._store._lock.acquire()
        self._entered = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self._store._lock.release()

    def commit(self) -> None:
        """Keep every write made so far; later writes still need another commit."""
        self._require_open()
        self._journal.undo.clear()
        self._store.outbox.extend(self._events)
        for event in self._events:
            self._store.stored_events[event.organisation_id].append(StoredEvent.of(event))
        self._committed.extend(self._events)
        self._events.clear()

    def rollback(self) -> None:
        """Undo every write made since the last commit."""
        self._journal.rollback()
        self._events.clear()

    def record(self, event: Event) -> None:
        """Keep ``event`` with this unit of work's writes."""
        self._require_open()
        self._events.append(event)

    def collect_events(self) -> list[Event]:
        """Return and forget the events committed so far."""
        events, self._committed = self._committed, []
        return events

    def _require_open(self) -> None:
        if not self._entered:
            raise RuntimeError("use the unit of work as a context manager")
