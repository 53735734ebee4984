"""A small StatusNotifierWatcher + host on a private bus (dbus-fast), for the SNI tray's tests.

``SniHost(address)`` owns ``org.kde.StatusNotifierWatcher`` on its own thread, records every
item that registers (sender and path, as a real watcher does when given an object path),
says that a host is registered, and acts as the host: it reads the item's properties, asks
its dbusmenu for the layout, sends ``Event`` / ``Activate`` calls and records the signals
the item emits. ``restart()`` drops the watcher's name and takes it again from a new
connection, as a restarted panel does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
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

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
WAIT = 15.0

Str = Annotated[str, DBusSignature("s")]
Void = Annotated[None, DBusSignature("")]


class _Watcher(ServiceInterface):
    def __init__(self, host: SniHost) -> None:
        super().__init__(WATCHER)
        self._host = host

    @dbus_method()
    def RegisterStatusNotifierItem(self, service: Str) -> Void:
        pass  # recorded in SniHost._on_message, which sees the sender

    @dbus_method()
    def RegisterStatusNotifierHost(self, service: Str) -> Void:
        pass

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> Annotated[list[str], DBusSignature("as")]:
        return [f"{name}{path}" for name, path in self._host.items]

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> Annotated[bool, DBusSignature("b")]:
        return self._host.host_registered

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> Annotated[int, DBusSignature("i")]:
        return 0

    @dbus_signal()
    def StatusNotifierItemRegistered(self, service: str) -> Str:
        return service


class SniHost:
    """The fake watcher and host, on its own thread; every record is guarded by a condition."""

    def __init__(self, address: str, host_registered: bool = True) -> None:
        self.address = address
        self.host_registered = host_registered
        self.items: list[tuple[str, str]] = []
        self.signals: list[tuple[str, list[Any]]] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._bus: MessageBus | None = None

    def __enter__(self) -> SniHost:
        self._thread.start()
        self._run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(WAIT)

    async def _start(self) -> None:
        bus = await MessageBus(bus_address=self.address).connect()
        bus.export(WATCHER_PATH, _Watcher(self))
        bus.add_message_handler(self._on_message)
        for rule in (
            "type='signal',interface='org.kde.StatusNotifierItem'",
            "type='signal',interface='com.canonical.dbusmenu'",
        ):
            await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="AddMatch",
                    signature="s",
                    body=[rule],
                )
            )
        await bus.request_name(WATCHER)
        self._bus = bus

    async def _stop(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    def restart(self) -> None:
        """The panel went away and came back: a new connection owns the watcher name."""
        with self._cond:
            self.items.clear()
        self._run(self._stop())
        self._run(self._start())

    def _on_message(self, message: Message) -> None:
        if (
            message.message_type is MessageType.METHOD_CALL
            and message.member == "RegisterStatusNotifierItem"
            and message.body
        ):
            # Given an object path, the item is the sender's unique name at that path.
            service = message.body[0]
            if service.startswith("/"):
                self._registered(message.sender, service)
            else:
                self._registered(service, "/StatusNotifierItem")
        if message.message_type is MessageType.SIGNAL and message.interface in (
            "org.kde.StatusNotifierItem",
            "com.canonical.dbusmenu",
        ):
            with self._cond:
                self.signals.append((message.member, list(message.body)))
                self._cond.notify_all()

    def _registered(self, name: str, path: str) -> None:
        with self._cond:
            self.items.append((name, path))
            self._cond.notify_all()

    # -- the test's side --------------------------------------------------------------------

    def wait(self, what: str, predicate: Callable[[SniHost], bool]) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(self), WAIT)
            seen = (list(self.items), [name for name, _ in self.signals])
        assert ok, f"timed out waiting for {what}; items, signals: {seen}"

    def item(self) -> tuple[str, str]:
        """The (bus name, path) of the one registered item, once it has registered."""
        self.wait("an item to register", lambda h: bool(h.items))
        with self._cond:
            return self.items[-1]

    def signal_count(self, member: str) -> int:
        with self._cond:
            return sum(1 for name, _ in self.signals if name == member)

    def last_signal(self, member: str) -> list[Any]:
        with self._cond:
            return next(body for name, body in reversed(self.signals) if name == member)

    def call(
        self,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        destination: str | None = None,
    ) -> Message:
        """Call ``member`` on the registered item (or ``destination``); the reply, errors too."""
        name = destination or self.item()[0]

        async def send() -> Message:
            assert self._bus is not None
            reply = await self._bus.call(
                Message(
                    destination=name,
                    path=path,
                    interface=interface,
                    member=member,
                    signature=signature,
                    body=body or [],
                )
            )
            assert reply is not None
            return reply

        reply: Message = self._run(send())
        return reply

    def properties(self) -> dict[str, Variant]:
        """Every property of the item (Properties.GetAll)."""
        _, path = self.item()
        reply = self.call(
            path, "org.freedesktop.DBus.Properties", "GetAll", "s", ["org.kde.StatusNotifierItem"]
        )
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        props: dict[str, Variant] = reply.body[0]
        return props

    def menu_path(self) -> str:
        path: str = self.properties()["Menu"].value
        return path

    def layout(self) -> tuple[int, list[Any]]:
        """(revision, the root item's children as (id, properties)) from GetLayout."""
        reply = self.call(
            self.menu_path(), "com.canonical.dbusmenu", "GetLayout", "iias", [0, -1, []]
        )
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        revision, (_root, _props, children) = reply.body
        return revision, [(child.value[0], child.value[1]) for child in children]

    def activate(self, method: str = "Activate") -> None:
        _, path = self.item()
        reply = self.call(path, "org.kde.StatusNotifierItem", method, "ii", [0, 0])
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body

    def click(self, item_id: int) -> None:
        """The user chose menu item ``item_id``."""
        reply = self.call(
            self.menu_path(),
            "com.canonical.dbusmenu",
            "Event",
            "isvu",
            [item_id, "clicked", Variant("s", ""), 0],
        )
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
