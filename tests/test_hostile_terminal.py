"""A real terminal (a tmux pane) running ``cardwatch check`` against a hostile card on the bench.

The virtual MOICA card (real pcscd + vpcd) has a CN that would set the window title
(``ESC]0;pwned BEL``), clear the screen (``ESC[2J``), print a forged "9 PASS … 900 days" line
and conceal the rest (``ESC[8m``), and a label with a newline and a forged "9 PASS fake".
What the terminal shows (``tmux capture-pane``) must still hold the real "3 days left", no
forged line, no concealed text, and the pane title must be the one it had.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import READERS, InsertCard
from desktop import wait_for
from hostile_cards import TERMINAL_CN, TERMINAL_LABEL, hostile_moica

TITLE = "cardwatch-test-pane"
DONE = "CARDWATCH-CHECK-EXITED"


class Tmux:
    """A private tmux server (its own socket, no config file) with one wide pane."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    def screen(self, *extra: str) -> str:
        """Everything the pane shows and scrolled past, wrapped lines joined."""
        return self("capture-pane", "-p", "-J", "-S", "-", "-t", "cw", *extra)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but tmux is missing (apt: tmux)", pytrace=False)
        pytest.skip("tmux is missing (apt: tmux)")
    server = Tmux(tmp_path / "tmux.sock")
    server("new-session", "-d", "-s", "cw", "-x", "250", "-y", "60", "/bin/sh")
    try:
        yield server
    finally:
        subprocess.run(
            ["tmux", "-S", str(server.socket), "kill-server"], capture_output=True, timeout=30
        )


@pytest.mark.bench
def test_a_hostile_card_cannot_retitle_clear_or_forge_lines_in_a_real_terminal(
    tmux: Tmux, vpcd: InsertCard, tmp_path: Path
) -> None:
    # The certificate ends at 12:00 UTC three calendar days from today: always "3 days left".
    now = datetime.now(timezone.utc)
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    days_left = 3 + (noon - now).total_seconds() / 86400
    vpcd(hostile_moica(now, days_left, cn=TERMINAL_CN, label=TERMINAL_LABEL))

    tmux("select-pane", "-t", "cw", "-T", TITLE)
    assert tmux("display", "-p", "-t", "cw", "#{pane_title}").strip() == TITLE
    env = {
        "TZ": "UTC",
        "LANG": "C.UTF-8",
        "LANGUAGE": "",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    command = " ".join(
        [
            "env",
            *(shlex.quote(f"{k}={v}") for k, v in env.items()),
            shlex.quote(sys.executable),
            "-m tray check --offline --no-pkcs11 --reader",
            shlex.quote(READERS[0]),
            f"; echo {DONE}",
        ]
    )
    tmux("send-keys", "-t", "cw", command, "Enter")

    def finished() -> str | None:
        # The echoed command line holds DONE too: only the echo after the check prints it
        # alone on a line.
        screen = tmux.screen()
        return screen if DONE in (line.strip() for line in screen.splitlines()) else None

    screen = wait_for("cardwatch check to finish in the pane", finished, timeout=60)
    lines = [line.strip() for line in screen.splitlines()]

    assert any(line.startswith("9 FAIL") and "3 days left" in line for line in lines), screen
    assert not [line for line in lines if line.startswith("9 PASS")], screen
    assert any("Mallory\\1B]0;pwned\\07\\1B[2J\\0A 9 PASS" in line for line in lines), screen
    assert any("Sign\\0A 9 PASS fake" in line for line in lines), screen
    # Nothing concealed: the only attributes the pane holds are Cardwatch's own colours.
    with_attributes = tmux.screen("-e")
    assert "\x1b[8m" not in with_attributes and ";8m" not in with_attributes
    assert tmux("display", "-p", "-t", "cw", "#{pane_title}").strip() == TITLE
