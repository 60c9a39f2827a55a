"""Helpers for testing code that uses armox-enterprise, shipped with the library.

* :class:`FrozenClock`: a clock that moves only when told.
* :class:`StaticDnsResolver`: TXT records from a dictionary, for domain verification.
* :func:`enterprise`: a ready organisation with an admin, members and credits.
* :mod:`armox_enterprise.testing.conformance`: the contract every storage adapter must pass
  (it needs ``pytest``).
"""

from __future__ import annotations

from armox_enterprise.testing.builders import Scenario, enterprise
from armox_enterprise.testing.clock import FrozenClock, StaticDnsResolver

__all__ = ["FrozenClock", "Scenario", "StaticDnsResolver", "enterprise"]
