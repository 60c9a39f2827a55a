"""The facade's historical home: :class:`EnterpriseService` and its companions.

The service now lives in :mod:`armox_enterprise.application`, composed of one use-case module
per concern; this module keeps every name importable from where it always was.
"""

from __future__ import annotations

from armox_enterprise.application.arguments import NO_SEAT_LIMIT, ExistingUser
from armox_enterprise.application.reporting import LEDGER_CSV_HEADER, USAGE_CSV_HEADER
from armox_enterprise.application.service import EnterpriseService, SystemClock
from armox_enterprise.domain.claims import CLAIM_VERIFICATION_WINDOW
from armox_enterprise.domain.periods import MAX_REPORT_PERIODS

__all__ = [
    "CLAIM_VERIFICATION_WINDOW",
    "LEDGER_CSV_HEADER",
    "MAX_REPORT_PERIODS",
    "NO_SEAT_LIMIT",
    "USAGE_CSV_HEADER",
    "EnterpriseService",
    "ExistingUser",
    "SystemClock",
]
