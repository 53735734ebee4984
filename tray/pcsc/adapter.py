"""PC/SC through pyscard's low-level ``smartcard.scard`` API.

Only this module imports ``smartcard``. Every PC/SC error code is mapped to one of the
exceptions in :mod:`tray.errors`, so nothing above this layer knows about HRESULTs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from smartcard import scard

from ..card.backend import CardState, Slot
from ..errors import (
    CardInUse,
    CardRemoved,
    CardUnresponsive,
    ReaderError,
    ServiceUnavailable,
)
from . import codes
from .codes import matches, message

log = logging.getLogger(__name__)

#: How long a failed transmit waits to learn whether the card was pulled out.
REMOVAL_GRACE_MS = 1500


class PcscSession:
    """A shared connection to one card, inside a transaction."""

    def __init__(self, context: int, reader: str, card: int, protocol: int, atr: bytes) -> None:
        self._context = context
        self._reader = reader
        self._card = card
        self._protocol = protocol
        self._atr = atr

    @property
    def atr(self) -> bytes:
        """The answer to reset."""
        return self._atr

    def _card_gone(self, wait_ms: int = REMOVAL_GRACE_MS) -> bool:
        """After a failed transmit: is the card gone? Waits briefly, since the reader driver
        notices a removal only at its next presence poll (pcsc-lite: every 400 ms)."""
        hresult, states = scard.SCardGetStatusChange(
            self._context, 0, [(self._reader, scard.SCARD_STATE_UNAWARE)]
        )
        if hresult != scard.SCARD_S_SUCCESS:
            return False
        reader, event, atr = states[0]
        if event & scard.SCARD_STATE_EMPTY:
            return True
        hresult, states = scard.SCardGetStatusChange(
            self._context, wait_ms, [(reader, event & ~scard.SCARD_STATE_CHANGED, atr)]
        )
        if hresult != scard.SCARD_S_SUCCESS:
            return False
        return bool(states[0][1] & scard.SCARD_STATE_EMPTY)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one APDU; map PC/SC failures to CardRemoved / ReaderError / ServiceUnavailable."""
        hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        if hresult != scard.SCARD_S_SUCCESS:
            if matches(hresult, codes.REMOVED) or self._card_gone():
                raise CardRemoved(message(hresult))
            if matches(hresult, codes.SERVICE_STOPPED):
                raise ServiceUnavailable(message(hresult))
            raise ReaderError(self._reader, message(hresult))
        raw = bytes(response)
        if len(raw) < 2:
            # vpcd and some real readers return an empty "success" when the card vanished.
            if self._card_gone():
                raise CardRemoved("card vanished during a command")
            raise ReaderError(self._reader, "response without a status word")
        return raw[:-2], (raw[-2] << 8) | raw[-1]


class PcscBackend:
    """The real PC/SC service, through pyscard."""

    def __init__(self) -> None:
        self._context: int | None = None

    def _establish(self) -> int:
        if self._context is not None:
            return self._context
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise ServiceUnavailable(message(hresult))
        self._context = int(context)
        return self._context

    def close(self) -> None:
        """Release the PC/SC context."""
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None

    def _fail_service(self, hresult: int) -> None:
        self.close()
        raise ServiceUnavailable(message(hresult))

    def slots(self) -> list[Slot]:
        """All readers with their card state."""
        context = self._establish()
        hresult, readers = scard.SCardListReaders(context, [])
        if matches(hresult, codes.NO_READERS):
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            self._fail_service(hresult)
        if not readers:
            return []
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers]
        )
        if hresult != scard.SCARD_S_SUCCESS:
            if matches(hresult, codes.SERVICE_LOST):
                self._fail_service(hresult)
            return [Slot(r, CardState.UNAVAILABLE) for r in readers]
        return [_slot(reader, event, bytes(atr)) for reader, event, atr in states]

    @contextmanager
    def session(self, reader: str) -> Iterator[PcscSession]:
        """Connect shared, hold a transaction, and always leave the card as it was.

        Each session has a context of its own: pcsc-lite's client holds a context's lock for
        the whole of a blocking call (SCardBeginTransaction waits for as long as another
        program holds the card), so a session the check has given up on must not block the
        next reader's.
        """
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise ServiceUnavailable(message(hresult))
        try:
            with self._connected(int(context), reader) as session:
                yield session
        finally:
            scard.SCardReleaseContext(context)

    @contextmanager
    def _connected(self, context: int, reader: str) -> Iterator[PcscSession]:
        hresult, card, protocol = scard.SCardConnect(
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            _raise_connect(reader, hresult)
        try:
            hresult = scard.SCardBeginTransaction(card)
            if hresult != scard.SCARD_S_SUCCESS:
                _raise_connect(reader, hresult)
            try:
                hresult, _name, _state, _proto, atr = scard.SCardStatus(card)
                if hresult != scard.SCARD_S_SUCCESS:
                    _raise_connect(reader, hresult)
                yield PcscSession(context, reader, card, protocol, bytes(atr))
            finally:
                scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD)
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)


def _slot(reader: str, event: int, atr: bytes) -> Slot:
    state = codes.card_state(event, atr)
    return Slot(reader, state, b"" if state in (CardState.UNAVAILABLE, CardState.EMPTY) else atr)


def _raise_connect(reader: str, hresult: int) -> None:
    detail = message(hresult)
    if matches(hresult, codes.MUTE):
        raise CardUnresponsive(detail)
    if matches(hresult, codes.REMOVED):
        raise CardRemoved(detail)
    if matches(hresult, codes.SHARING):
        raise CardInUse(detail)
    if matches(hresult, codes.SERVICE_STOPPED):
        raise ServiceUnavailable(detail)
    raise ReaderError(reader, detail)
