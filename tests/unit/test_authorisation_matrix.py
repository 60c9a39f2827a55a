"""The authorisation matrix: every use case of the service by every kind of actor.

The expected answer of each cell is not written by hand: it comes from :data:`SPEC` (which
:class:`Permission` each use case needs, or which special rule it follows) and
:data:`~armox_enterprise.domain.access.ROLE_PERMISSIONS` (which role holds it).  An active
member whose role holds the permission is answered; one whose role lacks it gets
``PermissionDenied``; anyone who is not an active member (another organisation's admin or
member, a former admin or member, a user never enrolled, the system's actor id) gets
``OrganisationNotFound``, shaped exactly as for an organisation id nobody ever created.
After every refusal the store holds exactly what it held before, both ledgers reconcile, and
the refusal names nothing of the organisation the caller did not pass in.

:data:`SPEC` must name every public method of :class:`EnterpriseService` (a new use case
without a row fails :func:`test_every_public_method_has_a_row`), and ``docs/access.md``
carries the same table (:func:`test_the_access_page_matches_the_spec`).

The SQL variant, ``tests/integration/test_authorisation_matrix_sql.py``, imports this module
and runs the same cells on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs
import pytest

from armox_enterprise import (
    EnterpriseService,
    ExistingUser,
    JoinMode,
    MemoryStore,
    Role,
    SoftLimit,
)
from armox_enterprise.domain.access import ROLE_PERMISSIONS, Permission
from armox_enterprise.domain.events import SYSTEM_ACTOR
from armox_enterprise.domain.ledger import HoldStatus
from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import (
    AlreadyMember,
    CreditRequestNotFound,
    HoldNotFound,
    OrganisationNotFound,
    PermissionDenied,
)
from armox_enterprise.ports import Store
from armox_enterprise.testing import FrozenClock, StaticDnsResolver, enterprise

ACCESS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "access.md"

#: A cell's expected answer: ``None`` (answered) or the exact refusal.
Answer = type[Exception] | None

# ---------------------------------------------------------------------------- the actors


@attrs.frozen
class Standing:
    """Who an actor is to the organisation under test (Acme).

    Attributes:
        user: the host's user id the actor calls with.
        role: the actor's role while an active member of Acme (``None``: not one).
        left: the actor was a member of Acme and was removed.
        elsewhere: the actor is an active member of another organisation.
        manages: the actor is a member of Acme delegated the management of the team the
            bystander is in (a scoped ``MANAGE_TEAM`` grant, not a role).
    """

    user: str
    role: Role | None = None
    left: bool = False
    elsewhere: bool = False
    manages: bool = False


#: Every kind of actor, by the name the test ids use.
ACTORS: Mapping[str, Standing] = {
    "admin": Standing("admin", Role.ADMIN),
    "member": Standing("member-1", Role.MEMBER),
    "team_manager": Standing("manager-1", Role.MEMBER, manages=True),
    "admin_of_other": Standing("globex-admin", elsewhere=True),
    "member_of_other": Standing("globex-member", elsewhere=True),
    "removed_admin": Standing("ex-admin", left=True),
    "removed_member": Standing("ex-member", left=True),
    "never_enrolled": Standing("stranger"),
    "system": Standing(SYSTEM_ACTOR),
}
#: The actors who are people (they can sign up, read their profile, found an organisation).
PEOPLE = tuple(name for name in ACTORS if name != "system")
#: Each person's own email address.
EMAILS: Mapping[str, str] = {
    "admin": "admin@acme.example",
    "member-1": "member-1@acme.example",
    "manager-1": "manager-1@acme.example",
    "globex-admin": "boss@globex.example",
    "globex-member": "globex-member@globex.example",
    "ex-admin": "ex-admin@acme.example",
    "ex-member": "ex-member@acme.example",
    "stranger": "stranger@acme.example",
}
#: The member whose records the cells act on: nobody else may learn anything about them.
BYSTANDER = "member-2"

# ---------------------------------------------------------------------------- the rules


def _permissions(role: Role | None) -> frozenset[Permission]:
    return frozenset() if role is None else ROLE_PERMISSIONS[role]


def _names(permissions: frozenset[Permission]) -> str:
    return " + ".join(f"`{p.name}`" for p in sorted(permissions, key=lambda p: p.value))


@attrs.frozen
class Needs:
    """An active member whose role holds every one of ``permissions``; with ``hidden``, an
    active member who holds them is told that (the record is not theirs to touch)."""

    permissions: frozenset[Permission]
    hidden: type[Exception] | None = None
    actors: tuple[str, ...] = tuple(ACTORS)

    def answer(self, standing: Standing) -> Answer:
        """What ``standing`` is answered."""
        if standing.role is None:
            return OrganisationNotFound
        if not self.permissions <= _permissions(standing.role):
            return PermissionDenied
        return self.hidden

    def describe(self) -> str:
        """The rule as the access page states it."""
        needs = _names(self.permissions)
        return needs if self.hidden is None else f"{needs}; not theirs: `{self.hidden.__name__}`"


@attrs.frozen
class ForTeam:
    """An active member whose role holds ``permission``, or the delegated manager of the team
    the call's member (the bystander) is in: the scoped ``MANAGE_TEAM``."""

    permission: Permission
    actors: tuple[str, ...] = tuple(ACTORS)

    def answer(self, standing: Standing) -> Answer:
        """What ``standing`` is answered."""
        if standing.role is None:
            return OrganisationNotFound
        if self.permission in _permissions(standing.role) or standing.manages:
            return None
        return PermissionDenied

    def describe(self) -> str:
        """The rule as the access page states it."""
        return f"`{self.permission.name}`, or `MANAGE_TEAM` for the team's manager"


@attrs.frozen
class BeyondTeam:
    """A record of a member of no team (or of another team): an active member whose role
    holds ``permission``; a team's manager is told it does not exist (``hidden``), any other
    member is refused."""

    permission: Permission
    hidden: type[Exception]
    actors: tuple[str, ...] = tuple(ACTORS)

    def answer(self, standing: Standing) -> Answer:
        """What ``standing`` is answered."""
        if standing.role is None:
            return OrganisationNotFound
        if self.permission in _permissions(standing.role):
            return None
        return self.hidden if standing.manages else PermissionDenied

    def describe(self) -> str:
        """The rule as the access page states it."""
        return f"`{self.permission.name}`; for a team's manager: `{self.hidden.__name__}`"


@attrs.frozen
class AnyHold:
    """Resolving another member's hold: ``RESOLVE_ANY_HOLD``; an active member without it is
    told the hold does not exist."""

    actors: tuple[str, ...] = tuple(ACTORS)

    def answer(self, standing: Standing) -> Answer:
        """What ``standing`` is answered."""
        if standing.role is None:
            return OrganisationNotFound
        if Permission.RESOLVE_ANY_HOLD in _permissions(standing.role):
            return None
        return HoldNotFound

    def describe(self) -> str:
        """The rule as the access page states it."""
        return "`RESOLVE_ANY_HOLD`; without it: `HoldNotFound`"


@attrs.frozen
class OwnHold:
    """Resolving one's own hold: ``SPEND``, and its owner may still do it after leaving."""

    actors: tuple[str, ...] = tuple(ACTORS)

    def answer(self, standing: Standing) -> Answer:
        """What ``standing`` is answered."""
        if standing.left:
            return None
        if standing.role is None:
            return OrganisationNotFound
        return None if Permission.SPEND in _permissions(standing.role) else PermissionDenied

    def describe(self) -> str:
        """The rule as the access page states it."""
        return "`SPEND`; its owner also after leaving"


@attrs.frozen
class Job:
    """A job or a setting of the host's, or a directory's call the host makes: no actor,
    nothing to refuse."""

    actors: tuple[str, ...] = ("system",)
    label: str = "— (the host: a job, no actor)"

    def answer(self, standing: Standing) -> Answer:
        """What ``standing`` is answered."""
        del standing
        return None

    def describe(self) -> str:
        """The rule as the access page states it."""
        return self.label


#: The directory's calls: the host authenticates the SCIM client, then calls them for it.
DIRECTORY = Job(label="— (the host, for the directory: no actor)")


@attrs.frozen
class Oneself:
    """A person acting for themselves, in no organisation; with ``members_refused``, what an
    active member of any organisation is told."""

    members_refused: type[Exception] | None = None
    actors: tuple[str, ...] = PEOPLE

    def answer(self, standing: Standing) -> Answer:
        """What ``standing`` is answered."""
        member = standing.role is not None or standing.elsewhere
        return self.members_refused if member else None

    def describe(self) -> str:
        """The rule as the access page states it."""
        return "— (the user, for themselves)"


class Rule(Protocol):
    """What a use case requires of its actor."""

    @property
    def actors(self) -> tuple[str, ...]:
        """The kinds of actor the use case can be called by."""
        ...

    def answer(self, standing: Standing) -> Answer:
        """What ``standing`` is answered."""
        ...

    def describe(self) -> str:
        """The rule as the access page states it."""
        ...


def needs(*permissions: Permission, hidden: type[Exception] | None = None) -> Needs:
    """The rule of a use case for active members holding ``permissions``."""
    return Needs(frozenset(permissions), hidden)


# ---------------------------------------------------------------------------- the world


@attrs.define
class World:
    """Acme with an admin, a member and a bystander holding credits, and a removed admin and
    a removed member whose holds are still pending; the bystander's spend, pending hold and
    pending request; and Globex, another organisation with an admin and a member."""

    service: EnterpriseService
    store: Store
    clock: FrozenClock
    dns: StaticDnsResolver
    org_id: str
    other_org_id: str
    spend_id: str
    hold_id: str
    request_id: str
    #: The team the bystander and the team manager are in.
    team_id: str
    #: The removed users' holds, reserved before they left.
    held: dict[str, str]
    #: What the organisation holds that no refusal may show.
    secrets: set[str]

    def active(self, who: str) -> bool:
        """Whether ``who`` is an active member of Acme."""
        return any(s.user == who and s.role is not None for s in ACTORS.values())


def build_world(store: Store | None = None) -> World:
    """Build the world every cell starts from, on ``store`` (a new memory store by default)."""
    s = enterprise(store=store, members=2, allocate=1_000)
    svc, org = s.service, s.org_id
    svc.allocate_credits(s.admin, org, s.admin, 500)
    held: dict[str, str] = {}
    for user, role in (("ex-admin", Role.ADMIN), ("ex-member", Role.MEMBER)):
        svc.enrol(user, EMAILS[user], email_verified=True)
        if role is Role.ADMIN:
            svc.change_role(s.admin, org, user, role)
        svc.allocate_credits(s.admin, org, user, 100)
        held[user] = svc.reserve(user, org, 60, generation_id=f"gen-{user}").id
        svc.remove_member(s.admin, org, user)
    svc.enrol("manager-1", EMAILS["manager-1"], email_verified=True)
    team = svc.create_team(s.admin, org, "Design")
    svc.fund_team(s.admin, org, team.id, 500)
    for user in (BYSTANDER, "manager-1"):
        svc.assign_team(s.admin, org, user, team.id)
    svc.delegate_team(s.admin, org, "manager-1")
    svc.allocate_credits(s.admin, org, "manager-1", 100)
    spend = svc.spend(BYSTANDER, org, 40, generation_id="gen-spent", feature="video")
    hold = svc.reserve(BYSTANDER, org, 50, generation_id="gen-held")
    request = svc.request_credits(BYSTANDER, org, 300, note="for the secret launch")
    globex = svc.create_organisation(
        name="Globex", admin_user_id="globex-admin", admin_email=EMAILS["globex-admin"]
    )
    claim = svc.claim_domain("globex-admin", globex.id, "globex.example")
    s.dns.publish("globex.example", claim.txt_record)
    svc.verify_domain("globex-admin", globex.id, "globex.example")
    svc.enrol("globex-member", EMAILS["globex-member"], email_verified=True)
    tokens = {c.verification_token for c in svc.list_domains(s.admin, org)}
    secrets = {
        f"{BYSTANDER}@{s.domain}",
        BYSTANDER.title(),
        "for the secret launch",
        "Acme",
        "Globex",
        *tokens,
        claim.verification_token,
    }
    return World(
        svc,
        s.store,
        s.clock,
        s.dns,
        org,
        globex.id,
        spend.id,
        hold.id,
        request.id,
        team.id,
        held,
        secrets,
    )


# ---------------------------------------------------------------------------- the use cases

#: Makes what a call needs (a hold, a request, a claim ...), as an admin or as the actor
#: themself, and returns it: ``prepare(world, who)``.
Prepare = Callable[[World, str], Any]
#: Makes the call: ``call(service, who, organisation_id, prepared)``.
Call = Callable[[EnterpriseService, str, str, Any], object]


def _nothing(world: World, who: str) -> None:
    del world, who


@attrs.frozen
class Case:
    """One row of the matrix: a use case (a method, in one situation) and its rule.

    Attributes:
        rule: what the use case requires of its actor (the spec).
        call: makes the call.
        prepare: makes what the call needs, before it.
        method: the :class:`EnterpriseService` method it calls ("": the row's name).
        situation: what tells the rows of one method apart ("" if it has one).
    """

    rule: Rule
    call: Call
    prepare: Prepare = _nothing
    method: str = ""
    situation: str = ""


def _bystanders(record: str) -> Prepare:
    """The bystander's spend, hold or request that the world made."""
    return lambda world, who: getattr(world, record)


def _claimed(domain: str, *, published: bool = False) -> Prepare:
    """A domain the admin claimed (and published the TXT record of)."""

    def prepare(world: World, who: str) -> str:
        claim = world.service.claim_domain("admin", world.org_id, domain)
        if published:
            world.dns.publish(domain, claim.txt_record)
        return domain

    return prepare


def _join_request(world: World, who: str) -> str:
    """A pending join request (the admin switched the join mode to requests first)."""
    svc = world.service
    svc.update_settings("admin", world.org_id, join_mode=JoinMode.REQUEST)
    svc.sign_up("applicant", "applicant@acme.example", email_verified=True)
    return svc.list_join_requests("admin", world.org_id)[0].id


def _own_hold(world: World, who: str) -> str:
    """The actor's own hold: reserved now while active, before leaving if they left; anyone
    else owns none and names the bystander's."""
    if world.active(who):
        return world.service.reserve(who, world.org_id, 20, generation_id=f"own-{who}").id
    return world.held.get(who, world.hold_id)


def _own_request(world: World, who: str) -> str:
    """The actor's own pending request (the bystander's, for someone who cannot make one)."""
    if world.active(who):
        return world.service.request_credits(who, world.org_id, 20).id
    return world.request_id


def _no_teams_request(world: World, who: str) -> str:
    """A pending request of member-1, who is in no team."""
    return world.service.request_credits("member-1", world.org_id, 15).id


def _team(world: World, who: str) -> str:
    """The team the bystander and the team manager are in."""
    return world.team_id


def _empty_team(world: World, who: str) -> str:
    """A new team with no members and no credits (the admin made it)."""
    return world.service.create_team("admin", world.org_id, f"Spare {who}").id


P = Permission
_OLD_TIMER = ExistingUser("old-timer", "old-timer@acme.example", email_verified=True)

#: THE SPEC: every use case and view of the service, the rule it follows and how to call it.
_ROWS: dict[str, Case] = {
    # organisations
    "create_organisation": Case(
        Oneself(members_refused=AlreadyMember),
        lambda s, who, org, p: s.create_organisation(
            name="Initech", admin_user_id=who, admin_email=f"{who}@initech.example"
        ),
    ),
    "get_organisation": Case(
        needs(P.VIEW_ORGANISATION), lambda s, who, org, p: s.get_organisation(who, org)
    ),
    "set_monthly_allowance": Case(
        needs(P.MANAGE_SETTINGS), lambda s, who, org, p: s.set_monthly_allowance(who, org, 20_000)
    ),
    "update_settings": Case(
        needs(P.MANAGE_SETTINGS),
        lambda s, who, org, p: s.update_settings(who, org, max_open_requests=3),
    ),
    # domains
    "claim_domain": Case(
        needs(P.MANAGE_DOMAINS), lambda s, who, org, p: s.claim_domain(who, org, "fresh.example")
    ),
    "verify_domain": Case(
        needs(P.MANAGE_DOMAINS),
        lambda s, who, org, p: s.verify_domain(who, org, p),
        _claimed("pending.example", published=True),
    ),
    "remove_domain": Case(
        needs(P.MANAGE_DOMAINS),
        lambda s, who, org, p: s.remove_domain(who, org, p),
        _claimed("spare.example"),
    ),
    "list_domains": Case(needs(P.MANAGE_DOMAINS), lambda s, who, org, p: s.list_domains(who, org)),
    # enrolment
    "sign_up": Case(
        Oneself(), lambda s, who, org, p: s.sign_up(who, EMAILS[who], email_verified=True)
    ),
    "enrol": Case(Oneself(), lambda s, who, org, p: s.enrol(who, EMAILS[who], email_verified=True)),
    "capture_existing_users": Case(
        needs(P.MANAGE_MEMBERS),
        lambda s, who, org, p: s.capture_existing_users(who, org, [_OLD_TIMER]),
    ),
    "invite": Case(
        needs(P.MANAGE_MEMBERS), lambda s, who, org, p: s.invite(who, org, "guest@partner.example")
    ),
    "list_join_requests": Case(
        needs(P.MANAGE_MEMBERS), lambda s, who, org, p: s.list_join_requests(who, org)
    ),
    "decide_join_request": Case(
        needs(P.MANAGE_MEMBERS),
        lambda s, who, org, p: s.decide_join_request(who, org, p, approve=True),
        _join_request,
    ),
    # members
    "list_members": Case(needs(P.MANAGE_MEMBERS), lambda s, who, org, p: s.list_members(who, org)),
    "change_role": Case(
        needs(P.MANAGE_MEMBERS),
        lambda s, who, org, p: s.change_role(who, org, BYSTANDER, Role.ADMIN),
    ),
    "remove_member": Case(
        needs(P.MANAGE_MEMBERS), lambda s, who, org, p: s.remove_member(who, org, BYSTANDER)
    ),
    "set_standing_allotment": Case(
        needs(P.MANAGE_MEMBERS),
        lambda s, who, org, p: s.set_standing_allotment(who, org, BYSTANDER, 50),
    ),
    # monthly caps
    "set_spend_cap": Case(
        needs(P.MANAGE_SETTINGS),
        lambda s, who, org, p: s.set_spend_cap(who, org, 500, user_id=BYSTANDER),
        situation="a member's cap",
    ),
    # A team's delegated manager may not set their own team's cap: a cap is a limit set on
    # the manager too, and the manager's grant is for the team's credits, not its settings.
    "set_team_spend_cap": Case(
        needs(P.MANAGE_SETTINGS),
        lambda s, who, org, p: s.set_spend_cap(who, org, 500, team_id=p),
        _team,
        method="set_spend_cap",
        situation="a team's cap (its manager's own team too)",
    ),
    "set_soft_limit": Case(
        needs(P.MANAGE_SETTINGS),
        lambda s, who, org, p: s.set_soft_limit(who, org, SoftLimit(credits=50)),
    ),
    "spend_cap_status": Case(
        needs(P.VIEW_ORGANISATION),
        lambda s, who, org, p: s.spend_cap_status(who, org),
        situation="one's own cap",
    ),
    "spend_cap_status_of_other": Case(
        needs(P.VIEW_ORGANISATION, P.MANAGE_SETTINGS),
        lambda s, who, org, p: s.spend_cap_status(who, org, user_id=BYSTANDER),
        method="spend_cap_status",
        situation="another member's cap",
    ),
    "team_spend_cap_status": Case(
        needs(P.VIEW_ORGANISATION, P.MANAGE_SETTINGS),
        lambda s, who, org, p: s.spend_cap_status(who, org, team_id=p),
        _team,
        method="spend_cap_status",
        situation="a team's cap alone",
    ),
    # the pool's credits
    "top_up": Case(needs(P.MANAGE_POOL), lambda s, who, org, p: s.top_up(who, org, 100)),
    "allocate_credits": Case(
        ForTeam(P.MANAGE_POOL),
        lambda s, who, org, p: s.allocate_credits(who, org, BYSTANDER, 10),
        situation="a member of a team",
    ),
    "reclaim_credits": Case(
        ForTeam(P.MANAGE_POOL),
        lambda s, who, org, p: s.reclaim_credits(who, org, BYSTANDER, 10),
        situation="a member of a team",
    ),
    "allocate_outside_team": Case(
        needs(P.MANAGE_POOL),
        lambda s, who, org, p: s.allocate_credits(who, org, "member-1", 10),
        method="allocate_credits",
        situation="a member of no team",
    ),
    # teams
    "create_team": Case(
        needs(P.MANAGE_TEAMS), lambda s, who, org, p: s.create_team(who, org, "Research")
    ),
    "rename_team": Case(
        needs(P.MANAGE_TEAMS),
        lambda s, who, org, p: s.rename_team(who, org, p, "Studio"),
        _team,
    ),
    "delete_team": Case(
        needs(P.MANAGE_TEAMS),
        lambda s, who, org, p: s.delete_team(who, org, p),
        _empty_team,
        situation="an empty team",
    ),
    "list_teams": Case(needs(P.VIEW_DASHBOARD), lambda s, who, org, p: s.list_teams(who, org)),
    "team_members": Case(
        ForTeam(P.MANAGE_TEAMS), lambda s, who, org, p: s.team_members(who, org, p), _team
    ),
    "fund_team": Case(
        needs(P.MANAGE_TEAMS), lambda s, who, org, p: s.fund_team(who, org, p, 10), _team
    ),
    "reclaim_team_budget": Case(
        needs(P.MANAGE_TEAMS),
        lambda s, who, org, p: s.reclaim_team_budget(who, org, p, 10),
        _team,
    ),
    "assign_team": Case(
        needs(P.MANAGE_TEAMS),
        lambda s, who, org, p: s.assign_team(who, org, "member-1", p),
        _team,
    ),
    "delegate_team": Case(
        needs(P.MANAGE_TEAMS),
        lambda s, who, org, p: s.delegate_team(who, org, BYSTANDER),
    ),
    "refund": Case(
        needs(P.MANAGE_POOL),
        lambda s, who, org, p: s.refund(who, org, p),
        _bystanders("spend_id"),
    ),
    # spending and holds
    "spend": Case(
        needs(P.SPEND), lambda s, who, org, p: s.spend(who, org, 5, generation_id="gen-cell")
    ),
    "reserve": Case(
        needs(P.SPEND), lambda s, who, org, p: s.reserve(who, org, 5, generation_id="gen-cell")
    ),
    "capture_hold": Case(
        AnyHold(),
        lambda s, who, org, p: s.capture_hold(who, org, p),
        _bystanders("hold_id"),
        situation="another member's hold",
    ),
    "release_hold": Case(
        AnyHold(),
        lambda s, who, org, p: s.release_hold(who, org, p),
        _bystanders("hold_id"),
        situation="another member's hold",
    ),
    "capture_own_hold": Case(
        OwnHold(),
        lambda s, who, org, p: s.capture_hold(who, org, p),
        _own_hold,
        method="capture_hold",
        situation="one's own hold",
    ),
    "release_own_hold": Case(
        OwnHold(),
        lambda s, who, org, p: s.release_hold(who, org, p),
        _own_hold,
        method="release_hold",
        situation="one's own hold",
    ),
    "release_expired_holds": Case(Job(), lambda s, who, org, p: s.release_expired_holds(org)),
    # credit requests
    "request_credits": Case(
        needs(P.REQUEST_CREDITS), lambda s, who, org, p: s.request_credits(who, org, 25)
    ),
    "list_requests": Case(
        needs(P.REQUEST_CREDITS),
        lambda s, who, org, p: s.list_requests(who, org),
        situation="all with `DECIDE_REQUESTS`, their team's for its manager, else one's own",
    ),
    "cancel_request": Case(
        needs(P.REQUEST_CREDITS),
        lambda s, who, org, p: s.cancel_request(who, org, p),
        _own_request,
        situation="one's own request",
    ),
    "cancel_others_request": Case(
        needs(P.REQUEST_CREDITS, hidden=CreditRequestNotFound),
        lambda s, who, org, p: s.cancel_request(who, org, p),
        _bystanders("request_id"),
        method="cancel_request",
        situation="another member's request",
    ),
    "approve_request": Case(
        ForTeam(P.DECIDE_REQUESTS),
        lambda s, who, org, p: s.approve_request(who, org, p),
        _bystanders("request_id"),
        situation="a member of a team's request",
    ),
    "reject_request": Case(
        ForTeam(P.DECIDE_REQUESTS),
        lambda s, who, org, p: s.reject_request(who, org, p),
        _bystanders("request_id"),
        situation="a member of a team's request",
    ),
    "approve_beyond_team": Case(
        BeyondTeam(P.DECIDE_REQUESTS, CreditRequestNotFound),
        lambda s, who, org, p: s.approve_request(who, org, p),
        _no_teams_request,
        method="approve_request",
        situation="a member of no team's request",
    ),
    "reject_beyond_team": Case(
        BeyondTeam(P.DECIDE_REQUESTS, CreditRequestNotFound),
        lambda s, who, org, p: s.reject_request(who, org, p),
        _no_teams_request,
        method="reject_request",
        situation="a member of no team's request",
    ),
    # the directory's calls, which the host makes for its authenticated SCIM client
    "provision_member": Case(
        DIRECTORY, lambda s, who, org, p: s.provision_member(org, "hired", "hired@else.example")
    ),
    "deactivate_member": Case(
        DIRECTORY, lambda s, who, org, p: s.deactivate_member(org, BYSTANDER)
    ),
    "reactivate_member": Case(
        DIRECTORY, lambda s, who, org, p: s.reactivate_member(org, "ex-member")
    ),
    "directory_member": Case(DIRECTORY, lambda s, who, org, p: s.directory_member(org, BYSTANDER)),
    "directory_members": Case(DIRECTORY, lambda s, who, org, p: s.directory_members(org)),
    "delete_member": Case(DIRECTORY, lambda s, who, org, p: s.delete_member(org, BYSTANDER)),
    "directory_user": Case(DIRECTORY, lambda s, who, org, p: s.directory_user(org, BYSTANDER)),
    "directory_users": Case(DIRECTORY, lambda s, who, org, p: s.directory_users(org)),
    # jobs and the host's settings
    "close_due_periods": Case(Job(), lambda s, who, org, p: s.close_due_periods()),
    "check_alerts": Case(Job(), lambda s, who, org, p: s.check_alerts(org)),
    "recheck_domains": Case(Job(), lambda s, who, org, p: s.recheck_domains()),
    "relay": Case(Job(), lambda s, who, org, p: s.relay(lambda events: None)),
    "reconcile": Case(Job(), lambda s, who, org, p: s.reconcile(org)),
    "subscribe": Case(Job(), lambda s, who, org, p: s.subscribe(lambda event: None)),
    # views and reports
    "profile": Case(Oneself(), lambda s, who, org, p: s.profile(who)),
    "dashboard": Case(needs(P.VIEW_DASHBOARD), lambda s, who, org, p: s.dashboard(who, org)),
    "request_statistics": Case(
        needs(P.VIEW_DASHBOARD), lambda s, who, org, p: s.request_statistics(who, org)
    ),
    "pool_utilisation": Case(
        needs(P.VIEW_DASHBOARD), lambda s, who, org, p: s.pool_utilisation(who, org)
    ),
    "audit_log": Case(needs(P.VIEW_AUDIT_LOG), lambda s, who, org, p: s.audit_log(who, org)),
    "usage_report": Case(
        needs(P.VIEW_OWN_USAGE),
        lambda s, who, org, p: s.usage_report(who, org, by="member"),
        situation="one's own usage",
    ),
    "usage_report_of_other": Case(
        needs(P.VIEW_OWN_USAGE, P.VIEW_ALL_USAGE),
        lambda s, who, org, p: s.usage_report(who, org, by="member", user_id=BYSTANDER),
        method="usage_report",
        situation="another member's usage",
    ),
    "top_consumers": Case(
        needs(P.VIEW_ALL_USAGE), lambda s, who, org, p: s.top_consumers(who, org)
    ),
    "export_usage_csv": Case(
        needs(P.VIEW_ALL_USAGE), lambda s, who, org, p: s.export_usage_csv(who, org)
    ),
    "export_ledger_csv": Case(
        needs(P.VIEW_ALL_USAGE), lambda s, who, org, p: s.export_ledger_csv(who, org)
    ),
}
SPEC: Mapping[str, Case] = {
    name: attrs.evolve(case, method=case.method or name) for name, case in _ROWS.items()
}

#: Cells where the library answers other than the spec says: ``(use case, actor)`` → why.
WRONG: Mapping[tuple[str, str], str] = {}


def expected(case: str, actor: str) -> Answer:
    """The spec's answer for ``actor`` calling ``case``."""
    return SPEC[case].rule.answer(ACTORS[actor])


def cells(subset: Callable[[str, str], bool] = lambda case, actor: True) -> list[Any]:
    """Every cell of the matrix (those ``subset`` keeps) as pytest parameters, known-wrong
    cells marked strictly expected to fail."""
    params = []
    for name, case in SPEC.items():
        for actor in case.rule.actors:
            if not subset(name, actor):
                continue
            wrong = WRONG.get((name, actor))
            marks = [] if wrong is None else [pytest.mark.xfail(strict=True, reason=wrong)]
            params.append(pytest.param(name, actor, id=f"{name}-{actor}", marks=marks))
    return params


# ---------------------------------------------------------------------------- one cell

#: Returns everything the store holds, comparable with ``==``.
Snapshot = Callable[[], object]


def _plain(value: object) -> object:
    """A copy of a memory store's table: empty containers (made by reads of defaultdicts)
    dropped, nested tables copied."""
    if isinstance(value, dict):
        items = ((k, _plain(v)) for k, v in value.items())
        return {k: v for k, v in items if v not in ({}, [])}
    if isinstance(value, list):
        return list(value)
    return value


def memory_snapshot(store: Store) -> Snapshot:
    """Return a snapshot of every table of a :class:`MemoryStore`."""
    assert isinstance(store, MemoryStore)

    def take() -> object:
        return {name: _plain(v) for name, v in vars(store).items() if not name.startswith("_")}

    return take


def _consume(result: object) -> object:
    """Read a streamed answer (the CSV exports) to its end."""
    if isinstance(result, Iterator):
        return list(result)
    return result


def _shape(error: BaseException, organisation_id: str) -> tuple[object, ...]:
    """What a refusal shows, with the organisation id it names masked."""
    shown = repr((error.args, vars(error)))
    return type(error), shown.replace(organisation_id, "<organisation>")


def check_cell(world: World, case_name: str, actor: str, snapshot: Snapshot) -> None:
    """Make the call of one cell and check its answer against the spec; after a refusal,
    check that nothing changed and nothing leaked, and that an organisation the caller may
    not see answers exactly as one that does not exist."""
    case = SPEC[case_name]
    who = ACTORS[actor].user
    prepared = case.prepare(world, who)
    want = expected(case_name, actor)
    svc = world.service
    if want is None:
        _consume(case.call(svc, who, world.org_id, prepared))
        assert svc.reconcile(world.org_id) == []
        return
    before = snapshot()
    with pytest.raises(want) as refused:
        _consume(case.call(svc, who, world.org_id, prepared))
    assert type(refused.value) is want, f"{case_name} by {actor}: {refused.value!r}"
    assert snapshot() == before
    assert svc.reconcile(world.org_id) == []
    assert svc.reconcile(world.other_org_id) == []
    shown = repr((refused.value.args, vars(refused.value)))
    assert not {s for s in world.secrets if s in shown}, shown
    if want is OrganisationNotFound:
        made_up = new_id(world.clock.now())
        with pytest.raises(OrganisationNotFound) as unknown:
            _consume(case.call(svc, who, made_up, prepared))
        assert _shape(refused.value, world.org_id) == _shape(unknown.value, made_up)
        assert snapshot() == before


@pytest.mark.parametrize(("case", "actor"), cells())
def test_cell(case: str, actor: str) -> None:
    """On the memory store, the cell answers as the spec and ROLE_PERMISSIONS say."""
    world = build_world()
    check_cell(world, case, actor, memory_snapshot(world.store))


# ---------------------------------------------------------------------------- coverage


def test_every_public_method_has_a_row() -> None:
    """The spec names every public method of EnterpriseService, and nothing else."""
    public = {
        name
        for name, _ in inspect.getmembers(EnterpriseService, inspect.isfunction)
        if not name.startswith("_")
    }
    assert {case.method for case in SPEC.values()} == public


def test_every_permission_is_needed_by_some_use_case() -> None:
    """Each Permission guards at least one row of the spec (no permission is dead)."""
    used: set[Permission] = {Permission.RESOLVE_ANY_HOLD, Permission.SPEND}
    for case in SPEC.values():
        if isinstance(case.rule, Needs):
            used |= case.rule.permissions
        if isinstance(case.rule, ForTeam):
            used |= {case.rule.permission, Permission.MANAGE_TEAM}
    assert used == set(Permission)


def test_every_kind_of_actor_is_in_the_world() -> None:
    """Each actor's standing is what the world really made of them."""
    world = build_world()
    with world.store.unit_of_work() as uow:
        for standing in ACTORS.values():
            membership = uow.memberships.get(world.org_id, standing.user)
            active = membership is not None and membership.is_active
            assert active == (standing.role is not None)
            assert (membership is not None and not active) == standing.left
            if active:
                assert membership is not None
                assert membership.role is standing.role


# ---------------------------------------------------------------------------- the doc page


#: The access page's columns of answers: each role, a former member, an outsider.
COLUMNS: Mapping[str, Standing] = {
    **{role.value: Standing("someone", role) for role in Role},
    "team manager": Standing("someone", Role.MEMBER, manages=True),
    "former member": Standing("someone", left=True),
    "outsider": Standing("someone"),
}


def _shown(answer: Answer) -> str:
    return "✓" if answer is None else f"`{answer.__name__}`"


def access_rows() -> list[list[str]]:
    """The rows of the access page's use-case table, from the spec and ROLE_PERMISSIONS."""
    rows = []
    for case in sorted(SPEC.values(), key=lambda c: (c.method, c.situation)):
        if isinstance(case.rule, Job):
            answers = ["—" for _ in COLUMNS]
        else:
            answers = [_shown(case.rule.answer(standing)) for standing in COLUMNS.values()]
        rows.append([f"`{case.method}`", case.situation, case.rule.describe(), *answers])
    return rows


def permission_rows() -> list[list[str]]:
    """The rows of the access page's permission table: ROLE_PERMISSIONS itself."""
    return [
        [f"`{p.name}`", *("✓" if p in ROLE_PERMISSIONS[r] else "" for r in Role)]
        for p in Permission
    ]


def render(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def page_table(text: str, first_heading: str) -> list[list[str]]:
    """The body rows of the page's table whose header starts with ``first_heading``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_heading} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def test_the_access_page_matches_the_spec() -> None:
    """docs/access.md's tables say what the spec and ROLE_PERMISSIONS say."""
    text = ACCESS_PAGE.read_text(encoding="utf-8")
    roles = [r.value for r in Role]
    use_cases = render(["method", "situation", "needs", *COLUMNS], access_rows())
    permissions = render(["permission", *roles], permission_rows())
    assert page_table(text, "method") == access_rows(), "expected:\n" + use_cases
    assert page_table(text, "permission") == permission_rows(), "expected:\n" + permissions


# ---------------------------------------------------------------------------- what members see


def test_a_member_lists_only_their_own_requests() -> None:
    """A member's list of requests holds theirs only; an admin's holds the bystander's too."""
    world = build_world()
    svc, org = world.service, world.org_id
    own = svc.request_credits("member-1", org, 20)
    assert [r.id for r in svc.list_requests("member-1", org)] == [own.id]
    assert {r.id for r in svc.list_requests("admin", org)} == {own.id, world.request_id}


def test_a_team_manager_lists_their_teams_requests_only() -> None:
    """A team's manager lists their own requests and their team's members' (the
    bystander's), not those of a member of no team; deciding one of those is an unknown id."""
    world = build_world()
    svc, org = world.service, world.org_id
    loner = svc.request_credits("member-1", org, 20)
    own = svc.request_credits("manager-1", org, 10)
    assert [r.id for r in svc.list_requests("manager-1", org)] == [world.request_id, own.id]
    with pytest.raises(CreditRequestNotFound):
        svc.approve_request("manager-1", org, loner.id)
    assert [r.id for r in svc.list_requests("admin", org)] == [world.request_id, loner.id, own.id]


def test_a_members_usage_report_holds_only_their_own_usage() -> None:
    """A member's usage report by member has one row, theirs, whatever they spent."""
    world = build_world()
    svc, org = world.service, world.org_id
    svc.spend("member-1", org, 7, generation_id="gen-own")
    assert [(r.key, r.spent) for r in svc.usage_report("member-1", org, by="member")] == [
        ("member-1", 7)
    ]
    assert svc.usage_report("member-1", org, by="feature") == svc.usage_report(
        "admin", org, by="feature", user_id="member-1"
    )
    everyone = {r.key for r in svc.usage_report("admin", org, by="member")}
    assert {"member-1", BYSTANDER} <= everyone


@pytest.mark.parametrize("actor", PEOPLE)
def test_the_profile_shows_only_the_users_own_organisation(actor: str) -> None:
    """A profile shows its user's own organisation, and nothing to anyone who is not in one."""
    world = build_world()
    standing = ACTORS[actor]
    view = world.service.profile(standing.user)
    home = {"admin_of_other": world.other_org_id, "member_of_other": world.other_org_id}
    org_id = world.org_id if standing.role is not None else home.get(actor)
    assert view.organisation_id == org_id
    assert view.is_enterprise == (org_id is not None)
    if org_id is not None:
        assert view.credits is not None
        assert view.badge == ("Acme" if org_id == world.org_id else "Globex")
        assert BYSTANDER not in repr(view)


# ---------------------------------------------------------------------------- holds after leaving


@pytest.mark.parametrize("resolve", ["capture", "release"])
def test_a_hold_outlives_its_owners_membership(resolve: str) -> None:
    """The owner resolves their hold after leaving; another member gets HoldNotFound; an
    admin may resolve it."""
    world = build_world()
    svc, org = world.service, world.org_id
    finish = {"capture": svc.capture_hold, "release": svc.release_hold}[resolve]
    svc.remove_member("admin", org, BYSTANDER)
    with pytest.raises(HoldNotFound):
        finish("member-1", org, world.hold_id)
    done = finish(BYSTANDER, org, world.hold_id)
    assert done.status is {"capture": HoldStatus.CAPTURED, "release": HoldStatus.RELEASED}[resolve]
    other = svc.reserve("member-1", org, 30, generation_id="gen-admin-resolves")
    assert finish("admin", org, other.id).user_id == "member-1"
    assert svc.reconcile(org) == []
