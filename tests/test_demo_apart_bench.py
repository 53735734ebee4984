"""The demo never touches real data: every ``--demo`` command, then a real ``cardwatch run``.

``check``, ``report``, ``status`` and ``run`` with ``--demo`` (the daemon run for a while as a
subprocess, then SIGTERM), then the real daemon on the pcscd + vpcd bench with a virtual card:
``status``, the report (text and HTML), ``history.json``, ``state.json`` and the notification
log name the bench reader and no demo reader or card; the demo's own data directory holds
the demo's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import READERS, InsertCard
from desktop import wait_for

from tray.demo import scenarios
from tray.model import Health
from tray.store.files import data_dir, demo_data_dir

pytestmark = pytest.mark.bench

#: every demo reader's name holds this; no bench reader's does
DEMO = "Demo Reader"


def environment(tmp_path: Path) -> dict[str, str]:
    """The test's private XDG dirs (conftest), no session bus, plain English output."""
    env = dict(os.environ, NO_COLOR="1", LANG="C.UTF-8", LANGUAGE="", TZ="UTC")
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path}/no-bus"
    env.pop("CARDWATCH_DATA_DIR", None)
    return env


def cardwatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tray", *args], capture_output=True, text=True, env=env, timeout=60
    )


def state_of(directory: Path) -> dict[str, object] | None:
    try:
        data = json.loads((directory / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def checked(directory: Path, reader: str) -> bool | None:
    """True once the daemon's state file shows ``reader``'s card checked."""
    data = state_of(directory)
    readers = data.get("readers", []) if data else []
    assert isinstance(readers, list)
    done = any(r.get("reader") == reader and r.get("phase") == "checked" for r in readers)
    return True if done else None


class Daemon:
    """``cardwatch run`` as a subprocess, stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        command = [sys.executable, "-m", "tray", "-v", "run", "--no-tray", *args]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    def alive(self) -> None:
        assert self.proc.poll() is None, self.log.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def files_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_a_real_run_after_every_demo_command_shows_no_demo_card(
    tmp_path: Path, vpcd: InsertCard, daemons: list[Daemon]
) -> None:
    env = environment(tmp_path)
    real, demo = data_dir(), demo_data_dir()
    assert real != demo

    # Every --demo command, the daemon among them.
    assert cardwatch(env, "check", "--demo", "expiring").returncode == Health.WARNING
    html = cardwatch(env, "report", "--demo", "expired", "--html")
    assert html.returncode == Health.CRITICAL, html.stderr
    assert Path(html.stdout.strip()).is_relative_to(demo)
    daemon = Daemon(env, tmp_path / "demo.log", "--demo", "default")
    daemons.append(daemon)
    wait_for("the demo daemon's check", lambda: daemon.alive() or checked(demo, scenarios.READER_1))
    running = cardwatch(env, "status", "--demo")
    assert running.returncode == Health.OK, running.stdout + running.stderr
    assert scenarios.READER_0 in running.stdout
    assert daemon.stop() == 0
    assert cardwatch(env, "report", "--demo").returncode == Health.OK
    # All of it went to the demo's directory: nothing of the real data dir exists but it.
    outside = [f for f in files_under(real) if not (real / f).is_relative_to(demo)]
    assert outside == []
    assert {"history.json", "state.json"} <= set(files_under(demo))
    assert DEMO in (demo / "history.json").read_text()

    # The real daemon, a real card on the bench.
    nothing = cardwatch(env, "status")
    assert nothing.returncode == Health.UNKNOWN
    assert DEMO not in nothing.stdout + nothing.stderr
    daemon = Daemon(env, tmp_path / "real.log", "--no-pkcs11", "--offline")
    daemons.append(daemon)
    now = datetime.now(timezone.utc)
    vpcd(scenarios.MoicaGen1Card(scenarios.moica_certs(now, 21), scenarios.DEMO_CARD_NUMBER))
    wait_for("the real daemon's check", lambda: daemon.alive() or checked(real, READERS[0]))

    status = cardwatch(env, "status", "--json")
    assert status.returncode == Health.WARNING, status.stderr
    assert DEMO not in status.stdout
    shown = json.loads(status.stdout)
    checked_readers = [r["reader"] for r in shown["state"]["readers"] if r["phase"] == "checked"]
    assert checked_readers == [READERS[0]]
    assert list(shown["latest"]) == [READERS[0]]
    text = cardwatch(env, "report")
    assert text.returncode == Health.WARNING, text.stderr
    assert READERS[0] in text.stdout and DEMO not in text.stdout
    page = cardwatch(env, "report", "--html")
    path = Path(page.stdout.strip())
    assert path.is_relative_to(real) and not path.is_relative_to(demo)
    assert READERS[0] in path.read_text() and DEMO not in path.read_text()
    assert daemon.stop() == 0
    for name in ("history.json", "state.json", "notifications.json"):
        assert DEMO not in (real / name).read_text(), name
    history = json.loads((real / "history.json").read_text())
    assert {e["reader"] for e in history["entries"]} == {READERS[0]}
    # The demo's data is still its own.
    assert DEMO in (demo / "history.json").read_text()
    assert READERS[0] not in (demo / "history.json").read_text()
