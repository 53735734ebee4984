"""A real SNTP server on 127.0.0.1 for the tests: a chosen offset, garbage, silence or a kiss.

Written from RFC 4330 independently of tray/net/sntp.py, so a shared mistake cannot hide.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from types import TracebackType

NTP_DELTA = 2208988800
PACKET = struct.Struct("!BBbbII4sQQQQ")


def ntp_stamp(unix: float) -> int:
    seconds = unix + NTP_DELTA
    whole = int(seconds)
    return ((whole % 2**32) << 32) | int((seconds - whole) * 2**32)


class NtpServer:
    """``mode``: "answer" (server time = true time + ``offset``), "garbage", "silent",
    "kiss" (stratum 0), "spoof" (wrong originate timestamp), "unsynchronised" (LI 3)."""

    def __init__(self, offset: float = 0.0, mode: str = "answer") -> None:
        self.offset = offset
        self.mode = mode
        self.requests = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        host, port = self._sock.getsockname()
        #: ``127.0.0.1:port``, as ``--ntp-server`` takes it
        self.address = f"{host}:{port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test ntp", daemon=True)

    def start(self) -> NtpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> NtpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(1024)
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            received = time.time() + self.offset
            reply = self._reply(data, received)
            if reply is not None:
                self._sock.sendto(reply, peer)

    def _reply(self, request: bytes, received: float) -> bytes | None:
        if self.mode == "silent" or len(request) < 48:
            return None
        if self.mode == "garbage":
            return os.urandom(48)
        originate = struct.unpack_from("!Q", request, 40)[0]
        leap, stratum = 0, 1
        if self.mode == "kiss":
            stratum = 0
        if self.mode == "unsynchronised":
            leap = 3
        if self.mode == "spoof":
            originate ^= 0xFFFF_FFFF
        first = (leap << 6) | (4 << 3) | 4  # version 4, mode 4 (server)
        transmit = time.time() + self.offset
        return PACKET.pack(
            first,
            stratum,
            4,
            -20,
            0,
            0,
            b"TEST" if stratum else b"RATE",
            ntp_stamp(transmit - 16),
            originate,
            ntp_stamp(received),
            ntp_stamp(transmit),
        )
