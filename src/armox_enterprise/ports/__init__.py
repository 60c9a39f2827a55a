"""The ports: what the service needs from storage, time and DNS, as ``typing.Protocol``\\ s.

A store hands out :class:`UnitOfWork` objects; each holds one repository per kind of record.
Everything read or written through one unit of work is one transaction: it becomes visible to
others only on :meth:`UnitOfWork.commit`, and leaving the ``with`` block without committing
discards it all.  Repositories raise the library's own errors (never a driver's), and every
check that guards an invariant against concurrent writers (no overdraft, one decision per
request or hold, unique idempotency keys, one claim per domain, one active membership per user)
is made atomically by the store, not by reading then writing in Python.

The conformance suite in :mod:`armox_enterprise.testing` proves a store keeps these promises.

Every name is importable from here; the modules group them by concern, each importing only
those before it in this list:

* :mod:`armox_enterprise.ports.records`: the stored records and read-model rows the
  repositories pass (``IdempotencyRecord``, ``PeriodTotals``, ``UsageRow``, ``MemberFigures``,
  ``StoredEvent``, ``MemberSort``, ``UsageGrouping``).
* :mod:`armox_enterprise.ports.organisations`: organisations, memberships, domain claims,
  invitations and join requests.
* :mod:`armox_enterprise.ports.credits`: the ledger, holds, credit requests and idempotency.
* :mod:`armox_enterprise.ports.teams`: teams and members' assignments to them.
* :mod:`armox_enterprise.ports.reads`: usage reports and the dashboard's member table.
* :mod:`armox_enterprise.ports.events`: the outbox and audit log.
* :mod:`armox_enterprise.ports.storage`: ``UnitOfWork`` and ``Store``.
* :mod:`armox_enterprise.ports.outside`: ``Clock`` and ``DnsResolver``.
"""

from __future__ import annotations

from armox_enterprise.ports.credits import (
    CreditRequestRepository,
    HoldRepository,
    IdempotencyRepository,
    Ledger,
)
from armox_enterprise.ports.events import EventRepository
from armox_enterprise.ports.organisations import (
    DomainClaimRepository,
    InvitationRepository,
    JoinRequestRepository,
    MembershipRepository,
    OrganisationRepository,
)
from armox_enterprise.ports.outside import Clock, DnsResolver
from armox_enterprise.ports.reads import ReportRepository, ViewRepository
from armox_enterprise.ports.records import (
    IdempotencyRecord,
    MemberFigures,
    MemberSort,
    PeriodTotals,
    StoredEvent,
    UsageGrouping,
    UsageRow,
)
from armox_enterprise.ports.storage import Store, UnitOfWork, spend_in_unit_of_work
from armox_enterprise.ports.teams import TeamRepository

__all__ = [
    "Clock",
    "CreditRequestRepository",
    "DnsResolver",
    "DomainClaimRepository",
    "EventRepository",
    "HoldRepository",
    "IdempotencyRecord",
    "IdempotencyRepository",
    "InvitationRepository",
    "JoinRequestRepository",
    "Ledger",
    "MemberFigures",
    "MemberSort",
    "MembershipRepository",
    "OrganisationRepository",
    "PeriodTotals",
    "ReportRepository",
    "Store",
    "StoredEvent",
    "TeamRepository",
    "UnitOfWork",
    "UsageGrouping",
    "UsageRow",
    "ViewRepository",
    "spend_in_unit_of_work",
]
