"""The SCIM endpoint's pure parts: the one filter, PatchOp bodies, User bodies, ``active``.

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
    assert parse_filter(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        'externalId eq "x"',
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
        assert isinstance(parse_filter(expression), str)
        assert "eq" in expression.lower()


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_any_value_round_trips_through_the_filter(value: str) -> None:
    """A value written as a JSON string in the filter comes back as it was."""
    expression = f"userName eq {json.dumps(value)}"
    if len(expression) <= 1000:
        assert parse_filter(expression) == value


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
    """``userName`` and ``displayName`` are read; ``name``, ``emails``, ``externalId`` and the
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
        active=True, email=EmailAddress.parse("Jo@Acme.example"), display_name="Jo Doe"
    )


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
