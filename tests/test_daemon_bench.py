"""The daemon on the real bench: pcscd + vpcd + virtual cards, watched without polling.

Insert → check → icon state; remove → grey; many insert/remove cycles lose no event and
leave the thread count as it was; pcscd killed and restarted → the daemon shows the service
fault, recovers by itself and checks a card inserted afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pytest
from bench import PcscBench
from conftest import CARD_TIMEOUT, READERS, InsertCard
from vpcd_client import VpcdCard, reader_port

from tray.app import pcsc_parts
from tray.clock import SystemClock
from tray.daemon.core import Daemon, DaemonOptions
from tray.daemon.state import DaemonState, IconState, Phase, icon_state
from tray.demo import scenarios
from tray.demo.card import Fault, VirtualCard
from tray.model import Cause, Health, ReaderReport

WAIT = 15.0


class Recorder:
    """Collects the daemon's snapshots and reports; waits on a condition, never sleeps."""

    def __init__(self, daemon: Daemon) -> None:
        self.states: list[DaemonState] = []
        self.reports: list[ReaderReport] = []
        self._cond = threading.Condition()
        daemon.on_state(self._state)
        daemon.on_report(self._report)

    def _state(self, state: DaemonState) -> None:
        with self._cond:
            self.states.append(state)
            self._cond.notify_all()

    def _report(self, report: ReaderReport, _at: datetime) -> None:
        with self._cond:
            self.reports.append(report)
            self._cond.notify_all()

    def wait(self, what: str, predicate: Callable[[DaemonState], bool]) -> DaemonState:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: bool(self.states) and predicate(self.states[-1]), timeout=WAIT
            )
            last = self.states[-1] if self.states else None
        assert ok, f"timed out waiting for {what}; last state: {last}"
        assert last is not None
        return last

    def wait_reports(self, count: int) -> list[ReaderReport]:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.reports) >= count, timeout=WAIT)
            reports = list(self.reports)
        assert ok, f"timed out waiting for {count} reports; have {len(reports)}"
        return reports


def checked(reader: str) -> Callable[[DaemonState], bool]:
    def predicate(state: DaemonState) -> bool:
        slot = state.reader(reader)
        return slot is not None and slot.phase is Phase.CHECKED

    return predicate


def empty(reader: str) -> Callable[[DaemonState], bool]:
    def predicate(state: DaemonState) -> bool:
        slot = state.reader(reader)
        return slot is not None and slot.phase is Phase.EMPTY

    return predicate


def card(name: str) -> VirtualCard:
    inserted = next(iter(scenarios.build(name, datetime.now(timezone.utc)).values()))
    assert inserted is not None
    return inserted


@pytest.fixture
def daemon(pcsc_bench: PcscBench) -> Iterator[tuple[Daemon, Recorder]]:
    pcsc_bench.ensure_running()
    clock = SystemClock()
    source, checker = pcsc_parts(clock, [])
    watched = Daemon(source, checker, clock, DaemonOptions(settle_seconds=0.05))
    recorder = Recorder(watched)
    watched.start()
    recorder.wait("both readers", lambda s: all(s.reader(r) for r in READERS))
    try:
        yield watched, recorder
    finally:
        watched.stop()


@pytest.mark.parametrize(
    ("scenario", "icon"),
    [("default", IconState.OK), ("expiring", IconState.WARNING), ("expired", IconState.ERROR)],
)
def test_inserted_card_is_checked_and_the_icon_follows(
    daemon: tuple[Daemon, Recorder], vpcd: InsertCard, scenario: str, icon: IconState
) -> None:
    _, recorder = daemon
    assert icon_state(recorder.states[-1]) is IconState.IDLE
    plugged = vpcd(card(scenario))
    state = recorder.wait("the check", checked(READERS[0]))
    assert icon_state(state) is icon
    assert any(icon_state(s) is IconState.CHECKING for s in recorder.states)
    plugged.remove()
    state = recorder.wait("the empty reader", empty(READERS[0]))
    assert icon_state(state) is IconState.IDLE


def test_card_removed_mid_check_is_a_card_removal_not_a_reader_fault(
    daemon: tuple[Daemon, Recorder], vpcd: InsertCard
) -> None:
    _, recorder = daemon
    vpcd(card("default"), fault=Fault(drop_after=10))
    (report,) = recorder.wait_reports(1)
    failed = [i for i in report.items if i.status.rank >= 2]
    assert [(i.code, i.cause) for i in failed] == [("card_removed", Cause.CARD)]
    recorder.wait(
        "the reader to show the result or empty", lambda s: s.reader(READERS[0]) is not None
    )


def test_hundred_insert_remove_cycles_lose_no_event_and_no_thread(
    daemon: tuple[Daemon, Recorder], pcsc_bench: PcscBench
) -> None:
    watched, recorder = daemon
    cycles = 50  # per reader, both readers at once: 100 insertions

    def cycle(slot: int, count: int) -> None:
        plugged = VpcdCard(card("default"), reader_port(slot))
        for _ in range(count):
            plugged.insert()
            pcsc_bench.wait_card(READERS[slot], present=True, timeout=CARD_TIMEOUT)
            recorder.wait(f"check {slot}", checked(READERS[slot]))
            plugged.remove()
            recorder.wait(f"empty {slot}", empty(READERS[slot]))

    # Warm up: the first check of each reader starts the pool threads it will reuse.
    cycle(0, 1)
    cycle(1, 1)
    threads_before = threading.active_count()
    reports_before = len(recorder.reports)
    checks_before = watched.checks_started
    workers = [threading.Thread(target=cycle, args=(slot, cycles)) for slot in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not any(worker.is_alive() for worker in workers)
    reports = recorder.reports[reports_before:]
    assert len(reports) == 2 * cycles
    assert watched.checks_started - checks_before == 2 * cycles
    assert all(r.health is Health.OK for r in reports)
    for reader in READERS:
        assert sum(r.reader == reader for r in reports) == cycles
    assert threading.active_count() == threads_before


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_daemon_recovers_by_itself_when_pcscd_comes_back(
    daemon: tuple[Daemon, Recorder], pcsc_bench: PcscBench, vpcd: InsertCard, how: str
) -> None:
    _, recorder = daemon
    if how == "kill":
        pcsc_bench.kill()
    else:
        pcsc_bench.stop()
    state = recorder.wait("the service fault", lambda s: s.service_up is False)
    assert icon_state(state) is IconState.ERROR
    assert state.service_item is not None
    assert state.service_item.cause is Cause.SERVICE
    pcsc_bench.ensure_running()
    recorder.wait("the service back", lambda s: s.service_up is True)
    vpcd(card("default"))
    state = recorder.wait("the check after recovery", checked(READERS[0]))
    assert icon_state(state) is IconState.OK
