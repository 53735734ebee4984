"""The SNI tray on real hosts: sway + waybar (Wayland) and xfce4-panel on Xvfb (X11).

Each test runs ``cardwatch -v run --demo SCENARIO`` with no backend asked for, as a user
would, and looks at the screen: the icon's colour in the bar follows the demo state (grey
without a card, green, amber, red), a left click opens the report (``BROWSER`` records the
URL), the right-click menu's *Check now* runs a check (the daemon's log says so), and a panel
that crashed and came back shows the icon again. On XFCE an open menu stays open across a
state update. On GNOME Shell (headless Wayland, AppIndicator extension; slow, so only with
``--long``) the icon shows in the top bar, a single click opens the menu, a double click the
report, and five starts in a row each show the icon. (With trayer, XEmbed only, the ``xorg``
fallback shows and opens the report: tests/test_tray_sni.py and tests/test_tray_desktop.py.)
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from desktop import Box, Desktop, colour_box, desktop_unavailable, wait_for
from hosts import (
    BACK_WITHIN,
    BAR_BOX,
    GNOME_SCREEN,
    TOP_BAR,
    GnomeDesktop,
    SwayDesktop,
    TrayApp,
    XfceDesktop,
    gnome_unavailable,
    sway_unavailable,
    wait_menu,
    xfce_unavailable,
)
from tray.icondata import draw

from tray.ui.sni import ITEM_PATH

GREEN, AMBER, RED, GREY = draw.GREEN[:3], draw.AMBER[:3], draw.RED[:3], draw.GREY[:3]
#: the demo scenarios in the order of the issue, with the colour each must show
STATES = [
    ("no-card", GREY, "grey"),
    ("default", GREEN, "green"),
    ("expiring", AMBER, "amber"),
    ("expired", RED, "red"),
]
#: the menu's lines, top down: the status line (disabled), then Check now
CHECK_NOW_ROW = 1
#: one reader's status, Check now, Open report, Pause notifications, Start at login, Quit
MENU_LINES = 6
#: fewer pixels of a colour than this are no icon
MIN_PIXELS = 20


def _skip_or_fail(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the host cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def sway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwayDesktop]:
    _skip_or_fail(sway_unavailable())
    with SwayDesktop(tmp_path_factory.mktemp("sway")) as desk:
        yield desk


@pytest.fixture(scope="module")
def xfce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XfceDesktop]:
    _skip_or_fail(desktop_unavailable() or xfce_unavailable())
    with XfceDesktop(tmp_path_factory.mktemp("xfce")) as desk:
        yield desk


@pytest.fixture(params=["waybar", "xfce"])
def host(request: pytest.FixtureRequest) -> Desktop:
    desk: Desktop = request.getfixturevalue("sway" if request.param == "waybar" else "xfce")
    return desk


def _only(desk: Desktop, colour: tuple[int, int, int]) -> Box | None:
    """The icon's box when ``colour`` fills it and no other state colour shows in the bar.

    Another state's colour may show in a few pixels of this icon (its edges, anti-aliased
    towards the bar, pass for grey): "no other" means under a third of this colour's count.
    """
    shot = desk.screenshot()
    found = colour_box(shot, colour, BAR_BOX)
    if found is None or found[1] < MIN_PIXELS:
        return None
    for other in (c for _, c, _ in STATES if c != colour):
        seen = colour_box(shot, other, BAR_BOX)
        if seen is not None and seen[1] >= max(MIN_PIXELS, found[1] // 3):
            return None
    return found[0]


def test_the_icon_colour_follows_the_demo_state(host: Desktop, tmp_path: Path) -> None:
    for scenario, colour, name in STATES:
        app = TrayApp(host.env, tmp_path / scenario, scenario)
        try:
            app.wait_log("tray icon with the sni backend")
            wait_for(
                f"only the {name} icon of {scenario} in the bar", lambda c=colour: _only(host, c)
            )
            assert app.terminate() == 0, app.log()
        finally:
            app.kill()
        assert "Traceback" not in app.log()


def test_left_click_opens_the_report_and_the_menu_checks_now(host: Desktop, tmp_path: Path) -> None:
    app = TrayApp(host.env, tmp_path, "expired")
    try:
        app.wait_log("tray icon with the sni backend")
        offset = app.wait_log("state error: ")
        icon = wait_for("the red icon", lambda: _only(host, RED))

        host.click(*icon.centre, button=1)
        urls = wait_for("the report to reach BROWSER", app.opened_urls)
        assert len(urls) == 1 and urls[0].startswith("file://"), urls
        assert urls[0].endswith("report.html")
        assert "expired" in Path(urls[0][len("file://") :]).read_text(encoding="utf-8").lower()

        host.click(*icon.centre, button=3)
        menu = wait_menu(host, MENU_LINES)
        host.click(menu.box.left + 40, menu.rows[CHECK_NOW_ROW], button=1)
        offset = app.wait_log(r"tray: check_now", offset)
        app.wait_log(r"state checking: ", offset)
        assert app.terminate() == 0, app.log()
    finally:
        app.kill()
    assert "Traceback" not in app.log()


def test_a_restarted_waybar_shows_the_icon_again(sway: SwayDesktop, tmp_path: Path) -> None:
    app = TrayApp(sway.env, tmp_path, "expiring")
    try:
        app.wait_log("registered with the StatusNotifierWatcher")
        sway.wait_colour(AMBER, "the amber icon", BAR_BOX)
        sway.kill_bar()
        wait_for("the bar to be gone", lambda: sway.find(AMBER, BAR_BOX) is None or None)
        sway.start_bar()
        # a bounded wait once the new bar's watcher is up, not a speed measurement
        sway.wait_colour(AMBER, "the amber icon on the new bar", BAR_BOX, timeout=BACK_WITHIN)
        assert app.terminate() == 0, app.log()
    finally:
        app.kill()
    assert "Traceback" not in app.log()


def _secondary_activate(env: dict[str, str]) -> None:
    """Ask the registered item for a check (what a middle click does), as another client."""
    bus = ["dbus-send", "--session", "--print-reply=literal"]
    items = subprocess.run(
        [
            *bus,
            *("--dest=org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher"),
            "org.freedesktop.DBus.Properties.Get",
            *("string:org.kde.StatusNotifierWatcher", "string:RegisteredStatusNotifierItems"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=15,
    ).stdout.split()
    service = next(word for word in items if word.endswith(ITEM_PATH))
    name = service[: -len(ITEM_PATH)]
    subprocess.run(
        [
            *(*bus, f"--dest={name}", ITEM_PATH, "org.kde.StatusNotifierItem.SecondaryActivate"),
            *("int32:0", "int32:0"),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=15,
    )


def test_an_open_menu_stays_open_across_a_state_update(xfce: XfceDesktop, tmp_path: Path) -> None:
    app = TrayApp(xfce.env, tmp_path, "expired")
    try:
        offset = app.wait_log("state error: ")
        icon = wait_for("the red icon", lambda: _only(xfce, RED))
        xfce.click(*icon.centre, button=3)
        before = wait_menu(xfce, MENU_LINES)
        _secondary_activate(xfce.env)
        offset = app.wait_log(r"tray: check_now", offset)
        offset = app.wait_log(r"state checking: ", offset)
        app.wait_log(r"state error: ", offset)
        after = wait_menu(xfce, MENU_LINES)
        assert after == before
        xfce.key("Escape")
        assert app.terminate() == 0, app.log()
    finally:
        app.kill()
    assert "Traceback" not in app.log()


# --- GNOME Shell (slow: only with --long) --------------------------------------------------

#: GNOME's menus: dark grey
GNOME_MENU = (48, 48, 48)
START_STOP_CYCLES = 5


@pytest.fixture(scope="module")
def gnome(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GnomeDesktop]:
    if not request.config.getoption("--long"):
        pytest.skip("GNOME Shell is slow to start: run with --long")
    _skip_or_fail(gnome_unavailable())
    with GnomeDesktop(tmp_path_factory.mktemp("gnome")) as desk:
        yield desk


def _gnome_menu(gnome: GnomeDesktop, box: tuple[int, int, int, int]) -> bool | None:
    """True when a menu (a large dark grey area) shows inside ``box``."""
    found = colour_box(gnome.screenshot(), GNOME_MENU, box, 2)
    return True if found is not None and found[1] > 20000 else None


def test_gnome_shows_the_icon_its_menu_and_a_double_click_opens_the_report(
    gnome: GnomeDesktop, tmp_path: Path
) -> None:
    app = TrayApp(gnome.env, tmp_path, "expiring")
    try:
        app.wait_log("registered with the StatusNotifierWatcher")
        icon = gnome.wait_colour(AMBER, "the amber icon in the top bar", TOP_BAR)

        # a single left click opens the menu (the extension's choice)
        below = (icon.left - 400, TOP_BAR[3], GNOME_SCREEN[0], 300)
        gnome.click(*icon.centre)
        wait_for("the menu under the icon", lambda: _gnome_menu(gnome, below))
        gnome.click(*icon.centre)  # closes it again

        # a double left click is Activate: the report
        gnome.click(*icon.centre, times=2)
        urls = wait_for("the report to reach BROWSER", app.opened_urls)
        assert urls[0].startswith("file://") and urls[0].endswith("report.html"), urls
        assert app.terminate() == 0, app.log()
    finally:
        app.kill()
    assert "Traceback" not in app.log()


def test_gnome_shows_the_icon_on_every_start(gnome: GnomeDesktop, tmp_path: Path) -> None:
    for cycle in range(START_STOP_CYCLES):
        app = TrayApp(gnome.env, tmp_path / str(cycle), "expired")
        try:
            app.wait_log("registered with the StatusNotifierWatcher")
            gnome.wait_colour(RED, f"the red icon, start {cycle + 1}", TOP_BAR)
            assert app.terminate() == 0, app.log()
        finally:
            app.kill()
        wait_for(
            f"the icon gone after stop {cycle + 1}",
            lambda: gnome.find(RED, TOP_BAR) is None or None,
        )
        assert "Traceback" not in app.log()
