"""The PyInstaller spec builds a working one-folder Cardwatch (the frozen CLI runs the demo)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_frozen_cli_prints_its_version_and_checks_the_demo(tmp_path: Path) -> None:
    if find_spec("PyInstaller") is None:
        assert os.environ.get("CI") != "true", "PyInstaller is missing (the build extra)"
        pytest.skip("PyInstaller is not installed (pip install '.[build]')")
    build = subprocess.run(
        [
            sys.executable,
            str(ROOT / "installer" / "build.py"),
            "--dist",
            str(tmp_path / "dist"),
            "--work",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    folder = tmp_path / "dist" / "cardwatch"
    assert (folder / "cardwatch-tray").is_file()
    assert (folder / "_internal" / "tray" / "icondata" / "ok-64.png").is_file()
    assert (
        folder / "_internal" / "tray" / "locale" / "zh_TW" / "LC_MESSAGES" / "cardwatch.mo"
    ).is_file()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    version = subprocess.run(
        [str(folder / "cardwatch"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert version.returncode == 0 and version.stdout.strip().startswith("cardwatch 0.")
    check = subprocess.run(
        [str(folder / "cardwatch"), "check", "--demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Result: OK (exit code 0)" in check.stdout
    zh = subprocess.run(
        [str(folder / "cardwatch"), "--lang", "zh_TW", "check", "--demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "結果：正常" in zh.stdout
