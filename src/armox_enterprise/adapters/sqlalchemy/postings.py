"""The ledger's write statements, derived from the domain's table of transfer effects.

:data:`~armox_enterprise.domain.ledger.EFFECTS` says, for each transfer kind, which multiple
of the amount each cached total of the two accounts moves by, and which guards apply.  The
statements here are built from it rather than re-coded per kind:

* the debit side is one conditional ``UPDATE`` that sets ``column = column + multiple *
  amount`` for each non-zero field of the effect, and matches the row only when the effect
  may apply: ``available >= drawn`` for a guarded account when the effect
  :attr:`~armox_enterprise.domain.ledger.Effect.draws`, ``debits_pending >= settled`` when it
  :attr:`~armox_enterprise.domain.ledger.Effect.settles_pending`, ``NOT closed`` when it
  :attr:`~armox_enterprise.domain.ledger.Effect.starts_spending`, and ``total <= MAX_CREDITS -
  multiple * amount`` for each total it raises on an unguarded account (a guarded account's
  debits are bounded by its credits, since its available balance never goes below zero);
* the credit side, when the kind :attr:`~armox_enterprise.domain.ledger.TransferKind.posts`,
  is an ``UPDATE`` of the credit account's ``credits_posted`` the same way, matching only when
  ``credits_posted <= MAX_CREDITS - amount`` and, when the effect is
  :attr:`~armox_enterprise.domain.ledger.Effect.refused_by_closed_credit`, ``NOT closed``;
  a credit to the usage sink, whose credits are a sum
  (:attr:`~armox_enterprise.domain.ledger.AccountKind.bounded_credits`), is counted on the
  debit row instead (``spent``), so it needs no statement of its own;
* every posting's ``UPDATE`` of either row also carries :func:`period_guard`: a row sealed on
  to a later period (every account row of the organisation is, when a period closes) takes
  no transfer stamped with an earlier one, so a use case that read the period before a
  turnover committed posts nothing in the closed period (the domain's
  :func:`~armox_enterprise.domain.ledger.period_refusal` says why: run it again);
* a member's spend or hold also carries the member's cap (:func:`cap_guard`, the domain's
  :func:`~armox_enterprise.domain.caps.cap_refusal` as a condition on the row, whose
  ``spend_cap`` keeps the effective cap);
* a member's spend to the usage sink (the hot path) is the same debit, built once per set of
  tables with bound parameters, that also counts the usage account's credit on the member's
  row (``spent``) and this period's spend total, so that spends of different members never
  queue on one usage row.

The database checks the guards in the ``UPDATE`` itself (and a CHECK constraint backs them),
so concurrent transfers never overdraw an account, and no total is ever computed past
``MAX_CREDITS`` (each bound is written as ``total <= MAX_CREDITS - amount``, which cannot
overflow).  When a guard refuses, the ledger asks the domain why
(:func:`~armox_enterprise.domain.ledger.debit_refusal`,
:func:`~armox_enterprise.domain.ledger.credit_refusal`), so every store raises the same error.
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
    literal,
    or_,
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
from armox_enterprise.domain.values import MAX_CREDITS

__all__ = [
    "SpendStatements",
    "cap_guard",
    "caps_apply",
    "counted_on_senders",
    "credit_guards",
    "credit_update",
    "debit_guards",
    "debit_undo",
    "debit_update",
    "period_guard",
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


def _room(multiple: int, amount: _Amount) -> int | ColumnElement[int]:
    """``MAX_CREDITS - multiple * amount``: the most a total may hold for the effect to keep
    it within range (a bound written so, never as ``total + amount``, cannot overflow)."""
    if isinstance(amount, int):
        return MAX_CREDITS - multiple * amount
    return literal(MAX_CREDITS, BigInteger) - _times(multiple, amount)


def counted_on_senders(code: str) -> bool:
    """Whether the credits of the account ``code`` are counted on the rows of the accounts
    that send them (the usage sink's: a sum, see
    :attr:`~armox_enterprise.domain.ledger.AccountKind.bounded_credits`)."""
    try:
        return not account_kind(code).bounded_credits
    except ValueError:  # not an account code the ledger knows: no row will match it
        return False


def _counts_usage(transfer: Transfer) -> bool:
    """Whether ``transfer``'s credit is counted on its debit row."""
    return bool(EFFECTS[transfer.kind].credit_posted) and counted_on_senders(
        transfer.credit_account
    )


def _debit_values(
    accounts: Table, effect: Effect, amount: _Amount, *, counts_usage: bool = False
) -> list[tuple[Any, Any]]:
    """The debit account's SET clauses, one per non-zero debit field of ``effect``; with
    ``counts_usage``, the usage sink's credit too, counted on the row as ``spent``."""
    fields = [
        (accounts.c.debits_posted, effect.debit_posted),
        (accounts.c.debits_pending, effect.debit_pending),
    ]
    if counts_usage:
        fields.append((accounts.c.spent, effect.credit_posted))
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
    if not guarded:
        # A guarded account's debits stay within its credits (its available balance never
        # goes below zero), so only the source's and the sinks' need a bound of their own.
        raised = ((c.debits_posted, effect.debit_posted), (c.debits_pending, effect.debit_pending))
        conditions.extend(column <= _room(m, amount) for column, m in raised if m > 0)
    return conditions


def cap_guard(
    accounts: Table, amount: _Amount, period: int | BindParameter[int]
) -> ColumnElement[bool]:
    """The member row's cap guard (:func:`~armox_enterprise.domain.caps.cap_refusal`): no cap
    kept (``spend_cap IS NULL``), or what the member used in ``period`` and holds now, plus
    ``amount``, stays within it.

    Used in ``period`` is the row's spends of it (``spend_total`` while ``spend_period`` is
    ``period``, else nothing: a new period starts from zero) plus its other spent kinds less
    refunds (``figures_used`` while ``figures_period`` is ``period``), counted as zero below
    zero (:func:`~armox_enterprise.domain.caps.counted_against_cap`); held is
    ``debits_pending``.  Written ``counted <= spend_cap - amount``: neither side can overflow
    (a guarded row's debits and pending stay within its credits).
    """
    c = accounts.c
    spends = case((c.spend_period == period, c.spend_total), else_=0)
    others = case((c.figures_period == period, c.figures_used), else_=0)
    used = spends + others
    counted = case((used < 0, 0), else_=used) + c.debits_pending
    return or_(c.spend_cap.is_(None), counted <= c.spend_cap - amount)


def period_guard(accounts: Table, period: int | BindParameter[int]) -> ColumnElement[bool]:
    """The row takes a transfer of ``period`` only while it has not been sealed on to a later
    one (``spend_period``, which
    :meth:`~armox_enterprise.adapters.sqlalchemy.period_totals.SqlPeriodTotals.seal` moves on
    for every account row of the organisation as the turnover closes the period)."""
    return accounts.c.spend_period <= period


def caps_apply(transfer: Transfer) -> bool:
    """Whether ``transfer``'s debit is checked against the member's cap: a spend or hold
    (:attr:`~armox_enterprise.domain.ledger.Effect.starts_spending`) from a member's account."""
    return (
        EFFECTS[transfer.kind].starts_spending
        and account_kind(transfer.debit_account) is AccountKind.MEMBER
    )


def debit_update(accounts: Table, transfer: Transfer) -> Update:
    """The conditional ``UPDATE`` of ``transfer``'s debit account: it matches one row, or none
    when the account is missing or a guard refuses the transfer (a member's cap among them,
    for a spend or hold: :func:`cap_guard`; a period already closed: :func:`period_guard`)."""
    effect = EFFECTS[transfer.kind]
    guarded = account_kind(transfer.debit_account).guarded
    values = _debit_values(accounts, effect, transfer.amount, counts_usage=_counts_usage(transfer))
    guards = debit_guards(accounts, effect, transfer.amount, guarded=guarded)
    guards.append(period_guard(accounts, transfer.period_index))
    if caps_apply(transfer):
        guards.append(cap_guard(accounts, transfer.amount, transfer.period_index))
    return (
        update(accounts)
        .where(
            accounts.c.organisation_id == transfer.organisation_id,
            accounts.c.code == transfer.debit_account,
            *guards,
        )
        .ordered_values(*values)
    )


def debit_undo(accounts: Table, transfer: Transfer) -> Update:
    """The ``UPDATE`` that takes back what :func:`debit_update` did to the debit row, for a
    transfer whose credit side was then refused (the row is still locked by this unit of
    work, so nothing came in between)."""
    effect = EFFECTS[transfer.kind]
    values = _debit_values(accounts, effect, -transfer.amount, counts_usage=_counts_usage(transfer))
    return (
        update(accounts)
        .where(
            accounts.c.organisation_id == transfer.organisation_id,
            accounts.c.code == transfer.debit_account,
        )
        .ordered_values(*values)
    )


def credit_guards(accounts: Table, effect: Effect, amount: _Amount) -> list[ColumnElement[bool]]:
    """The conditions under which the credit row may take ``effect`` of ``amount``: its
    ``credits_posted`` stays within ``MAX_CREDITS``, and a closed account takes nothing the
    effect is :attr:`~armox_enterprise.domain.ledger.Effect.refused_by_closed_credit` for."""
    c = accounts.c
    conditions = [c.credits_posted <= _room(effect.credit_posted, amount)]
    if effect.refused_by_closed_credit:
        conditions.append(c.closed == false())
    return conditions


def credit_update(accounts: Table, transfer: Transfer) -> Update | None:
    """The conditional ``UPDATE`` of ``transfer``'s credit account, or ``None`` when the kind
    posts nothing to it (a hold or a release only reserves) or its credit is counted on the
    debit row (the usage sink's).  It matches one row, or none when the account is missing or
    a guard refuses the transfer."""
    effect = EFFECTS[transfer.kind]
    multiple = effect.credit_posted
    if not multiple or _counts_usage(transfer):
        return None
    return (
        update(accounts)
        .where(
            accounts.c.organisation_id == transfer.organisation_id,
            accounts.c.code == transfer.credit_account,
            *credit_guards(accounts, effect, transfer.amount),
            period_guard(accounts, transfer.period_index),
        )
        .values(credits_posted=_moved(accounts.c.credits_posted, multiple, transfer.amount))
    )


def credit_undo(accounts: Table, transfer: Transfer) -> Update:
    """The ``UPDATE`` that takes back what :func:`credit_update` did to the credit row, for a
    transfer whose credit row was updated first (see
    :func:`~armox_enterprise.domain.ledger.credit_locked_first`) and whose debit was then
    refused (the row is still locked by this unit of work, so nothing came in between)."""
    multiple = EFFECTS[transfer.kind].credit_posted
    return (
        update(accounts)
        .where(
            accounts.c.organisation_id == transfer.organisation_id,
            accounts.c.code == transfer.credit_account,
        )
        .values(credits_posted=_moved(accounts.c.credits_posted, multiple, -transfer.amount))
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
            ``t`` (instant); it matches no row when a guard refuses the spend (the member's
            cap among them: :func:`cap_guard`) or the row already counts a later period.
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
    # The usage account's credit is counted on the member's row (``spent``).
    values = _debit_values(accounts, effect, amount, counts_usage=bool(effect.credit_posted))
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
            # Refuses a spend stamped with a period already sealed (a process whose clock
            # lags, or whose remembered period a turnover closed meanwhile).
            period_guard(accounts, period),
            cap_guard(accounts, amount, period),
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
