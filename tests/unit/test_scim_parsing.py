"""The SCIM endpoint's pure parts: the filter, PatchOp bodies, User bodies, ``active``,
``externalId``.

Hostile input (generated) is refused with a 400 of the SCIM error schema, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise.domain.values import EmailAddress
from armox_enterprise.scim import (
    PATCH_SCHEMA,
    ScimError,
    UserChanges,
    UserFilter,
    parse_active,
    parse_filter,
    parse_patch,
    parse_user,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def refusal(call: Callable[[], object]) -> tuple[int, str | None] | None:
    """The status and ``scimType`` a call is refused with, or ``None`` if it is not."""
    try:
        call()
    except ScimError as exc:
        return exc.status, exc.scim_type
    return None


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ('userName eq "jo@acme.example"', "jo@acme.example"),
        ('USERNAME EQ "jo@acme.example"', "jo@acme.example"),
        ('  userName  eq  "a\\"b@acme.example" ', 'a"b@acme.example'),
        ('userName eq ""', ""),
        ('userName eq "caf\\u00e9@acme.example"', "café@acme.example"),
    ],
)
def test_the_username_filter_is_read(expression: str, value: str) -> None:
    """``userName eq "..."``, its name and operator in any case, its value a JSON string."""
    assert parse_filter(expression) == UserFilter("userName", value)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ('externalId eq "00u1a2b3c4d5e6f7g8h9"', "00u1a2b3c4d5e6f7g8h9"),
        (
            'EXTERNALID Eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"',
            "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        ),
        ('externalId eq "Case\\"Exact"', 'Case"Exact'),
    ],
)
def test_the_external_id_filter_is_read(expression: str, value: str) -> None:
    """``externalId eq "..."`` (Entra and Okta look users up by it), its name and operator in
    any case, its value kept exactly as written (it is compared case-exactly)."""
    assert parse_filter(expression) == UserFilter("externalId", value)


@pytest.mark.parametrize(
    "expression",
    [
        'externalId sw "x"',
        'externalId eq "a" and userName eq "b"',
        'userName sw "jo"',
        'userName eq "a" or userName eq "b"',
        'emails[type eq "work"].value eq "x"',
        "userName eq jo@acme.example",
        'userName eq "unterminated',
        'userName eq "bad \\x escape"',
        "userName pr",
        "",
        'userName eq "' + "x" * 2000 + '"',
    ],
)
def test_other_filters_are_invalid(expression: str) -> None:
    """Every other filter is a 400 ``invalidFilter``."""
    with pytest.raises(ScimError) as refused:
        parse_filter(expression)
    assert (refused.value.status, refused.value.scim_type) == (400, "invalidFilter")


@settings(max_examples=300)
@given(st.text())
def test_a_generated_filter_is_read_or_invalid(expression: str) -> None:
    """Any text is either the one filter or a 400 ``invalidFilter``, never another error."""
    refused = refusal(lambda: parse_filter(expression))
    assert refused in (None, (400, "invalidFilter"))
    if refused is None:
        assert isinstance(parse_filter(expression), UserFilter)
        assert parse_filter(expression).attribute in ("userName", "externalId")
        assert "eq" in expression.lower()


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_any_value_round_trips_through_the_filter(value: str) -> None:
    """A value written as a JSON string in either filter comes back as it was."""
    for attribute in ("userName", "externalId"):
        expression = f"{attribute} eq {json.dumps(value)}"
        if len(expression) <= 1000:
            assert parse_filter(expression) == UserFilter(attribute, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("False", False), ("true", True), (" TRUE ", True)],
)
def test_active_takes_booleans_and_their_strings(value: object, expected: bool) -> None:
    """Entra sends ``"False"``: the strings true and false, in any case, are booleans."""
    assert parse_active(value) is expected


@pytest.mark.parametrize("value", [None, 0, 1, "yes", "", [], {"active": False}, 1.0])
def test_active_refuses_anything_else(value: object) -> None:
    """Anything but a boolean or its string is a 400 ``invalidValue``."""
    with pytest.raises(ScimError) as refused:
        parse_active(value)
    assert (refused.value.status, refused.value.scim_type) == (400, "invalidValue")


def test_okta_and_entra_deactivations_read_the_same() -> None:
    """Okta's value object and Entra's path with a capitalised op and a string agree."""
    okta = patch({"op": "replace", "value": {"active": False}})
    entra = patch({"op": "Replace", "path": "active", "value": "False"})
    assert parse_patch(okta) == parse_patch(entra) == UserChanges(active=False)


def test_a_patch_reads_the_kept_attributes_and_skips_the_others() -> None:
    """``userName``, ``displayName`` and ``externalId`` are read; ``name``, ``emails`` and the
    enterprise extension are accepted and skipped."""
    body = patch(
        {"op": "Add", "path": "displayName", "value": "Jo Doe"},
        {"op": "replace", "path": "name.givenName", "value": "Jo"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "jo@acme.example"},
        {"op": "Add", "path": "externalId", "value": "00u1"},
        {
            "op": "Replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "value": "R&D",
        },
        {"op": "replace", "value": {"userName": "Jo@Acme.example", "title": "Eng"}},
        {"op": "remove", "path": "title"},
        {
            "op": "replace",
            "path": "urn:ietf:params:scim:schemas:core:2.0:User:active",
            "value": True,
        },
    )
    assert parse_patch(body) == UserChanges(
        active=True,
        email=EmailAddress.parse("Jo@Acme.example"),
        display_name="Jo Doe",
        external_id="00u1",
    )


@pytest.mark.parametrize(
    ("operation", "external_id"),
    [
        ({"op": "Replace", "path": "externalId", "value": "new-id"}, "new-id"),
        ({"op": "replace", "value": {"externalId": "by-value"}}, "by-value"),
        ({"op": "remove", "path": "externalId"}, ""),
        ({"op": "replace", "path": "externalId", "value": None}, ""),
        (
            {
                "op": "add",
                "path": "urn:ietf:params:scim:schemas:core:2.0:User:externalId",
                "value": "urn-id",
            },
            "urn-id",
        ),
    ],
)
def test_a_patch_replaces_or_removes_the_external_id(
    operation: dict[str, Any], external_id: str
) -> None:
    """Entra's ``Replace`` of ``externalId`` by path, Okta's by value, the full URN path; a
    ``remove`` or a ``null`` value removes it (``""``)."""
    assert parse_patch(patch(operation)) == UserChanges(external_id=external_id)


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"Operations": [{"op": "replace", "path": "active", "value": False}]}, "invalidSyntax"),
        (patch(), "invalidSyntax"),
        (patch({"op": "move", "path": "active", "value": False}), "invalidSyntax"),
        (patch({"op": "replace", "path": "active", "value": "maybe"}), "invalidValue"),
        (patch({"op": "replace", "path": "userName", "value": "not-an-email"}), "invalidValue"),
        (patch({"op": "replace", "path": "id", "value": "other"}), "mutability"),
        (patch({"op": "replace", "path": "meta", "value": {}}), "mutability"),
        (patch({"op": "remove", "path": "active"}), "invalidValue"),
        (patch({"op": "remove"}), "noTarget"),
        (patch({"op": "replace", "path": "a b", "value": 1}), "invalidPath"),
        (patch({"op": "replace", "path": 5, "value": 1}), "invalidPath"),
        (patch({"op": "replace", "value": "x"}), "invalidValue"),
        (patch("replace"), "invalidSyntax"),  # type: ignore[arg-type]
    ],
)
def test_bad_patches_are_refused_with_their_scim_type(body: dict[str, Any], scim_type: str) -> None:
    """A body that is no PatchOp, an unknown op, a bad value, a read-only or malformed path."""
    with pytest.raises(ScimError) as refused:
        parse_patch(body)
    assert (refused.value.status, refused.value.scim_type) == (400, scim_type)


@settings(max_examples=300)
@given(st.lists(JSON, max_size=4), JSON)
def test_a_generated_patch_is_read_or_refused_with_400(operations: list[Any], extra: Any) -> None:
    """Any JSON as operations gives changes or a 400, never another error."""
    for body in (patch(*operations), {"schemas": [PATCH_SCHEMA], "Operations": extra}):
        refused = refusal(lambda body=body: parse_patch(body))
        assert refused is None or refused in {
            (400, "invalidSyntax"),
            (400, "invalidValue"),
            (400, "invalidPath"),
            (400, "noTarget"),
            (400, "mutability"),
        }


def test_an_okta_user_is_read() -> None:
    """Okta's create body: userName, name, emails, active; the display name from the name."""
    fields = parse_user(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "jo.doe@acme.example",
            "name": {"givenName": "Jo", "familyName": "Doe"},
            "emails": [
                {"primary": False, "value": "jo@home.example", "type": "home"},
                {"primary": True, "value": "jo.doe@acme.example", "type": "work"},
            ],
            "displayName": None,
            "locale": "en-US",
            "externalId": "00u1abcd",
            "groups": [],
            "password": "secret",
            "active": True,
        }
    )
    assert (fields.email, fields.display_name, fields.active, fields.external_id) == (
        EmailAddress.parse("jo.doe@acme.example"),
        "Jo Doe",
        True,
        "00u1abcd",
    )
    assert fields.emails == ("jo.doe@acme.example", "jo@home.example")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"userName": "jo"},
        {"userName": 5},
        {"userName": "jo@acme.example", "active": "sometimes"},
        {"userName": "jo@acme.example", "externalId": 7},
        {"userName": "jo@acme.example", "externalId": ""},
        {"userName": "jo@acme.example", "externalId": "   "},
        {"userName": "jo@acme.example", "externalId": "x" * 256},
        {"userName": "jo@acme.example", "externalId": "a\x00b"},
        {"userName": "jo@acme.example", "externalId": "line\nbreak"},
        {"userName": "jo@acme.example", "externalId": "\ud800"},
        {"userName": "jo@acme.example", "externalId": ["00u1"]},
        {"userName": "jo@acme.example", "externalId": {"value": "00u1"}},
        {"userName": "jo@acme.example", "externalId": True},
        {"userName": "jo@acme.example", "name": "Jo"},
        {"userName": "jo@acme.example", "displayName": ["Jo"]},
        {"userName": "jo@acme.example", "emails": "jo@acme.example"},
    ],
)
def test_a_bad_user_is_an_invalid_value(body: dict[str, Any]) -> None:
    """A missing or malformed userName, or a kept attribute of the wrong type: 400."""
    with pytest.raises(ScimError) as refused:
        parse_user(body)
    assert (refused.value.status, refused.value.scim_type) == (400, "invalidValue")


#: Values that are no directory id: too long, control characters, lone surrogates, blanks.
HOSTILE_EXTERNAL_IDS = st.one_of(
    st.text(min_size=256, max_size=600),
    st.builds(
        lambda head, bad, tail: head + bad + tail,
        st.text(max_size=20),
        st.characters(categories=("Cc", "Cs")),
        st.text(max_size=20),
    ),
    st.text(alphabet=" \t\u3000", max_size=5),
)
#: JSON values that are not strings at all.
NON_STRINGS = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.text(), max_size=3),
    st.dictionaries(st.text(), st.text(), max_size=3),
)


@settings(max_examples=300)
@given(HOSTILE_EXTERNAL_IDS | NON_STRINGS)
def test_a_hostile_external_id_is_an_invalid_value(value: object) -> None:
    """Too long, a control character or lone surrogate anywhere, only white space, or not a
    string: a 400 ``invalidValue`` on a POST or PUT body and in a PatchOp (by path and by
    value), never a crash."""
    user = {"userName": "jo@acme.example", "externalId": value}
    by_path = patch({"op": "replace", "path": "externalId", "value": value})
    by_value = patch({"op": "Replace", "value": {"externalId": value}})
    for call in (
        lambda: parse_user(user),
        lambda: parse_patch(by_path),
        lambda: parse_patch(by_value),
    ):
        assert refusal(call) == (400, "invalidValue")


@settings(max_examples=300)
@given(st.text(min_size=1, max_size=255).filter(lambda t: t.strip() and t.isprintable()))
def test_a_printable_external_id_is_kept_exactly(value: str) -> None:
    """Any printable id of 1 to 255 characters is kept as sent: case, spaces and all."""
    assert parse_user({"userName": "jo@acme.example", "externalId": value}).external_id == value
    assert parse_patch(patch({"op": "add", "path": "externalId", "value": value})) == (
        UserChanges(external_id=value)
    )
