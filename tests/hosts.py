"""Real StatusNotifierItem hosts for tray tests: sway + waybar (Wayland), xfce4-panel (X11).

``SwayDesktop`` runs a headless sway (pixman renderer, one 800x600 output) and waybar with
its ``tray`` module on a private session bus; grim takes the screenshots and a
``zwlr_virtual_pointer_v1`` (``tests/wayland_pointer.py``) clicks. sway refuses to run as
root: as root the compositor and the bar run as ``nobody`` (uid 65534) through ``setpriv``,
while the bus and Cardwatch stay with the test's uid (the bus lets any uid connect; root
reaches the compositor's sockets anyway).

``XfceDesktop`` is ``tests/desktop.py``'s Xvfb with ``xfce4-panel`` instead of trayer: its
systray plugin hosts both StatusNotifierItems and XEmbed icons.

``TrayApp`` is ``cardwatch -v run --demo SCENARIO`` shown on either, with ``BROWSER`` a script
that records the URL it is asked to open.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from desktop import Box, Colour, Desktop, colour_box, wait_for
from PIL import Image
from wayland_pointer import BTN_LEFT, BTN_MIDDLE, BTN_RIGHT, VirtualPointer

from tray.ui.sni import watcher_ready

#: the screen of both desktops
SCREEN = (800, 600)
#: the bar along the top of the screen, where the tray sits
BAR_BOX = (0, 0, SCREEN[0], 30)
#: a bounded wait for a host to show the icon again (the issue's "within 5 s")
BACK_WITHIN = 5.0
#: a bounded wait for the process to end after SIGTERM (not a speed measurement)
EXIT_WITHIN = 5.0
NOBODY = 65534
WAYBAR_CONFIG = """{
  "layer": "top", "position": "top", "height": 30,
  "modules-left": [], "modules-center": [], "modules-right": ["tray"],
  "tray": {"icon-size": 24, "spacing": 4}
}
"""
SWAY_CONFIG = """xwayland disable
output * resolution 800x600 bg #3050a0 solid_color
"""
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
#: the panel: one row at the top, 30 px high, with just the systray plugin
XFCE_PANEL_XML = """<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="30"/>
      <property name="icon-size" type="uint" value="24"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray">
      <property name="square-icons" type="bool" value="false"/>
    </property>
  </property>
</channel>
"""


def sway_unavailable() -> str | None:
    """Why sway + waybar cannot run here, or None."""
    missing = [t for t in ("sway", "waybar", "grim", "dbus-daemon") if shutil.which(t) is None]
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        missing.append("setpriv")
    if missing:
        return f"missing {', '.join(missing)} (apt: sway waybar grim dbus util-linux)"
    return None


def xfce_unavailable() -> str | None:
    """Why xfce4-panel on Xvfb cannot run here, or None."""
    missing = [
        t
        for t in ("Xvfb", "xfce4-panel", "import", "xdotool", "dbus-daemon")
        if shutil.which(t) is None
    ]
    if missing:
        return f"missing {', '.join(missing)} (apt: xvfb xfce4-panel imagemagick xdotool dbus)"
    return None


def text_rows(image: Image.Image, box: Box) -> list[int]:
    """The middle y of each line of text inside ``box`` of a light menu (dark pixels, grouped)."""
    region = image.convert("L").crop((box.left, box.top, box.right, box.bottom))
    width, data = region.width, region.tobytes()
    dark = [any(v < 190 for v in data[y * width : (y + 1) * width]) for y in range(region.height)]
    rows, start = [], None
    for y, is_dark in enumerate([*dark, False]):
        if is_dark and start is None:
            start = y
        elif not is_dark and start is not None:
            if y - start >= 5:  # a line of text, not a border or separator
                rows.append(box.top + (start + y) // 2)
            start = None
    return rows


class SwayDesktop(Desktop):
    """Headless sway + waybar on a private bus; grim screenshots, virtual-pointer clicks."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.address = ""
        self._waybar: subprocess.Popen[bytes] | None = None
        self._pointer: VirtualPointer | None = None
        self._shared = Path(tempfile.mkdtemp(prefix="cardwatch-sway-"))

    # The compositor's uid must reach its files: a world-readable directory of our own (the
    # test's tmp_path is private to root), removed again in stop().
    def _as_compositor(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]

    def _own(self, path: Path) -> Path:
        path.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
        return path

    def start(self) -> None:
        shared = self._shared
        shared.chmod(0o755)
        home = self._own(shared / "home")
        self.runtime = self._own(shared / "runtime")
        (shared / "sway.conf").write_text(SWAY_CONFIG)
        (shared / "waybar.json").write_text(WAYBAR_CONFIG)
        (shared / "bus.conf").write_text(BUS_CONFIG.format(socket=shared / "bus"))
        bus = subprocess.run(
            [
                *("dbus-daemon", f"--config-file={shared / 'bus.conf'}", "--fork"),
                *("--print-address=1", "--print-pid=1"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=15,
        )
        self.address, pid = bus.stdout.split()[:2]
        self._bus_pid = int(pid)
        self.compositor_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_CONFIG_HOME": str(home / "config"),
            "DBUS_SESSION_BUS_ADDRESS": self.address,
            "NO_AT_BRIDGE": "1",
            "GSETTINGS_BACKEND": "memory",
            "LANG": "C.UTF-8",
        }
        sway_env = dict(
            self.compositor_env,
            WLR_BACKENDS="headless",
            WLR_LIBINPUT_NO_DEVICES="1",
            WLR_RENDERER="pixman",
            WLR_HEADLESS_OUTPUTS="1",
        )
        sway_log = (self.workdir / "sway.log").open("wb")
        self._procs.append(
            subprocess.Popen(
                [*self._as_compositor(), "sway", "-c", str(shared / "sway.conf")],
                env=sway_env,
                stdout=sway_log,
                stderr=subprocess.STDOUT,
            )
        )
        socket = wait_for("sway's Wayland socket", self._wayland_socket)
        self.wayland_display = str(socket)
        self.compositor_env["WAYLAND_DISPLAY"] = socket.name
        self.env = self._environment()
        self.env.update(DBUS_SESSION_BUS_ADDRESS=self.address, WAYLAND_DISPLAY=str(socket))
        self.env.pop("DISPLAY", None)
        # a pointer device from the start: a client sees a pointer only once the seat has one
        self._pointer = VirtualPointer(socket, SCREEN)
        self.start_bar()

    def _wayland_socket(self) -> Path | None:
        found = sorted(self.runtime.glob("wayland-[0-9]"))
        return found[0] if found and (self.runtime / f"{found[0].name}.lock").exists() else None

    def start_bar(self) -> None:
        """Start waybar; returns once its watcher has a host registered on the bus."""
        log = (self.workdir / "waybar.log").open("ab")
        self._waybar = subprocess.Popen(
            [*self._as_compositor(), "waybar", "-c", str(self._shared / "waybar.json")],
            env=self.compositor_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        bus = {"DBUS_SESSION_BUS_ADDRESS": self.address}
        wait_for("waybar's StatusNotifierWatcher", lambda: watcher_ready(bus) is None or None)

    def kill_bar(self) -> None:
        """SIGKILL waybar (a crash: nothing unregisters)."""
        assert self._waybar is not None
        self._waybar.kill()
        self._waybar.wait()
        self._waybar = None

    def stop(self) -> None:
        if self._pointer is not None:
            self._pointer.close()
            self._pointer = None
        if self._waybar is not None and self._waybar.poll() is None:
            self._waybar.terminate()
            self._waybar.wait(5)
        super().stop()
        if getattr(self, "_bus_pid", None):
            os.kill(self._bus_pid, signal.SIGTERM)
            self._bus_pid = 0
        shutil.rmtree(self._shared, ignore_errors=True)

    def screenshot(self) -> Image.Image:
        """The whole output, now (grim)."""
        shot = subprocess.run(
            ["grim", "-t", "ppm", "-"],
            env={**self.compositor_env, "WAYLAND_DISPLAY": self.wayland_display},
            capture_output=True,
            check=True,
            timeout=15,
        )
        from io import BytesIO

        return Image.open(BytesIO(shot.stdout)).convert("RGB")

    def click(self, x: int, y: int, button: int = 1) -> None:
        """Click ``button`` (1 left, 2 middle, 3 right) at (x, y)."""
        assert self._pointer is not None
        self._pointer.click(x, y, {1: BTN_LEFT, 2: BTN_MIDDLE, 3: BTN_RIGHT}[button])

    def _dump_windows(self) -> None:
        pass


class XfceDesktop(Desktop):
    """Xvfb + xfce4-panel (systray plugin) on a private session bus that xfconfd comes on."""

    def _start_tray(self) -> None:
        xml = Path(self.env["XDG_CONFIG_HOME"]) / "xfce4" / "xfconf" / "xfce-perchannel-xml"
        xml.mkdir(parents=True, exist_ok=True)
        (xml / "xfce4-panel.xml").write_text(XFCE_PANEL_XML)
        # the bus's environment is what xfconfd, activated on it, sees: the private XDG dirs
        bus = subprocess.run(
            ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=15,
        )
        self.address, pid = bus.stdout.split()[:2]
        self._bus_pid = int(pid)
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        log = (self.workdir / "xfce4-panel.log").open("ab")
        self.panel = subprocess.Popen(
            ["xfce4-panel", "--disable-wm-check"], env=self.env, stdout=log, stderr=log
        )
        self._procs.append(self.panel)
        bus_env = {"DBUS_SESSION_BUS_ADDRESS": self.address}
        wait_for(
            "the panel's StatusNotifierWatcher", lambda: watcher_ready(bus_env) is None or None
        )
        wait_for("the panel's X tray", self._tray_owned)

    def stop(self) -> None:
        super().stop()
        if getattr(self, "_bus_pid", None):
            os.kill(self._bus_pid, signal.SIGTERM)
            self._bus_pid = 0


class TrayApp:
    """``cardwatch -v run --demo SCENARIO`` on a desktop; BROWSER records what it opens."""

    def __init__(self, env: dict[str, str], workdir: Path, scenario: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "cardwatch.log"
        self.opened = workdir / "opened.txt"
        browser = workdir / "browser.sh"
        # One line per launch: the URL and the activation token it came with (or "none").
        browser.write_text(
            f'#!/bin/sh\nprintf "%s %s\\n" "$1" "${{XDG_ACTIVATION_TOKEN:-none}}" >> "{self.opened}"\n'
        )
        browser.chmod(0o755)
        env = dict(env, BROWSER=str(browser), LANG="C.UTF-8")
        for var in ("LANGUAGE", "PYSTRAY_BACKEND", "XDG_ACTIVATION_TOKEN"):
            env.pop(var, None)
        command = [sys.executable, "-m", "tray", "-v", "run", "--demo", scenario]
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

    def opened_urls(self) -> list[str] | None:
        """The URLs BROWSER was asked to open, or None before the first."""
        if not self.opened.exists():
            return None
        lines = self.opened.read_text(encoding="utf-8").splitlines()
        return [line.split()[0] for line in lines if line.strip()] or None

    def terminate(self) -> int:
        """SIGTERM; the exit code, which must come within EXIT_WITHIN seconds."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"no exit {EXIT_WITHIN:.0f} s after SIGTERM:\n{self.log()}"
            ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def find_menu(desk: Desktop, lines: int, colour: Colour = (255, 255, 255)) -> MenuShown | None:
    """An open menu (a large area of its background colour) showing ``lines`` lines, or None."""
    shot = desk.screenshot()
    found = colour_box(shot, colour, (0, 0, *SCREEN), tolerance=6)
    if found is None or found[1] < 5000:
        return None
    menu = _menu_body(shot, found[0])
    rows = text_rows(shot, menu)
    return MenuShown(menu, rows) if len(rows) == lines else None


def _menu_body(shot: Image.Image, box: Box) -> Box:
    """The menu inside ``box`` (which may also hold the pointer's white outline, at its right).

    The menu's left margin is plain background from its top to its bottom: the longest light
    run down that column is the menu's height; the left half holds the labels.
    """
    column = shot.convert("L").crop((box.left + 3, box.top, box.left + 4, box.bottom)).tobytes()
    best, start = (0, 0), None
    for y, value in enumerate([*column, 0]):
        if value >= 220 and start is None:
            start = y
        elif value < 220 and start is not None:
            best = max(best, (y - start, start))
            start = None
    height, top = best
    return Box(box.left, box.top + top, (box.left + box.right) // 2, box.top + top + height)


def wait_menu(desk: Desktop, lines: int) -> MenuShown:
    """Wait for a menu of ``lines`` lines to show (a screenshot in the workdir if it does not)."""
    try:
        return wait_for(f"a menu of {lines} lines", lambda: find_menu(desk, lines))
    except AssertionError as exc:
        shot = desk.workdir / "no-menu.png"
        desk.screenshot().save(shot)
        raise AssertionError(f"{exc}; the screen is in {shot}") from None


@dataclass(frozen=True)
class MenuShown:
    """Where a menu is and the middle y of each of its lines, top down."""

    box: Box
    rows: list[int]


#: GSettings for GNOME Shell (the keyfile backend: no dconf service needed)
GNOME_SETTINGS = """[org/gnome/shell]
enabled-extensions=['ubuntu-appindicators@ubuntu.com', 'cardwatch-test@local']
disable-user-extensions=false
welcome-dialog-last-shown-version='999'
"""
#: a test-only extension: unsafe mode lets the test use Shell.Eval and Shell.Screenshot
GNOME_TEST_EXTENSION = {
    "metadata.json": '{"uuid": "cardwatch-test@local", "name": "Cardwatch test", '
    '"description": "unsafe mode for tests", "shell-version": ["43", "44", "45"]}',
    "extension.js": "function init() {\n  return {\n"
    "    enable() { global.context.unsafe_mode = true; },\n    disable() {},\n  };\n}\n",
}
GNOME_SCREEN = (1024, 700)
#: GNOME's top bar
TOP_BAR = (0, 0, GNOME_SCREEN[0], 32)
GNOME_START = 60.0


def gnome_unavailable() -> str | None:
    """Why GNOME Shell with the AppIndicator extension cannot run here, or None."""
    missing = [t for t in ("gnome-shell", "dbus-daemon", "dbus-send") if shutil.which(t) is None]
    extension = Path("/usr/share/gnome-shell/extensions/ubuntu-appindicators@ubuntu.com")
    if not extension.is_dir():
        missing.append("the AppIndicator extension")
    if missing:
        return (
            f"missing {', '.join(missing)} "
            "(apt: gnome-shell gnome-shell-extension-appindicator dbus)"
        )
    return None


class GnomeDesktop(Desktop):
    """GNOME Shell headless on Wayland with the AppIndicator extension, on private buses.

    gnome-shell aborts without a system bus: a second private bus stands in for it. A
    test-only extension turns on unsafe mode, so the test can take screenshots through
    ``org.gnome.Shell.Screenshot`` and click through a Clutter virtual pointer made in
    ``org.gnome.Shell.Eval``.
    """

    def start(self) -> None:
        self.env = self._environment()
        self.env.pop("DISPLAY", None)
        home = Path(self.env["HOME"])
        settings = home / "config" / "glib-2.0" / "settings"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "keyfile").write_text(GNOME_SETTINGS)
        extension = Path(self.env["XDG_DATA_HOME"]) / "gnome-shell" / "extensions"
        extension = extension / "cardwatch-test@local"
        extension.mkdir(parents=True, exist_ok=True)
        for name, text in GNOME_TEST_EXTENSION.items():
            (extension / name).write_text(text)
        self.env["GSETTINGS_BACKEND"] = "keyfile"
        self._bus_pids: list[int] = []
        self.env["DBUS_SYSTEM_BUS_ADDRESS"] = self._bus()
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.address = self._bus()
        log = (self.workdir / "gnome-shell.log").open("ab")
        self.shell = subprocess.Popen(
            [
                *("gnome-shell", "--wayland", "--headless", "--virtual-monitor"),
                "{}x{}".format(*GNOME_SCREEN),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._procs.append(self.shell)
        bus = {"DBUS_SESSION_BUS_ADDRESS": self.address}
        wait_for("the shell's unsafe mode", lambda: self._eval_ok(), GNOME_START)
        wait_for("the extension's watcher", lambda: watcher_ready(bus) is None or None)
        socket = Path(self.env["XDG_RUNTIME_DIR"]) / "wayland-0"
        self.env["WAYLAND_DISPLAY"] = str(socket)
        self._shots = 0

    def _bus(self) -> str:
        started = subprocess.run(
            ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=15,
        )
        address, pid = started.stdout.split()[:2]
        self._bus_pids.append(int(pid))
        return address

    def _send(self, path: str, method: str, *args: str) -> str:
        found = subprocess.run(
            [
                *("dbus-send", "--session", "--print-reply=literal", "--dest=org.gnome.Shell"),
                *(path, method, *args),
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=15,
        )
        return found.stdout if found.returncode == 0 else ""

    def eval(self, script: str) -> str:
        """Run JavaScript in the shell; its printed reply ("" on failure)."""
        return self._send("/org/gnome/Shell", "org.gnome.Shell.Eval", f"string:{script}")

    def _eval_ok(self) -> bool | None:
        return True if "true" in self.eval("global.context.unsafe_mode") else None

    def screenshot(self) -> Image.Image:
        """The whole screen, now (org.gnome.Shell.Screenshot)."""
        self._shots += 1
        path = self.workdir / f"shot-{self._shots}.png"
        reply = self._send(
            "/org/gnome/Shell/Screenshot",
            "org.gnome.Shell.Screenshot.Screenshot",
            *("boolean:false", "boolean:false", f"string:{path}"),
        )
        assert "true" in reply, f"no screenshot: {reply!r}"
        image = Image.open(path).convert("RGB")
        path.unlink()
        return image

    def click(self, x: int, y: int, button: int = 1, times: int = 1) -> None:
        """Click ``button`` at (x, y) ``times`` times (2: a double click) with a virtual pointer."""
        presses = "".join(
            f"p.notify_button(t + {2 * i + 1} * 1000, {button}, Clutter.ButtonState.PRESSED);"
            f"p.notify_button(t + {2 * i + 2} * 1000, {button}, Clutter.ButtonState.RELEASED);"
            for i in range(times)
        )
        script = (
            "const Clutter = imports.gi.Clutter; const GLib = imports.gi.GLib;"
            "if (!global._cardwatchPointer) global._cardwatchPointer = Clutter.get_default_backend()"
            ".get_default_seat().create_virtual_device(Clutter.InputDeviceType.POINTER_DEVICE);"
            "const p = global._cardwatchPointer; const t = GLib.get_monotonic_time();"
            f"p.notify_absolute_motion(t, {x}, {y}); {presses} 'clicked'"
        )
        assert "clicked" in self.eval(script)

    def _dump_windows(self) -> None:
        pass

    def stop(self) -> None:
        super().stop()
        for pid in getattr(self, "_bus_pids", []):
            os.kill(pid, signal.SIGTERM)
        self._bus_pids = []
