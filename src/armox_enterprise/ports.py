"""The ports: what the service needs from storage, time and DNS, as ``typing.Protocol``\\ s.

A store hands out :class:`UnitOfWork` objects; each holds one repository per kind of record.
Everything read or written through one unit of work is one transaction: it becomes visible to
others only on :meth:`UnitOfWork.commit`, and leaving the ``with`` block without committing
discards it all.  Repositories raise the library's own errors (never a driver's), and every
check that guards an invariant against concurrent writers (no overdraft, one decision per
request or hold, unique idempotency keys, one claim per domain, one active membership per user)
is made atomically by the store, not by reading then writing in Python.

The conformance suite in :mod:`armox_enterprise.testing` proves a store keeps these promises.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Literal, Protocol

import attrs
from typing_extensions import Self

from armox_enterprise.domain.events import Event
from armox_enterprise.domain.ledger import Account, Hold, Transfer, TransferKind
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinRequest,
    Membership,
    Organisation,
)
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.usage import UsageGrouping
from armox_enterprise.domain.values import DomainName, EmailAddress, new_id

__all__ = [
    "Clock",
    "CreditRequestRepository",
    "DnsResolver",
    "DomainClaimRepository",
    "EventRepository",
    "HoldRepository",
    "IdempotencyRecord",
    "IdempotencyRepository",
    "InvitationRepository",
    "JoinRequestRepository",
    "Ledger",
    "MemberFigures",
    "MemberSort",
    "MembershipRepository",
    "OrganisationRepository",
    "PeriodTotals",
    "ReportRepository",
    "Store",
    "StoredEvent",
    "UnitOfWork",
    "UsageGrouping",
    "UsageRow",
    "ViewRepository",
]


class Clock(Protocol):
    """Tells the time; the service never reads the system clock directly."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
        ...


class DnsResolver(Protocol):
    """Looks up DNS TXT records, to verify that an organisation controls a domain."""

    def txt_records(self, domain: str) -> Sequence[str]:
        """Return the TXT strings published at ``domain`` (empty if none or not found)."""
        ...


@attrs.frozen
class IdempotencyRecord:
    """What a mutating call under an idempotency key did, so a replay can return it again.

    ``fingerprint`` identifies the call's parameters; ``result_ref`` the object it produced.
    """

    organisation_id: str
    key: str
    operation: str
    fingerprint: str
    result_ref: str
    created_at: datetime


@attrs.frozen
class PeriodTotals:
    """An account's movements in one billing period, summed by transfer kind."""

    credits: Mapping[TransferKind, int] = attrs.field(factory=dict)
    debits: Mapping[TransferKind, int] = attrs.field(factory=dict)
    last_activity: datetime | None = None

    def credited(self, *kinds: TransferKind) -> int:
        """Sum of the credits of the given kinds."""
        return sum(self.credits.get(k, 0) for k in kinds)

    def debited(self, *kinds: TransferKind) -> int:
        """Sum of the debits of the given kinds."""
        return sum(self.debits.get(k, 0) for k in kinds)


class OrganisationRepository(Protocol):
    """Stores organisations."""

    def add(self, organisation: Organisation) -> None:
        """Store a new organisation."""
        ...

    def get(self, organisation_id: str, *, for_update: bool = False) -> Organisation | None:
        """Return the organisation, or ``None``.

        With ``for_update`` the store locks it until the unit of work ends, so that two units
        of work turning the same period over run one after the other.
        """
        ...

    def update(self, organisation: Organisation) -> None:
        """Replace the stored organisation with the same id."""
        ...

    def due_for_turnover(self, instant: datetime) -> list[str]:
        """Return the ids of organisations whose current period ended at or before ``instant``."""
        ...

    def all_ids(self) -> list[str]:
        """Return the ids of every organisation, in id order."""
        ...


class MembershipRepository(Protocol):
    """Stores memberships, at most one per (organisation, user)."""

    def add(self, membership: Membership) -> None:
        """Store a new membership (bring a removed one back with :meth:`update`).

        Raises:
            AlreadyMember: the user already has an active membership (in any organisation),
                or a removed one in this organisation.
        """
        ...

    def get(self, organisation_id: str, user_id: str) -> Membership | None:
        """Return the user's membership in the organisation (active or removed), or ``None``."""
        ...

    def active_for_user(self, user_id: str) -> Membership | None:
        """Return the user's active membership, wherever it is, or ``None``."""
        ...

    def update(self, membership: Membership) -> None:
        """Replace the stored membership of the same organisation and user."""
        ...

    def list(self, organisation_id: str, *, active_only: bool = True) -> list[Membership]:
        """Return the organisation's memberships ordered by join time, then user id."""
        ...

    def count_active(self, organisation_id: str, *, admins_only: bool = False) -> int:
        """Return how many active members (or active admins) the organisation has."""
        ...


class DomainClaimRepository(Protocol):
    """Stores domain claims; a domain is claimed by at most one organisation."""

    def add(self, claim: DomainClaim) -> None:
        """Store a new claim.

        Raises:
            DomainAlreadyClaimed: an organisation already holds the domain.
        """
        ...

    def get(self, domain: DomainName) -> DomainClaim | None:
        """Return the claim on exactly ``domain``, or ``None``."""
        ...

    def update(self, claim: DomainClaim) -> None:
        """Replace the stored claim on the same domain."""
        ...

    def remove(self, domain: DomainName) -> None:
        """Delete the claim on ``domain`` (nothing if there is none)."""
        ...

    def list(self, organisation_id: str) -> list[DomainClaim]:
        """Return the organisation's claims ordered by domain."""
        ...


class InvitationRepository(Protocol):
    """Stores invitations, at most one per (organisation, email address)."""

    def put(self, invitation: Invitation) -> None:
        """Store the invitation, replacing one of the same organisation and address."""
        ...

    def open_for(self, email: EmailAddress) -> list[Invitation]:
        """Return the unaccepted invitations of ``email``, oldest first."""
        ...

    def list(self, organisation_id: str) -> list[Invitation]:
        """Return the organisation's invitations, oldest first."""
        ...


class JoinRequestRepository(Protocol):
    """Stores join requests."""

    def add(self, request: JoinRequest) -> None:
        """Store a new join request."""
        ...

    def get(self, organisation_id: str, request_id: str) -> JoinRequest | None:
        """Return the join request, or ``None``."""
        ...

    def pending_for_user(self, user_id: str) -> JoinRequest | None:
        """Return the user's pending join request, if any."""
        ...

    def update(self, request: JoinRequest) -> None:
        """Replace a pending join request.

        Raises:
            InvalidTransition: the stored request is no longer pending.
        """
        ...

    def list_pending(self, organisation_id: str) -> list[JoinRequest]:
        """Return the organisation's pending join requests, oldest first."""
        ...


class Ledger(Protocol):
    """Stores accounts and transfers and keeps the cached balances right."""

    def open_account(self, account: Account) -> None:
        """Create an account (with zero totals unless given), or do nothing if it exists."""
        ...

    def get_account(
        self, organisation_id: str, code: str, *, for_update: bool = False
    ) -> Account | None:
        """Return the account, or ``None``.

        With ``for_update`` the store locks the account until the unit of work ends, so an
        amount read from it can be posted without a concurrent spend changing it in between.
        """
        ...

    def accounts(self, organisation_id: str) -> list[Account]:
        """Return all of the organisation's accounts."""
        ...

    def set_closed(self, organisation_id: str, code: str, closed: bool) -> None:
        """Close an account to new spends and holds (its owner left), or reopen it."""
        ...

    def post(self, transfer: Transfer) -> None:
        """Record ``transfer`` and update both accounts' totals, atomically.

        The effect on the totals is :func:`armox_enterprise.domain.ledger.apply_transfer`'s.
        Spends and holds carry their generation id as ``idempotency_key``, unique in the
        organisation; other transfers carry none.

        Raises:
            InsufficientCredits: the debit account is guarded (pool or member) and has too
                little available; nothing is written and the unit of work stays usable (the
                service may try another posting in it).
            AccountClosed: a spend or hold from a closed account; nothing is written.
            DuplicateIdempotencyKey: the transfer's idempotency key is already used in the
                organisation (the unit of work may then be unusable: the service retries).
            NotFound: either account does not exist.
        """
        ...

    def transfer_by_key(self, organisation_id: str, key: str) -> Transfer | None:
        """Return the spend or hold recorded under the generation id ``key``, or ``None``."""
        ...

    def seal_period(self, organisation_id: str, period_index: int) -> None:
        """Say that no transfer will be posted in ``period_index`` any more (it has closed).

        A store that keeps its current period's totals in a faster form may settle them here;
        :meth:`period_totals` answers the same before and after.
        """
        ...

    def get_transfer(self, organisation_id: str, transfer_id: str) -> Transfer | None:
        """Return the transfer, or ``None``."""
        ...

    def transfers(
        self,
        organisation_id: str,
        *,
        account: str | None = None,
        period_index: int | None = None,
        kinds: Sequence[TransferKind] | None = None,
        reference: str | None = None,
    ) -> list[Transfer]:
        """Return the organisation's transfers matching every given filter, oldest first."""
        ...

    def period_totals(self, organisation_id: str, account: str, period_index: int) -> PeriodTotals:
        """Return what moved in and out of ``account`` during one period, by kind."""
        ...


class HoldRepository(Protocol):
    """Stores holds; a hold resolves at most once."""

    def add(self, hold: Hold) -> None:
        """Store a new pending hold."""
        ...

    def get(self, organisation_id: str, hold_id: str) -> Hold | None:
        """Return the hold, or ``None``."""
        ...

    def resolve(self, hold: Hold) -> None:
        """Store ``hold``'s resolution if the stored hold is still pending.

        Raises:
            HoldAlreadyResolved: the stored hold is no longer ``pending``.
        """
        ...

    def pending(
        self,
        organisation_id: str,
        *,
        user_id: str | None = None,
        expiring_before: datetime | None = None,
    ) -> list[Hold]:
        """Return pending holds matching the filters, oldest first."""
        ...


class CreditRequestRepository(Protocol):
    """Stores credit requests; only a pending request may change."""

    def add(self, request: CreditRequest) -> None:
        """Store a new pending request."""
        ...

    def get(self, organisation_id: str, request_id: str) -> CreditRequest | None:
        """Return the request, or ``None``."""
        ...

    def decide(self, request: CreditRequest) -> None:
        """Store ``request``'s new state if the stored request is still pending.

        Raises:
            InvalidTransition: the stored request is no longer pending (someone decided first).
        """
        ...

    def list(
        self,
        organisation_id: str,
        *,
        status: RequestStatus | None = None,
        user_id: str | None = None,
        period_index: int | None = None,
    ) -> list[CreditRequest]:
        """Return matching requests, oldest first."""
        ...


class IdempotencyRepository(Protocol):
    """Remembers what each idempotency key did, unique per organisation."""

    def get(self, organisation_id: str, key: str) -> IdempotencyRecord | None:
        """Return the record stored under ``key``, or ``None``."""
        ...

    def add(self, record: IdempotencyRecord) -> None:
        """Store a record.

        Raises:
            DuplicateIdempotencyKey: a record with the same organisation and key exists.
        """
        ...


MemberSort = Literal["name", "allocated", "used", "remaining", "last_activity"]


@attrs.frozen
class UsageRow:
    """Credits used, grouped by one key (a member, a tag, a day, a week or a month).

    Attributes:
        key: the user id, the tag's value (``""`` when untagged), or the UTC date as
            ``2026-01-15``, ISO week as ``2026-W03``, or month as ``2026-01``.
        spent: credits spent and captured.
        refunded: credits refunded of those spends.
        transfers: how many spends and captures.
    """

    key: str
    spent: int
    refunded: int
    transfers: int

    @property
    def net(self) -> int:
        """Spent less refunded."""
        return self.spent - self.refunded


@attrs.frozen
class MemberFigures:
    """One member's figures for one period, as the dashboard's member table shows them."""

    membership: Membership
    allocated: int
    used: int
    remaining: int
    on_hold: int
    last_activity: datetime | None


@attrs.frozen
class StoredEvent:
    """A domain event as the store keeps it: the outbox and the audit log.

    ``payload`` holds the event's own fields (JSON-compatible values); ``published_at`` is set
    once a relay handed the event to the host.
    """

    id: str
    organisation_id: str
    name: str
    actor: str
    occurred_at: datetime
    payload: Mapping[str, object]
    published_at: datetime | None = None

    @classmethod
    def of(cls, event: Event) -> StoredEvent:
        """Return ``event`` as it is stored, with a new time-ordered id."""
        fields = attrs.asdict(event, recurse=False)
        for common in ("organisation_id", "actor", "occurred_at"):
            fields.pop(common)
        return cls(
            id=new_id(event.occurred_at),
            organisation_id=event.organisation_id,
            name=event.name,
            actor=event.actor,
            occurred_at=event.occurred_at,
            payload=fields,
        )


class ReportRepository(Protocol):
    """Aggregates for usage analytics, computed by the store (in the database for SQL)."""

    def usage(
        self,
        organisation_id: str,
        *,
        first_period: int,
        last_period: int,
        by: UsageGrouping,
        user_id: str | None = None,
    ) -> list[UsageRow]:
        """Return credits used in periods ``first_period..last_period`` (inclusive) grouped
        ``by`` one key, ordered by key; only ``user_id``'s when given."""
        ...

    def stream_transfers(
        self, organisation_id: str, *, first_period: int, last_period: int
    ) -> Iterator[Transfer]:
        """Yield the transfers of the periods, oldest first, without holding them all in
        memory (the unit of work must stay open while the iterator is used)."""
        ...


class ViewRepository(Protocol):
    """Read models the store computes in bulk (the dashboard's member table)."""

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
        """Return one page of active members with their figures, and how many there are.

        ``name`` sorts by display name (case-insensitive), the others by that figure; ties
        break by user id.  Members without activity sort first ascending by
        ``last_activity``.  The cost must not grow with the organisation's history.
        """
        ...


class EventRepository(Protocol):
    """The stored events: an outbox for the relay, and the organisation's audit log.

    Events recorded in a unit of work are stored by :meth:`UnitOfWork.commit`, in the same
    transaction as the changes they describe.
    """

    def claim(self, *, limit: int) -> list[StoredEvent]:
        """Return up to ``limit`` unpublished events, oldest first within each organisation,
        of organisations no other unit of work is relaying now; they stay claimed (locked)
        until this unit of work ends."""
        ...

    def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        """Record that the events were handed to the host at ``at``."""
        ...

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
        """Return the organisation's events matching every filter, newest first
        (``since <= occurred_at < until``)."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; discarded unless committed.

    Use it as a context manager.  Events recorded with :meth:`record` are kept with the
    transaction and handed out by :meth:`collect_events` once it committed.  A unit of work
    that has committed or rolled back is finished: work after that needs a new one (the
    service never reuses one, and a store may refuse it).
    """

    @property
    def organisations(self) -> OrganisationRepository:
        """The unit of work's organisations repository."""
        ...

    @property
    def memberships(self) -> MembershipRepository:
        """The unit of work's memberships repository."""
        ...

    @property
    def domains(self) -> DomainClaimRepository:
        """The unit of work's domains repository."""
        ...

    @property
    def invitations(self) -> InvitationRepository:
        """The unit of work's invitations repository."""
        ...

    @property
    def join_requests(self) -> JoinRequestRepository:
        """The unit of work's join requests repository."""
        ...

    @property
    def ledger(self) -> Ledger:
        """The unit of work's ledger repository."""
        ...

    @property
    def holds(self) -> HoldRepository:
        """The unit of work's holds repository."""
        ...

    @property
    def requests(self) -> CreditRequestRepository:
        """The unit of work's requests repository."""
        ...

    @property
    def idempotency(self) -> IdempotencyRepository:
        """The unit of work's idempotency repository."""
        ...

    @property
    def reports(self) -> ReportRepository:
        """The unit of work's report queries."""
        ...

    @property
    def views(self) -> ViewRepository:
        """The unit of work's bulk read models."""
        ...

    @property
    def events(self) -> EventRepository:
        """The unit of work's stored events."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make everything written in this unit of work durable and visible."""
        ...

    def rollback(self) -> None:
        """Discard everything written in this unit of work."""
        ...

    def record(self, event: Event) -> None:
        """Keep ``event`` with this unit of work's changes."""
        ...

    def collect_events(self) -> list[Event]:
        """Return (and forget) the events of the committed unit of work."""
        ...


class Store(Protocol):
    """Where an organisation's data lives: a factory of units of work.

    A store may also have a ``retry_transient`` attribute: when it is false (a store that joins
    its host's transaction), the service lets a :class:`~armox_enterprise.TransientStorageError`
    reach the caller instead of retrying the unit of work.
    """

    def unit_of_work(self) -> UnitOfWork:
        """Return a new, not yet entered, unit of work."""
        ...
