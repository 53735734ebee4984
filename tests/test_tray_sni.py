"""The own StatusNotifierItem + dbusmenu tray against a watcher/host on a private bus.

``tests/sni_host.py`` plays the panel: it owns ``org.kde.StatusNotifierWatcher``, records
registrations and signals, and reads properties and menus as a host does. The tray runs
in-process (properties, pixmaps, layout, ids, events) and as a real ``cardwatch run --demo``
(the report reaching BROWSER, the watcher appearing late, SIGTERM from every state).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from desktop import Desktop, colour_box, desktop_unavailable, wait_for
from hosts import TrayApp
from notify_server import dbus_unavailable, session_bus
from sni_host import SniHost
from tray.icondata import draw

from tray.check.run import run_check
from tray.clock import SystemClock
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo.backend import SimBackend
from tray.demo.scenarios import build
from tray.ui import choose
from tray.ui.menu import Entry, build_menu
from tray.ui.sni import ACTION_IDS, ITEM_PATH, PIXMAP_SIZES, SniTray, menu_items
from tray.ui.tray import choose_backend

GREEN, AMBER, RED, GREY = draw.GREEN[:3], draw.AMBER[:3], draw.RED[:3], draw.GREY[:3]
UP = DaemonState(service_up=True)
#: a bounded wait for the process to end after SIGTERM (not a speed measurement)
EXIT_WITHIN = 5.0


def checked(scenario: str, reader: str = "Reader 0") -> DaemonState:
    clock = SystemClock()
    report = run_check(SimBackend(build(scenario, clock.now())), clock).readers[0]
    return UP.with_reader(ReaderState(reader, Phase.CHECKED, report))


class Recorder:
    """The tray's actions, recorded (with the activation token seen at the time)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.tokens: list[str | None] = []
        self.autostart: bool | None = None
        self._cond = threading.Condition()

    def _record(self, name: str) -> None:
        with self._cond:
            self.calls.append(name)
            self.tokens.append(os.environ.get("XDG_ACTIVATION_TOKEN"))
            self._cond.notify_all()

    def check_now(self) -> None:
        self._record("check_now")

    def open_report(self) -> None:
        self._record("open_report")

    def toggle_pause(self) -> None:
        self._record("toggle_pause")

    def toggle_autostart(self) -> None:
        self._record("toggle_autostart")

    def quit(self) -> None:
        self._record("quit")

    def autostart_enabled(self) -> bool | None:
        return self.autostart

    def wait(self, count: int) -> list[str]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.calls) >= count, 15), self.calls
            return list(self.calls)


@pytest.fixture
def address(tmp_path: Path) -> Iterator[str]:
    reason = dbus_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    with session_bus(str(tmp_path)) as found:
        yield found


@pytest.fixture
def host(address: str) -> Iterator[SniHost]:
    with SniHost(address) as peer:
        yield peer


class Running:
    """An SniTray serving on a thread of its own (in the app it owns the main thread)."""

    def __init__(self, address: str, state: DaemonState) -> None:
        self.actions = Recorder()
        self.tray = SniTray(self.actions, state, {"DBUS_SESSION_BUS_ADDRESS": address})
        self.thread = threading.Thread(target=self.tray.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.tray.stop()
        self.thread.join(EXIT_WITHIN)
        assert not self.thread.is_alive(), "the tray did not stop"


@pytest.fixture
def running(address: str, host: SniHost) -> Iterator[Running]:
    tray = Running(address, UP)
    try:
        host.item()
        yield tray
    finally:
        tray.close()


def argb_image(width: int, height: int, data: bytes) -> Any:
    from PIL import Image

    alpha, red, green, blue = Image.frombytes("RGBA", (width, height), data).split()
    return Image.merge("RGBA", (red, green, blue, alpha))


def main_colour(pixmap: list[Any]) -> tuple[int, int, int]:
    """Which of the four state colours covers most of the pixmap."""
    width, height, data = pixmap
    image = argb_image(width, height, bytes(data))
    counts = {}
    for colour in (GREEN, AMBER, RED, GREY):
        found = colour_box(image, colour, (0, 0, width, height), tolerance=30)
        counts[colour] = found[1] if found else 0
    return max(counts, key=lambda c: counts[c])


# --- properties ------------------------------------------------------------------------------


def test_item_registers_by_path_and_has_the_spec_properties(
    running: Running, host: SniHost
) -> None:
    name, path = host.item()
    assert path == ITEM_PATH and name.startswith(":")  # the unique name, taken by the watcher
    owner = host.call(
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "GetNameOwner",
        "s",
        [f"org.kde.StatusNotifierItem-{os.getpid()}-1"],
        destination="org.freedesktop.DBus",
    )
    assert owner.body == [name]
    props = host.properties()
    signatures = {key: value.signature for key, value in props.items()}
    for key, signature in {
        "Category": "s",
        "Id": "s",
        "Title": "s",
        "Status": "s",
        "WindowId": "i",
        "IconThemePath": "s",
        "IconName": "s",
        "IconPixmap": "a(iiay)",
        "OverlayIconPixmap": "a(iiay)",
        "AttentionIconPixmap": "a(iiay)",
        "ToolTip": "(sa(iiay)ss)",
        "ItemIsMenu": "b",
        "Menu": "o",
        "IconAccessibleDesc": "s",
        "AttentionAccessibleDesc": "s",
    }.items():
        assert signatures.get(key) == signature, key
    assert props["IconName"].value == ""  # pixels only: MATE and GNOME mishandle names/paths
    assert props["ItemIsMenu"].value is False  # so a left click is Activate
    assert props["Menu"].value == "/MenuBar"
    assert props["Status"].value == "Active"
    pixmaps = props["IconPixmap"].value
    assert [(w, h) for w, h, _ in pixmaps] == [(s, s) for s in PIXMAP_SIZES]
    assert all(len(data) == w * h * 4 for w, h, data in pixmaps)
    _icon, _pixels, title, text = props["ToolTip"].value
    assert title == "Cardwatch" and text == "No card reader connected"


@pytest.mark.parametrize(
    ("scenario", "colour"),
    [(None, GREY), ("default", GREEN), ("expiring", AMBER), ("expired", RED)],
)
def test_each_state_has_its_colour_in_every_pixmap(
    running: Running, host: SniHost, scenario: str | None, colour: tuple[int, int, int]
) -> None:
    before = host.signal_count("NewIcon")
    if scenario is not None:
        running.tray.update(checked(scenario))
        host.wait("NewIcon", lambda h: h.signal_count("NewIcon") > before)
    for pixmap in host.properties()["IconPixmap"].value:
        assert main_colour(pixmap) == colour, pixmap[0]


def test_new_icon_only_when_the_icon_state_changes(running: Running, host: SniHost) -> None:
    running.tray.update(checked("default"))
    host.wait("the first NewIcon", lambda h: h.signal_count("NewIcon") == 1)
    # Same icon state, another menu (paused): the menu's update is the sync point.
    updates = host.signal_count("ItemsPropertiesUpdated")
    running.tray.update(replace(checked("default"), paused=True))
    host.wait("the pause mark", lambda h: h.signal_count("ItemsPropertiesUpdated") > updates)
    assert host.signal_count("NewIcon") == 1
    running.tray.update(UP)  # grey again: a NewIcon
    host.wait("the grey NewIcon", lambda h: h.signal_count("NewIcon") == 2)
    assert host.signal_count("NewIcon") == 2


# --- the menu --------------------------------------------------------------------------------


def two_readers(scenario: str) -> DaemonState:
    return checked(scenario).with_reader(ReaderState("Reader 1", Phase.EMPTY))


def test_get_layout_equals_the_menu_model(running: Running, host: SniHost) -> None:
    state = two_readers("expiring")
    running.tray.update(state)
    host.wait("the new layout", lambda h: h.signal_count("LayoutUpdated") >= 1)
    _revision, children = host.layout()
    model = build_menu(state)
    assert len(children) == len(model)
    for (_id, props), entry in zip(children, model, strict=True):
        if isinstance(entry, Entry):
            assert props["label"].value == entry.label.replace("_", "__")
            assert props["enabled"].value is entry.enabled
            if entry.checked is None:
                assert "toggle-type" not in props
            else:
                assert props["toggle-type"].value == "checkmark"
                assert props["toggle-state"].value == int(entry.checked)
        else:
            assert props["type"].value == "separator"


def test_mnemonic_underscores_are_escaped() -> None:
    state = UP.with_reader(ReaderState("Token_Reader_1", Phase.EMPTY))
    (line, *_rest) = menu_items(state, None)
    assert "Token__Reader__1" in line.properties["label"].value


def test_ids_stay_stable_a_mark_is_a_property_update_and_a_reader_a_new_layout(
    running: Running, host: SniHost
) -> None:
    revision, before = host.layout()
    layouts = host.signal_count("LayoutUpdated")
    running.tray.update(DaemonState(service_up=True, paused=True))
    host.wait("ItemsPropertiesUpdated", lambda h: h.signal_count("ItemsPropertiesUpdated") >= 1)
    updated, removed = host.last_signal("ItemsPropertiesUpdated")
    assert removed == []
    assert [item_id for item_id, _ in updated] == [ACTION_IDS[choose_action("toggle_pause")]]
    assert updated[0][1]["toggle-state"].value == 1
    assert host.signal_count("LayoutUpdated") == layouts
    same_revision, after = host.layout()
    assert same_revision == revision and [i for i, _ in after] == [i for i, _ in before]

    running.tray.update(two_readers("default"))  # two status lines: the shape changes
    host.wait("LayoutUpdated", lambda h: h.signal_count("LayoutUpdated") > layouts)
    new_revision, grown = host.layout()
    assert new_revision > revision
    ids = [i for i, _ in grown]
    assert all(ids.count(i) == 1 for i in ids)
    assert [i for i in ids if i in ACTION_IDS.values()] == [
        i for i, _ in before if i in ACTION_IDS.values()
    ]


def choose_action(value: str) -> Any:
    from tray.ui.menu import Action

    return Action(value)


def test_menu_events_and_clicks_run_their_actions(running: Running, host: SniHost) -> None:
    running.actions.autostart = False
    running.tray.update(UP)  # the Start at login entry appears
    host.wait("the autostart entry", lambda h: h.signal_count("LayoutUpdated") >= 1)
    for count, (action, item_id) in enumerate(ACTION_IDS.items(), start=1):
        host.click(item_id)
        assert running.actions.wait(count)[-1] == action.value
    host.activate("Activate")
    assert running.actions.wait(6)[-1] == "open_report"
    host.activate("SecondaryActivate")
    assert running.actions.wait(7)[-1] == "check_now"
    # A status line is information: choosing it does nothing.
    _revision, children = host.layout()
    host.click(children[0][0])
    host.activate("SecondaryActivate")
    assert running.actions.wait(8)[-1] == "check_now" and len(running.actions.calls) == 8


def test_an_activation_token_goes_with_the_report(running: Running, host: SniHost) -> None:
    _name, path = host.item()
    host.call(path, "org.kde.StatusNotifierItem", "ProvideXdgActivationToken", "s", ["tok-1"])
    host.activate("Activate")
    running.actions.wait(1)
    assert running.actions.tokens == ["tok-1"]


def test_a_restarted_watcher_gets_the_icon_again(running: Running, host: SniHost) -> None:
    first, _ = host.item()
    host.restart()
    name, path = host.item()  # registered again on the new watcher
    assert (name, path) == (first, ITEM_PATH)


# --- the backend choice ----------------------------------------------------------------------


def test_linux_default_is_xorg_for_pystray_and_gtk_only_when_asked() -> None:
    assert choose_backend("linux", {}, has_gi=True) == ["xorg"]
    assert choose.asked_for("", {}) == ""
    assert choose.asked_for("gtk", {}) == "gtk"
    assert choose.asked_for("appindicator", {"PYSTRAY_BACKEND": "xorg"}) == "xorg"
    assert choose.asked_for("gtk", {"WAYLAND_DISPLAY": "wayland-0"}) == ""
    assert choose.asked_for("gtk", {"WAYLAND_DISPLAY": "w", "GDK_BACKEND": "x11"}) == "gtk"


# --- the real process ------------------------------------------------------------------------


def bus_env(address: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DBUS_") and k not in ("DISPLAY", "WAYLAND_DISPLAY")
    }
    if address is not None:
        env["DBUS_SESSION_BUS_ADDRESS"] = address
    return env


def test_activate_opens_the_report_in_the_browser_with_the_token(
    address: str, host: SniHost, tmp_path: Path
) -> None:
    app = TrayApp(bus_env(address), tmp_path, "expired")
    try:
        app.wait_log("tray icon with the sni backend")
        _name, path = host.item()
        # The expired demo card may be checked before the item registers, so that its first
        # icon is already red and no NewIcon follows: wait for the daemon's state instead.
        app.wait_log("state error:")
        host.call(path, "org.kde.StatusNotifierItem", "ProvideXdgActivationToken", "s", ["t-42"])
        host.activate("Activate")
        opened = wait_for("the report to be opened", lambda: _read(app.opened))
        url, token = opened.split()
        assert url.startswith("file://") and url.endswith("report.html")
        assert token == "t-42"
        assert app.terminate() == 0
    finally:
        app.kill()
    assert "Traceback" not in app.log()


def test_a_watcher_that_comes_late_gets_the_icon_after_one_warning(
    address: str, tmp_path: Path
) -> None:
    app = TrayApp(bus_env(address), tmp_path, "expired")
    try:
        app.wait_log("no tray icon yet: no StatusNotifierWatcher on the session bus")
        with SniHost(address) as host:
            host.item()
            app.wait_log("tray icon with the sni backend")
            assert app.terminate() == 0
    finally:
        app.kill()
    warnings = [
        line
        for line in app.log().splitlines()
        if line.startswith("WARNING") and "tray icon" in line
    ]
    assert len(warnings) == 1, app.log()
    assert "DISPLAY" in warnings[0]


def test_without_a_host_registered_the_xorg_fallback_docks(address: str, tmp_path: Path) -> None:
    reason = desktop_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with SniHost(address, host_registered=False), Desktop(tmp_path) as desk:
        env = dict(desk.env, DBUS_SESSION_BUS_ADDRESS=address)
        app = TrayApp(env, tmp_path, "expired")
        try:
            app.wait_log("tray icon with the xorg backend")
            desk.wait_colour(RED, "the red icon in trayer")
            assert app.terminate() == 0
        finally:
            app.kill()


@pytest.mark.parametrize("where", ["registered", "watcher gone", "no watcher yet", "no bus"])
def test_sigterm_ends_the_process_from_every_tray_state(
    address: str, tmp_path: Path, where: str
) -> None:
    host = SniHost(address).__enter__() if where in ("registered", "watcher gone") else None
    try:
        app = TrayApp(bus_env(None if where == "no bus" else address), tmp_path, "expiring")
        try:
            if host is not None:
                host.item()
                app.wait_log("registered with the StatusNotifierWatcher")
                if where == "watcher gone":
                    host.__exit__(None, None, None)
                    host = None
            elif where == "no watcher yet":
                app.wait_log("no tray host yet")
            else:
                app.wait_log("no tray icon: ")
            app.wait_log("state warning:")
            assert app.terminate() == 0, app.log()
        finally:
            app.kill()
    finally:
        if host is not None:
            host.__exit__(None, None, None)
    assert "Traceback" not in app.log()


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def test_a_reply_error_is_not_a_crash(running: Running, host: SniHost) -> None:
    reply = host.call(ITEM_PATH, "org.kde.StatusNotifierItem", "NoSuchMethod")
    assert reply.message_type is MessageType.ERROR
    assert isinstance(reply, Message)
    host.activate("SecondaryActivate")
    assert running.actions.wait(1) == ["check_now"]
