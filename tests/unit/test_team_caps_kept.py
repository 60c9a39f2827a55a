"""The effective cap kept on each member's account row is always the domain's
``member_cap`` of the stored records, whatever sequence of cap changes (organisation, team,
member), team moves, removals, enrolments and directory reactivations comes first; the
status and the profile say the same."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.domain.caps import member_cap
from armox_enterprise.domain.ledger import member_account
from armox_enterprise.testing import Scenario, enterprise

USERS = ("member-1", "member-2")
caps = st.one_of(st.none(), st.integers(0, 500))
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("organisation"), caps),
        st.tuples(st.just("team"), st.integers(0, 1), caps),
        st.tuples(st.just("member"), st.sampled_from(USERS), caps),
        st.tuples(st.just("assign"), st.sampled_from(USERS), st.sampled_from([0, 1, None])),
        st.tuples(st.just("remove"), st.sampled_from(USERS), st.booleans()),
    ),
    max_size=40,
)


def apply(acme: Scenario, teams: list[str], op: tuple[object, ...]) -> None:
    """Make the change ``op`` describes (a step on a member who is not active, but for a
    removal's counterpart, is skipped)."""
    svc, org = acme.service, acme.org_id
    match op:
        case ("organisation", None | int() as cap):
            svc.set_spend_cap("admin", org, cap)
        case ("team", int(index), None | int() as cap):
            svc.set_spend_cap("admin", org, cap, team_id=teams[index])
        case ("member", str(user), None | int() as cap):
            if svc.directory_member(org, user).is_active:
                svc.set_spend_cap("admin", org, cap, user_id=user)
        case ("assign", str(user), None | int() as index):
            if svc.directory_member(org, user).is_active:
                svc.assign_team("admin", org, user, None if index is None else teams[index])
        case ("remove", str(user), bool(by_directory)):
            if svc.directory_member(org, user).is_active:
                svc.remove_member("admin", org, user)
            elif by_directory:
                svc.reactivate_member(org, user)
            else:
                svc.enrol(user, f"{user}@{acme.domain}", email_verified=True)
        case _:  # pragma: no cover - the strategy makes nothing else
            raise AssertionError(op)


def check_kept_caps(acme: Scenario) -> None:
    """Every member's row keeps member_cap of their stored records; an active member's
    status and profile show it."""
    store, svc, org = acme.store, acme.service, acme.org_id
    assert isinstance(store, MemoryStore)
    with store.unit_of_work() as uow:
        organisation = uow.organisations.get(org)
        assert organisation is not None
        for user in USERS:
            membership = uow.memberships.get(org, user)
            assert membership is not None
            assignment = uow.teams.assignment(org, user)
            team = None if assignment is None else uow.teams.get(org, assignment.team_id)
            expected = member_cap(membership, team, organisation)
            assert store.spend_caps.get((org, member_account(user))) == expected, user
            if membership.is_active:
                assert svc.spend_cap_status(user, org).cap == expected
                credits = svc.profile(user).credits
                assert credits is not None
                assert credits.spend_cap == expected


@settings(max_examples=200, deadline=None)
@given(ops=_OPS)
@example(
    ops=[
        ("team", 0, 5),
        ("assign", "member-1", 0),
        ("remove", "member-1", False),
        ("remove", "member-1", True),
        ("assign", "member-1", 1),
        ("team", 1, 9),
        ("organisation", 3),
        ("assign", "member-1", None),
    ]
)
def test_every_members_kept_cap_is_member_cap_of_the_stored_records(
    ops: list[tuple[object, ...]],
) -> None:
    """After each step, every member's account row keeps member_cap(membership, team,
    organisation), and spend_cap_status and the profile show it."""
    acme = enterprise(members=len(USERS))
    teams = [acme.service.create_team("admin", acme.org_id, name).id for name in ("A", "B")]
    for op in ops:
        apply(acme, teams, op)
        check_kept_caps(acme)
