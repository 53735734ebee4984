"""The daemon core with in-process virtual cards: debounce, ordering, isolation, resilience."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from test_daemon_bench import Recorder, checked, empty

from tray.app import daemon_network, demo_parts
from tray.card.backend import CardState
from tray.clock import SystemClock
from tray.daemon.core import Checker, Daemon, DaemonOptions
from tray.daemon.events import CardInserted, CardRemoved, ReaderAdded, ServiceDown, ServiceUp
from tray.daemon.state import IconState, Phase, icon_state, tooltip
from tray.demo.scenarios import READER_0, READER_1
from tray.model import CheckReport, ClockMeasurement, Health, Status
from tray.net import NetworkChecks


class Idle:
    """An event source with nothing to say: tests hand events in with ``submit``."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def run(self, sink: object) -> None:
        self._stop.wait()

    def stop(self) -> None:
        self._stop.set()


def make(checker: Checker | None = None, settle: float = 0.05) -> tuple[Daemon, Recorder]:
    clock = SystemClock()
    _source, demo_checker = demo_parts("default", clock)
    daemon = Daemon(Idle(), checker or demo_checker, clock, DaemonOptions(settle_seconds=settle))
    return daemon, Recorder(daemon)


@pytest.fixture
def running() -> Iterator[tuple[Daemon, Recorder]]:
    daemon, recorder = make()
    daemon.start()
    yield daemon, recorder
    daemon.stop()


def insert(daemon: Daemon, reader: str = READER_0) -> None:
    daemon.submit(ServiceUp())
    daemon.submit(ReaderAdded(reader))
    daemon.submit(CardInserted(reader, CardState.PRESENT, b"\x3b"))


def test_whole_demo_run_ends_green() -> None:
    clock = SystemClock()
    source, checker = demo_parts("default", clock)
    daemon = Daemon(source, checker, clock, DaemonOptions(settle_seconds=0.01))
    recorder = Recorder(daemon)
    daemon.start()
    try:
        state = recorder.wait(
            "both checked", lambda s: checked(READER_0)(s) and checked(READER_1)(s)
        )
    finally:
        daemon.stop()
    assert icon_state(state) is IconState.OK
    assert "valid 412 days" in tooltip(state)


def test_phases_run_inserted_checking_checked(running: tuple[Daemon, Recorder]) -> None:
    daemon, recorder = running
    insert(daemon)
    recorder.wait("checked", checked(READER_0))
    phases = [s.reader(READER_0).phase for s in recorder.states if s.reader(READER_0)]  # type: ignore[union-attr]
    assert phases[-3:] == [Phase.INSERTED, Phase.CHECKING, Phase.CHECKED]


def test_card_pulled_before_it_settles_is_not_checked() -> None:
    daemon, recorder = make(settle=0.5)
    daemon.start()
    try:
        daemon.submit(ServiceUp())
        daemon.submit(ReaderAdded(READER_0))
        # No ATR yet (mute): the daemon waits for the card to settle before checking.
        daemon.submit(CardInserted(READER_0, CardState.MUTE))
        daemon.submit(CardRemoved(READER_0))
        recorder.wait("empty", empty(READER_0))
        # A later insertion is checked: its settle timer fired, the first one's did not count.
        daemon.submit(CardInserted(READER_0, CardState.MUTE))
        recorder.wait("checked", checked(READER_0))
    finally:
        daemon.stop()
    assert daemon.checks_started == 1


def test_powered_card_with_an_atr_is_checked_without_waiting_to_settle() -> None:
    # A settle delay far longer than the wait: only a check started at once can finish.
    daemon, recorder = make(settle=3600.0)
    daemon.start()
    try:
        insert(daemon)
        recorder.wait("checked", checked(READER_0))
    finally:
        daemon.stop()
    assert daemon.checks_started == 1


def test_slow_check_on_one_reader_does_not_delay_another() -> None:
    clock = SystemClock()
    _source, demo_checker = demo_parts("default", clock)
    release = threading.Event()

    def checker(reader: str) -> CheckReport:
        if reader == READER_0:
            release.wait(30)
        return demo_checker(reader)

    daemon, recorder = make(checker)
    daemon.start()
    try:
        insert(daemon, READER_0)
        insert(daemon, READER_1)
        state = recorder.wait("reader 1 checked", checked(READER_1))
        assert state.reader(READER_0).phase is Phase.CHECKING  # type: ignore[union-attr]
        release.set()
        recorder.wait("reader 0 checked", checked(READER_0))
    finally:
        release.set()
        daemon.stop()


def test_a_crashing_check_and_a_crashing_listener_do_not_stop_the_daemon() -> None:
    clock = SystemClock()
    _source, demo_checker = demo_parts("default", clock)
    calls = []

    def checker(reader: str) -> CheckReport:
        calls.append(reader)
        if len(calls) == 1:
            raise RuntimeError("a bug in a profile")
        return demo_checker(reader)

    def bad_listener(_state: object) -> None:
        raise OSError("tray went away")

    daemon, recorder = make(checker)
    daemon.on_state(bad_listener)
    daemon.start()
    try:
        insert(daemon)
        state = recorder.wait("first check", checked(READER_0))
        report = state.reader(READER_0).report  # type: ignore[union-attr]
        assert report is not None
        assert [i.code for i in report.items] == ["internal_error"]
        daemon.check_now()
        recorder.wait(
            "second check",
            lambda s: checked(READER_0)(s) and s.reader(READER_0).report.health is Health.OK,  # type: ignore[union-attr]
        )
    finally:
        daemon.stop()


def test_check_now_checks_every_card_again(running: tuple[Daemon, Recorder]) -> None:
    daemon, recorder = running
    insert(daemon, READER_0)
    insert(daemon, READER_1)
    recorder.wait("both", lambda s: checked(READER_0)(s) and checked(READER_1)(s))
    before = len(recorder.reports)
    daemon.check_now()
    recorder.wait_reports(before + 2)


def test_pause_toggles_and_shows_in_the_tooltip(running: tuple[Daemon, Recorder]) -> None:
    daemon, recorder = running
    daemon.set_paused()
    state = recorder.wait("paused", lambda s: s.paused)
    assert "Notifications paused" in tooltip(state)
    daemon.set_paused(False)
    recorder.wait("resumed", lambda s: not s.paused)


def test_service_down_turns_red_and_names_the_service(running: tuple[Daemon, Recorder]) -> None:
    daemon, recorder = running
    insert(daemon)
    recorder.wait("checked", checked(READER_0))
    daemon.submit(ServiceDown("Service not available (0x8010001D)"))
    state = recorder.wait("down", lambda s: s.service_up is False)
    assert icon_state(state) is IconState.ERROR
    assert state.readers == ()
    assert "PC/SC service not reachable" in tooltip(state)
    daemon.submit(ServiceUp())
    state = recorder.wait("up", lambda s: s.service_up is True)
    assert icon_state(state) is IconState.IDLE


def test_no_readers_is_grey_with_a_reason(running: tuple[Daemon, Recorder]) -> None:
    daemon, recorder = running
    daemon.submit(ServiceUp())
    state = recorder.wait("up", lambda s: s.service_up is True)
    assert icon_state(state) is IconState.IDLE
    assert "No card reader connected" in tooltip(state)
    assert datetime.now(timezone.utc) >= state.updated_at  # type: ignore[operator]


class CountingProbe:
    """A clock probe that answers a fixed offset and counts how often it was asked."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.calls = 0

    def measure(self) -> ClockMeasurement:
        self.calls += 1
        return ClockMeasurement(self.offset, "sntp", "127.0.0.1", datetime.now(timezone.utc))


def test_daemon_measures_the_clock_once_an_hour_and_shows_it() -> None:
    clock = SystemClock()
    probe = CountingProbe(0.4)
    network = daemon_network(NetworkChecks(enabled=True, clock=probe), clock)
    _source, checker = demo_parts("default", clock, network)
    daemon = Daemon(Idle(), checker, clock, DaemonOptions(settle_seconds=0.01))
    recorder = Recorder(daemon)
    daemon.start()
    try:
        insert(daemon)
        recorder.wait("checked", checked(READER_0))
        daemon.check_now()
        daemon.check_now()
        recorder.wait_reports(3)
        state = recorder.wait("checked again", checked(READER_0))
    finally:
        daemon.stop()
    assert probe.calls == 1  # three checks, one measurement: the rest came from the cache
    assert state.clock is not None and state.clock.status is Status.PASS
    # A right clock is not news: the tooltip names the card and its headline only.
    assert tooltip(state).splitlines()[1:] == ["MOICA card TP0317… — OK, valid 412 days"]


def test_a_clock_hours_off_turns_the_icon_red_without_a_card_fault() -> None:
    clock = SystemClock()
    network = NetworkChecks(enabled=True, clock=CountingProbe(-8 * 3600.0))
    _source, checker = demo_parts("default", clock, network)
    daemon = Daemon(Idle(), checker, clock, DaemonOptions(settle_seconds=0.01))
    recorder = Recorder(daemon)
    daemon.start()
    try:
        insert(daemon)
        state = recorder.wait(
            "clock judged", lambda s: s.clock is not None and checked(READER_0)(s)
        )
    finally:
        daemon.stop()
    assert state.clock is not None and state.clock.status is Status.FAIL
    assert icon_state(state) is IconState.ERROR
    assert tooltip(state).splitlines()[-1] == "Clock 8 h 0 min ahead — fix the time zone"


def test_check_now_replaces_the_pending_recheck_instead_of_adding_one(
    running: tuple[Daemon, Recorder],
) -> None:
    daemon, recorder = running
    insert(daemon, READER_0)
    insert(daemon, READER_1)
    recorder.wait("both", lambda s: checked(READER_0)(s) and checked(READER_1)(s))
    assert daemon.pending_rechecks() == {READER_0: 1, READER_1: 1}
    for click in range(4):
        before = len(recorder.reports)
        daemon.check_now()
        recorder.wait_reports(before + 2)
        assert daemon.pending_rechecks() == {READER_0: 1, READER_1: 1}, f"after click {click + 1}"
    daemon.submit(CardRemoved(READER_1))
    recorder.wait("reader 1 empty", empty(READER_1))
    assert daemon.pending_rechecks() == {READER_0: 1}
