"""Builders for the setups most tests start from."""

from __future__ import annotations

from datetime import datetime

import attrs

from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.domain.organisation import Organisation, RolloverPolicy
from armox_enterprise.ports import Store
from armox_enterprise.service import EnterpriseService
from armox_enterprise.testing.clock import FrozenClock, StaticDnsResolver

__all__ = ["Scenario", "enterprise"]


@attrs.frozen
class Scenario:
    """An organisation ready to use: its service, clock, DNS, admin and members."""

    service: EnterpriseService
    store: Store
    clock: FrozenClock
    dns: StaticDnsResolver
    organisation: Organisation
    admin: str
    members: tuple[str, ...]
    domain: str

    @property
    def org_id(self) -> str:
        """The organisation's id."""
        return self.organisation.id


def enterprise(
    *,
    store: Store | None = None,
    members: int = 2,
    allowance: int = 10_000,
    allocate: int = 0,
    domain: str = "acme.example",
    start: datetime | None = None,
    rollover: RolloverPolicy | None = None,
    name: str = "Acme",
) -> Scenario:
    """Return an organisation with a verified ``domain``, one admin and ``members`` members.

    The admin is ``"admin"``; members are ``"member-1"``, ``"member-2"``, ...  Each member gets
    ``allocate`` credits from the pool when it is positive.
    """
    clock = FrozenClock() if start is None else FrozenClock(start)
    dns = StaticDnsResolver()
    backing: Store = store if store is not None else MemoryStore()
    service = EnterpriseService(backing, clock=clock, dns=dns)
    org = service.create_organisation(
        name=name,
        admin_user_id="admin",
        admin_email=f"admin@{domain}",
        admin_display_name="Admin",
        monthly_allowance=allowance,
        rollover=rollover,
    )
    claim = service.claim_domain("admin", org.id, domain)
    dns.publish(domain, claim.txt_record)
    service.verify_domain("admin", org.id, domain)
    names = tuple(f"member-{i}" for i in range(1, members + 1))
    for user in names:
        service.enrol(user, f"{user}@{domain}", email_verified=True, display_name=user.title())
        if allocate > 0:
            service.allocate_credits("admin", org.id, user, allocate)
    return Scenario(service, backing, clock, dns, org, "admin", names, domain)
