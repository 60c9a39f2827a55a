"""The records the ports pass that are not the domain's own: stored facts and read-model rows.

These are plain frozen values.  A store returns them from the repositories of
:mod:`armox_enterprise.ports.credits`, :mod:`armox_enterprise.ports.reads` and
:mod:`armox_enterprise.ports.events`, and every store must fill them the same way, so the
views and the service read the same figures whichever store is underneath.
``UsageGrouping`` is the domain's (:mod:`armox_enterprise.domain.usage`), re-exported here
because the report port takes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import attrs

from armox_enterprise.domain.events import Event
from armox_enterprise.domain.ledger import TransferKind
from armox_enterprise.domain.organisation import Membership
from armox_enterprise.domain.usage import UsageGrouping
from armox_enterprise.domain.values import new_id

__all__ = [
    "IdempotencyRecord",
    "MemberFigures",
    "MemberSort",
    "PeriodTotals",
    "StoredEvent",
    "UsageGrouping",
    "UsageRow",
]


@attrs.frozen
class IdempotencyRecord:
    """What a mutating call under an idempotency key did, so a replay can return it again.

    ``fingerprint`` identifies the call's parameters; ``result_ref`` the object it produced.
    """

    organisation_id: str
    key: str
    operation: str
    fingerprint: str
    result_ref: str
    created_at: datetime


@attrs.frozen
class PeriodTotals:
    """An account's movements in one billing period, summed by transfer kind."""

    credits: Mapping[TransferKind, int] = attrs.field(factory=dict)
    debits: Mapping[TransferKind, int] = attrs.field(factory=dict)
    last_activity: datetime | None = None

    def credited(self, *kinds: TransferKind) -> int:
        """Sum of the credits of the given kinds."""
        return sum(self.credits.get(k, 0) for k in kinds)

    def debited(self, *kinds: TransferKind) -> int:
        """Sum of the debits of the given kinds."""
        return sum(self.debits.get(k, 0) for k in kinds)


MemberSort = Literal["name", "allocated", "used", "remaining", "last_activity"]
"""What the dashboard's member table can be sorted by (see ``ViewRepository.member_page``)."""


@attrs.frozen
class UsageRow:
    """Credits used, grouped by one key (a member, a tag, a day, a week or a month).

    Attributes:
        key: the user id, the tag's value (``""`` when untagged), or the UTC date as
            ``2026-01-15``, ISO week as ``2026-W03``, or month as ``2026-01``.
        spent: credits spent and captured.
        refunded: credits refunded of those spends.
        transfers: how many spends and captures.
    """

    key: str
    spent: int
    refunded: int
    transfers: int

    @property
    def net(self) -> int:
        """Spent less refunded."""
        return self.spent - self.refunded


@attrs.frozen
class MemberFigures:
    """One member's figures for one period, as the dashboard's member table shows them."""

    membership: Membership
    allocated: int
    used: int
    remaining: int
    on_hold: int
    last_activity: datetime | None


@attrs.frozen
class StoredEvent:
    """A domain event as the store keeps it: the outbox and the audit log.

    ``payload`` holds the event's own fields (JSON-compatible values); ``published_at`` is set
    once a relay handed the event to the host.
    """

    id: str
    organisation_id: str
    name: str
    actor: str
    occurred_at: datetime
    payload: Mapping[str, object]
    published_at: datetime | None = None

    @classmethod
    def of(
        cls,
        event: Event,
        *,
        stored_id: str | None = None,
        published_at: datetime | None = None,
    ) -> StoredEvent:
        """Return ``event`` as it is stored: with a new time-ordered id, or ``stored_id`` (the
        id a store kept it under), and ``published_at`` if a relay handed it over."""
        at = event.occurred_at
        names = _PAYLOAD_FIELDS.get(type(event)) or _payload_fields(type(event))
        payload = {name: getattr(event, name) for name in names}
        # Positional, in the order of the fields above: the outbox makes one per event.
        return cls(
            new_id(at) if stored_id is None else stored_id,
            event.organisation_id,
            event.name,
            event.actor,
            at,
            payload,
            published_at,
        )


#: The fields every event has, kept in columns of their own rather than in the payload.
_COMMON_FIELDS = frozenset({"organisation_id", "actor", "occurred_at"})
#: Each event type's payload fields, in declaration order (as ``attrs.asdict`` lists them).
_PAYLOAD_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def _payload_fields(event_type: type[Event]) -> tuple[str, ...]:
    """The names of ``event_type``'s own fields, read once per type."""
    names = _PAYLOAD_FIELDS.get(event_type)
    if names is None:
        names = tuple(f.name for f in attrs.fields(event_type) if f.name not in _COMMON_FIELDS)
        _PAYLOAD_FIELDS[event_type] = names
    return names
