"""A pointer for a headless wlroots compositor (sway): ``zwlr_virtual_pointer_v1`` on the wire.

A headless sway has no input devices, so its seat has no pointer and clients never see one;
``swaymsg seat - cursor press`` moves nothing a client could feel. A virtual pointer is a
real input device to the compositor (what wayvnc uses). The Wayland wire format is small
enough to speak directly (no libwayland binding needed): each message is the object id, then
``size << 16 | opcode``, then the arguments as 32-bit words (strings length-prefixed, NUL
ended, padded to 4 bytes).

    with VirtualPointer(runtime_dir / "wayland-1", (800, 600)) as pointer:
        pointer.click(778, 15, BTN_LEFT)
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

BTN_LEFT = 0x110
BTN_RIGHT = 0x111
BTN_MIDDLE = 0x112

MANAGER = "zwlr_virtual_pointer_manager_v1"
WAIT = 5.0


def _string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("=I", len(data)) + data + b"\0" * (-len(data) % 4)


class VirtualPointer:
    """A virtual pointer on the compositor at ``socket_path`` whose output is ``extent``."""

    def __init__(self, socket_path: Path, extent: tuple[int, int]) -> None:
        self.extent = extent
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(WAIT)
        self._sock.connect(str(socket_path))
        self._next_id = 2  # 1 is wl_display
        self._buffer = b""
        registry = self._new_id()
        self._send(1, 1, struct.pack("=I", registry))  # wl_display.get_registry
        globals_ = self._roundtrip(registry)
        found = [(name, version) for name, iface, version in globals_ if iface == MANAGER]
        if not found:
            self._sock.close()
            raise RuntimeError(f"the compositor offers no {MANAGER}")
        name, _version = found[0]
        manager = self._new_id()
        # wl_registry.bind(name, new_id with interface and version spelled out)
        self._send(
            registry, 0, struct.pack("=I", name) + _string(MANAGER) + struct.pack("=II", 1, manager)
        )
        self._pointer = self._new_id()
        # create_virtual_pointer(seat: null = the default seat, id)
        self._send(manager, 0, struct.pack("=II", 0, self._pointer))
        self._roundtrip(registry)

    def __enter__(self) -> VirtualPointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _send(self, obj: int, opcode: int, args: bytes = b"") -> None:
        self._sock.sendall(struct.pack("=II", obj, (8 + len(args)) << 16 | opcode) + args)

    def _roundtrip(self, registry: int) -> list[tuple[int, str, int]]:
        """wl_display.sync and read until its callback fires; the registry's globals seen."""
        callback = self._new_id()
        self._send(1, 0, struct.pack("=I", callback))
        seen = []
        while True:
            obj, opcode, body = self._read()
            if obj == callback:
                return seen
            if obj == 1 and opcode == 0:  # wl_display.error
                raise RuntimeError(f"Wayland protocol error: {body!r}")
            if obj == registry and opcode == 0:  # wl_registry.global(name, interface, version)
                name, length = struct.unpack_from("=II", body)
                iface = body[8 : 8 + length - 1].decode()
                (version,) = struct.unpack_from("=I", body, 8 + length + (-length % 4))
                seen.append((name, iface, version))

    def _read(self) -> tuple[int, int, bytes]:
        while len(self._buffer) < 8 or len(self._buffer) < (
            struct.unpack_from("=I", self._buffer, 4)[0] >> 16
        ):
            chunk = self._sock.recv(4096)
            if not chunk:
                raise RuntimeError("the compositor closed the connection")
            self._buffer += chunk
        obj, word = struct.unpack_from("=II", self._buffer)
        size = word >> 16
        body, self._buffer = self._buffer[8:size], self._buffer[size:]
        return obj, word & 0xFFFF, body

    @staticmethod
    def _ms() -> int:
        return int(time.monotonic() * 1000) & 0xFFFFFFFF

    def move(self, x: int, y: int) -> None:
        """Put the pointer at (x, y) on the output."""
        width, height = self.extent
        self._send(self._pointer, 1, struct.pack("=IIIII", self._ms(), x, y, width, height))
        self._send(self._pointer, 4)  # frame

    def button(self, button: int, pressed: bool) -> None:
        self._send(self._pointer, 2, struct.pack("=III", self._ms(), button, int(pressed)))
        self._send(self._pointer, 4)

    def click(self, x: int, y: int, button: int = BTN_LEFT) -> None:
        """Move to (x, y), press and release ``button``; returns once the compositor has it."""
        self.move(x, y)
        self.button(button, True)
        self.button(button, False)
        self._sync()

    def _sync(self) -> None:
        callback = self._new_id()
        self._send(1, 0, struct.pack("=I", callback))
        while True:
            obj, opcode, body = self._read()
            if obj == callback:
                return
            if obj == 1 and opcode == 0:
                raise RuntimeError(f"Wayland protocol error: {body!r}")
