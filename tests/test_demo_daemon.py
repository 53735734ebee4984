"""``cardwatch run --demo clock-skew`` as a subprocess, its notification on a private bus.

While it runs, ``status --demo`` exits 2 and ``report --demo`` leads with the clock; a click
on the notification writes and opens the daemon's own report file, which a CLI report never
overwrites; SIGTERM withdraws every notification Cardwatch left open.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from desktop import wait_for
from notify_server import NotifyServer, dbus_unavailable, session_bus

from tray.model import Health
from tray.present.report import report_name
from tray.store.files import demo_data_dir

CLOCK = "Clock 8 h 0 min ahead — fix the time zone"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NotifyServer]:
    reason = dbus_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    with session_bus(str(tmp_path)) as address, NotifyServer(address) as running:
        yield running


def checked(data: Path) -> bool | None:
    try:
        state = json.loads((data / "state.json").read_text())
    except (OSError, ValueError):
        return None
    readers = state.get("readers", [])
    return True if readers and all(r.get("phase") == "checked" for r in readers) else None


def test_clock_skew_daemon_status_report_and_its_report_file_agree(
    server: NotifyServer, tmp_path: Path
) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    browser.chmod(0o755)
    env = dict(
        os.environ,
        DBUS_SESSION_BUS_ADDRESS=server.address,
        BROWSER=str(browser),
        NO_COLOR="1",
        LANG="C.UTF-8",
        LANGUAGE="",
    )
    env.pop("CARDWATCH_DATA_DIR", None)

    def cardwatch(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tray", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    log_path = tmp_path / "cardwatch.log"
    command = [sys.executable, "-m", "tray", "-v", "run", "--no-tray", "--demo", "clock-skew"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        (call,) = server.wait_calls(1)
        assert call.summary == CLOCK
        assert call.urgency == "critical"
        assert call.body.startswith("Check the time zone setting first")

        # The state file is written off the dispatcher thread: wait until it has the check.
        wait_for("the state file to hold the check", lambda: checked(demo_data_dir()))
        status = cardwatch("status", "--demo", "--json")
        assert status.returncode == Health.CRITICAL, status.stdout + status.stderr
        shown = json.loads(status.stdout)
        assert (shown["status"], shown["assessment"]["headline"]) == ("critical", CLOCK)
        text = cardwatch("status", "--demo")
        assert text.returncode == Health.CRITICAL
        assert text.stdout.startswith("Cardwatch is running")
        assert f"CRITICAL: {CLOCK}" in text.stdout

        report = cardwatch("report", "--demo")
        assert report.returncode == Health.CRITICAL, report.stderr
        assert report.stdout.startswith(f"CRITICAL: {CLOCK}\n")
        assert report.stdout.index("10 FAIL") < report.stdout.index("Reader: ")

        # A click on the notification: the daemon writes its own report file and opens it.
        daemons = demo_data_dir() / "reports" / report_name(None)

        def clicked() -> str | None:
            assert proc.poll() is None, log_path.read_text()
            server.invoke(call.id, "default")  # again until the daemon knows the id
            return daemons.as_uri() if opened.exists() else None

        wait_for("the daemon's report to open", clicked)
        theirs = daemons.read_text()
        assert "CRITICAL" in theirs and CLOCK in theirs

        page = cardwatch("report", "--demo", "--html")
        assert page.returncode == Health.CRITICAL, page.stderr
        mine = Path(page.stdout.strip())
        assert mine != daemons and mine.parent == daemons.parent
        assert "CRITICAL" in mine.read_text() and CLOCK in mine.read_text()
        # The tray's report file still says what the daemon said.
        assert daemons.read_text() == theirs
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log_path.read_text()
    assert "Traceback" not in log_path.read_text()


@pytest.mark.parametrize("scenario", ["pin-locked", "clock-skew"])
def test_quitting_withdraws_every_notification_left_open(
    server: NotifyServer, tmp_path: Path, scenario: str
) -> None:
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=server.address, LANG="C.UTF-8", LANGUAGE="")
    log_path = tmp_path / "cardwatch.log"
    command = [sys.executable, "-m", "tray", "-v", "run", "--no-tray", "--demo", scenario]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        (call,) = server.wait_calls(1)
        assert call.app_name == "Cardwatch" and call.urgency == "critical"
        assert server.live == {call.id} and server.closed == []
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log_path.read_text()
    # Its buttons would be dead once Cardwatch has quit: the server was told to close it.
    assert server.closed == [call.id]
    assert server.live == set()
    assert "Traceback" not in log_path.read_text()
