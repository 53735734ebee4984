"""Durable files: atomic replacement, failures that keep the old file, corrupt files set aside."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tray.store.files import (
    Coalescer,
    StorageError,
    atomic_write_bytes,
    atomic_write_text,
    load_json,
    read_json,
)

OLD = '{"schema": "x/1", "kept": true}\n'


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _mount(*args: str) -> str | None:
    """Run mount; the error text if it failed."""
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else (done.stderr.strip() or f"mount {args} failed")


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only; run.sh runs pytest in a private mount namespace)."""
    if not _as_root():
        pytest.skip("mounting a tiny tmpfs needs root")
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    error = _mount("-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mountpoint))
    if error is not None:
        pytest.skip(f"cannot mount a tmpfs here: {error}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def test_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    atomic_write_text(path, OLD)
    atomic_write_text(path, "新的內容\n")
    assert path.read_text(encoding="utf-8") == "新的內容\n"
    assert _leftovers(path.parent, {"state.json"}) == []


def test_files_get_exactly_their_mode_whatever_the_old_files_mode(tmp_path: Path) -> None:
    private = tmp_path / "history.json"
    atomic_write_text(private, OLD)
    assert private.stat().st_mode & 0o777 == 0o600
    shared = tmp_path / "cardwatch.prom"
    atomic_write_text(shared, "a 1\n", mode=0o644)
    assert shared.stat().st_mode & 0o777 == 0o644
    # An old, looser file (personal data) is tightened, not kept as it was.
    os.chmod(private, 0o644)
    atomic_write_text(private, "{}")
    assert private.stat().st_mode & 0o777 == 0o600


def test_full_disk_write_fails_with_storage_error_and_keeps_the_old_file(
    tiny_tmpfs: Path,
) -> None:
    path = tiny_tmpfs / "history.json"
    atomic_write_text(path, OLD)
    # Fill the file system to the last block.
    with open(tiny_tmpfs / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == 28
    with pytest.raises(StorageError) as raised:
        atomic_write_bytes(path, b"x" * 48 * 1024)
    assert raised.value.path == path
    assert raised.value.reason == os.strerror(28)  # ENOSPC: "No space left on device"
    assert path.read_text() == OLD
    assert _leftovers(tiny_tmpfs, {"history.json", "filler"}) == []


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory holding OLD in state.json that cannot be written to, even by root."""
    directory = tmp_path / "ro"
    directory.mkdir()
    if _as_root():
        error = _mount("-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(directory))
        if error is not None:
            pytest.skip(f"cannot mount a tmpfs here: {error}")
        (directory / "state.json").write_text(OLD)
        error = _mount("-o", "remount,ro", str(directory))
        try:
            if error is not None:
                pytest.skip(f"cannot remount read-only: {error}")
            yield directory
        finally:
            subprocess.run(["umount", "-l", str(directory)], check=False)
    else:
        (directory / "state.json").write_text(OLD)
        directory.chmod(0o555)
        try:
            yield directory
        finally:
            directory.chmod(0o755)


def test_read_only_directory_write_fails_with_storage_error_and_keeps_the_old_file(
    read_only_dir: Path,
) -> None:
    path = read_only_dir / "state.json"
    with pytest.raises(StorageError) as raised:
        atomic_write_text(path, "new")
    assert raised.value.path == path
    assert raised.value.reason  # "Read-only file system" or "Permission denied"
    assert str(path) in str(raised.value)
    assert path.read_text() == OLD
    assert _leftovers(read_only_dir, {"state.json"}) == []


def test_a_file_where_the_directory_should_be_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(StorageError):
        atomic_write_text(tmp_path / "data" / "history.json", OLD)


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (OLD[:15].encode(), "not valid JSON"),
        (b"", "the file is empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"schema": "x/2"}', "expected schema x/1"),
        (b"[1, 2]", "expected schema x/1"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
    ids=["truncated", "empty", "binary", "other-schema", "not-an-object", "too-deep"],
)
def test_corrupt_file_is_set_aside_with_one_warning_and_reads_as_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, cause: str
) -> None:
    path = tmp_path / "history.json"
    path.write_bytes(content)
    neighbour = tmp_path / "state.json"
    neighbour.write_text(OLD)
    with caplog.at_level(logging.WARNING, logger="tray.store.files"):
        assert load_json(path, "history", schema="x/1") is None
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("history.json.corrupt-")]
    assert len(moved) == 1
    assert moved[0].read_bytes() == content  # set aside, never deleted
    assert not path.exists()
    assert neighbour.read_text() == OLD
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(path) in message and str(moved[0]) in message and cause in message


def test_missing_file_reads_as_none_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        loaded = read_json(tmp_path / "nothing.json", "history")
    assert loaded.data is None and loaded.problem is None
    assert caplog.records == []


def test_unreadable_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()  # reading a directory fails, whoever we are
    loaded = read_json(path, "state")
    assert loaded.data is None
    assert loaded.problem is not None and "cannot read" in loaded.problem
    assert loaded.moved_to is not None and loaded.moved_to.is_dir()


def test_two_corrupt_files_in_one_second_are_both_kept(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    path = directory / "history.json"
    for content in (b"{", b"[["):
        path.write_bytes(content)
        assert load_json(path, "history") is None
    moved = sorted(p.read_bytes() for p in directory.iterdir())
    assert moved == [b"[[", b"{"]


def test_good_file_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    atomic_write_text(path, OLD)
    assert load_json(path, "state", schema="x/1") == {"schema": "x/1", "kept": True}


class Gate:
    """A write function that records what it wrote; the first write waits for ``open``."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.entered = threading.Event()
        self.open = threading.Event()

    def write(self, value: int) -> None:
        self.entered.set()
        assert self.open.wait(10)
        self.written.append(value)


def test_burst_while_a_write_runs_costs_one_more_write_with_the_latest_value() -> None:
    gate = Gate()
    writer: Coalescer[int] = Coalescer("test-writer", gate.write, min_interval=0.01)
    writer.submit(0)
    assert gate.entered.wait(10)
    for value in range(1, 101):
        writer.submit(value)
    gate.open.set()
    assert writer.flush(10)
    writer.close()
    assert gate.written == [0, 100]


def test_close_writes_the_pending_value_at_once() -> None:
    gate = Gate()
    gate.open.set()
    writer: Coalescer[int] = Coalescer("test-writer", gate.write, min_interval=3600)
    writer.submit(1)
    assert writer.flush(10)
    writer.submit(2)  # waits out the (long) interval ...
    writer.close()  # ... unless the writer is closed
    assert gate.written == [1, 2]


def test_a_failed_write_is_logged_once_and_retried_until_it_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []
    written = threading.Event()

    def write(value: int) -> None:
        attempts.append(value)
        if len(attempts) <= 3:
            raise StorageError(tmp_path / "state.json", "No space left on device")
        written.set()

    writer: Coalescer[int] = Coalescer("test-writer", write, min_interval=0.001, max_retry=0.01)
    with caplog.at_level(logging.INFO, logger="tray.store.files"):
        writer.submit(7)
        assert writer.flush(10)  # tried once (and failed); flush does not wait for retries
        assert written.wait(10)  # no new value came: the same one was tried again
        writer.close()
    assert attempts == [7, 7, 7, 7]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_a_newer_value_replaces_one_that_failed() -> None:
    attempts: list[int] = []

    def write(value: int) -> None:
        attempts.append(value)
        if value == 1:
            raise StorageError(Path("x"), "Read-only file system")

    writer: Coalescer[int] = Coalescer("test-writer", write, min_interval=3600)
    writer.submit(1)
    assert writer.flush(10)
    writer.submit(2)  # pending during the (long) pause before the retry ...
    writer.close()  # ... and written at once on close
    assert attempts == [1, 2]


def test_a_bug_in_the_write_function_is_logged_and_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []

    def write(value: int) -> None:
        attempts.append(value)
        raise RuntimeError("bug")

    writer: Coalescer[int] = Coalescer("test-writer", write, min_interval=0.001)
    with caplog.at_level(logging.ERROR, logger="tray.store.files"):
        writer.submit(1)
        assert writer.flush(10)
        writer.submit(2)
        assert writer.flush(10)
        writer.close()
    assert attempts == [1, 2]
    assert len(caplog.records) == 2


def test_an_idle_writer_starts_no_thread() -> None:
    before = threading.active_count()
    writer: Coalescer[int] = Coalescer("test-writer", lambda value: None)
    assert threading.active_count() == before
    assert writer.flush(1)
    writer.close()


def test_the_log_file_is_private_whatever_the_umask_and_never_follows_a_symlink(
    tmp_path: Path,
) -> None:
    import logging as _logging

    from tray.store import logfile

    folder = tmp_path / "log"
    folder.mkdir(mode=0o755)
    old = os.umask(0o022)
    try:
        path = folder / "cardwatch.log"
        path.write_text("old\n")
        path.chmod(0o644)
        assert logfile.attach(path=path) == path
        root = _logging.getLogger()
        handler = root.handlers[-1]
        root.removeHandler(handler)
        handler.close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        target = tmp_path / "target"
        target.write_text("")
        link = folder / "linked.log"
        link.symlink_to(target)
        assert logfile.attach(path=link) is None  # refused, logged to stderr only
    finally:
        os.umask(old)
