"""The SCIM ``/Users`` endpoint with the payloads Okta and Microsoft Entra send.

The bodies below are the shapes the two directories document for their SCIM 2.0 clients:
Okta's create with ``name``/``emails``/``active``, Okta's ``PUT`` with ``active: false``,
Entra's filter query and its ``PATCH`` with ``"Replace"`` and ``"False"``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armox_enterprise.domain.ledger import POOL, member_account
from armox_enterprise.scim import (
    ERROR_SCHEMA,
    LIST_SCHEMA,
    SCIM_CONTENT_TYPE,
    USER_SCHEMA,
    ScimUsers,
)
from armox_enterprise.testing import Scenario, enterprise

OKTA_CREATE = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "jo.doe@okta-customer.example",
    "name": {"givenName": "Jo", "familyName": "Doe"},
    "emails": [{"primary": True, "value": "jo.doe@okta-customer.example", "type": "work"}],
    "displayName": "Jo Doe",
    "locale": "en-US",
    "externalId": "00u1a2b3c4d5e6f7g8h9",
    "groups": [],
    "password": "1mP@ssw0rd",
    "active": True,
}

ENTRA_CREATE = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee@entra-customer.example",
    "active": True,
    "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@entra.example"}],
    "meta": {"resourceType": "User"},
    "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "g"},
    "roles": [],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
}

ENTRA_DEACTIVATE = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
}

ENTRA_ATTRIBUTES = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Renamed User"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "renamed@entra.example"},
        {"op": "Replace", "path": "name.familyName", "value": "Renamed"},
    ],
}

OKTA_DEACTIVATE_PATCH = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "value": {"active": False}}],
}


class Directory:
    """An organisation, its SCIM endpoint, and the host's users table the hook writes."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.users: dict[str, str] = {}
        self.calls: list[tuple[str, str | None, tuple[str, ...]]] = []
        self.scim = ScimUsers(
            scenario.service,
            scenario.org_id,
            self.resolve,
            base_url="https://app.example/scim/v2/acme/",
        )

    def resolve(self, user_name: str, external_id: str | None, emails: Any) -> str:
        """The host's hook: find or create the user by their address."""
        self.calls.append((user_name, external_id, tuple(emails)))
        return self.users.setdefault(user_name.lower(), f"host-{len(self.users) + 1}")

    def __call__(self, method: str, path: str, query: Any = None, body: Any = None) -> Any:
        status, headers, payload = self.scim.handle(method, path, query, body)
        if payload is not None:
            assert headers["Content-Type"] == SCIM_CONTENT_TYPE
            json.dumps(payload)  # every body is JSON
        return status, headers, payload


@pytest.fixture
def directory() -> Directory:
    return Directory(enterprise(members=1, allowance=100, allocate=60))


def error(response: tuple[int, Any, Any], status: int, scim_type: str | None) -> None:
    code, _, body = response
    assert code == status
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert body["detail"]


def test_okta_creates_a_user_who_becomes_a_member(directory: Directory) -> None:
    """Okta's POST: the hook gives the host's user id, which is the resource's id; the user is
    an active member, their display name and address kept, their meta complete."""
    status, headers, body = directory("POST", "/Users", None, json.dumps(OKTA_CREATE).encode())
    assert status == 201
    assert directory.calls == [
        ("jo.doe@okta-customer.example", "00u1a2b3c4d5e6f7g8h9", ("jo.doe@okta-customer.example",))
    ]
    assert body["id"] == "host-1"
    assert headers["Location"] == "https://app.example/scim/v2/acme/Users/host-1"
    assert body["schemas"] == [USER_SCHEMA]
    assert (body["userName"], body["displayName"], body["active"]) == (
        "jo.doe@okta-customer.example",
        "Jo Doe",
        True,
    )
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["location"] == headers["Location"]
    assert body["meta"]["created"].endswith("Z")
    assert body["meta"]["lastModified"] >= body["meta"]["created"]
    assert directory.scenario.service.profile("host-1").is_enterprise
    assert directory("GET", "/Users/host-1")[2] == body


def test_a_user_created_twice_is_a_uniqueness_conflict(directory: Directory) -> None:
    """POSTing a userName that exists answers 409 ``uniqueness`` and provisions nothing more."""
    assert directory("POST", "/Users", None, OKTA_CREATE)[0] == 201
    error(directory("POST", "/Users", None, OKTA_CREATE), 409, "uniqueness")
    shouting = {**OKTA_CREATE, "userName": OKTA_CREATE["userName"].upper()}
    error(directory("POST", "/Users", None, shouting), 409, "uniqueness")
    members = directory.scenario.service.directory_members(directory.scenario.org_id)
    assert [m.user_id for m in members].count("host-1") == 1


def test_a_user_of_another_organisation_is_a_uniqueness_conflict(directory: Directory) -> None:
    """The host's user is an active member elsewhere: 409 ``uniqueness``."""
    service = directory.scenario.service
    service.create_organisation(
        name="Globex",
        admin_user_id="host-1",
        admin_email="jo.doe@okta-customer.example",
        admin_display_name="Jo",
        monthly_allowance=10,
    )
    directory.users["jo.doe@okta-customer.example"] = "host-1"
    error(directory("POST", "/Users", None, OKTA_CREATE), 409, "uniqueness")


def test_entra_filters_by_username_then_creates(directory: Directory) -> None:
    """Entra's first call, ``userName eq "..."``, finds nobody; after the POST it finds one."""
    query = 'filter=userName+eq+"Test_User_ab6490ee%40entra-customer.example"'
    status, _, body = directory("GET", "/Users", query)
    assert status == 200
    assert body == {
        "schemas": [LIST_SCHEMA],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    created = directory("POST", "/Users", None, ENTRA_CREATE)
    assert created[0] == 201
    assert created[2]["displayName"] == "givenName familyName"
    found = directory(
        "GET", "/Users", {"filter": 'userName eq "test_user_ab6490ee@entra-customer.example"'}
    )
    assert found[2]["totalResults"] == 1
    assert found[2]["Resources"] == [created[2]]


def test_entra_deactivates_with_a_string_false(directory: Directory) -> None:
    """Entra's PATCH ``Replace active "False"`` removes the member as an admin's removal
    does: their credits go back to the pool; GET shows ``active: false``; sent again, it
    changes nothing."""
    scenario = directory.scenario
    status, _, body = directory("PATCH", "/Users/member-1", None, ENTRA_DEACTIVATE)
    assert status == 200
    assert body["active"] is False
    assert not scenario.service.profile("member-1").is_enterprise
    with scenario.store.unit_of_work() as uow:
        pool = uow.ledger.get_account(scenario.org_id, POOL)
        member = uow.ledger.get_account(scenario.org_id, member_account("member-1"))
    assert pool is not None
    assert member is not None
    assert (pool.available, member.available) == (100, 0)
    assert directory("PATCH", "/Users/member-1", None, ENTRA_DEACTIVATE)[2] == body
    assert directory("GET", "/Users/member-1")[2]["active"] is False


def test_entra_patches_the_display_name_and_skips_what_is_not_kept(directory: Directory) -> None:
    """displayName changes; the work email and the family name are accepted and not kept."""
    status, _, body = directory("PATCH", "/Users/member-1", None, ENTRA_ATTRIBUTES)
    assert status == 200
    assert (body["displayName"], body["userName"]) == ("Renamed User", "member-1@acme.example")


def test_okta_deactivates_with_put_and_reactivates(directory: Directory) -> None:
    """Okta's PUT of the whole user with ``active: false`` removes the member; PUT with
    ``active: true`` makes them a member again, with no credits."""
    created = directory("POST", "/Users", None, OKTA_CREATE)[2]
    user = {key: value for key, value in created.items() if key != "meta"}
    status, _, body = directory("PUT", "/Users/host-1", None, {**user, "active": False})
    assert (status, body["active"]) == (200, False)
    status, _, body = directory("PUT", "/Users/host-1", None, {**user, "active": True})
    assert (status, body["active"]) == (200, True)
    profile = directory.scenario.service.profile("host-1")
    assert profile.credits is not None
    assert profile.credits.remaining == 0


def test_okta_patch_value_object_deactivates(directory: Directory) -> None:
    """Okta's PATCH ``{"op": "replace", "value": {"active": false}}``."""
    assert directory("PATCH", "/Users/member-1", None, OKTA_DEACTIVATE_PATCH)[2]["active"] is False
    again = {**OKTA_DEACTIVATE_PATCH, "Operations": [{"op": "replace", "value": {"active": True}}]}
    assert directory("PATCH", "/Users/member-1", None, again)[2]["active"] is True


def test_put_changes_the_username(directory: Directory) -> None:
    """A PUT with another userName changes the member's address; one that another member has
    is a 409 ``uniqueness``."""
    body = {"schemas": [USER_SCHEMA], "userName": "m1@acme-group.example", "active": True}
    status, _, changed = directory("PUT", "/Users/member-1", None, body)
    assert (status, changed["userName"], changed["displayName"]) == (
        200,
        "m1@acme-group.example",
        "Member-1",
    )
    taken = {**body, "userName": "admin@acme.example"}
    error(directory("PUT", "/Users/member-1", None, taken), 409, "uniqueness")


def test_delete_removes_the_member_and_every_later_request_is_not_found(
    directory: Directory,
) -> None:
    """DELETE answers 204 with no body and removes the member as a deactivation does (their
    60 credits back to the pool); after it GET, PUT, PATCH and DELETE are 404 (RFC 7644 3.6)
    and lists leave the user out, while the organisation keeps the removed membership."""
    service, org = directory.scenario.service, directory.scenario.org_id
    assert directory("DELETE", "/Users/member-1") == (204, {}, None)
    assert not service.profile("member-1").is_enterprise
    store = directory.scenario.store
    with store.unit_of_work() as uow:
        pool = uow.ledger.get_account(org, POOL)
        kept = uow.memberships.get(org, "member-1")
    assert pool is not None
    assert pool.available == 100
    assert kept is not None
    assert not kept.is_active
    error(directory("GET", "/Users/member-1"), 404, None)
    error(directory("PUT", "/Users/member-1", None, OKTA_CREATE), 404, None)
    error(directory("PATCH", "/Users/member-1", None, ENTRA_DEACTIVATE), 404, None)
    error(directory("DELETE", "/Users/member-1"), 404, None)
    listed = directory("GET", "/Users")[2]
    assert [r["id"] for r in listed["Resources"]] == ["admin"]
    assert listed["totalResults"] == 1
    by_name = directory("GET", "/Users", {"filter": 'userName eq "member-1@acme.example"'})
    assert by_name[2]["totalResults"] == 0


def test_a_deleted_user_posted_again_is_provisioned_again(directory: Directory) -> None:
    """After a DELETE, a POST of the same userName (the hook gives the same user id) is 201:
    the member is back, active, with no credits, and GET finds them again."""
    directory.users["member-1@acme.example"] = "member-1"
    directory("DELETE", "/Users/member-1")
    again = {**OKTA_CREATE, "userName": "member-1@acme.example", "externalId": "00u-back"}
    status, _, body = directory("POST", "/Users", None, again)
    assert (status, body["id"], body["active"], body["externalId"]) == (
        201,
        "member-1",
        True,
        "00u-back",
    )
    assert directory.scenario.service.profile("member-1").credits.remaining == 0
    assert directory("GET", "/Users/member-1")[2] == body


def test_a_deactivated_user_stays_visible_inactive(directory: Directory) -> None:
    """A PATCH active=false is not a DELETE: GET answers the user with ``active: false`` and
    the list still holds them."""
    directory("PATCH", "/Users/member-1", None, ENTRA_DEACTIVATE)
    status, _, body = directory("GET", "/Users/member-1")
    assert (status, body["active"]) == (200, False)
    listed = directory("GET", "/Users")[2]
    assert {r["id"]: r["active"] for r in listed["Resources"]} == {
        "admin": True,
        "member-1": False,
    }


def test_okta_sends_the_external_id_on_post_and_it_comes_back_everywhere(
    directory: Directory,
) -> None:
    """Okta's POST carries ``externalId``: it is on the 201, on GET, in the list, found by
    ``externalId eq`` (case-exactly), and on the answers of PUT and PATCH that leave it out."""
    body = directory("POST", "/Users", None, OKTA_CREATE)[2]
    okta_id = OKTA_CREATE["externalId"]
    assert body["externalId"] == okta_id
    assert directory("GET", "/Users/host-1")[2]["externalId"] == okta_id
    found = directory("GET", "/Users", {"filter": f'externalId eq "{okta_id}"'})[2]
    assert [r["id"] for r in found["Resources"]] == ["host-1"]
    assert found["Resources"][0]["externalId"] == okta_id
    upper = directory("GET", "/Users", {"filter": f'externalId eq "{okta_id.upper()}"'})[2]
    assert upper["totalResults"] == 0
    without = {k: v for k, v in OKTA_CREATE.items() if k != "externalId"}
    assert directory("PUT", "/Users/host-1", None, without)[2]["externalId"] == okta_id
    renamed = directory("PATCH", "/Users/host-1", None, ENTRA_ATTRIBUTES)[2]
    assert renamed["externalId"] == okta_id
    listed = directory("GET", "/Users")[2]["Resources"]
    assert {r["id"]: r.get("externalId") for r in listed} == {
        "admin": None,
        "member-1": None,
        "host-1": okta_id,
    }


def test_entra_patch_replaces_and_removes_the_external_id(directory: Directory) -> None:
    """Entra's PATCH ``Replace`` of ``externalId`` changes it (the old one no longer finds the
    user), also on a deactivated user; a ``remove`` takes it away."""
    directory("POST", "/Users", None, ENTRA_CREATE)
    replace = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "externalId", "value": "mailNickname-jo"}],
    }
    status, _, body = directory("PATCH", "/Users/host-1", None, replace)
    assert (status, body["externalId"], body["active"]) == (200, "mailNickname-jo", True)
    old = directory("GET", "/Users", {"filter": f'externalId eq "{ENTRA_CREATE["externalId"]}"'})
    assert old[2]["totalResults"] == 0
    directory("PATCH", "/Users/host-1", None, ENTRA_DEACTIVATE)
    inactive = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "externalId", "value": "while-away"}],
    }
    body = directory("PATCH", "/Users/host-1", None, inactive)[2]
    assert (body["externalId"], body["active"]) == ("while-away", False)
    remove = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": "externalId"}],
    }
    body = directory("PATCH", "/Users/host-1", None, remove)[2]
    assert "externalId" not in body
    assert "externalId" not in directory("GET", "/Users/host-1")[2]


def test_an_external_id_is_one_users_in_the_organisation(directory: Directory) -> None:
    """A second user with the same ``externalId`` is 409 ``uniqueness`` on POST (before the
    host's hook is asked), on PUT and on PATCH, and nothing changes; another organisation
    may use the same id."""
    directory("POST", "/Users", None, OKTA_CREATE)
    second = {**OKTA_CREATE, "userName": "sam@okta-customer.example", "displayName": "Sam"}
    error(directory("POST", "/Users", None, second), 409, "uniqueness")
    assert len(directory.calls) == 1
    taken = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "externalId", "value": OKTA_CREATE["externalId"]}],
    }
    error(directory("PATCH", "/Users/member-1", None, taken), 409, "uniqueness")
    put = {**OKTA_CREATE, "userName": "member-1@acme.example"}
    error(directory("PUT", "/Users/member-1", None, put), 409, "uniqueness")
    assert "externalId" not in directory("GET", "/Users/member-1")[2]
    other = directory.scenario.service.create_organisation(
        name="Globex",
        admin_user_id="gina",
        admin_email="gina@globex.example",
        admin_display_name="Gina",
        monthly_allowance=10,
    )
    globex = ScimUsers(directory.scenario.service, other.id, lambda *_: "globex-1")
    assert globex.handle("POST", "/Users", None, second).status == 201


def test_a_deleted_users_external_id_is_free_again(directory: Directory) -> None:
    """A DELETE lets the user's ``externalId`` go: ``externalId eq`` no longer finds them,
    and another user may take it."""
    directory("POST", "/Users", None, OKTA_CREATE)
    directory("DELETE", "/Users/host-1")
    okta_id = OKTA_CREATE["externalId"]
    found = directory("GET", "/Users", {"filter": f'externalId eq "{okta_id}"'})[2]
    assert found["totalResults"] == 0
    other = {**OKTA_CREATE, "userName": "sam@okta-customer.example"}
    status, _, body = directory("POST", "/Users", None, other)
    assert (status, body["externalId"]) == (201, okta_id)


def test_unknown_users_and_routes_are_not_found(directory: Directory) -> None:
    """An id never provisioned is 404 on GET, PUT, PATCH and DELETE; other routes 404; a
    method a route has not, 405."""
    for method, body in (("GET", None), ("PATCH", ENTRA_DEACTIVATE), ("DELETE", None)):
        error(directory(method, "/Users/nobody", None, body), 404, None)
    error(directory("PUT", "/Users/nobody", None, OKTA_CREATE), 404, None)
    error(directory("GET", "/Schemas"), 404, None)
    error(directory("DELETE", "/Users"), 405, None)
    error(directory("POST", "/Users/member-1", None, OKTA_CREATE), 405, None)


def test_groups_are_listed_empty_and_refused_otherwise(directory: Directory) -> None:
    """Okta reads ``/Groups`` when the app is set up: it lists none; writing one is 501."""
    status, _, body = directory("GET", "/Groups", "startIndex=1&count=100")
    assert (status, body["schemas"], body["totalResults"], body["Resources"]) == (
        200,
        [LIST_SCHEMA],
        0,
        [],
    )
    error(directory("POST", "/Groups", None, {"displayName": "Eng"}), 501, None)
    error(directory("GET", "/Groups/g-1"), 501, None)


def test_the_last_admin_and_the_seat_limit_are_refused(directory: Directory) -> None:
    """Deactivating the last admin is 409; provisioning past the seat limit is 403."""
    error(directory("DELETE", "/Users/admin"), 409, None)
    scenario = directory.scenario
    scenario.service.update_settings("admin", scenario.org_id, seat_limit=2)
    error(directory("POST", "/Users", None, OKTA_CREATE), 403, None)
    assert (
        directory("GET", "/Users", 'filter=userName eq "jo.doe@okta-customer.example"')[2][
            "totalResults"
        ]
        == 0
    )


def test_pages_follow_start_index_and_count() -> None:
    """startIndex is 1-based, count bounds the page, totalResults counts every match."""
    directory = Directory(enterprise(members=5))
    status, _, body = directory("GET", "/Users", "startIndex=2&count=2")
    assert status == 200
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (6, 2, 2)
    everyone = directory("GET", "/Users")[2]["Resources"]
    assert body["Resources"] == everyone[1:3]
    assert directory("GET", "/Users", {"startIndex": "0", "count": "-1"})[2]["itemsPerPage"] == 0
    error(directory("GET", "/Users", "count=many"), 400, "invalidValue")


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        (b"{not json", "invalidSyntax"),
        (b"\xff\xfe", "invalidSyntax"),
        ("[1, 2]", "invalidSyntax"),
        (None, "invalidSyntax"),
        ({"userName": "no-at-sign"}, "invalidValue"),
        ({"userName": "jo@acme.example", "displayName": "x" * 5000}, "invalidValue"),
        ({"userName": "jo@acme.example", "displayName": "a\ud800b"}, "invalidValue"),
    ],
)
def test_bad_bodies_are_400(directory: Directory, body: Any, scim_type: str) -> None:
    """Bodies that are not JSON objects, or that the library cannot hold, are 400s."""
    error(directory("POST", "/Users", None, body), 400, scim_type)


#: The endpoint the generated cases share (its organisation is made once).
SHARED = enterprise(members=1)
SCIM = ScimUsers(SHARED.service, SHARED.org_id, lambda *user: "generated")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_a_generated_filter_never_fails_the_endpoint(expression: str) -> None:
    """Any filter text answers 200 or a 400 ``invalidFilter``/``invalidValue``."""
    status, _, body = SCIM.handle("GET", "/Users", {"filter": expression})
    assert status in (200, 400)
    if status == 400:
        assert body is not None
        assert body["scimType"] in ("invalidFilter", "invalidValue")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["userName", "displayName", "active", "name", "emails", "externalId"]),
        st.none() | st.booleans() | st.text() | st.integers() | st.lists(st.text(), max_size=2),
        max_size=6,
    )
)
def test_a_generated_patch_of_attributes_never_fails_the_endpoint(value: dict[str, Any]) -> None:
    """Any attribute values in a PATCH answer 200 or a 400, never another error."""
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": value}],
    }
    status, _, _ = SCIM.handle("PATCH", "/Users/member-1", None, body)
    assert status in (200, 400, 409)
