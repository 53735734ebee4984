"""Every surface tells the same verdict: check, status, report, tray, notification, Prometheus.

Each demo scenario, and a set of daemon states, go through every surface; each must show
the same health, the same worst finding and the same exit code.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from helpers import FixedClock

from tray.check.assess import Assessment, assess
from tray.check.run import CheckOptions, run_check
from tray.daemon.state import (
    DaemonState,
    IconState,
    Phase,
    ReaderState,
    assessment,
    icon_state,
    tooltip,
)
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.i18n import set_language
from tray.model import CheckItem, CheckReport, ClockMeasurement, Code, Health, ItemId, Status
from tray.notify.policy import NotifyLog, NotifySettings, Show, Urgency, decide
from tray.present import prometheus, status
from tray.present.check_json import to_dict
from tray.present.check_text import render
from tray.present.report import as_check_report
from tray.present.report_content import first_step
from tray.store.history import Owner, state_document

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
ICON = {
    Health.OK: IconState.OK,
    Health.WARNING: IconState.WARNING,
    Health.CRITICAL: IconState.ERROR,
    Health.UNKNOWN: IconState.IDLE,
}
URGENCY = {Health.CRITICAL: Urgency.CRITICAL, Health.WARNING: Urgency.NORMAL}


def checked(name: str, offset: float | None = None) -> CheckReport:
    set_language("en")
    clock = FixedClock(NOW)
    network = scenarios.network(name, NOW)
    if offset is not None:
        probe = _Probe(offset)
        network = replace(network, clock=probe)
    return run_check(SimBackend(scenarios.build(name, NOW)), clock, CheckOptions(network=network))


class _Probe:
    def __init__(self, offset: float) -> None:
        self.offset = offset

    def measure(self) -> ClockMeasurement:
        return ClockMeasurement(self.offset, "sntp", "127.0.0.1", NOW)


def daemon_state(report: CheckReport) -> DaemonState:
    readers = tuple(ReaderState(r.reader, Phase.CHECKED, r, NOW) for r in report.readers)
    return DaemonState(
        readers=readers,
        service_up=report.service.status is not Status.FAIL,
        service_item=report.service if report.service.status is Status.FAIL else None,
        updated_at=NOW,
        clock=report.clock,
        clock_reading=report.clock_reading,
        language="en",
    )


def worst_key(verdict: Assessment) -> tuple[str | None, int, str] | None:
    worst = verdict.worst
    return None if worst is None else (worst.reader, int(worst.item.item), worst.code)


def assert_state_surfaces_agree(state: DaemonState, expected: Health) -> None:
    """Tray, state file, status (text, JSON, exit code), report, Prometheus, notifications."""
    verdict = assessment(state)
    assert verdict.health is expected
    # the tray icon and tooltip
    assert icon_state(state) is ICON[expected]
    if verdict.clock is not None:
        assert tooltip(state).count(verdict.clock.headline) == 1
    # the state file, read back by status: same verdict, same worst finding
    document = json.loads(json.dumps(state_document(state, Owner(1, "elsewhere"))))
    assert document["assessment"]["status"] == expected.name.lower()
    assert document["icon"] == ICON[expected].value
    back = status.state_from_dict(document)
    again = assessment(back)
    assert again.health is expected and worst_key(again) == worst_key(verdict)
    assert again.headline == verdict.headline
    data = status.StatusData(back, document, True)
    assert status.exit_code(data) == int(expected)
    rendered = json.loads(status.render_json(data))
    assert rendered["exit_code"] == int(expected)
    assert rendered["assessment"]["headline"] == verdict.headline
    assert f"{status.health_label(expected)}: {verdict.headline}" in status.render_text(data)
    # the report's first step
    step = first_step(as_check_report(back))
    assert (step.health, step.headline) == (expected, verdict.headline)
    # Prometheus
    text = prometheus.render(state)
    assert re.search(rf"^cardwatch_health {int(expected)}$", text, re.M)
    # notifications: as loud as the tray says the worst finding is
    actions, _log = decide(state, {}, NotifyLog(), NOW, NotifySettings())
    shown = [a.notice for a in actions if isinstance(a, Show)]
    if expected in URGENCY:
        assert shown, "a finding the tray shows red or amber is notified"
        loudest = max(
            shown, key=lambda n: [Urgency.LOW, Urgency.NORMAL, Urgency.CRITICAL].index(n.urgency)
        )
        assert loudest.urgency is URGENCY[expected]
        assert all(len(n.body) <= 200 for n in shown)
    else:
        assert all(n.urgency is not Urgency.CRITICAL for n in shown)


@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_every_demo_scenario_tells_one_verdict_everywhere(name: str) -> None:
    report = checked(name)
    verdict = assess(report)
    # check: text, JSON and exit code
    assert to_dict(report)["exit_code"] == verdict.exit_code
    assert to_dict(report)["assessment"]["headline"] == verdict.headline
    assert f"(exit code {verdict.exit_code})" in render(report)
    if report.readers:
        assert_state_surfaces_agree(daemon_state(report), verdict.health)


DAEMON_STATES = {
    "clock 8 h off, healthy cards": (
        lambda: daemon_state(checked("default", -8 * 3600.0)),
        Health.CRITICAL,
    ),
    "not yet valid, clock measured right": (
        lambda: daemon_state(checked("not-yet-valid", 0.2)),
        Health.CRITICAL,
    ),
    "one PIN try left": (lambda: daemon_state(checked("pin-final-try")), Health.WARNING),
    "revoked": (lambda: daemon_state(checked("revoked")), Health.CRITICAL),
    "mute card": (lambda: daemon_state(checked("mute")), Health.CRITICAL),
    "no reader": (lambda: DaemonState(service_up=True, updated_at=NOW), Health.UNKNOWN),
    "pcscd stopped": (
        lambda: DaemonState(
            service_up=False,
            updated_at=NOW,
            service_item=CheckItem(
                ItemId.SERVICE,
                Status.FAIL,
                "PC/SC service not reachable",
                "Start pcscd",
                code=Code.SERVICE_NOT_RUNNING,
            ),
        ),
        Health.CRITICAL,
    ),
}


@pytest.mark.parametrize("name", list(DAEMON_STATES))
def test_daemon_states_tell_one_verdict_everywhere(name: str) -> None:
    make, expected = DAEMON_STATES[name]
    assert_state_surfaces_agree(make(), expected)


def test_not_yet_valid_with_a_right_clock_is_never_told_as_the_clock() -> None:
    state = daemon_state(checked("not-yet-valid", 0.2))
    verdict = assessment(state)
    assert verdict.headline == "Not yet valid — ask the issuer" and verdict.clock is None
    actions, _log = decide(state, {}, NotifyLog(), NOW, NotifySettings())
    (notice,) = [a.notice for a in actions if isinstance(a, Show)]
    assert notice.urgency is Urgency.CRITICAL
    assert notice.body.startswith("This computer's clock is right")


def test_clock_8_hours_off_is_one_notice_and_one_line() -> None:
    state = daemon_state(checked("default", -8 * 3600.0))
    actions, _log = decide(state, {}, NotifyLog(), NOW, NotifySettings())
    (notice,) = [a.notice for a in actions if isinstance(a, Show)]
    assert notice.title == "Clock 8 h 0 min ahead — fix the time zone"
    assert notice.urgency is Urgency.CRITICAL
    assert tooltip(state).splitlines()[-1] == notice.title
