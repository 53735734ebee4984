"""Start at login: each kind of entry written, read back, judged stale, and removed."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tray import autostart, cli
from tray.app import _TrayActions
from tray.autostart import for_platform, resolve_command
from tray.autostart.launchagent import LABEL, LaunchAgentAutostart
from tray.autostart.systemd import SystemdAutostart, quote_arg, split_exec_start
from tray.autostart.windows import ENTRY, VALUE_NAME, RunKeyAutostart, split_command_line
from tray.autostart.xdg import XdgAutostart, install_menu_entry, quote_exec, read_keys, split_exec
from tray.i18n import set_language


@pytest.fixture(autouse=True)
def english() -> None:
    set_language("en")


def program(tmp_path: Path, name: str = "cardwatch-tray") -> str:
    """An executable file standing for the installed GUI script."""
    path = tmp_path / "venv dir" / "bin" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


# -- the command -------------------------------------------------------------------------


def test_a_venv_starts_the_gui_script_beside_its_python(tmp_path: Path) -> None:
    script = program(tmp_path)
    python = str(Path(script).with_name("python"))
    assert resolve_command(python, False, "linux", which=lambda _n: None) == (script,)


def test_without_a_script_beside_python_the_one_on_path_is_used(tmp_path: Path) -> None:
    python = str(tmp_path / "python")
    assert resolve_command(python, False, "linux", which=lambda _n: "/usr/bin/x") == ("/usr/bin/x",)
    assert resolve_command(python, False, "linux", which=lambda _n: None) == (
        python,
        "-m",
        "tray",
        "run",
    )


def test_a_frozen_build_starts_its_windowed_sibling_or_itself(tmp_path: Path) -> None:
    folder = tmp_path / "Cardwatch"
    folder.mkdir()
    exe = folder / "cardwatch.exe"
    assert resolve_command(str(exe), True, "win32") == (str(exe), "run")
    (folder / "cardwatch-tray.exe").write_bytes(b"")
    assert resolve_command(str(exe), True, "win32") == (str(folder / "cardwatch-tray.exe"),)


# -- Linux: XDG autostart ----------------------------------------------------------------

ARGS = st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12), max_size=4)


@given(ARGS)
def test_exec_quoting_round_trips(args: list[str]) -> None:
    command = ["/opt/card watch/bin/cardwatch-tray", *args]
    assert split_exec(quote_exec(command)) == tuple(command)


@given(ARGS)
def test_execstart_quoting_round_trips(args: list[str]) -> None:
    command = ["/opt/cardwatch/bin/cardwatch-tray", *args]
    assert split_exec_start(" ".join(quote_arg(a) for a in command)) == tuple(command)


def test_xdg_entry_is_valid_and_starts_the_installed_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = program(tmp_path)
    entries = for_platform("linux", home, {})
    found = entries.enable([script, "--lang", "zh_TW"])
    path = home / ".config" / "autostart" / "cardwatch.desktop"
    assert found.enabled and not found.stale
    assert found.kind == "xdg" and found.entry == str(path)
    assert found.command == (script, "--lang", "zh_TW")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        assert os.environ.get("CI") != "true", "desktop-file-validate is missing"
        pytest.skip("desktop-file-validate is not installed")
    result = subprocess.run([validate, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout == "", result.stdout
    assert entries.status() == found
    assert entries.disable().enabled is False
    assert not path.exists()


def test_xdg_config_home_is_honoured(tmp_path: Path) -> None:
    entry = XdgAutostart(tmp_path / "home", {"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert entry.path == tmp_path / "cfg" / "autostart" / "cardwatch.desktop"
    relative = XdgAutostart(tmp_path / "home", {"XDG_CONFIG_HOME": "cfg"})
    assert relative.path == tmp_path / "home" / ".config" / "autostart" / "cardwatch.desktop"


def test_an_entry_pointing_at_a_removed_program_is_stale(tmp_path: Path) -> None:
    script = program(tmp_path)
    entries = for_platform("linux", tmp_path / "home", {})
    entries.enable([script])
    Path(script).unlink()
    found = entries.status()
    assert found.enabled and found.stale
    assert script in found.reason and "no longer exists" in found.reason
    assert autostart.exit_code(found) == 1


def test_a_hidden_entry_counts_as_off(tmp_path: Path) -> None:
    entry = XdgAutostart(tmp_path, {})
    entry.enable([program(tmp_path)])
    entry.path.write_text(entry.path.read_text(encoding="utf-8") + "Hidden=true\n", "utf-8")
    assert entry.status().enabled is False


def test_the_menu_entry_and_its_icons_are_valid(tmp_path: Path) -> None:
    from tray.ui.icons import SIZES

    home = tmp_path / "home"
    written = install_menu_entry(home, {}, [program(tmp_path)], lambda size: b"png%d" % size)
    share = home / ".local" / "share"
    assert written[0] == share / "applications" / "cardwatch.desktop"
    assert written[1:] == [
        share / "icons" / "hicolor" / f"{s}x{s}" / "apps" / "cardwatch.png" for s in SIZES
    ]
    keys = read_keys(written[0].read_text(encoding="utf-8"))
    assert keys["Icon"] == "cardwatch" and "NoDisplay" not in keys
    validate = shutil.which("desktop-file-validate")
    if validate:
        result = subprocess.run([validate, str(written[0])], capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout == "", result.stdout


# -- Linux: systemd user unit ------------------------------------------------------------


def test_systemd_unit_verifies_and_replaces_the_xdg_entry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = program(tmp_path)
    entries = for_platform("linux", home, {})
    entries.enable([script])
    found = entries.enable([script, "--lang", "en"], kind="systemd")
    unit = home / ".config" / "systemd" / "user" / "cardwatch.service"
    link = unit.parent / "graphical-session.target.wants" / "cardwatch.service"
    assert found.kind == "systemd" and found.entry == str(unit)
    assert found.command == (script, "--lang", "en") and not found.stale
    assert link.is_symlink() and link.resolve() == unit.resolve()
    assert not (home / ".config" / "autostart" / "cardwatch.desktop").exists()
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    result = subprocess.run(
        [analyze, "verify", "--user", str(unit)],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr
    assert entries.disable().enabled is False
    assert not unit.exists() and not link.exists() and not link.parent.exists()


def test_an_unlinked_unit_is_off(tmp_path: Path) -> None:
    entry = SystemdAutostart(tmp_path, {})
    entry.enable([program(tmp_path)])
    entry.link.unlink()
    assert entry.status().enabled is False


# -- macOS: LaunchAgent ------------------------------------------------------------------


def test_launchagent_plist_parses_back_with_run_at_load_and_crash_only_keepalive(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    script = program(tmp_path)
    found = for_platform("darwin", home, {}).enable([script])
    path = home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    assert found.kind == "launchagent" and found.entry == str(path) and not found.stale
    data = plistlib.loads(path.read_bytes())
    assert data["Label"] == LABEL
    assert data["ProgramArguments"] == [script]
    assert data["RunAtLoad"] is True
    assert data["KeepAlive"] == {"SuccessfulExit": False}
    Path(script).unlink()
    assert for_platform("darwin", home, {}).status().stale


def test_a_corrupt_plist_is_named_not_a_traceback(tmp_path: Path) -> None:
    entry = LaunchAgentAutostart(tmp_path)
    entry.path.parent.mkdir(parents=True)
    entry.path.write_bytes(b"<plist>broken")
    found = entry.status()
    assert found.stale and "cannot be read" in found.reason


# -- Windows: the Run key (an injected registry: Windows is not available here) ----------


class DictRegistry:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        self.values[name] = value

    def delete(self, name: str) -> bool:
        return self.values.pop(name, None) is not None


def test_run_value_quotes_the_gui_exe_and_reads_back(tmp_path: Path) -> None:
    registry = DictRegistry()
    exe = program(tmp_path, "cardwatch-tray.exe")
    entries = for_platform("win32", tmp_path, {}, registry=registry)
    found = entries.enable([exe, "--lang", "zh_TW"])
    assert registry.values == {VALUE_NAME: f'"{exe}" --lang zh_TW'}
    assert found.kind == "registry" and found.entry == ENTRY and not found.stale
    assert found.command == (exe, "--lang", "zh_TW")
    Path(exe).unlink()
    assert entries.status().stale
    assert entries.disable().enabled is False and registry.values == {}
    assert RunKeyAutostart(registry).disable() is False


@pytest.mark.parametrize(
    ("line", "args"),
    [
        (
            r'"C:\Program Files\Cardwatch\cardwatch-tray.exe" run',
            ("C:\\Program Files\\Cardwatch\\cardwatch-tray.exe", "run"),
        ),
        (r'a\\\"b "c d"', ('a\\"b', "c d")),
        (r'x\\"y z"', ("x\\y z",)),
    ],
)
def test_command_lines_split_as_windows_does(line: str, args: tuple[str, ...]) -> None:
    assert split_command_line(line) == args


@given(ARGS)
def test_list2cmdline_round_trips(args: list[str]) -> None:
    command = [r"C:\Program Files\Cardwatch\cardwatch-tray.exe", *[a for a in args if a]]
    assert split_command_line(subprocess.list2cmdline(command)) == tuple(command)


# -- the CLI and the tray toggle ---------------------------------------------------------


def test_cli_enable_status_disable_and_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    script = program(tmp_path)
    monkeypatch.setattr(autostart, "current_command", lambda: (script,))
    assert cli.main(["autostart", "status"]) == 3
    assert "does not start at login" in capsys.readouterr().out
    assert cli.main(["autostart", "enable"]) == 0
    assert cli.main(["autostart", "status", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out[out.index("{") :])
    assert data["schema"] == "cardwatch.autostart/1"
    assert data["enabled"] is True and data["kind"] == "xdg" and data["command"] == [script]
    Path(script).unlink()
    assert cli.main(["autostart", "status"]) == 1
    assert "no longer exists" in capsys.readouterr().out
    assert cli.main(["autostart", "disable"]) == 0
    assert cli.main(["autostart", "status"]) == 3


def test_cli_says_why_when_the_entry_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    (tmp_path / ".config").write_text("not a folder", encoding="utf-8")
    assert cli.main(["autostart", "enable"]) == 3
    err = capsys.readouterr().err
    assert "could not change its start at login" in err and "Traceback" not in err


def test_the_tray_toggle_writes_off_the_ui_thread_and_refreshes_the_menu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = program(tmp_path)
    monkeypatch.setattr("tray.app.current_command", lambda: (script,))
    entries = for_platform("linux", tmp_path / "home", {})
    actions = _TrayActions(cast(Any, None), threading.Event(), tmp_path, autostart=entries)
    assert actions.autostart_enabled() is False
    changed = threading.Event()
    threads: list[str] = []

    def on_change() -> None:
        threads.append(threading.current_thread().name)
        changed.set()

    actions.on_change = on_change
    actions.toggle_autostart()
    assert changed.wait(30)
    assert threads == ["cw-autostart"]
    assert actions.autostart_enabled() is True and entries.status().command == (script,)
    changed.clear()
    actions.toggle_autostart()
    assert changed.wait(30)
    assert actions.autostart_enabled() is False and not entries.status().enabled


def test_cli_runs_as_a_module_for_the_fallback_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tray", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("cardwatch ")


# -- hostile install paths ---------------------------------------------------------------

INJECTIONS = [
    "/opt/card\nExec=/bin/touch /tmp/pwned\n",
    "/opt/card\rExecStartPre=/bin/touch /tmp/pwned\r",
    "/opt/card\x1b]0;pwned\x07",
    "/opt/card\x85watch",
]


@pytest.mark.parametrize("path", INJECTIONS)
def test_a_control_character_in_the_path_cannot_inject_a_second_exec_line(path: str) -> None:
    with pytest.raises(autostart.UnsafeCommand):
        quote_exec([path, "run"])
    with pytest.raises(autostart.UnsafeCommand):
        quote_arg(path)


@pytest.mark.parametrize("kind", ["xdg", "systemd"])
@pytest.mark.parametrize("path", INJECTIONS[:2])
def test_enabling_with_a_newline_or_cr_in_the_path_writes_nothing(
    tmp_path: Path, kind: str, path: str
) -> None:
    home = tmp_path / "home"
    entries = for_platform("linux", home, {})
    with pytest.raises(autostart.UnsafeCommand):
        entries.enable([path], kind=kind)
    written = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    assert written == []
    for entry in entries.entries:  # called directly, each format refuses too
        with pytest.raises(autostart.UnsafeCommand):
            entry.enable([path])
    for text in (p.read_text("utf-8") for p in home.rglob("*") if p.is_file()):
        assert "pwned" not in text


def test_launchagent_refuses_a_control_character_in_the_path(tmp_path: Path) -> None:
    with pytest.raises(autostart.UnsafeCommand):
        LaunchAgentAutostart(tmp_path).enable(["/Applications/Card\nwatch"])
    assert not (tmp_path / "Library").exists()


def test_cli_names_an_unsafe_install_path_instead_of_writing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setattr(autostart, "current_command", lambda: ("/opt/x\nExec=/bin/true",))
    assert cli.main(["autostart", "enable"]) == 3
    err = capsys.readouterr().err
    assert "control character" in err and "Traceback" not in err
    assert not (tmp_path / ".config" / "autostart" / "cardwatch.desktop").exists()
