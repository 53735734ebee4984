"""Notifications through desktop-notifier to a real D-Bus server (tests/notify_server.py)."""

from __future__ import annotations

import os
import sys
import webbrowser
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import FixedClock
from notify_server import NotifyServer, dbus_unavailable, session_bus
from test_policy import NOW, expiring, scenario, state_with

from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo.scenarios import READER_0, READER_1
from tray.notify.backends import make_backend
from tray.notify.dispatch import Notifications
from tray.notify.policy import NotifySettings
from tray.present.report import open_file, write_report
from tray.store.notifylog import LogFile


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyServer]:
    reason = dbus_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    with session_bus(str(tmp_path)) as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        with NotifyServer(address) as running:
            yield running


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """BROWSER is a recorder script; returns the file it writes the opened URL to."""
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(
        f'#!/bin/sh\nprintf "%s" "$1" > "{opened}.tmp" && mv "{opened}.tmp" "{opened}"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(script))
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # read BROWSER afresh
    return opened


class Holder:
    state = DaemonState()


def notifications(tmp_path: Path, holder: Holder) -> Notifications:
    def write(reader: str | None) -> Path:
        return write_report(holder.state, tmp_path / "reports", reader=reader)

    return Notifications(
        NotifySettings(), FixedClock(NOW), write, open_file, LogFile(tmp_path / "log.json")
    )


def feed(n: Notifications, holder: Holder, state: DaemonState) -> None:
    holder.state = state
    n.on_state(state)


def wait_file(path: Path) -> str:
    from desktop import wait_for

    return wait_for(f"{path} to be written", lambda: path.read_text() if path.exists() else None)


def wait_file_with(path: Path, text: str) -> None:
    from desktop import wait_for

    wait_for(
        f"{text!r} in {path}", lambda: True if path.exists() and text in path.read_text() else None
    )


def test_expiring_card_is_notified_and_a_click_opens_its_report(
    server: NotifyServer, browser: Path, tmp_path: Path
) -> None:
    holder = Holder()
    n = notifications(tmp_path, holder)
    try:
        assert n.backend.name == "desktop-notifier"
        other = ReaderState(READER_1, Phase.CHECKED, scenario("default"))
        state = state_with(expiring(3.5))
        feed(
            n, holder, DaemonState(readers=(*state.readers, other), service_up=True, updated_at=NOW)
        )
        (call,) = server.wait_calls(1)
        assert call.app_name == "Cardwatch"
        assert call.summary == "Certificate expires in 3 days"
        # What to do leads, then where; the full text is in the report.
        assert call.body.splitlines()[0].startswith("Renew the certificate")
        assert call.body.splitlines()[1] == f"MOICA card TP0317… in {READER_0}"
        assert len(call.body) <= 200
        assert call.urgency == "critical"
        assert call.buttons == [
            ("default", ""),
            (call.key_of("Open report"), "Open report"),
            (call.key_of("Snooze for a day"), "Snooze for a day"),
        ]
        assert call.expire_timeout == 0
        assert n.backend.flush()  # desktop-notifier knows the id before the click
        server.invoke(call.id, "default")
        url = wait_file(browser)
        report = Path(url.removeprefix("file://")).read_text()
        assert READER_0 in report and READER_1 not in report
    finally:
        n.close()


def test_open_report_button_opens_that_readers_report(
    server: NotifyServer, browser: Path, tmp_path: Path
) -> None:
    holder = Holder()
    n = notifications(tmp_path, holder)
    try:
        feed(n, holder, state_with(scenario("pin-locked")))
        (call,) = server.wait_calls(1)
        assert call.summary == "PIN locked"
        assert call.urgency == "critical"
        assert n.backend.flush()  # desktop-notifier knows the id before the click
        server.invoke(call.id, call.key_of("Open report"))
        report = Path(wait_file(browser).removeprefix("file://")).read_text()
        assert READER_0 in report
    finally:
        n.close()


def test_worse_finding_replaces_instead_of_stacking_and_removal_withdraws(
    server: NotifyServer, tmp_path: Path
) -> None:
    holder = Holder()
    n = notifications(tmp_path, holder)
    try:
        feed(n, holder, state_with(scenario("pin-final-try")))
        (first,) = server.wait_calls(1)
        assert first.summary == "One PIN try left before the card locks"
        feed(n, holder, state_with(scenario("pin-locked")))
        calls = server.wait_calls(2)
        assert calls[1].summary == "PIN locked"
        # The old one was closed before its replacement came: one live notification.
        server.wait("one live notification", lambda s: s.live == {calls[1].id})
        assert server.closed == [first.id]
        feed(n, holder, state_with(None, Phase.EMPTY))
        server.wait("the withdrawal", lambda s: s.live == set())
        assert server.closed == [first.id, calls[1].id]
        assert len(server.calls) == 2
    finally:
        n.close()


def test_closing_withdraws_every_open_notification(server: NotifyServer, tmp_path: Path) -> None:
    holder = Holder()
    n = notifications(tmp_path, holder)
    locked = ReaderState(READER_0, Phase.CHECKED, scenario("pin-locked"))
    mute = ReaderState(READER_1, Phase.CHECKED, scenario("mute"))
    feed(n, holder, DaemonState(readers=(locked, mute), service_up=True, updated_at=NOW))
    calls = server.wait_calls(2)
    server.wait("two live notifications", lambda s: len(s.live) == 2)
    assert server.closed == []
    # Cardwatch quits (Runtime.stop closes the notifications): their buttons would be dead.
    n.close()
    server.wait("every notification withdrawn", lambda s: s.live == set())
    assert sorted(server.closed) == sorted(c.id for c in calls)
    assert len(server.calls) == 2


def test_snooze_button_holds_the_card_back(server: NotifyServer, tmp_path: Path) -> None:
    holder = Holder()
    n = notifications(tmp_path, holder)
    try:
        feed(n, holder, state_with(scenario("mute")))
        (call,) = server.wait_calls(1)
        assert call.summary == "The card does not answer"
        assert call.urgency == "critical"  # red in the tray, so critical here too
        assert n.backend.flush()  # desktop-notifier knows the id before the click
        server.invoke(call.id, call.key_of("Snooze for a day"))
        log_file = tmp_path / "log.json"
        wait_file_with(log_file, '"snoozed": {\n  "reader:')
        feed(n, holder, state_with(None, Phase.EMPTY))
        feed(n, holder, state_with(scenario("mute")))
        assert len(server.calls) == 1
    finally:
        n.close()


def test_no_notification_service_degrades_to_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    backend = make_backend(
        callbacks=None,  # type: ignore[arg-type]
        report_file=lambda notice: None,
        prefer=("desktop-notifier",),
    )
    assert backend.name == "log"
    assert "no desktop notifications" in caplog.text
    assert sys.modules.get("desktop_notifier") is not None
