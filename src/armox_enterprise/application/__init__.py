"""The application layer: :class:`EnterpriseService` and the use-case modules it is made of.

Module map (each imports only those above it, the domain and the ports):

- :mod:`~armox_enterprise.application.arguments`: parsing at the boundary, one parser per kind
  of value;
- :mod:`~armox_enterprise.application.context`: a use case's unit of work, instant,
  organisation and actor, and the transfers and events it makes;
- :mod:`~armox_enterprise.application.holds`: resolving holds and settling late credits;
- :mod:`~armox_enterprise.application.turnover`: closing and opening billing periods;
- :mod:`~armox_enterprise.application.runner`: the unit of work, retries, authorisation,
  idempotent replays and event dispatch;
- the use cases: :mod:`~armox_enterprise.application.organisations`, ``domains``,
  ``enrolment``, ``members``, ``directory``, ``credits``, ``spending``, ``requests``, ``jobs``,
  ``reporting``;
- :mod:`~armox_enterprise.application.service`: the facade that composes them.
"""

from __future__ import annotations

from armox_enterprise.application.arguments import NO_SEAT_LIMIT, ExistingUser
from armox_enterprise.application.reporting import LEDGER_CSV_HEADER, USAGE_CSV_HEADER
from armox_enterprise.application.service import EnterpriseService, SystemClock

__all__ = [
    "LEDGER_CSV_HEADER",
    "NO_SEAT_LIMIT",
    "USAGE_CSV_HEADER",
    "EnterpriseService",
    "ExistingUser",
    "SystemClock",
]
