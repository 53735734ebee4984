"""The diagnosis on the real bench: pcscd + both vpcd readers, the real daemon and history.

Reader 0's port is made faulty: whatever card is put in it gets its answers garbled (the
fault belongs to the port, not to the card). The same virtual card, moved between the two
readers, fails on reader 0 and reads fine on reader 1, and other cards fail on reader 0 too:
the verdict names reader 0. A card that fails on both readers is then named itself. The
verdict shows in the tooltip, in both reports, and is notified once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import pytest
from bench import PcscBench
from conftest import READERS, InsertCard
from test_daemon_bench import Recorder

from tray.app import diagnoser, pcsc_parts
from tray.clock import SystemClock
from tray.daemon.core import Daemon, DaemonOptions
from tray.daemon.diagnosis import Culprit, Verdict
from tray.daemon.state import DaemonState, Phase, tooltip
from tray.demo.card import Fault, VirtualCard
from tray.demo.cards import ErrorCard, MoicaGen1Card, PivCard
from tray.demo.scenarios import moica_certs, piv_certs
from tray.i18n import set_language
from tray.notify.dispatch import Notifications
from tray.notify.policy import DIAGNOSIS_SLOT, Notice, NotifySettings
from tray.present.report import as_check_report, write_report
from tray.present.report_text import render_report_text
from tray.store.history import History
from tray.store.notifylog import LogFile

FAULTY, GOOD = 0, 1
#: the faulty port: every card inserted into reader 0 has its answers garbled
PORT_FAULTS = {FAULTY: Fault(garble=True)}


class Shown:
    """A notification backend that records what it is asked to show."""

    name = "recording"

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def show(self, notice: Notice) -> None:
        self.notices.append(notice)

    def withdraw(self, slot: str) -> None:
        pass

    def flush(self, timeout: float = 1.0) -> bool:
        return True

    def close(self) -> None:
        pass

    def diagnoses(self) -> list[Notice]:
        return [n for n in self.notices if n.slot.startswith(DIAGNOSIS_SLOT)]


@dataclass
class Bench:
    daemon: Daemon
    recorder: Recorder
    history: History
    shown: Shown
    vpcd: InsertCard
    checks: int = 0

    def check(self, card: VirtualCard, slot: int) -> DaemonState:
        """Put ``card`` into reader ``slot`` (through its port's fault), wait for the check
        and its diagnosis, take the card out again; the state after the check."""
        reader = READERS[slot]
        plugged = self.vpcd(card, slot, PORT_FAULTS.get(slot))
        self.checks += 1
        wanted = self.checks

        def diagnosed(state: DaemonState) -> bool:
            slot_state = state.reader(reader)
            return (
                slot_state is not None
                and slot_state.phase is Phase.CHECKED
                and len(self.history.entries()) >= wanted
                and any(v.reader == reader for v in state.diagnoses)
            )

        state = self.recorder.wait(f"check {wanted} on {reader}", diagnosed)
        plugged.remove()
        self.recorder.wait(f"{reader} empty", lambda s: _phase(s, reader) is Phase.EMPTY)
        return state


def _phase(state: DaemonState, reader: str) -> Phase | None:
    slot = state.reader(reader)
    return slot.phase if slot else None


def verdict_of(state: DaemonState, reader: str) -> Verdict:
    return next(v for v in state.diagnoses if v.reader == reader)


@pytest.fixture
def bench(pcsc_bench: PcscBench, vpcd: InsertCard, tmp_path: Path) -> Iterator[Bench]:
    set_language("en")
    pcsc_bench.ensure_running()
    clock = SystemClock()
    source, checker = pcsc_parts(clock, [])
    daemon = Daemon(source, checker, clock, DaemonOptions(settle_seconds=0.05))
    history = History(tmp_path / "history.json", clock)
    daemon.on_report(history.record)
    daemon.diagnose_with(diagnoser(history, clock))
    shown = Shown()

    def write(reader: str | None) -> Path:
        return write_report(daemon.state, tmp_path / "reports", reader=reader)

    notifications = Notifications(
        NotifySettings(),
        clock,
        write,
        lambda path: True,
        LogFile(tmp_path / "notifications.json", clock),
        backend=lambda callbacks, report_file: shown,
    )
    daemon.on_state(notifications.on_state)
    recorder = Recorder(daemon)
    daemon.start()
    recorder.wait("both readers", lambda s: all(s.reader(r) for r in READERS))
    try:
        yield Bench(daemon, recorder, history, shown, vpcd)
    finally:
        daemon.stop()
        notifications.close()
        history.close()


def moica(number: str) -> MoicaGen1Card:
    return MoicaGen1Card(moica_certs(datetime.now(timezone.utc), 412), number)


def test_a_faulty_port_is_named_and_then_a_card_failing_everywhere(
    bench: Bench, tmp_path: Path
) -> None:
    faulty, good = READERS[FAULTY], READERS[GOOD]
    card_a = moica("TP03170000000001")
    # One failure alone proves nothing.
    state = bench.check(card_a, FAULTY)
    first = verdict_of(state, faulty)
    assert first.culprit is Culprit.NOT_ENOUGH_EVIDENCE
    assert [i.code for i in state.reader(faulty).report.items if i.status.rank >= 3] == [  # type: ignore[union-attr]
        "transmission_failed"
    ]
    # The same card, moved to the other reader, reads fine.
    state = bench.check(card_a, GOOD)
    assert verdict_of(state, good).culprit is Culprit.NONE
    # Other cards fail on the faulty port too.
    bench.check(moica("TP03170000000002"), FAULTY)
    state = bench.check(PivCard(piv_certs(datetime.now(timezone.utc), 800), pin_tries=3), FAULTY)
    verdict = verdict_of(state, faulty)
    assert verdict.culprit is Culprit.READER
    assert verdict.subject == f"reader:{faulty}"
    assert verdict.evidence.reader_failures == 3 and verdict.evidence.reader_checks == 3
    assert verdict.evidence.good_elsewhere is not None
    assert verdict.evidence.good_elsewhere[0] == good
    assert verdict.evidence.failing_cards == 2

    # The tray tooltip and both reports say so.
    assert f"Reader '{faulty}' is probably faulty: 3 of the last 3 checks" in tooltip(state)
    entries = bench.history.entries()
    page = write_report(state, tmp_path / "reports", history=entries).read_text("utf-8")
    assert 'id="diagnosis"' in page
    assert escape(f"Reader '{faulty}' is probably faulty") in page
    assert "based on 3 checks" in page
    text = render_report_text(as_check_report(state), entries)
    assert "Diagnosis" in text and f"Reader '{faulty}' is probably faulty" in text

    # Notified once; the same verdict after another failing card is not told again.
    told = bench.shown.diagnoses()
    assert [n.slot for n in told] == [f"{DIAGNOSIS_SLOT}reader:{faulty}"]
    assert told[0].title == "Card reader probably faulty"
    assert "another reader" in told[0].body
    state = bench.check(moica("TP03170000000003"), FAULTY)
    assert verdict_of(state, faulty).culprit is Culprit.READER
    assert len(bench.shown.diagnoses()) == 1

    # A card that fails on both readers: the card is named, and told about.
    broken = ErrorCard()
    bench.check(broken, FAULTY)
    state = bench.check(broken, GOOD)
    verdict = verdict_of(state, good)
    assert verdict.culprit is Culprit.CARD
    assert verdict.evidence.failed_readers == (faulty, good)
    assert verdict.subject.startswith("card:")
    assert "This card failed on 2 different readers" in tooltip(state)
    told = bench.shown.diagnoses()
    assert [n.slot for n in told][-1] == f"{DIAGNOSIS_SLOT}{verdict.subject}"
    assert told[-1].title == "Card probably damaged"
    page = write_report(state, tmp_path / "reports", history=bench.history.entries()).read_text(
        "utf-8"
    )
    assert "This card failed on 2 different readers: its chip may be damaged" in page
