"""Idempotency: fingerprints of a call, when a replay conflicts, and the reserved key space."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from armox_enterprise.domain.idempotency import (
    INTERNAL_KEY_PREFIX,
    check_generation_replay,
    check_replay,
    ensure_caller_key,
    fingerprint,
    internal_key,
)
from armox_enterprise.domain.ledger import USAGE, Transfer, TransferKind, member_account
from armox_enterprise.exceptions import Conflict, IdempotencyConflict, InvalidText

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
PARAMS: list[object] = ["org", "jane", 500, None]

# ---------------------------------------------------------------------------- fingerprint


def test_a_fingerprint_is_the_parameters_as_json_text() -> None:
    """Parameters are stored as a JSON list of strings, with None kept as null."""
    assert fingerprint(PARAMS) == '["org", "jane", "500", null]'


def test_equal_parameters_give_equal_fingerprints() -> None:
    """The fingerprint is a pure function of the parameters."""
    assert fingerprint(list(PARAMS)) == fingerprint(tuple(PARAMS))


@pytest.mark.parametrize(
    "other",
    [
        ["org", "jane", 501, None],
        ["org", "jane", 500, "note"],
        ["org", "jane", 500],
        ["org", "jane", 500, None, None],
        ["jane", "org", 500, None],
        ["org", "jane", 500, "None"],
    ],
    ids=["amount", "none-vs-text", "shorter", "longer", "order", "none-vs-the-word"],
)
def test_different_parameters_give_different_fingerprints(other: list[object]) -> None:
    """A changed value, count or order changes the fingerprint; None is not the text 'None'."""
    assert fingerprint(other) != fingerprint(PARAMS)


def test_a_fingerprint_reads_values_by_their_text() -> None:
    """Values are compared as text: an amount of 500 and the string '500' fingerprint alike."""
    assert fingerprint(["org", "jane", "500", None]) == fingerprint(PARAMS)


# ---------------------------------------------------------------------------- check_replay


def _replay(**overrides: Any) -> None:
    args: dict[str, Any] = {
        "recorded_operation": "allocate",
        "recorded_fingerprint": fingerprint(PARAMS),
        "operation": "allocate",
        "parameters": PARAMS,
    }
    args.update(overrides)
    check_replay("key-1", **args)


def test_replaying_the_same_call_is_fine() -> None:
    """Same key, same operation, same parameters: the first result stands."""
    _replay()


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"parameters": ["org", "jane", 400, None]}, "allocate_credits with other parameters"),
        ({"operation": "reclaim"}, "allocate_credits (this call is reclaim_credits)"),
        (
            {"operation": "reclaim", "parameters": ["org", "jane", 400, None]},
            "allocate_credits (this call is reclaim_credits)",
        ),
    ],
    ids=["other-parameters", "other-operation", "both"],
)
def test_replaying_a_key_for_another_call_is_a_conflict(
    overrides: dict[str, Any], detail: str
) -> None:
    """Another operation or other parameters under one key: a conflict naming the first call
    by its service method (parameters it cannot name: "other parameters")."""
    with pytest.raises(IdempotencyConflict) as caught:
        _replay(**overrides)
    assert str(caught.value) == f"idempotency key 'key-1' was used for another call: {detail}"
    assert isinstance(caught.value, Conflict)


@pytest.mark.parametrize(
    ("parameters", "detail", "names"),
    [
        (["ana", "bruno", 600], "with amount 500 (this call has amount 600)", ("amount",)),
        (
            ["ana", "carla", 5_000],
            "with user_id 'bruno' and amount 500 (this call has user_id 'carla' and amount 5,000)",
            ("user_id", "amount"),
        ),
        (["bea", "bruno", 500], "by another user", ("actor",)),
    ],
    ids=["amount", "user-and-amount", "actor"],
)
def test_a_conflict_names_each_parameter_that_differs(
    parameters: list[object], detail: str, names: tuple[str, ...]
) -> None:
    """Named parameters: both values of each that differs, unless the first call was another
    user's."""
    with pytest.raises(IdempotencyConflict) as caught:
        check_replay(
            "k",
            recorded_operation="allocate",
            recorded_fingerprint=fingerprint(["ana", "bruno", 500]),
            operation="allocate",
            parameters=parameters,
        )
    assert (
        str(caught.value)
        == f"idempotency key 'k' was used for another call: allocate_credits {detail}"
    )
    assert caught.value.parameters == names


# ---------------------------------------------------------------------------- generations


FIRST = Transfer(
    id="t1",
    organisation_id="org",
    kind=TransferKind.SPEND,
    debit_account=member_account("jane"),
    credit_account=USAGE,
    amount=30,
    period_index=0,
    actor="jane",
    created_at=NOW,
    idempotency_key="gen-1",
    feature="image",
    model="flux",
)
SAME: dict[str, Any] = {
    "kind": TransferKind.SPEND,
    "actor": "jane",
    "amount": 30,
    "feature": "image",
    "model": "flux",
}


def test_replaying_the_same_generation_is_fine() -> None:
    """The same spend under its generation id is a replay, not a second spend."""
    check_generation_replay(FIRST, **SAME)


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("kind", TransferKind.HOLD, "spend (this call is reserve)"),
        ("actor", "bob", "spend by another user"),
        ("amount", 31, "spend with amount 30 (this call has amount 31)"),
        ("feature", "video", "spend with feature 'image' (this call has feature 'video')"),
        ("feature", None, "spend with feature 'image' (this call has feature none)"),
        ("model", "sdxl", "spend with model 'flux' (this call has model 'sdxl')"),
        ("model", None, "spend with model 'flux' (this call has model none)"),
    ],
)
def test_a_generation_id_naming_another_spend_is_a_conflict(
    field: str, value: object, detail: str
) -> None:
    """Any difference in kind, actor, amount or tags under one generation id is refused; the
    message says what differs."""
    with pytest.raises(IdempotencyConflict) as caught:
        check_generation_replay(FIRST, **{**SAME, field: value})
    assert str(caught.value) == f"generation id 'gen-1' was used for another call: {detail}"


# ---------------------------------------------------------------------------- the key space


def test_internal_keys_join_their_parts_under_the_reserved_prefix() -> None:
    """The library's own keys read like ``armox:grant:3``."""
    assert INTERNAL_KEY_PREFIX == "armox:"
    assert internal_key("grant", 3) == "armox:grant:3"
    assert internal_key("refund", "t1", None) == "armox:refund:t1:None"


@pytest.mark.parametrize("key", ["gen-1", "armox", "my-armox:key", " armox:x", "ARMOX:grant:3"])
def test_callers_keys_outside_the_reserved_space_pass_unchanged(key: str) -> None:
    """Any key not starting with the exact prefix is the caller's to use."""
    assert ensure_caller_key(key) == key


@pytest.mark.parametrize("key", ["armox:", "armox:grant:3", internal_key("alert", "x")])
def test_callers_keys_in_the_reserved_space_are_refused(key: str) -> None:
    """A caller cannot forge one of the library's own keys."""
    with pytest.raises(InvalidText, match="reserved"):
        ensure_caller_key(key)
