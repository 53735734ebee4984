"""The PC/SC event source: reader hot-plug and card insertion, without polling.

pyscard's CardMonitor/ReaderMonitor are not used: their threads die for good when pcscd
restarts, and ReaderMonitor polls every second. This watcher blocks in one
``SCardGetStatusChange`` with an infinite timeout on every reader plus the
``\\\\?PnP?\\Notification`` pseudo-reader, so an idle daemon sleeps until pcscd has news.
When the service goes away it says so (one warning per outage), waits with a growing back-off
that only a cycle that worked (a listing and a status wait that succeeded) resets, and resumes
by itself.

Stopping cannot be lost: pcsc-lite ignores ``SCardCancel`` unless a ``SCardGetStatusChange`` is
already blocking, so the watcher marks "about to wait" under a lock after re-checking the stop
flag, and :meth:`PcscWatcher.stop` repeats the cancel until the watcher has left the wait.

The PC/SC calls go through :class:`ScardApi` (the ``scard`` module by default), so that tests
can run the watcher against a scripted fake of the event API.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

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


#: how often :meth:`PcscWatcher.stop` repeats its cancel while the watcher is still in a wait
_CANCEL_REPEAT = 0.01


class ScardApi(Protocol):
    """The part of pyscard's ``scard`` module the watcher calls."""

    def SCardEstablishContext(self, scope: int) -> tuple[int, Any]: ...

    def SCardReleaseContext(self, context: Any) -> int: ...

    def SCardListReaders(self, context: Any, groups: list[str]) -> tuple[int, Any]: ...

    def SCardGetStatusChange(
        self, context: Any, timeout: int, states: list[tuple[str, int]]
    ) -> tuple[int, Any]: ...

    def SCardCancel(self, context: Any) -> int: ...


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

    def __init__(
        self,
        first_retry: float = 0.5,
        max_retry: float = 5.0,
        api: ScardApi | None = None,
        pause: Callable[[float], object] | None = None,
    ) -> None:
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._api: ScardApi = api if api is not None else scard
        self._stopping = threading.Event()
        #: waits ``seconds`` (a back-off) unless stopped first; tests pass a fake clock's
        self._pause: Callable[[float], object] = pause or self._stopping.wait
        self._lock = threading.Lock()
        self._left_wait = threading.Condition(self._lock)
        self._context: int | None = None
        self._waiting = False  # inside SCardGetStatusChange (guarded by the lock)
        self._worked = False  # this cycle listed and waited successfully (watcher thread only)

    def stop(self, timeout: float = 5.0) -> None:
        """Make :meth:`run` return: cancels the blocking call, ends any back-off wait.

        Repeats the cancel until the watcher has left its wait (a cancel that lands just
        before the wait begins is ignored by pcsc-lite), for at most ``timeout`` seconds.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._waiting and self._context is not None:
                self._api.SCardCancel(self._context)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("the PC/SC watcher did not leave its wait")
                    return
                self._left_wait.wait(min(_CANCEL_REPEAT, remaining))

    def run(self, sink: Sink) -> None:
        """Watch until :meth:`stop`; PC/SC faults become ServiceDown events, never exceptions."""
        delay = self._first_retry
        down: str | None = None  # the outage last reported (None: none since the last good cycle)
        up = False  # ServiceUp said and no ServiceDown since
        while not self._stopping.is_set():
            self._worked = False

            def service_up() -> None:
                nonlocal up
                if not up:
                    up = True
                    sink(ServiceUp())

            try:
                context = self._establish()
                try:
                    self._watch(context, sink, service_up)
                    return  # stopped
                finally:
                    self._release()
            except _ServiceLost as lost:
                if self._worked:
                    # The cycle worked: a new outage, and the back-off starts over.
                    down = None
                    delay = self._first_retry
                if down is None:
                    log.warning("PC/SC service not available: %s", lost.detail)
                else:
                    log.debug("PC/SC service still not available: %s", lost.detail)
                if up or down != lost.detail:
                    sink(ServiceDown(lost.detail))
                up = False
                down = lost.detail
            self._pause(delay)
            delay = min(delay * 2, self._max_retry)

    def _establish(self) -> int:
        hresult, context = self._api.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise _ServiceLost(message(hresult))
        with self._lock:
            self._context = int(context)
        return int(context)

    def _release(self) -> None:
        with self._lock:
            context, self._context = self._context, None
        if context is not None:
            self._api.SCardReleaseContext(context)

    def _status_change(
        self, context: int, request: list[tuple[str, int]]
    ) -> tuple[int, list[tuple[str, int, Any]]] | None:
        """One blocking SCardGetStatusChange, or None when stopping (checked under the lock,
        so a stop either comes before it or sees the wait and cancels it until it ends)."""
        with self._lock:
            if self._stopping.is_set():
                return None
            self._waiting = True
        try:
            hresult, states = self._api.SCardGetStatusChange(context, scard.INFINITE, request)
        finally:
            with self._lock:
                self._waiting = False
                self._left_wait.notify_all()
        return hresult, list(states or [])

    def _list(self, context: int) -> list[str]:
        hresult, readers = self._api.SCardListReaders(context, [])
        if matches(hresult, codes.NO_READERS):
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise _ServiceLost(message(hresult))
        return [str(r) for r in readers or []]

    def _watch(self, context: int, sink: Sink, service_up: Callable[[], None]) -> None:
        """Report events until stopped; raises _ServiceLost. Sets ``_worked`` once a listing
        and a status wait have succeeded on this context."""
        cards: dict[str, _Card] = {}
        known: dict[str, int] = {}  # reader -> state passed back to pcscd
        pnp_state = scard.SCARD_STATE_UNAWARE
        relist = True
        refused = 0  # status requests refused in a row: back off, never spin
        while not self._stopping.is_set():
            if relist:
                relist = False
                readers = self._list(context)
                service_up()
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
            answer = self._status_change(context, request)
            if answer is None:
                return
            hresult, states = answer
            if matches(hresult, codes.CANCELLED) and self._stopping.is_set():
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
                    self._pause(min(self._first_retry * 2 ** (refused - 1), self._max_retry))
                refused += 1
                continue
            refused = 0
            self._worked = True
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
