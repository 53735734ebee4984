"""tray.app.build_runtime: what ``cardwatch run`` runs, wired once, with its parts injected."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from test_daemon_bench import Recorder, checked

from tray import app
from tray.app import RunOptions, build_runtime
from tray.clock import SystemClock
from tray.demo.scenarios import READER_0, READER_1
from tray.notify.backends import Callbacks
from tray.notify.policy import Notice
from tray.present.report import report_name
from tray.ui.menu import Action, Entry, build_menu

READERS = (READER_0, READER_1)


class Backend:
    """A notification backend that only records what it is handed."""

    name = "recording"

    def __init__(self) -> None:
        self.shown: list[Notice] = []
        self.closed = threading.Event()

    def show(self, notice: Notice) -> None:
        self.shown.append(notice)

    def withdraw(self, slot: str) -> None:
        pass

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def close(self) -> None:
        self.closed.set()


def test_the_runtime_records_notifies_and_writes_every_file(tmp_path: Path) -> None:
    backend = Backend()
    opened: list[Path] = []

    def make(callbacks: Callbacks, report_file: Callable[[Notice], Path | None]) -> Backend:
        return backend

    textfile = tmp_path / "cardwatch.prom"
    data = tmp_path / "data"
    options = RunOptions(demo="expired", tray=False, prometheus_textfile=str(textfile))
    runtime = build_runtime(
        options, SystemClock(), data=data, notify_backend=make, open_report=opened.append
    )
    assert runtime.notifications.backend is backend
    recorder = Recorder(runtime.daemon)  # listeners added now run after the runtime's own
    runtime.start()
    try:
        recorder.wait("the card checked", checked(READER_0))
        assert runtime.flush()
        report = runtime.write_report(READER_0)
    finally:
        runtime.stop()
    assert backend.closed.is_set()
    assert [n.reader for n in backend.shown] == [READER_0]
    history = json.loads((data / "history.json").read_text())
    assert [e["reader"] for e in history["entries"]] == [READER_0]
    assert json.loads((data / "state.json").read_text())["readers"]
    assert (data / "notifications.json").exists()
    assert report.parent == runtime.report_dir == data / "reports"
    assert "cardwatch_" in textfile.read_text()
    assert opened == []


def test_a_cards_menu_line_opens_that_readers_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Path] = []
    done = threading.Event()

    def open_file(path: Path) -> bool:
        opened.append(path)
        done.set()
        return True

    monkeypatch.setattr(app, "open_file", open_file)
    options = RunOptions(demo="default", tray=False)
    runtime = build_runtime(options, SystemClock(), data=tmp_path / "data")
    recorder = Recorder(runtime.daemon)
    runtime.start()
    try:
        recorder.wait("both cards checked", lambda s: all(checked(r)(s) for r in READERS))
        actions = app._TrayActions(runtime.daemon, threading.Event(), runtime.report_dir)
        (line,) = [
            e
            for e in build_menu(runtime.daemon.state)
            if isinstance(e, Entry) and e.reader == READER_1
        ]
        assert line.action is Action.OPEN_READER_REPORT
        getattr(actions, line.action.value)(*line.arguments)  # as the tray calls it
        assert done.wait(15)
        # The same file a notification's click about that reader writes.
        assert opened == [runtime.report_dir / report_name(READER_1)]
        page = opened[0].read_text()
        assert READER_1 in page and READER_0 not in page
    finally:
        runtime.stop()
