"""The library's one lock order: which account a unit of work locks before which.

Two units of work that take their locks in one total order never deadlock, so the order must
be total (a sort key), the same for every pair of accounts whatever the transfer between them,
and put each kind of account where the use cases need it: a member before where its credits
go at the end of a period (``expired``, then ``pool``), and the usage sink, which every spend's
transfer names, last.
"""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import permutations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain.ledger import (
    EFFECTS,
    EXPIRED,
    GRANT,
    LOCK_ORDER,
    POOL,
    USAGE,
    AccountKind,
    Transfer,
    TransferKind,
    account_kind,
    credit_locked_first,
    in_lock_order,
    lock_rank,
    member_account,
    team_account,
)

_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)

user_ids = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)
members = user_ids.map(member_account)
teams = user_ids.map(team_account)
codes = st.one_of(members, teams, st.sampled_from([EXPIRED, GRANT, POOL, USAGE]))


def _transfer(kind: TransferKind, debit: str, credit: str) -> Transfer:
    return Transfer(
        id="t",
        organisation_id="o",
        kind=kind,
        debit_account=debit,
        credit_account=credit,
        amount=1,
        period_index=0,
        actor="a",
        created_at=_AT,
    )


#: Every (debit, credit) pair the use cases post, by kind.
POSTED = {
    TransferKind.GRANT: [(GRANT, POOL)],
    TransferKind.TOP_UP: [(GRANT, POOL)],
    TransferKind.ALLOCATE: [(POOL, "member:a"), ("team:t", "member:a")],
    TransferKind.ALLOT: [(POOL, "member:a")],
    TransferKind.APPROVE: [(POOL, "member:a"), ("team:t", "member:a")],
    TransferKind.RECLAIM: [("member:a", POOL), ("member:a", "team:t")],
    TransferKind.RETURN: [("member:a", POOL), ("member:a", "team:t")],
    TransferKind.SPEND: [("member:a", USAGE), (POOL, USAGE)],
    TransferKind.HOLD: [("member:a", USAGE)],
    TransferKind.CAPTURE: [("member:a", USAGE)],
    TransferKind.RELEASE: [("member:a", USAGE)],
    TransferKind.REFUND: [(USAGE, "member:a"), (USAGE, POOL)],
    TransferKind.EXPIRE: [("member:a", EXPIRED), (POOL, EXPIRED), ("team:t", EXPIRED)],
    TransferKind.FUND_TEAM: [(POOL, "team:t")],
    TransferKind.DEFUND_TEAM: [("team:t", POOL)],
    TransferKind.GRACE: [(POOL, "member:a"), ("team:t", "member:a")],
}


def test_every_kind_of_account_has_one_place() -> None:
    assert sorted(LOCK_ORDER) == sorted(AccountKind)
    assert len(set(LOCK_ORDER)) == len(LOCK_ORDER)


def test_the_order_of_the_kinds() -> None:
    listed = [USAGE, GRANT, POOL, EXPIRED, "team:b", "member:b", "team:a", "member:a"]
    assert in_lock_order(listed) == [
        "member:a",
        "member:b",
        "team:a",
        "team:b",
        EXPIRED,
        POOL,
        GRANT,
        USAGE,
    ]


def test_every_posted_pair_is_listed() -> None:
    assert set(POSTED) == set(EFFECTS)


@pytest.mark.parametrize(
    ("kind", "debit", "credit"),
    [(kind, d, c) for kind, pairs in POSTED.items() for d, c in pairs],
)
def test_a_transfer_locks_its_two_rows_in_the_order(
    kind: TransferKind, debit: str, credit: str
) -> None:
    first = in_lock_order([debit, credit])[0]
    assert credit_locked_first(_transfer(kind, debit, credit)) is (first == credit)


def test_opposite_transfers_lock_the_same_rows_in_the_same_order() -> None:
    """An allocation and a reclaim, a top-up and a grant, a refund and a spend: each pair
    names two rows, and whichever way the credits move, the same row is locked first."""
    pairs = [(d, c) for listed in POSTED.values() for d, c in listed]
    for debit, credit in pairs:
        there = _transfer(TransferKind.ALLOCATE, debit, credit)
        back = _transfer(TransferKind.RECLAIM, credit, debit)
        first_there = credit if credit_locked_first(there) else debit
        first_back = debit if credit_locked_first(back) else credit
        assert first_there == first_back


@given(st.lists(codes, max_size=8))
def test_in_lock_order_sorts_once_by_rank(listed: list[str]) -> None:
    ordered = in_lock_order(listed)
    assert ordered == sorted(set(listed), key=lock_rank)
    assert in_lock_order(reversed(ordered)) == ordered
    ranks = [LOCK_ORDER.index(account_kind(code)) for code in ordered]
    assert ranks == sorted(ranks)


@given(codes, codes, codes)
def test_the_order_is_total_and_transitive(a: str, b: str, c: str) -> None:
    for x, y, z in permutations((a, b, c)):
        if lock_rank(x) <= lock_rank(y) <= lock_rank(z):
            assert lock_rank(x) <= lock_rank(z)
    assert (lock_rank(a) < lock_rank(b)) + (lock_rank(b) < lock_rank(a)) + (a == b) == 1


@given(members, st.sampled_from([EXPIRED, POOL, GRANT, USAGE]))
def test_a_member_comes_before_every_organisation_account(member: str, other: str) -> None:
    assert in_lock_order([other, member]) == [member, other]


def test_an_unknown_code_sorts_last() -> None:
    assert in_lock_order(["nonsense", USAGE, "member:a"]) == ["member:a", USAGE, "nonsense"]


def test_a_transfer_within_one_account_locks_its_debit_first() -> None:
    assert not credit_locked_first(_transfer(TransferKind.SPEND, POOL, POOL))


@given(teams, st.sampled_from([EXPIRED, POOL, GRANT, USAGE]))
def test_a_team_comes_before_every_organisation_account(team: str, other: str) -> None:
    """A team's budget gives back to the pool and expires: it is locked before both."""
    assert in_lock_order([other, team]) == [team, other]


@given(members, teams)
def test_a_member_comes_before_every_team(member: str, team: str) -> None:
    """An allocation from a team (team → member) and a reclaim to it (member → team) both lock
    the member first, as the pool's do."""
    assert in_lock_order([team, member]) == [member, team]
    there = _transfer(TransferKind.ALLOCATE, team, member)
    back = _transfer(TransferKind.RECLAIM, member, team)
    assert credit_locked_first(there)
    assert not credit_locked_first(back)
