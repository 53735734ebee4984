"""The notification policy, pure: real check reports of simulated cards in, actions out."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import FixedClock
from hypothesis import given, settings
from hypothesis import strategies as st

from tray.check.run import CheckOptions, check_one
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.demo.scenarios import DEMO_CARD_NUMBER, READER_0, MoicaGen1Card, moica_certs
from tray.model import CheckItem, ItemId, ReaderReport, Status
from tray.notify.policy import (
    CLOCK_SLOT,
    SERVICE_SLOT,
    Notice,
    NotifyLog,
    NotifySettings,
    Show,
    Urgency,
    Withdraw,
    decide,
    snooze,
    threshold,
)
from tray.store.notifylog import LogFile, from_dict, load, to_dict

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
SETTINGS = NotifySettings()


def report_of(card: object, now: datetime = NOW) -> ReaderReport:
    clock = FixedClock(now)
    return check_one(SimBackend({READER_0: card}), READER_0, clock, CheckOptions()).readers[0]  # type: ignore[dict-item]


def scenario(name: str, now: datetime = NOW) -> ReaderReport:
    return report_of(scenarios.build(name, now)[READER_0], now)


def expiring(days: float, now: datetime = NOW) -> ReaderReport:
    return report_of(MoicaGen1Card(moica_certs(now, days), DEMO_CARD_NUMBER), now)


def state_with(
    report: ReaderReport | None, phase: Phase = Phase.CHECKED, **kw: object
) -> DaemonState:
    readers = (ReaderState(READER_0, phase, report),)
    return DaemonState(readers=readers, service_up=True, updated_at=NOW, **kw)  # type: ignore[arg-type]


class Run:
    """Feeds snapshots through decide() the way Notifications does, keeping live and log."""

    def __init__(self, notify: NotifySettings = SETTINGS) -> None:
        self.live: dict[str, Notice] = {}
        self.log = NotifyLog()
        self.settings = notify

    def __call__(self, state: DaemonState, now: datetime = NOW) -> list[object]:
        actions, self.log = decide(state, self.live, self.log, now, self.settings)
        for action in actions:
            if isinstance(action, Show):
                self.live[action.notice.slot] = action.notice
            elif isinstance(action, Withdraw):
                self.live.pop(action.slot, None)
        return list(actions)


def shown(actions: list[object]) -> list[Notice]:
    return [a.notice for a in actions if isinstance(a, Show)]


def test_a_certificate_three_days_from_expiry_is_told_at_once_and_urgently() -> None:
    (notice,) = shown(Run()(state_with(expiring(3.5))))
    assert notice.title == "Certificate expires in 3 days"
    assert notice.urgency is Urgency.CRITICAL
    assert notice.reader == READER_0
    # The advice leads, then where; the full text is in the report.
    assert notice.body.splitlines()[0].startswith("Renew the certificate")
    assert notice.body.splitlines()[-1] == f"MOICA card TP0317… in {READER_0}"
    assert len(notice.body) <= 200


def test_each_threshold_fires_once_per_certificate() -> None:
    run = Run()
    titles = []
    report = expiring(70.5)  # the same certificates, checked day after day
    for day in range(70, -1, -1):
        now = NOW + timedelta(days=70 - day)
        titles += [n.title for n in shown(run(state_with(report_at(report, now)), now))]
        # A second check the same day tells nothing new.
        assert shown(run(state_with(report_at(report, now)), now + timedelta(hours=1))) == []
    assert titles == [
        "Certificate expires in 60 days",
        "Certificate expires in 30 days",
        "Certificate expires in 14 days",
        "Certificate expires in 7 days",
        "Certificate expires in 3 days",
        "Certificate expires in 1 day",
    ]


def report_at(report: ReaderReport, now: datetime) -> ReaderReport:
    """The same report as a check at ``now`` would give it (days left recounted)."""
    certs = tuple(
        replace(c, days_left=(c.not_after.date() - now.date()).days) for c in report.certificates
    )
    return replace(report, certificates=certs)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=90), min_size=1, max_size=6, unique=True))
def test_configured_thresholds_fire_once_each_whatever_they_are(days: list[int]) -> None:
    run = Run(NotifySettings(expiry_days=tuple(days)))
    report = expiring(95.5)
    fired = []
    for step in range(96):
        now = NOW + timedelta(days=step)
        fired += [
            n.key.rsplit(":", 1)[1] for n in shown(run(state_with(report_at(report, now)), now))
        ]
    assert sorted(map(int, fired), reverse=True) == sorted(days, reverse=True)


def test_threshold_is_the_smallest_one_reached() -> None:
    assert threshold(61, (60, 30)) is None
    assert threshold(60, (60, 30)) == 60
    assert threshold(5, (60, 30, 14, 7, 3, 1)) == 7
    assert threshold(0, (60, 30, 14, 7, 3, 1)) == 1


def test_expired_is_told_once_with_the_new_card_advice() -> None:
    run = Run()
    report = scenario("expired")
    (notice,) = shown(run(state_with(report)))
    assert notice.title == "Certificate expired"
    assert "household registration office" in notice.body
    assert shown(run(state_with(report), NOW + timedelta(days=3))) == []


def test_pin_final_try_then_locked_breaks_through_the_daily_dedupe() -> None:
    run = Run()
    (first,) = shown(run(state_with(scenario("pin-final-try"))))
    assert first.title == "One PIN try left before the card locks"
    assert "One more wrong PIN locks the card" in first.body
    later = NOW + timedelta(hours=2)
    (worse,) = shown(run(state_with(scenario("pin-locked")), later))
    assert worse.title == "PIN locked"
    assert worse.urgency is Urgency.CRITICAL
    # Gone from the screen, then one try left again within the day: nothing new to tell.
    run.live.clear()
    assert shown(run(state_with(scenario("pin-final-try")), later + timedelta(hours=1))) == []


def test_same_finding_is_not_repeated_within_a_day_but_is_after() -> None:
    run = Run()
    assert len(shown(run(state_with(scenario("mute"))))) == 1
    run(state_with(None, Phase.EMPTY))  # removed: withdrawn
    assert run.live == {}
    assert shown(run(state_with(scenario("mute")), NOW + timedelta(hours=23))) == []
    (again,) = shown(run(state_with(scenario("mute")), NOW + timedelta(hours=25)))
    assert again.title == "The card does not answer"
    assert again.body.startswith("The card does not answer. Take it out")
    assert len(again.body) <= 200


def test_removed_card_and_fixed_problem_withdraw_the_notice() -> None:
    run = Run()
    run(state_with(scenario("pin-locked")))
    assert run(state_with(None, Phase.EMPTY)) == [Withdraw(READER_0)]
    run2 = Run()
    run2(state_with(scenario("pin-locked")))
    assert run2(state_with(scenario("default"))) == [Withdraw(READER_0)]
    run3 = Run()
    run3(state_with(scenario("pin-locked")))
    assert run3(DaemonState(service_up=True, updated_at=NOW)) == [Withdraw(READER_0)]


def test_a_check_in_progress_changes_nothing() -> None:
    run = Run()
    run(state_with(scenario("pin-locked")))
    assert run(state_with(scenario("pin-locked"), Phase.CHECKING)) == []
    assert run(state_with(None, Phase.INSERTED)) == []


def test_pause_and_disabled_hold_new_notices_but_still_withdraw() -> None:
    run = Run()
    assert shown(run(state_with(scenario("pin-locked"), paused=True))) == []
    assert shown(Run(NotifySettings(enabled=False))(state_with(scenario("pin-locked")))) == []
    run(replace(state_with(scenario("pin-locked")), paused=False))
    assert READER_0 in run.live
    assert run(state_with(None, Phase.EMPTY, paused=True)) == [Withdraw(READER_0)]


def test_snooze_holds_for_a_day_even_for_a_worse_finding() -> None:
    run = Run()
    (notice,) = shown(run(state_with(scenario("pin-final-try"))))
    run.log = snooze(run.log, notice.card, NOW, SETTINGS)
    run.live.clear()
    assert shown(run(state_with(scenario("pin-locked")), NOW + timedelta(hours=23))) == []
    (after,) = shown(run(state_with(scenario("pin-locked")), NOW + timedelta(hours=25)))
    assert after.title == "PIN locked"


def test_service_down_then_back_replaces_one_notice() -> None:
    run = Run()
    down = DaemonState(service_up=False, updated_at=NOW)
    (notice,) = shown(run(down))
    assert (notice.slot, notice.title, notice.urgency) == (
        SERVICE_SLOT,
        "Smart-card service stopped",
        Urgency.CRITICAL,
    )
    (back,) = shown(run(DaemonState(service_up=True, updated_at=NOW)))
    assert (back.slot, back.title, back.urgency) == (
        SERVICE_SLOT,
        "Smart-card service running again",
        Urgency.LOW,
    )
    assert run(DaemonState(service_up=True, updated_at=NOW)) == []


def test_a_wrong_clock_is_told_and_withdrawn_when_right_again() -> None:
    run = Run()
    wrong = CheckItem(
        ItemId.CLOCK, Status.FAIL, "Computer clock is 8 h slow", "Fix it", code="clock_skew"
    )
    (notice,) = shown(run(DaemonState(service_up=True, updated_at=NOW, clock=wrong)))
    assert (notice.slot, notice.title) == (CLOCK_SLOT, "Clock wrong — set the time")
    assert notice.body.splitlines() == ["Fix it", "This computer", "Computer clock is 8 h slow"]
    right = replace(wrong, status=Status.PASS)
    assert run(DaemonState(service_up=True, updated_at=NOW, clock=right)) == [Withdraw(CLOCK_SLOT)]


def test_a_revoked_certificate_is_told() -> None:
    report = scenario("default")
    revoked = CheckItem(
        ItemId.REVOCATION, Status.FAIL, "Revoked on 2026-11-01", "New card", code="revoked"
    )
    report = replace(report, items=(*report.items, revoked))
    (notice,) = shown(Run()(state_with(report)))
    assert notice.title == "Certificate revoked"


def test_log_survives_a_round_trip_and_a_corrupt_file_is_set_aside(tmp_path: Path) -> None:
    run = Run()
    run(state_with(expiring(3.5)))
    log = snooze(run.log, "TP03170000012345", NOW, SETTINGS)
    assert from_dict(to_dict(log)) == log
    path = tmp_path / "notifications.json"
    writer = LogFile(path)
    writer.save(log)
    writer.close()
    assert load(path) == log
    path.write_text('{"schema": "cardwatch.notifications/1", "told": {"x": 3}}')
    assert load(path) == NotifyLog()
    assert not path.exists()
    assert [p.name.split(".corrupt-")[0] for p in tmp_path.glob("notif*")] == ["notifications.json"]


@pytest.mark.parametrize("text", ["", "{", "[1]", '{"schema": "other"}'])
def test_unreadable_log_starts_afresh(tmp_path: Path, text: str) -> None:
    path = tmp_path / "notifications.json"
    path.write_text(text)
    assert load(path) == NotifyLog()
