"""Hostile text at the boundary: lone surrogates, NUL, wrong types, IDNA 2008 and look-alikes.

Every value either comes out as something every store can hold, or is refused with the
library's own error for its kind; nothing else escapes.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise.domain.values import (
    DomainName,
    EmailAddress,
    credits,
    text,
)
from armox_enterprise.exceptions import (
    AmountTypeError,
    InvalidDomain,
    InvalidEmail,
    InvalidText,
)

#: Anything that is not a string: what a host may pass by mistake.
NOT_TEXT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=8),
    st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
)
#: Text with the characters stores choke on mixed in.
HOSTILE_TEXT = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from(["\ud800", "\udfff", "\x00", "\r", "\n", "\u200b", "\ufeff"]),
    ),
    max_size=40,
)
#: Latin letters and the Cyrillic letters that look like them.
LATIN = "acemopxy"
CYRILLIC_LOOKALIKES = "асеморху"


@settings(max_examples=100)
@given(HOSTILE_TEXT)
def test_text_either_encodes_or_is_refused(value: str) -> None:
    """Whatever the string, text() returns UTF-8-encodable text without NUL or line breaks,
    or refuses it with InvalidText."""
    try:
        result = text(value, name="note", max_length=30, allow_empty=True)
    except InvalidText:
        return
    result.encode("utf-8")
    assert not set(result) & {"\x00", "\r", "\n"}
    assert len(result) <= 30


@pytest.mark.parametrize("value", ["a\ud800b", "\udfff", "ok\ud83d", "\x00", "x\x00y"])
def test_lone_surrogates_and_nul_are_refused(value: str) -> None:
    """A lone surrogate or a NUL never reaches a store."""
    with pytest.raises(InvalidText):
        text(value, name="user_id", max_length=128)


@settings(max_examples=100)
@given(NOT_TEXT)
def test_what_is_not_text_is_refused_by_its_own_error(value: object) -> None:
    """A non-string is refused by the parser of its kind, with the library's error."""
    with pytest.raises(InvalidText):
        text(value, name="name", max_length=10)
    with pytest.raises(InvalidDomain):
        DomainName.parse(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidEmail):
        EmailAddress.parse(value)  # type: ignore[arg-type]


@settings(max_examples=50)
@given(st.one_of(st.none(), st.floats(), st.text(max_size=3), st.booleans()))
def test_what_is_not_an_int_is_not_an_amount(value: object) -> None:
    """Credits are ints only: floats, strings, bools and None are a type error."""
    with pytest.raises(AmountTypeError):
        credits(value)


@settings(max_examples=100)
@given(HOSTILE_TEXT)
def test_a_domain_is_ascii_idempotent_or_refused(value: str) -> None:
    """Any string is an ASCII domain whose own parse gives it back, or InvalidDomain."""
    try:
        name = DomainName.parse(value)
    except InvalidDomain:
        return
    assert name.value.isascii()
    assert set(name.value) <= set(string.ascii_lowercase + string.digits + "-.")
    assert DomainName.parse(name.value) == name


def test_sharp_s_is_not_folded_into_ss() -> None:
    """IDNA 2008 (UTS 46, non-transitional): faß.de is its own name, xn--fa-hia.de."""
    assert DomainName.parse("faß.de") == DomainName.parse("xn--fa-hia.de")
    assert DomainName.parse("faß.de") != DomainName.parse("fass.de")
    assert EmailAddress.parse("eve@faß.de").domain.value == "xn--fa-hia.de"


@settings(max_examples=100)
@given(st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=3))
def test_malformed_punycode_is_refused(tail: str) -> None:
    """An A-label whose punycode does not decode is refused; one that decodes is either
    refused or comes back as itself."""
    label = f"xn--{tail}"
    try:
        tail.encode("ascii").decode("punycode")
    except UnicodeError:
        with pytest.raises(InvalidDomain):
            DomainName.parse(f"{label}.example")
        return
    try:
        name = DomainName.parse(f"{label}.example")
    except InvalidDomain:
        return
    assert DomainName.parse(name.value) == name


@settings(max_examples=100)
@given(
    st.text(LATIN, min_size=2, max_size=10),
    st.integers(min_value=0, max_value=9),
    st.sampled_from(CYRILLIC_LOOKALIKES),
)
def test_a_label_mixing_latin_and_cyrillic_is_refused(word: str, at: int, lookalike: str) -> None:
    """A Cyrillic look-alike among Latin letters makes a label no one may use."""
    position = at % len(word)
    forged = word[:position] + lookalike + word[position + 1 :]
    if forged == word:
        return
    with pytest.raises(InvalidDomain, match="mixes scripts"):
        DomainName.parse(f"{forged}.example")
    assert DomainName.parse(f"{word}.example").value == f"{word}.example"


@pytest.mark.parametrize(
    "name", ["日本語.jp", "ラーメン.jp", "한국.kr", "пример.рф", "col·legi.cat", "münchen.de"]
)
def test_single_script_and_allowed_mixes_are_accepted(name: str) -> None:
    """One script per label, or Han with kana or Hangul, is an ordinary internationalised name."""
    assert DomainName.parse(name).value.isascii()
