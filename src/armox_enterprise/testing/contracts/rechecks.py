"""The domain re-check job's contract on a store: grace windows, recovery, lapse, what a lapsed
domain stops doing, and runs that race."""

from __future__ import annotations

from datetime import timedelta

import pytest

from armox_enterprise.domain.enrolment import EnrolmentOutcome, EnrolmentReason
from armox_enterprise.domain.organisation import DomainStatus, JoinMode
from armox_enterprise.domain.values import DomainName
from armox_enterprise.exceptions import DomainAlreadyClaimed
from armox_enterprise.testing.builders import Scenario
from armox_enterprise.testing.contracts.base import ContractBase

__all__ = ["DomainRecheckContract"]

_CHECK_EVENTS = ["DomainCheckFailing", "DomainRecovered", "DomainLapsed"]


class DomainRecheckContract(ContractBase):
    """The cases of :meth:`~armox_enterprise.EnterpriseService.recheck_domains` on the store.

    Needs: every repository.
    """

    def _check_events(self, scenario: Scenario, org_id: str | None = None) -> list[str]:
        """The organisation's re-check events, oldest first."""
        stored = scenario.service.audit_log(
            scenario.admin, org_id or scenario.org_id, names=_CHECK_EVENTS, limit=500
        )
        return [e.name for e in reversed(stored)]

    def _status(self, scenario: Scenario, domain: str | None = None) -> DomainStatus:
        """The status ``list_domains`` shows for the scenario's domain."""
        name = domain or scenario.domain
        [claim] = [
            c
            for c in scenario.service.list_domains(scenario.admin, scenario.org_id)
            if c.domain.value == name
        ]
        return claim.status

    def test_recheck_failure_opens_a_grace_window_and_a_pass_recovers(self) -> None:
        """A missing record opens a window (still enrolling, shown as failing until lapses_at);
        found again, the domain recovers; each transition records its event once."""
        scenario = self._scenario(members=1)
        service, clock, dns = scenario.service, scenario.clock, scenario.dns
        record = f"armox-enterprise-verification={self._token(scenario)}"
        first = service.recheck_domains()
        assert (first.checked, first.passed, first.failing) == (1, (scenario.domain,), ())
        dns.withdraw(scenario.domain)
        opened = clock.advance(hours=1)
        report = service.recheck_domains(grace=timedelta(hours=10))
        assert (report.checked, report.failing, report.passed) == (1, (scenario.domain,), ())
        [claim] = service.list_domains(scenario.admin, scenario.org_id)
        assert claim.status is DomainStatus.FAILING
        assert (claim.failing_since, claim.lapses_at) == (opened, opened + timedelta(hours=10))
        clock.advance(hours=5)
        assert service.recheck_domains().failing == (scenario.domain,)
        decision = service.sign_up("new-1", f"new-1@{scenario.domain}", email_verified=True)
        assert decision.outcome is EnrolmentOutcome.ENROLLED  # still enrols in the window
        dns.publish(scenario.domain, record)
        passed = clock.advance(hours=1)
        report = service.recheck_domains()
        assert (report.passed, report.recovered, report.failing) == (
            (scenario.domain,),
            (scenario.domain,),
            (),
        )
        [claim] = service.list_domains(scenario.admin, scenario.org_id)
        assert claim.status is DomainStatus.VERIFIED
        assert (claim.last_checked_at, claim.failing_since, claim.lapses_at) == (passed, None, None)
        assert self._check_events(scenario) == ["DomainCheckFailing", "DomainRecovered"]

    def test_recheck_lapses_a_domain_whose_window_passed_and_it_enrols_nobody(self) -> None:
        """Once the window has passed with no pass, a failing check lapses the domain: a new
        user of it is not enrolled and files no join request, existing members stay, and the
        admin's verification makes it enrol again."""
        scenario = self._scenario(members=2)
        service, clock, dns, org_id = (
            scenario.service,
            scenario.clock,
            scenario.dns,
            scenario.org_id,
        )
        record = f"armox-enterprise-verification={self._token(scenario)}"
        dns.withdraw(scenario.domain)
        service.recheck_domains(grace=timedelta(hours=24))
        clock.advance(hours=24)
        report = service.recheck_domains(grace=timedelta(hours=24))
        assert (report.lapsed, report.failing, report.passed) == ((scenario.domain,), (), ())
        assert self._status(scenario) is DomainStatus.LAPSED
        assert self._check_events(scenario) == ["DomainCheckFailing", "DomainLapsed"]
        refused = service.sign_up("new-1", f"new-1@{scenario.domain}", email_verified=True)
        assert (refused.outcome, refused.reason) == (
            EnrolmentOutcome.NOT_ENROLLED,
            EnrolmentReason.DOMAIN_NOT_VERIFIED,
        )
        service.update_settings(scenario.admin, org_id, join_mode=JoinMode.REQUEST)
        asked = service.sign_up("new-2", f"new-2@{scenario.domain}", email_verified=True)
        assert asked.reason is EnrolmentReason.DOMAIN_NOT_VERIFIED
        assert service.list_join_requests(scenario.admin, org_id) == []
        assert sorted(m.user_id for m in service.list_members(scenario.admin, org_id)) == [
            "admin",
            *scenario.members,
        ]
        # A lapsed domain is not re-checked, and does not lapse twice.
        assert service.recheck_domains().checked == 0
        assert self._check_events(scenario) == ["DomainCheckFailing", "DomainLapsed"]
        dns.publish(scenario.domain, record)
        service.verify_domain(scenario.admin, org_id, scenario.domain)
        assert self._status(scenario) is DomainStatus.VERIFIED
        service.update_settings(scenario.admin, org_id, join_mode=JoinMode.AUTOMATIC)
        back = service.sign_up("new-3", f"new-3@{scenario.domain}", email_verified=True)
        assert back.outcome is EnrolmentOutcome.ENROLLED

    def test_recheck_keeps_a_lapsed_domain_off_other_organisations_for_a_while(self) -> None:
        """Another organisation cannot claim a lapsed domain at once, only once the
        verification window after the lapse has passed."""
        scenario = self._scenario(members=1)
        service, clock = scenario.service, scenario.clock
        scenario.dns.withdraw(scenario.domain)
        service.recheck_domains(grace=timedelta(hours=1))
        clock.advance(hours=1)
        assert service.recheck_domains().lapsed == (scenario.domain,)
        other = service.create_organisation(
            name="Beta", admin_user_id="beta-admin", admin_email="admin@beta.example"
        )
        with pytest.raises(DomainAlreadyClaimed):
            service.claim_domain("beta-admin", other.id, scenario.domain)
        clock.advance(days=7)
        taken = service.claim_domain("beta-admin", other.id, scenario.domain)
        assert taken.organisation_id == other.id
        assert service.list_domains(scenario.admin, scenario.org_id) == []

    def test_recheck_leaves_domains_alone_when_the_resolver_cannot_answer(self) -> None:
        """An unanswered look-up neither opens nor closes a window, nor lapses a domain past
        its window; the report names it with the resolver's message."""
        scenario = self._scenario(members=1)
        service, clock, dns = scenario.service, scenario.clock, scenario.dns
        dns.make_unanswerable(scenario.domain)
        report = service.recheck_domains()
        assert (report.checked, report.passed, report.failing) == (1, (), ())
        [(domain, message)] = report.unanswered
        assert domain == scenario.domain
        assert "timed out" in message
        assert self._status(scenario) is DomainStatus.VERIFIED
        dns.answer(scenario.domain)
        dns.withdraw(scenario.domain)
        service.recheck_domains(grace=timedelta(hours=1))
        dns.make_unanswerable(scenario.domain)
        clock.advance(hours=5)
        assert service.recheck_domains().unanswered[0][0] == scenario.domain
        assert self._status(scenario) is DomainStatus.FAILING
        assert self._check_events(scenario) == ["DomainCheckFailing"]

    def test_recheck_answers_each_domain_by_its_own_record(self) -> None:
        """Over two organisations and several domains, each domain's outcome is its own; an
        unverified claim is not checked; runs again change nothing more."""
        scenario = self._scenario(members=1)
        service, dns, org_id = scenario.service, scenario.dns, scenario.org_id
        for name in ("ok.example", "gone.example"):
            claim = service.claim_domain(scenario.admin, org_id, name)
            dns.publish(name, claim.txt_record)
            service.verify_domain(scenario.admin, org_id, name)
        service.claim_domain(scenario.admin, org_id, "pending.example")
        beta = service.create_organisation(
            name="Beta", admin_user_id="beta-admin", admin_email="admin@beta.example"
        )
        beta_claim = service.claim_domain("beta-admin", beta.id, "beta.example")
        dns.publish("beta.example", '"' + beta_claim.txt_record + '"')
        service.verify_domain("beta-admin", beta.id, "beta.example")
        dns.withdraw("gone.example")
        dns.make_unanswerable(scenario.domain)
        report = service.recheck_domains()
        assert report.checked == 4
        assert report.passed == ("beta.example", "ok.example")
        assert report.failing == ("gone.example",)
        assert [d for d, _ in report.unanswered] == [scenario.domain]
        assert (report.recovered, report.lapsed, report.errors) == ((), (), ())
        again = service.recheck_domains()
        assert again.failing == ("gone.example",)
        assert self._check_events(scenario) == ["DomainCheckFailing"]
        beta_events = service.audit_log("beta-admin", beta.id, names=_CHECK_EVENTS)
        assert beta_events == []
        assert self._status(scenario, "pending.example") is DomainStatus.UNVERIFIED

    def test_recheck_racing_runs_record_each_transition_once(self) -> None:
        """Several runs at once over the same failing domains open each window once; racing
        again past the window, each domain lapses once."""
        scenario = self._scenario(members=1)
        service, dns, org_id = scenario.service, scenario.dns, scenario.org_id
        names = [f"d{i}.example" for i in range(3)]
        for name in names:
            claim = service.claim_domain(scenario.admin, org_id, name)
            dns.publish(name, claim.txt_record)
            service.verify_domain(scenario.admin, org_id, name)
            dns.withdraw(name)
        racer = self._service(scenario)
        self._race(lambda _: racer.recheck_domains(grace=timedelta(hours=1)))
        scenario.clock.advance(hours=2)
        self._race(lambda _: racer.recheck_domains(grace=timedelta(hours=1)))
        stored = service.audit_log(scenario.admin, org_id, names=_CHECK_EVENTS, limit=500)
        per_domain = sorted((e.payload["domain"], e.name) for e in stored)
        assert per_domain == sorted(
            [(n, "DomainCheckFailing") for n in names] + [(n, "DomainLapsed") for n in names]
        )

    def _token(self, scenario: Scenario) -> str:
        """The verification token of the scenario's domain."""
        with scenario.store.unit_of_work() as uow:
            claim = uow.domains.get(DomainName.parse(scenario.domain))
        assert claim is not None
        return claim.verification_token
