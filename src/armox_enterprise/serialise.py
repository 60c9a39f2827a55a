"""JSON forms: every record and view the service returns, as JSON-compatible data.

One set of rules for every record, so that a host's HTTP answers, the command line's
``--json`` output and the outbox relay agree:

- a record (an attrs class) becomes an object with one member per field, in the record's
  field order, plus the derived members :data:`DERIVED` names for its type;
- an instant becomes an ISO 8601 string in UTC with microseconds and ``Z``
  (``2026-03-02T09:00:00.000000Z``), the form the CSV exports use; a local date (a
  profile's ``valid_through``) becomes an ISO 8601 date (``2026-03-01``);
- an enum member becomes its value (``"admin"``, ``"domain_match"``), never its name;
- credits and every other count are JSON integers; ratios (``utilisation``,
  ``approval_rate``) are JSON numbers; a duration is a number of seconds;
- email addresses and domain names become their normalised text;
- ``None`` becomes ``null``; lists and tuples become arrays; a mapping (an event's payload)
  becomes an object with its keys sorted;
- a domain event becomes the object the outbox keeps (``name``, ``organisation_id``,
  ``actor``, ``occurred_at`` and its own fields under ``payload``).

Anything else is refused with :class:`TypeError` rather than guessed at.  The page
``docs/json.md`` lists every record's form.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import attrs

from armox_enterprise.domain.caps import CapStatus
from armox_enterprise.domain.enrolment import EnrolmentDecision
from armox_enterprise.domain.events import Event
from armox_enterprise.domain.organisation import DomainClaim, Organisation
from armox_enterprise.domain.values import DomainName, EmailAddress
from armox_enterprise.ports import UsageRow

__all__ = ["DERIVED", "INSTANT_FORMAT", "JsonValue", "dumps", "instant", "to_json"]

#: What :func:`to_json` returns: ``None``, a bool, an int, a float, a str, or a list or dict of
#: those.
JsonValue = Any

#: The ``strftime`` format of an instant: UTC, microseconds, ``Z``.
INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

#: Derived members a record's JSON form carries besides its fields: member name -> how it is
#: read from the record.
DERIVED: Mapping[type, Mapping[str, Callable[[Any], object]]] = {
    Organisation: {"current_period": lambda org: org.current_period},
    DomainClaim: {
        "verified": lambda claim: claim.is_verified,
        "status": lambda claim: claim.status,
        "txt_record": lambda claim: claim.txt_record,
    },
    EnrolmentDecision: {"enrolled": lambda decision: decision.enrolled},
    UsageRow: {"net": lambda row: row.net},
    CapStatus: {"room": lambda status: status.room},
}


def instant(value: datetime) -> str:
    """Return an aware instant as the JSON forms write it: ``2026-03-02T09:00:00.000000Z``.

    Raises:
        ValueError: ``value`` is naive.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"cannot write a naive datetime as an instant: {value!r}")
    return value.astimezone(timezone.utc).strftime(INSTANT_FORMAT)


def to_json(value: object) -> JsonValue:
    """Return ``value`` (a record, a view, a list of them, ``None`` ...) as JSON-compatible data.

    The result holds only ``None``, bools, ints, floats, strings, lists and dicts with string
    keys, so ``json.dumps`` always takes it.

    Raises:
        TypeError: ``value`` is, or holds, something that has no JSON form.
        ValueError: ``value`` holds a naive datetime.
    """
    for kinds, convert in _RULES:
        if isinstance(value, kinds):
            return convert(value)
    if attrs.has(type(value)):
        return _record(value)
    raise TypeError(f"{type(value).__name__} has no JSON form")


def dumps(value: object, *, indent: int | None = None) -> str:
    """Return the JSON text of ``value``'s JSON form (:func:`to_json`).

    Compact (no spaces) by default; with ``indent``, one member a line.  Non-ASCII text is
    escaped, so the text is plain ASCII.

    Raises:
        TypeError: ``value`` is, or holds, something that has no JSON form.
    """
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(to_json(value), indent=indent, separators=separators, allow_nan=False)


def _record(value: Any) -> dict[str, JsonValue]:
    data = {field.name: to_json(getattr(value, field.name)) for field in attrs.fields(type(value))}
    for name, read in DERIVED.get(type(value), {}).items():
        data[name] = to_json(read(value))
    return data


def _event(event: Event) -> dict[str, JsonValue]:
    common = {"organisation_id", "actor", "occurred_at"}
    return {
        "name": event.name,
        "organisation_id": event.organisation_id,
        "actor": event.actor,
        "occurred_at": instant(event.occurred_at),
        "payload": _object(
            (field.name, getattr(event, field.name))
            for field in attrs.fields(type(event))
            if field.name not in common
        ),
    }


def _object(items: Iterable[tuple[object, object]]) -> dict[str, JsonValue]:
    """A mapping's JSON object, its keys sorted: a payload reads the same from every store."""
    pairs = sorted(((_key(key), item) for key, item in items), key=lambda pair: pair[0])
    return {key: to_json(item) for key, item in pairs}


#: How each kind of value becomes JSON, tried in order (the first that applies wins); a record
#: (an attrs class) not named here is an object of its fields.  Enum members come first (the
#: library's enums are also strs), the value types before the records they also are.
_RULES: tuple[tuple[type | tuple[type, ...], Callable[[Any], JsonValue]], ...] = (
    (enum.Enum, lambda value: to_json(value.value)),
    ((type(None), bool, int, float, str), lambda value: value),
    (datetime, instant),
    (date, date.isoformat),
    (timedelta, lambda value: value.total_seconds()),
    ((EmailAddress, DomainName), str),
    (Event, _event),
    (Mapping, lambda value: _object(value.items())),
    ((list, tuple), lambda value: [to_json(item) for item in value]),
)


def _key(key: object) -> str:
    if isinstance(key, enum.Enum):
        return str(key.value)
    if isinstance(key, str):
        return key
    raise TypeError(f"a JSON object's keys are strings, not {type(key).__name__}")
