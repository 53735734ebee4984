"""A real X desktop for tray tests: Xvfb, the trayer tray host, screenshots and xdotool clicks.

``Desktop`` starts ``Xvfb`` on a display it picks itself (``-displayfd``: no race for a free
number), then ``trayer`` docked top-left at a known place, and hands children an environment
that never touches the real HOME (private XDG dirs, GSettings in memory, no a11y bus). It
waits on conditions with a deadline (the tray selection owned, pixels of a colour shown),
never on fixed sleeps.

    with Desktop(tmp_path) as desk:
        desk.wait_colour(GREEN)
        desk.click(*desk.find(GREEN).centre, button=1)
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from PIL import Image, ImageChops

#: where trayer sits: a strip along the top-left edge of the screen
TRAY_BOX = (0, 0, 200, 32)
SCREEN = (800, 600)
TOOLS = ("Xvfb", "trayer", "import", "xdotool")
WAIT = 30.0  # a bound for a loaded machine, not a speed goal

Colour = tuple[int, int, int]
T = TypeVar("T")


def desktop_unavailable() -> str | None:
    """Why the desktop cannot run here, or None."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)} (apt: xvfb trayer imagemagick xdotool)"
    try:
        import Xlib.display  # noqa: F401
    except ImportError:
        return "python-xlib is not installed"
    return None


@dataclass(frozen=True)
class Box:
    """A rectangle of the screen, right and bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def centre(self) -> tuple[int, int]:
        return (self.left + self.right) // 2, (self.top + self.bottom) // 2


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll ``probe`` until it returns something other than None; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def near(pixel: tuple[int, ...], colour: Colour, tolerance: int) -> bool:
    return all(abs(p - c) <= tolerance for p, c in zip(pixel[:3], colour, strict=True))


def colour_box(
    image: Image.Image, colour: Colour, box: tuple[int, int, int, int], tolerance: int = 40
) -> tuple[Box, int] | None:
    """The bounding box and count of ``colour``'s pixels inside ``box``, or None if none."""
    bands = image.convert("RGB").crop(box).split()
    mask = None
    for band, value in zip(bands, colour, strict=True):
        low, high = value - tolerance, value + tolerance
        near_value = band.point(lambda v, lo=low, hi=high: 255 if lo <= v <= hi else 0)
        mask = near_value if mask is None else ImageChops.multiply(mask, near_value)
    assert mask is not None
    found = mask.getbbox()
    if found is None:
        return None
    left, top = box[0], box[1]
    count = mask.histogram()[255]
    return Box(left + found[0], top + found[1], left + found[2], top + found[3]), count


class Desktop:
    """Xvfb + trayer, and the environment for programs shown on it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.display = ""
        self.env: dict[str, str] = {}
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Desktop:
        try:
            self.start()
        except BaseException:
            self.stop()  # what did start: no process or directory is left behind
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        read, write = os.pipe()
        xvfb_log = (self.workdir / "xvfb.log").open("wb")
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
            stdout=xvfb_log,
            stderr=subprocess.STDOUT,
            pass_fds=(write,),
        )
        self._procs.append(xvfb)
        os.close(write)
        with os.fdopen(read) as numbers:
            number = numbers.readline().strip()  # Xvfb writes it once it accepts clients
        if not number:
            self.stop()
            raise RuntimeError(f"Xvfb did not start; see {self.workdir / 'xvfb.log'}")
        self.display = f":{number}"
        self.env = self._environment()
        self._start_tray()

    def _start_tray(self) -> None:
        trayer_log = (self.workdir / "trayer.log").open("wb")
        self._procs.append(
            subprocess.Popen(
                [
                    *("trayer", "--edge", "top", "--align", "left", "--widthtype", "pixel"),
                    *("--width", str(TRAY_BOX[2]), "--height", str(TRAY_BOX[3])),
                    *("--transparent", "false", "--tint", "0x000000"),
                ],
                env=self.env,
                stdout=trayer_log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_for("trayer to own the system tray selection", self._tray_owned)
        # Owning the selection comes before the panel is up; an icon docking in between is
        # lost. The bare Xvfb root is black: wait for the panel to cover the strip.
        wait_for("trayer's panel to show", self._panel_shown)

    def _panel_shown(self) -> bool | None:
        strip = self.screenshot().crop(TRAY_BOX)
        dark = colour_box(strip, (0, 0, 0), (0, 0, strip.width, strip.height), tolerance=8)
        return True if dark is None or dark[1] < strip.width * strip.height // 10 else None

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DBUS_"))}
        home = self.workdir / "home"
        runtime = self.workdir / "runtime"
        for path in (home, runtime):
            path.mkdir(mode=0o700, exist_ok=True)
        env.update(
            DISPLAY=self.display,
            HOME=str(home),
            NO_AT_BRIDGE="1",
            GSETTINGS_BACKEND="memory",
            XDG_RUNTIME_DIR=str(runtime),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            XDG_CACHE_HOME=str(home / "cache"),
            XDG_STATE_HOME=str(home / "state"),
        )
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def _tray_owned(self) -> bool | None:
        import Xlib.display
        import Xlib.X

        display = Xlib.display.Display(self.display)
        try:
            atom = display.intern_atom(f"_NET_SYSTEM_TRAY_S{display.get_default_screen()}")
            return True if display.get_selection_owner(atom) != Xlib.X.NONE else None
        finally:
            display.close()

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()

    # -- looking and clicking -------------------------------------------------------------

    def screenshot(self) -> Image.Image:
        """The whole screen, now."""
        shot = subprocess.run(
            ["import", "-window", "root", "png:-"],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=WAIT,
        )
        return Image.open(io.BytesIO(shot.stdout)).convert("RGB")

    def find(
        self, colour: Colour, box: tuple[int, int, int, int] = TRAY_BOX, min_pixels: int = 20
    ) -> Box | None:
        """Where ``colour`` shows inside ``box`` (at least ``min_pixels`` of it), or None."""
        found = colour_box(self.screenshot(), colour, box)
        return found[0] if found is not None and found[1] >= min_pixels else None

    def wait_colour(
        self,
        colour: Colour,
        what: str,
        box: tuple[int, int, int, int] = TRAY_BOX,
        timeout: float = WAIT,
    ) -> Box:
        """Wait until ``colour`` shows inside ``box``; its bounding box (a screenshot if not)."""
        try:
            return wait_for(what, lambda: self.find(colour, box), timeout)
        except AssertionError as exc:
            shot = self.workdir / "timeout.png"
            self.screenshot().save(shot)
            self._dump_windows()
            raise AssertionError(f"{exc}; the screen is in {shot}") from None

    def _dump_windows(self) -> None:
        tree = subprocess.run(
            ["xwininfo", "-root", "-tree"], env=self.env, capture_output=True, timeout=WAIT
        )
        (self.workdir / "timeout-windows.txt").write_bytes(tree.stdout)

    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=WAIT)

    def click(self, x: int, y: int, button: int = 1) -> None:
        """Move the pointer to (x, y) and click ``button`` (1 left, 3 right)."""
        self.xdotool("mousemove", str(x), str(y), "click", str(button))

    def key(self, *keys: str) -> None:
        """Press keys in order (xdotool names: Down, Return, Escape)."""
        self.xdotool("key", "--delay", "50", *keys)
