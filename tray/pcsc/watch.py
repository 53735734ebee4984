"""The PC/SC event source: reader hot-plug and card insertion, without polling.

pyscard's CardMonitor/ReaderMonitor are not used: their threads die for good when pcscd
restarts, and ReaderMonitor polls every second. This watcher blocks in one
``SCardGetStatusChange`` with an infinite timeout on every reader plus the
``\\\\?PnP?\\Notification`` pseudo-reader, so an idle daemon sleeps until pcscd has news.
When the service goes away it says so, waits with a growing back-off, and resumes by itself.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from smartcard import scard

from ..card.backend import CardState
from ..daemon.events import (
    CardInserted,
    CardRemoved,
    ReaderAdded,
    ReaderRemoved,
    ServiceDown,
    ServiceUp,
    Sink,
)
from . import codes
from .codes import matches, message

log = logging.getLogger(__name__)

PNP_READER = "\\\\?PnP?\\Notification"
#: pcsc-lite refuses a status request of more reader states than this
#: (PCSCLITE_MAX_READERS_CONTEXTS) with SCARD_E_INVALID_PARAMETER
MAX_READER_STATES = 16

#: the upper 16 bits of pcsc-lite's event state count card insertions and removals
_EVENT_COUNT_SHIFT = 16


class _ServiceLost(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class _Card:
    """What was last reported for a reader's slot."""

    state: CardState | None  # None: empty
    atr: bytes = b""
    count: int = 0


def card_state(event: int, atr: bytes) -> CardState | None:
    """The slot state PC/SC reports in ``event`` (None when the reader is empty)."""
    state = codes.card_state(event, atr)
    return None if state is CardState.EMPTY else state


_USABLE = (CardState.PRESENT, CardState.EXCLUSIVE)


def _another_card(before: _Card, now: _Card) -> bool:
    """A different insertion than the one already reported, though the slot never looked empty."""
    if now.atr != before.atr or now.count - before.count >= 2:
        # Pulled and pushed back between two wake-ups: pcsc-lite's event counter moved on.
        return True
    # Another program taking the card exclusively (or letting go) is not a new card.
    return now.state is not before.state and not (now.state in _USABLE and before.state in _USABLE)


def status_request(known: dict[str, int], pnp_state: int) -> list[tuple[str, int]]:
    """The reader states for one SCardGetStatusChange, never more than pcsc-lite takes.

    With :data:`MAX_READER_STATES` readers already attached the PnP pseudo-reader is left
    out: no reader can be added then, and a removed one shows as SCARD_STATE_UNKNOWN.
    """
    request = list(known.items())[:MAX_READER_STATES]
    if len(request) < MAX_READER_STATES:
        request.append((PNP_READER, pnp_state))
    return request


class PcscWatcher:
    """Watches every reader through one blocking SCardGetStatusChange; see the module doc."""

    def __init__(self, first_retry: float = 0.5, max_retry: float = 5.0) -> None:
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._context: int | None = None

    def stop(self) -> None:
        """Make :meth:`run` return: cancels the blocking call, ends any back-off wait."""
        self._stopping.set()
        with self._lock:
            if self._context is not None:
                scard.SCardCancel(self._context)

    def run(self, sink: Sink) -> None:
        """Watch until :meth:`stop`; PC/SC faults become ServiceDown events, never exceptions."""
        delay = self._first_retry
        down: str | None = None
        while not self._stopping.is_set():
            try:
                context = self._establish()
            except _ServiceLost as lost:
                if down != lost.detail:
                    down = lost.detail
                    sink(ServiceDown(lost.detail))
                self._stopping.wait(delay)
                delay = min(delay * 2, self._max_retry)
                continue
            try:
                sink(ServiceUp())
                down = None
                delay = self._first_retry
                self._watch(context, sink)
            except _ServiceLost as lost:
                log.warning("PC/SC service lost: %s", lost.detail)
                down = lost.detail
                sink(ServiceDown(lost.detail))
            finally:
                self._release()

    def _establish(self) -> int:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise _ServiceLost(message(hresult))
        with self._lock:
            self._context = int(context)
            if self._stopping.is_set():  # stop() came before the context existed
                scard.SCardCancel(self._context)
        return int(context)

    def _release(self) -> None:
        with self._lock:
            context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)

    def _list(self, context: int) -> list[str]:
        hresult, readers = scard.SCardListReaders(context, [])
        if matches(hresult, codes.NO_READERS):
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise _ServiceLost(message(hresult))
        return [str(r) for r in readers or []]

    def _watch(self, context: int, sink: Sink) -> None:
        cards: dict[str, _Card] = {}
        known: dict[str, int] = {}  # reader -> state passed back to pcscd
        pnp_state = scard.SCARD_STATE_UNAWARE
        relist = True
        refused = 0  # status requests refused in a row: back off, never spin
        while not self._stopping.is_set():
            if relist:
                relist = False
                readers = self._list(context)
                for gone in [r for r in known if r not in readers]:
                    del known[gone]
                    if cards.pop(gone, _Card(None)).state is not None:
                        sink(CardRemoved(gone))
                    sink(ReaderRemoved(gone))
                for new in [r for r in readers if r not in known]:
                    known[new] = scard.SCARD_STATE_UNAWARE
                    sink(ReaderAdded(new))
            request = status_request(known, pnp_state)
            if len(known) > MAX_READER_STATES and not refused:
                log.warning(
                    "%d readers attached; PC/SC watches at most %d at once",
                    len(known),
                    MAX_READER_STATES,
                )
            hresult, states = scard.SCardGetStatusChange(context, scard.INFINITE, request)
            if matches(hresult, codes.CANCELLED):
                return
            if matches(hresult, codes.SERVICE_LOST):
                raise _ServiceLost(message(hresult))
            if matches(hresult, codes.TIMEOUT):
                continue
            if hresult != scard.SCARD_S_SUCCESS:
                # A reader vanished between listing and waiting, and the like: list again,
                # at once the first time, then with a growing pause.
                log.info("SCardGetStatusChange: %s; listing readers again", message(hresult))
                relist = True
                if refused:
                    self._stopping.wait(
                        min(self._first_retry * 2 ** (refused - 1), self._max_retry)
                    )
                refused += 1
                continue
            refused = 0
            for name, event, atr in states:
                event = int(event)
                if name == PNP_READER:
                    if event & scard.SCARD_STATE_CHANGED:
                        relist = True
                    pnp_state = event & ~scard.SCARD_STATE_CHANGED
                    continue
                if name not in known:
                    continue
                if event & scard.SCARD_STATE_UNKNOWN:
                    relist = True
                    continue
                known[name] = event & ~scard.SCARD_STATE_CHANGED
                self._card_event(name, event, bytes(atr), cards, sink)

    def _card_event(
        self, reader: str, event: int, atr: bytes, cards: dict[str, _Card], sink: Sink
    ) -> None:
        state = card_state(event, atr)
        count = event >> _EVENT_COUNT_SHIFT
        before = cards.get(reader, _Card(None))
        now = _Card(state, atr if state is not None else b"", count)
        if state is None:
            if before.state is not None:
                sink(CardRemoved(reader))
        elif before.state is None:
            sink(CardInserted(reader, state, now.atr))
        elif _another_card(before, now):
            sink(CardRemoved(reader))
            sink(CardInserted(reader, state, now.atr))
        cards[reader] = now
