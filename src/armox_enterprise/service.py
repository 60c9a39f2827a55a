"""The facade: every use case of Enterprise accounts, one unit of work per call.

:class:`EnterpriseService` is what a host backend calls.  Each public method validates its
input, opens one unit of work on the store, checks that the acting user may do what they ask
(nobody sees another organisation: it answers as if it did not exist), turns the billing period
over if its boundary has passed, does the work, commits, and then hands the recorded events to
the registered handlers.  A call that raises has written nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypedDict, TypeVar, cast, get_args

import attrs

from armox_enterprise import views
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.enrolment import (
    EnrolmentDecision,
    EnrolmentOutcome,
    EnrolmentReason,
    FreeMailList,
    decide_enrolment,
)
from armox_enterprise.domain.ledger import (
    EXPIRED,
    GRANT,
    POOL,
    USAGE,
    Account,
    Hold,
    HoldStatus,
    Transfer,
    TransferKind,
    member_account,
    member_of,
)
from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinMode,
    JoinRequest,
    JoinRequestStatus,
    MemberRemainder,
    Membership,
    MemberStatus,
    Organisation,
    Role,
    RolloverPolicy,
)
from armox_enterprise.domain.periods import period_at
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.values import (
    DomainName,
    EmailAddress,
    credits,
    ensure_utc,
    new_id,
    non_negative_credits,
    text,
)
from armox_enterprise.exceptions import (
    AlreadyMember,
    ArmoxError,
    CreditRequestNotFound,
    DomainAlreadyClaimed,
    DomainNotClaimable,
    DomainNotFound,
    DomainVerificationFailed,
    DuplicateIdempotencyKey,
    EnrolmentRefused,
    HoldAlreadyResolved,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientCredits,
    InsufficientPoolCredits,
    InvalidAmount,
    InvalidInput,
    InvalidText,
    InvalidTransition,
    JoinRequestNotFound,
    LastAdminError,
    MemberNotFound,
    OrganisationNotFound,
    PermissionDenied,
    TooManyOpenRequests,
    TransferNotFound,
    TransientStorageError,
)
from armox_enterprise.ports import (
    Clock,
    DnsResolver,
    IdempotencyRecord,
    Store,
    StoredEvent,
    UnitOfWork,
    UsageGrouping,
    UsageRow,
)

__all__ = ["EnterpriseService", "ExistingUser", "SystemClock"]

_log = logging.getLogger("armox_enterprise")
_T = TypeVar("_T")

SYSTEM = ev.SYSTEM_ACTOR
_INTERNAL_KEY_PREFIX = "armox:"
_MAX_NAME = 200
_MAX_ID = 128
_MAX_NOTE = 1000
_MAX_TAG = 64
_MAX_HOLD_LIFETIME = timedelta(days=31)
#: An unverified claim older than this no longer keeps other organisations off the domain.
CLAIM_VERIFICATION_WINDOW = timedelta(days=7)


class SystemClock:
    """The real clock: :meth:`now` reads the system time in UTC."""

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        from datetime import timezone

        return datetime.now(timezone.utc)


@attrs.frozen
class ExistingUser:
    """A host user who signed up before their organisation claimed its domain."""

    user_id: str
    email: str
    email_verified: bool
    display_name: str = ""


def _user_id(value: object, name: str = "user_id") -> str:
    return text(value, name=name, max_length=_MAX_ID)


def _key(value: object) -> str:
    key = text(value, name="idempotency_key", max_length=_MAX_ID)
    if key.startswith(_INTERNAL_KEY_PREFIX):
        raise InvalidText(f"idempotency keys starting with {_INTERNAL_KEY_PREFIX!r} are reserved")
    return key


def _optional_key(value: object) -> str | None:
    return None if value is None else _key(value)


def _tag(value: object, name: str) -> str | None:
    return None if value is None else text(value, name=name, max_length=_MAX_TAG)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _ref(value: object, name: str) -> str:
    """An identifier the caller got from the library (organisation, hold, request ...)."""
    return text(value, name=name, max_length=_MAX_ID)


def _duration(value: object, name: str) -> timedelta:
    if not isinstance(value, timedelta) or not timedelta(0) < value <= _MAX_HOLD_LIFETIME:
        raise InvalidInput(
            f"{name} must be a positive timedelta of at most {_MAX_HOLD_LIFETIME.days} days, "
            f"got {value!r}"
        )
    return value


def _int_between(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an int from {low} to {high}, got {value!r}")
    return value


def _event_name(value: object) -> str:
    if not isinstance(value, str) or value not in ev.EVENT_TYPES:
        raise InvalidInput(f"unknown event name {value!r}")
    return value


def _existing(value: object) -> ExistingUser:
    if not isinstance(value, ExistingUser):
        raise InvalidInput(f"users must be ExistingUser values, not {type(value).__name__}")
    return value


def _binding(claim: DomainClaim, now: datetime) -> bool:
    """Whether ``claim`` keeps other organisations off its domain: verified, or still young."""
    return claim.is_verified or now < claim.claimed_at + CLAIM_VERIFICATION_WINDOW


def _role(value: object) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"role must be 'admin' or 'member', got {value!r}") from None


class EnterpriseService:
    """Enterprise accounts for one store: organisations, members, credits and requests.

    Args:
        store: where the data lives (:class:`~armox_enterprise.MemoryStore`, the SQLAlchemy
            store, or a host's own adapter).
        clock: the time source; defaults to the system clock.
        dns: resolves TXT records for domain verification; without one, verification fails.
        free_mail: the providers that can never be claimed (default: the bundled list).
        max_attempts: how often a unit of work is tried when the store reports a transient
            failure (a serialization failure, a deadlock).
        request_alert_after: how long a credit request may wait before :meth:`check_alerts`
            raises a ``RequestWaitingAlert``.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        dns: DnsResolver | None = None,
        free_mail: FreeMailList | None = None,
        max_attempts: int = 8,
        request_alert_after: timedelta = timedelta(hours=24),
    ) -> None:
        if max_attempts < 1:
            raise InvalidInput("max_attempts must be at least 1")
        self._request_alert_after = _duration(request_alert_after, "request_alert_after")
        self._store = store
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._dns = dns
        self._free_mail = free_mail if free_mail is not None else FreeMailList()
        self._max_attempts = max_attempts
        # A store that joins its host's transaction cannot retry it: that is the host's call.
        self._retry_transient = bool(getattr(store, "retry_transient", True))
        self._handlers: list[Callable[[ev.Event], None]] = []
        self._periods: dict[str, tuple[int, datetime]] = {}

    # ------------------------------------------------------------------ plumbing

    def subscribe(self, handler: Callable[[ev.Event], None]) -> None:
        """Call ``handler`` with every event, after the unit of work that recorded it commits.

        A handler that raises is logged and does not stop the others; the change stays made.
        """
        self._handlers.append(handler)

    def _now(self) -> datetime:
        return ensure_utc(self._clock.now(), name="clock.now()")

    def _run(self, work: Callable[[UnitOfWork, datetime], _T]) -> _T:
        for attempt in range(1, self._max_attempts + 1):
            now = self._now()
            try:
                with self._store.unit_of_work() as uow:
                    result = work(uow, now)
                    uow.commit()
                    events = uow.collect_events()
            except DuplicateIdempotencyKey:
                # Another caller committed the same key first: a fresh attempt replays it.
                if attempt == self._max_attempts:
                    raise
                continue
            except TransientStorageError:
                if attempt == self._max_attempts or not self._retry_transient:
                    raise
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            self._dispatch(events)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _dispatch(self, events: list[ev.Event]) -> None:
        for event in events:
            for handler in self._handlers:
                try:
                    handler(event)
                except Exception:
                    _log.exception("event handler %r failed on %s", handler, event.name)

    def _idempotent(
        self,
        uow: UnitOfWork,
        org: Organisation,
        key: str | None,
        operation: str,
        fingerprint: Sequence[object],
        now: datetime,
        load: Callable[[str], _T],
        act: Callable[[], tuple[_T, str]],
    ) -> _T:
        if key is None:
            return act()[0]
        stamp = json.dumps([None if p is None else str(p) for p in fingerprint])
        record = uow.idempotency.get(org.id, key)
        if record is not None:
            if record.operation != operation or record.fingerprint != stamp:
                raise IdempotencyConflict(
                    f"idempotency key {key!r} was used for another call "
                    f"({record.operation}) with other parameters"
                )
            return load(record.result_ref)
        result, ref = act()
        uow.idempotency.add(IdempotencyRecord(org.id, key, operation, stamp, ref, now))
        return result

    def _organisation(self, uow: UnitOfWork, organisation_id: str) -> Organisation:
        org = uow.organisations.get(_ref(organisation_id, "organisation_id"))
        if org is None:
            raise OrganisationNotFound(f"organisation {organisation_id} does not exist")
        # Read before this unit of work wrote anything: what others see.  Until the period's
        # end this index is the organisation's, whoever turns the period over.
        period = org.current_period
        self._periods[org.id] = (period.index, period.end)
        return org

    def _member(self, uow: UnitOfWork, org_id: str, actor: str) -> Membership:
        membership = uow.memberships.get(org_id, actor)
        if membership is None or not membership.is_active:
            # Answer as if the organisation did not exist: its ids leak nothing to outsiders.
            raise OrganisationNotFound(f"organisation {org_id} does not exist")
        return membership

    def _enter(
        self,
        uow: UnitOfWork,
        organisation_id: str,
        actor: str,
        now: datetime,
        *,
        admin: bool,
        lock: bool = False,
    ) -> tuple[Organisation, Membership]:
        org = self._organisation(uow, organisation_id)
        membership = self._member(uow, org.id, actor)
        if admin and membership.role is not Role.ADMIN:
            raise PermissionDenied(f"user {actor} is not an admin of the organisation")
        org = self._current(uow, org, now)
        if lock:
            # Writers of the organisation row hold its lock, so a settings change and a period
            # turnover never overwrite each other's columns.
            locked = uow.organisations.get(org.id, for_update=True)
            assert locked is not None
            org = self._current(uow, locked, now)
        return org, membership

    def _current(self, uow: UnitOfWork, org: Organisation, now: datetime) -> Organisation:
        if now < org.current_period.end:
            return org
        locked = uow.organisations.get(org.id, for_update=True)
        assert locked is not None
        target = period_at(locked.cycle_anchor, now).index
        while locked.current_period_index < target:
            locked = self._close_and_open(uow, locked, now)
        return locked

    def _post(self, uow: UnitOfWork, org: Organisation, transfer: Transfer) -> Transfer:
        uow.ledger.post(transfer)
        return transfer

    def _transfer(
        self,
        org: Organisation,
        kind: TransferKind,
        debit: str,
        credit: str,
        amount: int,
        actor: str,
        now: datetime,
        *,
        key: str | None = None,
        reference: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> Transfer:
        return Transfer(
            id=new_id(now),
            organisation_id=org.id,
            kind=kind,
            debit_account=debit,
            credit_account=credit,
            amount=amount,
            period_index=org.current_period_index,
            actor=actor,
            created_at=now,
            idempotency_key=key,
            reference=reference,
            feature=feature,
            model=model,
        )

    def _from_pool(self, uow: UnitOfWork, org: Organisation, transfer: Transfer) -> Transfer:
        try:
            uow.ledger.post(transfer)
        except InsufficientCredits as exc:
            raise InsufficientPoolCredits(
                f"the pool has {exc.available} unallocated credits, {transfer.amount} were asked",
                available=exc.available,
                requested=transfer.amount,
            ) from None
        return transfer

    def _load_transfer(self, uow: UnitOfWork, org_id: str) -> Callable[[str], Transfer]:
        def load(ref: str) -> Transfer:
            transfer = uow.ledger.get_transfer(org_id, ref)
            if transfer is None:  # pragma: no cover - a record always names its transfer
                raise TransferNotFound(f"transfer {ref} does not exist")
            return transfer

        return load

    # ------------------------------------------------------------------ periods

    def _close_and_open(self, uow: UnitOfWork, org: Organisation, now: datetime) -> Organisation:
        closing = org.current_period_index
        at = max(now, org.current_period.end)
        for request in uow.requests.list(
            org.id, status=RequestStatus.PENDING, period_index=closing
        ):
            expired = request.expire(at)
            uow.requests.decide(expired)
            uow.record(
                ev.CreditRequestDecided(
                    organisation_id=org.id,
                    actor=SYSTEM,
                    occurred_at=at,
                    request_id=request.id,
                    user_id=request.user_id,
                    status=expired.status.value,
                    amount=0,
                )
            )
        for hold in uow.holds.pending(org.id, expiring_before=at):
            self._resolve_hold(uow, org, hold, 0, SYSTEM, at, expired=True)
        expired_total = 0
        policy = org.rollover
        # The pool lapses first, so remainders that members return reach the next period
        # whatever the carry-over cap.  Balances are read under a row lock: a spend
        # committing in between cannot make the sweep ask for more than is there.
        pool = uow.ledger.get_account(org.id, POOL, for_update=True)
        assert pool is not None
        carried = min(pool.available, policy.pool_carry_over_cap)
        lapsed = pool.available - carried
        if lapsed > 0:
            expired_total += lapsed
            self._post(
                uow,
                org,
                self._transfer(org, TransferKind.EXPIRE, POOL, EXPIRED, lapsed, SYSTEM, at),
            )
        for member in uow.memberships.list(org.id):
            if policy.member_remainder is MemberRemainder.KEEP:
                break
            code = member_account(member.user_id)
            account = uow.ledger.get_account(org.id, code, for_update=True)
            if account is None or account.available <= 0:
                continue
            amount = account.available
            if policy.member_remainder is MemberRemainder.EXPIRE:
                expired_total += amount
                kind, target = TransferKind.EXPIRE, EXPIRED
            else:
                carried += amount
                kind, target = TransferKind.RETURN, POOL
            self._post(uow, org, self._transfer(org, kind, code, target, amount, SYSTEM, at))
        uow.record(
            ev.PeriodClosed(
                organisation_id=org.id,
                actor=SYSTEM,
                occurred_at=at,
                period_index=closing,
                expired=expired_total,
                carried_over=carried,
            )
        )
        uow.ledger.seal_period(org.id, closing)
        opened = attrs.evolve(org, current_period_index=closing + 1)
        uow.organisations.update(opened)
        self._open_period(uow, opened, at)
        return opened

    def _open_period(self, uow: UnitOfWork, org: Organisation, at: datetime) -> None:
        index = org.current_period_index
        grant_key = f"{_INTERNAL_KEY_PREFIX}grant:{index}"
        grant = self._transfer(
            org,
            TransferKind.GRANT,
            GRANT,
            POOL,
            org.monthly_allowance,
            SYSTEM,
            at,
            reference=f"period:{index}",
        )
        # The idempotency record makes "one grant per organisation and period" a unique key
        # the store enforces, whatever the allowance.
        uow.idempotency.add(IdempotencyRecord(org.id, grant_key, "grant", str(index), grant.id, at))
        if org.monthly_allowance > 0:
            self._post(uow, org, grant)
        uow.record(
            ev.PeriodOpened(
                organisation_id=org.id,
                actor=SYSTEM,
                occurred_at=at,
                period_index=index,
                granted=org.monthly_allowance,
            )
        )
        for member in uow.memberships.list(org.id):
            if member.standing_allotment <= 0:
                continue
            pool = uow.ledger.get_account(org.id, POOL)
            assert pool is not None
            if pool.available < member.standing_allotment:
                uow.record(
                    ev.AllotmentShortfall(
                        organisation_id=org.id,
                        actor=SYSTEM,
                        occurred_at=at,
                        user_id=member.user_id,
                        wanted=member.standing_allotment,
                        available=pool.available,
                    )
                )
                continue
            self._post(
                uow,
                org,
                self._transfer(
                    org,
                    TransferKind.ALLOT,
                    POOL,
                    member_account(member.user_id),
                    member.standing_allotment,
                    SYSTEM,
                    at,
                ),
            )
            uow.record(
                ev.CreditsAllocated(
                    organisation_id=org.id,
                    actor=SYSTEM,
                    occurred_at=at,
                    user_id=member.user_id,
                    amount=member.standing_allotment,
                    kind="allot",
                )
            )

    def close_due_periods(self) -> list[str]:
        """Close every period whose boundary has passed and open the next: the period job.

        Safe to run from several workers at once and to run twice: each organisation's turnover
        happens once, in its own unit of work.  Periods also turn over lazily on the first call
        that touches an organisation after its boundary.

        Returns:
            The ids of the organisations this call turned over.
        """

        def due(uow: UnitOfWork, now: datetime) -> list[str]:
            return uow.organisations.due_for_turnover(now)

        turned: list[str] = []
        for org_id in self._run(due):

            def turn(uow: UnitOfWork, now: datetime, org_id: str = org_id) -> bool:
                org = self._organisation(uow, org_id)
                if now < org.current_period.end:
                    return False
                # Compare with what the lock shows: another worker may have turned it over
                # between the read above and the lock.
                locked = uow.organisations.get(org.id, for_update=True)
                assert locked is not None
                before = locked.current_period_index
                return self._current(uow, locked, now).current_period_index != before

            if self._run(turn):
                turned.append(org_id)
        return turned

    # ------------------------------------------------------------------ organisations

    def create_organisation(
        self,
        *,
        name: str,
        admin_user_id: str,
        admin_email: str,
        admin_display_name: str = "",
        monthly_allowance: int = 0,
        cycle_anchor: datetime | None = None,
        join_mode: JoinMode = JoinMode.AUTOMATIC,
        seat_limit: int | None = None,
        rollover: RolloverPolicy | None = None,
        max_open_requests: int = 1,
        allow_pool_spend: bool = False,
        hold_lifetime: timedelta = timedelta(hours=1),
    ) -> Organisation:
        """Create an organisation with its first admin and open its first period.

        The first period's grant of ``monthly_allowance`` lands in the pool at once.

        Args:
            name: the organisation's display name (shown on members' badges).
            admin_user_id: the host's id of the first admin.
            admin_email: the first admin's email address.
            admin_display_name: the first admin's name as shown on the dashboard.
            monthly_allowance: credits granted to the pool at every period opening.
            cycle_anchor: when periods start (its day of month repeats); defaults to now.
            join_mode: how users with a company address join.
            seat_limit: the most active members allowed, or ``None`` for no limit.
            rollover: what a closing period does with unspent credits.
            max_open_requests: how many pending credit requests a member may have.
            allow_pool_spend: whether a member short of credits may spend from the pool.
            hold_lifetime: how long a hold may stay pending before it is released.

        Raises:
            AlreadyMember: the first admin already belongs to an organisation.
            InvalidInput: any argument is malformed.
        """
        org_name = text(name, name="name", max_length=_MAX_NAME)
        admin = _user_id(admin_user_id, "admin_user_id")
        email = EmailAddress.parse(admin_email)
        display = text(
            admin_display_name, name="admin_display_name", max_length=_MAX_NAME, allow_empty=True
        )
        allowance = non_negative_credits(monthly_allowance, name="monthly_allowance")
        anchor = None if cycle_anchor is None else ensure_utc(cycle_anchor, name="cycle_anchor")
        settings = _settings(
            join_mode=join_mode,
            seat_limit=seat_limit,
            rollover=rollover,
            max_open_requests=max_open_requests,
            allow_pool_spend=allow_pool_spend,
            hold_lifetime=hold_lifetime,
        )

        def work(uow: UnitOfWork, now: datetime) -> Organisation:
            start = anchor if anchor is not None else now
            if start > now:
                raise InvalidInput("cycle_anchor must not be in the future")
            org_id = new_id(now)
            org = Organisation(
                id=org_id,
                name=org_name,
                monthly_allowance=allowance,
                cycle_anchor=start,
                created_at=now,
                current_period_index=period_at(start, now).index,
                **settings,
            )
            uow.organisations.add(org)
            for code in (GRANT, POOL, USAGE, EXPIRED, member_account(admin)):
                uow.ledger.open_account(Account(org_id, code))
            uow.memberships.add(
                Membership(org_id, admin, email, display or str(email), Role.ADMIN, now)
            )
            uow.record(
                ev.OrganisationCreated(
                    organisation_id=org_id,
                    actor=admin,
                    occurred_at=now,
                    organisation_name=org_name,
                    admin_user_id=admin,
                )
            )
            uow.record(
                ev.MemberEnrolled(
                    organisation_id=org_id,
                    actor=admin,
                    occurred_at=now,
                    user_id=admin,
                    role=Role.ADMIN.value,
                    reason="founder",
                )
            )
            self._open_period(uow, org, now)
            return org

        return self._run(work)

    def get_organisation(self, actor: str, organisation_id: str) -> Organisation:
        """Return the organisation, as any active member of it sees it.

        Raises:
            OrganisationNotFound: no such organisation, or ``actor`` is not a member of it.
        """
        actor = _user_id(actor, "actor")

        def work(uow: UnitOfWork, now: datetime) -> Organisation:
            return self._enter(uow, organisation_id, actor, now, admin=False)[0]

        return self._run(work)

    def set_monthly_allowance(self, actor: str, organisation_id: str, amount: int) -> Organisation:
        """Change the monthly grant; it applies from the next period opening.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidAmount: ``amount`` is negative, not an int, or too large.
        """
        actor = _user_id(actor, "actor")
        allowance = non_negative_credits(amount, name="amount")

        def work(uow: UnitOfWork, now: datetime) -> Organisation:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True, lock=True)
            changed = attrs.evolve(org, monthly_allowance=allowance)
            uow.organisations.update(changed)
            uow.record(
                ev.OrganisationSettingsChanged(
                    organisation_id=org.id,
                    actor=actor,
                    occurred_at=now,
                    setting="monthly_allowance",
                    value=str(allowance),
                )
            )
            return changed

        return self._run(work)

    def update_settings(
        self,
        actor: str,
        organisation_id: str,
        *,
        join_mode: JoinMode | None = None,
        seat_limit: int | _Unset | None = None,
        rollover: RolloverPolicy | None = None,
        max_open_requests: int | None = None,
        allow_pool_spend: bool | None = None,
        hold_lifetime: timedelta | None = None,
    ) -> Organisation:
        """Change any of the organisation's settings; arguments left out stay as they are.

        ``seat_limit=None`` keeps the limit; pass :data:`NO_SEAT_LIMIT` to remove it.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a setting is malformed.
        """
        actor = _user_id(actor, "actor")

        def work(uow: UnitOfWork, now: datetime) -> Organisation:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True, lock=True)
            merged = _settings(
                join_mode=org.join_mode if join_mode is None else join_mode,
                seat_limit=(
                    org.seat_limit
                    if seat_limit is None
                    else None
                    if isinstance(seat_limit, _Unset)
                    else seat_limit
                ),
                rollover=org.rollover if rollover is None else rollover,
                max_open_requests=(
                    org.max_open_requests if max_open_requests is None else max_open_requests
                ),
                allow_pool_spend=(
                    org.allow_pool_spend if allow_pool_spend is None else allow_pool_spend
                ),
                hold_lifetime=org.hold_lifetime if hold_lifetime is None else hold_lifetime,
            )
            changed = attrs.evolve(org, **merged)
            uow.organisations.update(changed)
            for setting, value in merged.items():
                if getattr(org, setting) != value:
                    uow.record(
                        ev.OrganisationSettingsChanged(
                            organisation_id=org.id,
                            actor=actor,
                            occurred_at=now,
                            setting=setting,
                            value=str(value),
                        )
                    )
            return changed

        return self._run(work)

    # ------------------------------------------------------------------ domains

    def claim_domain(
        self,
        actor: str,
        organisation_id: str,
        domain: str,
        *,
        include_subdomains: bool = False,
    ) -> DomainClaim:
        """Claim an email domain for the organisation; it enrols nobody until verified.

        Publish the returned claim's :attr:`~DomainClaim.txt_record` as a DNS TXT record on the
        domain, then call :meth:`verify_domain`.  Claiming a domain the organisation already
        holds returns the existing claim.

        Raises:
            DomainNotClaimable: a free-mail or disposable provider (or a domain under one).
            DomainAlreadyClaimed: another organisation holds the domain, or a parent domain
                with its subdomains.
            PermissionDenied: ``actor`` is not an admin.
            InvalidDomain: the name is malformed.
        """
        actor = _user_id(actor, "actor")
        name = DomainName.parse(domain)
        subdomains = _flag(include_subdomains, "include_subdomains")
        if name in self._free_mail:
            raise DomainNotClaimable(
                f"{name} is a free-mail or disposable provider and cannot be claimed"
            )

        def work(uow: UnitOfWork, now: datetime) -> DomainClaim:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            existing = uow.domains.get(name)
            if existing is not None:
                if existing.organisation_id == org.id:
                    return existing
                if _binding(existing, now):
                    raise DomainAlreadyClaimed(f"{name} is already claimed by another organisation")
                # An unverified claim past its window no longer keeps the domain off others.
                uow.domains.remove(name)
                uow.record(
                    ev.DomainRemoved(
                        organisation_id=existing.organisation_id,
                        actor=SYSTEM,
                        occurred_at=now,
                        domain=name.value,
                    )
                )
            for parent in name.parents():
                held = uow.domains.get(parent)
                if (
                    held is not None
                    and held.include_subdomains
                    and held.organisation_id != org.id
                    and _binding(held, now)
                ):
                    raise DomainAlreadyClaimed(
                        f"{name} falls under {parent}, claimed by another organisation"
                    )
            claim = DomainClaim(name, org.id, secrets.token_hex(16), now, subdomains)
            uow.domains.add(claim)
            uow.record(
                ev.DomainClaimed(
                    organisation_id=org.id, actor=actor, occurred_at=now, domain=name.value
                )
            )
            return claim

        return self._run(work)

    def verify_domain(self, actor: str, organisation_id: str, domain: str) -> DomainClaim:
        """Look for the claim's TXT record and, if it is there, mark the domain verified.

        Raises:
            DomainVerificationFailed: no resolver, or the record is not published.
            DomainNotFound: the organisation holds no claim on the domain.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = _user_id(actor, "actor")
        name = DomainName.parse(domain)

        def find(uow: UnitOfWork, now: datetime) -> DomainClaim:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            return self._claim_of(uow, org, name)

        claim = self._run(find)
        if claim.is_verified:
            return claim
        if self._dns is None:
            raise DomainVerificationFailed("no DNS resolver is configured for verification")
        # DNS is looked up outside any transaction: a slow resolver must not hold locks.
        records = self._dns.txt_records(name.value)
        if claim.txt_record not in [r.strip().strip('"') for r in records]:
            raise DomainVerificationFailed(
                f"TXT record {claim.txt_record!r} was not found on {name}"
            )

        def mark(uow: UnitOfWork, now: datetime) -> DomainClaim:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            current = self._claim_of(uow, org, name)
            if current.verification_token != claim.verification_token:
                raise DomainVerificationFailed(f"the claim on {name} changed during verification")
            if current.is_verified:
                return current
            verified = attrs.evolve(current, verified_at=now)
            uow.domains.update(verified)
            uow.record(
                ev.DomainVerified(
                    organisation_id=org.id, actor=actor, occurred_at=now, domain=name.value
                )
            )
            return verified

        return self._run(mark)

    def remove_domain(self, actor: str, organisation_id: str, domain: str) -> None:
        """Give up a domain: it enrols nobody from now on (existing members stay).

        Raises:
            DomainNotFound: the organisation holds no claim on the domain.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = _user_id(actor, "actor")
        name = DomainName.parse(domain)

        def work(uow: UnitOfWork, now: datetime) -> None:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            self._claim_of(uow, org, name)
            uow.domains.remove(name)
            uow.record(
                ev.DomainRemoved(
                    organisation_id=org.id, actor=actor, occurred_at=now, domain=name.value
                )
            )

        self._run(work)

    def list_domains(self, actor: str, organisation_id: str) -> list[DomainClaim]:
        """Return the organisation's domain claims (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = _user_id(actor, "actor")

        def work(uow: UnitOfWork, now: datetime) -> list[DomainClaim]:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            return uow.domains.list(org.id)

        return self._run(work)

    def _claim_of(self, uow: UnitOfWork, org: Organisation, name: DomainName) -> DomainClaim:
        claim = uow.domains.get(name)
        if claim is None or claim.organisation_id != org.id:
            raise DomainNotFound(f"the organisation holds no claim on {name}")
        return claim

    # ------------------------------------------------------------------ enrolment

    def sign_up(
        self,
        user_id: str,
        email: str,
        *,
        email_verified: bool,
        display_name: str = "",
    ) -> EnrolmentDecision:
        """Decide, at sign-up or at email verification, whether the user joins an organisation.

        Call it from the host's sign-up flow.  It never raises for a policy outcome: the
        returned decision says whether the user was enrolled, a join request was filed, or
        why not (no organisation, free-mail provider, domain or email not verified, seat limit
        reached, invitation required, member elsewhere).

        Raises:
            InvalidInput: ``user_id``, ``email`` or ``display_name`` is malformed.
        """
        return self._sign_up(user_id, email, email_verified, display_name, strict=False)

    def enrol(
        self,
        user_id: str,
        email: str,
        *,
        email_verified: bool,
        display_name: str = "",
    ) -> EnrolmentDecision:
        """Like :meth:`sign_up`, but a sign-up that enrols nobody raises.

        Raises:
            EnrolmentRefused: the user was not enrolled; ``reason`` says why.
            InvalidInput: an argument is malformed.
        """
        return self._sign_up(user_id, email, email_verified, display_name, strict=True)

    def _sign_up(
        self, user_id: str, email: str, email_verified: bool, display_name: str, *, strict: bool
    ) -> EnrolmentDecision:
        user = _user_id(user_id)
        address = EmailAddress.parse(email)
        verified = _flag(email_verified, "email_verified")
        display = text(display_name, name="display_name", max_length=_MAX_NAME, allow_empty=True)

        def work(uow: UnitOfWork, now: datetime) -> EnrolmentDecision:
            claim = self._claim_covering(uow, address.domain)
            invitations = uow.invitations.open_for(address)
            if claim is not None and claim.is_verified:
                # A verified domain belongs to its organisation: only its own invitations count
                # (another organisation cannot pull the domain's people away by inviting them).
                invitations = [i for i in invitations if i.organisation_id == claim.organisation_id]
            invitation = next(iter(invitations), None)
            org_id = (
                invitation.organisation_id
                if invitation is not None
                else claim.organisation_id
                if claim is not None
                else None
            )
            org = None if org_id is None else uow.organisations.get(org_id, for_update=True)
            if (
                invitation is not None
                and claim is not None
                and org is not None
                and claim.organisation_id != org.id
            ):
                claim = None
            decision = decide_enrolment(
                email=address,
                email_verified=verified,
                claim=claim,
                organisation=org,
                active_seats=0 if org is None else uow.memberships.count_active(org.id),
                existing=uow.memberships.active_for_user(user),
                invitation=invitation,
                free_mail=self._free_mail,
            )
            if org is not None and decision.reason is not EnrolmentReason.ALREADY_MEMBER:
                org = self._current(uow, org, now)
                if decision.outcome is EnrolmentOutcome.ENROLLED:
                    role = invitation.role if invitation is not None else Role.MEMBER
                    self._admit(
                        uow, org, user, address, display, role, user, now, decision.reason.value
                    )
                    if invitation is not None:
                        uow.invitations.put(attrs.evolve(invitation, accepted_at=now))
                elif (
                    decision.outcome is EnrolmentOutcome.JOIN_REQUESTED
                    and uow.join_requests.pending_for_user(user) is None
                ):
                    request = JoinRequest(new_id(now), org.id, user, address, display, now)
                    uow.join_requests.add(request)
                    uow.record(
                        ev.JoinRequested(
                            organisation_id=org.id,
                            actor=user,
                            occurred_at=now,
                            user_id=user,
                            request_id=request.id,
                        )
                    )
            if strict and decision.outcome is not EnrolmentOutcome.ENROLLED:
                raise EnrolmentRefused(
                    f"user {user} was not enrolled: {decision.reason.value.replace('_', ' ')}",
                    reason=decision.reason,
                )
            return decision

        return self._run(work)

    def _claim_covering(self, uow: UnitOfWork, domain: DomainName) -> DomainClaim | None:
        for candidate in [domain, *domain.parents()]:
            claim = uow.domains.get(candidate)
            if claim is not None and claim.covers(domain):
                return claim
        return None

    def _admit(
        self,
        uow: UnitOfWork,
        org: Organisation,
        user: str,
        email: EmailAddress,
        display: str,
        role: Role,
        actor: str,
        now: datetime,
        reason: str,
    ) -> Membership:
        previous = uow.memberships.get(org.id, user)
        membership = Membership(org.id, user, email, display or str(email), role, now)
        if previous is None:
            uow.memberships.add(membership)
        else:
            if uow.memberships.active_for_user(user) is not None:
                raise AlreadyMember(f"user {user} is already an enterprise member")
            uow.memberships.update(membership)
            uow.ledger.set_closed(org.id, member_account(user), False)
        uow.ledger.open_account(Account(org.id, member_account(user)))
        uow.record(
            ev.MemberEnrolled(
                organisation_id=org.id,
                actor=actor,
                occurred_at=now,
                user_id=user,
                role=role.value,
                reason=reason,
            )
        )
        return membership

    def capture_existing_users(
        self, actor: str, organisation_id: str, users: Iterable[ExistingUser]
    ) -> list[EnrolmentDecision]:
        """Enrol users who signed up before the organisation verified their domain.

        Admin-initiated, so the join mode does not apply; the email must still be verified, fall
        under one of the organisation's verified domains, and fit the seat limit.  All users are
        processed in one unit of work: either every decision stands or none does.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a user's id, email or name is malformed.
        """
        actor = _user_id(actor, "actor")
        batch = [
            (
                _user_id(u.user_id),
                EmailAddress.parse(u.email),
                _flag(u.email_verified, "email_verified"),
                text(u.display_name, name="display_name", max_length=_MAX_NAME, allow_empty=True),
            )
            for u in map(_existing, users)
        ]

        def work(uow: UnitOfWork, now: datetime) -> list[EnrolmentDecision]:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            org = uow.organisations.get(org.id, for_update=True) or org
            # The admin captures them, so the join mode does not apply; the seat limit does.
            policy_org = attrs.evolve(org, join_mode=JoinMode.AUTOMATIC)
            decisions = []
            for user, address, verified, display in batch:
                claim = self._claim_covering(uow, address.domain)
                if claim is not None and claim.organisation_id != org.id:
                    claim = None
                decision = decide_enrolment(
                    email=address,
                    email_verified=verified,
                    claim=claim,
                    organisation=policy_org if claim is not None else None,
                    active_seats=uow.memberships.count_active(org.id),
                    existing=uow.memberships.active_for_user(user),
                    invitation=None,
                    free_mail=self._free_mail,
                )
                if decision.outcome is EnrolmentOutcome.ENROLLED and (
                    decision.reason is not EnrolmentReason.ALREADY_MEMBER
                ):
                    self._admit(
                        uow, org, user, address, display, Role.MEMBER, actor, now, "captured"
                    )
                decisions.append(decision)
            return decisions

        return self._run(work)

    def invite(
        self, actor: str, organisation_id: str, email: str, *, role: Role = Role.MEMBER
    ) -> Invitation:
        """Invite an email address; its owner is enrolled on signing up with it, verified.

        Invitations let invite-only organisations grow, and admit addresses outside the
        organisation's domains (contractors).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidEmail: the address is malformed.
        """
        actor = _user_id(actor, "actor")
        address = EmailAddress.parse(email)
        wanted = _role(role)

        def work(uow: UnitOfWork, now: datetime) -> Invitation:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            invitation = Invitation(org.id, address, wanted, actor, now)
            uow.invitations.put(invitation)
            uow.record(
                ev.MemberInvited(
                    organisation_id=org.id,
                    actor=actor,
                    occurred_at=now,
                    email=str(address),
                    role=wanted.value,
                )
            )
            return invitation

        return self._run(work)

    def list_join_requests(self, actor: str, organisation_id: str) -> list[JoinRequest]:
        """Return the pending join requests, oldest first (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = _user_id(actor, "actor")

        def work(uow: UnitOfWork, now: datetime) -> list[JoinRequest]:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            return uow.join_requests.list_pending(org.id)

        return self._run(work)

    def decide_join_request(
        self, actor: str, organisation_id: str, request_id: str, *, approve: bool
    ) -> JoinRequest:
        """Approve (enrol the user) or reject a pending join request.

        Raises:
            JoinRequestNotFound: no such request in the organisation.
            InvalidTransition: the request was already decided.
            EnrolmentRefused: approving would exceed the seat limit.
            AlreadyMember: the user joined an organisation meanwhile.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = _user_id(actor, "actor")
        approving = _flag(approve, "approve")

        def work(uow: UnitOfWork, now: datetime) -> JoinRequest:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            request = uow.join_requests.get(org.id, request_id)
            if request is None:
                raise JoinRequestNotFound(f"join request {request_id} does not exist")
            if request.status is not JoinRequestStatus.PENDING:
                raise InvalidTransition(f"join request {request_id} is already decided")
            status = JoinRequestStatus.APPROVED if approving else JoinRequestStatus.REJECTED
            decided = attrs.evolve(request, status=status, decided_by=actor, decided_at=now)
            uow.join_requests.update(decided)
            if approving:
                org = uow.organisations.get(org.id, for_update=True) or org
                if org.seat_limit is not None and (
                    uow.memberships.count_active(org.id) >= org.seat_limit
                ):
                    raise EnrolmentRefused(
                        "the organisation's seat limit is reached",
                        reason=EnrolmentReason.SEAT_LIMIT_REACHED,
                    )
                self._admit(
                    uow,
                    org,
                    request.user_id,
                    request.email,
                    request.display_name,
                    Role.MEMBER,
                    actor,
                    now,
                    "join_request_approved",
                )
            return decided

        return self._run(work)

    # ------------------------------------------------------------------ members

    def list_members(self, actor: str, organisation_id: str) -> list[Membership]:
        """Return the active members, by join time (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = _user_id(actor, "actor")

        def work(uow: UnitOfWork, now: datetime) -> list[Membership]:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            return uow.memberships.list(org.id)

        return self._run(work)

    def change_role(self, actor: str, organisation_id: str, user_id: str, role: Role) -> Membership:
        """Make a member an admin or an admin a member.

        Raises:
            LastAdminError: the change would leave no active admin.
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = _user_id(actor, "actor")
        target_id = _user_id(user_id)
        wanted = _role(role)

        def work(uow: UnitOfWork, now: datetime) -> Membership:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            uow.organisations.get(org.id, for_update=True)
            target = self._active_member(uow, org, target_id)
            if target.role is wanted:
                return target
            if (
                target.role is Role.ADMIN
                and uow.memberships.count_active(org.id, admins_only=True) <= 1
            ):
                raise LastAdminError("the organisation's last admin cannot be demoted")
            changed = attrs.evolve(target, role=wanted)
            uow.memberships.update(changed)
            uow.record(
                ev.RoleChanged(
                    organisation_id=org.id,
                    actor=actor,
                    occurred_at=now,
                    user_id=target_id,
                    role=wanted.value,
                )
            )
            return changed

        return self._run(work)

    def remove_member(self, actor: str, organisation_id: str, user_id: str) -> Membership:
        """Remove a member: unused credits return to the pool, pending requests are cancelled.

        Pending holds keep their reservation and can still be captured or released; what they
        release returns to the pool.  The user sees their personal profile again.

        Raises:
            LastAdminError: the member is the last active admin.
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin.
        """
        actor = _user_id(actor, "actor")
        target_id = _user_id(user_id)

        def work(uow: UnitOfWork, now: datetime) -> Membership:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            uow.organisations.get(org.id, for_update=True)
            target = self._active_member(uow, org, target_id)
            if (
                target.role is Role.ADMIN
                and uow.memberships.count_active(org.id, admins_only=True) <= 1
            ):
                raise LastAdminError("the organisation's last admin cannot be removed")
            for request in uow.requests.list(
                org.id, status=RequestStatus.PENDING, user_id=target_id
            ):
                uow.requests.decide(request.cancel(actor, now))
                uow.record(
                    ev.CreditRequestDecided(
                        organisation_id=org.id,
                        actor=actor,
                        occurred_at=now,
                        request_id=request.id,
                        user_id=target_id,
                        status=RequestStatus.CANCELLED.value,
                        amount=0,
                    )
                )
            account = uow.ledger.get_account(org.id, member_account(target_id), for_update=True)
            returned = 0 if account is None else account.available
            if returned > 0:
                self._post(
                    uow,
                    org,
                    self._transfer(
                        org,
                        TransferKind.RETURN,
                        member_account(target_id),
                        POOL,
                        returned,
                        actor,
                        now,
                    ),
                )
            removed = attrs.evolve(target, status=MemberStatus.REMOVED, removed_at=now)
            uow.memberships.update(removed)
            uow.ledger.set_closed(org.id, member_account(target_id), True)
            uow.record(
                ev.MemberRemoved(
                    organisation_id=org.id,
                    actor=actor,
                    occurred_at=now,
                    user_id=target_id,
                    returned=returned,
                )
            )
            return removed

        return self._run(work)

    def set_standing_allotment(
        self, actor: str, organisation_id: str, user_id: str, amount: int
    ) -> Membership:
        """Set the credits a member receives from the pool at every period opening (0: none).

        Raises:
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin.
            InvalidAmount: ``amount`` is negative, not an int, or too large.
        """
        actor = _user_id(actor, "actor")
        target_id = _user_id(user_id)
        allotment = non_negative_credits(amount, name="amount")

        def work(uow: UnitOfWork, now: datetime) -> Membership:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            target = self._active_member(uow, org, target_id)
            changed = attrs.evolve(target, standing_allotment=allotment)
            uow.memberships.update(changed)
            return changed

        return self._run(work)

    def _active_member(self, uow: UnitOfWork, org: Organisation, user_id: str) -> Membership:
        member = uow.memberships.get(org.id, user_id)
        if member is None or not member.is_active:
            raise MemberNotFound(f"user {user_id} is not an active member of the organisation")
        return member

    # ------------------------------------------------------------------ pool

    def top_up(
        self,
        actor: str,
        organisation_id: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Add credits to the pool outside the monthly grant (a purchase, a goodwill credit).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        value = credits(amount)
        key = _optional_key(idempotency_key)

        def work(uow: UnitOfWork, now: datetime) -> Transfer:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)

            def act() -> tuple[Transfer, str]:
                transfer = self._post(
                    uow,
                    org,
                    self._transfer(
                        org, TransferKind.TOP_UP, GRANT, POOL, value, actor, now, reference=key
                    ),
                )
                uow.record(
                    ev.PoolToppedUp(
                        organisation_id=org.id, actor=actor, occurred_at=now, amount=value
                    )
                )
                return transfer, transfer.id

            return self._idempotent(
                uow, org, key, "top_up", (actor, value), now, self._load_transfer(uow, org.id), act
            )

        return self._run(work)

    def allocate_credits(
        self,
        actor: str,
        organisation_id: str,
        user_id: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Move credits from the pool to a member for the current period.

        Raises:
            InsufficientPoolCredits: the pool holds fewer unallocated credits.
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        target_id = _user_id(user_id)
        value = credits(amount)
        key = _optional_key(idempotency_key)

        def work(uow: UnitOfWork, now: datetime) -> Transfer:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)

            def act() -> tuple[Transfer, str]:
                self._active_member(uow, org, target_id)
                transfer = self._from_pool(
                    uow,
                    org,
                    self._transfer(
                        org,
                        TransferKind.ALLOCATE,
                        POOL,
                        member_account(target_id),
                        value,
                        actor,
                        now,
                        reference=key,
                    ),
                )
                uow.record(
                    ev.CreditsAllocated(
                        organisation_id=org.id,
                        actor=actor,
                        occurred_at=now,
                        user_id=target_id,
                        amount=value,
                        kind="allocate",
                    )
                )
                return transfer, transfer.id

            return self._idempotent(
                uow,
                org,
                key,
                "allocate",
                (actor, target_id, value),
                now,
                self._load_transfer(uow, org.id),
                act,
            )

        return self._run(work)

    def reclaim_credits(
        self,
        actor: str,
        organisation_id: str,
        user_id: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Move credits from a member back to the pool.

        Raises:
            InsufficientCredits: the member has fewer available credits.
            MemberNotFound: ``user_id`` is not an active member.
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        target_id = _user_id(user_id)
        value = credits(amount)
        key = _optional_key(idempotency_key)

        def work(uow: UnitOfWork, now: datetime) -> Transfer:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)

            def act() -> tuple[Transfer, str]:
                self._active_member(uow, org, target_id)
                transfer = self._post(
                    uow,
                    org,
                    self._transfer(
                        org,
                        TransferKind.RECLAIM,
                        member_account(target_id),
                        POOL,
                        value,
                        actor,
                        now,
                        reference=key,
                    ),
                )
                uow.record(
                    ev.CreditsReclaimed(
                        organisation_id=org.id,
                        actor=actor,
                        occurred_at=now,
                        user_id=target_id,
                        amount=value,
                    )
                )
                return transfer, transfer.id

            return self._idempotent(
                uow,
                org,
                key,
                "reclaim",
                (actor, target_id, value),
                now,
                self._load_transfer(uow, org.id),
                act,
            )

        return self._run(work)

    # ------------------------------------------------------------------ spending

    def spend(
        self,
        actor: str,
        organisation_id: str,
        amount: int,
        *,
        generation_id: str,
        feature: str | None = None,
        model: str | None = None,
    ) -> Transfer:
        """Spend a member's credits on one generation; idempotent by ``generation_id``.

        Sending the same generation id again returns the first transfer and spends nothing.

        Raises:
            InsufficientCredits: the member has fewer credits available; the error carries
                ``available`` and whether a request can be made (``can_request``).
            IdempotencyConflict: the generation id was used with other parameters.
            OrganisationNotFound: ``actor`` is not an active member.
        """
        actor = _user_id(actor, "actor")
        value = credits(amount)
        key = _key(generation_id)
        tags = (_tag(feature, "feature"), _tag(model, "model"))

        def work(uow: UnitOfWork, now: datetime) -> Transfer:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=False)

            def act() -> tuple[Transfer, str]:
                transfer = self._debit_member(
                    uow, org, actor, TransferKind.SPEND, value, now, key, key, tags
                )
                uow.record(
                    ev.CreditsSpent(
                        organisation_id=org.id,
                        actor=actor,
                        occurred_at=now,
                        user_id=actor,
                        amount=value,
                        reference=key,
                    )
                )
                return transfer, transfer.id

            replayed = self._replay(uow, org, key, TransferKind.SPEND, actor, value, tags)
            return replayed if replayed is not None else act()[0]

        fast = self._fast_spend(organisation_id, actor, value, key, tags)
        return fast if fast is not None else self._run(work)

    def _replay(
        self,
        uow: UnitOfWork,
        org: Organisation,
        key: str,
        kind: TransferKind,
        actor: str,
        amount: int,
        tags: tuple[str | None, str | None],
    ) -> Transfer | None:
        """Return the spend or hold already made under generation id ``key``, if any.

        Raises:
            IdempotencyConflict: the generation id was used for another call.
        """
        first = uow.ledger.transfer_by_key(org.id, key)
        if first is None:
            return None
        if (first.kind, first.actor, first.amount, first.feature, first.model) != (
            kind,
            actor,
            amount,
            *tags,
        ):
            raise IdempotencyConflict(
                f"generation id {key!r} was already used for another {first.kind.value}"
            )
        return first

    def _fast_spend(
        self,
        organisation_id: str,
        actor: str,
        amount: int,
        key: str,
        tags: tuple[str | None, str | None],
    ) -> Transfer | None:
        """Try the common spend in one short unit of work: no reads, three writes.

        It works from the period remembered for the organisation (valid until the period's
        end, whoever turns it over) and relies on the store to refuse what a full check would
        refuse: a closed or missing account, too few credits, a reused generation id.  Any
        refusal sends the call down the full path, which finds the precise answer.
        """
        if not self._retry_transient:
            return None  # joined to a host's transaction: keep to the full path
        known = self._periods.get(organisation_id)
        if known is None:
            return None
        index, end = known
        now = self._now()
        if now >= end:
            return None
        transfer = Transfer(
            id=new_id(now),
            organisation_id=organisation_id,
            kind=TransferKind.SPEND,
            debit_account=member_account(actor),
            credit_account=USAGE,
            amount=amount,
            period_index=index,
            actor=actor,
            created_at=now,
            idempotency_key=key,
            reference=key,
            feature=tags[0],
            model=tags[1],
        )
        try:
            with self._store.unit_of_work() as uow:
                uow.ledger.post(transfer)
                uow.record(
                    ev.CreditsSpent(
                        organisation_id=organisation_id,
                        actor=actor,
                        occurred_at=now,
                        user_id=actor,
                        amount=amount,
                        reference=key,
                    )
                )
                uow.commit()
                events = uow.collect_events()
        except ArmoxError:
            return None
        self._dispatch(events)
        return transfer

    def _debit_member(
        self,
        uow: UnitOfWork,
        org: Organisation,
        user: str,
        kind: TransferKind,
        amount: int,
        now: datetime,
        key: str,
        reference: str,
        tags: tuple[str | None, str | None],
        *,
        pool_fallback: bool = True,
    ) -> Transfer:
        account = member_account(user)
        transfer = self._transfer(
            org,
            kind,
            account,
            USAGE,
            amount,
            user,
            now,
            key=key,
            reference=reference,
            feature=tags[0],
            model=tags[1],
        )
        try:
            return self._post(uow, org, transfer)
        except InsufficientCredits:
            # Holds past their lifetime still reserve credits until someone releases them;
            # release them now rather than refuse a spend they would have allowed.
            stale = uow.holds.pending(org.id, user_id=user, expiring_before=now)
            for hold in stale:
                self._resolve_hold(uow, org, hold, 0, SYSTEM, now, expired=True)
            if stale:
                try:
                    return self._post(uow, org, transfer)
                except InsufficientCredits:
                    pass
            if pool_fallback and org.allow_pool_spend:
                # The organisation lets members draw on the pool: the shortfall is allocated
                # to the member first, so the member's figures show everything they used.
                held = uow.ledger.get_account(org.id, account, for_update=True)
                shortfall = amount - max(0, 0 if held is None else held.available)
                try:
                    self._post(
                        uow,
                        org,
                        self._transfer(
                            org,
                            TransferKind.ALLOCATE,
                            POOL,
                            account,
                            shortfall,
                            SYSTEM,
                            now,
                            reference=reference,
                        ),
                    )
                except InsufficientCredits:
                    pass
                else:
                    uow.record(
                        ev.CreditsAllocated(
                            organisation_id=org.id,
                            actor=SYSTEM,
                            occurred_at=now,
                            user_id=user,
                            amount=shortfall,
                            kind="pool_spend",
                        )
                    )
                    return self._post(uow, org, transfer)
            current = uow.ledger.get_account(org.id, account)
            available = 0 if current is None else current.available
            pending = len(uow.requests.list(org.id, status=RequestStatus.PENDING, user_id=user))
            raise InsufficientCredits(
                f"{available} credits available, {amount} needed",
                available=available,
                requested=amount,
                can_request=pending < org.max_open_requests,
            ) from None

    def reserve(
        self,
        actor: str,
        organisation_id: str,
        amount: int,
        *,
        generation_id: str,
        lifetime: timedelta | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> Hold:
        """Reserve credits for a generation that takes time (the first phase of a spend).

        Capture the hold when the generation finishes, or release it if it fails; one left
        pending is released after ``lifetime`` (at most the organisation's hold lifetime).
        Idempotent by ``generation_id``.

        Raises:
            InsufficientCredits: the member has fewer credits available.
            IdempotencyConflict: the generation id was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        value = credits(amount)
        key = _key(generation_id)
        tags = (_tag(feature, "feature"), _tag(model, "model"))
        if lifetime is not None:
            _duration(lifetime, "lifetime")

        def work(uow: UnitOfWork, now: datetime) -> Hold:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=False)

            def load(ref: str) -> Hold:
                hold = uow.holds.get(org.id, ref)
                assert hold is not None
                return hold

            def act() -> tuple[Hold, str]:
                transfer = self._debit_member(
                    uow,
                    org,
                    actor,
                    TransferKind.HOLD,
                    value,
                    now,
                    key,
                    key,
                    tags,
                    pool_fallback=False,
                )
                life = org.hold_lifetime if lifetime is None else min(lifetime, org.hold_lifetime)
                hold = Hold(
                    id=transfer.id,
                    organisation_id=org.id,
                    user_id=actor,
                    amount=value,
                    period_index=org.current_period_index,
                    created_at=now,
                    expires_at=now + life,
                    reference=key,
                    feature=tags[0],
                    model=tags[1],
                )
                uow.holds.add(hold)
                return hold, hold.id

            replayed = self._replay(uow, org, key, TransferKind.HOLD, actor, value, tags)
            if replayed is not None:
                return load(replayed.id)
            return act()[0]

        return self._run(work)

    def capture_hold(
        self,
        actor: str,
        organisation_id: str,
        hold_id: str,
        amount: int | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Hold:
        """Post all or part of a hold as spent; the rest is released.

        The hold's owner may capture it (even after leaving the organisation), and so may
        an admin.

        Raises:
            HoldAlreadyResolved: the hold was already captured, released or expired, or its
                lifetime has passed.
            InvalidAmount: ``amount`` is more than the hold reserved.
            HoldNotFound: no such hold visible to ``actor``.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        value = None if amount is None else credits(amount)
        return self._finish_hold(
            actor, organisation_id, hold_id, value, capture=True, key=idempotency_key
        )

    def release_hold(
        self,
        actor: str,
        organisation_id: str,
        hold_id: str,
        *,
        idempotency_key: str | None = None,
    ) -> Hold:
        """Void a hold: its credits are available again.

        If the period it was reserved in has closed, the released credits are treated as the
        organisation's rollover policy treats a remainder (they expire, return to the pool or
        stay); if its owner has left, they return to the pool.

        Raises:
            HoldAlreadyResolved: the hold was already captured, released or expired.
            HoldNotFound: no such hold visible to ``actor``.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        return self._finish_hold(
            actor, organisation_id, hold_id, 0, capture=False, key=idempotency_key
        )

    def _finish_hold(
        self,
        actor: str,
        organisation_id: str,
        hold_id: str,
        amount: int | None,
        *,
        capture: bool,
        key: str | None,
    ) -> Hold:
        hold_id = _ref(hold_id, "hold_id")
        checked_key = _optional_key(key)

        def work(uow: UnitOfWork, now: datetime) -> Hold:
            org = self._organisation(uow, organisation_id)
            hold = uow.holds.get(org.id, hold_id)
            membership = uow.memberships.get(org.id, actor)
            if membership is None or (not membership.is_active and hold is None):
                raise OrganisationNotFound(f"organisation {organisation_id} does not exist")
            if hold is None or (hold.user_id != actor and not membership.is_admin):
                raise HoldNotFound(f"hold {hold_id} does not exist")
            org = self._current(uow, org, now)

            def load(ref: str) -> Hold:
                found = uow.holds.get(org.id, ref)
                assert found is not None
                return found

            def act() -> tuple[Hold, str]:
                current = uow.holds.get(org.id, hold_id) or hold
                if capture and current.status is HoldStatus.PENDING and current.expires_at <= now:
                    # Past its lifetime a hold counts as expired whether or not a job released it.
                    raise HoldAlreadyResolved(f"hold {current.id} expired at {current.expires_at}")
                wanted = current.amount if amount is None else amount
                if capture and wanted > current.amount:
                    raise InvalidAmount(
                        f"cannot capture {wanted} credits from a hold of {current.amount}"
                    )
                resolved = self._resolve_hold(uow, org, current, wanted, actor, now, expired=False)
                return resolved, resolved.id

            operation = "capture" if capture else "release"
            return self._idempotent(
                uow, org, checked_key, operation, (actor, hold_id, amount), now, load, act
            )

        return self._run(work)

    def _resolve_hold(
        self,
        uow: UnitOfWork,
        org: Organisation,
        hold: Hold,
        captured: int,
        actor: str,
        now: datetime,
        *,
        expired: bool,
    ) -> Hold:
        resolved = (
            hold.capture(captured, now) if captured > 0 else hold.release(now, expired=expired)
        )
        uow.holds.resolve(resolved)
        account = member_account(hold.user_id)
        tags = {"feature": hold.feature, "model": hold.model}
        if captured > 0:
            self._post(
                uow,
                org,
                self._transfer(
                    org,
                    TransferKind.CAPTURE,
                    account,
                    USAGE,
                    captured,
                    actor,
                    now,
                    reference=hold.id,
                    **tags,
                ),
            )
            uow.record(
                ev.CreditsSpent(
                    organisation_id=org.id,
                    actor=actor,
                    occurred_at=now,
                    user_id=hold.user_id,
                    amount=captured,
                    reference=hold.reference,
                )
            )
        released = hold.amount - captured
        if released > 0:
            self._post(
                uow,
                org,
                self._transfer(
                    org,
                    TransferKind.RELEASE,
                    account,
                    USAGE,
                    released,
                    actor,
                    now,
                    reference=hold.id,
                    **tags,
                ),
            )
            self._settle_released(uow, org, hold, released, actor, now)
        return resolved

    def _settle_released(
        self,
        uow: UnitOfWork,
        org: Organisation,
        hold: Hold,
        released: int,
        actor: str,
        now: datetime,
    ) -> None:
        self._settle(uow, org, hold.user_id, released, hold.period_index, actor, now, hold.id)

    def _settle(
        self,
        uow: UnitOfWork,
        org: Organisation,
        user: str,
        amount: int,
        period_index: int,
        actor: str,
        now: datetime,
        reference: str,
    ) -> None:
        """Treat credits coming back to a member (a released hold, a refund) as the closing of
        the period they belong to would have: if it has closed, the organisation's rollover
        policy (the one in force now) applies; a member who has left gives them to the pool."""
        member = uow.memberships.get(org.id, user)
        active = member is not None and member.is_active
        policy = org.rollover.member_remainder
        if period_index < org.current_period_index and policy is MemberRemainder.EXPIRE:
            kind, target = TransferKind.EXPIRE, EXPIRED
        elif not active or (
            period_index < org.current_period_index and policy is MemberRemainder.RETURN_TO_POOL
        ):
            kind, target = TransferKind.RETURN, POOL
        else:
            return
        self._post(
            uow,
            org,
            self._transfer(
                org, kind, member_account(user), target, amount, actor, now, reference=reference
            ),
        )

    def release_expired_holds(self, organisation_id: str) -> int:
        """Release the organisation's holds whose lifetime has passed: a job for the host.

        Returns:
            How many holds were released.
        """

        def work(uow: UnitOfWork, now: datetime) -> int:
            org = self._current(uow, self._organisation(uow, organisation_id), now)
            stale = uow.holds.pending(org.id, expiring_before=now)
            for hold in stale:
                self._resolve_hold(uow, org, hold, 0, SYSTEM, now, expired=True)
            return len(stale)

        return self._run(work)

    def refund(
        self,
        actor: str,
        organisation_id: str,
        transfer_id: str,
        amount: int | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Give back all or part of a spend (or captured hold), once (admins only).

        The credits return to the member who spent them.  If the spend's period has closed,
        they are treated as the organisation's rollover policy treats a remainder (they
        expire, return to the pool, or stay); a member who has left gives them to the pool.
        For a generation that fails, prefer a hold and :meth:`release_hold`: members cannot
        refund themselves.

        Raises:
            InvalidTransition: the spend was already refunded.
            InvalidAmount: ``amount`` is more than was spent.
            TransferNotFound: no such spend in the organisation.
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        value = None if amount is None else credits(amount)
        ref = _ref(transfer_id, "transfer_id")
        key = _optional_key(idempotency_key)

        def work(uow: UnitOfWork, now: datetime) -> Transfer:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)

            def act() -> tuple[Transfer, str]:
                spent = uow.ledger.get_transfer(org.id, ref)
                if spent is None or spent.kind not in (TransferKind.SPEND, TransferKind.CAPTURE):
                    raise TransferNotFound(f"no spend {ref} in the organisation")
                refund_amount = spent.amount if value is None else value
                if refund_amount > spent.amount:
                    raise InvalidAmount(
                        f"cannot refund {refund_amount} of a spend of {spent.amount}"
                    )
                once = f"{_INTERNAL_KEY_PREFIX}refund:{spent.id}"
                if uow.idempotency.get(org.id, once) is not None:
                    raise InvalidTransition(f"spend {ref} was already refunded")
                transfer = self._post(
                    uow,
                    org,
                    self._transfer(
                        org,
                        TransferKind.REFUND,
                        USAGE,
                        spent.debit_account,
                        refund_amount,
                        actor,
                        now,
                        reference=spent.id,
                        feature=spent.feature,
                        model=spent.model,
                    ),
                )
                user = member_of(spent.debit_account)
                if user is not None:
                    self._settle(
                        uow, org, user, refund_amount, spent.period_index, actor, now, spent.id
                    )
                # The store's unique key makes "one refund per spend" hold under races too.
                uow.idempotency.add(
                    IdempotencyRecord(org.id, once, "refund", spent.id, transfer.id, now)
                )
                return transfer, transfer.id

            return self._idempotent(
                uow,
                org,
                key,
                "refund",
                (actor, ref, value),
                now,
                self._load_transfer(uow, org.id),
                act,
            )

        return self._run(work)

    # ------------------------------------------------------------------ requests

    def request_credits(
        self,
        actor: str,
        organisation_id: str,
        amount: int,
        *,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> CreditRequest:
        """Ask the organisation's admins for more credits.

        Raises:
            TooManyOpenRequests: the member already has the allowed number of pending requests.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        value = credits(amount)
        message = text(note, name="note", max_length=_MAX_NOTE, allow_empty=True)
        key = _optional_key(idempotency_key)

        def work(uow: UnitOfWork, now: datetime) -> CreditRequest:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=False)

            def load(ref: str) -> CreditRequest:
                request = uow.requests.get(org.id, ref)
                assert request is not None
                return request

            def act() -> tuple[CreditRequest, str]:
                # Serialise a member's requests so the open-request cap holds under races.
                uow.organisations.get(org.id, for_update=True)
                open_requests = uow.requests.list(
                    org.id, status=RequestStatus.PENDING, user_id=actor
                )
                if len(open_requests) >= org.max_open_requests:
                    raise TooManyOpenRequests(
                        f"user {actor} already has {len(open_requests)} pending request(s)"
                    )
                request = CreditRequest(
                    id=new_id(now),
                    organisation_id=org.id,
                    user_id=actor,
                    amount=value,
                    note=message,
                    period_index=org.current_period_index,
                    created_at=now,
                )
                uow.requests.add(request)
                uow.record(
                    ev.CreditRequestSubmitted(
                        organisation_id=org.id,
                        actor=actor,
                        occurred_at=now,
                        request_id=request.id,
                        user_id=actor,
                        amount=value,
                    )
                )
                return request, request.id

            return self._idempotent(
                uow, org, key, "request", (actor, value, message), now, load, act
            )

        return self._run(work)

    def list_requests(
        self,
        actor: str,
        organisation_id: str,
        *,
        status: RequestStatus | None = RequestStatus.PENDING,
    ) -> list[CreditRequest]:
        """Return credit requests, oldest first: all of them for an admin, own for a member.

        Raises:
            OrganisationNotFound: ``actor`` is not a member.
        """
        actor = _user_id(actor, "actor")
        if status is not None:
            try:
                status = RequestStatus(status)
            except ValueError:
                raise InvalidInput(f"unknown request status {status!r}") from None

        def work(uow: UnitOfWork, now: datetime) -> list[CreditRequest]:
            org, membership = self._enter(uow, organisation_id, actor, now, admin=False)
            user = None if membership.is_admin else actor
            return uow.requests.list(org.id, status=status, user_id=user)

        return self._run(work)

    def approve_request(
        self,
        actor: str,
        organisation_id: str,
        request_id: str,
        *,
        amount: int | None = None,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> CreditRequest:
        """Approve a pending request, for the amount asked or another; the credits move from
        the pool to the member in the same unit of work.

        Raises:
            InvalidTransition: the request is no longer pending (another admin decided it).
            InsufficientPoolCredits: the pool cannot cover it; the request stays pending.
            CreditRequestNotFound: no such request in the organisation.
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        value = None if amount is None else credits(amount)
        message = text(note, name="note", max_length=_MAX_NOTE, allow_empty=True)
        key = _optional_key(idempotency_key)
        request_ref = _ref(request_id, "request_id")

        def work(uow: UnitOfWork, now: datetime) -> CreditRequest:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            return self._idempotent(
                uow,
                org,
                key,
                "approve",
                (actor, request_ref, value, message),
                now,
                lambda ref: self._request(uow, org, ref),
                lambda: self._approve(uow, org, actor, request_ref, value, message, now),
            )

        return self._run(work)

    def _approve(
        self,
        uow: UnitOfWork,
        org: Organisation,
        actor: str,
        request_id: str,
        value: int | None,
        message: str,
        now: datetime,
    ) -> tuple[CreditRequest, str]:
        request = self._request(uow, org, request_id)
        approved = request.approve(actor, now, value or request.amount, message)
        uow.requests.decide(approved)
        assert approved.approved_amount is not None
        self._from_pool(
            uow,
            org,
            self._transfer(
                org,
                TransferKind.APPROVE,
                POOL,
                member_account(request.user_id),
                approved.approved_amount,
                actor,
                now,
                reference=request.id,
            ),
        )
        uow.record(
            ev.CreditRequestDecided(
                organisation_id=org.id,
                actor=actor,
                occurred_at=now,
                request_id=request.id,
                user_id=request.user_id,
                status=approved.status.value,
                amount=approved.approved_amount,
            )
        )
        uow.record(
            ev.CreditsAllocated(
                organisation_id=org.id,
                actor=actor,
                occurred_at=now,
                user_id=request.user_id,
                amount=approved.approved_amount,
                kind="approve",
            )
        )
        return approved, approved.id

    def reject_request(
        self,
        actor: str,
        organisation_id: str,
        request_id: str,
        *,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> CreditRequest:
        """Reject a pending request.

        Raises:
            InvalidTransition: the request is no longer pending.
            CreditRequestNotFound: no such request in the organisation.
            PermissionDenied: ``actor`` is not an admin.
            IdempotencyConflict: the key was used with other parameters.
        """
        actor = _user_id(actor, "actor")
        message = text(note, name="note", max_length=_MAX_NOTE, allow_empty=True)
        key = _optional_key(idempotency_key)
        request_ref = _ref(request_id, "request_id")

        def work(uow: UnitOfWork, now: datetime) -> CreditRequest:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            return self._idempotent(
                uow,
                org,
                key,
                "reject",
                (actor, request_ref, message),
                now,
                lambda ref: self._request(uow, org, ref),
                lambda: self._reject(uow, org, actor, request_ref, message, now),
            )

        return self._run(work)

    def _reject(
        self,
        uow: UnitOfWork,
        org: Organisation,
        actor: str,
        request_id: str,
        message: str,
        now: datetime,
    ) -> tuple[CreditRequest, str]:
        request = self._request(uow, org, request_id)
        rejected = request.reject(actor, now, message)
        uow.requests.decide(rejected)
        uow.record(
            ev.CreditRequestDecided(
                organisation_id=org.id,
                actor=actor,
                occurred_at=now,
                request_id=request.id,
                user_id=request.user_id,
                status=rejected.status.value,
                amount=0,
            )
        )
        return rejected, rejected.id

    def cancel_request(self, actor: str, organisation_id: str, request_id: str) -> CreditRequest:
        """Withdraw one's own pending request.

        Raises:
            InvalidTransition: the request is no longer pending.
            CreditRequestNotFound: no such request of ``actor``'s.
        """
        actor = _user_id(actor, "actor")

        def work(uow: UnitOfWork, now: datetime) -> CreditRequest:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=False)
            request = self._request(uow, org, request_id)
            if request.user_id != actor:
                raise CreditRequestNotFound(f"credit request {request_id} does not exist")
            cancelled = request.cancel(actor, now)
            uow.requests.decide(cancelled)
            uow.record(
                ev.CreditRequestDecided(
                    organisation_id=org.id,
                    actor=actor,
                    occurred_at=now,
                    request_id=request.id,
                    user_id=actor,
                    status=cancelled.status.value,
                    amount=0,
                )
            )
            return cancelled

        return self._run(work)

    def _request(self, uow: UnitOfWork, org: Organisation, request_id: object) -> CreditRequest:
        request_key = _user_id(request_id, "request_id")
        request = uow.requests.get(org.id, request_key)
        if request is None:
            raise CreditRequestNotFound(f"credit request {request_key} does not exist")
        return request

    # ------------------------------------------------------------------ events

    def check_alerts(self, organisation_id: str | None = None) -> int:
        """Raise the alerts that are due, as events: the alert job.

        For each organisation (or the one given): a member who used 80% or 100% of what they
        were given this period (allocated plus carried in), the pool once 90% of what the
        period put in it is allocated, and a credit request waiting longer than
        ``request_alert_after``.  Each alert is raised at most once per threshold and period
        (per request for waiting requests), however often the job runs, and safely when
        several workers run it at once.  Run it every minute or so; handlers and the relay
        then carry the alerts to e-mail, Slack or webhooks.

        Returns:
            How many alerts this call raised.
        """
        if organisation_id is None:

            def every(uow: UnitOfWork, now: datetime) -> list[str]:
                return uow.organisations.all_ids()

            org_ids = self._run(every)
        else:
            org_ids = [_ref(organisation_id, "organisation_id")]
        raised = 0
        for org_id in org_ids:

            def work(uow: UnitOfWork, now: datetime, org_id: str = org_id) -> int:
                org = self._current(uow, self._organisation(uow, org_id), now)
                return self._raise_alerts(uow, org, now)

            raised += self._run(work)
        return raised

    def _raise_alerts(self, uow: UnitOfWork, org: Organisation, now: datetime) -> int:
        index = org.current_period_index
        due: list[tuple[str, ev.Event]] = []
        offset = 0
        while True:
            page, total = uow.views.member_page(
                org.id, index, sort="name", descending=False, offset=offset, limit=500
            )
            for figures in page:
                given = figures.used + figures.remaining + figures.on_hold
                for threshold in (80, 100):
                    if given > 0 and figures.used * 100 >= threshold * given:
                        user = figures.membership.user_id
                        due.append(
                            (
                                f"member:{user}:{threshold}:{index}",
                                ev.MemberUsageAlert(
                                    organisation_id=org.id,
                                    actor=SYSTEM,
                                    occurred_at=now,
                                    user_id=user,
                                    threshold=threshold,
                                    period_index=index,
                                    used=figures.used,
                                    allocated=given,
                                ),
                            )
                        )
            offset += len(page)
            if not page or offset >= total:
                break
        pool = views.pool_figures(uow, org, index)
        if pool.available_total > 0 and pool.allocated * 10 >= 9 * pool.available_total:
            due.append(
                (
                    f"pool:90:{index}",
                    ev.PoolAllocationAlert(
                        organisation_id=org.id,
                        actor=SYSTEM,
                        occurred_at=now,
                        threshold=90,
                        period_index=index,
                        allocated=pool.allocated,
                        available_total=pool.available_total,
                    ),
                )
            )
        for request in uow.requests.list(org.id, status=RequestStatus.PENDING):
            waited = now - request.created_at
            if waited > self._request_alert_after:
                due.append(
                    (
                        f"request:{request.id}",
                        ev.RequestWaitingAlert(
                            organisation_id=org.id,
                            actor=SYSTEM,
                            occurred_at=now,
                            request_id=request.id,
                            user_id=request.user_id,
                            waiting_seconds=int(waited.total_seconds()),
                        ),
                    )
                )
        raised = 0
        for what, alert in due:
            # The record's unique key makes "at most once" hold across runs and workers.
            digest = hashlib.sha256(what.encode()).hexdigest()[:40]
            key = f"{_INTERNAL_KEY_PREFIX}alert:{digest}"
            if uow.idempotency.get(org.id, key) is not None:
                continue
            uow.idempotency.add(IdempotencyRecord(org.id, key, "alert", what, alert.name, now))
            uow.record(alert)
            raised += 1
        return raised

    def relay(self, publish: Callable[[Sequence[StoredEvent]], None], *, limit: int = 100) -> int:
        """Hand unpublished events to the host and mark them published: the outbox relay.

        ``publish`` receives up to ``limit`` events, oldest first within each organisation,
        inside the relay's unit of work; if it raises, nothing is marked and the same events
        come again on the next call (at least once).  Several relays may run at once: each
        organisation's events are relayed by one of them at a time, so they go out in order.
        Events committed by a slower transaction than later ones reach the host in the next
        call after they commit.

        Returns:
            How many events were handed over (0 when there was nothing to relay).
        """
        _int_between(limit, "limit", 1, 10_000)

        def work(uow: UnitOfWork, now: datetime) -> int:
            events = uow.events.claim(limit=limit)
            if events:
                publish(events)
                uow.events.mark_published([e.id for e in events], now)
            return len(events)

        return self._run(work)

    def audit_log(
        self,
        actor: str,
        organisation_id: str,
        *,
        names: Sequence[str] | None = None,
        by: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> list[StoredEvent]:
        """Return who did what and when in the organisation, newest first (admins only).

        Args:
            names: only these event names (e.g. ``["CreditsAllocated", "RoleChanged"]``).
            by: only what this user did.
            since: only events at or after this instant.
            until: only events before this instant.
            offset: how many matching events to skip (paging).
            limit: how many to return, at most 500.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a malformed filter or page.
        """
        actor = _user_id(actor, "actor")
        wanted = None if names is None else [_event_name(n) for n in names]
        who = None if by is None else _user_id(by, "by")
        start = None if since is None else ensure_utc(since, name="since")
        end = None if until is None else ensure_utc(until, name="until")
        _int_between(offset, "offset", 0, 2**31)
        _int_between(limit, "limit", 1, 500)

        def work(uow: UnitOfWork, now: datetime) -> list[StoredEvent]:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            return uow.events.list(
                org.id,
                names=wanted,
                actor=who,
                since=start,
                until=end,
                offset=offset,
                limit=limit,
            )

        return self._run(work)

    # ------------------------------------------------------------------ analytics

    def usage_report(
        self,
        actor: str,
        organisation_id: str,
        *,
        by: UsageGrouping,
        first_period: int | None = None,
        last_period: int | None = None,
        user_id: str | None = None,
    ) -> list[UsageRow]:
        """Return the credits used in a range of periods, grouped by one key, ordered by key.

        Spends and captured holds count as spent, refunds as refunded; a refund counts for the
        member and tags of the spend it gives back, on the day it was made.  Admins see
        everyone's usage; a member sees only their own.

        Args:
            by: ``"member"`` (the key is the user id), ``"feature"`` or ``"model"`` (the tag,
                ``""`` when untagged), or ``"day"``, ``"week"``, ``"month"`` (UTC:
                ``2026-01-15``, ISO week ``2026-W03``, ``2026-01``).
            first_period: the first period of the range (default: ``last_period``).
            last_period: the last period, inclusive (default: the current period).
            user_id: only this member's usage (a member may name only themselves).

        Raises:
            PermissionDenied: a member asked for someone else's usage.
            InvalidInput: an unknown grouping or a bad range of periods.
            OrganisationNotFound: ``actor`` is not a member.
        """
        actor = _user_id(actor, "actor")
        grouping = _grouping(by)
        first_arg = _period_arg(first_period, "first_period")
        last_arg = _period_arg(last_period, "last_period")
        wanted = None if user_id is None else _user_id(user_id)

        def work(uow: UnitOfWork, now: datetime) -> list[UsageRow]:
            org, membership = self._enter(uow, organisation_id, actor, now, admin=False)
            first, last = _period_range(org, first_arg, last_arg)
            user = wanted
            if not membership.is_admin:
                if wanted not in (None, actor):
                    raise PermissionDenied(f"user {actor} may see only their own usage")
                user = actor
            return uow.reports.usage(
                org.id, first_period=first, last_period=last, by=grouping, user_id=user
            )

        return self._run(work)

    def top_consumers(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
        limit: int = 10,
    ) -> list[UsageRow]:
        """Return the members who used the most credits (net of refunds) in a range of periods,
        most first, ties by user id (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods, or ``limit`` outside 1..1000.
        """
        actor = _user_id(actor, "actor")
        first_arg = _period_arg(first_period, "first_period")
        last_arg = _period_arg(last_period, "last_period")
        count = _report_limit(limit)

        def work(uow: UnitOfWork, now: datetime) -> list[UsageRow]:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            first, last = _period_range(org, first_arg, last_arg)
            rows = uow.reports.usage(org.id, first_period=first, last_period=last, by="member")
            rows.sort(key=lambda row: (-row.net, row.key))
            return rows[:count]

        return self._run(work)

    def request_statistics(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
    ) -> views.RequestStatistics:
        """Return the credit requests made in a range of periods counted by outcome, the
        approval rate and the median time to a decision (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods.
        """
        actor = _user_id(actor, "actor")
        first_arg = _period_arg(first_period, "first_period")
        last_arg = _period_arg(last_period, "last_period")

        def work(uow: UnitOfWork, now: datetime) -> views.RequestStatistics:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            first, last = _period_range(org, first_arg, last_arg)
            if first == last:
                requests = uow.requests.list(org.id, period_index=first)
            else:
                requests = [r for r in uow.requests.list(org.id) if first <= r.period_index <= last]
            return views.build_request_statistics(requests, first, last)

        return self._run(work)

    def pool_utilisation(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
    ) -> list[views.PoolFigures]:
        """Return the pool's figures for each period of a range, oldest first (admins only).

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods.
        """
        actor = _user_id(actor, "actor")
        first_arg = _period_arg(first_period, "first_period")
        last_arg = _period_arg(last_period, "last_period")

        def work(uow: UnitOfWork, now: datetime) -> list[views.PoolFigures]:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            first, last = _period_range(org, first_arg, last_arg)
            return views.pool_history(uow, org, first, last)

        return self._run(work)

    def export_usage_csv(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
        user_id: str | None = None,
    ) -> Generator[str, None, None]:
        """Return the usage of a range of periods as CSV lines, streamed (admins only).

        One line per spend, captured hold and refund, oldest first, after a header:
        ``created_at`` (UTC, ISO 8601), ``period``, ``transfer_id``, ``kind``, ``user_id``,
        ``feature``, ``model``, ``spent``, ``refunded``, ``reference``; each line ends with
        ``\\r\\n``.  Summing ``spent`` and ``refunded`` gives :meth:`usage_report`'s figures.

        Permissions and arguments are checked now; the iterator reads the transfers in its
        own unit of work, opened on the first ``next()`` and closed when it is exhausted or
        closed, so close it (or exhaust it) promptly.  With a :class:`MemoryStore`, consume
        it in one thread: the unit of work holds the store's lock until it ends.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods.
        """
        actor = _user_id(actor, "actor")
        wanted = None if user_id is None else member_account(_user_id(user_id))
        org_id, first, last = self._export_scope(actor, organisation_id, first_period, last_period)

        def line(transfer: Transfer) -> list[object] | None:
            if transfer.kind in _USAGE_SPENT:
                code, spent, refunded = transfer.debit_account, transfer.amount, 0
            elif transfer.kind is TransferKind.REFUND:
                code, spent, refunded = transfer.credit_account, 0, transfer.amount
            else:
                return None
            if wanted is not None and code != wanted:
                return None
            return [
                _csv_instant(transfer.created_at),
                transfer.period_index,
                transfer.id,
                transfer.kind.value,
                member_of(code) or code,
                transfer.feature or "",
                transfer.model or "",
                spent,
                refunded,
                transfer.reference or "",
            ]

        return self._csv_lines(org_id, first, last, USAGE_CSV_HEADER, line)

    def export_ledger_csv(
        self,
        actor: str,
        organisation_id: str,
        *,
        first_period: int | None = None,
        last_period: int | None = None,
    ) -> Generator[str, None, None]:
        """Return every transfer of a range of periods as CSV lines, streamed (admins only).

        One line per transfer, oldest first, after a header: ``created_at`` (UTC, ISO 8601),
        ``period``, ``transfer_id``, ``kind``, ``debit_account``, ``credit_account``,
        ``amount``, ``actor``, ``reference``, ``idempotency_key``, ``feature``, ``model``.
        The iterator behaves as :meth:`export_usage_csv`'s does.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: a bad range of periods.
        """
        actor = _user_id(actor, "actor")
        org_id, first, last = self._export_scope(actor, organisation_id, first_period, last_period)

        def line(transfer: Transfer) -> list[object]:
            return [
                _csv_instant(transfer.created_at),
                transfer.period_index,
                transfer.id,
                transfer.kind.value,
                transfer.debit_account,
                transfer.credit_account,
                transfer.amount,
                transfer.actor,
                transfer.reference or "",
                transfer.idempotency_key or "",
                transfer.feature or "",
                transfer.model or "",
            ]

        return self._csv_lines(org_id, first, last, LEDGER_CSV_HEADER, line)

    def _export_scope(
        self, actor: str, organisation_id: str, first_period: object, last_period: object
    ) -> tuple[str, int, int]:
        """Check that ``actor`` may export, and resolve the range of periods."""
        first_arg = _period_arg(first_period, "first_period")
        last_arg = _period_arg(last_period, "last_period")

        def work(uow: UnitOfWork, now: datetime) -> tuple[str, int, int]:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            return (org.id, *_period_range(org, first_arg, last_arg))

        return self._run(work)

    def _csv_lines(
        self,
        organisation_id: str,
        first: int,
        last: int,
        header: Sequence[str],
        line: Callable[[Transfer], list[object] | None],
    ) -> Generator[str, None, None]:
        out = _CsvLine()
        writer = csv.writer(out, lineterminator="\r\n")
        with self._store.unit_of_work() as uow:
            transfers = uow.reports.stream_transfers(
                organisation_id, first_period=first, last_period=last
            )
            try:
                writer.writerow(header)
                yield out.take()
                for transfer in transfers:
                    values = line(transfer)
                    if values is not None:
                        writer.writerow(values)
                        yield out.take()
            finally:
                # Close the store's cursor before its unit of work ends, also when the caller
                # stops early (a closed or garbage-collected iterator lands here).
                close = getattr(transfers, "close", None)
                if close is not None:
                    close()

    # ------------------------------------------------------------------ views

    def profile(self, user_id: str) -> views.ProfileView:
        """Return what the profile page shows ``user_id``.

        For an enterprise member: the badge, the Enterprise Credits section and the flag that
        subscription management is hidden.  For anyone else: a view that says so, and the host
        shows its usual page.
        """
        user = _user_id(user_id)

        def work(uow: UnitOfWork, now: datetime) -> views.ProfileView:
            membership = uow.memberships.active_for_user(user)
            if membership is None:
                return views.ProfileView.personal(user)
            org = self._current(uow, self._organisation(uow, membership.organisation_id), now)
            return views.build_profile(uow, org, membership)

        return self._run(work)

    def dashboard(
        self,
        actor: str,
        organisation_id: str,
        *,
        sort: views.MemberSort = "name",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> views.Dashboard:
        """Return the admin dashboard: pool figures, a page of members, pending requests.

        Raises:
            PermissionDenied: ``actor`` is not an admin.
            InvalidInput: unknown sort key, or a bad page.
        """
        actor = _user_id(actor, "actor")
        page = views.Page.of(sort=sort, descending=descending, offset=offset, limit=limit)

        def work(uow: UnitOfWork, now: datetime) -> views.Dashboard:
            org, _ = self._enter(uow, organisation_id, actor, now, admin=True)
            return views.build_dashboard(uow, org, page)

        return self._run(work)

    def reconcile(self, organisation_id: str) -> list[str]:
        """Check the organisation's ledger: cached balances against the transfers.

        Returns:
            A list of problems; empty when the ledger is consistent.
        """
        from armox_enterprise.domain.ledger import reconcile

        def work(uow: UnitOfWork, now: datetime) -> list[str]:
            org = self._organisation(uow, organisation_id)
            return reconcile(uow.ledger.accounts(org.id), uow.ledger.transfers(org.id))

        return self._run(work)


class _Unset:
    """The type of :data:`NO_SEAT_LIMIT`."""

    def __repr__(self) -> str:
        return "NO_SEAT_LIMIT"


#: Pass as ``seat_limit`` to :meth:`EnterpriseService.update_settings` to remove the limit.
NO_SEAT_LIMIT = _Unset()


class _Settings(TypedDict):
    join_mode: JoinMode
    seat_limit: int | None
    rollover: RolloverPolicy
    max_open_requests: int
    allow_pool_spend: bool
    hold_lifetime: timedelta


def _settings(
    *,
    join_mode: object,
    seat_limit: object,
    rollover: object,
    max_open_requests: object,
    allow_pool_spend: object,
    hold_lifetime: object,
) -> _Settings:
    try:
        mode = JoinMode(join_mode)
    except ValueError:
        raise InvalidInput(
            f"join_mode must be one of automatic, request, invite_only, got {join_mode!r}"
        ) from None
    limit = None if seat_limit is None else credits(seat_limit, name="seat_limit")
    policy = RolloverPolicy() if rollover is None else rollover
    if not isinstance(policy, RolloverPolicy):
        raise InvalidInput("rollover must be a RolloverPolicy")
    non_negative_credits(policy.pool_carry_over_cap, name="pool_carry_over_cap")
    MemberRemainder(policy.member_remainder)
    open_cap = credits(max_open_requests, name="max_open_requests")
    pool_spend = _flag(allow_pool_spend, "allow_pool_spend")
    lifetime = _duration(hold_lifetime, "hold_lifetime")
    return _Settings(
        join_mode=mode,
        seat_limit=limit,
        rollover=policy,
        max_open_requests=open_cap,
        allow_pool_spend=pool_spend,
        hold_lifetime=lifetime,
    )


# ---------------------------------------------------------------------- analytics helpers

#: The longest range of periods one report or export covers (ten years of months).
MAX_REPORT_PERIODS = 120
_MAX_REPORT_LIMIT = 1000
_GROUPINGS: tuple[str, ...] = get_args(UsageGrouping)
_USAGE_SPENT = (TransferKind.SPEND, TransferKind.CAPTURE)

#: The header line of :meth:`EnterpriseService.export_usage_csv`.
USAGE_CSV_HEADER = (
    "created_at",
    "period",
    "transfer_id",
    "kind",
    "user_id",
    "feature",
    "model",
    "spent",
    "refunded",
    "reference",
)
#: The header line of :meth:`EnterpriseService.export_ledger_csv`.
LEDGER_CSV_HEADER = (
    "created_at",
    "period",
    "transfer_id",
    "kind",
    "debit_account",
    "credit_account",
    "amount",
    "actor",
    "reference",
    "idempotency_key",
    "feature",
    "model",
)


def _grouping(value: object) -> UsageGrouping:
    if not isinstance(value, str) or value not in _GROUPINGS:
        raise InvalidInput(f"by must be one of {', '.join(_GROUPINGS)}, got {value!r}")
    return cast(UsageGrouping, value)


def _period_arg(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{name} must be a period index (an int >= 0), got {value!r}")
    return value


def _period_range(org: Organisation, first: int | None, last: int | None) -> tuple[int, int]:
    """The range asked for, by default the current period; never one that has not begun."""
    current = org.current_period_index
    last_index = current if last is None else last
    first_index = last_index if first is None else first
    for index in (first_index, last_index):
        if index > current:
            raise InvalidInput(f"period {index} has not begun: the current period is {current}")
    if first_index > last_index:
        raise InvalidInput(f"first_period {first_index} is after last_period {last_index}")
    if last_index - first_index + 1 > MAX_REPORT_PERIODS:
        raise InvalidInput(
            f"a report covers at most {MAX_REPORT_PERIODS} periods, "
            f"not {last_index - first_index + 1}"
        )
    return first_index, last_index


def _report_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_REPORT_LIMIT:
        raise InvalidInput(f"limit must be an int from 1 to {_MAX_REPORT_LIMIT}, got {value!r}")
    return value


def _csv_instant(value: datetime) -> str:
    return ensure_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _CsvLine:
    """Where :func:`csv.writer` writes: it keeps the text until :meth:`take` hands it out."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text
