"""Screenshots of the SNI tray icon and its menu on real hosts, for the README (docs/).

Runs ``cardwatch run --demo expiring`` on sway + waybar and on xfce4-panel (tests/hosts.py,
the hosts tests/test_tray_hosts.py runs), right-clicks the icon and saves the corner of the
screen with the icon and the open menu:

    sudo .venv/bin/python tools/tray_screenshots.py    # writes docs/tray-waybar.png, docs/tray-xfce.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from desktop import Desktop, wait_for  # noqa: E402
from hosts import BAR_BOX, MenuShown, SwayDesktop, TrayApp, XfceDesktop, wait_menu  # noqa: E402
from PIL import Image  # noqa: E402
from tray.icondata import draw  # noqa: E402

#: one reader's status, Check now, Open report, Pause notifications, Start at login, Quit
MENU_LINES = 6
MARGIN = 12


def shoot(desk: Desktop, workdir: Path, out: Path) -> None:
    """The icon with its menu open, cropped to both plus a margin, saved to ``out``."""
    app = TrayApp(desk.env, workdir, "expiring")
    try:
        app.wait_log("state warning: ")
        icon = desk.wait_colour(draw.AMBER[:3], "the amber icon", BAR_BOX)
        desk.click(*icon.centre, button=3)
        menu = wait_menu(desk, MENU_LINES)
        shot = desk.screenshot()
        left = max(0, min(icon.left, menu.box.left) - MARGIN)
        right = min(shot.width, max(icon.right, _menu_right(shot, menu)) + MARGIN)
        bottom = min(shot.height, menu.box.bottom + MARGIN)
        shot.crop((left, 0, right, bottom)).save(out, optimize=True)
        print(f"wrote {out}")
        wait_for("cardwatch to end", lambda: app.terminate() == 0 or None)
    finally:
        app.kill()


def _menu_right(shot: Image.Image, menu: MenuShown) -> int:
    """The menu's right edge: along its last line (Quit, a short label), the first dark pixel."""
    grey = shot.convert("L")
    y = menu.rows[-1]
    for x in range(menu.box.left + 120, shot.width):
        if grey.getpixel((x, y)) < 220:  # type: ignore[operator]
            return x
    return shot.width


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, host in (("waybar", SwayDesktop), ("xfce", XfceDesktop)):
            (work / name).mkdir()
            with host(work / name) as desk:
                shoot(desk, work / name / "app", ROOT / "docs" / f"tray-{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
