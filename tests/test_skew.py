"""Item 10, the computer clock: thresholds, time-zone slips, flipped validity verdicts,
offline evidence, and unknown that is never an alarm."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from helpers import FixedClock, item
from ntp_server import NtpServer

from tray.check.run import CheckOptions, run_check
from tray.check.skew import clock_item, time_zone_hours
from tray.check.validity import release_date
from tray.cli import main
from tray.clock import SystemClock
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.demo.network import SimClockProbe
from tray.model import (
    Cause,
    CertInfo,
    CheckReport,
    ClockMeasurement,
    ClockUnknown,
    Health,
    ItemId,
    Status,
)
from tray.net import NetworkChecks, live
from tray.net.sntp import SntpProbe
from tray.present.check_json import to_dict

P, W, F, S = Status.PASS, Status.WARN, Status.FAIL, Status.SKIP
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=timezone.utc)
MIN, HOUR, DAY = 60.0, 3600.0, 86400.0


def cert(start: datetime, end: datetime, *, ca: bool = False, label: str = "Signature") -> CertInfo:
    return CertInfo(
        label=label,
        slot="0",
        subject="CN=x",
        common_name="x",
        issuer="CN=ca",
        serial="01",
        not_before=start,
        not_after=end,
        days_left=(end.date() - NOW.date()).days,
        key_usage=(),
        is_ca=ca,
        sha256="00",
    )


LONG = cert(NOW - timedelta(days=400), NOW + timedelta(days=400))


def measured(offset: float, now: datetime = NOW) -> ClockMeasurement:
    return ClockMeasurement(offset, "sntp", "time.stdtime.gov.tw", now)


def verdict(offset: float, certs: list[CertInfo] | None = None):  # type: ignore[no-untyped-def]
    return clock_item(measured(offset), certs or [LONG], NOW, release_date())


@pytest.mark.parametrize(
    ("offset", "status", "code"),
    [
        (0.3, P, "ok"),
        (-4 * MIN, P, "ok"),
        (6 * MIN, W, "clock_skew"),
        (-50 * MIN, W, "clock_skew"),
        (59 * MIN, W, "clock_time_zone"),
        (2 * HOUR + 40, F, "clock_time_zone"),
        (-8 * HOUR - 90, F, "clock_time_zone"),
        (2 * HOUR + 3 * MIN, F, "clock_skew"),
        (2.5 * HOUR, F, "clock_skew"),
        (-3 * DAY, F, "clock_skew"),
    ],
)
def test_thresholds_and_time_zone_slips(offset: float, status: Status, code: str) -> None:
    result = verdict(offset)
    assert (result.status, result.code) == (status, code)
    assert result.item is ItemId.CLOCK
    assert result.cause is (Cause.NONE if status is P else Cause.CLOCK)


def test_time_zone_names_the_hours_and_the_direction() -> None:
    result = verdict(-8 * HOUR - 30)
    assert "8 hours ahead" in result.summary and "time zone" in result.summary
    assert "behind" in verdict(2 * HOUR).summary
    assert time_zone_hours(3 * DAY, clock_thresholds()) is None


def clock_thresholds():  # type: ignore[no-untyped-def]
    from tray.check.skew import SkewThresholds

    return SkewThresholds()


def test_skew_that_flips_a_validity_verdict_fails_even_when_small() -> None:
    # Expires in 3 minutes by this clock; the clock is 4 minutes behind: it has expired.
    ending = cert(NOW - timedelta(days=700), NOW + timedelta(minutes=3))
    result = verdict(4 * MIN, [LONG, ending])
    assert (result.status, result.code, result.cause) == (F, "clock_flips_validity", Cause.CLOCK)
    assert "expired" in result.summary and "valid" in result.summary


@pytest.mark.parametrize(
    "reading",
    [
        None,
        ClockUnknown("off"),
        ClockUnknown("unreachable", tried=("time.stdtime.gov.tw", "pool.ntp.org")),
        ClockUnknown("timeout"),
        ClockUnknown("garbage"),
        ClockUnknown("disagree"),
        # A server claiming a time before this release is lying, not a reason for alarm.
        ClockMeasurement(-400 * DAY, "sntp", "liar", NOW),
    ],
)
def test_no_trustworthy_measurement_is_unknown_never_an_alarm(reading: object) -> None:
    result = clock_item(reading, [LONG], NOW, release_date())  # type: ignore[arg-type]
    assert result.status is S
    assert result.cause is Cause.NONE


def test_offline_evidence_a_clock_before_the_release_is_at_least_that_far_behind() -> None:
    early = release_date() - timedelta(days=30)
    result = clock_item(ClockUnknown("off"), [LONG], early, release_date())
    assert (result.status, result.code, result.cause) == (F, "clock_before_release", Cause.CLOCK)
    result = clock_item(None, [LONG], release_date() - timedelta(minutes=10), release_date())
    assert result.status is W


def test_offline_evidence_a_certificate_not_yet_valid_says_the_clock_is_probably_behind() -> None:
    fresh = cert(NOW + timedelta(hours=3), NOW + timedelta(days=1800))
    result = clock_item(ClockUnknown("unreachable"), [fresh], NOW, release_date())
    assert (result.status, result.code, result.cause) == (
        W,
        "clock_before_certificate",
        Cause.CLOCK,
    )
    # A measurement that says the clock is right wins: the card has a future start date.
    assert clock_item(measured(0.2), [fresh], NOW, release_date()).status is P


def check_at(clock: FixedClock, scenario: str, offset: float | None) -> CheckReport:
    backend = SimBackend(scenarios.build(scenario, datetime.now(timezone.utc)))
    network = (
        NetworkChecks(clock=SimClockProbe(offset, clock.now())) if offset is not None else None
    )
    return run_check(backend, clock, CheckOptions(network=network))


def test_measured_time_rejudges_items_8_and_9_and_says_the_clock_is_to_blame() -> None:
    real = datetime.now(timezone.utc)
    # The certificates start in 3 days by this clock, which is 4 days behind: they are valid.
    clock = FixedClock(real)
    report = check_at(clock, "not-yet-valid", 4 * DAY)
    start = item(report.readers[0], ItemId.VALID_FROM)
    assert (start.status, start.code, start.cause) == (F, "not_yet_valid", Cause.CLOCK)
    assert "measured time" in start.summary and "clock is wrong" in start.summary
    assert report.clock is not None
    assert (report.clock.status, report.clock.code) == (F, "clock_flips_validity")

    # Valid by this clock, expired by the measured time: the worse verdict wins.
    report = check_at(FixedClock(real), "expiring", 25 * DAY)
    end = item(report.readers[0], ItemId.EXPIRY)
    assert (end.status, end.code) == (F, "expired")
    assert "measured time" in end.summary
    assert report.health is Health.CRITICAL


def test_small_offset_changes_nothing_in_items_8_and_9() -> None:
    plain = check_at(FixedClock(), "default", None)
    measured_report = check_at(FixedClock(), "default", 0.4)
    for ours, theirs in zip(plain.readers, measured_report.readers, strict=True):
        assert ours.items == theirs.items
    assert measured_report.clock is not None and measured_report.clock.status is P
    assert measured_report.health is Health.OK


def test_network_off_sends_no_packet() -> None:
    with NtpServer(2 * HOUR) as server:
        probe = SntpProbe([server.address], SystemClock(), sample_timeout=0.2, budget=0.5)
        network = NetworkChecks(enabled=False, clock=probe)
        backend = SimBackend(scenarios.build("default", datetime.now(timezone.utc)))
        report = run_check(backend, SystemClock(), CheckOptions(network=network))
    assert server.requests == 0
    assert report.clock is not None
    assert (report.clock.status, report.clock.code) == (S, "clock_not_measured")
    assert report.health is Health.OK


def test_unreachable_servers_leave_the_healthy_demo_green() -> None:
    with NtpServer() as closed:
        address = closed.address  # closed on exit: nothing listens there any more
    network = live(SystemClock(), ntp_servers=(address,), time_url=f"http://{address}/", cache=None)
    backend = SimBackend(scenarios.build("default", datetime.now(timezone.utc)))
    report = run_check(backend, SystemClock(), CheckOptions(network=network))
    assert report.clock is not None and report.clock.status is S
    assert [item(r, ItemId.REVOCATION).status for r in report.readers] == [S, S]
    assert report.health is Health.OK


def test_json_has_the_clock_object_and_per_certificate_revocation() -> None:
    clock = FixedClock()
    backend = SimBackend(scenarios.build("revoked", clock.now()))
    report = run_check(
        backend, clock, CheckOptions(network=scenarios.network("revoked", clock.now()))
    )
    data = json.loads(json.dumps(to_dict(report)))
    assert data["clock"]["status"] == "pass"
    assert data["clock"]["source"] == "simulated"
    assert data["clock"]["item"]["key"] == "clock" and data["clock"]["item"]["number"] == 10
    assert abs(data["clock"]["offset_seconds"] - 0.2) < 1e-9
    reader = data["readers"][0]
    assert [i["number"] for i in reader["items"]] == [*range(2, 10), 11]
    revocation = reader["items"][-1]
    assert (revocation["key"], revocation["status"], revocation["code"]) == (
        "revocation",
        "fail",
        "revoked",
    )
    sign = reader["certificates"][0]["revocation"]
    assert sign["status"] == "revoked" and sign["reason"] == "key_compromise"
    assert data["exit_code"] == 2


@pytest.mark.parametrize(
    ("args", "code", "clock_code", "revocation_code"),
    [
        (["--demo"], 0, "ok", "ok"),
        (["--demo", "clock-skew"], 2, "clock_time_zone", "ok"),
        (["--demo", "revoked"], 2, "ok", "revoked"),
        (["--demo", "revoked", "--offline"], 0, "clock_not_measured", "revocation_off"),
    ],
)
def test_demo_scenarios_in_the_cli(
    args: list[str],
    code: int,
    clock_code: str,
    revocation_code: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--lang", "en", "check", "--json", *args]) == code
    data = json.loads(capsys.readouterr().out)
    assert data["clock"]["item"]["code"] == clock_code
    assert data["readers"][0]["items"][-1]["code"] == revocation_code
