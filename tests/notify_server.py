"""A recording org.freedesktop.Notifications server (dbus-fast) on a private session bus.

``session_bus()`` starts ``dbus-daemon --session --nofork --print-address`` and yields its
address; ``NotifyServer(address)`` owns the notification name on it from a thread of its
own, records every ``Notify`` call and can emit ``ActionInvoked`` and
``NotificationClosed`` as a real server does when the user clicks or closes.

No ``from __future__ import annotations`` here: dbus-fast reads the D-Bus signatures from
the method annotations at run time, and postponed annotations would hide them.
"""

# ruff: noqa: F722, F821
import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method, signal

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
WAIT = 15.0
URGENCY = {0: "low", 1: "normal", 2: "critical"}


def dbus_unavailable() -> str | None:
    """Why a private bus cannot run here, or None."""
    return None if shutil.which("dbus-daemon") else "dbus-daemon is missing (apt: dbus)"


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={socket_dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@contextmanager
def session_bus(workdir: str) -> Iterator[str]:
    """A private session bus for the block; yields its address.

    Its configuration names no service directories, so nothing installed on the machine (dunst,
    a portal) is ever started by D-Bus activation behind a test's back."""
    config = os.path.join(workdir, "session-bus.conf")
    with open(config, "w", encoding="utf-8") as out:
        out.write(BUS_CONFIG.format(socket_dir=workdir))
    proc = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=open(os.path.join(workdir, "dbus.log"), "wb"),  # noqa: SIM115
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().decode().strip()
    try:
        if not address:
            raise RuntimeError("dbus-daemon printed no address")
        yield address
    finally:
        proc.terminate()
        proc.wait(5)


@dataclass(frozen=True)
class Call:
    """One Notify call as the server received it."""

    id: int
    app_name: str
    replaces_id: int
    icon: str
    summary: str
    body: str
    actions: tuple[str, ...]
    hints: dict[str, Any]
    expire_timeout: int

    @property
    def urgency(self) -> str:
        return URGENCY[int(self.hints.get("urgency", 1))]

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(key, label) pairs of the actions."""
        return list(zip(self.actions[::2], self.actions[1::2], strict=True))

    def key_of(self, label: str) -> str:
        return next(key for key, text in self.buttons if text == label)


class _Interface(ServiceInterface):
    def __init__(self, server: "NotifyServer") -> None:
        super().__init__(NAME)
        self._server = server

    @method()
    def GetCapabilities(self) -> "as":  # type: ignore[name-defined]
        return ["actions", "body", "body-markup"]

    @method()
    def GetServerInformation(self) -> "ssss":  # type: ignore[name-defined]
        return ["fake", "cardwatch-tests", "1.0", "1.2"]

    @method()
    def Notify(
        self,
        app_name: "s",  # type: ignore[name-defined]
        replaces_id: "u",  # type: ignore[name-defined]
        app_icon: "s",  # type: ignore[name-defined]
        summary: "s",  # type: ignore[name-defined]
        body: "s",  # type: ignore[name-defined]
        actions: "as",  # type: ignore[name-defined]
        hints: "a{sv}",  # type: ignore[name-defined]
        expire_timeout: "i",  # type: ignore[name-defined]
    ) -> "u":  # type: ignore[name-defined]
        plain = {k: v.value if isinstance(v, Variant) else v for k, v in hints.items()}
        return self._server._notified(
            app_name, replaces_id, app_icon, summary, body, actions, plain, expire_timeout
        )

    @method()
    def CloseNotification(self, id: "u") -> None:  # type: ignore[name-defined]
        self._server._closed_by_client(id)

    @signal()
    def ActionInvoked(self, id: int, key: str) -> "us":  # type: ignore[name-defined]
        return [id, key]

    @signal()
    def NotificationClosed(self, id: int, reason: int) -> "uu":  # type: ignore[name-defined]
        return [id, reason]


class NotifyServer:
    """The fake server, running on its own thread; every record is guarded by a condition."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls: list[Call] = []
        self.closed: list[int] = []  # ids closed by CloseNotification
        self.live: set[int] = set()
        self._cond = threading.Condition()
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._interface = _Interface(self)

    def __enter__(self) -> "NotifyServer":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(WAIT)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(WAIT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)

    async def _start(self) -> None:
        self._bus = await MessageBus(bus_address=self.address).connect()
        self._bus.export(PATH, self._interface)
        await self._bus.request_name(NAME)

    async def _stop(self) -> None:
        self._bus.disconnect()

    # -- the server's side ------------------------------------------------------------------

    def _notified(self, *args: Any) -> int:
        with self._cond:
            self._next += 1
            call = Call(self._next, *args[:5], tuple(args[5]), *args[6:])
            if call.replaces_id:
                self.live.discard(call.replaces_id)
            self.calls.append(call)
            self.live.add(call.id)
            self._cond.notify_all()
            return call.id

    def _closed_by_client(self, nid: int) -> None:
        with self._cond:
            self.closed.append(nid)
            self.live.discard(nid)
            self._cond.notify_all()
        self._interface.NotificationClosed(nid, 3)

    # -- the test's side --------------------------------------------------------------------

    def wait(self, what: str, predicate: Callable[["NotifyServer"], bool]) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(self), WAIT)
            calls = list(self.calls)
        assert ok, f"timed out waiting for {what}; calls: {calls}"

    def wait_calls(self, count: int) -> list[Call]:
        self.wait(f"{count} Notify calls", lambda s: len(s.calls) >= count)
        with self._cond:
            return list(self.calls)

    def invoke(self, nid: int, key: str) -> None:
        """The user clicked (key "default") or pressed a button."""
        self._loop.call_soon_threadsafe(self._interface.ActionInvoked, nid, key)

    def dismiss(self, nid: int) -> None:
        """The user closed the notification (reason 2)."""

        def emit() -> None:
            with self._cond:
                self.live.discard(nid)
            self._interface.NotificationClosed(nid, 2)

        self._loop.call_soon_threadsafe(emit)
