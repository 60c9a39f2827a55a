"""Idempotency: how a call's parameters are fingerprinted, and when a replay is a conflict.

Same key and same parameters: the first result is returned and nothing happens twice.  Same
key, other parameters (or another operation): :class:`IdempotencyConflict`.  Keys that start
with :data:`INTERNAL_KEY_PREFIX` are the library's own (one grant per period, one refund per
spend, one alert per threshold) and are refused from callers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from armox_enterprise.domain.ledger import Transfer, TransferKind
from armox_enterprise.exceptions import IdempotencyConflict, InvalidText, credit_amount

__all__ = [
    "GENERATION_OPERATIONS",
    "INTERNAL_KEY_PREFIX",
    "OPERATIONS",
    "check_generation_replay",
    "check_replay",
    "ensure_caller_key",
    "fingerprint",
    "internal_key",
    "operation_name",
]

#: The prefix of the keys the library records for itself.
INTERNAL_KEY_PREFIX = "armox:"


def internal_key(*parts: object) -> str:
    """Return the library's own key made of ``parts`` (``armox:grant:3``)."""
    return INTERNAL_KEY_PREFIX + ":".join(str(p) for p in parts)


def ensure_caller_key(key: str, *, name: str = "idempotency_key") -> str:
    """Return ``key`` unless it is in the library's reserved space.

    Raises:
        InvalidText: ``key`` starts with :data:`INTERNAL_KEY_PREFIX` (the message names the
            argument ``name``).
    """
    if key.startswith(INTERNAL_KEY_PREFIX):
        raise InvalidText(f"{name} must not start with {INTERNAL_KEY_PREFIX!r}: it is reserved")
    return key


def fingerprint(parameters: Sequence[object]) -> str:
    """Return the stored form of a call's parameters, compared on a replay."""
    return json.dumps([None if p is None else str(p) for p in parameters])


#: The stored operations of the calls a caller's key replays: the service method each one is,
#: and the names of the parameters its fingerprint holds, in order.
OPERATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "top_up": ("top_up", ("actor", "amount")),
    "allocate": ("allocate_credits", ("actor", "user_id", "amount")),
    "reclaim": ("reclaim_credits", ("actor", "user_id", "amount")),
    "refund": ("refund", ("actor", "transfer_id", "amount")),
    "request": ("request_credits", ("actor", "amount", "note")),
    "approve": ("approve_request", ("actor", "request_id", "amount", "note")),
    "reject": ("reject_request", ("actor", "request_id", "note")),
    "capture": ("capture_hold", ("actor", "hold_id", "amount")),
    "release": ("release_hold", ("actor", "hold_id", "amount")),
}

#: What a generation id was used for, by the kind of its transfer: the service method.
GENERATION_OPERATIONS = {TransferKind.SPEND: "spend", TransferKind.HOLD: "reserve"}

#: The longest a message quotes a parameter's value (a note) before it shortens it.
_QUOTED_LENGTH = 40


def operation_name(operation: str) -> str:
    """Return the service method a stored operation is (``"allocate"``: ``allocate_credits``)."""
    return OPERATIONS.get(operation, (operation, ()))[0]


def check_replay(
    key: str,
    *,
    recorded_operation: str,
    recorded_fingerprint: str,
    operation: str,
    parameters: Sequence[object],
) -> None:
    """Refuse a replay of ``key`` that is not the recorded call.

    Raises:
        IdempotencyConflict: the key was recorded for another operation or other parameters;
            the message names the first call's operation and what differs.
    """
    if recorded_operation == operation and recorded_fingerprint == fingerprint(parameters):
        return
    first, this = operation_name(recorded_operation), operation_name(operation)
    if recorded_operation != operation:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was used for another call: {first} (this call is {this})",
            key=key,
            operation=this,
            first_operation=first,
        )
    names = OPERATIONS.get(operation, (operation, ()))[1]
    try:
        before = json.loads(recorded_fingerprint)
    except ValueError:
        before = None
    now = [None if p is None else str(p) for p in parameters]
    if not isinstance(before, list) or len(before) != len(now) or len(names) != len(now):
        raise IdempotencyConflict(
            f"idempotency key {key!r} was used for another call: {first} with other parameters",
            key=key,
            operation=this,
            first_operation=first,
        )
    changed = [(name, b, n) for name, b, n in zip(names, before, now, strict=True) if b != n]
    raise _conflict("idempotency key", key, first, changed)


def check_generation_replay(
    first: Transfer,
    *,
    kind: TransferKind,
    actor: str,
    amount: int,
    feature: str | None,
    model: str | None,
) -> None:
    """Refuse a spend or hold whose generation id already names another one.

    Raises:
        IdempotencyConflict: ``first`` (made under the generation id) differs; the message
            names what the generation id was used for and what differs.
    """
    key = first.idempotency_key or ""
    done = GENERATION_OPERATIONS.get(first.kind, first.kind.value)
    this = GENERATION_OPERATIONS.get(kind, kind.value)
    if first.kind is not kind:
        raise IdempotencyConflict(
            f"generation id {key!r} was used for another call: {done} (this call is {this})",
            key=key,
            operation=this,
            first_operation=done,
        )
    compared = (
        ("actor", first.actor, actor),
        ("amount", first.amount, amount),
        ("feature", first.feature, feature),
        ("model", first.model, model),
    )
    changed = [(name, b, n) for name, b, n in compared if b != n]
    if changed:
        raise _conflict("generation id", key, done, changed)


def _conflict(
    what: str, key: str, operation: str, changed: Sequence[tuple[str, object, object]]
) -> IdempotencyConflict:
    """The conflict of a call made again under ``key`` with the ``changed`` parameters
    (name, first value, this value).  Another user's values are not shown, only that the
    first call was theirs."""
    names = tuple(name for name, _, _ in changed)
    if "actor" in names:
        detail = f"{operation} by another user"
    elif changed:
        first = " and ".join(f"{name} {_shown(name, b)}" for name, b, _ in changed)
        this = " and ".join(f"{name} {_shown(name, n)}" for name, _, n in changed)
        detail = f"{operation} with {first} (this call has {this})"
    else:
        detail = f"{operation} with other parameters"
    return IdempotencyConflict(
        f"{what} {key!r} was used for another call: {detail}",
        key=key,
        operation=operation,
        first_operation=operation,
        parameters=names,
    )


def _shown(name: str, value: object) -> str:
    """A parameter's value as a message shows it: amounts as credits, text quoted."""
    if value is None:
        return "none"
    if name == "amount" and (isinstance(value, int) or str(value).isdigit()):
        return credit_amount(int(str(value)))
    text = str(value)
    if len(text) > _QUOTED_LENGTH:
        text = text[: _QUOTED_LENGTH - 1] + "…"
    return repr(text)
