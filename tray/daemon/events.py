"""What the watcher tells the daemon: reader and card events, and the PC/SC service state.

The watcher only produces these; it never checks a card or touches the UI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..card.backend import CardState


@dataclass(frozen=True)
class ReaderAdded:
    """A reader appeared (also sent for every reader present at start-up)."""

    reader: str


@dataclass(frozen=True)
class ReaderRemoved:
    """A reader was unplugged."""

    reader: str


@dataclass(frozen=True)
class CardInserted:
    """A card is in the reader: present (with its ATR), mute, or held exclusively."""

    reader: str
    state: CardState
    atr: bytes = b""


@dataclass(frozen=True)
class CardRemoved:
    """The reader is empty again."""

    reader: str


@dataclass(frozen=True)
class ServiceDown:
    """The PC/SC service went away (or was never there); the watcher retries by itself."""

    detail: str


@dataclass(frozen=True)
class ServiceUp:
    """The PC/SC service is reachable (again); reader events follow."""


Event = ReaderAdded | ReaderRemoved | CardInserted | CardRemoved | ServiceDown | ServiceUp
Sink = Callable[[Event], None]


class EventSource(Protocol):
    """Blocks in :meth:`run`, handing events to ``sink``, until :meth:`stop` is called."""

    def run(self, sink: Sink) -> None:
        """Watch until stopped; never raises for a PC/SC fault (it becomes ServiceDown)."""
        ...

    def stop(self) -> None:
        """Make :meth:`run` return soon; callable from any thread."""
        ...
