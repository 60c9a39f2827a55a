"""A SCIM 2.0 ``/Users`` endpoint (RFC 7643, RFC 7644) for one organisation, with no framework.

Enterprise customers provision and deprovision their people from Okta or Microsoft Entra over
SCIM.  :class:`ScimUsers` answers the ``/Users`` requests of one organisation's SCIM base URL:
the host mounts it behind its own authentication (the directory's bearer token tells the host
which organisation it is), passes each request's method, path (after the base URL), query and
body, and sends back the status, headers and JSON body it returns::

    users = ScimUsers(service, organisation_id, resolve_user=find_or_create_user)
    status, headers, body = users.handle("PATCH", "/Users/u-1", "", request_body)

The SCIM resource is the membership: its ``id`` is the host's user id, ``userName`` is the
member's email address (the form Okta's and Entra's defaults take), ``displayName`` their
display name, ``externalId`` the directory's own id of them and ``active`` whether the
membership is in force.  Deactivating (``active`` false) removes the member exactly as an
admin's removal does; reactivating makes them a member again, with no credits.

The directory's own id of the user, ``externalId``, is kept (unique in the organisation).
``DELETE`` removes the member too, and the user is then gone for the directory (404 on every
request, absent from lists, RFC 7644 3.6) while the organisation keeps the removed membership
in its history; a later ``POST`` of the user provisions them again.

What is supported: ``POST /Users``, ``GET /Users/{id}``, ``GET /Users`` with
``filter=userName eq "..."`` or ``filter=externalId eq "..."`` (no other filter) and
``startIndex``/``count``, ``PUT`` and ``PATCH /Users/{id}`` changing ``active``,
``userName``, ``displayName`` and ``externalId``, and ``DELETE /Users/{id}``.  Other
attributes of the User schema and its extensions (``name``, ``emails``, ``title``, the
enterprise extension ...) are accepted and not kept;
read-only ones (``id``, ``meta``) cannot be changed (400 ``mutability``).  Groups are not
supported (``GET /Groups`` lists none, anything else on them is 501), nor are ``/Me``,
``/Bulk``, ``/.search``, sorting, ETags and ``attributes`` projections.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote

import attrs

from armox_enterprise.application.service import EnterpriseService
from armox_enterprise.domain.directory import DirectoryUser, parse_external_id
from armox_enterprise.domain.values import EmailAddress
from armox_enterprise.exceptions import (
    AlreadyExists,
    ArmoxError,
    Conflict,
    EnrolmentRefused,
    InvalidInput,
    NotFound,
    TransientStorageError,
)

__all__ = [
    "ERROR_SCHEMA",
    "LIST_SCHEMA",
    "PATCH_SCHEMA",
    "SCIM_CONTENT_TYPE",
    "USER_SCHEMA",
    "ResolveUser",
    "ScimError",
    "ScimResponse",
    "ScimUsers",
    "UserChanges",
    "UserFields",
    "UserFilter",
    "parse_active",
    "parse_filter",
    "parse_patch",
    "parse_user",
]

SCIM_CONTENT_TYPE = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"

#: The host's hook on ``POST /Users``: ``(userName, externalId, emails) -> user_id``.  The host
#: finds its user with that address (or creates one) and returns its user id; the library does
#: not own users.  ``externalId`` is the directory's own id of the user (``None`` if it sent
#: none): a host that wants it back keeps it in its users table.
ResolveUser = Callable[[str, str | None, Sequence[str]], str]

#: ``count`` when the client gives none, and the most one page holds.
DEFAULT_COUNT = 100
MAX_COUNT = 500
#: The longest filter, body or attribute value read (longer ones are refused as invalid).
MAX_FILTER_LENGTH = 1000

_FILTER = re.compile(
    r'\s*(username|externalid)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*', re.IGNORECASE | re.DOTALL
)
_ATTRIBUTE_PATH = re.compile(r"[A-Za-z][\w$-]*(\.[A-Za-z][\w$-]*)?(\[.*\])?(\.[A-Za-z][\w$-]*)?")
#: The attributes the library keeps, by their lower-case name (attribute names are
#: case-insensitive in SCIM).
_KEPT = {
    "active": "active",
    "username": "userName",
    "displayname": "displayName",
    "externalid": "externalId",
}
_READ_ONLY = {"id", "meta", "schemas", "groups"}
#: How the library's errors answer, the first that matches: (error, status, scimType).
_ANSWERS: tuple[tuple[type[ArmoxError], int, str | None], ...] = (
    (InvalidInput, 400, "invalidValue"),
    (EnrolmentRefused, 403, None),
    (AlreadyExists, 409, "uniqueness"),
    (Conflict, 409, None),
    (NotFound, 404, None),
    (TransientStorageError, 503, None),
)


class ScimError(Exception):
    """A request the endpoint refuses, with the SCIM error it answers.

    Attributes:
        status: the HTTP status.
        scim_type: the RFC 7644 ``scimType`` (``invalidFilter``, ``invalidValue`` ...), or
            ``None``.
        detail: what was wrong, for the directory's logs.
    """

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.scim_type = scim_type
        self.detail = detail


class ScimResponse(NamedTuple):
    """What the endpoint answers: unpack it as ``status, headers, body``.

    Attributes:
        status: the HTTP status.
        headers: ``Content-Type`` (``application/scim+json``) and, for a created user,
            ``Location``.
        body: the JSON body as a dict, or ``None`` (204 No Content).
    """

    status: int
    headers: dict[str, str]
    body: dict[str, Any] | None


@attrs.frozen
class UserFields:
    """The attributes of a User resource that the library keeps, read from a POST or PUT body.

    Attributes:
        user_name: ``userName``, the member's email address as the directory sent it.
        email: ``userName`` parsed.
        display_name: ``displayName``, else ``name.formatted``, else given and family names.
        active: ``active`` (true when absent).
        external_id: ``externalId``, or ``None`` (absent or ``null``).
        emails: the ``value`` of each of ``emails``, primary first.
    """

    user_name: str
    email: EmailAddress
    display_name: str
    active: bool
    external_id: str | None
    emails: tuple[str, ...]


@attrs.frozen
class UserChanges:
    """What a PatchOp asks of the attributes the library keeps (``None``: unchanged).

    Attributes:
        active: the new ``active``.
        email: the new ``userName``.
        display_name: the new ``displayName``.
        external_id: the new ``externalId``; ``""``: remove it.
    """

    active: bool | None = None
    email: EmailAddress | None = None
    display_name: str | None = None
    external_id: str | None = None


class UserFilter(NamedTuple):
    """The one filter supported, ``<attribute> eq "<value>"``.

    Attributes:
        attribute: ``"userName"`` or ``"externalId"``, as RFC 7643 spells them.
        value: the value compared: case-insensitively for ``userName``, exactly for
            ``externalId`` (RFC 7643 makes it case-exact).
    """

    attribute: str
    value: str


def _invalid(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def parse_filter(expression: str) -> UserFilter:
    """Read the one filter supported, ``userName eq "value"`` or ``externalId eq "value"``.

    The attribute name and the operator are case-insensitive (RFC 7644 3.4.2.2); the value is
    a JSON string.

    Raises:
        ScimError: any other filter (400 ``invalidFilter``).
    """
    if len(expression) > MAX_FILTER_LENGTH:
        raise ScimError(400, "the filter is too long", "invalidFilter")
    match = _FILTER.fullmatch(expression)
    if match is None:
        raise ScimError(
            400,
            'only the filters userName eq "..." and externalId eq "..." are supported',
            "invalidFilter",
        )
    attribute = "userName" if match.group(1).lower() == "username" else "externalId"
    try:
        value = json.loads(f'"{match.group(2)}"')
    except ValueError:
        raise ScimError(400, "the filter's value is not a valid string", "invalidFilter") from None
    if not isinstance(value, str):  # pragma: no cover - a JSON string always decodes to str
        raise ScimError(400, "the filter's value is not a string", "invalidFilter")
    return UserFilter(attribute, value)


def parse_active(value: object) -> bool:
    """Read ``active``: a JSON boolean, or the strings ``"true"``/``"false"`` in any case
    (Entra sends ``"False"``).

    Raises:
        ScimError: anything else (400 ``invalidValue``).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _invalid("active must be true or false")


def _email(value: object, field: str = "userName") -> EmailAddress:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{field} must be a non-empty string")
    try:
        return EmailAddress.parse(value.strip())
    except ValueError:  # InvalidEmail, and what IDNA raises on text it cannot encode
        raise _invalid(f"{field} must be an email address") from None


def _external(value: object) -> str:
    """An ``externalId``, as :func:`~armox_enterprise.domain.directory.parse_external_id`
    checks it."""
    try:
        return parse_external_id(value)
    except ValueError as exc:
        raise _invalid(str(exc).replace("external_id", "externalId")) from None


def _text(value: object, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"{field} must be a string")
    return value.strip()


def _display_name(body: Mapping[str, Any]) -> str:
    """``displayName``, else ``name.formatted``, else the given and family names."""
    display = _text(body.get("displayName"), "displayName")
    if display:
        return display
    name = body.get("name")
    if name is None:
        return ""
    if not isinstance(name, Mapping):
        raise _invalid("name must be an object")
    formatted = _text(name.get("formatted"), "name.formatted")
    if formatted:
        return formatted
    parts = (_text(name.get(part), f"name.{part}") for part in ("givenName", "familyName"))
    return " ".join(part for part in parts if part)


def _emails(body: Mapping[str, Any]) -> tuple[str, ...]:
    emails = body.get("emails")
    if emails is None:
        return ()
    if not isinstance(emails, list) or not all(isinstance(e, Mapping) for e in emails):
        raise _invalid("emails must be a list of objects")
    ordered = sorted(emails, key=lambda e: e.get("primary") is not True)
    return tuple(e["value"] for e in ordered if isinstance(e.get("value"), str))


def parse_user(body: Mapping[str, Any]) -> UserFields:
    """Read a User resource (a POST or PUT body).

    Raises:
        ScimError: ``userName`` is missing or not an email address, ``externalId`` is not a
            1 to 255 character string free of control characters, or an attribute the
            library keeps has the wrong type (400 ``invalidValue``).
    """
    user_name = body.get("userName")
    email = _email(user_name)
    external = body.get("externalId")
    if external is not None:
        external = _external(external)
    active = parse_active(body["active"]) if body.get("active") is not None else True
    return UserFields(
        user_name=str(user_name).strip(),
        email=email,
        display_name=_display_name(body),
        active=active,
        external_id=external,
        emails=_emails(body),
    )


def _attribute(path: str) -> str | None:
    """The kept attribute a PATCH path names, or ``None`` for one the library does not keep.

    Raises:
        ScimError: the path is malformed (``invalidPath``) or read-only (``mutability``).
    """
    name = path.strip()
    if name.lower().startswith(USER_SCHEMA.lower() + ":"):
        name = name[len(USER_SCHEMA) + 1 :]
    elif name.lower().startswith("urn:"):
        return None  # an extension's attribute (the enterprise User ...): not kept
    if not _ATTRIBUTE_PATH.fullmatch(name):
        raise ScimError(400, "the operation's path is not an attribute path", "invalidPath")
    if name.lower() in _READ_ONLY:
        raise ScimError(400, f"{name} cannot be changed", "mutability")
    return _KEPT.get(name.lower())


def _apply(changes: dict[str, Any], attribute: str, value: object) -> None:
    if attribute == "active":
        changes["active"] = parse_active(value)
    elif attribute == "userName":
        changes["email"] = _email(value)
    elif attribute == "externalId":
        # A null value unassigns the attribute (RFC 7644 3.5.2.3), as a remove does.
        changes["external_id"] = "" if value is None else _external(value)
    else:
        changes["display_name"] = _text(value, "displayName")


def _operation(changes: dict[str, Any], operation: object) -> None:
    """Add what one PatchOp operation asks of the kept attributes to ``changes``."""
    if not isinstance(operation, Mapping):
        raise ScimError(400, "each operation must be an object", "invalidSyntax")
    op = operation.get("op")
    op = op.lower() if isinstance(op, str) else None
    path = operation.get("path")
    value = operation.get("value")
    if op not in ("add", "replace", "remove"):
        raise ScimError(400, "op must be add, replace or remove", "invalidSyntax")
    if path is not None and not isinstance(path, str):
        raise ScimError(400, "path must be a string", "invalidPath")
    if op == "remove":
        if path is None:
            raise ScimError(400, "remove needs a path", "noTarget")
        attribute = _attribute(path)
        if attribute == "externalId":
            changes["external_id"] = ""
        elif attribute is not None:
            raise _invalid(f"{path} cannot be removed")
        return
    if path is not None:
        attribute = _attribute(path)
        if attribute is not None:
            _apply(changes, attribute, value)
        return
    if not isinstance(value, Mapping):
        raise _invalid("an operation without a path needs an object value")
    for key, item in value.items():
        attribute = _attribute(key) if isinstance(key, str) else None
        if attribute is not None:
            _apply(changes, attribute, item)


def parse_patch(body: Mapping[str, Any]) -> UserChanges:
    """Read a PatchOp body (RFC 7644 3.5.2) into the changes of the attributes the library keeps.

    ``add`` and ``replace`` (in any case: Entra sends ``"Replace"``) set ``active``,
    ``userName``, ``displayName`` or ``externalId``, by ``path`` or as the keys of an object
    ``value``; the attributes the library does not keep are skipped; ``remove`` of
    ``externalId`` (or a ``null`` value) removes it, ``remove`` of another kept attribute is
    refused (a member always has them).

    Raises:
        ScimError: the body is not a PatchOp (``invalidSyntax``), an operation is unknown
            (``invalidSyntax``), a path is malformed or read-only, or a value is invalid.
    """
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or PATCH_SCHEMA not in schemas:
        raise ScimError(400, f"a PATCH body has the schema {PATCH_SCHEMA}", "invalidSyntax")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "Operations must be a non-empty list", "invalidSyntax")
    changes: dict[str, Any] = {}
    for operation in operations:
        _operation(changes, operation)
    return UserChanges(**changes)


def _body(raw: Mapping[str, Any] | bytes | str | None) -> dict[str, Any]:
    """The request's JSON object.

    Raises:
        ScimError: the body is missing, not JSON or not an object (``invalidSyntax``).
    """
    if isinstance(raw, (bytes, bytearray, str)):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise ScimError(400, "the body is not JSON", "invalidSyntax") from None
    if not isinstance(raw, Mapping):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    return dict(raw)


def _query(raw: Mapping[str, Any] | str | None) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}
    query: dict[str, str] = {}
    for key, given in raw.items():
        first = (given[0] if given else "") if isinstance(given, (list, tuple)) else given
        query[str(key)] = str(first)
    return query


def _number(query: Mapping[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise _invalid(f"{name} must be an integer") from None


def _empty_list() -> ScimResponse:
    """A ListResponse of nothing."""
    body = {
        "schemas": [LIST_SCHEMA],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    return ScimResponse(200, {"Content-Type": SCIM_CONTENT_TYPE}, body)


def _replaced(fields: UserFields) -> UserChanges:
    """What a PUT of ``fields`` asks: the kept attributes as given (a missing display name
    or ``externalId`` keeps the member's: RFC 7644 3.5.1 lets the service provider choose)."""
    return UserChanges(
        active=fields.active,
        email=fields.email,
        display_name=fields.display_name,
        external_id=fields.external_id,
    )


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@attrs.define
class ScimUsers:
    """The SCIM 2.0 ``/Users`` endpoint of one organisation (mount one per SCIM base URL).

    The directory is not a member: the host authenticates its client (the organisation's SCIM
    bearer token) before calling :meth:`handle`, which acts through the service's directory use
    cases (:meth:`~armox_enterprise.EnterpriseService.provision_member` and its kin) as the
    system.

    Attributes:
        service: the service of the store the organisation lives in.
        organisation_id: the organisation this base URL provisions.
        resolve_user: called on ``POST /Users`` as ``resolve_user(userName, externalId,
            emails)``; the host finds or creates its user with that address and returns the
            user id, which becomes the SCIM resource's ``id``.
        base_url: the SCIM base URL as clients see it (``https://app.example/scim/v2/acme``),
            for ``meta.location`` and ``Location``; ``""`` gives paths relative to it.
    """

    service: EnterpriseService
    organisation_id: str
    resolve_user: ResolveUser
    base_url: str = ""

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | str | None = None,
        body: Mapping[str, Any] | bytes | str | None = None,
    ) -> ScimResponse:
        """Answer one request: ``method`` and ``path`` (after the base URL, ``/Users/u-1``),
        the query string or its dict, the JSON body as a dict, bytes or text.

        Every refusal is a SCIM error body (``urn:ietf:params:scim:api:messages:2.0:Error``):
        bad input 400 (``invalidValue``, ``invalidFilter``, ``invalidSyntax`` ...), an unknown
        or deleted user 404, a ``userName``, ``externalId`` or user already provisioned 409
        ``uniqueness``, the last admin 409, the seat limit 403, a transient storage failure
        503.
        """
        try:
            return self._route(str(method).upper(), str(path), query, body)
        except ScimError as exc:
            return self._error(exc.status, exc.detail, exc.scim_type)
        except ArmoxError as exc:
            for kind, status, scim_type in _ANSWERS:
                if isinstance(exc, kind):
                    return self._error(status, str(exc), scim_type)
            raise

    # ------------------------------------------------------------------ routing

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | str | None,
        body: Mapping[str, Any] | bytes | str | None,
    ) -> ScimResponse:
        if query is None and "?" in path:
            path, query = path.split("?", 1)
        parts = path.strip("/").split("/", 1)
        if parts == ["Groups"] and method == "GET":
            return _empty_list()  # no groups here; Okta reads them when the app is set up
        if parts[0] == "Groups":
            raise ScimError(501, "groups are not supported: this endpoint serves /Users")
        if parts[0] != "Users":
            raise ScimError(404, f"no resource at {path[:100]!r}: this endpoint serves /Users")
        if len(parts) == 1 or not parts[1]:
            return self._collection(method, query, body)
        return self._member(method, unquote(parts[1]), body)

    def _collection(
        self,
        method: str,
        query: Mapping[str, Any] | str | None,
        body: Mapping[str, Any] | bytes | str | None,
    ) -> ScimResponse:
        """``/Users``: list (with the filter) or create."""
        if method == "GET":
            return self._list(_query(query))
        if method == "POST":
            return self._create(_body(body))
        raise ScimError(405, f"{method[:10]} is not allowed on /Users")

    def _member(
        self, method: str, user_id: str, body: Mapping[str, Any] | bytes | str | None
    ) -> ScimResponse:
        """``/Users/{id}``: read, replace, patch or delete one user."""
        if method == "GET":
            return self._ok(self.service.directory_user(self.organisation_id, user_id))
        if method in ("PUT", "PATCH"):
            fields = _body(body)
            changes = _replaced(parse_user(fields)) if method == "PUT" else parse_patch(fields)
            return self._patch(user_id, changes)
        if method == "DELETE":
            self.service.delete_member(self.organisation_id, user_id)
            return ScimResponse(204, {}, None)
        raise ScimError(405, f"{method[:10]} is not allowed on /Users/{{id}}")

    # ------------------------------------------------------------------ operations

    def _list(self, query: Mapping[str, str]) -> ScimResponse:
        start = max(1, _number(query, "startIndex", 1))
        count = min(MAX_COUNT, max(0, _number(query, "count", DEFAULT_COUNT)))
        members = self.service.directory_users(self.organisation_id)
        expression = query.get("filter")
        if expression is not None:
            wanted = parse_filter(expression)
            if wanted.attribute == "userName":
                members = self._named(members, wanted.value)
            else:
                members = [m for m in members if m.external_id == wanted.value]
        page = members[start - 1 : start - 1 + count]
        return ScimResponse(
            200,
            self._headers(),
            {
                "schemas": [LIST_SCHEMA],
                "totalResults": len(members),
                "startIndex": start,
                "itemsPerPage": len(page),
                "Resources": [self._resource(m) for m in page],
            },
        )

    @staticmethod
    def _named(members: list[DirectoryUser], user_name: str) -> list[DirectoryUser]:
        """The users whose ``userName`` (email) is ``user_name`` (case-insensitive)."""
        try:
            wanted = str(EmailAddress.parse(user_name.strip())).lower()
        except ValueError:
            return []
        return [m for m in members if str(m.membership.email).lower() == wanted]

    def _create(self, body: Mapping[str, Any]) -> ScimResponse:
        fields = parse_user(body)
        org = self.organisation_id
        members = self.service.directory_users(org)
        if self._named(members, str(fields.email)):
            raise ScimError(409, "a user with this userName exists", "uniqueness")
        if fields.external_id is not None and any(
            m.external_id == fields.external_id for m in members
        ):
            raise ScimError(409, "a user with this externalId exists", "uniqueness")
        user_id = self.resolve_user(fields.user_name, fields.external_id, fields.emails)
        if any(m.membership.user_id == user_id for m in members):
            raise ScimError(409, "this user is already provisioned", "uniqueness")
        result = self.service.provision_member(
            org,
            user_id,
            str(fields.email),
            display_name=fields.display_name,
            external_id=fields.external_id,
        )
        if not fields.active:
            result = self.service.deactivate_member(org, user_id)
        response = self._ok(DirectoryUser(result.membership, result.external_id), status=201)
        response.headers["Location"] = self._location(user_id)
        return response

    def _patch(self, user_id: str, changes: UserChanges) -> ScimResponse:
        org = self.organisation_id
        found = self.service.directory_user(org, user_id)
        current, external = found.membership, changes.external_id
        email = changes.email if changes.email is not None else current.email
        display = current.display_name if changes.display_name is None else changes.display_name
        active = current.is_active if changes.active is None else changes.active
        if email != current.email:
            members = self.service.directory_users(org)
            if any(m.membership.user_id != user_id for m in self._named(members, str(email))):
                raise ScimError(409, "a user with this userName exists", "uniqueness")
        details = email != current.email or (display and display != current.display_name)
        kept = found.external_id
        if active or (current.is_active and details):
            result = self.service.provision_member(
                org, user_id, str(email), display_name=display, external_id=external
            )
            current, kept = result.membership, result.external_id
        if not active:
            result = self.service.deactivate_member(org, user_id, external_id=external)
            current, kept = result.membership, result.external_id
        return self._ok(DirectoryUser(current, kept))

    # ------------------------------------------------------------------ answers

    def _location(self, user_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/Users/{quote(user_id, safe='')}"

    def _resource(self, user: DirectoryUser) -> dict[str, Any]:
        membership = user.membership
        modified = membership.removed_at if membership.removed_at else membership.joined_at
        resource: dict[str, Any] = {
            "schemas": [USER_SCHEMA],
            "id": membership.user_id,
        }
        if user.external_id is not None:
            resource["externalId"] = user.external_id
        return resource | {
            "userName": str(membership.email),
            "displayName": membership.display_name,
            "active": membership.is_active,
            "emails": [{"value": str(membership.email), "type": "work", "primary": True}],
            "meta": {
                "resourceType": "User",
                "created": _instant(membership.joined_at),
                "lastModified": _instant(max(modified, membership.joined_at)),
                "location": self._location(membership.user_id),
            },
        }

    def _ok(self, user: DirectoryUser, *, status: int = 200) -> ScimResponse:
        return ScimResponse(status, self._headers(), self._resource(user))

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"Content-Type": SCIM_CONTENT_TYPE}

    def _error(self, status: int, detail: str, scim_type: str | None) -> ScimResponse:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
        if scim_type is not None:
            body["scimType"] = scim_type
        return ScimResponse(status, self._headers(), body)
