"""Value types and the validation that guards the library's boundary.

Credits are plain ``int`` values validated by :func:`credits`; identifiers are strings; email
addresses and domain names are normalised frozen values.  Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from datetime import datetime, timedelta, timezone
from datetime import tzinfo as datetime_tzinfo

import attrs
import idna

from armox_enterprise.exceptions import (
    AmountTypeError,
    InvalidAmount,
    InvalidDomain,
    InvalidEmail,
    InvalidInput,
    InvalidInstant,
    InvalidText,
)

__all__ = [
    "ACCOUNT_CODE_LENGTH",
    "DEFAULT_TIME_ZONE",
    "DOMAIN_LENGTH",
    "EMAIL_LENGTH",
    "EXTERNAL_ID_LENGTH",
    "ID_LENGTH",
    "MAX_CREDITS",
    "NAME_LENGTH",
    "NOTE_LENGTH",
    "REF_LENGTH",
    "STATE_LENGTH",
    "STORED_KEY_LENGTH",
    "TAG_LENGTH",
    "TIME_ZONE_LENGTH",
    "TOKEN_LENGTH",
    "DomainName",
    "EmailAddress",
    "credits",
    "ensure_utc",
    "new_id",
    "non_negative_credits",
    "text",
    "time_zone",
    "zone_info",
]

#: The largest amount a signed 64-bit ``BIGINT`` column holds.
MAX_CREDITS = 2**63 - 1

# Field limits, in characters.  The boundary's validation and the SQL tables' column sizes
# both read these, so the two cannot drift apart.
#: An id the library makes (time-ordered, opaque).
ID_LENGTH = 36
#: A host's user id, or an id or key a caller passes in.
REF_LENGTH = 128
#: An idempotency key or reference as stored: a caller's, or one the library makes.
STORED_KEY_LENGTH = 160
#: An account code: ``member:`` and a user id, or a fixed code.
ACCOUNT_CODE_LENGTH = 160
#: A display name (an organisation's, a member's).
NAME_LENGTH = 200
#: A note on a credit request or a decision.
NOTE_LENGTH = 1000
#: A usage tag (feature, model).
TAG_LENGTH = 64
#: An email address (RFC 5321's path limit).
EMAIL_LENGTH = 254
#: A company directory's own id of a user (SCIM ``externalId``).
EXTERNAL_ID_LENGTH = 255
#: A domain name in its ASCII (punycode) form.
DOMAIN_LENGTH = 253
#: The value of an enumeration (a status, a role, a kind).
STATE_LENGTH = 16
#: A domain's verification token.
TOKEN_LENGTH = 64
#: An IANA time zone name (the longest in the database has 32 characters).
TIME_ZONE_LENGTH = 64
#: The time zone an organisation has unless it is given another.
DEFAULT_TIME_ZONE = "UTC"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_MAX_DOMAIN = DOMAIN_LENGTH
_MAX_EMAIL = EMAIL_LENGTH
_MAX_LOCAL = 64


def credits(value: object, *, name: str = "amount") -> int:
    """Return ``value`` if it is a valid positive credit amount.

    Raises:
        AmountTypeError: ``value`` is not an ``int`` (a ``bool`` is refused too).
        InvalidAmount: ``value`` is zero, negative or larger than a BIGINT.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise AmountTypeError(f"{name} must be an int, not {type(value).__name__}")
    if value <= 0:
        raise InvalidAmount(f"{name} must be positive, got {value}")
    if value > MAX_CREDITS:
        raise InvalidAmount(f"{name} must fit a signed 64-bit integer, got {value}")
    return value


def non_negative_credits(value: object, *, name: str = "amount") -> int:
    """Like :func:`credits` but also accepts zero (allowances, caps, allotments)."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise InvalidAmount(f"{name} must not be negative, got {value}")
    return credits(value, name=name)


def text(value: object, *, name: str, max_length: int, allow_empty: bool = False) -> str:
    """Return ``value`` stripped, if it is a string within ``max_length`` characters.

    Raises:
        InvalidText: not a string, empty (unless allowed) or too long.
    """
    if not isinstance(value, str):
        raise InvalidText(f"{name} must be a string, not {type(value).__name__}")
    stripped = value.strip()
    if not stripped and not allow_empty:
        raise InvalidText(f"{name} must not be empty")
    if len(stripped) > max_length:
        raise InvalidText(f"{name} must be at most {max_length} characters, got {len(stripped)}")
    if "\x00" in stripped or "\r" in stripped or "\n" in stripped:
        raise InvalidText(f"{name} must not contain NUL or line breaks")
    # ASCII always encodes: only other text can hold a lone surrogate.
    if not stripped.isascii() and not _encodes(stripped):
        raise InvalidText(f"{name} must be valid Unicode text: it holds a lone surrogate")
    return stripped


def _encodes(value: str) -> bool:
    """Whether ``value`` encodes as UTF-8 (lone surrogates do not, and no store takes them)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def ensure_utc(value: object, *, name: str = "instant") -> datetime:
    """Return ``value`` converted to UTC; a naive ``datetime`` is refused.

    Raises:
        InvalidInstant: not a ``datetime``, or naive.
    """
    if type(value) is datetime and value.tzinfo is timezone.utc:
        return value  # already what the checks below would return (the common case)
    if not isinstance(value, datetime):
        raise InvalidInstant(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInstant(f"{name} must be timezone-aware, got a naive datetime")
    return value.astimezone(timezone.utc)


_id_lock = threading.Lock()
#: The millisecond and the counter of the last id made: the next one sorts after it.
_last_stamp = (0, 0)
#: The last instant an id was made for, and its millisecond (one tuple: set at once).
_last_instant: tuple[datetime | None, int] = (None, 0)
#: The text of the last id up to its last group, and the millisecond and the counter's bits
#: above that group it was made from: ids of one millisecond differ only in the last group
#: until the counter carries into the bits above it.
_last_prefix: tuple[int, int, str] = (-1, -1, "")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND = timedelta(milliseconds=1)
_MILLIS_MASK = (1 << 48) - 1
#: The 74 bits after the version and variant: ``rand_a`` (12 bits) and ``rand_b`` (62).
_COUNTER_BITS = 74
#: A new millisecond's counter starts at 70 random bits, leaving room to count up.
_START_BITS = 70
_VERSION_AND_VARIANT = (0x7 << 76) | (0x2 << 62)
#: The last group of the text: 12 hex digits, the id's (and the counter's) low 48 bits.
_LAST_GROUP_BITS = 48
_LAST_GROUP_MASK = (1 << _LAST_GROUP_BITS) - 1


def new_id(now: datetime) -> str:
    """Return a new time-ordered identifier (a UUID version 7 string) for instant ``now``.

    Ids made later sort after ids made earlier: by millisecond of ``now``, and within one
    process strictly in the order they were made (the random bits then count up), which keeps
    database indexes compact and gives a stable order to records made in the same instant.
    Callers must treat them as opaque.

    Raises:
        InvalidInstant: ``now`` is not an aware ``datetime``.
    """
    global _last_stamp, _last_instant, _last_prefix  # noqa: PLW0603 - process-wide by design
    instant, millis = _last_instant
    if instant is not now:  # a record and its event are often stamped with one instant
        checked = now if type(now) is datetime and now.tzinfo is timezone.utc else ensure_utc(now)
        # Whole milliseconds since the epoch, in integers (no float on the way).
        millis = ((checked - _EPOCH) // _MILLISECOND) & _MILLIS_MASK
        _last_instant = (now, millis)
    with _id_lock:
        last_millis, last_counter = _last_stamp
        if millis <= last_millis:
            millis, counter = last_millis, last_counter + 1
            if counter >> _COUNTER_BITS:
                # The counter is full (never in practice): borrow the next millisecond.
                millis, counter = last_millis + 1, _random_start()
        else:
            # Random bits only for a new millisecond: within one, the ids count up.
            counter = _random_start()
        _last_stamp = (millis, counter)
        high = counter >> _LAST_GROUP_BITS
        prefix_millis, prefix_high, prefix = _last_prefix
        if prefix_millis != millis or prefix_high != high:
            # rand_a is the counter's top 12 bits; the other 14 open rand_b.
            rand = (high >> 14 << 64) | ((high & 0x3FFF) << _LAST_GROUP_BITS)
            value = (millis << 80) | _VERSION_AND_VARIANT | rand
            digits = f"{value:032x}"
            prefix = f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-"
            _last_prefix = (millis, high, prefix)
    # The last group: the counter's low 48 bits, which are the id's own low 48 bits.
    return f"{prefix}{counter & _LAST_GROUP_MASK:012x}"


def _random_start() -> int:
    """A new millisecond's first counter: 70 random bits from the system's random source."""
    return int.from_bytes(os.urandom(9), "big") >> (72 - _START_BITS)


def _normalise_domain(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidDomain(f"a domain must be a string, not {type(value).__name__}")
    raw = value.strip().rstrip(".").lower()
    if not raw:
        raise InvalidDomain("a domain must not be empty")
    if len(raw) > 1000 or not _encodes(raw):
        raise InvalidDomain("a domain must be at most 253 characters of valid Unicode text")
    ascii_name = _to_ascii(raw, value)
    if len(ascii_name) > _MAX_DOMAIN:
        raise InvalidDomain(f"a domain must be at most {_MAX_DOMAIN} characters")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise InvalidDomain(f"{value!r} is not a fully qualified domain (it needs a dot)")
    for label in labels:
        if not _LABEL.match(label):
            raise InvalidDomain(f"{value!r} has an invalid label {label!r}")
    if labels[-1].isdigit():
        raise InvalidDomain(f"{value!r} looks like an IP address, not a domain")
    return ascii_name


def _to_ascii(raw: str, value: object) -> str:
    """The name's ASCII form by UTS 46 and IDNA 2008, every label checked.

    A plain ASCII name without A-labels (``xn--``) is already its own form.  Any other name is
    mapped (UTS 46, non-transitional: ``faß.de`` stays ``faß.de``, it is not folded into
    ``fass.de``), encoded, then decoded again, which refuses malformed punycode; a label that
    mixes scripts is refused as a look-alike (:func:`_ensure_one_script`).
    """
    if raw.isascii() and not any(label.startswith("xn--") for label in raw.split(".")):
        return raw
    try:
        ascii_name = idna.encode(raw, uts46=True, transitional=False).decode("ascii")
        unicode_name = idna.decode(ascii_name)
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidDomain(f"{value!r} is not a valid internationalised domain name") from exc
    for label in unicode_name.split("."):
        _ensure_one_script(label, value)
    return ascii_name.lower()


#: Scripts that may share a label (UTS 39's "highly restrictive" combinations).
_COMPATIBLE_SCRIPTS = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
)


#: First words of Unicode names that belong to another script's word.
_SCRIPT_ALIASES = {"IDEOGRAPHIC": "CJK", "KATAKANA-HIRAGANA": "KATAKANA"}


def _script(char: str) -> str | None:
    """The script of a letter, by the first word of its Unicode name; ``None`` for what is
    not a letter (digits, the hyphen, marks, the Catalan middle dot)."""
    if not unicodedata.category(char).startswith("L"):
        return None
    word = unicodedata.name(char, "").split(" ", 1)[0]
    return _SCRIPT_ALIASES.get(word, word) or None


def _ensure_one_script(label: str, value: object) -> None:
    """Refuse a label that mixes scripts (a Cyrillic letter among Latin ones): a look-alike."""
    scripts = {s for s in map(_script, label) if s is not None}
    if len(scripts) <= 1 or any(scripts <= allowed for allowed in _COMPATIBLE_SCRIPTS):
        return
    raise InvalidDomain(
        f"{value!r} mixes scripts in the label {label!r} ({', '.join(sorted(scripts))}): "
        "a look-alike of another name"
    )


@attrs.frozen(order=True)
class DomainName:
    """A normalised DNS name: trimmed, lower-case, no trailing dot, IDNA (punycode) encoded.

    Construct it with ``DomainName.parse("Exämple.COM.")``; the constructor itself also
    normalises, so an invalid name cannot exist.
    """

    value: str = attrs.field(converter=_normalise_domain)

    @classmethod
    def parse(cls, value: str | DomainName) -> DomainName:
        """Return ``value`` as a :class:`DomainName`, normalising a string.

        Raises:
            InvalidDomain: the name is malformed or too long.
        """
        if isinstance(value, DomainName):
            return value
        return cls(value)

    def parents(self) -> list[DomainName]:
        """Return the enclosing domains, nearest first (``a.b.c`` gives ``b.c``)."""
        labels = self.value.split(".")
        return [DomainName(".".join(labels[i:])) for i in range(1, len(labels) - 1)]

    def __str__(self) -> str:
        return self.value


def _normalise_email(value: object) -> tuple[str, DomainName]:
    if not isinstance(value, str):
        raise InvalidEmail(f"an email address must be a string, not {type(value).__name__}")
    raw = value.strip()
    if len(raw) > _MAX_EMAIL * 4:
        raise InvalidEmail(f"an email address must be at most {_MAX_EMAIL} characters")
    local, sep, domain = raw.rpartition("@")
    if not sep or not local:
        raise InvalidEmail(f"{value!r} is not an email address")
    if len(local) > _MAX_LOCAL or not _LOCAL_PART.match(local):
        raise InvalidEmail(f"{value!r} has an invalid local part")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmail(f"{value!r} has misplaced dots in its local part")
    try:
        domain_name = DomainName(domain)
    except InvalidDomain as exc:
        raise InvalidEmail(f"{value!r} has an invalid domain: {exc}") from exc
    if len(local) + 1 + len(domain_name.value) > _MAX_EMAIL:
        raise InvalidEmail(f"an email address must be at most {_MAX_EMAIL} characters")
    return local, domain_name


@attrs.frozen(order=True)
class EmailAddress:
    """A validated email address; the domain part is normalised like :class:`DomainName`.

    The local part keeps its case (mailbox names may be case-sensitive), but comparisons for
    enrolment only look at the domain.
    """

    local: str
    domain: DomainName

    @classmethod
    def parse(cls, value: str | EmailAddress) -> EmailAddress:
        """Return ``value`` as an :class:`EmailAddress`.

        Raises:
            InvalidEmail: the address is malformed or too long.
        """
        if isinstance(value, EmailAddress):
            return value
        local, domain = _normalise_email(value)
        return cls(local, domain)

    def __str__(self) -> str:
        return f"{self.local}@{self.domain.value}"


def zone_info(name: str) -> datetime_tzinfo:
    """The :class:`zoneinfo.ZoneInfo` of ``name`` (imported here: ``zoneinfo`` loads
    ``sysconfig``, which the domain's import does not need)."""
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


def time_zone(value: object, *, name: str = "time_zone") -> str:
    """Return ``value`` checked as an IANA time zone name (``"UTC"``, ``"Asia/Kolkata"``).

    The name must be one :class:`zoneinfo.ZoneInfo` finds, spelt as the database spells it.

    Raises:
        InvalidInput: ``value`` is not a string, too long, or not a known zone.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be an IANA time zone name, not {type(value).__name__}")
    # ``localtime`` is the host's own zone, which differs from one machine to the next.
    if not value or len(value) > TIME_ZONE_LENGTH or value != value.strip() or value == "localtime":
        raise InvalidInput(f"{name} is not a known IANA time zone: {value!r}")
    try:
        zone_info(value)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise InvalidInput(
            f"{name} is not a known IANA time zone: {value!r} "
            "(where the system has no time zone database, install the tzdata package)"
        ) from None
    return value


def months_later(anchor: datetime, months: int) -> datetime:
    """Return ``anchor`` moved by ``months`` calendar months, its day clamped to the month.

    The day of the month always comes from ``anchor`` (the 31st stays the 31st where it can),
    so repeated periods never drift.
    """
    total = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    day = min(anchor.day, _days_in_month(year, month))
    return anchor.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    nxt = datetime(year, month + 1, 1, tzinfo=timezone.utc)
    return (nxt - timedelta(days=1)).day
