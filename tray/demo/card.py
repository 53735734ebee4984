"""The virtual-card base: answers APDUs and records every one it receives.

When the environment names a file in :data:`AUDIT_ENV`, every virtual card in every process
(``run --demo``, the vpcd bench, benchmarks, desktop tests) also appends each APDU it
receives to that file, one line each, so that the test suite's APDU audit sees them all.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: names the file every virtual card appends its received APDUs to ("pid<TAB>card<TAB>hex")
AUDIT_ENV = "CARDWATCH_APDU_AUDIT"


def _audit(card: str, apdu: bytes) -> None:
    path = os.environ.get(AUDIT_ENV)
    if not path:
        return
    line = f"{os.getpid()}\t{card}\t{apdu.hex().upper()}\n".encode()
    try:
        # One write to an O_APPEND file: lines from concurrent processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as exc:
        log.error("cannot append to the APDU audit file %s: %s", path, exc)


def sw_bytes(sw: int) -> bytes:
    """Status word as two bytes."""
    return bytes(((sw >> 8) & 0xFF, sw & 0xFF))


@dataclass(frozen=True)
class Fault:
    """Transport-level misbehaviour of a virtual card or of the slot it sits in.

    ``drop_after``: the connection to the reader is cut when APDU number k+1 arrives.
    ``delay``: seconds to wait before each answer.
    ``garble``: every answer is replaced by bytes that make no sense.
    """

    drop_after: int | None = None
    delay: float = 0.0
    garble: bool = False


class VirtualCard:
    """A simulated smart card.

    Subclasses implement :meth:`process`. ``atr`` of ``None`` makes a mute card
    (no answer to reset). Every APDU received is appended to ``received``, so
    tests can audit exactly what reached the card.
    """

    name = "virtual card"
    atr: bytes | None = None

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._lock = threading.Lock()

    def power_on(self) -> None:
        """Reset volatile state (selected application, files) as a real reset would."""

    def respond(self, apdu: bytes) -> bytes:
        """Record ``apdu`` and return the response (data followed by SW1 SW2)."""
        with self._lock:
            self.received.append(bytes(apdu))
            _audit(type(self).__name__, bytes(apdu))
            if len(apdu) < 4:
                return sw_bytes(0x6700)
            return self.process(bytes(apdu))

    def process(self, apdu: bytes) -> bytes:  # pragma: no cover - abstract
        """Answer one APDU (at least four bytes)."""
        raise NotImplementedError
