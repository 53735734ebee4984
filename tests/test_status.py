"""``cardwatch status``: the saved state and recent checks, exit codes like ``check``."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from helpers import FixedClock
from test_daemon import Idle, insert
from test_daemon_bench import Recorder, checked

from tray.app import demo_parts
from tray.check.run import run_check
from tray.cli import main
from tray.clock import SystemClock
from tray.daemon.core import Daemon, DaemonOptions
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo.backend import SimBackend
from tray.demo.scenarios import READER_0, READER_1, build
from tray.i18n import set_language
from tray.model import CheckItem, ItemId, ReaderReport, Status
from tray.present.status import daemon_running, state_from_dict
from tray.store.history import History, Owner, history_path, state_document, state_path

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def reports(scenario: str) -> tuple[ReaderReport, ...]:
    return run_check(SimBackend(build(scenario, NOW)), FixedClock(NOW)).readers


def state_of(*readers: ReaderReport) -> DaemonState:
    state = DaemonState(service_up=True, updated_at=NOW)
    for report in readers:
        state = state.with_reader(ReaderState(report.reader, Phase.CHECKED, report, since=NOW))
    return state


def save(state: DaemonState, *checked: ReaderReport, stopped: bool = False) -> None:
    """Save as the running daemon would (this test process is the 'daemon')."""
    history = History(history_path(), FixedClock(NOW))
    for n, report in enumerate(checked):
        history.record(report, NOW + timedelta(seconds=n))
    history.save_state(state)
    assert history.flush()
    if stopped:
        history.close()


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["status", *args])
    return code, capsys.readouterr().out


def test_no_state_file_says_how_to_start_cardwatch_and_exits_unknown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = status(capsys)
    assert code == 3
    assert out == (
        "Cardwatch is not running / has not checked a card yet: start it with 'cardwatch run'.\n"
    )
    code, out = status(capsys, "--json")
    document = json.loads(out)
    assert code == 3 and document["status"] == "unknown" and document["state"] is None
    assert "cardwatch run" in document["message"]


def test_running_daemon_shows_icon_one_line_per_reader_and_last_checks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    moica, piv = reports("default")
    save(state_of(moica, piv), moica, piv)
    code, out = status(capsys)
    assert code == 0
    lines = out.splitlines()
    assert (
        lines[0] == f"Cardwatch is running (pid {os.getpid()}); state of 2026-12-01 12:00:00 (UTC)"
    )
    assert lines[1] == "Icon: green ✓, all fine"
    assert lines[2] == "OK: Every card checked is fine. Nothing to do."
    assert lines[3] == f"  {READER_0}: MOICA card TP0317… — OK, valid 412 days"
    assert lines[4].startswith(f"  {READER_1}: PIV card ")
    assert lines[5] == "Last checks:"
    assert lines[6].startswith(f"  2026-12-01 12:00:01 (UTC)  {READER_1}  ")  # newest first
    assert (
        lines[7] == f"  2026-12-01 12:00:00 (UTC)  {READER_0}  TP03170000012345  OK, 412 days left"
    )


@pytest.mark.parametrize(
    ("scenario", "code", "icon", "last"),
    [
        ("expiring", 1, "amber !, warning", "warning (certificate expires soon), 21 days left"),
        ("expired", 2, "red ✕, error", "critical (certificate expired), expired 30 days ago"),
        ("pin-locked", 2, "red ✕, error", "critical (PIN locked), 800 days left"),
        ("unknown-card", 3, "grey ○, no reader or no card", "unknown"),
    ],
)
def test_exit_code_and_icon_follow_the_cards(
    capsys: pytest.CaptureFixture[str], scenario: str, code: int, icon: str, last: str
) -> None:
    (report,) = reports(scenario)
    save(state_of(report), report)
    got, out = status(capsys)
    assert got == code
    assert f"Icon: {icon}" in out
    assert out.splitlines()[-1].endswith(last)


def test_service_down_is_critical_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    item = CheckItem(ItemId.SERVICE, Status.FAIL, "PC/SC service not reachable (gone)")
    save(DaemonState(service_up=False, service_item=item, updated_at=NOW))
    code, out = status(capsys)
    assert code == 2
    assert out.splitlines()[1:] == [
        "Icon: red ✕, error",
        "CRITICAL: PC/SC service not reachable (gone)",
        "  PC/SC service not reachable (gone)",
    ]


def test_stopped_daemon_shows_its_last_state_and_exits_unknown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    moica, _piv = reports("default")
    save(state_of(moica), moica, stopped=True)
    code, out = status(capsys)
    assert code == 3
    lines = out.splitlines()
    assert lines[0] == "Cardwatch is not running; its last state, of 2026-12-01 12:00:00 (UTC)"
    assert lines[-1] == "Start it with 'cardwatch run'."


def test_a_checking_reader_still_counts_its_last_result(capsys: pytest.CaptureFixture[str]) -> None:
    (expired,) = reports("expired")
    state = state_of(expired).with_reader(ReaderState(READER_0, Phase.CHECKING, expired, NOW))
    save(state)
    code, out = status(capsys)
    assert code == 2
    assert "Icon: blue …, checking" in out and f"{READER_0}: checking…" in out


def test_corrupt_state_file_is_set_aside_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = state_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"schema": "cardwatch.state/1", "readers": [{"phase": "sideways"}]}')
    with caplog.at_level(logging.WARNING):
        code, out = status(capsys)
    assert code == 3
    (moved,) = path.parent.glob("state.json.corrupt-*")
    assert out.splitlines() == [
        f"The state file {path} was unusable (malformed content: KeyError('reader')); "
        f"it was set aside as {moved}.",
        "Cardwatch is not running / has not checked a card yet: start it with 'cardwatch run'.",
    ]
    assert not path.exists()


def test_truncated_state_file_is_set_aside(capsys: pytest.CaptureFixture[str]) -> None:
    moica, _piv = reports("default")
    save(state_of(moica))
    path = state_path()
    path.write_bytes(path.read_bytes()[:100])
    code, out = status(capsys, "--json")
    document = json.loads(out)
    assert code == 3 and document["state"] is None
    assert "set aside" in document["message"]
    assert len(list(path.parent.glob("state.json.corrupt-*"))) == 1


def test_json_form_holds_state_recent_checks_and_latest_reports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    moica, piv = reports("default")
    save(state_of(moica, piv), moica, piv)
    code, out = status(capsys, "--json")
    document = json.loads(out)
    assert code == 0 and document["exit_code"] == 0
    assert document["schema"] == "cardwatch.status/1"
    assert document["status"] == "ok" and document["running"] is True
    assert document["message"] is None
    assert [r["phase"] for r in document["state"]["readers"]] == ["checked", "checked"]
    assert [e["reader"] for e in document["recent"]] == [READER_1, READER_0]
    assert document["latest"][READER_0]["report"]["card"]["number"] == "TP03170000012345"


def test_state_document_reads_back_into_the_same_reports() -> None:
    for scenario in ("default", "pin-final-try", "openpgp", "mute", "bad-der"):
        original = state_of(*reports(scenario))
        document = json.loads(json.dumps(state_document(original, Owner.this_process())))
        again = state_from_dict(document)
        assert [r.report for r in again.readers] == [r.report for r in original.readers]
        assert again.service_up is True and again.updated_at == NOW


def test_status_speaks_traditional_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    moica, _piv = reports("default")
    save(state_of(moica), moica)
    code = main(["--lang", "zh_TW", "status"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[1] == "圖示：綠色 ✓，一切正常"
    assert "最近的檢查：" in out


def test_whether_the_daemon_runs_comes_from_its_pid_and_host() -> None:
    child = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    host = socket.gethostname()
    assert daemon_running({"running": True, "pid": int(child.stdout), "host": host}) is False
    assert daemon_running({"running": True, "pid": os.getpid(), "host": host}) is True
    assert daemon_running({"running": True, "pid": os.getpid(), "host": "elsewhere"}) is None
    assert daemon_running({"running": False, "pid": os.getpid(), "host": host}) is False


def test_the_single_instance_lock_settles_whether_the_daemon_runs() -> None:
    from tray.store import instance

    me = {"running": True, "pid": os.getpid(), "host": socket.gethostname()}
    lock = instance.acquire()
    assert isinstance(lock, instance.InstanceLock)
    assert daemon_running({**me, "host": "elsewhere"}) is True
    lock.release()
    # The lock file is still there but free: the daemon has ended, whatever its pid says.
    assert daemon_running(me) is False


def test_status_of_a_live_demo_daemon(capsys: pytest.CaptureFixture[str]) -> None:
    clock = SystemClock()
    _source, checker = demo_parts("expiring", clock)
    daemon = Daemon(Idle(), checker, clock, DaemonOptions(settle_seconds=0.01))
    history = History.open_default(clock)
    daemon.on_report(history.record)
    daemon.on_state(history.save_state)
    recorder = Recorder(daemon)
    daemon.start()
    try:
        insert(daemon)
        recorder.wait("checked", checked(READER_0))
        assert history.flush()
        code, out = status(capsys)
    finally:
        daemon.stop()
        history.close()
    assert code == 1, out
    assert f"  {READER_0}: MOICA card TP0317… — Expires in 21 days — renew" in out.splitlines()
