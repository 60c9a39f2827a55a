"""The pure domain core: values, organisations, enrolment, periods, ledger, requests, events.

Nothing here does I/O, reads a clock, or imports anything of the package but itself and
:mod:`armox_enterprise.exceptions`.
"""
