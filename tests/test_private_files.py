"""Files holding personal data are 0600 in 0700 folders and never written through a symlink.

Whatever the umask (000 here) or the old file's mode, and with a symlink at the destination
pointing at someone else's file: the history, the state, the notification log, the report and
the revocation cache. The log names a card by the first and last 4 characters of its number.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_daemon_bench import Recorder, checked

from tray.app import RunOptions, build_runtime
from tray.clock import SystemClock
from tray.demo import certs
from tray.demo.scenarios import READER_0
from tray.model import RevocationState, RevocationStatus
from tray.notify.backends import Callbacks
from tray.notify.policy import Notice
from tray.present import safe
from tray.present.report import report_name
from tray.store.files import atomic_write_text
from tray.store.revocation_cache import RevocationCache

CARD_NUMBER = "TP03170000012345"  # the demo MOICA card's number


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return path.lstat().st_mode & 0o777


class Backend:
    """Records the notices; keeps the callbacks so a test can press "Snooze"."""

    name = "recording"

    def __init__(self) -> None:
        self.shown: list[Notice] = []
        self.callbacks: Callbacks | None = None
        self.closed = threading.Event()

    def show(self, notice: Notice) -> None:
        self.shown.append(notice)

    def withdraw(self, slot: str) -> None:
        pass

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def close(self) -> None:
        self.closed.set()


def run_once(data: Path, backend: Backend) -> Path:
    """Run the daemon on the demo "expired" card until its files are written; the report."""

    def make(callbacks: Callbacks, report_file: Callable[[Notice], Path | None]) -> Backend:
        backend.callbacks = callbacks
        return backend

    options = RunOptions(demo="expired", tray=False)
    runtime = build_runtime(options, SystemClock(), data=data, notify_backend=make)
    recorder = Recorder(runtime.daemon)
    runtime.start()
    try:
        recorder.wait("the card checked", checked(READER_0))
        assert runtime.flush()
        assert backend.shown and backend.callbacks is not None
        backend.callbacks.snooze(backend.shown[0])  # writes notifications.json again
        assert runtime.flush()
        report = runtime.write_report(READER_0)
    finally:
        runtime.stop()
    return report


def test_the_daemons_files_are_private_whatever_the_umask(tmp_path: Path, umask_000: None) -> None:
    data = tmp_path / "data"
    report = run_once(data, Backend())
    assert mode(data) == 0o700
    assert mode(data / "reports") == 0o700
    for name in ("history.json", "state.json", "notifications.json"):
        assert mode(data / name) == 0o600, name
    assert mode(report) == 0o600
    assert CARD_NUMBER in (data / "history.json").read_text(encoding="utf-8")


def test_old_world_readable_files_and_folders_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    reports = data / "reports"
    reports.mkdir(parents=True)
    names = ("history.json", "state.json", "notifications.json")
    for name in names:
        (data / name).write_text("{}", encoding="utf-8")
        (data / name).chmod(0o644)
    data.chmod(0o755)
    reports.chmod(0o755)
    report = run_once(data, Backend())
    assert mode(data) == 0o700
    assert mode(reports) == 0o700
    for name in names:
        assert mode(data / name) == 0o600, name
    assert mode(report) == 0o600


def test_a_symlink_at_the_destination_is_replaced_and_its_target_untouched(
    tmp_path: Path, umask_000: None
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = tmp_path / "data"
    (data / "reports").mkdir(parents=True)
    names = ("history.json", "state.json", "notifications.json")
    targets = {}
    for name in names:
        target = elsewhere / f"victim-{name}"
        target.write_text("not yours\n", encoding="utf-8")
        target.chmod(0o644)
        (data / name).symlink_to(target)
        targets[name] = target
    report_target = elsewhere / "victim-report.html"
    report_target.write_text("not yours\n", encoding="utf-8")
    report_target.chmod(0o644)
    (data / "reports" / report_name(READER_0)).symlink_to(report_target)

    report = run_once(data, Backend())

    for name, target in targets.items():
        assert not (data / name).is_symlink(), name
        assert mode(data / name) == 0o600
        assert target.read_text(encoding="utf-8") == "not yours\n", name
        assert mode(target) == 0o644
    assert report == data / "reports" / report_name(READER_0)
    assert not report.is_symlink() and mode(report) == 0o600
    assert report_target.read_text(encoding="utf-8") == "not yours\n"
    assert mode(report_target) == 0o644
    assert sorted(p.name for p in elsewhere.iterdir()) == sorted(
        [*(t.name for t in targets.values()), report_target.name]
    )


def test_revocation_cache_files_are_private(tmp_path: Path, umask_000: None) -> None:
    now = SystemClock().now()
    cert = certs.moica_person(now, 300)
    issuer = certs.moica_ca()[0]
    folder = tmp_path / "cache" / "revocation"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    cache = RevocationCache(folder, SystemClock())
    status = RevocationStatus(
        RevocationState.GOOD, source="ocsp", checked_at=now, next_update=now + timedelta(hours=1)
    )
    cache.store(cert, issuer, status)
    (written,) = list(folder.iterdir())
    assert mode(written) == 0o600 and mode(folder) == 0o700
    # Now someone puts a symlink where the answer is kept: the next answer replaces the link.
    victim = tmp_path / "victim.json"
    victim.write_text("not yours\n", encoding="utf-8")
    victim.chmod(0o644)
    written.unlink()
    written.symlink_to(victim)
    cache.store(cert, issuer, status)
    assert list(folder.iterdir()) == [written]
    assert not written.is_symlink() and mode(written) == 0o600
    assert victim.read_text(encoding="utf-8") == "not yours\n" and mode(victim) == 0o644


def test_only_cardwatchs_own_folders_are_tightened(tmp_path: Path, umask_000: None) -> None:
    # A file written into someone else's folder (autostart, node_exporter's textfile folder)
    # gets its mode, but the folder keeps its own.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    atomic_write_text(shared / "cardwatch.prom", "x\n", 0o644)
    assert mode(shared) == 0o755 and mode(shared / "cardwatch.prom") == 0o644
    # A symlink where Cardwatch's folder should be is the user's choice: not followed by chmod.
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    link = tmp_path / "data"
    link.symlink_to(home)
    from tray.store.files import private_folder

    private_folder(link)
    assert mode(home) == 0o755


def test_the_log_never_holds_a_full_card_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    run_once(tmp_path / "data", Backend())
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if CARD_NUMBER in m]
    assert any("TP03…2345" in m and "snoozed" in m for m in messages)


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("TP03170000012345", "TP03…2345"),
        ("12345678", "…5678"),
        ("123", "…"),
        ("3BB813/7CBB4FE76921DC32", "3BB813/7CBB…DC32"),
        ("TP03\x1b[2J170000012345", "TP03…2345"),
        ("", ""),
        (None, ""),
    ],
)
def test_log_card_keeps_the_first_and_last_four(key: str | None, shown: str) -> None:
    assert safe.log_card(key) == shown
