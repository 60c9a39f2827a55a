"""``StoredEvent.of``: an event's stored form, built field by field.

The outbox stores every event through :meth:`StoredEvent.of`, which reads each event type's
own fields once and builds the record positionally; these pin that it gives what the plain
definition (``attrs.asdict`` without the common fields) gives, for every event type.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from armox_enterprise.domain.events import EVENT_TYPES, Event
from armox_enterprise.ports import StoredEvent

AT = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
COMMON = ("organisation_id", "actor", "occurred_at")


def example(event_type: type[Event]) -> Event:
    """An event of ``event_type`` whose own fields each hold a value of their own."""
    values: dict[str, object] = {"organisation_id": "org-1", "actor": "ann", "occurred_at": AT}
    for n, field in enumerate(attrs.fields(event_type)):
        values.setdefault(field.name, f"{field.name}-{n}")
    return event_type(**values)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_an_events_stored_form_is_its_fields(name: str) -> None:
    """Columns for the common fields, the payload for the rest in declaration order, and a
    new time-ordered id of the event's instant."""
    event = example(EVENT_TYPES[name])
    stored = StoredEvent.of(event)
    expected = attrs.asdict(event, recurse=False)
    for common in COMMON:
        expected.pop(common)
    assert stored.payload == expected
    assert list(stored.payload) == list(expected)
    assert (stored.organisation_id, stored.name, stored.actor, stored.occurred_at) == (
        "org-1",
        name,
        "ann",
        AT,
    )
    assert stored.published_at is None
    assert uuid.UUID(stored.id).version == 7
    assert stored == StoredEvent(
        id=stored.id,
        organisation_id=event.organisation_id,
        name=event.name,
        actor=event.actor,
        occurred_at=event.occurred_at,
        payload=expected,
    )


def test_each_stored_event_gets_its_own_id_in_order() -> None:
    """Storing events of one instant gives distinct ids, in the order they were stored; a
    later instant's sort after."""
    event = example(EVENT_TYPES["CreditsSpent"])
    ids = [StoredEvent.of(event).id for _ in range(50)]
    later = StoredEvent.of(attrs.evolve(event, occurred_at=AT + timedelta(seconds=1))).id
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert later > ids[-1]


def test_the_stored_events_fields_are_pinned() -> None:
    """``of`` passes the fields positionally: a new field must be added there too."""
    assert [f.name for f in attrs.fields(StoredEvent)] == [
        "id",
        "organisation_id",
        "name",
        "actor",
        "occurred_at",
        "payload",
        "published_at",
    ]


def test_a_stored_event_keeps_the_id_and_publication_it_was_given() -> None:
    """A store that kept an event under an id rebuilds its stored form with that id and the
    instant a relay published it, and with the same payload as when it was first stored."""
    event = example(EVENT_TYPES["CreditsAllocated"])
    first = StoredEvent.of(event)
    again = StoredEvent.of(event, stored_id=first.id)
    assert again == first
    published = StoredEvent.of(event, stored_id=first.id, published_at=AT)
    assert published == attrs.evolve(first, published_at=AT)
