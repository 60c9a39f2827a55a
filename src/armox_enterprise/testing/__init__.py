"""Helpers for testing code that uses armox-enterprise, shipped with the library.

* :class:`FrozenClock`: a clock that moves only when told.
* :class:`StaticDnsResolver`: TXT records from a dictionary, for domain verification.
* :func:`enterprise`: a ready organisation with an admin, members and credits.
* :class:`ComposedStore`: another store with some of its repositories replaced, to prove an
  adapter one repository at a time.
* :mod:`armox_enterprise.testing.contracts`: the contract every storage adapter must pass, one
  test-case class per port (it needs ``pytest``); :mod:`armox_enterprise.testing.conformance`
  re-exports it.
"""

from __future__ import annotations

from armox_enterprise.testing.builders import Scenario, enterprise
from armox_enterprise.testing.clock import FrozenClock, StaticDnsResolver
from armox_enterprise.testing.composition import (
    ComposedStore,
    ComposedUnitOfWork,
    TransactionalRepository,
    UnitOfWorkSource,
)

__all__ = [
    "ComposedStore",
    "ComposedUnitOfWork",
    "FrozenClock",
    "Scenario",
    "StaticDnsResolver",
    "TransactionalRepository",
    "UnitOfWorkSource",
    "enterprise",
]
