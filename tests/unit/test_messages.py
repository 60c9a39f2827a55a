"""What the service's error messages say: the facts a developer needs, and nothing more.

- An idempotency conflict names the call the key was first used for and the parameter that
  differs, with both values (unless the first call was another user's).
- An argument error names the argument as the caller passed it (``generation_id``).
- An outsider is told the organisation does not exist *or* they are not a member of it: one
  message for both, on every store.
- Amounts of credits are written with thousands separators.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from armox_enterprise import (
    EnterpriseService,
    IdempotencyConflict,
    InsufficientCredits,
    InsufficientPoolCredits,
    InvalidEmail,
    InvalidInput,
    MemoryStore,
    OrganisationNotFound,
)
from armox_enterprise.exceptions import credit_amount
from armox_enterprise.testing import Scenario, enterprise

SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
AMOUNTS = st.integers(min_value=1, max_value=10**12)
KEYS = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]),
    min_size=1,
    max_size=30,
)


def sql_store() -> Iterator[object]:
    """An SQLite store in memory, when the ``sqlalchemy`` extra is installed."""
    adapter = pytest.importorskip("armox_enterprise.adapters.sqlalchemy")
    store = adapter.SqlAlchemyStore.from_url("sqlite://")
    store.create_schema()
    yield store
    store.engine.dispose()


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request: pytest.FixtureRequest) -> Iterator[Callable[[], object]]:
    """Makes fresh stores of one kind: the memory store, or SQLite through SQLAlchemy (skipped
    where the ``sqlalchemy`` extra is not installed)."""
    if request.param == "sqlite":
        pytest.importorskip("sqlalchemy", reason="the sqlalchemy extra is not installed")
    made: list[Iterator[object]] = []

    def make() -> object:
        if request.param == "memory":
            return MemoryStore()
        stores = sql_store()
        made.append(stores)
        return next(stores)

    yield make
    for stores in made:
        next(stores, None)


# ---------------------------------------------------------------------- idempotency conflicts


@SETTINGS
@given(first=AMOUNTS, second=AMOUNTS, key=KEYS)
def test_a_key_reused_for_another_amount_names_the_amounts(
    first: int, second: int, key: str
) -> None:
    """top_up with one key and two amounts: both amounts, with separators, and the operation."""
    assume(first != second and not key.startswith("armox:"))
    acme = enterprise(members=0)
    acme.service.top_up("admin", acme.org_id, first, idempotency_key=key)
    with pytest.raises(IdempotencyConflict) as caught:
        acme.service.top_up("admin", acme.org_id, second, idempotency_key=key)
    assert str(caught.value) == (
        f"idempotency key {key!r} was used for another call: top_up with amount "
        f"{first:,} (this call has amount {second:,})"
    )
    error = caught.value
    assert (error.key, error.operation, error.first_operation) == (key, "top_up", "top_up")
    assert error.parameters == ("amount",)


@SETTINGS
@given(first=st.integers(1, 500), second=st.integers(1, 500), key=KEYS)
def test_a_hold_is_named_as_a_reservation_not_a_spend(first: int, second: int, key: str) -> None:
    """A generation id reused by a hold names ``reserve``; another kind names both."""
    assume(first != second and not key.startswith("armox:"))
    acme = enterprise(members=1, allocate=1_000)
    acme.service.reserve("member-1", acme.org_id, first, generation_id=key)
    with pytest.raises(IdempotencyConflict) as caught:
        acme.service.reserve("member-1", acme.org_id, second, generation_id=key)
    assert str(caught.value) == (
        f"generation id {key!r} was used for another call: reserve with amount {first:,} "
        f"(this call has amount {second:,})"
    )
    assert "spend" not in str(caught.value)
    with pytest.raises(IdempotencyConflict) as caught:
        acme.service.spend("member-1", acme.org_id, first, generation_id=key)
    assert str(caught.value) == (
        f"generation id {key!r} was used for another call: reserve (this call is spend)"
    )
    assert (caught.value.operation, caught.value.first_operation) == ("spend", "reserve")


@SETTINGS
@given(key=KEYS, feature=st.sampled_from(["image", "video", None]))
def test_another_users_call_is_not_shown(key: str, feature: str | None) -> None:
    """A generation id first used by another member: said so, their id and values unshown."""
    assume(not key.startswith("armox:"))
    acme = enterprise(members=2, allocate=1_000)
    acme.service.spend("member-1", acme.org_id, 77, generation_id=key, feature="secret-tag")
    with pytest.raises(IdempotencyConflict) as caught:
        acme.service.spend("member-2", acme.org_id, 78, generation_id=key, feature=feature)
    message = str(caught.value)
    assert message == f"generation id {key!r} was used for another call: spend by another user"
    assert "member-1" not in message.replace(repr(key), "")
    assert "secret-tag" not in message
    assert "77" not in message.replace(repr(key), "")


def test_a_key_reused_for_another_operation_names_both_service_methods(acme: Scenario) -> None:
    """The stored operation is named by its service method: allocate_credits, not allocate."""
    acme.service.allocate_credits("admin", acme.org_id, "member-1", 10, idempotency_key="k")
    with pytest.raises(IdempotencyConflict) as caught:
        acme.service.reclaim_credits("admin", acme.org_id, "member-1", 10, idempotency_key="k")
    assert str(caught.value) == (
        "idempotency key 'k' was used for another call: allocate_credits "
        "(this call is reclaim_credits)"
    )


def test_a_note_that_differs_is_quoted_and_shortened(acme: Scenario) -> None:
    """A request made again with another note names the note, shortened past 40 characters."""
    acme.service.request_credits("member-1", acme.org_id, 100, note="a" * 60, idempotency_key="r")
    with pytest.raises(IdempotencyConflict) as caught:
        acme.service.request_credits("member-1", acme.org_id, 100, note="b", idempotency_key="r")
    assert str(caught.value) == (
        "idempotency key 'r' was used for another call: request_credits with note "
        f"'{'a' * 39}…' (this call has note 'b')"
    )
    assert caught.value.parameters == ("note",)


# ---------------------------------------------------------------------- argument names


NOT_TEXT = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.binary(max_size=4), st.booleans()
)


@SETTINGS
@given(value=NOT_TEXT)
def test_a_generation_id_that_is_not_text_is_named_generation_id(value: object) -> None:
    """spend and reserve name ``generation_id``, never ``idempotency_key``."""
    acme = enterprise(members=1, allocate=100)
    for call in (acme.service.spend, acme.service.reserve):
        with pytest.raises(InvalidInput) as caught:
            call("member-1", acme.org_id, 5, generation_id=value)  # type: ignore[operator]
        assert str(caught.value).startswith("generation_id ")
        assert "idempotency_key" not in str(caught.value)


def test_reserved_and_empty_generation_ids_are_named_generation_id(acme: Scenario) -> None:
    """The reserved prefix and an empty id also name the argument as it was passed."""
    for bad in ("armox:x", ""):
        with pytest.raises(InvalidInput, match=r"^generation_id "):
            acme.service.spend("member-1", acme.org_id, 5, generation_id=bad)
    with pytest.raises(InvalidInput, match=r"^idempotency_key "):
        acme.service.top_up("admin", acme.org_id, 5, idempotency_key="armox:x")


@SETTINGS
@given(value=NOT_TEXT)
def test_an_email_argument_is_named_as_passed(value: object) -> None:
    """create_organisation names ``admin_email``; sign_up and invite name ``email``."""
    service = EnterpriseService(MemoryStore())
    with pytest.raises(InvalidEmail, match=r"^admin_email "):
        service.create_organisation(name="A", admin_user_id="a", admin_email=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidEmail, match=r"^email "):
        service.sign_up("u", value, email_verified=True)  # type: ignore[arg-type]


def test_a_malformed_email_keeps_the_reason_and_names_the_argument() -> None:
    """A string that is no address: the argument's name, then why."""
    service = EnterpriseService(MemoryStore())
    with pytest.raises(InvalidEmail) as caught:
        service.create_organisation(name="A", admin_user_id="a", admin_email="not-an-address")
    assert str(caught.value).startswith("admin_email: ")
    assert "not-an-address" in str(caught.value)


def test_a_report_period_that_has_not_begun_is_named(acme: Scenario) -> None:
    """first_period and last_period are named in the refusal."""
    for name in ("first_period", "last_period"):
        with pytest.raises(InvalidInput, match=f"^{name} 9 has not begun"):
            acme.service.request_statistics("admin", acme.org_id, **{name: 9})  # type: ignore[arg-type]


# ---------------------------------------------------------------------- outsiders


def outsider_messages(store: object, user: str, missing_id: str) -> list[str]:
    """The messages an outsider gets from a real organisation and from a made-up id."""
    acme = enterprise(store=store, members=1, allocate=100)  # type: ignore[arg-type]
    messages = []
    for org_id in (acme.org_id, missing_id):
        for call in (
            lambda org=org_id: acme.service.list_members(user, org),
            lambda org=org_id: acme.service.spend(user, org, 5, generation_id="g"),
            lambda org=org_id: acme.service.capture_hold(user, org, "h-1"),
        ):
            with pytest.raises(OrganisationNotFound) as caught:
                call()
            messages.append(str(caught.value).replace(org_id, "<org>"))
    return messages


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    user=KEYS,
    missing=st.uuids().map(str),
)
def test_an_outsider_gets_one_message_whether_or_not_the_organisation_exists(
    store_factory: Callable[[], object], user: str, missing: str
) -> None:
    """Not a member, or no such organisation: the same words, on the memory store and SQLite."""
    assume(user.strip() == user and not user.startswith(("admin", "member-")))
    messages = outsider_messages(store_factory(), user, missing)
    assert set(messages) == {
        f"organisation <org> does not exist, or user {user} is not an active member of it"
    }


def test_a_removed_member_is_an_outsider_too(acme: Scenario) -> None:
    """A member removed from the organisation gets the outsider's message."""
    acme.service.remove_member("admin", acme.org_id, "member-2")
    with pytest.raises(OrganisationNotFound) as caught:
        acme.service.spend("member-2", acme.org_id, 5, generation_id="g")
    assert str(caught.value) == (
        f"organisation {acme.org_id} does not exist, or user member-2 is not an active member of it"
    )


# ---------------------------------------------------------------------- credit amounts


@SETTINGS
@given(extra=st.integers(min_value=1, max_value=10**15))
def test_amounts_in_messages_have_thousands_separators(extra: int) -> None:
    """Too few credits for a spend or an allocation: every amount as ``5,000``."""
    acme = enterprise(members=1, allocate=4_321)
    wanted = 4_321 + extra
    with pytest.raises(InsufficientCredits) as spend:
        acme.service.spend("member-1", acme.org_id, wanted, generation_id="g")
    assert str(spend.value) == f"4,321 credits available, {wanted:,} needed"
    pool = 10_000 - 4_321
    with pytest.raises(InsufficientPoolCredits) as allocation:
        acme.service.allocate_credits("admin", acme.org_id, "member-1", pool + extra)
    assert str(allocation.value) == (
        f"the pool has {pool:,} unallocated credits, {pool + extra:,} were asked"
    )


def test_capturing_more_than_a_hold_writes_both_amounts_with_separators() -> None:
    """The hold's amount and the capture's, with separators."""
    acme = enterprise(members=1, allowance=50_000, allocate=20_000)
    hold = acme.service.reserve("member-1", acme.org_id, 12_000, generation_id="g")
    with pytest.raises(InvalidInput) as caught:
        acme.service.capture_hold("member-1", acme.org_id, hold.id, 15_000)
    assert str(caught.value) == "cannot capture 15,000 credits from a hold of 12,000"


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_the_one_helper_writes_amounts_with_commas(amount: int) -> None:
    """``credit_amount`` groups digits by three with commas, and nothing else."""
    text = credit_amount(amount)
    assert int(text.replace(",", "")) == amount
    assert all(len(group) == 3 for group in text.split(",")[1:])
