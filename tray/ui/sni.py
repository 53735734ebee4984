"""The tray icon as a StatusNotifierItem with a ``com.canonical.dbusmenu`` menu, on dbus-fast.

The one module that imports dbus-fast for the tray: no pystray, no GLib, no GTK (~5 MiB RSS
instead of GTK's ~35). It shows on every host that speaks StatusNotifierItem: waybar (sway,
Hyprland), GNOME's AppIndicator extension, KDE Plasma, XFCE's systray, MATE, Cinnamon.

The pieces of the (freedesktop draft / KDE) specifications implemented, and why:

``org.kde.StatusNotifierItem`` at ``/StatusNotifierItem``

* the icon as ARGB32 pixmaps (network byte order) at 16–64 px from the shipped PNGs, with an
  empty ``IconName``: MATE treats ``IconName`` as a theme name and GNOME's extension cannot
  always read temporary files; pixels work everywhere;
* ``ItemIsMenu`` false: waybar and others then send ``Activate`` on a left click (open the
  report); ``SecondaryActivate`` (middle click) checks now; ``ContextMenu`` and ``Scroll`` do
  nothing (hosts show the dbusmenu themselves);
* ``ProvideXdgActivationToken`` (GNOME's extension calls it before ``Activate``): the token is
  handed to the browser the report opens in (``XDG_ACTIVATION_TOKEN``), so it may take focus;
* ``NewIcon`` only when the icon's state changes, ``NewToolTip`` when the tooltip does;
* registered with the watcher by object path (the watcher takes our unique name: by bus name
  GNOME's extension lost the icon in 4 of 9 starts), again whenever
  ``org.kde.StatusNotifierWatcher`` reappears (a restarted panel shows the icon again); the
  well-known name ``org.kde.StatusNotifierItem-<pid>-1`` is owned as well.

``com.canonical.dbusmenu`` at ``/MenuBar`` (version 3)

* ``GetLayout``, ``GetGroupProperties``, ``GetProperty``, ``Event``, ``EventGroup``,
  ``AboutToShow``, ``AboutToShowGroup``; signals ``LayoutUpdated``, ``ItemsPropertiesUpdated``
  and ``ItemActivationRequested``;
* stable item ids (one per action, one per status line position): a changed label or check
  mark is an ``ItemsPropertiesUpdated``, and only a change of shape (a reader added) is a
  ``LayoutUpdated``, so an open menu stays open across a state update;
* labels with ``_`` doubled (``_`` marks a mnemonic in dbusmenu).

Threads: :meth:`SniTray.run` runs an asyncio loop on the main thread; :meth:`SniTray.update`
and :meth:`SniTray.stop` may be called from any thread and only hand work to that loop with
``call_soon_threadsafe``. No helper threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import (
    ServiceInterface,
    dbus_method,
    dbus_property,
    dbus_signal,
)
from PIL import Image

from ..daemon.state import DaemonState, IconState, icon_state, tooltip_lines
from ..present.safe import notification
from .icons import load
from .menu import Action, Entry, build_menu

log = logging.getLogger(__name__)

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
ITEM_PATH = "/StatusNotifierItem"
MENU_PATH = "/MenuBar"
ITEM_INTERFACE = "org.kde.StatusNotifierItem"
MENU_INTERFACE = "com.canonical.dbusmenu"
#: the pixmap sizes offered; hosts pick the one nearest their slot
PIXMAP_SIZES = (16, 22, 24, 32, 48, 64)
#: seconds an activation token stays in the environment for the browser launch it is for
TOKEN_SECONDS = 10.0
#: seconds to wait for the bus and the watcher's answers
CALL_TIMEOUT = 5.0

Pixmaps = list[list[Any]]
Sig = DBusSignature
Str = Annotated[str, Sig("s")]
Int = Annotated[int, Sig("i")]
UInt = Annotated[int, Sig("u")]
Bool = Annotated[bool, Sig("b")]
Path = Annotated[str, Sig("o")]
PixmapList = Annotated[list[Any], Sig("a(iiay)")]
ToolTip = Annotated[list[Any], Sig("(sa(iiay)ss)")]
StrList = Annotated[list[str], Sig("as")]
IntList = Annotated[list[int], Sig("ai")]
#: no reply body (a plain ``None`` annotation reads as a literal under postponed annotations)
Void = Annotated[None, Sig("")]


def session_bus_address(env: Mapping[str, str]) -> str | None:
    """The session bus's address from ``env`` (or the standard socket), or None."""
    address = env.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.exists(os.path.join(runtime, "bus")):
        return f"unix:path={os.path.join(runtime, 'bus')}"
    return None


def argb(image: Image.Image) -> bytes:
    """An RGBA image's pixels as ARGB32 in network byte order (what SNI hosts expect)."""
    red, green, blue, alpha = image.convert("RGBA").split()
    return Image.merge("RGBA", (alpha, red, green, blue)).tobytes()


def pixmaps(state: IconState) -> Pixmaps:
    """The icon of ``state`` at every offered size, as ``a(iiay)``."""
    found = []
    for size in PIXMAP_SIZES:
        image = load(state, size)
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.LANCZOS)
        found.append([size, size, argb(image)])
    return found


def mnemonic_safe(label: str) -> str:
    """``label`` with ``_`` doubled: dbusmenu reads a single one as a mnemonic mark."""
    return label.replace("_", "__")


# --- the menu model --------------------------------------------------------------------------

#: stable ids of the action entries; status lines count up from STATUS_IDS, separators from 90
ACTION_IDS = {
    Action.CHECK_NOW: 1,
    Action.OPEN_REPORT: 2,
    Action.TOGGLE_PAUSE: 3,
    Action.TOGGLE_AUTOSTART: 4,
    Action.QUIT: 5,
}
SEPARATOR_IDS = 90
STATUS_IDS = 100


@dataclass(frozen=True)
class MenuItem:
    """One dbusmenu item: its stable id, its properties, and what choosing it does."""

    id: int
    properties: dict[str, Variant]
    action: Action | None = None
    #: what the action is about (a card line: its reader)
    arguments: tuple[str, ...] = ()


def menu_items(state: DaemonState, autostart: bool | None) -> list[MenuItem]:
    """The menu of ``state`` as dbusmenu items with stable ids."""
    items = []
    status = separators = 0
    for entry in build_menu(state, autostart):
        if not isinstance(entry, Entry):
            items.append(MenuItem(SEPARATOR_IDS + separators, {"type": Variant("s", "separator")}))
            separators += 1
            continue
        if entry.action is None or entry.action not in ACTION_IDS:
            # status and card lines: numbered by position, so a line changing from "no card"
            # to a card's headline is a property update, not a new layout
            item_id = STATUS_IDS + status
            status += 1
        else:
            item_id = ACTION_IDS[entry.action]
        props = {
            "label": Variant("s", mnemonic_safe(entry.label)),
            "enabled": Variant("b", entry.enabled),
            "visible": Variant("b", True),
        }
        if entry.checked is not None:
            props["toggle-type"] = Variant("s", "checkmark")
            props["toggle-state"] = Variant("i", 1 if entry.checked else 0)
        items.append(MenuItem(item_id, props, entry.action, entry.arguments))
    return items


class Menu(ServiceInterface):
    """``com.canonical.dbusmenu``: a flat menu under the root item 0."""

    def __init__(self, on_action: Callable[..., None]) -> None:
        super().__init__(MENU_INTERFACE)
        self._on_action = on_action
        self.revision = 1
        self.items: list[MenuItem] = []

    def show(self, items: list[MenuItem]) -> None:
        """Show ``items``: a property update if only properties changed, else a new layout."""
        old = {item.id: item for item in self.items}
        same_shape = [i.id for i in items] == [i.id for i in self.items]
        self.items = items
        if not same_shape:
            self.revision += 1
            self.LayoutUpdated(self.revision, 0)
            return
        changed = [
            [item.id, item.properties]
            for item in items
            if item.properties != old[item.id].properties
        ]
        if changed:
            self.ItemsPropertiesUpdated(changed, [])

    def _props(self, item_id: int, names: list[str]) -> dict[str, Variant] | None:
        if item_id == 0:
            found = {"children-display": Variant("s", "submenu")}
        else:
            item = next((i for i in self.items if i.id == item_id), None)
            if item is None:
                return None
            found = dict(item.properties)
        return {k: v for k, v in found.items() if not names or k in names}

    def _node(self, item: MenuItem, names: list[str]) -> Variant:
        props = {k: v for k, v in item.properties.items() if not names or k in names}
        return Variant("(ia{sv}av)", [item.id, props, []])

    @dbus_method()
    def GetLayout(
        self, parentId: Int, recursionDepth: Int, propertyNames: StrList
    ) -> Annotated[list[Any], Sig("u(ia{sv}av)")]:
        props = self._props(parentId, propertyNames)
        if props is None:
            return [self.revision, [parentId, {}, []]]
        children = (
            [self._node(i, propertyNames) for i in self.items]
            if parentId == 0 and recursionDepth != 0
            else []
        )
        return [self.revision, [parentId, props, children]]

    @dbus_method()
    def GetGroupProperties(
        self, ids: IntList, propertyNames: StrList
    ) -> Annotated[list[Any], Sig("a(ia{sv})")]:
        wanted = ids or [0] + [i.id for i in self.items]
        found = []
        for item_id in wanted:
            props = self._props(item_id, propertyNames)
            if props is not None:
                found.append([item_id, props])
        return found

    @dbus_method()
    def GetProperty(self, id: Int, name: Str) -> Annotated[Variant, Sig("v")]:
        props = self._props(id, [name]) or {}
        return props.get(name, Variant("s", ""))

    @dbus_method()
    def Event(
        self, id: Int, eventId: Str, data: Annotated[Variant, Sig("v")], timestamp: UInt
    ) -> Void:
        self._event(id, eventId)

    @dbus_method()
    def EventGroup(self, events: Annotated[list[Any], Sig("a(isvu)")]) -> IntList:
        unknown = []
        for item_id, event_id, _data, _timestamp in events:
            if not self._event(item_id, event_id):
                unknown.append(item_id)
        return unknown

    def _event(self, item_id: int, event_id: str) -> bool:
        item = next((i for i in self.items if i.id == item_id), None)
        if item is None:
            return item_id == 0
        if event_id == "clicked" and item.action is not None:
            self._on_action(item.action, *item.arguments)
        return True

    @dbus_method()
    def AboutToShow(self, id: Int) -> Bool:
        return False

    @dbus_method()
    def AboutToShowGroup(self, ids: IntList) -> Annotated[list[Any], Sig("aiai")]:
        return [[], []]

    @dbus_signal()
    def LayoutUpdated(self, revision: int, parent: int) -> Annotated[list[int], Sig("ui")]:
        return [revision, parent]

    @dbus_signal()
    def ItemsPropertiesUpdated(
        self, updated: list[Any], removed: list[Any]
    ) -> Annotated[list[Any], Sig("a(ia{sv})a(ias)")]:
        return [updated, removed]

    @dbus_signal()
    def ItemActivationRequested(self, id: int, timestamp: int) -> Annotated[list[int], Sig("iu")]:
        return [id, timestamp]

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> UInt:
        return 3

    @dbus_property(access=PropertyAccess.READ)
    def TextDirection(self) -> Str:
        return "ltr"

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> Str:
        return "normal"

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> StrList:
        return []


# --- the item --------------------------------------------------------------------------------


class Item(ServiceInterface):
    """``org.kde.StatusNotifierItem``: icon, tooltip and clicks."""

    def __init__(self, owner: SniTray) -> None:
        super().__init__(ITEM_INTERFACE)
        self._owner = owner
        self.icon: Pixmaps = []
        self.icon_desc = ""
        self.title = "Cardwatch"
        self.text = ""

    @dbus_method()
    def Activate(self, x: Int, y: Int) -> Void:
        self._owner.chosen(Action.OPEN_REPORT)

    @dbus_method()
    def SecondaryActivate(self, x: Int, y: Int) -> Void:
        self._owner.chosen(Action.CHECK_NOW)

    @dbus_method()
    def ContextMenu(self, x: Int, y: Int) -> Void:
        pass  # hosts show the dbusmenu themselves

    @dbus_method()
    def Scroll(self, delta: Int, orientation: Str) -> Void:
        pass

    @dbus_method()
    def ProvideXdgActivationToken(self, token: Str) -> Void:
        self._owner.activation_token(token)

    @dbus_signal()
    def NewIcon(self) -> Void:
        pass

    @dbus_signal()
    def NewToolTip(self) -> Void:
        pass

    @dbus_signal()
    def NewTitle(self) -> Void:
        pass

    @dbus_signal()
    def NewStatus(self, status: str) -> Str:
        return status

    @dbus_property(access=PropertyAccess.READ)
    def Category(self) -> Str:
        return "ApplicationStatus"

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> Str:
        return "cardwatch"

    @dbus_property(access=PropertyAccess.READ)
    def Title(self) -> Str:
        return self.title

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> Str:
        return "Active"

    @dbus_property(access=PropertyAccess.READ)
    def WindowId(self) -> Int:
        return 0

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> Str:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def IconName(self) -> Str:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def IconPixmap(self) -> PixmapList:
        return self.icon

    @dbus_property(access=PropertyAccess.READ)
    def IconAccessibleDesc(self) -> Str:
        return self.icon_desc

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconName(self) -> Str:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconPixmap(self) -> PixmapList:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconName(self) -> Str:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconPixmap(self) -> PixmapList:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def AttentionMovieName(self) -> Str:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def AttentionAccessibleDesc(self) -> Str:
        return self.icon_desc

    @dbus_property(access=PropertyAccess.READ)
    def ToolTip(self) -> ToolTip:
        return ["", [], self.title, self.text]

    @dbus_property(access=PropertyAccess.READ)
    def ItemIsMenu(self) -> Bool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Menu(self) -> Path:
        return MENU_PATH


class SniUnavailable(Exception):
    """No StatusNotifierWatcher with a host here; ``cause`` names why."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


async def _call(bus: MessageBus, message: Message) -> Message:
    reply = await asyncio.wait_for(bus.call(message), CALL_TIMEOUT)
    assert reply is not None
    if reply.message_type is MessageType.ERROR:
        raise SniUnavailable(f"{reply.error_name}: {reply.body[0] if reply.body else ''}")
    return reply


async def _host_registered(bus: MessageBus) -> bool:
    """Whether a StatusNotifierWatcher is on ``bus`` with a host registered."""
    reply = await _call(
        bus,
        Message(
            destination=WATCHER,
            path=WATCHER_PATH,
            interface="org.freedesktop.DBus.Properties",
            member="Get",
            signature="ss",
            body=[WATCHER, "IsStatusNotifierHostRegistered"],
        ),
    )
    return bool(reply.body[0].value)


async def _watcher_ready(address: str) -> str | None:
    try:
        bus = await asyncio.wait_for(MessageBus(bus_address=address).connect(), CALL_TIMEOUT)
    except Exception as exc:  # no socket, refused, timed out
        return f"cannot reach the session bus ({exc})"
    try:
        if await _host_registered(bus):
            return None
        return "the StatusNotifierWatcher has no host registered"
    except SniUnavailable:
        return "no StatusNotifierWatcher on the session bus"
    except Exception as exc:
        return f"the StatusNotifierWatcher did not answer ({exc})"
    finally:
        bus.disconnect()


def watcher_ready(env: Mapping[str, str]) -> str | None:
    """None when the session bus has a watcher with a host registered; else why not."""
    address = session_bus_address(env)
    if address is None:
        return "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    return asyncio.run(_watcher_ready(address))


async def on_watcher_change(address: str, changed: Callable[[], None]) -> Callable[[], None] | None:
    """Call ``changed`` when a StatusNotifierWatcher appears or gets a host; a closer, or None.

    The connection lives on the running loop; None when the bus cannot be reached.
    """
    try:
        bus = await asyncio.wait_for(MessageBus(bus_address=address).connect(), CALL_TIMEOUT)
    except Exception as exc:  # no socket, refused, timed out
        log.debug("cannot watch for a StatusNotifierWatcher: %s", exc)
        return None

    def on_message(message: Message) -> None:
        if message.message_type is not MessageType.SIGNAL:
            return
        if message.member == "StatusNotifierHostRegistered" or (
            message.member == "NameOwnerChanged" and message.body and message.body[2]
        ):
            changed()

    bus.add_message_handler(on_message)
    for rule in (
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
        f"member='NameOwnerChanged',arg0='{WATCHER}'",
        f"type='signal',interface='{WATCHER}',member='StatusNotifierHostRegistered'",
    ):
        await _add_match(bus, rule)
    return bus.disconnect


async def _add_match(bus: MessageBus, rule: str) -> None:
    await _call(
        bus,
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="AddMatch",
            signature="s",
            body=[rule],
        ),
    )


class SniTray:
    """The tray icon as a StatusNotifierItem; the same interface as ``tray.ui.tray.Tray``."""

    backend = "sni"

    def __init__(
        self, actions: Any, state: DaemonState, env: Mapping[str, str] | None = None
    ) -> None:
        address = session_bus_address(os.environ if env is None else env)
        if address is None:
            raise SniUnavailable("no session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
        self._address = address
        self._actions = actions
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._pending: DaemonState | None = state
        self._stopping = False
        self._stop = asyncio.Event()
        self._item = Item(self)
        self._menu = Menu(self.chosen)
        self._shown: IconState | None = None
        self._pixmaps: dict[IconState, Pixmaps] = {}
        self._bus: MessageBus | None = None
        self._forget_token: asyncio.TimerHandle | None = None
        self._apply()
        log.info("tray icon with the sni backend")

    # -- any thread -----------------------------------------------------------------------

    def update(self, state: DaemonState) -> None:
        """Show ``state``; returns at once (the loop applies it)."""
        with self._lock:
            self._pending = state
        self._soon(self._apply)

    def stop(self) -> None:
        """End :meth:`run`; returns at once."""
        with self._lock:
            self._stopping = True
        self._soon(self._stop.set)

    def _soon(self, callback: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: the tray has stopped
            self._loop.call_soon_threadsafe(callback)

    # -- the main thread ------------------------------------------------------------------

    def run(self, setup: Callable[[], None] | None = None) -> None:
        """Show the icon and serve it until :meth:`stop`; call on the main thread."""
        try:
            self._loop.run_until_complete(self._serve(setup))
        finally:
            self._loop.close()

    async def _serve(self, setup: Callable[[], None] | None) -> None:
        bus = await asyncio.wait_for(MessageBus(bus_address=self._address).connect(), CALL_TIMEOUT)
        self._bus = bus
        try:
            bus.export(ITEM_PATH, self._item)
            bus.export(MENU_PATH, self._menu)
            bus.add_message_handler(self._on_message)
            await _add_match(
                bus,
                "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                f"member='NameOwnerChanged',arg0='{WATCHER}'",
            )
            await bus.request_name(f"org.kde.StatusNotifierItem-{os.getpid()}-1")
            await self._register()
            if setup is not None:
                setup()
            with self._lock:
                if self._stopping:
                    return
            disconnected = asyncio.ensure_future(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
            stopped = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait((disconnected, stopped), return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if disconnected.done():
                disconnected.result()  # raises what ended the connection
                raise ConnectionError("the session bus closed the connection")
            disconnected.cancel()
        finally:
            self._bus = None
            bus.disconnect()

    async def _register(self) -> None:
        assert self._bus is not None
        try:
            await _call(
                self._bus,
                Message(
                    destination=WATCHER,
                    path=WATCHER_PATH,
                    interface=WATCHER,
                    member="RegisterStatusNotifierItem",
                    signature="s",
                    body=[ITEM_PATH],
                ),
            )
            log.info("registered with the StatusNotifierWatcher")
        except Exception as exc:  # no watcher (yet): we register when it appears
            log.info("no StatusNotifierWatcher to register with (%s)", exc)

    def _on_message(self, message: Message) -> None:
        if (
            message.message_type is MessageType.SIGNAL
            and message.member == "NameOwnerChanged"
            and message.body
            and message.body[0] == WATCHER
            and message.body[2]
        ):
            log.info("a StatusNotifierWatcher appeared; registering the icon again")
            task = self._loop.create_task(self._register())
            task.add_done_callback(lambda _t: None)

    def _apply(self) -> None:
        with self._lock:
            state, self._pending = self._pending, None
        if state is None:
            return
        try:
            shown = icon_state(state)
            if shown is not self._shown:
                if shown not in self._pixmaps:
                    self._pixmaps[shown] = pixmaps(shown)
                self._item.icon = self._pixmaps[shown]
                lines = [notification(line, markup=True) for line in tooltip_lines(state)]
                self._item.icon_desc = "\n".join(lines[1:]) or lines[0]
                if self._shown is not None:
                    self._item.NewIcon()
                self._shown = shown
            # Hosts render the tooltip as markup (KDE: a subset of HTML): every line is
            # escaped for that, as a notification's is, and no line can add another.
            first, *rest = [notification(line, markup=True) for line in tooltip_lines(state)]
            if (first, "\n".join(rest)) != (self._item.title, self._item.text):
                self._item.title, self._item.text = first, "\n".join(rest)
                self._item.icon_desc = self._item.text or first
                self._item.NewToolTip()
            self._menu.show(menu_items(state, self._actions.autostart_enabled()))
            log.debug("tray icon %s", shown.value)
        except Exception:  # one bad update must not end the loop
            log.exception("updating the tray icon failed")

    # -- called by the bus (the main thread) ----------------------------------------------

    def chosen(self, action: Action, *arguments: str) -> None:
        """Run ``action`` (a click or a menu entry); a callback boundary."""
        log.info("tray: %s", action.value)
        try:
            getattr(self._actions, action.value)(*arguments)
        except Exception:
            log.exception("tray action %s failed", action.value)

    def activation_token(self, token: str) -> None:
        """Hand ``token`` to the next program started (the report's browser) for a while."""
        os.environ["XDG_ACTIVATION_TOKEN"] = token
        if self._forget_token is not None:
            self._forget_token.cancel()

        def forget() -> None:
            if os.environ.get("XDG_ACTIVATION_TOKEN") == token:
                del os.environ["XDG_ACTIVATION_TOKEN"]

        self._forget_token = self._loop.call_later(TOKEN_SECONDS, forget)
