"""The hardware seam: what the check needs from PC/SC, as small typed protocols.

The real implementation is :mod:`tray.pcsc.adapter` (the only module importing pyscard);
:mod:`tray.demo.backend` implements the same protocols in-process for ``--demo`` and tests.
"""

from __future__ import annotations

import enum
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol


class CardState(enum.Enum):
    """What PC/SC says about the slot before we connect."""

    EMPTY = "empty"
    PRESENT = "present"
    MUTE = "mute"
    EXCLUSIVE = "exclusive"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Slot:
    """A reader and the state of its card slot."""

    reader: str
    state: CardState
    atr: bytes = b""


class CardSession(Protocol):
    """A connected card, inside a PC/SC transaction."""

    @property
    def atr(self) -> bytes:
        """The answer to reset."""
        ...

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one APDU; return (data, sw)."""
        ...


class Backend(Protocol):
    """The PC/SC service: readers, and sessions with the cards in them."""

    def slots(self) -> list[Slot]:
        """All readers with their card state; raises ServiceUnavailable."""
        ...

    def session(self, reader: str) -> AbstractContextManager[CardSession]:
        """Connect (shared) and hold a transaction for the duration of the block."""
        ...
