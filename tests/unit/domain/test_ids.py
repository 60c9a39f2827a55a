"""Library ids: UUID version 7 text, ordered by time and, within a process, by making.

These pin what :func:`~armox_enterprise.domain.values.new_id` promises beyond the basics in
``test_values.py``: the millisecond it carries, strict order within a millisecond and when the
clock goes back, order per thread when threads make ids at once, and a full counter.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armox_enterprise.domain import values
from armox_enterprise.domain.values import ID_LENGTH, new_id
from armox_enterprise.exceptions import InvalidInstant

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
#: Instants far past any id made so far in the test process, so each starts a new millisecond.
FUTURE = datetime(2200, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _restore_the_id_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the process-wide id state back after each test: these make ids far in the future,
    which would otherwise carry every later test's ids into that future."""
    monkeypatch.setattr(values, "_last_stamp", values._last_stamp)
    monkeypatch.setattr(values, "_last_instant", values._last_instant)


def millis_of(made: str) -> int:
    """The Unix millisecond an id carries in its first 48 bits."""
    return uuid.UUID(made).int >> 80


def test_an_id_is_canonical_uuid7_text() -> None:
    """Lower-case hex in 8-4-4-4-12 groups, version 7, the RFC 4122 variant, as uuid reads it."""
    made = new_id(datetime(2026, 1, 1, tzinfo=UTC))
    assert TEXT.match(made)
    assert len(made) == ID_LENGTH
    parsed = uuid.UUID(made)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert str(parsed) == made


@given(offset=st.integers(min_value=0, max_value=10**9))
def test_a_new_millisecond_is_the_ids_millisecond(offset: int) -> None:
    """The first id made for an instant carries that instant's millisecond, truncated (a later
    microsecond of the same millisecond stays in it)."""
    instant = FUTURE + timedelta(microseconds=offset * 997)
    saved = values._last_stamp
    values._last_stamp = (0, 0)  # as in a fresh process: no id made yet
    try:
        made = new_id(instant)
    finally:
        values._last_stamp = saved
    assert millis_of(made) == (instant - EPOCH) // timedelta(milliseconds=1)


def test_ids_of_one_instant_count_up() -> None:
    """Within a millisecond each id sorts after the one before, equal instants or not."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    made = [new_id(start + timedelta(microseconds=n % 1000)) for n in range(2_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    # Equal instants that are different objects count up as well.
    again = [new_id(datetime(2026, 3, 1, tzinfo=UTC)) for _ in range(100)]
    assert again == sorted(again)
    assert made[-1] < again[0]


def test_an_id_made_for_an_earlier_instant_still_sorts_later() -> None:
    """A clock that goes back never makes an id that sorts before one already made."""
    late = new_id(FUTURE + timedelta(days=400))
    early = new_id(datetime(2026, 1, 1, tzinfo=UTC))
    assert early > late
    assert millis_of(early) == millis_of(late)


def test_an_aware_instant_in_any_zone_is_its_utc_millisecond() -> None:
    """An instant's offset does not change the millisecond its id carries."""
    zone = timezone(timedelta(hours=-3))
    instant = FUTURE + timedelta(days=500)
    made = new_id(instant.astimezone(zone))
    assert millis_of(made) == (instant - EPOCH) // timedelta(milliseconds=1)


@pytest.mark.parametrize("bad", [datetime(2026, 1, 1), "2026-01-01T00:00:00Z", 1_767_225_600])
def test_only_aware_datetimes_make_ids(bad: object) -> None:
    """A naive datetime, or something that is no datetime, makes no id."""
    with pytest.raises(InvalidInstant):
        new_id(bad)  # type: ignore[arg-type]


def test_threads_making_ids_at_once_get_unique_ids_in_order() -> None:
    """Ids made by several threads at the same instant are all distinct, and each thread's
    own ids come out in the order it made them."""
    instant = datetime(2026, 6, 1, tzinfo=UTC)
    made: list[list[str]] = [[] for _ in range(4)]
    barrier = threading.Barrier(len(made))

    def make(into: list[str]) -> None:
        barrier.wait()
        for _ in range(2_000):
            into.append(new_id(instant))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for into in made for i in into]
    assert len(set(everything)) == len(everything)
    for into in made:
        assert into == sorted(into)


def test_a_full_counter_moves_on_to_the_next_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    """When a millisecond's counter has no room left, the id takes the next millisecond and
    still sorts after every id before it."""
    instant = FUTURE + timedelta(days=800)
    first = new_id(instant)
    millis = millis_of(first)
    monkeypatch.setattr(values, "_last_stamp", (millis, (1 << 74) - 2))
    last_of_the_millisecond = new_id(instant)
    after = new_id(instant)
    assert first < last_of_the_millisecond < after
    assert millis_of(last_of_the_millisecond) == millis
    assert millis_of(after) == millis + 1
    assert TEXT.match(after)


def test_the_text_is_the_uuid_of_the_millisecond_and_counter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each id's text is the canonical form of its 128 bits (millisecond, version, counter,
    variant), also where the counter carries into the groups before the last one."""
    instant = FUTURE + timedelta(days=900)
    millis = (instant - EPOCH) // timedelta(milliseconds=1)
    for start in [0, (1 << 48) - 2, (5 << 62) - 2, (1 << 70) - 2, (1 << 74) - 4]:
        monkeypatch.setattr(values, "_last_stamp", (millis, start))
        for step in range(1, 4):
            made = new_id(instant)
            counter = start + step
            expected = uuid.UUID(
                int=(millis << 80)
                | (0x7 << 76)
                | (counter >> 62 << 64)
                | (0x2 << 62)
                | (counter & ((1 << 62) - 1))
            )
            assert made == str(expected)
            assert TEXT.match(made)
