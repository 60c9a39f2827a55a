"""Domain events: every event type is listed by name, immutable, and says who, where and when."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
import pytest

from armox_enterprise.domain import events as ev

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
DEFINED = sorted(
    (
        cls
        for cls in vars(ev).values()
        if isinstance(cls, type) and issubclass(cls, ev.Event) and cls is not ev.Event
    ),
    key=lambda cls: cls.__name__,
)


def test_every_event_type_is_listed_under_its_name() -> None:
    """A host reading stored events back finds every type the domain defines, by name."""
    assert {cls.__name__: cls for cls in DEFINED} == ev.EVENT_TYPES


def test_every_event_type_is_exported() -> None:
    """The module's public names include every event type."""
    assert {cls.__name__ for cls in DEFINED} <= set(ev.__all__)


def test_jobs_act_as_the_system() -> None:
    """Events a job raises name the actor ``system``."""
    assert ev.SYSTEM_ACTOR == "system"


@pytest.mark.parametrize("cls", DEFINED, ids=lambda cls: cls.__name__)
def test_every_event_carries_organisation_actor_and_instant(cls: type[ev.Event]) -> None:
    """Each event type starts with the three common fields, all given by keyword."""
    fields = attrs.fields(cls)
    assert [f.name for f in fields[:3]] == ["organisation_id", "actor", "occurred_at"]
    assert all(f.kw_only for f in fields)


def test_an_event_is_named_by_its_type_and_cannot_change() -> None:
    """``name`` is the class name; assigning to a field fails."""
    event = ev.PoolToppedUp(organisation_id="org", actor="boss", occurred_at=NOW, amount=500)
    assert event.name == "PoolToppedUp"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.actor = "other"  # type: ignore[misc]
