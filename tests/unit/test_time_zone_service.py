"""Time zones and alert thresholds through the service and the command line: creation with a
zone, the anchor's normalisation, settings events, ``org create`` and ``org settings``."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timezone

import pytest

from armox_enterprise import (
    AlertThresholds,
    EnterpriseService,
    InvalidInput,
    MemoryStore,
    cli,
)
from armox_enterprise.domain import events as ev
from armox_enterprise.testing import FrozenClock

UTC = timezone.utc
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def _service(now: datetime = NOW) -> tuple[EnterpriseService, MemoryStore, FrozenClock]:
    store, clock = MemoryStore(), FrozenClock(now)
    return EnterpriseService(store, clock=clock), store, clock


def test_an_organisation_is_in_utc_unless_given_a_zone() -> None:
    service, _store, _clock = _service()
    org = service.create_organisation(
        name="Acme", admin_user_id="ana", admin_email="a@acme.example"
    )
    assert org.time_zone == "UTC"
    assert org.alert_thresholds == AlertThresholds((80, 100), (90,))
    assert org.cycle_anchor == NOW


def test_an_anchor_in_an_overlaps_second_occurrence_becomes_the_first() -> None:
    """01:30 on 1 November 2026 in New York happened twice; an anchor at the second (06:30
    UTC) is stored as the first (05:30 UTC), the start of period 0 by the rule."""
    service, _store, _clock = _service(datetime(2026, 11, 2, tzinfo=UTC))
    org = service.create_organisation(
        name="Acme",
        admin_user_id="ana",
        admin_email="a@acme.example",
        cycle_anchor=datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
        time_zone="America/New_York",
    )
    assert org.cycle_anchor == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert org.current_period.start == org.cycle_anchor
    assert org.current_period.end == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)


def test_a_bad_zone_or_thresholds_at_creation_create_nothing() -> None:
    service, store, _clock = _service()
    with pytest.raises(
        InvalidInput, match="time_zone is not a known IANA time zone: 'Europe/Lisbo'"
    ):
        service.create_organisation(
            name="Acme", admin_user_id="ana", admin_email="a@acme.example", time_zone="Europe/Lisbo"
        )
    with pytest.raises(InvalidInput, match="alert_thresholds must be an AlertThresholds"):
        service.create_organisation(
            name="Acme",
            admin_user_id="ana",
            admin_email="a@acme.example",
            alert_thresholds=(50,),  # type: ignore[arg-type]
        )
    assert store.organisations == {}


def test_changing_the_thresholds_records_one_settings_event() -> None:
    service, _store, _clock = _service()
    org = service.create_organisation(
        name="Acme", admin_user_id="ana", admin_email="a@acme.example"
    )
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    changed = service.update_settings("ana", org.id, alert_thresholds=AlertThresholds((50,), ()))
    assert changed.alert_thresholds == AlertThresholds((50,), ())
    assert changed.current_period == org.current_period
    settings = [e for e in seen if isinstance(e, ev.OrganisationSettingsChanged)]
    assert [e.setting for e in settings] == ["alert_thresholds"]
    # The same thresholds again change nothing and record nothing.
    service.update_settings("ana", org.id, alert_thresholds=AlertThresholds((50,), ()))
    assert len([e for e in seen if isinstance(e, ev.OrganisationSettingsChanged)]) == 1


def test_the_profile_is_valid_through_the_last_local_day() -> None:
    """Sao Paulo in 2018: a period from local midnight on 4 October ended in November's gap,
    at 01:00 local on the 4th; the profile says it is valid through 3 November."""
    service, _store, _clock = _service(datetime(2018, 10, 20, tzinfo=UTC))
    org = service.create_organisation(
        name="Acme",
        admin_user_id="ana",
        admin_email="a@acme.example",
        cycle_anchor=datetime(2018, 10, 4, 3, 0, tzinfo=UTC),
        time_zone="America/Sao_Paulo",
    )
    section = service.profile("ana").credits
    assert section is not None
    assert section.resets_at == datetime(2018, 11, 4, 3, 0, tzinfo=UTC)
    assert (section.valid_through, section.time_zone) == (date(2018, 11, 3), "America/Sao_Paulo")
    assert org.current_period.end == section.resets_at


# -- the command line ------------------------------------------------------------------------


def _run(store: MemoryStore, clock: FrozenClock, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), store=store, clock=clock, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


CREATE = ["org", "create", "Acme", "--admin", "ana", "--admin-email", "ana@acme.example"]


def test_org_create_takes_a_zone_and_thresholds_and_shows_them() -> None:
    store, clock = MemoryStore(), FrozenClock(datetime(2025, 12, 31, 18, 30, tzinfo=UTC))
    code, out, err = _run(
        store,
        clock,
        *CREATE,
        "--time-zone",
        "Asia/Kolkata",
        "--member-alerts",
        "100,50",
        "--pool-alerts",
        "none",
    )
    assert (code, err) == (0, "")
    [org] = store.organisations.values()
    assert (org.time_zone, org.alert_thresholds) == ("Asia/Kolkata", AlertThresholds((50, 100), ()))
    assert out.splitlines()[-3:] == [
        "Time zone: Asia/Kolkata",
        "Period 0: 2025-12-31 18:30 UTC to 2026-01-31 18:30 UTC "
        "(valid through 2026-01-31, Asia/Kolkata)",
        "Alerts: members at 50%, 100%; pool at none",
    ]


def test_org_create_with_an_unknown_zone_is_a_library_error() -> None:
    store, clock = MemoryStore(), FrozenClock(NOW)
    code, out, err = _run(store, clock, *CREATE, "--time-zone", "Asia/Kolkatta")
    assert (code, out) == (1, "")
    assert "time_zone is not a known IANA time zone: 'Asia/Kolkatta'" in err
    assert store.organisations == {}


def test_org_settings_shows_and_changes_the_thresholds() -> None:
    store, clock = MemoryStore(), FrozenClock(NOW)
    assert _run(store, clock, *CREATE)[0] == 0
    [org] = store.organisations.values()
    code, out, err = _run(store, clock, "--as", "ana", "org", "settings")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"Organisation 'Acme': {org.id}"
    assert "Alerts: members at 80%, 100%; pool at 90%" in out.splitlines()
    code, out, err = _run(store, clock, "--as", "ana", "org", "settings", "--member-alerts", "50")
    assert (code, err) == (0, "")
    assert "Alerts: members at 50%; pool at 90%" in out.splitlines()
    assert store.organisations[org.id].alert_thresholds == AlertThresholds((50,), (90,))
    code, out, _err = _run(store, clock, "--json", "--as", "ana", "org", "settings")
    assert json.loads(out)["alert_thresholds"] == {"member": [50], "pool": [90]}
    assert json.loads(out)["time_zone"] == "UTC"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--member-alerts", "50,150"], "member_alert_thresholds must hold whole percentages"),
        (["--pool-alerts", "90,90"], "pool_alert_thresholds must not repeat a percentage"),
        (["--time-zone", "Asia/Kolkata"], "time_zone is fixed when the organisation is created"),
    ],
)
def test_org_settings_refuses_bad_thresholds_and_another_zone(
    argv: list[str], message: str
) -> None:
    store, clock = MemoryStore(), FrozenClock(NOW)
    assert _run(store, clock, *CREATE)[0] == 0
    [before] = store.organisations.values()
    code, out, err = _run(store, clock, "--as", "ana", "org", "settings", *argv)
    assert (code, out) == (1, "")
    assert message in err
    assert store.organisations[before.id] == before
