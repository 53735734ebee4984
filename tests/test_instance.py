"""One daemon per session: the lock file, and a second ``cardwatch run`` that stands down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tray.store import instance
from tray.store.instance import AlreadyRunning, InstanceError, InstanceLock


def test_second_acquire_sees_the_first_and_its_pid(tmp_path: Path) -> None:
    path = tmp_path / "run" / "cardwatch.lock"
    first = instance.acquire(path)
    assert isinstance(first, InstanceLock)
    try:
        second = instance.acquire(path)
        assert second == AlreadyRunning(os.getpid())
        assert instance.running_pid(path) == os.getpid()
    finally:
        first.release()
    assert instance.running_pid(path) is None
    again = instance.acquire(path)
    assert isinstance(again, InstanceLock)
    again.release()


def test_lock_of_a_killed_daemon_is_free_at_once(tmp_path: Path) -> None:
    path = tmp_path / "cardwatch.lock"
    code = (
        "import sys, time; from pathlib import Path; from tray.store import instance; "
        f"lock = instance.acquire(Path({str(path)!r})); print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        assert instance.running_pid(path) == child.pid
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # No stale lock: the kernel let go when the process died, though the file is still there.
    assert path.exists()
    assert instance.running_pid(path) is None
    lock = instance.acquire(path)
    assert isinstance(lock, InstanceLock)
    lock.release()


def test_unwritable_lock_directory_is_a_named_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(InstanceError) as raised:
        instance.acquire(blocker / "cardwatch.lock")
    assert raised.value.path == blocker / "cardwatch.lock"
    assert raised.value.reason


def _cardwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "tray", *args]


def test_second_cardwatch_run_does_not_start_a_second_daemon(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path / "runtime"), "LANGUAGE": "en"}
    (tmp_path / "runtime").mkdir(mode=0o700)
    first = subprocess.Popen(
        _cardwatch("run", "--demo", "--no-tray"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = tmp_path / "runtime" / "cardwatch" / "cardwatch.lock"
        deadline = time.monotonic() + 20
        while instance.running_pid(lock) != first.pid:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the first daemon never took the lock"
            time.sleep(0.05)
        second = subprocess.run(
            _cardwatch("run", "--demo", "--no-tray"),
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 0
        assert f"already running (pid {first.pid})" in second.stdout
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(20)
    assert first.returncode == 0


def test_daemon_logs_to_its_file_and_survives_an_unwritable_one(tmp_path: Path) -> None:
    import logging

    from tray.store import logfile

    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        path = logfile.attach(path=tmp_path / "logs" / "cardwatch.log")
        assert path == tmp_path / "logs" / "cardwatch.log"
        logging.getLogger("tray.test").info("state ok: %s", "Reader 0")
        for handler in root.handlers:
            handler.flush()
        assert "INFO" in path.read_text(encoding="utf-8")
        blocker = tmp_path / "file"
        blocker.write_text("x")
        assert logfile.attach(path=blocker / "cardwatch.log") is None
    finally:
        for handler in root.handlers[:]:
            if handler not in before[0]:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(before[1])


def test_without_a_runtime_dir_the_lock_is_in_the_state_dir_and_nothing_is_printed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert instance.lock_path() == tmp_path / "state" / "cardwatch" / instance.LOCK_NAME
    assert not [w for w in recwarn if "runtime" in str(w.message).lower()]
