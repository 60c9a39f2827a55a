"""Value types: credit amounts, text, instants, ids, domain names and email addresses."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest

from armox_enterprise.domain.idempotency import internal_key
from armox_enterprise.domain.ledger import HoldStatus, TransferKind, member_account
from armox_enterprise.domain.organisation import (
    JoinMode,
    JoinRequestStatus,
    MemberRemainder,
    MemberStatus,
    Role,
)
from armox_enterprise.domain.requests import RequestStatus
from armox_enterprise.domain.values import (
    ACCOUNT_CODE_LENGTH,
    DOMAIN_LENGTH,
    EMAIL_LENGTH,
    ID_LENGTH,
    MAX_CREDITS,
    NAME_LENGTH,
    NOTE_LENGTH,
    REF_LENGTH,
    STATE_LENGTH,
    STORED_KEY_LENGTH,
    TAG_LENGTH,
    TOKEN_LENGTH,
    DomainName,
    EmailAddress,
    credits,
    ensure_utc,
    months_later,
    new_id,
    non_negative_credits,
    text,
)
from armox_enterprise.exceptions import (
    AmountTypeError,
    InvalidAmount,
    InvalidDomain,
    InvalidEmail,
    InvalidInstant,
    InvalidText,
)

UTC = timezone.utc

# ---------------------------------------------------------------------------- credit amounts


@pytest.mark.parametrize("amount", [1, 42, MAX_CREDITS])
def test_credits_accepts_positive_ints_up_to_bigint(amount: int) -> None:
    """Any positive int that fits a signed 64-bit column is a credit amount, unchanged."""
    assert credits(amount) == amount


@pytest.mark.parametrize("amount", [True, False, 1.0, 2.5, "5", Decimal(5), Fraction(5), None, []])
def test_credits_refuses_non_ints_with_a_type_error(amount: object) -> None:
    """Bools, floats, strings, decimals and other non-ints are refused as a TypeError."""
    with pytest.raises(AmountTypeError) as caught:
        credits(amount)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("amount", [0, -1, -MAX_CREDITS, MAX_CREDITS + 1, 10**30])
def test_credits_refuses_out_of_range_ints_with_a_value_error(amount: int) -> None:
    """Zero, negatives and anything past a BIGINT are invalid amounts, but not type errors."""
    with pytest.raises(InvalidAmount) as caught:
        credits(amount)
    assert not isinstance(caught.value, TypeError)


def test_credits_names_the_argument_in_its_message() -> None:
    """The error says which argument was wrong."""
    with pytest.raises(InvalidAmount, match="seat_limit"):
        credits(0, name="seat_limit")


def test_non_negative_credits_accepts_zero_but_not_false_or_negatives() -> None:
    """Allowances and caps may be zero; ``False`` is still not a number of credits."""
    assert non_negative_credits(0) == 0
    assert non_negative_credits(7) == 7
    with pytest.raises(AmountTypeError):
        non_negative_credits(False)
    with pytest.raises(InvalidAmount):
        non_negative_credits(-1)
    with pytest.raises(InvalidAmount):
        non_negative_credits(MAX_CREDITS + 1)


# ---------------------------------------------------------------------------- text


def test_text_strips_and_keeps_inner_spaces() -> None:
    """Names are trimmed; what is inside is kept."""
    assert text("  Acme  Corp \t", name="name", max_length=20) == "Acme  Corp"


def test_text_length_limit_is_inclusive_and_counts_after_stripping() -> None:
    """Exactly ``max_length`` characters pass; one more is refused."""
    assert text(" " + "x" * 10 + " ", name="name", max_length=10) == "x" * 10
    with pytest.raises(InvalidText, match="at most 10"):
        text("x" * 11, name="name", max_length=10)


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_text_refuses_blank_unless_allowed(value: str) -> None:
    """Blank text is refused for required fields and becomes ``""`` for optional ones."""
    with pytest.raises(InvalidText, match="empty"):
        text(value, name="name", max_length=10)
    assert text(value, name="note", max_length=10, allow_empty=True) == ""


@pytest.mark.parametrize("value", [None, 5, b"bytes", ["a"]])
def test_text_refuses_non_strings(value: object) -> None:
    """Only ``str`` is text."""
    with pytest.raises(InvalidText):
        text(value, name="name", max_length=10)


@pytest.mark.parametrize("value", ["a\x00b", "line\nbreak", "carriage\rreturn"])
def test_text_refuses_nul_and_inner_line_breaks(value: str) -> None:
    """NUL bytes and line breaks inside a name are refused (they break logs and CSV)."""
    with pytest.raises(InvalidText):
        text(value, name="name", max_length=50)


def test_text_errors_are_value_errors() -> None:
    """A caller catching ``ValueError`` catches bad text."""
    with pytest.raises(ValueError, match="name"):
        text("", name="name", max_length=1)


# ---------------------------------------------------------------------------- instants and ids


def test_ensure_utc_converts_aware_instants_to_utc() -> None:
    """An aware instant in any zone comes back as the same instant in UTC."""
    plus_three = timezone(timedelta(hours=3))
    got = ensure_utc(datetime(2026, 1, 1, 12, 0, tzinfo=plus_three))
    assert got == datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    assert got.tzinfo is UTC


@pytest.mark.parametrize("value", [datetime(2026, 1, 1), "2026-01-01T00:00:00Z", 0, None])
def test_ensure_utc_refuses_naive_and_non_datetimes(value: object) -> None:
    """A naive datetime (or something that is not a datetime) is not an instant."""
    with pytest.raises(InvalidInstant):
        ensure_utc(value)


def test_new_id_is_a_uuid7_string() -> None:
    """Library ids are version-7 UUID strings with the RFC 4122 variant."""
    made = uuid.UUID(new_id(datetime(2026, 1, 1, tzinfo=UTC)))
    assert made.version == 7
    assert made.variant == uuid.RFC_4122


def test_new_ids_are_unique_and_ordered_by_time() -> None:
    """Ids made later sort after ids made earlier; ids made at one instant still differ."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    same_instant = {new_id(start) for _ in range(200)}
    assert len(same_instant) == 200
    later = [new_id(start + timedelta(milliseconds=n)) for n in range(1, 50)]
    assert later == sorted(later)
    assert max(same_instant) < later[0]


def test_new_id_refuses_a_naive_instant() -> None:
    """Ids are made from UTC instants only."""
    with pytest.raises(InvalidInstant):
        new_id(datetime(2026, 1, 1))


# ---------------------------------------------------------------------------- domain names


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("acme.example", "acme.example"),
        ("  ACME.Example.  ", "acme.example"),
        ("Mail.Acme.CO.uk", "mail.acme.co.uk"),
        ("exämple.com", "xn--exmple-cua.com"),
        ("EXÄMPLE.com.", "xn--exmple-cua.com"),
        ("xn--exmple-cua.com", "xn--exmple-cua.com"),
        ("a-b.c-d.example", "a-b.c-d.example"),
    ],
)
def test_domain_names_are_normalised(raw: str, normal: str) -> None:
    """Domains are trimmed, lower-cased, lose the trailing dot and are stored as punycode."""
    assert DomainName.parse(raw).value == normal
    assert str(DomainName(raw)) == normal


def test_equal_spellings_of_a_domain_are_one_domain() -> None:
    """Normalisation makes different spellings compare and hash equal."""
    assert DomainName.parse("ACME.example.") == DomainName.parse("acme.example")
    assert len({DomainName("Acme.Example"), DomainName("acme.example")}) == 1


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        ".",
        "localhost",
        "acme",
        "-acme.example",
        "acme-.example",
        "ac me.example",
        "acme..example",
        ".acme.example",
        "acme_corp.example",
        "acme.example/path",
        "user@acme.example",
        "192.168.0.1",
        "x" * 64 + ".example",
        ".".join(["abcdefghi"] * 26) + ".example",
        "a" * 2000 + ".example",
    ],
)
def test_malformed_domains_are_refused(raw: str) -> None:
    """Empty, single-label, badly hyphenated, over-long labels or names, IPs are refused."""
    with pytest.raises(InvalidDomain):
        DomainName.parse(raw)


@pytest.mark.parametrize("raw", [None, 42, b"acme.example"])
def test_a_domain_must_be_a_string(raw: object) -> None:
    """Non-strings are refused as an invalid domain (a ValueError), not crashed on."""
    with pytest.raises(InvalidDomain):
        DomainName(raw)  # type: ignore[arg-type]


def test_longest_valid_domain_is_253_characters() -> None:
    """A 253-character name passes; the limit is the DNS one."""
    labels = ["a" * 63, "b" * 63, "c" * 63, "d" * 61]
    name = ".".join(labels)
    assert len(name) == 253
    assert DomainName.parse(name).value == name
    with pytest.raises(InvalidDomain):
        DomainName.parse(name + "d")


def test_domain_parse_passes_domain_names_through() -> None:
    """Parsing a DomainName returns it as is."""
    name = DomainName("acme.example")
    assert DomainName.parse(name) is name


def test_domain_parents_are_listed_nearest_first_without_the_tld() -> None:
    """``a.b.acme.example`` sits under ``b.acme.example`` then ``acme.example``."""
    parents = DomainName("a.b.acme.example").parents()
    assert [p.value for p in parents] == ["b.acme.example", "acme.example"]
    assert DomainName("acme.example").parents() == []


def test_domain_names_are_frozen() -> None:
    """A validated domain cannot be changed into an invalid one afterwards."""
    name = DomainName("acme.example")
    with pytest.raises(AttributeError):
        name.value = "nope"  # type: ignore[misc]


# ---------------------------------------------------------------------------- email addresses


def test_email_domain_is_normalised_and_local_part_keeps_its_case() -> None:
    """Only the domain part of an address is normalised."""
    address = EmailAddress.parse("  Jane.Doe+ai@ACME.Example. ")
    assert address.local == "Jane.Doe+ai"
    assert address.domain == DomainName("acme.example")
    assert str(address) == "Jane.Doe+ai@acme.example"


def test_email_with_internationalised_domain_is_stored_as_punycode() -> None:
    """An IDN email domain is stored in its ASCII form."""
    assert str(EmailAddress.parse("ana@exämple.com")) == "ana@xn--exmple-cua.com"


def test_email_parse_passes_addresses_through() -> None:
    """Parsing an EmailAddress returns it as is."""
    address = EmailAddress.parse("a@acme.example")
    assert EmailAddress.parse(address) is address


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plainaddress",
        "@acme.example",
        "jane@",
        "jane@acme",
        "jane@@acme.example",
        "ja ne@acme.example",
        ".jane@acme.example",
        "jane.@acme.example",
        "ja..ne@acme.example",
        "jane@-acme.example",
        "jane@acme..example",
        "jane(comment)@acme.example",
        "x" * 65 + "@acme.example",
        "jane@" + "a" * 250 + ".example",
        "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example",
        "x" * 5000 + "@acme.example",
    ],
)
def test_malformed_email_addresses_are_refused(raw: str) -> None:
    """Addresses without a proper local part or domain, or too long, are refused."""
    with pytest.raises(InvalidEmail):
        EmailAddress.parse(raw)


@pytest.mark.parametrize("raw", [None, 7, b"jane@acme.example"])
def test_an_email_address_must_be_a_string(raw: object) -> None:
    """Non-strings are refused as an invalid email address."""
    with pytest.raises(InvalidEmail):
        EmailAddress.parse(raw)  # type: ignore[arg-type]


def test_longest_valid_email_is_254_characters() -> None:
    """An address of exactly 254 characters passes; 255 is refused."""
    domain = ".".join(["d" * 63, "e" * 63, "f" * 56]) + ".example"
    local = "l" * (254 - 1 - len(domain))
    address = f"{local}@{domain}"
    assert len(address) == 254
    assert str(EmailAddress.parse(address)) == address
    with pytest.raises(InvalidEmail):
        EmailAddress.parse("l" + address)


# ---------------------------------------------------------------------------- calendar months


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (datetime(2026, 1, 15, 9, tzinfo=UTC), 1, datetime(2026, 2, 15, 9, tzinfo=UTC)),
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 1, 31, tzinfo=UTC), 2, datetime(2026, 3, 31, tzinfo=UTC)),
        (datetime(2026, 1, 31, tzinfo=UTC), 3, datetime(2026, 4, 30, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 2, datetime(2027, 1, 30, tzinfo=UTC)),
        (datetime(2026, 12, 31, tzinfo=UTC), 1, datetime(2027, 1, 31, tzinfo=UTC)),
        (datetime(2026, 3, 31, tzinfo=UTC), -1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2026, 1, 10, tzinfo=UTC), -13, datetime(2024, 12, 10, tzinfo=UTC)),
        (datetime(2026, 5, 5, tzinfo=UTC), 0, datetime(2026, 5, 5, tzinfo=UTC)),
    ],
)
def test_months_later_clamps_the_day_without_drifting(
    anchor: datetime, months: int, expected: datetime
) -> None:
    """The anchor's day is clamped to short months but comes back where the month allows."""
    assert months_later(anchor, months) == expected


# ---------------------------------------------------------------------------- field limits

LIMITS = {
    "ID_LENGTH": ID_LENGTH,
    "REF_LENGTH": REF_LENGTH,
    "STORED_KEY_LENGTH": STORED_KEY_LENGTH,
    "ACCOUNT_CODE_LENGTH": ACCOUNT_CODE_LENGTH,
    "NAME_LENGTH": NAME_LENGTH,
    "NOTE_LENGTH": NOTE_LENGTH,
    "TAG_LENGTH": TAG_LENGTH,
    "EMAIL_LENGTH": EMAIL_LENGTH,
    "DOMAIN_LENGTH": DOMAIN_LENGTH,
    "STATE_LENGTH": STATE_LENGTH,
    "TOKEN_LENGTH": TOKEN_LENGTH,
}


def test_the_field_limits_are_the_documented_sizes() -> None:
    """The limits the boundary checks and the tables size their columns by."""
    assert LIMITS == {
        "ID_LENGTH": 36,
        "REF_LENGTH": 128,
        "STORED_KEY_LENGTH": 160,
        "ACCOUNT_CODE_LENGTH": 160,
        "NAME_LENGTH": 200,
        "NOTE_LENGTH": 1000,
        "TAG_LENGTH": 64,
        "EMAIL_LENGTH": 254,
        "DOMAIN_LENGTH": 253,
        "STATE_LENGTH": 16,
        "TOKEN_LENGTH": 64,
    }


@pytest.mark.parametrize("limit", LIMITS.values(), ids=LIMITS.keys())
def test_text_accepts_exactly_the_limit_and_refuses_one_more(limit: int) -> None:
    """A field limit is inclusive: ``limit`` characters pass, ``limit + 1`` are refused."""
    assert text("x" * limit, name="field", max_length=limit) == "x" * limit
    with pytest.raises(InvalidText, match=f"at most {limit} characters, got {limit + 1}"):
        text("x" * (limit + 1), name="field", max_length=limit)


def test_text_limits_count_characters_not_bytes() -> None:
    """A name of NAME_LENGTH non-ASCII characters fits, though it takes more bytes in UTF-8."""
    name = "é" * NAME_LENGTH
    assert text(name, name="name", max_length=NAME_LENGTH) == name


def test_a_library_id_fills_its_column_exactly() -> None:
    """The ids the library makes are ID_LENGTH characters long."""
    assert len(new_id(datetime(2026, 1, 1, tzinfo=UTC))) == ID_LENGTH


def test_every_user_id_fits_an_account_code() -> None:
    """An account code of the longest user id a caller may pass fits its column."""
    assert len(member_account("u" * REF_LENGTH)) <= ACCOUNT_CODE_LENGTH


def test_every_key_the_library_or_a_caller_makes_fits_the_stored_key_column() -> None:
    """A caller's key or reference (REF_LENGTH) and the library's own keys fit STORED_KEY_LENGTH."""
    assert REF_LENGTH <= STORED_KEY_LENGTH
    assert len(internal_key("refund", "x" * ID_LENGTH)) <= STORED_KEY_LENGTH
    assert len(internal_key("alert", "f" * 40)) <= STORED_KEY_LENGTH


STORED_ENUMS: list[type[enum.Enum]] = [
    TransferKind,
    HoldStatus,
    RequestStatus,
    Role,
    MemberStatus,
    JoinMode,
    JoinRequestStatus,
    MemberRemainder,
]


@pytest.mark.parametrize("kind", STORED_ENUMS, ids=lambda e: e.__name__)
def test_every_stored_state_fits_the_state_column(kind: type[enum.Enum]) -> None:
    """Kinds, statuses, roles, join modes and remainder rules fit STATE_LENGTH characters."""
    assert max(len(member.value) for member in kind) <= STATE_LENGTH
