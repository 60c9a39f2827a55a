"""A frozen clock and a static DNS resolver for tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from armox_enterprise.domain.values import ensure_utc
from armox_enterprise.exceptions import DomainVerificationFailed

__all__ = ["FrozenClock", "StaticDnsResolver"]

_DEFAULT_START = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)


class FrozenClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it.

    Thread-safe, so concurrent tests can share one.
    """

    def __init__(self, start: datetime = _DEFAULT_START) -> None:
        self._now = ensure_utc(start, name="start")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current instant (UTC)."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move the clock forward by ``delta`` (or ``timedelta(**kwargs)``) and return it."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("a frozen clock only moves forward")
        with self._lock:
            self._now += step
            return self._now

    def set(self, instant: datetime) -> None:
        """Move the clock to ``instant`` (forward or back)."""
        with self._lock:
            self._now = ensure_utc(instant)


class StaticDnsResolver:
    """Answers TXT look-ups from a dictionary; :meth:`publish` adds a record.

    :meth:`withdraw` takes a domain's records away (the record is not there: a failing check);
    :meth:`make_unanswerable` makes its look-ups raise as a resolver that times out does
    (``DomainVerificationFailed``), until :meth:`answer` lets them through again.
    """

    def __init__(self, records: dict[str, list[str]] | None = None) -> None:
        self.records: dict[str, list[str]] = {k: list(v) for k, v in (records or {}).items()}
        self.unanswerable: set[str] = set()

    @staticmethod
    def _key(domain: str) -> str:
        return domain.strip().rstrip(".").lower()

    def publish(self, domain: str, value: str) -> None:
        """Publish the TXT record ``value`` on ``domain``."""
        self.records.setdefault(self._key(domain), []).append(value)

    def withdraw(self, domain: str) -> None:
        """Remove every TXT record from ``domain``."""
        self.records.pop(self._key(domain), None)

    def make_unanswerable(self, domain: str) -> None:
        """Make look-ups of ``domain`` fail as a timed-out resolver's do."""
        self.unanswerable.add(self._key(domain))

    def answer(self, domain: str) -> None:
        """Answer look-ups of ``domain`` again."""
        self.unanswerable.discard(self._key(domain))

    def txt_records(self, domain: str) -> Sequence[str]:
        """Return the TXT records published on ``domain``.

        Raises:
            DomainVerificationFailed: ``domain`` was made unanswerable.
        """
        if domain in self.unanswerable:
            raise DomainVerificationFailed(f"the DNS look-up of TXT records on {domain} timed out")
        return list(self.records.get(domain, ()))
