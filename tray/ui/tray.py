"""The tray icon through pystray: the one module that imports pystray (and its backends).

Which backend runs is ``tray/ui/choose.py``'s decision (on Linux the default is the own
StatusNotifierItem of ``tray/ui/sni.py``; this module serves the pystray backends): Windows
``win32``, macOS ``darwin`` (the loop owns the main thread, as macOS requires), and on Linux
``xorg`` (python-xlib) when an XEmbed tray (``_NET_SYSTEM_TRAY_S<n>``: trayer, stalonetray)
is the only host, with the click fix below: no menu, a left click opens the report. ``gtk``
(a menu, ~35 MiB more) and ``appindicator`` run only when asked for.

pystray's xorg window selects no ButtonPress events, so clicks never reach it (pystray issue
#151); :func:`_clickable_xorg` adds ButtonPressMask in a small subclass. pystray's gtk
backend resets SIGINT to the default action (killing the process uncleanly) and opens a
D-Bus connection for notifications it never shows for us; :func:`_quiet_gtk` skips both.

Threads: :meth:`Tray.update` may be called from any thread (the daemon's dispatcher) and
never blocks: it stores the latest snapshot and wakes the tray's own updater thread. With
gtk (and win32/darwin) the updater calls pystray's setters, which post to the UI loop. With
xorg it only sends a ClientMessage through its own X connection, and the X loop applies the
snapshot on its own thread: pystray's cross-thread calls share one connection, and a round
trip inside the loop then hung now and then. :meth:`Tray.run` blocks the main thread in the
backend's loop until :meth:`Tray.stop`, which any thread may call.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from importlib.util import find_spec
from types import ModuleType
from typing import Any, Protocol

from ..daemon.state import DaemonState, icon_state
from .icons import load
from .menu import Action, Entry, build_menu, tooltip_text

log = logging.getLogger(__name__)

#: the image handed to the backend; trays scale it to their slot (crisp up to 2x HiDPI)
ICON_PIXELS = 64
#: X11 backends that dock through the XEmbed system-tray protocol
XEMBED_BACKENDS = ("gtk", "xorg")
#: the ClientMessage type with which the updater thread wakes the xorg loop
WAKE_ATOM = "_CARDWATCH_WAKE"
#: xorg: seconds between the checks after start that the tray has embedded the icon
DOCK_CHECKS = (1.0, 2.0, 4.0)


class TrayActions(Protocol):
    """What the menu and the icon's click can do; each returns at once."""

    def check_now(self) -> None: ...
    def open_report(self) -> None: ...
    def open_reader_report(self, reader: str) -> None: ...
    def toggle_pause(self) -> None: ...
    def toggle_autostart(self) -> None: ...
    def quit(self) -> None: ...

    def autostart_enabled(self) -> bool | None:
        """Whether Cardwatch starts at login, as last read (no I/O); None: no such entry."""
        ...


class TrayUnavailable(Exception):
    """No tray icon can be shown here; ``cause`` names why."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def choose_backend(platform: str, env: Mapping[str, str], has_gi: bool) -> list[str]:
    """The backends to try, in order, for ``platform`` (see the module doc for why)."""
    wanted = env.get("PYSTRAY_BACKEND")
    if wanted:
        return [wanted]
    if platform == "win32":
        return ["win32"]
    if platform == "darwin":
        return ["darwin"]
    return ["xorg"]  # gtk only when asked for: it costs ~35 MiB and shows nothing on Wayland


def _check_xembed_host(env: Mapping[str, str]) -> None:
    """Raise TrayUnavailable unless an X display with a system-tray owner is reachable."""
    display_name = env.get("DISPLAY")
    if not display_name:
        raise TrayUnavailable("no X display (DISPLAY is not set)")
    try:
        import Xlib.display
        import Xlib.X
    except ImportError as exc:
        raise TrayUnavailable(f"python-xlib is missing ({exc})") from exc
    try:
        display = Xlib.display.Display(display_name)
    except Exception as exc:  # Xlib raises its own errors, or OSError, for a dead display
        raise TrayUnavailable(f"cannot open the X display {display_name} ({exc})") from exc
    try:
        atom = display.intern_atom(f"_NET_SYSTEM_TRAY_S{display.get_default_screen()}")
        owner = display.get_selection_owner(atom)
    finally:
        display.close()
    if owner == Xlib.X.NONE:
        raise TrayUnavailable(f"no system tray host on display {display_name}")


def _import_pystray(backend: str) -> ModuleType:
    # pystray picks its backend once, at import, from this variable: set it first, so that
    # importing pystray for xorg does not load GTK as well.
    os.environ["PYSTRAY_BACKEND"] = backend
    sys.modules.pop("pystray", None)
    import pystray  # noqa: F401

    return sys.modules["pystray"]


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _clickable_xorg() -> type[Any]:
    """pystray's xorg icon whose window selects ButtonPress (pystray issue #151).

    It also names its window in UTF-8 (``_NET_WM_NAME``): pystray's plain WM_NAME is Latin-1
    and fails on '…' or Chinese tooltips; and it does not re-dock on every new image.
    """
    import Xlib.protocol.event
    import Xlib.X
    from pystray import _xorg

    class ClickableXorgIcon(_xorg.Icon):  # type: ignore[misc]
        _title: str

        def __init__(self, *args: Any, on_wake: Callable[[], None], **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._wake_atom = self._display.intern_atom(WAKE_ATOM)
            pystray_messages = self._message_handlers[Xlib.X.ClientMessage]

            def on_client_message(event: Any) -> None:
                if event.client_type == self._wake_atom:
                    on_wake()
                else:
                    pystray_messages(event)

            self._message_handlers[Xlib.X.ClientMessage] = on_client_message

        def ensure_docked(self) -> None:
            """Ask the tray again if the window is still a child of the root (not embedded)."""
            if self._window.query_tree().parent == self._display.screen().root:
                log.info("the tray has not embedded the icon yet; asking it again")
                self._systray_manager = None
                self._dock_window()

        def wake(self, display: Any) -> None:
            """Wake the X loop through ``display``, the calling thread's own connection."""
            window = display.create_resource_object("window", self._window.id)
            event = Xlib.protocol.event.ClientMessage(
                window=window, client_type=self._wake_atom, data=(32, [0, 0, 0, 0, 0])
            )
            window.send_event(event, event_mask=Xlib.X.NoEventMask)
            display.sync()  # a round trip: the server has queued the event before we go on

        def _create_window(self) -> Any:
            # Atoms now, in the constructor: a round trip inside the X loop can hang python-xlib.
            self._net_wm_name = self._display.intern_atom("_NET_WM_NAME")
            self._utf8_string = self._display.intern_atom("UTF8_STRING")
            title = self._title
            self._title = _latin1(title)
            try:
                window = super()._create_window()
            finally:
                self._title = title
            window.change_attributes(
                event_mask=Xlib.X.ExposureMask | Xlib.X.StructureNotifyMask | Xlib.X.ButtonPressMask
            )
            self._set_names(window)
            return window

        def _update_title(self) -> None:
            self._set_names(self._window)

        def _update_icon(self) -> None:
            # pystray asks the tray to dock the window again on every new image; trayer then
            # re-lays out its icons and may leave ours a 1 px sliver. Dock only when undocked.
            if self._systray_manager is None:
                super()._update_icon()
                return
            self._icon_data = None
            self._draw()
            self._icon_valid = True

        def _set_names(self, window: Any) -> None:
            window.set_wm_name(_latin1(self.title))
            window.change_property(
                self._net_wm_name, self._utf8_string, 8, self.title.encode("utf-8")
            )

    return ClickableXorgIcon


class _NoNotifier:
    """Stands in for pystray's D-Bus notifier: notifications are tray/notify.py's job."""

    def notify(self, *args: object) -> None:
        pass

    def hide(self) -> None:
        pass


def _quiet_gtk() -> type[Any]:
    """pystray's gtk icon without its SIGINT reset and without its D-Bus notifier."""
    from pystray import _gtk

    class QuietGtkIcon(_gtk.Icon):  # type: ignore[misc]
        def _initialize(self) -> None:
            self._notifier = _NoNotifier()
            self._mark_ready()

    return QuietGtkIcon


def _icon_class(pystray: ModuleType, backend: str) -> type[Any]:
    if backend == "xorg":
        return _clickable_xorg()
    if backend == "gtk":
        return _quiet_gtk()
    icon_class: type[Any] = pystray.Icon
    return icon_class


class Tray:
    """The tray icon of a running daemon: image, tooltip and menu follow each snapshot."""

    def __init__(
        self,
        actions: TrayActions,
        state: DaemonState,
        backends: list[str] | None = None,
    ) -> None:
        self._actions = actions
        candidates = backends or choose_backend(
            sys.platform, os.environ, has_gi=find_spec("gi") is not None
        )
        errors = []
        for backend in candidates:
            try:
                if backend in XEMBED_BACKENDS:
                    _check_xembed_host(os.environ)
                pystray = _import_pystray(backend)
                icon_class = _icon_class(pystray, backend)
            except TrayUnavailable:
                raise  # no tray host: another backend would not find one either
            except Exception as exc:  # ImportError, or a backend failing to initialise
                log.info("tray backend %s unavailable: %s", backend, exc)
                errors.append(f"{backend}: {exc}")
                continue
            self.backend = backend
            break
        else:
            raise TrayUnavailable("no usable tray backend (" + "; ".join(errors) + ")")
        self._pystray = pystray
        self._shown = icon_state(state)
        self._wake = threading.Condition()
        self._pending: DaemonState | None = None
        self._dirty = False
        self._check_dock = False
        self._stopping = False
        #: xorg: pystray's cross-thread calls share one X connection between threads, and a
        #: round trip in the X loop then hung now and then (seen here); so the updater only
        #: wakes the loop through its own connection and the loop applies the state itself.
        self._in_loop = backend == "xorg"
        extra = {"on_wake": self._on_wake} if self._in_loop else {}
        self._icon = icon_class(
            "cardwatch",
            icon=load(self._shown, ICON_PIXELS),
            title=tooltip_text(state),
            menu=self._menu(state),
            **extra,
        )
        log.info("tray icon with the %s backend", backend)

    # -- any thread -----------------------------------------------------------------------

    def update(self, state: DaemonState) -> None:
        """Show ``state``; returns at once (the updater thread applies it)."""
        with self._wake:
            self._pending = state
            self._dirty = True
            self._wake.notify()

    def stop(self) -> None:
        """End :meth:`run`; returns at once."""
        with self._wake:
            self._stopping = True
            self._wake.notify()

    # -- main thread ----------------------------------------------------------------------

    def run(self, setup: Callable[[], None] | None = None) -> None:
        """Show the icon and run the backend's loop until :meth:`stop`; call on the main thread.

        ``setup`` runs once the loop is up, in the updater thread, before any update.
        """

        def updater(icon: Any) -> None:
            try:
                if self._in_loop:
                    if setup is not None:
                        setup()
                    self._wake_until_stopped(icon)
                    return  # the X loop stops itself on the last wake
                icon.visible = True
                if setup is not None:
                    setup()
                self._apply_until_stopped()
            except Exception:
                log.exception("the tray updater failed")
            icon.stop()  # from this thread: pystray does not wait for itself

        self._icon.run(updater)

    # -- updater thread -------------------------------------------------------------------

    def _apply_until_stopped(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stopping or self._dirty)
                if self._stopping:
                    return
                state, self._pending, self._dirty = self._pending, None, False
            if state is not None:
                try:
                    self._apply(state)
                except Exception:  # one bad update must not freeze the icon for good
                    log.exception("updating the tray icon failed")

    def _wake_until_stopped(self, icon: Any) -> None:
        import Xlib.display

        display = Xlib.display.Display(os.environ.get("DISPLAY"))
        try:
            icon.wake(display)  # the first wake shows the icon
            # A dock request that reaches a tray host still starting up is dropped: check a
            # few times after start (at fixed moments, then never) that the icon is embedded.
            # The moments are absolute, so state changes in the first seconds (a card checked
            # at login) cannot use them up.
            start = time.monotonic()
            checks = [start + sum(DOCK_CHECKS[: i + 1]) for i in range(len(DOCK_CHECKS))]
            while True:
                with self._wake:
                    timeout = max(0.0, checks[0] - time.monotonic()) if checks else None
                    self._wake.wait_for(lambda: self._stopping or self._dirty, timeout)
                    if checks and time.monotonic() >= checks[0]:
                        checks.pop(0)
                        self._check_dock = True
                    self._dirty = False
                    stopping = self._stopping
                icon.wake(display)
                log.debug("tray woken (stopping=%s)", stopping)
                if stopping:
                    return
        finally:
            display.close()

    # -- the xorg loop's thread (the main thread) -----------------------------------------

    def _on_wake(self) -> None:
        with self._wake:
            state, self._pending = self._pending, None
            stopping = self._stopping
            check_dock, self._check_dock = self._check_dock, False
        log.debug("tray wake: stopping=%s, state=%s", stopping, state is not None)
        try:
            if stopping:
                self._icon.stop()
                return
            if not self._icon.visible:
                self._icon.visible = True
            if state is not None:
                self._apply(state)
            if check_dock:
                self._icon.ensure_docked()
        except Exception:  # one bad update must not end the X loop
            log.exception("updating the tray icon failed")

    def _apply(self, state: DaemonState) -> None:
        shown = icon_state(state)
        if shown is not self._shown:
            self._icon.icon = load(shown, ICON_PIXELS)
            self._shown = shown
        self._icon.title = tooltip_text(state)
        self._icon.menu = self._menu(state)
        log.debug("tray icon %s", shown.value)

    # -- menu -----------------------------------------------------------------------------

    def _menu(self, state: DaemonState) -> Any:
        pystray = self._pystray
        items = []
        for item in build_menu(state, self._actions.autostart_enabled()):
            if isinstance(item, Entry):
                items.append(self._item(item))
            else:
                items.append(pystray.Menu.SEPARATOR)
        return pystray.Menu(*items)

    def _item(self, entry: Entry) -> Any:
        pystray = self._pystray
        action = entry.action
        if action is None:
            return pystray.MenuItem(entry.label, None, enabled=False)
        checked = entry.checked
        if action is Action.TOGGLE_AUTOSTART:
            # read again each time the backend renders the menu: a toggle finishes later, off
            # this thread, and "cardwatch autostart" may change it from outside
            actions = self._actions
            return pystray.MenuItem(
                entry.label,
                self._handler(entry),
                checked=lambda _item: bool(actions.autostart_enabled()),
            )
        return pystray.MenuItem(
            entry.label,
            self._handler(entry),
            checked=None if checked is None else (lambda _item: checked),
            default=entry.default,
        )

    def _handler(self, entry: Entry) -> Callable[[], None]:
        action = entry.action
        assert action is not None
        arguments = entry.arguments

        def chosen() -> None:
            log.info("tray: %s", action.value)
            try:
                getattr(self._actions, action.value)(*arguments)
            except Exception:  # a callback boundary: log, keep the tray alive
                log.exception("tray action %s failed", action.value)

        return chosen
