"""The facade: :class:`EnterpriseService`, every use case of Enterprise accounts.

The service is composed of one use-case module per concern (organisations, domains,
enrolment, members, directory provisioning, credits, spending and holds, requests, teams,
jobs, reporting); each public method parses its arguments, declares the permission it needs and
hands the work to the one :class:`~armox_enterprise.application.runner.Runner`, which runs it
in a unit of work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from armox_enterprise.application import arguments as args
from armox_enterprise.application.caps import CapUseCases
from armox_enterprise.application.credits import CreditUseCases
from armox_enterprise.application.directory import DirectoryUseCases
from armox_enterprise.application.domains import DomainUseCases
from armox_enterprise.application.enrolment import EnrolmentUseCases
from armox_enterprise.application.jobs import JobUseCases
from armox_enterprise.application.members import MemberUseCases
from armox_enterprise.application.organisations import OrganisationUseCases
from armox_enterprise.application.reporting import ReportingUseCases
from armox_enterprise.application.requests import RequestUseCases
from armox_enterprise.application.runner import Runner
from armox_enterprise.application.spending import SpendingUseCases
from armox_enterprise.application.teams import TeamUseCases
from armox_enterprise.domain import events as ev
from armox_enterprise.domain.enrolment import FreeMailList
from armox_enterprise.exceptions import InvalidInput
from armox_enterprise.ports import Clock, DnsResolver, Store

__all__ = ["EnterpriseService", "SystemClock"]


class SystemClock:
    """The real clock: :meth:`now` reads the system time in UTC."""

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        return datetime.now(timezone.utc)


class EnterpriseService(
    OrganisationUseCases,
    DomainUseCases,
    EnrolmentUseCases,
    MemberUseCases,
    DirectoryUseCases,
    CreditUseCases,
    SpendingUseCases,
    CapUseCases,
    RequestUseCases,
    TeamUseCases,
    JobUseCases,
    ReportingUseCases,
):
    """Enterprise accounts for one store: organisations, members, credits and requests.

    Each public method validates its input, opens one unit of work on the store, checks that
    the acting user may do what they ask (nobody sees another organisation: it answers as if
    it did not exist), turns the billing period over if its boundary has passed, does the
    work, commits, and then hands the recorded events to the registered handlers.  A call
    that raises has written nothing.

    Args:
        store: where the data lives (:class:`~armox_enterprise.MemoryStore`, the SQLAlchemy
            store, or a host's own adapter).
        clock: the time source; defaults to the system clock.
        dns: resolves TXT records for domain verification; without one, verification fails.
        free_mail: the providers that can never be claimed (default: the bundled list).
        max_attempts: how often a unit of work is tried when the store reports a transient
            failure (a serialization failure, a deadlock).
        request_alert_after: how long a credit request may wait before :meth:`check_alerts`
            raises a ``RequestWaitingAlert``.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        dns: DnsResolver | None = None,
        free_mail: FreeMailList | None = None,
        max_attempts: int = 8,
        request_alert_after: timedelta = timedelta(hours=24),
    ) -> None:
        attempts = args.int_between(max_attempts, "max_attempts", 1, 1000)
        if not callable(getattr(store, "unit_of_work", None)):
            raise InvalidInput("store must have a unit_of_work() method")
        for collaborator, field, method in (
            (clock, "clock", "now"),
            (dns, "dns", "txt_records"),
        ):
            if collaborator is not None and not callable(getattr(collaborator, method, None)):
                raise InvalidInput(f"{field} must have a {method}() method")
        if free_mail is not None and not isinstance(free_mail, FreeMailList):
            raise InvalidInput("free_mail must be a FreeMailList")
        self._request_alert_after = args.duration(request_alert_after, "request_alert_after")
        self._store = store
        self._runner = Runner(store, clock if clock is not None else SystemClock(), attempts)
        self._dns = dns
        self._free_mail = free_mail if free_mail is not None else FreeMailList()

    def subscribe(self, handler: Callable[[ev.Event], None]) -> None:
        """Call ``handler`` with every event, after the unit of work that recorded it commits.

        A handler that raises is logged and does not stop the others; the change stays made.
        """
        args.handler(handler, "handler")
        self._runner.handlers.append(handler)
