"""Which tray icon to show: the backend asked for, or the one the desktop can show.

When none is asked for (``[ui] tray_backend`` empty and no ``PYSTRAY_BACKEND``):

* Windows ``win32``, macOS ``darwin`` (pystray);
* Linux: ``sni`` (``tray/ui/sni.py``) when ``org.kde.StatusNotifierWatcher`` is on the session
  bus with a host registered (waybar, GNOME's AppIndicator extension, KDE, XFCE, MATE,
  Cinnamon); else pystray's ``xorg`` when the X display has a ``_NET_SYSTEM_TRAY_S<n>`` owner
  (trayer, stalonetray); else :class:`PendingTray`: at login the panel may start after
  Cardwatch, so it looks again (often at first, then every :data:`LOOK_EVERY_MAX` seconds),
  says once why there is no icon yet, and shows the icon when a tray appears. Without a
  session bus and without an X display nothing can ever appear: :class:`TrayUnavailable`.

``gtk`` and ``appindicator`` only when asked for; ``gtk`` never under Wayland (GTK uses its
Wayland backend there, where its status icon shows nothing) unless ``GDK_BACKEND=x11``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from ..daemon.state import DaemonState
from .tray import TrayActions, TrayUnavailable


def session_bus_address(env: Mapping[str, str]) -> str | None:
    """The session bus's address, or None; without dbus-fast there is no SNI to wait for."""
    try:
        from .sni import session_bus_address as address
    except ImportError:
        return None
    return address(env)


log = logging.getLogger(__name__)

#: what ``[ui] tray_backend`` accepts ("" = choose automatically)
BACKENDS = ("", "sni", "xorg", "gtk", "appindicator", "win32", "darwin")
#: seconds without any tray before the one warning
WARN_AFTER = 8.0
#: the longest pause between two looks for a tray while there is none
LOOK_EVERY_MAX = 15.0


class TrayIcon(Protocol):
    """What the daemon needs of a tray icon (``Tray``, ``SniTray``, ``PendingTray``)."""

    backend: str

    def update(self, state: DaemonState) -> None: ...
    def stop(self) -> None: ...
    def run(self, setup: Callable[[], None] | None = None) -> None: ...


def asked_for(setting: str, env: Mapping[str, str]) -> str:
    """The backend asked for: ``PYSTRAY_BACKEND``, else the config's, else "" (choose)."""
    wanted = env.get("PYSTRAY_BACKEND") or setting
    if wanted == "gtk" and env.get("WAYLAND_DISPLAY") and env.get("GDK_BACKEND") != "x11":
        log.warning(
            "the gtk tray shows nothing under Wayland (set GDK_BACKEND=x11 for it); "
            "choosing a tray backend automatically"
        )
        return ""
    return wanted


def _sni_cause(env: Mapping[str, str]) -> str | None:
    try:
        from .sni import watcher_ready
    except ImportError as exc:
        return f"dbus-fast is missing ({exc})"
    return watcher_ready(env)


def _xembed_cause(env: Mapping[str, str]) -> str | None:
    from .tray import _check_xembed_host

    try:
        _check_xembed_host(env)
    except TrayUnavailable as exc:
        return exc.cause
    return None


def _found(actions: TrayActions, state: DaemonState, env: Mapping[str, str]) -> TrayIcon | str:
    """The tray a host is waiting for, or (a string) why there is none."""
    sni = _sni_cause(env)
    if sni is None:
        from .sni import SniTray

        return SniTray(actions, state, env)
    xembed = _xembed_cause(env)
    if xembed is None:
        from .tray import Tray

        return Tray(actions, state, ["xorg"])
    return f"{sni}; {xembed}"


def make_tray(actions: TrayActions, state: DaemonState, setting: str = "") -> TrayIcon:
    """The tray icon to run; raises TrayUnavailable when none can ever show here."""
    wanted = asked_for(setting, os.environ)
    if wanted == "sni":
        from .sni import SniTray, SniUnavailable

        try:
            return SniTray(actions, state)
        except SniUnavailable as exc:
            raise TrayUnavailable(exc.cause) from exc
    if wanted or sys.platform in ("win32", "darwin"):
        from .tray import Tray

        return Tray(actions, state, [wanted] if wanted else None)
    found = _found(actions, state, os.environ)
    if not isinstance(found, str):
        return found
    if session_bus_address(os.environ) is None and not os.environ.get("DISPLAY"):
        raise TrayUnavailable(found)  # nothing can ever appear: no bus, no display
    return PendingTray(actions, state, found)


class PendingTray:
    """No tray host yet: look again now and then, and run the icon once a host appears."""

    backend = "pending"

    def __init__(self, actions: TrayActions, state: DaemonState, cause: str) -> None:
        self._actions = actions
        self._state = state
        self._cause = cause
        self._lock = threading.Lock()
        self._wake: Callable[[], object] = lambda: None
        self._stopping = False
        self._inner: TrayIcon | None = None
        log.info("no tray host yet (%s); looking again", cause)

    def update(self, state: DaemonState) -> None:
        """Show ``state`` once there is an icon; returns at once."""
        with self._lock:
            self._state = state
            inner = self._inner
        if inner is not None:
            inner.update(state)

    def stop(self) -> None:
        """End :meth:`run`; returns at once."""
        with self._lock:
            self._stopping = True
            inner = self._inner
            wake = self._wake
        wake()
        if inner is not None:
            inner.stop()

    def run(self, setup: Callable[[], None] | None = None) -> None:
        """Look for a tray until one appears (then run it) or :meth:`stop`; main thread.

        A StatusNotifierWatcher appearing (NameOwnerChanged) or registering a host wakes the
        look at once; the X selection is looked at again after each pause (0.5 s, doubling
        up to :data:`LOOK_EVERY_MAX`).
        """
        loop = asyncio.new_event_loop()
        woken = asyncio.Event()
        with self._lock:
            self._wake = lambda: loop.call_soon_threadsafe(woken.set)
        try:
            found = self._look(loop, woken)
        finally:
            with self._lock:
                self._wake = lambda: None
            loop.close()
        if found is not None:
            log.info("a tray host appeared")
            found.run(setup)

    def _look(self, loop: asyncio.AbstractEventLoop, woken: asyncio.Event) -> TrayIcon | None:
        close: Callable[[], None] | None = None
        address = session_bus_address(os.environ)
        if address is not None:
            from .sni import on_watcher_change

            close = loop.run_until_complete(on_watcher_change(address, woken.set))
        try:
            started = time.monotonic()
            pause = 0.5
            warned = False
            while True:
                with self._lock:
                    if self._stopping:
                        return None
                    state = self._state
                found = _found(self._actions, state, os.environ)
                if not isinstance(found, str):
                    with self._lock:
                        self._inner = found
                        stopping, latest = self._stopping, self._state
                    if stopping:
                        return None
                    if latest is not state:
                        found.update(latest)
                    return found
                wait = pause
                if not warned:
                    left = started + WARN_AFTER - time.monotonic()
                    if left <= 0:
                        log.warning(
                            "no tray icon yet: %s; Cardwatch keeps watching and shows the icon "
                            "when a tray appears",
                            found,
                        )
                        warned = True
                    else:
                        wait = min(pause, left)
                woken.clear()
                loop.run_until_complete(_sleep(woken, wait))
                pause = min(pause * 2, LOOK_EVERY_MAX)
        finally:
            if close is not None:
                close()


async def _sleep(woken: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(woken.wait(), seconds)
