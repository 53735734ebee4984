"""End to end: `cardwatch run` on the pcscd+vpcd bench, notifications shown by the real dunst.

Xvfb (tests/desktop.py), a private session bus, dunst on both; a virtual MOICA card whose
certificates expire in 3 days is inserted → dunst shows "Certificate expires in 3 days";
``dunstctl action 0`` (the default action: a click) → the report of that reader opens in
the BROWSER recorder; ``dunstctl close-all`` → the history holds the notification.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from bench import PcscBench
from conftest import READERS, InsertCard
from desktop import Desktop, desktop_unavailable, wait_for
from hostile_cards import MARKUP, MARKUP_NUMBER, hostile_moica
from notify_server import dbus_unavailable, session_bus

from tray.demo.scenarios import DEMO_CARD_NUMBER, MoicaGen1Card, moica_certs

DUNSTRC = """\
[global]
    stack_duplicates = false
    show_indicators = no
    font = Noto Sans CJK TC 10
    width = 440
    origin = top-right
    offset = 10x40
    frame_width = 2
    padding = 10
    horizontal_padding = 10
    icon_position = left
    max_icon_size = 48
    format = "<b>%s</b>\\n%b"
[urgency_critical]
    background = "#fff4e5"
    foreground = "#1a1a1a"
    frame_color = "#d9480f"
    timeout = 0
"""

#: where dunst shows the newest notification (origin top-right, offset 10x40)
SHOT_BOX = (800 - 10 - 440 - 4, 36, 800 - 6, 200)


def _unavailable() -> str | None:
    return (
        desktop_unavailable()
        or dbus_unavailable()
        or (
            None
            if shutil.which("dunst") and shutil.which("dunstctl")
            else "dunst is missing (apt: dunst)"
        )
    )


@pytest.fixture
def dunst_desktop(tmp_path: Path) -> Iterator[tuple[Desktop, dict[str, str]]]:
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the dunst desktop cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    with Desktop(tmp_path) as desk, session_bus(str(tmp_path)) as address:
        env = dict(desk.env, DBUS_SESSION_BUS_ADDRESS=address, LANG="C.UTF-8")
        env.pop("LANGUAGE", None)
        rc = tmp_path / "dunstrc"
        rc.write_text(DUNSTRC)
        dunst = subprocess.Popen(
            ["dunst", "-config", str(rc)],
            env=env,
            stdout=(tmp_path / "dunst.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                "dunst on the bus",
                lambda: True if dunstctl(env, "is-paused").returncode == 0 else None,
            )
            yield desk, env
        finally:
            dunst.terminate()
            dunst.wait(10)


def dunstctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dunstctl", *args], env=env, capture_output=True, text=True, timeout=15)


def displayed(env: dict[str, str]) -> int:
    result = dunstctl(env, "count", "displayed")
    return int(result.stdout.strip() or 0) if result.returncode == 0 else 0


@pytest.mark.bench
def test_card_expiring_in_three_days_is_shown_by_dunst_and_its_action_opens_the_report(
    dunst_desktop: tuple[Desktop, dict[str, str]],
    pcsc_bench: PcscBench,
    vpcd: InsertCard,
    tmp_path: Path,
) -> None:
    desk, env = dunst_desktop
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(
        f'#!/bin/sh\nprintf "%s" "$1" > "{opened}.tmp" && mv "{opened}.tmp" "{opened}"\n'
    )
    browser.chmod(0o755)
    env = dict(env, BROWSER=str(browser), TZ="UTC")
    log_path = tmp_path / "cardwatch.log"
    command = [sys.executable, "-m", "tray", "-v", "run", "--no-tray", "--no-pkcs11", "--offline"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # The certificate ends at 12:00 UTC three calendar days from today, whatever the hour
        # the test runs: between 2.5 and 3.5 days away, always "3 days" (the daemon runs in UTC).
        now = datetime.now(timezone.utc)
        noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
        days_left = 3 + (noon - now).total_seconds() / 86400
        vpcd(MoicaGen1Card(moica_certs(now, days_left), DEMO_CARD_NUMBER))

        def shown() -> bool | None:
            assert proc.poll() is None, log_path.read_text()
            return True if displayed(env) >= 1 else None

        wait_for("dunst to display the notification", shown)
        shot = desk.screenshot().crop(SHOT_BOX)
        shot.save(tmp_path / "notification.png")
        if os.environ.get("CARDWATCH_SCREENSHOT"):
            shot.save(os.environ["CARDWATCH_SCREENSHOT"])
        if os.environ.get("CARDWATCH_SCREENSHOTS"):  # the README's pictures (docs/)
            shot.save(Path(os.environ["CARDWATCH_SCREENSHOTS"]) / "notification.png")
        assert dunstctl(env, "action", "0").returncode == 0
        url = wait_for(
            "the report to open", lambda: opened.read_text() if opened.exists() else None
        )
        report = Path(url.removeprefix("file://")).read_text()
        assert READERS[0] in report and READERS[1] not in report
        assert dunstctl(env, "close-all").returncode == 0
        history = json.loads(dunstctl(env, "history").stdout)
        entries = [
            {key: value["data"] for key, value in entry.items()} for entry in history["data"][0]
        ]
        mine = [e for e in entries if e["appname"] == "Cardwatch"]
        assert [e["summary"] for e in mine] == ["Certificate expires in 3 days"]
        # What to do leads, then where.
        advice, where = mine[0]["body"].splitlines()
        assert advice.startswith("Renew the certificate before it expires")
        assert where == f"MOICA card TP0317… in {READERS[0]}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)


@pytest.mark.bench
def test_markup_from_a_card_is_shown_literally_by_dunst_and_makes_no_link(
    dunst_desktop: tuple[Desktop, dict[str, str]],
    pcsc_bench: PcscBench,
    vpcd: InsertCard,
    tmp_path: Path,
) -> None:
    _desk, env = dunst_desktop
    env = dict(env, TZ="UTC", HOME=str(tmp_path))
    log_path = tmp_path / "cardwatch.log"
    command = [sys.executable, "-m", "tray", "-v", "run", "--no-tray", "--no-pkcs11", "--offline"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        now = datetime.now(timezone.utc)
        noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
        days_left = 3 + (noon - now).total_seconds() / 86400
        vpcd(hostile_moica(now, days_left, cn=MARKUP, label=MARKUP, number=MARKUP_NUMBER))

        def shown() -> bool | None:
            assert proc.poll() is None, log_path.read_text()
            return True if displayed(env) >= 1 else None

        wait_for("dunst to display the notification", shown)
        assert dunstctl(env, "close-all").returncode == 0
        history = json.loads(dunstctl(env, "history").stdout)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)
    entries = [{key: value["data"] for key, value in entry.items()} for entry in history["data"][0]]
    (mine,) = [e for e in entries if e["appname"] == "Cardwatch"]
    # dunst's "message" is the Pango markup it renders: its own format (<b>summary</b>\n
    # body) around the body. After its own bold summary, no tag at all: Pango shows the rest
    # as text, so there is no bold, no xx-large red span and no <a href> link to extract.
    # (Debian 12's dunst 1.9 lists no "urls" in its history, hence the check on the markup.)
    own = f"<b>{mine['summary']}</b>\n"
    assert mine["message"].startswith(own), mine
    rendered = mine["message"][len(own) :]
    assert "<" not in rendered and ">" not in rendered, rendered
    assert "<" not in mine["body"] and ">" not in mine["body"], mine["body"]
    # ... and the user reads the card's strings literally.
    text = html.unescape(rendered)
    assert f"MOICA card {MARKUP_NUMBER[:6]}… in {READERS[0]}" in text, text
    # (The certificate's label is not in this body: advice first, then where, within 200
    # characters; the card number above carries the markup instead.)
