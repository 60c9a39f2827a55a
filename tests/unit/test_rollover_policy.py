"""The rollover policy validates and converts what it is given."""

from __future__ import annotations

import pytest

from armox_enterprise import (
    AmountTypeError,
    InvalidAmount,
    InvalidInput,
    MemberRemainder,
    RolloverPolicy,
)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("pool_carry_over_cap", -1, InvalidAmount),
        ("pool_carry_over_cap", 1.5, AmountTypeError),
        ("member_remainder", "vanish", InvalidInput),
    ],
)
def test_rollover_policy_refuses_bad_values(field: str, value: object, error: type) -> None:
    """A rollover policy cannot hold a negative cap, a float cap or an unknown remainder rule."""
    with pytest.raises(error):
        RolloverPolicy(**{field: value})  # type: ignore[arg-type]


def test_rollover_policy_converts_strings_from_configuration() -> None:
    """A policy loaded from JSON (plain strings) compares equal to the enum-built one."""
    policy = RolloverPolicy(pool_carry_over_cap=10, member_remainder="return_to_pool")  # type: ignore[arg-type]
    assert policy.member_remainder is MemberRemainder.RETURN_TO_POOL
