"""Resilience: hostile files under a running ``cardwatch run --no-tray``.

Truncated and corrupt history.json, state.json, notifications.json and config.toml; a data
directory mounted read-only; a data directory on a tiny tmpfs that is full. Each time the
daemon names the file and the cause, keeps running (it checks a card afterwards), never shows
a traceback, and nothing already stored is lost: unusable files are set aside, not deleted,
and a file it cannot replace is byte-for-byte what it was.

Mounting needs root: tests/run.sh runs pytest as root in a private mount namespace, so the
mounts here are seen by this process and its children only.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from bench import PcscBench
from conftest import CARD_TIMEOUT, READERS, InsertCard, _in_ci
from resilience import Cardwatch

from tray.check.run import CheckOptions, check_one
from tray.clock import SystemClock
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.net import NetworkChecks
from tray.store.history import History

pytestmark = [pytest.mark.bench, pytest.mark.resilience]


@pytest.fixture
def bench(pcsc_bench: PcscBench) -> PcscBench:
    pcsc_bench.ensure_running()
    return pcsc_bench


@pytest.fixture
def cardwatch() -> Iterator[Callable[[], Cardwatch]]:
    started: list[Cardwatch] = []

    def start() -> Cardwatch:
        daemon = Cardwatch()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        code = daemon.stop()
        output = "\n".join(daemon.lines)
        assert "Traceback" not in output, output
        assert code == 0, output


def data_dir() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "cardwatch"


def config_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "cardwatch" / "config.toml"


def default_card():  # type: ignore[no-untyped-def]
    card = next(iter(scenarios.build("default", datetime.now(timezone.utc)).values()))
    assert card is not None
    return card


def checks_a_card(daemon: Cardwatch, vpcd: InsertCard, bench: PcscBench) -> None:
    """The daemon still works: a card inserted now is checked and the reader goes back to empty."""
    before = len(daemon.lines)
    plugged = vpcd(default_card())
    daemon.wait_line(
        "with the check result",
        lambda line: "state ok:" in line and line not in daemon.lines[:before],
    )
    plugged.remove()
    bench.wait_card(READERS[0], present=False, timeout=CARD_TIMEOUT)
    assert daemon.proc.poll() is None


HOSTILE = {
    "truncated": {
        "history.json": b'{"schema": "cardwatch.history/1", "ent',
        "notifications.json": b'{"schema": "cardwa',
        "state.json": b'{"schema": "cardwatch.state/1", "read',
        "config.toml": b"[check]\nwarn_days = ",
    },
    "corrupt": {
        "history.json": b"\x00\xff\xfe garbage \x9c",
        "notifications.json": b'{"told": 17}',
        "state.json": b"[[[[[[[[[[[[[[[[ not json",
        "config.toml": b"\xff\xfe[[[ = = ]\x00",
    },
}


@pytest.mark.parametrize("damage", list(HOSTILE))
def test_hostile_files_are_named_with_advice_and_the_daemon_keeps_working(
    damage: str, cardwatch: Callable[[], Cardwatch], vpcd: InsertCard, bench: PcscBench
) -> None:
    files = HOSTILE[damage]
    config = config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    data_dir().mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (config if name == "config.toml" else data_dir() / name).write_bytes(content)
    daemon = cardwatch()
    # The history and the notification log: named, and set aside (never deleted) unchanged.
    for name in ("history.json", "notifications.json"):
        message = daemon.wait_line(
            f"naming {name}", lambda line, n=name: "WARNING" in line and n in line
        )
        assert "moved it aside to" in message, message
        (aside,) = data_dir().glob(f"{name}.corrupt-*")
        assert aside.read_bytes() == files[name]
        assert str(aside) in message
    # The config file: named, with what is used instead; the user's file is never rewritten.
    message = daemon.wait_line("naming config.toml", lambda line: "config.toml" in line)
    assert "using the default" in message, message
    assert config.read_bytes() == files["config.toml"]
    checks_a_card(daemon, vpcd, bench)
    # state.json is the daemon's own snapshot of now: it is simply replaced by a valid one.
    # (`cardwatch status` sets a corrupt one aside with a message; see tests/test_status.py.)
    assert json.loads((data_dir() / "state.json").read_text())["schema"] == "cardwatch.state/1"


def _root_or_skip(what: str) -> None:
    if os.geteuid() != 0:
        reason = f"{what} needs root for mount (sudo bash tests/run.sh)"
        if _in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def tmpfs_data_dir() -> Iterator[Callable[[str], Path]]:
    """``mount(options)``: a tmpfs on the data dir; unmounted at teardown."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        _root_or_skip("a tmpfs data directory")
        target = data_dir()
        target.mkdir(parents=True, exist_ok=True)
        _mount("-t", "tmpfs", "-o", options, "tmpfs", str(target))
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def stored_history(path: Path) -> bytes:
    """Write a real history with one check in it to ``path``; return its bytes."""
    clock = SystemClock()
    readers = scenarios.build("default", clock.now())
    name = next(iter(readers))
    report = check_one(SimBackend(readers), name, clock, CheckOptions(network=NetworkChecks.off()))
    with History(path, clock) as history:
        history.record(report.readers[0], clock.now())
    return path.read_bytes()


def test_read_only_data_dir_is_named_and_stored_history_survives(
    tmpfs_data_dir: Callable[[str], Path],
    cardwatch: Callable[[], Cardwatch],
    vpcd: InsertCard,
    bench: PcscBench,
) -> None:
    target = tmpfs_data_dir("size=1m,mode=0700")
    old = stored_history(target / "history.json")
    _mount("-o", "remount,ro", str(target))
    daemon = cardwatch()
    message = daemon.wait_line(
        "about the read-only directory", lambda line: "Read-only file system" in line
    )
    assert str(target) in message, message
    assert "make the directory writable" in message, message
    checks_a_card(daemon, vpcd, bench)
    daemon.wait_line(
        "about history.json", lambda line: "history.json" in line and "Read-only" in line
    )
    assert (target / "history.json").read_bytes() == old
    assert daemon.proc.poll() is None


def test_full_disk_is_named_and_nothing_stored_is_lost(
    tmpfs_data_dir: Callable[[str], Path],
    cardwatch: Callable[[], Cardwatch],
    vpcd: InsertCard,
    bench: PcscBench,
) -> None:
    target = tmpfs_data_dir("size=256k,mode=0700")
    old = stored_history(target / "history.json")
    assert len(old) < 200 * 1024
    filler = target / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass  # ENOSPC: the disk is full now
    daemon = cardwatch()
    checks_a_card(daemon, vpcd, bench)
    message = daemon.wait_line(
        "about the full disk", lambda line: "history.json" in line and "No space left" in line
    )
    assert "WARNING" in message, message
    assert "the disk is full: free some space" in message, message
    assert (target / "history.json").read_bytes() == old
    assert not list(target.glob(".history.json.*.tmp")), "a temporary file was left behind"
    assert daemon.proc.poll() is None
    # Space again: the pending write goes through, with the old entry and the new one.
    filler.unlink()
    daemon.wait_line("saving again", lambda line: "cw-history: saving works again" in line)
    entries = json.loads((target / "history.json").read_text())["entries"]
    assert len(entries) == 2
