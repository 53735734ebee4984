"""Forged and absurd time answers from hostile peers on 127.0.0.1: a year-9999 Date header,
SNTP answers in 2104, 2036 or a month ahead, servers that disagree. None of them may stop a
check, and none alone may turn certificates expired or not yet valid."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from helpers import item
from hostile_peers import HostilePeer
from ntp_server import NtpServer

from tray.check.run import CheckOptions, run_check
from tray.check.skew import clock_item, true_time
from tray.check.validity import release_date
from tray.clock import SystemClock
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.model import CheckReport, ClockMeasurement, Health, ItemId, Status
from tray.net import NetworkChecks, live
from tray.net.sntp import SntpProbe

DAY = 86400.0


def until(year: int) -> float:
    """The offset that makes a correct clock read 1 March of ``year``."""
    target = datetime(year, 1, 1, tzinfo=timezone.utc)
    return (target - datetime.now(timezone.utc)).total_seconds()


def check(scenario: str, network: NetworkChecks) -> CheckReport:
    backend = SimBackend(scenarios.build(scenario, datetime.now(timezone.utc)))
    return run_check(backend, SystemClock(), CheckOptions(network=network))


def sntp(*servers: str) -> NetworkChecks:
    probe = SntpProbe(servers, SystemClock(), sample_timeout=0.3, budget=1.5)
    return NetworkChecks(enabled=True, clock=probe)


def test_a_year_9999_date_header_never_stops_the_check() -> None:
    with HostilePeer("date") as peer:
        network = live(SystemClock(), ntp_servers=(), time_url=peer.url)
        report = check("expiring", network)
    assert report.readers, "the check printed no reader"
    expiry = item(report.readers[0], ItemId.EXPIRY)
    assert (expiry.status, expiry.code) == (Status.WARN, "expires_urgent")
    assert report.clock is not None and report.clock.status is Status.SKIP
    assert "implausible" in report.clock.summary
    assert report.health is Health.WARNING


def test_absurd_offsets_never_raise_anywhere() -> None:
    now = datetime.now(timezone.utc)
    for offset in (1e300, -1e300, float("inf"), float("nan"), until(9999) + 10 * 365 * DAY):
        reading = ClockMeasurement(offset, "sntp", "liar", now)
        assert true_time(reading, now, release_date()) is None
        assert clock_item(reading, [], now, release_date()).status is Status.SKIP


@pytest.mark.parametrize("year", [2104, 2036])
def test_agreeing_servers_in_an_absurd_year_are_not_believed(year: int) -> None:
    with NtpServer(until(year)) as one, NtpServer(until(year)) as two:
        report = check("default", sntp(one.address, two.address))
    assert report.clock is not None
    assert (report.clock.status, report.clock.code) == (Status.SKIP, "clock_unknown")
    assert report.health is Health.OK
    for reader in report.readers:
        assert item(reader, ItemId.EXPIRY).status is Status.PASS


def test_one_server_a_month_ahead_warns_but_never_expires_a_certificate() -> None:
    with NtpServer(30 * DAY) as liar:
        report = check("expiring", sntp(liar.address))
    assert report.clock is not None
    assert (report.clock.status, report.clock.code) == (Status.WARN, "clock_skew")
    assert "could not be confirmed" in report.clock.summary
    expiry = item(report.readers[0], ItemId.EXPIRY)
    assert (expiry.status, expiry.code) == (Status.WARN, "expires_urgent")
    assert report.health is Health.WARNING


def test_one_date_header_a_month_ahead_warns_but_never_expires_a_certificate() -> None:
    ahead = datetime.now(timezone.utc) + timedelta(days=30)
    with HostilePeer("date", date=ahead.strftime("%a, %d %b %Y %H:%M:%S GMT")) as peer:
        report = check("expiring", live(SystemClock(), ntp_servers=(), time_url=peer.url))
    assert report.clock is not None and report.clock.status is Status.WARN
    assert item(report.readers[0], ItemId.EXPIRY).status is Status.WARN
    assert report.health is Health.WARNING


def test_two_agreeing_servers_a_month_ahead_are_believed() -> None:
    with NtpServer(30 * DAY) as one, NtpServer(30 * DAY) as two:
        report = check("expiring", sntp(one.address, two.address))
    assert report.clock is not None and report.clock.status is Status.FAIL
    expiry = item(report.readers[0], ItemId.EXPIRY)
    assert (expiry.status, expiry.code) == (Status.FAIL, "expired")


def test_disagreeing_servers_change_nothing() -> None:
    with NtpServer(0.0) as honest, NtpServer(30 * DAY) as liar:
        report = check("expiring", sntp(honest.address, liar.address))
    assert report.clock is not None and report.clock.status is Status.SKIP
    assert item(report.readers[0], ItemId.EXPIRY).status is Status.WARN
