"""A scripted fake of the PC/SC event API the watcher calls (tray.pcsc.watch.ScardApi).

What it reproduces of pcsc-lite, and nothing more:

* each call answers from its own script (an iterator of results; the last one repeats), so
  a test can make establish, list readers or get status change fail at will;
* ``SCardGetStatusChange`` answers :data:`BLOCK` by blocking until it is cancelled;
* ``SCardCancel`` only wakes a ``SCardGetStatusChange`` that is *already* blocking, and is
  otherwise ignored (pcsc-lite's behaviour that can lose a stop);
* every call is counted.

The result codes are the PC/SC standard values, written out here so that this file does not
depend on pyscard.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

SUCCESS = 0
CANCELLED = 0x80100002
INVALID_HANDLE = 0x80100003
TIMEOUT = 0x8010000A
NO_SERVICE = 0x8010001D
NO_READERS = 0x8010002E
STATE_CHANGED = 0x0002
STATE_EMPTY = 0x0010

#: a status result meaning "block until cancelled"
BLOCK: tuple[int, list[Any]] = (-1, [])

StatusAnswer = tuple[int, list[tuple[str, int, bytes]]]


def _script(results: Iterable[Any]) -> Iterator[Any]:
    """The results in order, the last one for ever."""
    last = None
    for last in results:
        yield last
    while True:
        yield last


class FakeScard:
    """Scripted PC/SC calls; see the module doc."""

    def __init__(
        self,
        establish: Iterable[int] = (SUCCESS,),
        list_readers: Iterable[tuple[int, list[str]]] = ((SUCCESS, ["Fake Reader 00"]),),
        status: Iterable[StatusAnswer] = (BLOCK,),
    ) -> None:
        self._establish = _script(establish)
        self._list = _script(list_readers)
        self._status = _script(status)
        self.calls: dict[str, int] = {
            "establish": 0,
            "release": 0,
            "list": 0,
            "status": 0,
            "cancel": 0,
            "cancel_ignored": 0,
        }
        self._cond = threading.Condition()
        self._blocking = 0  # status calls blocked right now
        self._wake = 0  # cancels delivered to blocked calls, not yet consumed
        self._released = False
        #: called on entering each status call, before it answers or blocks (any test hook)
        self.before_status: Callable[[int], None] | None = None
        #: called on each establish (after counting), e.g. to stop a runaway watcher
        self.on_establish: Callable[[int], None] | None = None
        self._next_context = 1

    # -- the API ---------------------------------------------------------------------------

    def SCardEstablishContext(self, scope: int) -> tuple[int, int]:
        self.calls["establish"] += 1
        if self.on_establish is not None:
            self.on_establish(self.calls["establish"])
        hresult = next(self._establish)
        if hresult != SUCCESS:
            return hresult, 0
        self._next_context += 1
        return SUCCESS, self._next_context

    def SCardReleaseContext(self, context: int) -> int:
        self.calls["release"] += 1
        return SUCCESS

    def SCardListReaders(self, context: int, groups: list[str]) -> tuple[int, list[str]]:
        self.calls["list"] += 1
        hresult, readers = next(self._list)
        return hresult, list(readers)

    def SCardGetStatusChange(
        self, context: int, timeout: int, states: list[tuple[str, int]]
    ) -> StatusAnswer:
        self.calls["status"] += 1
        if self.before_status is not None:
            self.before_status(self.calls["status"])
        answer = next(self._status)
        if answer is not BLOCK:
            return answer
        with self._cond:
            self._blocking += 1
            try:
                self._cond.wait_for(lambda: self._wake > 0 or self._released)
                if self._wake > 0:
                    self._wake -= 1
                return CANCELLED, []
            finally:
                self._blocking -= 1

    def SCardCancel(self, context: int) -> int:
        with self._cond:
            self.calls["cancel"] += 1
            self._cond.notify_all()
            if self._blocking > self._wake:
                self._wake += 1
            else:
                self.calls["cancel_ignored"] += 1  # nothing blocking yet: pcsc-lite forgets it
        return SUCCESS

    # -- for tests ----------------------------------------------------------------------------

    def wait_for_cancel(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` cancels have been issued in all."""
        with self._cond:
            return self._cond.wait_for(lambda: self.calls["cancel"] >= count, timeout)

    def release_all(self) -> None:
        """End every blocked call for good (test clean-up)."""
        with self._cond:
            self._released = True
            self._cond.notify_all()


def empty_reader(name: str) -> tuple[str, int, bytes]:
    """A status answer entry: ``name`` is there and empty."""
    return (name, STATE_EMPTY | STATE_CHANGED, b"")
