"""The contract of an organisation's time zone and alert thresholds on a store: stored and read
back, periods turned over at the zone's local boundary, alerts raised at the organisation's
own thresholds."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import attrs
import pytest

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.alerts import AlertThresholds
from armox_enterprise.domain.ledger import POOL, TransferKind
from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import InvalidInput
from armox_enterprise.ports import Store
from armox_enterprise.service import EnterpriseService
from armox_enterprise.testing.clock import FrozenClock, StaticDnsResolver
from armox_enterprise.testing.contracts.base import T0, ContractBase, an_organisation

__all__ = ["OrganisationSettingsContract"]

_UTC = timezone.utc
#: Local midnight of 1 January 2026 in Asia/Kolkata (+05:30, no daylight saving).
KOLKATA_NEW_YEAR = datetime(2025, 12, 31, 18, 30, tzinfo=_UTC)
_KOLKATA = "Asia/Kolkata"


class OrganisationSettingsContract(ContractBase):
    """The cases of the time zone and the alert thresholds, through the port and the service.

    Needs: every repository.
    """

    def test_settings_time_zone_and_thresholds_read_back(self) -> None:
        """An organisation's zone and thresholds (an empty list too) read back as written, and
        it is due for turnover at its period's end computed in its zone: local midnight."""
        store = self.make_store()
        org = attrs.evolve(
            an_organisation(new_id(T0)),
            cycle_anchor=KOLKATA_NEW_YEAR,
            time_zone=_KOLKATA,
            alert_thresholds=AlertThresholds(member=(50,), pool=()),
        )
        with store.unit_of_work() as uow:
            uow.organisations.add(org)
            uow.commit()
        end = datetime(2026, 1, 31, 18, 30, tzinfo=_UTC)
        assert org.current_period.end == end
        with store.unit_of_work() as uow:
            assert uow.organisations.get(org.id) == org
            assert uow.organisations.due_for_turnover(end - timedelta(microseconds=1)) == []
            assert uow.organisations.due_for_turnover(end) == [org.id]
            changed = attrs.evolve(
                org, alert_thresholds=AlertThresholds(member=(10, 90, 100), pool=(75,))
            )
            uow.organisations.update(changed)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.organisations.get(org.id) == changed

    def _kolkata(self) -> tuple[EnterpriseService, FrozenClock, str, Store]:
        """An organisation in Asia/Kolkata anchored at local midnight on 1 January 2026, with
        a verified domain and one member, the clock on 10 January."""
        clock = FrozenClock(datetime(2026, 1, 10, 12, 0, tzinfo=_UTC))
        dns = StaticDnsResolver()
        store = self.make_store()
        service = EnterpriseService(store, clock=clock, dns=dns, max_attempts=self.max_attempts)
        org = service.create_organisation(
            name="Acme India",
            admin_user_id="admin",
            admin_email="admin@acme.example",
            monthly_allowance=100,
            cycle_anchor=KOLKATA_NEW_YEAR,
            time_zone=_KOLKATA,
        )
        claim = service.claim_domain("admin", org.id, "acme.example")
        dns.publish("acme.example", claim.txt_record)
        service.verify_domain("admin", org.id, "acme.example")
        service.enrol("member-1", "member-1@acme.example", email_verified=True)
        return service, clock, org.id, store

    def test_settings_kolkata_periods_turn_over_at_local_midnight(self) -> None:
        """The period job closes an Asia/Kolkata organisation's period at local midnight
        (18:30 UTC), not a moment before; the profile is valid through the last local day."""
        service, clock, org_id, store = self._kolkata()
        org = service.get_organisation("admin", org_id)
        assert (org.time_zone, org.cycle_anchor) == (_KOLKATA, KOLKATA_NEW_YEAR)
        section = service.profile("member-1").credits
        assert section is not None
        assert section.resets_at == datetime(2026, 1, 31, 18, 30, tzinfo=_UTC)
        assert (section.valid_through, section.time_zone) == (date(2026, 1, 31), _KOLKATA)
        clock.set(datetime(2026, 1, 31, 18, 29, 59, tzinfo=_UTC))
        assert service.close_due_periods() == []
        clock.set(datetime(2026, 1, 31, 18, 30, tzinfo=_UTC))
        assert service.close_due_periods() == [org_id]
        org = service.get_organisation("admin", org_id)
        assert org.current_period_index == 1
        assert org.current_period.start == datetime(2026, 1, 31, 18, 30, tzinfo=_UTC)
        assert org.current_period.end == datetime(2026, 2, 28, 18, 30, tzinfo=_UTC)
        section = service.profile("member-1").credits
        assert section is not None
        assert section.valid_through == date(2026, 2, 28)
        with store.unit_of_work() as uow:
            grants = uow.ledger.transfers(org_id, kinds=[TransferKind.GRANT])
            assert [(t.period_index, t.amount) for t in grants] == [(0, 100), (1, 100)]
            assert uow.ledger.period_totals(org_id, POOL, 1).credited(TransferKind.GRANT) == 100

    def test_settings_time_zone_is_fixed_once_created(self) -> None:
        """Naming the zone the organisation has changes nothing; another zone, or an unknown
        one, is refused and nothing is written; an unknown zone at creation is refused."""
        service, _clock, org_id, _store = self._kolkata()
        before = service.get_organisation("admin", org_id)
        assert service.update_settings("admin", org_id, time_zone=_KOLKATA) == before
        with pytest.raises(InvalidInput, match="time_zone is fixed"):
            service.update_settings(
                "admin",
                org_id,
                time_zone="UTC",
                alert_thresholds=AlertThresholds(member=(50,)),
            )
        with pytest.raises(InvalidInput, match="'Asia/Calcutta_'"):
            service.update_settings("admin", org_id, time_zone="Asia/Calcutta_")
        assert service.get_organisation("admin", org_id) == before
        with pytest.raises(InvalidInput, match="time_zone is not a known IANA time zone: 'Moon'"):
            service.create_organisation(
                name="Nowhere",
                admin_user_id="other",
                admin_email="other@nowhere.example",
                time_zone="Moon",
            )

    def test_settings_member_alert_at_the_organisations_threshold(self) -> None:
        """With member thresholds (50,) and no pool thresholds, the alert job raises a member's
        alert once they used half of what they were given, once, and no pool alert."""
        service, _clock, org_id, _store = self._kolkata()
        changed = service.update_settings(
            "admin", org_id, alert_thresholds=AlertThresholds(member=(50,), pool=())
        )
        assert changed.alert_thresholds == AlertThresholds((50,), ())
        assert service.get_organisation("admin", org_id).alert_thresholds.member == (50,)
        seen: list[ev.Event] = []
        service.subscribe(seen.append)
        service.allocate_credits("admin", org_id, "member-1", 100)  # the pool is 100% allocated
        service.spend("member-1", org_id, 49, generation_id="g1")
        assert service.check_alerts(org_id) == 0
        service.spend("member-1", org_id, 1, generation_id="g2")
        assert service.check_alerts(org_id) == 1
        assert service.check_alerts(org_id) == 0
        alerts = [e for e in seen if isinstance(e, ev.MemberUsageAlert)]
        assert [(a.user_id, a.threshold, a.used, a.allocated) for a in alerts] == [
            ("member-1", 50, 50, 100)
        ]
        assert not [e for e in seen if isinstance(e, ev.PoolAllocationAlert)]
