"""The ledger's write statements, derived from the domain's table of transfer effects.

:data:`~armox_enterprise.domain.ledger.EFFECTS` says, for each transfer kind, which multiple
of the amount each cached total of the two accounts moves by, and which guards apply.  The
statements here are built from it rather than re-coded per kind:

* the debit side is one conditional ``UPDATE`` that sets ``column = column + multiple *
  amount`` for each non-zero field of the effect, and matches the row only when the effect
  may apply: ``available >= drawn`` for a guarded account when the effect
  :attr:`~armox_enterprise.domain.ledger.Effect.draws`, ``debits_pending >= settled`` when it
  :attr:`~armox_enterprise.domain.ledger.Effect.settles_pending`, and ``NOT closed`` when it
  :attr:`~armox_enterprise.domain.ledger.Effect.starts_spending`;
* the credit side, when the kind :attr:`~armox_enterprise.domain.ledger.TransferKind.posts`,
  is an ``UPDATE`` of the credit account's ``credits_posted`` the same way;
* a member's spend to the usage sink (the hot path) is the same debit, built once per set of
  tables with bound parameters, that also counts the usage account's credit on the member's
  row (``spent``) and this period's spend total, so that spends of different members never
  queue on one usage row.

The database checks the guards in the ``UPDATE`` itself (and a CHECK constraint backs them),
so concurrent transfers never overdraw an account.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs
from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Insert,
    Integer,
    Table,
    Update,
    bindparam,
    case,
    false,
    insert,
    update,
)

from armox_enterprise.adapters.sqlalchemy.tables import Tables, UtcDateTime
from armox_enterprise.domain.ledger import (
    EFFECTS,
    AccountKind,
    Effect,
    Transfer,
    TransferKind,
    account_kind,
)

__all__ = [
    "SpendStatements",
    "credit_update",
    "debit_guards",
    "debit_update",
    "spend_statements",
]

# An amount: a Python ``int`` (a statement built for one transfer) or a bound parameter (a
# statement built once and executed with many).
_Amount: TypeAlias = "int | BindParameter[int]"


def _times(multiple: int, amount: _Amount) -> int | ColumnElement[int]:
    """``multiple`` times ``amount``, written as plainly as the multiple allows."""
    return amount if multiple == 1 else multiple * amount


def _moved(column: ColumnElement[int], multiple: int, amount: _Amount) -> ColumnElement[int]:
    """``column + multiple * amount``: a cached total as one effect field moves it."""
    if multiple < 0:
        return column - _times(-multiple, amount)
    return column + _times(multiple, amount)


def _debit_values(accounts: Table, effect: Effect, amount: _Amount) -> list[tuple[Any, Any]]:
    """The debit account's SET clauses, one per non-zero debit field of ``effect``."""
    fields = (
        (accounts.c.debits_posted, effect.debit_posted),
        (accounts.c.debits_pending, effect.debit_pending),
    )
    return [(column, _moved(column, multiple, amount)) for column, multiple in fields if multiple]


def debit_guards(
    accounts: Table, effect: Effect, amount: _Amount, *, guarded: bool
) -> list[ColumnElement[bool]]:
    """The conditions under which the debit row may take ``effect`` of ``amount``.

    Args:
        accounts: the accounts table.
        effect: what the transfer kind does (from :data:`EFFECTS`).
        amount: the transfer's amount.
        guarded: whether the debit account may never go below zero available
            (:attr:`~armox_enterprise.domain.ledger.AccountKind.guarded`).
    """
    c = accounts.c
    conditions: list[ColumnElement[bool]] = []
    if guarded and effect.draws:
        available = c.credits_posted - c.debits_posted - c.debits_pending
        conditions.append(available >= _times(effect.debit_posted + effect.debit_pending, amount))
    if effect.settles_pending:
        conditions.append(c.debits_pending >= _times(-effect.debit_pending, amount))
    if effect.starts_spending:
        conditions.append(c.closed == false())
    return conditions


def debit_update(accounts: Table, transfer: Transfer) -> Update:
    """The conditional ``UPDATE`` of ``transfer``'s debit account: it matches one row, or none
    when the account is missing or a guard refuses the transfer."""
    effect = EFFECTS[transfer.kind]
    guarded = account_kind(transfer.debit_account).guarded
    return (
        update(accounts)
        .where(
            accounts.c.organisation_id == transfer.organisation_id,
            accounts.c.code == transfer.debit_account,
            *debit_guards(accounts, effect, transfer.amount, guarded=guarded),
        )
        .ordered_values(*_debit_values(accounts, effect, transfer.amount))
    )


def credit_update(accounts: Table, transfer: Transfer) -> Update | None:
    """The ``UPDATE`` of ``transfer``'s credit account, or ``None`` when the kind posts
    nothing to it (a hold or a release only reserves)."""
    multiple = EFFECTS[transfer.kind].credit_posted
    if not multiple:
        return None
    return (
        update(accounts)
        .where(
            accounts.c.organisation_id == transfer.organisation_id,
            accounts.c.code == transfer.credit_account,
        )
        .values(credits_posted=_moved(accounts.c.credits_posted, multiple, transfer.amount))
    )


# -- the spend fast path -----------------------------------------------------------------


@attrs.frozen
class SpendStatements:
    """A member's spend to the usage sink in two statements, built once per set of tables.

    Attributes:
        insert: the transfer's ``INSERT`` (executed with :func:`~armox_enterprise.adapters.
            sqlalchemy.records.transfer_values`).
        debit: the member row's conditional ``UPDATE``, executed with the parameters ``o``
            (organisation), ``c`` (account code), ``a`` (amount), ``p`` (period index) and
            ``t`` (instant); it matches no row when a guard refuses the spend or the row
            already counts a later period.
    """

    insert: Insert
    debit: Update


# Keyed by the tables themselves (not their id(), which a later set of tables could reuse).
_spend_cache: dict[tuple[Tables, str], SpendStatements] = {}


def spend_statements(tables: Tables, dialect: str) -> SpendStatements:
    """The spend path's statements for ``tables``, built once and reused, so that a spend
    costs no statement construction, only execution."""
    key = (tables, dialect)
    found = _spend_cache.get(key)
    if found is not None:
        return found
    accounts = tables.accounts
    effect = EFFECTS[TransferKind.SPEND]
    amount = bindparam("a", type_=BigInteger)
    period = bindparam("p", type_=Integer)
    at = bindparam("t", type_=UtcDateTime)
    values = _debit_values(accounts, effect, amount)
    if effect.credit_posted:
        # The usage account's credit, counted on the member's row.
        values.append((accounts.c.spent, _moved(accounts.c.spent, effect.credit_posted, amount)))
    # MySQL assigns SET clauses left to right: the total reads the period before it changes.
    values += [
        (accounts.c.spend_total, _rolling(accounts.c.spend_period, accounts.c.spend_total)),
        (accounts.c.spend_period, period),
        (accounts.c.spend_at, at),
    ]
    debit = (
        update(accounts)
        .where(
            accounts.c.organisation_id == bindparam("o"),
            accounts.c.code == bindparam("c"),
            *debit_guards(accounts, effect, amount, guarded=AccountKind.MEMBER.guarded),
            # Refuses a spend stamped with a period already sealed (a process whose clock lags).
            accounts.c.spend_period <= period,
        )
        .ordered_values(*values)
    )
    built = SpendStatements(insert(tables.transfers), debit)
    _spend_cache[key] = built
    return built


def _rolling(period_column: Any, total_column: Any) -> Any:
    """This period's running total: restart it when the row still counts an older period."""
    amount = bindparam("a", type_=BigInteger)
    return case(
        (period_column == bindparam("p", type_=Integer), total_column + amount), else_=amount
    )
