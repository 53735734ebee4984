"""An in-process PC/SC stand-in over virtual cards: the backend of ``--demo``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from ..card.backend import CardState, Slot
from ..errors import CardUnresponsive, ReaderError
from .card import VirtualCard


class SimSession:
    """A connection to a virtual card."""

    def __init__(self, reader: str, card: VirtualCard) -> None:
        self._reader = reader
        self._card = card

    @property
    def atr(self) -> bytes:
        """The card's ATR."""
        return self._card.atr or b""

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Hand the APDU to the card."""
        raw = self._card.respond(apdu)
        if len(raw) < 2:
            raise ReaderError(self._reader, "response without a status word")
        return raw[:-2], (raw[-2] << 8) | raw[-1]


class SimBackend:
    """Readers holding virtual cards (None: empty reader)."""

    def __init__(self, readers: Mapping[str, VirtualCard | None]) -> None:
        self._readers = dict(readers)
        for card in self._readers.values():
            if card is not None:
                card.power_on()

    def slots(self) -> list[Slot]:
        """Every simulated reader and its card state."""
        out = []
        for name, card in self._readers.items():
            if card is None:
                out.append(Slot(name, CardState.EMPTY))
            elif card.atr is None:
                out.append(Slot(name, CardState.MUTE))
            else:
                out.append(Slot(name, CardState.PRESENT, card.atr))
        return out

    @contextmanager
    def session(self, reader: str) -> Iterator[SimSession]:
        """Connect to the card in ``reader``."""
        card = self._readers.get(reader)
        if card is None:
            raise ReaderError(reader, "no such reader or no card")
        if card.atr is None:
            raise CardUnresponsive("no answer to reset")
        yield SimSession(reader, card)
