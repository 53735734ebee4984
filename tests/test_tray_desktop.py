"""The real tray on a real desktop: `cardwatch run` under Xvfb + trayer, against pcscd + vpcd.

Cards go into the virtual reader; screenshots of the tray strip must show the icon's colour
(green / amber / red, grey when the reader is empty). A left click must open the report
(BROWSER is a recorder script); with gtk a right click opens the menu, and the keyboard
picks Pause notifications and Check now, whose effects the daemon's -v log shows.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib.util import find_spec
from pathlib import Path

import pytest
from bench import PcscBench
from conftest import READERS, InsertCard
from desktop import Box, Desktop, desktop_unavailable, wait_for
from tray.icondata import draw

from tray.daemon.state import DaemonState
from tray.demo import scenarios
from tray.demo.card import VirtualCard
from tray.present.report import report_name
from tray.ui.tray import Tray, TrayUnavailable, choose_backend

GREEN, AMBER, RED, GREY = draw.GREEN[:3], draw.AMBER[:3], draw.RED[:3], draw.GREY[:3]
#: below the tray strip, where a popped-up menu shows (the bare Xvfb root is black)
MENU_BOX = (0, 34, 300, 200)
MENU_COLOUR = (230, 230, 230)

BACKENDS = [
    "xorg",
    pytest.param(
        "gtk",
        marks=pytest.mark.skipif(
            find_spec("gi") is None and os.environ.get("CI", "").lower() != "true",
            reason="PyGObject is not installed (pip install -e '.[gtk]')",
        ),
    ),
]


def card(scenario: str) -> VirtualCard:
    inserted = next(iter(scenarios.build(scenario, datetime.now(timezone.utc)).values()))
    assert inserted is not None
    return inserted


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    reason = desktop_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the desktop cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    with Desktop(tmp_path_factory.mktemp("desktop")) as desk:
        yield desk


class TrayProcess:
    """`cardwatch -v run` on the desktop; its log is read to see what the daemon did."""

    def __init__(self, desktop: Desktop, backend: str, workdir: Path) -> None:
        self.log_path = workdir / "cardwatch.log"
        self.opened = workdir / "opened.txt"
        browser = workdir / "browser.sh"
        browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{self.opened}"\n')
        browser.chmod(0o755)
        env = dict(desktop.env, PYSTRAY_BACKEND=backend, BROWSER=str(browser), LANG="C.UTF-8")
        env.pop("LANGUAGE", None)
        self.report = Path(env["XDG_DATA_HOME"]) / "cardwatch" / "reports" / "report.html"
        command = [sys.executable, "-m", "tray", "-v", "run", "--no-pkcs11"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, pattern: str, after: int = 0) -> int:
        """Wait for ``pattern`` in the log after offset ``after``; the offset past the match."""

        def probe() -> int | None:
            assert self.proc.poll() is None, f"cardwatch exited:\n{self.log()}"
            found = re.search(pattern, self.log()[after:])
            return after + found.end() if found else None

        return wait_for(f"{pattern!r} in the log", probe)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


@pytest.mark.bench
@pytest.mark.parametrize("backend", BACKENDS)
def test_tray_icon_colour_follows_the_card_and_clicks_reach_the_app(
    desktop: Desktop,
    pcsc_bench: PcscBench,
    vpcd: InsertCard,
    tmp_path: Path,
    backend: str,
) -> None:
    tray = TrayProcess(desktop, backend, tmp_path)
    try:
        tray.wait_log(f"tray icon with the {backend} backend")
        desktop.wait_colour(GREY, "the grey icon of an empty reader")

        for scenario, colour, name in (
            ("default", GREEN, "green"),
            ("expiring", AMBER, "amber"),
            ("expired", RED, "red"),
        ):
            plugged = vpcd(card(scenario), 0)
            icon = desktop.wait_colour(colour, f"the {name} icon of the {scenario} card")
            if scenario != "expired":
                plugged.remove()
                desktop.wait_colour(GREY, f"grey again after pulling the {scenario} card")

        # Left click: the default action opens the report.
        desktop.click(*icon.centre, button=1)
        opened = wait_for("the report to be opened", lambda: _read(tray.opened))
        assert opened.strip() == tray.report.resolve().as_uri()
        assert "expired" in tray.report.read_text(encoding="utf-8").lower()

        if backend == "gtk":
            # Right click: the menu. The first Down lands on the card's line (the empty
            # reader's line is disabled and skipped): it opens that reader's report.
            offset = len(tray.log())
            desktop.click(*icon.centre, button=3)
            desktop.wait_colour(MENU_COLOUR, "the menu to pop up", MENU_BOX)
            if os.environ.get("CARDWATCH_SCREENSHOTS"):  # the README's picture of the menu
                menu = desktop.find(MENU_COLOUR, (0, 34, 800, 600)) or Box(0, 0, 370, 218)
                shot = desktop.screenshot().crop((0, 0, menu.right + 10, menu.bottom + 10))
                shot.save(Path(os.environ["CARDWATCH_SCREENSHOTS"]) / "tray-menu.png")
            desktop.key("Down", "Return")
            offset = tray.wait_log(r"tray: open_reader_report", offset)
            reader_report = tray.report.with_name(report_name(READERS[0]))
            wait_for(
                "the reader's report to be opened",
                lambda: (
                    True if reader_report.resolve().as_uri() in (_read(tray.opened) or "") else None
                ),
            )
            page = reader_report.read_text(encoding="utf-8")
            assert READERS[0] in page and READERS[1] not in page

            # Down x4 reaches Pause notifications (card line, Check now, Open report, Pause).
            desktop.click(*icon.centre, button=3)
            desktop.wait_colour(MENU_COLOUR, "the menu to pop up", MENU_BOX)
            desktop.key("Down", "Down", "Down", "Down", "Return")
            offset = tray.wait_log(r"tray: toggle_pause", offset)
            offset = tray.wait_log(r"state error: .*Notifications paused", offset)

            desktop.click(*icon.centre, button=3)
            desktop.wait_colour(MENU_COLOUR, "the menu to pop up again", MENU_BOX)
            desktop.key("Down", "Down", "Return")
            offset = tray.wait_log(r"tray: check_now", offset)
            offset = tray.wait_log(r"state checking: ", offset)
            tray.wait_log(r"state error: ", offset)

            # Quit is the last entry: Up from the top wraps round to it.
            desktop.click(*icon.centre, button=3)
            desktop.wait_colour(MENU_COLOUR, "the menu for Quit", MENU_BOX)
            desktop.key("Up", "Return")
            assert tray.proc.wait(20) == 0, tray.log()
            assert "tray: quit" in tray.log()
    finally:
        code = tray.stop()
    assert code == 0, tray.log()
    assert "Traceback" not in tray.log()


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


@pytest.mark.bench
def test_without_a_tray_host_it_warns_once_and_keeps_watching(
    pcsc_bench: PcscBench, vpcd: InsertCard, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    log_path = tmp_path / "cardwatch.log"
    command = [sys.executable, "-m", "tray", "-v", "run", "--no-pkcs11"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        vpcd(card("default"), 0)

        def checked() -> bool | None:
            assert proc.poll() is None, log_path.read_text()
            return True if "state ok:" in log_path.read_text() else None

        wait_for("the card to be checked headless", checked)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    text = log_path.read_text()
    assert code == 0, text
    warnings = [line for line in text.splitlines() if line.startswith("WARNING")]
    # once for the tray, once for the notifications (no session bus here either)
    tray_warnings = [w for w in warnings if "no tray icon" in w]
    assert len(tray_warnings) == 1 and "DISPLAY" in tray_warnings[0], text
    assert len(warnings) == 2 and any("no desktop notifications" in w for w in warnings), text


@pytest.mark.parametrize(
    ("platform", "env", "has_gi", "expected"),
    [
        ("win32", {}, False, ["win32"]),
        ("darwin", {}, True, ["darwin"]),
        ("linux", {}, True, ["xorg"]),
        ("linux", {}, False, ["xorg"]),
        ("linux", {"PYSTRAY_BACKEND": "appindicator"}, True, ["appindicator"]),
    ],
)
def test_backend_is_chosen_per_platform_and_the_environment_wins(
    platform: str, env: dict[str, str], has_gi: bool, expected: list[str]
) -> None:
    assert choose_backend(platform, env, has_gi) == expected


def test_no_display_is_a_named_cause_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)

    class Quiet:
        def check_now(self) -> None: ...
        def open_report(self) -> None: ...
        def open_reader_report(self, reader: str) -> None: ...
        def toggle_pause(self) -> None: ...
        def toggle_autostart(self) -> None: ...
        def quit(self) -> None: ...
        def autostart_enabled(self) -> bool | None:
            return None

    with pytest.raises(TrayUnavailable, match="DISPLAY is not set"):
        Tray(Quiet(), DaemonState(), ["xorg"])
