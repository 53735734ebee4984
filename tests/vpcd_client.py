"""A vpcd client: plugs a :class:`VirtualCard` into pcscd's virtual reader over loopback TCP.

The vsmartcard driver (``libifdvpcd``) makes pcscd listen on TCP port 35963 + slot; a card
"inserts" itself by connecting and is "removed" when the connection closes. Every message,
either way, is a two-byte big-endian length followed by that many bytes. A one-byte message
from vpcd is a control code: 0 power off, 1 power on, 2 reset (none is answered), 4 "send your
ATR" (answered with the ATR). Any longer message is a command APDU, answered with data + SW
(so a one-byte APDU cannot be told from a control code: the protocol's limit, not ours).
vpcd also asks for the ATR about every 0.44 s: that is how it polls for card presence.

Three quirks of vpcd (vsmartcard 3.3 with pcsc-lite 1.9.9) shape this module:

* vpcd reads a zero-length payload with ``recv(fd, buf, 0, MSG_WAITALL)``, which blocks until
  more bytes arrive. So an empty message wedges that slot's polling thread (or the caller's
  SCardTransmit) indefinitely: we never send one.
* A mute card therefore cannot answer "no ATR". It answers with an ATR one byte longer than
  pcscd's ``MAX_ATR_SIZE``: presence polls succeed, power-up fails, and pcscd reports the
  reader as ``SCARD_STATE_PRESENT | SCARD_STATE_MUTE``; SCardConnect then fails with
  ``SCARD_W_UNPOWERED_CARD``, as with a real card that gives no answer to reset.
* If the connection closes while a command waits for its answer, vpcd hands pcscd a
  *successful* empty answer. ``Fault.drop_after`` therefore cuts the connection the one way
  vpcd reports as a failure (see :meth:`VpcdCard._drop`): SCARD_E_NOT_TRANSACTED.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import socket
import struct
import threading
import time
from types import TracebackType

from tray.demo.card import Fault, VirtualCard, sw_bytes

log = logging.getLogger(__name__)

VPCD_PORTS = (35963, 35964)
READER_NAMES = ("Virtual PCD 00 00", "Virtual PCD 00 01")

CTRL_OFF = 0
CTRL_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4

MAX_ATR_SIZE = 33  # pcsc-lite's buffer for the ATR; vpcd fails power-up beyond it
MUTE_ATR = b"\x3b" + bytes(range(0xC0, 0xC0 + MAX_ATR_SIZE))
SW_NO_DIAGNOSIS = 0x6F00

# Lengths cycle so a garbled card sends both truncated (1-byte, no SW) and plausible-sized junk;
# never 0, see the module docstring.
GARBLE_LENGTHS = (1, 2, 5, 1, 3, 17, 2, 40)

_LENGTH = struct.Struct("!H")


def reader_port(index: int) -> int:
    """The TCP port of virtual reader ``index`` ("Virtual PCD 00 0<index>")."""
    if not 0 <= index < len(VPCD_PORTS):
        raise ValueError(f"no vpcd slot {index}; slots are 0..{len(VPCD_PORTS) - 1}")
    return VPCD_PORTS[index]


def garbled(number: int, apdu: bytes) -> bytes:
    """Deterministic junk answering APDU ``number`` (1-based); never empty."""
    length = GARBLE_LENGTHS[(number - 1) % len(GARBLE_LENGTHS)]
    out = b""
    counter = 0
    while len(out) < length:
        seed = b"garble" + number.to_bytes(4, "big") + counter.to_bytes(4, "big") + apdu
        out += hashlib.sha256(seed).digest()
        counter += 1
    return out[:length]


def _loopback_host(host: str) -> str:
    # vpcd listens on 0.0.0.0: a card must only ever be offered to the local pcscd.
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"vpcd host must be a loopback address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"vpcd host must be a loopback address, not {host!r}")
    return host


def _quickack(sock: socket.socket) -> None:
    # Without it each exchange waits out a delayed ACK: ~44 ms per APDU instead of ~0.15 ms
    # (measured), and a "power on" (never answered) stalls vpcd's next request. Linux clears
    # the flag once it fires, so it is re-armed after every recv.
    if hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


class VpcdCard:
    """A virtual card inserted into a vpcd reader; connecting is the insertion.

    ``apdus`` counts the command APDUs received since the last :meth:`insert`.
    """

    def __init__(
        self,
        card: VirtualCard,
        port: int,
        host: str = "127.0.0.1",
        fault: Fault | None = None,
    ) -> None:
        if not 0 < port < 0x10000:
            raise ValueError(f"invalid TCP port {port}")
        self.card = card
        self.port = port
        self.host = _loopback_host(host)
        self.fault = fault or Fault()
        self.apdus = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        """True while the card is plugged in: connected and served."""
        thread = self._thread
        return self._sock is not None and thread is not None and thread.is_alive()

    def insert(self, timeout: float = 5.0) -> None:
        """Connect to vpcd (pcscd sees a card insertion) and start serving it."""
        with self._lock:
            if self.connected:
                raise RuntimeError(f"card already inserted at port {self.port}")
            self._reap()
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
            try:
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _quickack(sock)
            except OSError:
                sock.close()
                raise
            self.apdus = 0
            thread = threading.Thread(
                target=self._serve, args=(sock,), name=f"vpcd-{self.port}", daemon=True
            )
            self._sock = sock
            self._thread = thread
            thread.start()
        log.debug("card %s inserted at port %d", self.card.name, self.port)

    def remove(self) -> None:
        """Pull the card: close the connection and wait for the serving thread (idempotent)."""
        with self._lock:
            self._reap()

    def _reap(self) -> None:
        sock, thread = self._sock, self._thread
        self._sock = None
        self._thread = None
        if sock is not None:
            # shutdown wakes the serving thread's recv; that thread closes the socket itself so
            # the descriptor is never reused under it.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0 + self.fault.delay)
            if thread.is_alive():
                log.warning("vpcd serving thread for port %d did not stop", self.port)
        if sock is not None and (thread is None or not thread.is_alive()):
            sock.close()

    def __enter__(self) -> VpcdCard:
        self.insert()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def _serve(self, sock: socket.socket) -> None:
        # The serving thread must never raise: a failure is logged and ends the connection,
        # which pcscd sees as a card removal.
        try:
            while True:
                payload = self._receive(sock)
                if payload is None:
                    log.debug("vpcd closed the connection on port %d", self.port)
                    return
                if len(payload) == 1:
                    answer = self._control(payload[0])
                elif payload:
                    self.apdus += 1
                    drop = self.fault.drop_after
                    if drop is not None and self.apdus > drop:
                        log.info("dropping the card at port %d on APDU %d", self.port, self.apdus)
                        self._drop(sock)
                        return
                    answer = self._answer(payload)
                else:
                    log.warning("ignoring an empty vpcd message on port %d", self.port)
                    answer = None
                if answer is not None:
                    sock.sendall(_LENGTH.pack(len(answer)) + answer)
        except OSError as exc:
            log.debug("vpcd connection on port %d ended: %s", self.port, exc)
        except Exception:
            log.exception("vpcd serving thread for port %d failed", self.port)
        finally:
            sock.close()

    def _receive(self, sock: socket.socket) -> bytes | None:
        header = self._exactly(sock, _LENGTH.size)
        if header is None:
            return None
        (length,) = _LENGTH.unpack(header)
        return self._exactly(sock, length)

    @staticmethod
    def _exactly(sock: socket.socket, size: int) -> bytes | None:
        buffer = bytearray()
        while len(buffer) < size:
            chunk = sock.recv(size - len(buffer))
            _quickack(sock)
            if not chunk:
                return None
            buffer += chunk
        return bytes(buffer)

    def _control(self, code: int) -> bytes | None:
        if code == CTRL_ATR:
            atr = self.card.atr
            return MUTE_ATR if atr is None else atr
        if code in (CTRL_ON, CTRL_RESET):
            try:
                self.card.power_on()
            except Exception:
                log.exception("power-on of %s failed", self.card.name)
        elif code != CTRL_OFF:
            log.warning("unknown vpcd control code %d on port %d", code, self.port)
        return None

    def _answer(self, apdu: bytes) -> bytes:
        try:
            answer = self.card.respond(apdu)
        except Exception:
            log.exception("%s failed to answer %s", self.card.name, apdu[:4].hex().upper())
            answer = sw_bytes(SW_NO_DIAGNOSIS)
        if self.fault.garble:
            answer = garbled(self.apdus, apdu)
        if not answer or len(answer) > 0xFFFF:
            # An empty answer would wedge vpcd (see the module docstring).
            log.warning("%s gave an unsendable answer of %d bytes", self.card.name, len(answer))
            answer = sw_bytes(SW_NO_DIAGNOSIS)
        if self.fault.delay > 0:
            time.sleep(self.fault.delay)
        return answer

    @staticmethod
    def _drop(sock: socket.socket) -> None:
        # vpcd (3.3) treats EOF, and an error while reading the length, as a successful empty
        # answer. Only an error while reading the payload fails the transmit: so announce a
        # payload, then reset (RST) the connection. pcscd then reports SCARD_E_NOT_TRANSACTED,
        # as a reader does when the card is yanked mid-command.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.sendall(_LENGTH.pack(2))
