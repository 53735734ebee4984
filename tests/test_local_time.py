"""Times for people are local with their offset; times for machines stay UTC.

Each test pins both the clock (``FixedClock``) and the zone (the ``local_zone`` fixture),
at moments just past or just before local midnight, where a UTC date looks like the wrong day.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from conftest import ZoneSetter
from helpers import FixedClock

from tray.card.certinfo import days_left
from tray.check.run import CheckOptions, run_check
from tray.clock import local_time, offset_name
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo.backend import SimBackend
from tray.demo.scenarios import build, network
from tray.i18n import set_language
from tray.model import CheckReport
from tray.notify.policy import NotifySettings, reader_findings
from tray.present import status
from tray.present.check_json import dumps
from tray.present.check_text import render
from tray.present.report_html import render_html
from tray.present.report_text import render_report_text
from tray.store.history import History, history_path, state_path

#: (zone, the pinned UTC moment, how a person there reads it)
MIDNIGHTS = [
    # 01:43 on 4 December in Taipei is still 3 December in UTC
    ("Asia/Taipei", datetime(2026, 12, 3, 17, 43, tzinfo=timezone.utc), "2026-12-04 01:43 (UTC+8)"),
    # 23:43 on 3 December in New York is already 4 December in UTC
    (
        "America/New_York",
        datetime(2026, 12, 4, 4, 43, tzinfo=timezone.utc),
        "2026-12-03 23:43 (UTC-5)",
    ),
]
#: a time written in UTC for a person ("17:43 UTC") is what this file forbids
UTC_FOR_PEOPLE = re.compile(r"\d\d:\d\d(:\d\d)? UTC\b")


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def check(scenario: str, now: datetime) -> CheckReport:
    backend = SimBackend(build(scenario, now))
    return run_check(backend, FixedClock(now), CheckOptions(network=network(scenario, now)))


def test_offsets_are_named_the_way_people_write_them() -> None:
    moment = datetime(2026, 12, 3, 17, 43, tzinfo=timezone.utc)
    assert offset_name(moment.astimezone(ZoneInfo("Asia/Taipei"))) == "UTC+8"
    assert offset_name(moment.astimezone(ZoneInfo("America/New_York"))) == "UTC-5"
    assert offset_name(moment.astimezone(ZoneInfo("Asia/Kolkata"))) == "UTC+5:30"
    assert offset_name(moment) == "UTC"
    assert local_time(moment, ZoneInfo("Asia/Taipei")) == "2026-12-04 01:43 (UTC+8)"


@pytest.mark.parametrize(
    ("zone", "expected"), [("Asia/Taipei", 0), ("America/New_York", 1), ("UTC", 1)]
)
def test_days_left_counts_the_card_holders_calendar_days(
    local_zone: ZoneSetter, zone: str, expected: int
) -> None:
    now = datetime(2026, 12, 3, 17, 43, tzinfo=timezone.utc)  # Taipei: 4 Dec 01:43
    ends = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)  # Taipei: 4 Dec 18:00
    local_zone(zone)
    assert days_left(ends, now) == expected  # the local zone is the default
    assert days_left(ends, now, ZoneInfo(zone)) == expected


@pytest.mark.parametrize(("zone", "now", "shown"), MIDNIGHTS)
def test_check_text_is_local_and_json_stays_utc(
    local_zone: ZoneSetter, zone: str, now: datetime, shown: str
) -> None:
    local_zone(zone)
    report = check("default", now)
    text = render(report)
    assert shown in text.splitlines()[0]
    # OCSP confirmation times, too
    assert f"not revoked (confirmed {shown})" in text
    assert not UTC_FOR_PEOPLE.search(text), text
    # certificate dates are local calendar dates
    cert = next(c for r in report.readers for c in r.certificates if not c.is_ca)
    assert cert.not_after.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d") in text
    document = json.loads(dumps(report))
    assert document["checked_at"] == now.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(("zone", "now", "shown"), MIDNIGHTS)
def test_report_and_status_are_local(
    local_zone: ZoneSetter, zone: str, now: datetime, shown: str
) -> None:
    local_zone(zone)
    report = check("expiring", now)
    history = History(history_path(), FixedClock(now))
    for reader in report.readers:
        history.record(reader, now)
    state = DaemonState(service_up=True, updated_at=now)
    for reader in report.readers:
        state = state.with_reader(ReaderState(reader.reader, Phase.CHECKED, reader, since=now))
    history.save_state(state)
    assert history.flush()
    data = status.read(state_path(), history_path())
    entries = data.entries
    for text in (
        render_report_text(report, entries),
        render_html(report, entries),
        status.render_text(data),
    ):
        assert shown[:16] in text
        assert not UTC_FOR_PEOPLE.search(text), text
    # history and the JSON status stay UTC
    assert now.strftime("%Y-%m-%dT%H:%M:%SZ") in history_path().read_text(encoding="utf-8")
    assert now.strftime("%Y-%m-%dT%H:%M:%SZ") in status.render_json(data)


@pytest.mark.parametrize(("zone", "now", "shown"), MIDNIGHTS)
def test_expiry_notification_names_the_local_date(
    local_zone: ZoneSetter, zone: str, now: datetime, shown: str
) -> None:
    local_zone(zone)
    # the certificate ends ten minutes after the pinned moment: in both zones that is a
    # local date other than the UTC date of the end
    reader = check("expiring", now).readers[0]
    ends = now + timedelta(minutes=10)
    certs = tuple(
        c if c.is_ca else replace(c, not_after=ends, days_left=0) for c in reader.certificates
    )
    reader = replace(reader, certificates=certs)
    details = " ".join(f.detail for f in reader_findings(reader, NotifySettings()))
    assert ends.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d") in details
    assert ends.strftime("%Y-%m-%d") not in details
