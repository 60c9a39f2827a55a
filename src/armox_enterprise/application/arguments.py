"""Argument parsing at the boundary: one parser per kind of value a use case takes.

Every public method of the service turns its raw arguments into checked values here before it
opens a unit of work, so bad input is refused with a specific error and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TypedDict

import attrs

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.alerts import DEFAULT_THRESHOLDS, AlertThresholds
from armox_enterprise.domain.idempotency import ensure_caller_key
from armox_enterprise.domain.organisation import JoinMode, MemberRemainder, Role, RolloverPolicy
from armox_enterprise.domain.periods import report_range
from armox_enterprise.domain.requests import RequestStatus
from armox_enterprise.domain.spending import MAX_HOLD_LIFETIME
from armox_enterprise.domain.values import (
    NAME_LENGTH,
    NOTE_LENGTH,
    REF_LENGTH,
    TAG_LENGTH,
    EmailAddress,
    credits,
    ensure_utc,
    non_negative_credits,
    text,
)
from armox_enterprise.exceptions import InvalidEmail, InvalidInput

__all__ = [
    "NO_SEAT_LIMIT",
    "ExistingUser",
    "NoSeatLimit",
    "PeriodRange",
    "Settings",
    "UserEntry",
    "collection",
    "duration",
    "email",
    "event_names",
    "existing_users",
    "flag",
    "handler",
    "instant",
    "int_between",
    "key",
    "name",
    "note",
    "optional_amount",
    "optional_key",
    "optional_user",
    "period",
    "period_range",
    "ref",
    "report_limit",
    "request_status",
    "role",
    "settings",
    "settings_update",
    "tag",
    "user",
]


@attrs.frozen
class ExistingUser:
    """A host user who signed up before their organisation claimed its domain."""

    user_id: str
    email: str
    email_verified: bool
    display_name: str = ""


class NoSeatLimit:
    """The type of :data:`NO_SEAT_LIMIT`."""

    def __repr__(self) -> str:
        return "NO_SEAT_LIMIT"


#: Pass as ``seat_limit`` to :meth:`EnterpriseService.update_settings` to remove the limit.
NO_SEAT_LIMIT = NoSeatLimit()

_MAX_REPORT_LIMIT = 1000


def user(value: object, field: str = "user_id") -> str:
    """A host's user id (``actor``, ``user_id``, ``by`` ...)."""
    return text(value, name=field, max_length=REF_LENGTH)


def optional_user(value: object, field: str = "user_id") -> str | None:
    """A user id, or ``None``."""
    return None if value is None else user(value, field)


def ref(value: object, field: str) -> str:
    """An identifier the caller got from the library (organisation, hold, request ...)."""
    return text(value, name=field, max_length=REF_LENGTH)


def key(value: object, field: str = "idempotency_key") -> str:
    """A caller's idempotency key or generation id (the library's own prefix is reserved);
    ``field`` is the argument's name as the caller passed it (``generation_id`` ...)."""
    return ensure_caller_key(text(value, name=field, max_length=REF_LENGTH), name=field)


def optional_key(value: object, field: str = "idempotency_key") -> str | None:
    """An idempotency key, or ``None``."""
    return None if value is None else key(value, field)


def tag(value: object, field: str) -> str | None:
    """A usage tag (``feature``, ``model``), or ``None``."""
    return None if value is None else text(value, name=field, max_length=TAG_LENGTH)


def name(value: object, field: str, *, allow_empty: bool = False) -> str:
    """A display name."""
    return text(value, name=field, max_length=NAME_LENGTH, allow_empty=allow_empty)


def note(value: object) -> str:
    """A note on a request or a decision (may be empty)."""
    return text(value, name="note", max_length=NOTE_LENGTH, allow_empty=True)


def email(value: object, field: str) -> EmailAddress:
    """An email address; the error names ``field``, the argument as the caller passed it."""
    if not isinstance(value, (str, EmailAddress)):
        kind = type(value).__name__
        raise InvalidEmail(f"{field} must be an email address (a string), not {kind}")
    try:
        return EmailAddress.parse(value)
    except InvalidEmail as exc:
        raise InvalidEmail(f"{field}: {exc}") from None


def optional_amount(value: object) -> int | None:
    """A credit amount, or ``None`` (meaning "all of it")."""
    return None if value is None else credits(value)


def flag(value: object, field: str) -> bool:
    """A bool (and only a bool: ``1`` and ``"yes"`` are refused)."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be a bool, not {type(value).__name__}")
    return value


def duration(value: object, field: str) -> timedelta:
    """A positive ``timedelta`` of at most :data:`MAX_HOLD_LIFETIME`."""
    if not isinstance(value, timedelta) or not timedelta(0) < value <= MAX_HOLD_LIFETIME:
        raise InvalidInput(
            f"{field} must be a positive timedelta of at most {MAX_HOLD_LIFETIME.days} days, "
            f"got {value!r}"
        )
    return value


def int_between(value: object, field: str, low: int, high: int) -> int:
    """An int (not a bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an int from {low} to {high}, got {value!r}")
    return value


def instant(value: object, field: str) -> datetime | None:
    """An aware instant (normalised to UTC), or ``None``."""
    return None if value is None else ensure_utc(value, name=field)


def collection(values: object, field: str) -> list[object]:
    """A list, tuple, set or other iterable of values (a string or a mapping is not one)."""
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise InvalidInput(
            f"{field} must be a list or another iterable of values, not {type(values).__name__}"
        )
    return list(values)


def handler(value: object, field: str) -> Callable[..., object]:
    """A callable (an event handler, a publisher)."""
    if not callable(value):
        raise InvalidInput(f"{field} must be callable, not {type(value).__name__}")
    return value


def event_names(values: object) -> list[str] | None:
    """Event type names (``"CreditsAllocated"`` ...), or ``None`` for all."""
    if values is None:
        return None
    names = []
    for value in collection(values, "names"):
        if not isinstance(value, str) or value not in ev.EVENT_TYPES:
            raise InvalidInput(f"unknown event name {value!r}")
        names.append(value)
    return names


def role(value: object) -> Role:
    """A :class:`Role` or its value."""
    try:
        return Role(value)
    except ValueError:
        choices = " or ".join(repr(r.value) for r in Role)
        raise InvalidInput(f"role must be {choices}, got {value!r}") from None


def request_status(value: object) -> RequestStatus | None:
    """A :class:`RequestStatus` or its value, or ``None`` for every status."""
    if value is None:
        return None
    try:
        return RequestStatus(value)
    except ValueError:
        raise InvalidInput(f"unknown request status {value!r}") from None


def period(value: object, field: str) -> int | None:
    """A period index (an int from 0), or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{field} must be a period index (an int >= 0), got {value!r}")
    return value


@attrs.frozen
class PeriodRange:
    """The periods a report asked for, checked: resolved against the organisation's current
    period by :func:`~armox_enterprise.domain.periods.report_range`."""

    first: int | None
    last: int | None

    def resolve(self, current_period_index: int) -> tuple[int, int]:
        """The range, the current period by default.

        Raises:
            InvalidInput: the range is reversed, too long, or names a period that has not
                begun (the message names ``first_period`` or ``last_period``).
        """
        for field, index in (("first_period", self.first), ("last_period", self.last)):
            if index is not None and index > current_period_index:
                raise InvalidInput(
                    f"{field} {index} has not begun: the current period is {current_period_index}"
                )
        return report_range(current_period_index, self.first, self.last)


def period_range(first: object, last: object) -> PeriodRange:
    """A report's ``first_period`` and ``last_period``, each a period index or ``None``."""
    return PeriodRange(period(first, "first_period"), period(last, "last_period"))


def report_limit(value: object) -> int:
    """How many rows a report returns: 1 to 1000."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_REPORT_LIMIT:
        raise InvalidInput(f"limit must be an int from 1 to {_MAX_REPORT_LIMIT}, got {value!r}")
    return value


@attrs.frozen
class UserEntry:
    """An :class:`ExistingUser` once checked."""

    user_id: str
    email: EmailAddress
    email_verified: bool
    display_name: str


def existing_users(values: object) -> list[UserEntry]:
    """A batch of :class:`ExistingUser` values, each field checked."""
    entries = []
    for value in collection(values, "users"):
        if not isinstance(value, ExistingUser):
            raise InvalidInput(f"users must be ExistingUser values, not {type(value).__name__}")
        entries.append(
            UserEntry(
                user(value.user_id),
                email(value.email, "email"),
                flag(value.email_verified, "email_verified"),
                name(value.display_name, "display_name", allow_empty=True),
            )
        )
    return entries


class Settings(TypedDict):
    """An organisation's settings, checked: the fields of :class:`Organisation` they set."""

    join_mode: JoinMode
    seat_limit: int | None
    rollover: RolloverPolicy
    max_open_requests: int
    allow_pool_spend: bool
    hold_lifetime: timedelta
    alert_thresholds: AlertThresholds


def settings(
    *,
    join_mode: object,
    seat_limit: object,
    rollover: object,
    max_open_requests: object,
    allow_pool_spend: object,
    hold_lifetime: object,
    alert_thresholds: object = None,
) -> Settings:
    """Every setting of an organisation, checked (``alert_thresholds=None`` is the default
    thresholds)."""
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
    thresholds = DEFAULT_THRESHOLDS if alert_thresholds is None else alert_thresholds
    if not isinstance(thresholds, AlertThresholds):
        raise InvalidInput(
            f"alert_thresholds must be an AlertThresholds, not {type(thresholds).__name__}"
        )
    return Settings(
        join_mode=mode,
        seat_limit=limit,
        rollover=policy,
        max_open_requests=credits(max_open_requests, name="max_open_requests"),
        allow_pool_spend=flag(allow_pool_spend, "allow_pool_spend"),
        hold_lifetime=duration(hold_lifetime, "hold_lifetime"),
        alert_thresholds=thresholds,
    )


def settings_update(
    current: Settings,
    *,
    join_mode: object,
    seat_limit: object,
    rollover: object,
    max_open_requests: object,
    allow_pool_spend: object,
    hold_lifetime: object,
    alert_thresholds: object = None,
) -> Settings:
    """The settings after an update: ``None`` keeps a setting, :data:`NO_SEAT_LIMIT` removes
    the seat limit."""
    return settings(
        join_mode=current["join_mode"] if join_mode is None else join_mode,
        seat_limit=(
            current["seat_limit"]
            if seat_limit is None
            else None
            if isinstance(seat_limit, NoSeatLimit)
            else seat_limit
        ),
        rollover=current["rollover"] if rollover is None else rollover,
        max_open_requests=(
            current["max_open_requests"] if max_open_requests is None else max_open_requests
        ),
        allow_pool_spend=current["allow_pool_spend"]
        if allow_pool_spend is None
        else allow_pool_spend,
        hold_lifetime=current["hold_lifetime"] if hold_lifetime is None else hold_lifetime,
        alert_thresholds=(
            current["alert_thresholds"] if alert_thresholds is None else alert_thresholds
        ),
    )
