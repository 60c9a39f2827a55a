"""Teams in the domain: the team account kind, its transfer kinds, where it sits in the lock
order, its rollover, its deletion, the scoped permission, and a model of any sequence of
pool → team → member moves that keeps every guarded balance at zero or more and reconciles."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise.domain.access import (
    ROLE_PERMISSIONS,
    SCOPED_PERMISSIONS,
    Permission,
    RequestReach,
    TeamScope,
    authorise,
    can,
    request_reach,
)
from armox_enterprise.domain.ledger import (
    EFFECTS,
    EXPIRED,
    GRANT,
    LOCK_ORDER,
    POOL,
    USAGE,
    Account,
    AccountKind,
    Transfer,
    TransferKind,
    account_kind,
    apply_transfer,
    credit_locked_first,
    member_account,
    reconcile,
    team_account,
    team_of,
)
from armox_enterprise.domain.organisation import (
    MemberRemainder,
    Membership,
    MemberStatus,
    Role,
    RolloverPolicy,
)
from armox_enterprise.domain.reconciliation import team_problems
from armox_enterprise.domain.rollover import (
    late_credit,
    plan_sweep,
)
from armox_enterprise.domain.teams import (
    Team,
    TeamMember,
    deletion_refusal,
    funding_account,
    home_account,
    name_key,
)
from armox_enterprise.domain.values import EmailAddress
from armox_enterprise.exceptions import (
    AccountClosed,
    InsufficientCredits,
    InvalidTransition,
    PermissionDenied,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
ORG = "org"
DESIGN = team_account("design")


def _transfer(kind: TransferKind, debit: str, credit: str, amount: int, n: int = 0) -> Transfer:
    return Transfer(f"t{n}", ORG, kind, debit, credit, amount, 0, "admin", T0)


def _member(user: str, role: Role = Role.MEMBER) -> Membership:
    email = EmailAddress.parse(f"{user}@acme.example")
    return Membership(ORG, user, email, user, role, T0, MemberStatus.ACTIVE)


# ---------------------------------------------------------------------------- kinds


def test_a_team_account_is_its_own_guarded_kind() -> None:
    assert DESIGN == "team:design"
    assert account_kind(DESIGN) is AccountKind.TEAM
    assert team_of(DESIGN) == "design"
    assert team_of(member_account("design")) is None
    assert team_of(POOL) is None
    assert AccountKind.TEAM.guarded
    assert AccountKind.TEAM.bounded_credits


def test_the_team_kinds_post_and_funding_is_refused_by_a_deleted_team() -> None:
    for kind in (TransferKind.FUND_TEAM, TransferKind.DEFUND_TEAM):
        assert kind.posts
        assert not EFFECTS[kind].starts_spending
    assert EFFECTS[TransferKind.FUND_TEAM].refused_by_closed_credit
    closed = Account(ORG, DESIGN, closed=True)
    pool = Account(ORG, POOL, credits_posted=10)
    with pytest.raises(AccountClosed):
        apply_transfer(pool, closed, _transfer(TransferKind.FUND_TEAM, POOL, DESIGN, 5))


def test_a_team_budget_is_never_overdrawn() -> None:
    budget = Account(ORG, DESIGN, credits_posted=10)
    ann = Account(ORG, member_account("ann"))
    transfer = _transfer(TransferKind.ALLOCATE, DESIGN, ann.code, 11)
    with pytest.raises(InsufficientCredits) as refused:
        apply_transfer(budget, ann, transfer)
    assert (refused.value.available, refused.value.requested) == (10, 11)
    after, _ = apply_transfer(budget, ann, _transfer(TransferKind.ALLOCATE, DESIGN, ann.code, 10))
    assert after.available == 0


def test_lock_order_puts_teams_between_members_and_the_organisation_accounts() -> None:
    assert LOCK_ORDER == (
        AccountKind.MEMBER,
        AccountKind.TEAM,
        AccountKind.EXPIRED,
        AccountKind.POOL,
        AccountKind.GRANT,
        AccountKind.USAGE,
    )
    # pool → team and team → pool lock the team first; team → member locks the member first.
    assert credit_locked_first(_transfer(TransferKind.FUND_TEAM, POOL, DESIGN, 1))
    assert not credit_locked_first(_transfer(TransferKind.DEFUND_TEAM, DESIGN, POOL, 1))
    assert credit_locked_first(_transfer(TransferKind.ALLOCATE, DESIGN, member_account("a"), 1))


def test_funding_and_home_accounts() -> None:
    assert funding_account(None) == POOL
    assert funding_account("design") == DESIGN
    assert home_account(None) == POOL
    assert home_account("design") == DESIGN


def test_team_names_compare_case_folded() -> None:
    assert name_key("Design") == name_key("DESIGN") == "design"
    assert Team(ORG, "t", "Straße", T0).name_key == name_key("STRASSE")
    assert Team(ORG, "t", "Design", T0).account == team_account("t")


# ---------------------------------------------------------------------------- deletion


def test_a_team_is_deleted_only_empty() -> None:
    team = Team(ORG, "design", "Design", T0)
    empty = Account(ORG, DESIGN, credits_posted=5, debits_posted=5)
    assert deletion_refusal(team, empty, 0) is None
    assert deletion_refusal(team, None, 0) is None
    members = deletion_refusal(team, empty, 2)
    assert isinstance(members, InvalidTransition)
    assert "2 member(s)" in str(members)
    holding = deletion_refusal(team, Account(ORG, DESIGN, credits_posted=5), 0)
    assert isinstance(holding, InvalidTransition)
    assert "holds 5 credits" in str(holding)


# ---------------------------------------------------------------------------- rollover


def _policy(remainder: MemberRemainder, cap: int) -> RolloverPolicy:
    return RolloverPolicy(pool_carry_over_cap=cap, member_remainder=remainder)


def test_a_team_remainder_returns_to_the_pool_before_the_cap() -> None:
    pool = Account(ORG, POOL, credits_posted=100)
    team = Account(ORG, DESIGN, credits_posted=50)
    sweep = plan_sweep(_policy(MemberRemainder.KEEP, 120), pool, [], teams=[team])
    moves = [(m.kind, m.debit, m.credit, m.amount) for m in sweep.movements]
    assert moves == [
        (TransferKind.DEFUND_TEAM, DESIGN, POOL, 50),
        (TransferKind.EXPIRE, POOL, EXPIRED, 30),
    ]
    assert (sweep.carried_over, sweep.expired) == (120, 30)


def test_a_member_remainder_returns_to_their_team() -> None:
    pool = Account(ORG, POOL, credits_posted=10)
    team = Account(ORG, DESIGN, credits_posted=20)
    ann = Account(ORG, member_account("ann"), credits_posted=7)
    bob = Account(ORG, member_account("bob"), credits_posted=3)
    sweep = plan_sweep(
        _policy(MemberRemainder.RETURN_TO_POOL, 0),
        pool,
        [ann, bob],
        teams=[team],
        homes={ann.code: team},
    )
    moves = [(m.kind, m.debit, m.credit, m.amount) for m in sweep.movements]
    assert moves == [
        (TransferKind.DEFUND_TEAM, DESIGN, POOL, 20),
        (TransferKind.EXPIRE, POOL, EXPIRED, 30),
        (TransferKind.RETURN, ann.code, DESIGN, 7),
        (TransferKind.RETURN, bob.code, POOL, 3),
    ]
    # The pool carries what bob returned; ann's remainder stays in the team's budget.
    assert (sweep.carried_over, sweep.expired) == (3, 30)


def test_a_member_remainder_expires_whatever_their_team() -> None:
    pool = Account(ORG, POOL)
    team = Account(ORG, DESIGN)
    ann = Account(ORG, member_account("ann"), credits_posted=7)
    sweep = plan_sweep(
        _policy(MemberRemainder.EXPIRE, 0), pool, [ann], teams=[team], homes={ann.code: team}
    )
    assert [(m.kind, m.credit) for m in sweep.movements] == [(TransferKind.EXPIRE, EXPIRED)]


def test_a_late_credit_returns_to_the_members_team() -> None:
    policy = _policy(MemberRemainder.RETURN_TO_POOL, 0)
    late = late_credit(
        policy,
        user_id="ann",
        amount=4,
        period_index=0,
        current_period_index=1,
        member_active=True,
        home=DESIGN,
    )
    assert late is not None
    assert (late.kind, late.credit) == (TransferKind.RETURN, DESIGN)
    gone = late_credit(
        policy,
        user_id="ann",
        amount=4,
        period_index=0,
        current_period_index=1,
        member_active=False,
        home=DESIGN,
    )
    assert gone is not None
    assert gone.credit == POOL


# ---------------------------------------------------------------------------- access


def test_manage_team_is_scoped_and_held_by_no_member_role() -> None:
    assert {Permission.MANAGE_TEAM} == SCOPED_PERMISSIONS
    assert Permission.MANAGE_TEAM in ROLE_PERMISSIONS[Role.ADMIN]
    assert Permission.MANAGE_TEAM not in ROLE_PERMISSIONS[Role.MEMBER]
    assert set(ROLE_PERMISSIONS) == {Role.ADMIN, Role.MEMBER}


def test_a_delegated_member_manages_their_team_only() -> None:
    ann = _member("ann")
    manager = TeamMember(ORG, "ann", "design", manager=True)
    plain = TeamMember(ORG, "ann", "design")
    assert can(ann, Permission.MANAGE_TEAM, TeamScope("design", manager))
    assert not can(ann, Permission.MANAGE_TEAM, TeamScope("sales", manager))
    assert not can(ann, Permission.MANAGE_TEAM, TeamScope(None, manager))
    assert not can(ann, Permission.MANAGE_TEAM, TeamScope("design", plain))
    assert not can(ann, Permission.MANAGE_TEAM, TeamScope("design", None))
    assert not can(ann, Permission.MANAGE_TEAM)
    # Someone else's grant is not ann's; a scope never lends an unscoped permission.
    bobs = TeamMember(ORG, "bob", "design", manager=True)
    assert not can(ann, Permission.MANAGE_TEAM, TeamScope("design", bobs))
    assert not can(ann, Permission.MANAGE_POOL, TeamScope("design", manager))
    with pytest.raises(PermissionDenied, match="manager of the team"):
        authorise(ann, Permission.MANAGE_TEAM, TeamScope("sales", manager))
    admin = _member("boss", Role.ADMIN)
    assert can(admin, Permission.MANAGE_TEAM, TeamScope("sales"))
    assert can(admin, Permission.MANAGE_TEAM)


# ---------------------------------------------------------------------------- the model

USERS = ("ann", "bob", "cy")
TEAMS = ("design", "sales")
#: Each user's team (cy has none: the pool funds them).
HOME = {"ann": "design", "bob": "sales", "cy": None}

steps = st.lists(
    st.tuples(
        st.sampled_from(["fund", "defund", "allocate", "reclaim", "spend", "return"]),
        st.sampled_from(USERS + TEAMS),
        st.integers(min_value=1, max_value=60),
    ),
    max_size=40,
)


def _move(op: str, target: str, amount: int) -> tuple[TransferKind, str, str]:
    """The transfer a step asks for, routed by the team rules."""
    if target in TEAMS:
        team = team_account(target)
        if op in ("fund", "allocate"):
            return TransferKind.FUND_TEAM, POOL, team
        return TransferKind.DEFUND_TEAM, team, POOL
    member = member_account(target)
    home = home_account(HOME[target])
    if op in ("fund", "allocate"):
        return TransferKind.ALLOCATE, funding_account(HOME[target]), member
    if op == "spend":
        return TransferKind.SPEND, member, USAGE
    if op == "return":
        return TransferKind.RETURN, member, home
    return TransferKind.RECLAIM, member, home


@settings(max_examples=200, deadline=None)
@given(steps)
def test_any_sequence_of_team_moves_keeps_balances_and_reconciles(
    sequence: list[tuple[str, str, int]],
) -> None:
    """Whatever is funded, allocated, reclaimed, returned and spent, in any order: a refused
    move changes nothing, every guarded account stays at zero or more, credits only reach a
    team's member from the team's budget, and the ledger reconciles."""
    codes = [GRANT, POOL, USAGE, EXPIRED]
    codes += [team_account(t) for t in TEAMS] + [member_account(u) for u in USERS]
    accounts = {code: Account(ORG, code) for code in codes}
    posted: list[Transfer] = []

    def post(transfer: Transfer) -> bool:
        debit, credit = accounts[transfer.debit_account], accounts[transfer.credit_account]
        try:
            accounts[debit.code], accounts[credit.code] = apply_transfer(debit, credit, transfer)
        except InsufficientCredits:
            return False
        posted.append(transfer)
        return True

    assert post(_transfer(TransferKind.GRANT, GRANT, POOL, 200, n=0))
    for n, (op, target, amount) in enumerate(sequence, start=1):
        before = dict(accounts)
        kind, debit, credit = _move(op, target, amount)
        if not post(_transfer(kind, debit, credit, amount, n)):
            assert accounts == before
            assert before[debit].available < amount
        for account in accounts.values():
            if account.kind.guarded:
                assert account.available >= 0
    assert reconcile(accounts.values(), posted) == []
    assert team_problems(posted) == []
    for transfer in posted:
        user = transfer.credit_account.removeprefix("member:")
        if transfer.kind is TransferKind.ALLOCATE:
            assert transfer.debit_account == funding_account(HOME[user])
    funded = sum(t.amount for t in posted if t.kind is TransferKind.FUND_TEAM)
    defunded = sum(t.amount for t in posted if t.kind is TransferKind.DEFUND_TEAM)
    given_out = sum(
        t.amount
        for t in posted
        if t.kind is TransferKind.ALLOCATE and account_kind(t.debit_account) is AccountKind.TEAM
    )
    returned = sum(
        t.amount
        for t in posted
        if t.kind in (TransferKind.RECLAIM, TransferKind.RETURN)
        and account_kind(t.credit_account) is AccountKind.TEAM
    )
    teams_total = sum(accounts[team_account(t)].balance for t in TEAMS)
    assert teams_total == funded - defunded - given_out + returned


def test_team_problems_finds_a_team_moving_credits_it_may_not() -> None:
    wrong = [
        _transfer(TransferKind.SPEND, DESIGN, USAGE, 1, n=1),
        _transfer(TransferKind.FUND_TEAM, POOL, member_account("a"), 1, n=2),
        _transfer(TransferKind.ALLOCATE, DESIGN, team_account("sales"), 1, n=3),
        _transfer(TransferKind.FUND_TEAM, GRANT, DESIGN, 1, n=4),
    ]
    problems = team_problems(wrong)
    assert len(problems) == 4
    assert "t2" in problems[1]
    fine = [
        _transfer(TransferKind.FUND_TEAM, POOL, DESIGN, 5, n=5),
        _transfer(TransferKind.ALLOCATE, DESIGN, member_account("a"), 3, n=6),
        _transfer(TransferKind.RECLAIM, member_account("a"), DESIGN, 1, n=7),
        _transfer(TransferKind.DEFUND_TEAM, DESIGN, POOL, 3, n=8),
        _transfer(TransferKind.EXPIRE, DESIGN, EXPIRED, 0 + 1, n=9),
    ]
    assert team_problems(fine) == []


# ---------------------------------------------------------------------------- requests

#: Who is in which team (``None``: no team), for the reach's cases.
REQUESTERS = {"ann": "design", "bob": "design", "cy": "sales", "dee": None}


@settings(max_examples=300, deadline=None)
@given(
    actor=st.sampled_from(sorted(REQUESTERS)),
    role=st.sampled_from(list(Role)),
    active=st.booleans(),
    team=st.sampled_from([None, "design", "sales"]),
    manager=st.booleans(),
    requester=st.sampled_from(sorted(REQUESTERS)),
)
def test_a_request_is_reached_by_an_admin_its_teams_manager_and_its_requester(
    actor: str, role: Role, active: bool, team: str | None, manager: bool, requester: str
) -> None:
    """Whoever the actor and the requester: an admin decides every request; a member
    delegated a team decides exactly the requests of that team's members; a member sees
    (and withdraws) only their own beyond that; a removed member reaches nothing; and the
    reach agrees with the scoped permission's check."""
    membership = _member(actor, role)
    if not active:
        membership = attrs.evolve(membership, status=MemberStatus.REMOVED, removed_at=T0)
    grant = None if team is None else TeamMember(ORG, actor, team, manager=manager)
    reach = request_reach(membership, grant)
    requester_team = REQUESTERS[requester]
    admin = active and role is Role.ADMIN
    manages = active and grant is not None and grant.manager
    decides = admin or (manages and requester_team == team)
    assert reach.may_decide(requester, requester_team) is decides
    assert reach.may_decide(requester, requester_team) is (
        can(membership, Permission.DECIDE_REQUESTS)
        or can(membership, Permission.MANAGE_TEAM, TeamScope(requester_team, grant))
    )
    own = active and requester == actor
    assert reach.may_see(requester, requester_team) is (decides or own)
    assert reach.may_withdraw(requester) is own
    assert reach.decides_any is (admin or manages)


def test_an_outsider_reaches_no_request() -> None:
    """No membership: not even a request under an empty user id."""
    reach = request_reach(None, None)
    assert reach == RequestReach(None)
    assert not reach.may_see("", None)
    assert not reach.may_decide("ann", "design")
