"""The domain re-check job through the service: its arguments, its resolver's failures, its
events, a domain whose check cannot be stored, and its report's JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from armox_enterprise import (
    DomainVerificationFailed,
    EnterpriseService,
    InvalidInput,
    RecheckReport,
)
from armox_enterprise.application.jobs import JobUseCases
from armox_enterprise.domain import events as ev
from armox_enterprise.serialise import to_json
from armox_enterprise.testing import Scenario, enterprise


@pytest.mark.parametrize(
    "grace", [timedelta(0), -timedelta(hours=1), timedelta(days=32), 72, True, "72h", None]
)
def test_a_grace_that_is_not_a_positive_timedelta_is_refused(grace: Any) -> None:
    """``grace`` is a positive timedelta of at most 31 days; anything else is InvalidInput."""
    acme = enterprise(members=0)
    acme.dns.withdraw(acme.domain)
    with pytest.raises(InvalidInput, match="grace must be a positive timedelta"):
        acme.service.recheck_domains(grace=grace)
    assert acme.service.list_domains(acme.admin, acme.org_id)[0].failing_since is None


def test_without_a_resolver_the_job_refuses_to_run() -> None:
    """No DNS resolver: DomainVerificationFailed, as for verify_domain."""
    acme = enterprise(members=0)
    service = EnterpriseService(acme.store, clock=acme.clock)
    with pytest.raises(DomainVerificationFailed, match="no DNS resolver"):
        service.recheck_domains()


class _Raising:
    """A resolver that raises ``error`` for every look-up."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def txt_records(self, domain: str) -> Sequence[str]:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [TimeoutError("timed out"), ConnectionRefusedError(), RuntimeError("resolver bug")],
)
def test_any_resolver_exception_is_unanswered_and_changes_nothing(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """An OSError or an unexpected exception from the resolver is not a failing check."""
    acme = enterprise(members=0)
    service = EnterpriseService(acme.store, clock=acme.clock, dns=_Raising(error))
    report = service.recheck_domains()
    assert report.checked == 1
    assert report.failing == report.passed == ()
    [(domain, message)] = report.unanswered
    assert (domain, message) == (acme.domain, str(error) or type(error).__name__)
    assert service.list_domains(acme.admin, acme.org_id)[0].failing_since is None
    assert ("resolver bug" in caplog.text) is isinstance(error, RuntimeError)


def test_handlers_get_each_transition_event_after_commit() -> None:
    """DomainCheckFailing, then DomainLapsed, reach subscribers with the window's instants."""
    acme = enterprise(members=0)
    seen: list[ev.Event] = []
    acme.service.subscribe(seen.append)
    acme.dns.withdraw(acme.domain)
    opened = acme.clock.now()
    acme.service.recheck_domains(grace=timedelta(hours=2))
    acme.clock.advance(hours=2)
    acme.service.recheck_domains()
    failing, lapsed = seen
    assert isinstance(failing, ev.DomainCheckFailing)
    assert (failing.domain, failing.actor, failing.occurred_at) == (acme.domain, "system", opened)
    assert failing.lapses_at == to_json(opened + timedelta(hours=2))
    assert isinstance(lapsed, ev.DomainLapsed)
    assert lapsed.failing_since == to_json(opened)


def test_a_check_that_cannot_be_stored_is_reported_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A storage error on one domain is logged, passed to on_failure and listed in errors."""
    acme = _two_domains()
    original = JobUseCases._apply_check

    def flaky(self: JobUseCases, uow: Any, now: Any, seen: Any, *rest: Any) -> Any:
        if seen.domain.value == "broken.example":
            raise RuntimeError("the store is down")
        return original(self, uow, now, seen, *rest)

    monkeypatch.setattr(JobUseCases, "_apply_check", flaky)
    failed: list[tuple[str, str]] = []
    report = acme.service.recheck_domains(on_failure=lambda org, e: failed.append((org, str(e))))
    assert report.errors == ("broken.example",)
    assert report.passed == (acme.domain,)
    assert report.checked == 2
    assert failed == [(acme.org_id, "the store is down")]


def _two_domains() -> Scenario:
    acme = enterprise(members=0)
    claim = acme.service.claim_domain(acme.admin, acme.org_id, "broken.example")
    acme.dns.publish("broken.example", claim.txt_record)
    acme.service.verify_domain(acme.admin, acme.org_id, "broken.example")
    return acme


def test_the_report_has_a_json_form() -> None:
    """Every field of RecheckReport is JSON: counts, lists of domains, pairs for unanswered."""
    report = RecheckReport(
        checked=2, passed=("a.example",), unanswered=(("b.example", "timed out"),)
    )
    assert to_json(report) == {
        "checked": 2,
        "passed": ["a.example"],
        "failing": [],
        "recovered": [],
        "lapsed": [],
        "unanswered": [["b.example", "timed out"]],
        "errors": [],
    }


def test_verifying_a_failing_domain_closes_its_window_at_once() -> None:
    """The admin's verify_domain on a failing domain looks the record up; found, the domain is
    healthy again; a healthy domain is returned as it is, with no look-up."""
    acme = enterprise(members=0)
    record = acme.service.list_domains(acme.admin, acme.org_id)[0].txt_record
    acme.dns.withdraw(acme.domain)
    acme.service.recheck_domains()
    acme.dns.publish(acme.domain, record)
    acme.clock.advance(hours=1)
    claim = acme.service.verify_domain(acme.admin, acme.org_id, acme.domain)
    assert claim.status.value == "verified"
    assert (claim.failing_since, claim.verified_at) == (None, acme.clock.now())
    acme.dns.withdraw(acme.domain)
    again = acme.service.verify_domain(acme.admin, acme.org_id, acme.domain)
    assert again == claim
