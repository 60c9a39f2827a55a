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
from armox_enterprise.exceptions import IdempotencyConflict, InvalidText

__all__ = [
    "INTERNAL_KEY_PREFIX",
    "check_generation_replay",
    "check_replay",
    "ensure_caller_key",
    "fingerprint",
    "internal_key",
]

#: The prefix of the keys the library records for itself.
INTERNAL_KEY_PREFIX = "armox:"


def internal_key(*parts: object) -> str:
    """Return the library's own key made of ``parts`` (``armox:grant:3``)."""
    return INTERNAL_KEY_PREFIX + ":".join(str(p) for p in parts)


def ensure_caller_key(key: str) -> str:
    """Return ``key`` unless it is in the library's reserved space.

    Raises:
        InvalidText: ``key`` starts with :data:`INTERNAL_KEY_PREFIX`.
    """
    if key.startswith(INTERNAL_KEY_PREFIX):
        raise InvalidText(f"idempotency keys starting with {INTERNAL_KEY_PREFIX!r} are reserved")
    return key


def fingerprint(parameters: Sequence[object]) -> str:
    """Return the stored form of a call's parameters, compared on a replay."""
    return json.dumps([None if p is None else str(p) for p in parameters])


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
        IdempotencyConflict: the key was recorded for another operation or other parameters.
    """
    if recorded_operation != operation or recorded_fingerprint != fingerprint(parameters):
        raise IdempotencyConflict(
            f"idempotency key {key!r} was used for another call "
            f"({recorded_operation}) with other parameters"
        )


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
        IdempotencyConflict: ``first`` (made under the generation id) differs.
    """
    if (first.kind, first.actor, first.amount, first.feature, first.model) != (
        kind,
        actor,
        amount,
        feature,
        model,
    ):
        raise IdempotencyConflict(
            f"generation id {first.idempotency_key!r} was already used for another "
            f"{first.kind.value}"
        )
