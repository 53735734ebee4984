"""The daemon core: watcher events in, checks on a worker pool, state snapshots out.

Threads, and what each may do:

* the **watcher** thread blocks in the event source and only enqueues events;
* the **dispatcher** thread owns all state: it drains the queue, debounces insertions, starts
  checks and publishes a new :class:`~tray.daemon.state.DaemonState` after every change; it sleeps
  in ``queue.get()`` and wakes only for an event or a pending timer (no polling);
* **check workers** (a fixed set, started once) run one check each, so one card's slow check
  never delays another reader's; a reader never has two checks at once;
* the caller's thread (the tray's main thread) only calls :meth:`Daemon.check_now` and the
  like, which enqueue and return at once.

Every callback boundary catches and logs: a bad card, a failing listener or a bug in one
check never stops the daemon.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from .. import trace
from ..card.backend import CardState
from ..check import advice
from ..clock import Clock
from ..i18n import _
from ..model import Cause, CheckItem, CheckReport, Code, ItemId, ReaderReport, Status
from .diagnosis import Verdict
from .events import (
    CardInserted,
    CardRemoved,
    Event,
    EventSource,
    ReaderAdded,
    ReaderRemoved,
    ServiceDown,
    ServiceUp,
)
from .state import DaemonState, Phase, ReaderState

log = logging.getLogger(__name__)

#: Checks one reader by name; returns a report holding that reader (or the service fault).
Checker = Callable[[str], CheckReport]
StateListener = Callable[[DaemonState], None]
#: Told of every finished check, including ones whose card has gone meanwhile.
ReportListener = Callable[[ReaderReport, datetime], None]


@dataclass(frozen=True)
class DaemonOptions:
    """Timing of the daemon; the defaults suit a desktop."""

    #: wait this long after an insertion without an ATR (mute, held exclusively) before
    #: checking, so a card still sliding in is not checked half-seated; a card PC/SC has
    #: powered and read the ATR of is checked at once
    settle_seconds: float = 0.05
    #: re-check cards left in a reader this often (days left change while a card sits there)
    recheck_seconds: float = 6 * 3600.0
    #: check workers; each reader has at most one check running
    workers: int = 4


@dataclass(frozen=True)
class _Settled:
    reader: str
    token: int


@dataclass(frozen=True)
class _Recheck(_Settled):
    """A card left in its reader is due for another check."""


@dataclass(frozen=True)
class _Done:
    reader: str
    token: int
    report: CheckReport | None


@dataclass(frozen=True)
class _CheckAll:
    pass


@dataclass(frozen=True)
class _Ask:
    """Runs ``answer`` on the dispatcher thread, after every message queued before it."""

    answer: Callable[[], None]


@dataclass(frozen=True)
class _Pause:
    paused: bool | None  # None: toggle


@dataclass(frozen=True)
class _Stop:
    pass


_Message = Event | _Settled | _Recheck | _Done | _CheckAll | _Ask | _Pause | _Stop
_Timer = tuple[float, int, _Message]


class Daemon:
    """Turns card events into checks and state snapshots; see the module doc for threads."""

    def __init__(
        self,
        source: EventSource,
        checker: Checker,
        clock: Clock,
        options: DaemonOptions | None = None,
    ) -> None:
        self._source = source
        self._checker = checker
        self._clock = clock
        self._options = options or DaemonOptions()
        self._queue: queue.Queue[_Message] = queue.Queue()
        self._state = DaemonState(updated_at=clock.now())
        self._state_lock = threading.Lock()
        self._state_listeners: list[StateListener] = []
        self._report_listeners: list[ReportListener] = []
        # Everything below is touched by the dispatcher thread only.
        self._tokens: dict[str, int] = {}
        self._cards: dict[str, CardInserted] = {}
        self._running: set[str] = set()
        self._timers: list[_Timer] = []
        self._rechecks: dict[str, _Timer] = {}  # reader -> its one pending recheck
        self._sequence = itertools.count()
        self._counter = itertools.count(1)
        self._jobs: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.checks_started = 0
        self._diagnose: Callable[[str], Verdict | None] | None = None

    # -- wiring -------------------------------------------------------------------------

    def on_state(self, listener: StateListener) -> None:
        """Call ``listener`` with every new snapshot (from the dispatcher thread)."""
        self._state_listeners.append(listener)

    def on_report(self, listener: ReportListener) -> None:
        """Call ``listener`` with every finished check (from the dispatcher thread)."""
        self._report_listeners.append(listener)

    def diagnose_with(self, diagnose: Callable[[str], Verdict | None]) -> None:
        """After each check (and its report listeners), ``diagnose(reader)`` joins the state."""
        self._diagnose = diagnose

    @property
    def state(self) -> DaemonState:
        """The latest snapshot."""
        with self._state_lock:
            return self._state

    # -- control (any thread; each returns at once) -------------------------------------

    def start(self) -> None:
        """Start the watcher, the dispatcher and the check pool."""
        self._threads = [
            threading.Thread(target=self._dispatch, name="cw-dispatch", daemon=True),
            threading.Thread(target=self._watch, name="cw-watch", daemon=True),
        ] + [
            threading.Thread(target=self._work, name=f"cw-check-{n}", daemon=True)
            for n in range(self._options.workers)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop watching, let running checks finish (bounded by their budget), and join."""
        self._source.stop()
        self._queue.put(_Stop())
        for _worker in range(self._options.workers):
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def check_now(self) -> None:
        """Check every card again."""
        self._queue.put(_CheckAll())

    def set_paused(self, paused: bool | None = None) -> None:
        """Pause or resume notifications (None toggles)."""
        self._queue.put(_Pause(paused))

    def pending_rechecks(self, timeout: float = 10.0) -> dict[str, int]:
        """How many recheck timers each reader has pending, once earlier messages are handled."""
        answer: dict[str, int] = {}
        done = threading.Event()

        def count() -> None:
            for _due, _seq, message in self._timers:
                if isinstance(message, _Recheck):
                    answer[message.reader] = answer.get(message.reader, 0) + 1
            done.set()

        self._queue.put(_Ask(count))
        if not done.wait(timeout):
            raise TimeoutError("the dispatcher did not answer")
        return answer

    def submit(self, event: Event) -> None:
        """Hand in an event, as the watcher does (also used by tests and the demo)."""
        if isinstance(event, CardInserted):
            trace.mark("event", event.reader)
        self._queue.put(event)

    # -- watcher thread -------------------------------------------------------------------

    def _watch(self) -> None:
        try:
            self._source.run(self.submit)
        except Exception:  # a bug in the source: say so, and let the daemon show the fault
            log.exception("the card watcher failed")
            self.submit(ServiceDown(_("the card watcher stopped after an internal error")))

    # -- dispatcher thread ----------------------------------------------------------------

    def _dispatch(self) -> None:
        while True:
            message = self._next()
            if isinstance(message, _Stop):
                return
            try:
                self._handle(message)
            except Exception:  # one bad message must not end the daemon
                log.exception("handling %r failed", message)

    def _next(self) -> _Message:
        """The next message: a due timer, or whatever arrives before the next timer is due."""
        while True:
            timeout = None
            if self._timers:
                due = self._timers[0][0] - self._clock.monotonic()
                if due <= 0:
                    return heapq.heappop(self._timers)[2]
                timeout = due
            try:
                return self._queue.get(timeout=timeout)
            except queue.Empty:
                continue

    def _after(self, seconds: float, message: _Message) -> _Timer:
        timer = (self._clock.monotonic() + seconds, next(self._sequence), message)
        heapq.heappush(self._timers, timer)
        return timer

    def _cancel_recheck(self, reader: str) -> None:
        """Drop the reader's pending recheck: a new check replaces it (one chain per card)."""
        timer = self._rechecks.pop(reader, None)
        if timer is not None:
            self._timers.remove(timer)
            heapq.heapify(self._timers)

    def _handle(self, message: _Message) -> None:
        if isinstance(message, ServiceUp):
            self._publish(replace(self.state, service_up=True, service_item=None))
        elif isinstance(message, ServiceDown):
            self._service_down(message.detail)
        elif isinstance(message, ReaderAdded):
            if self.state.reader(message.reader) is None:
                self._set_reader(ReaderState(message.reader, since=self._clock.now()))
        elif isinstance(message, ReaderRemoved):
            self._forget(message.reader)
            self._publish(self.state.without_reader(message.reader))
        elif isinstance(message, CardInserted):
            self._inserted(message)
        elif isinstance(message, CardRemoved):
            self._forget(message.reader)
            if self.state.reader(message.reader) is not None:
                self._set_reader(ReaderState(message.reader, since=self._clock.now()))
        elif isinstance(message, _Settled):
            if self._rechecks.get(message.reader, (0, 0, None))[2] is message:
                del self._rechecks[message.reader]
            if self._tokens.get(message.reader) == message.token:
                self._start_check(message.reader)
        elif isinstance(message, _Done):
            self._done(message)
        elif isinstance(message, _CheckAll):
            for reader in list(self._cards):
                self._start_check(reader)
        elif isinstance(message, _Ask):
            message.answer()
        elif isinstance(message, _Pause):
            paused = not self.state.paused if message.paused is None else message.paused
            self._publish(replace(self.state, paused=paused))

    def _service_down(self, detail: str) -> None:
        code, text = advice.service_down()
        item = CheckItem(
            ItemId.SERVICE,
            Status.FAIL,
            _("PC/SC service not reachable ({detail})").format(detail=detail or "-"),
            text,
            Cause.SERVICE,
            code,
        )
        for reader in list(self._tokens):
            self._forget(reader)
        self._publish(replace(self.state, service_up=False, service_item=item, readers=()))

    def _forget(self, reader: str) -> None:
        """The card (or reader) is gone: invalidate pending and running checks for it."""
        self._tokens[reader] = next(self._counter)
        self._cards.pop(reader, None)
        self._cancel_recheck(reader)

    def _inserted(self, event: CardInserted) -> None:
        trace.mark("dispatched", event.reader)
        token = next(self._counter)
        self._tokens[event.reader] = token
        self._cards[event.reader] = event
        self._set_reader(ReaderState(event.reader, Phase.INSERTED, since=self._clock.now()))
        if event.state is CardState.PRESENT and event.atr:
            # PC/SC has powered the card and read its ATR: it is seated, nothing to wait for.
            self._start_check(event.reader)
        else:
            self._after(self._options.settle_seconds, _Settled(event.reader, token))

    def _start_check(self, reader: str) -> None:
        if reader not in self._cards:
            return
        self._cancel_recheck(reader)
        if reader in self._running:
            # Checked again once the running check is done (its token will be stale).
            self._tokens[reader] = next(self._counter)
            return
        token = self._tokens.setdefault(reader, next(self._counter))
        self._running.add(reader)
        self.checks_started += 1
        current = self.state.reader(reader)
        self._set_reader(
            ReaderState(
                reader,
                Phase.CHECKING,
                report=current.report if current else None,
                since=self._clock.now(),
            )
        )
        trace.mark("check_queued", reader)
        self._jobs.put((reader, token))

    def _work(self) -> None:
        """A check worker: run checks, hand each result back to the dispatcher."""
        while (job := self._jobs.get()) is not None:
            reader, token = job
            report: CheckReport | None = None
            trace.mark("check_start", reader)
            try:
                report = self._checker(reader)
            except Exception:  # the checker reports faults as items; this is a Cardwatch bug
                log.exception("checking %s failed", reader)
            trace.mark("check_end", reader)
            self._queue.put(_Done(reader, token, report))

    def _done(self, done: _Done) -> None:
        trace.mark("done", done.reader)
        self._running.discard(done.reader)
        report = done.report
        reader_report = _reader_report(done.reader, report)
        now = self._clock.now()
        for listener in self._report_listeners:
            _safely(listener, reader_report, now)
        trace.mark("recorded", done.reader)
        if report is not None and report.service.status is Status.FAIL:
            self._service_down_item(report.service)
            return
        state = self.state
        if report is not None and report.clock is not None:
            # one clock for the whole computer
            state = replace(state, clock=report.clock, clock_reading=report.clock_reading)
        if self._diagnose is not None:
            state = self._with_diagnosis(state, done.reader)
            trace.mark("diagnosed", done.reader)
        if self._tokens.get(done.reader) != done.token:
            # The card was pulled or replaced during the check: check the new one, if any.
            if state != self.state:
                self._publish(state)
            if done.reader in self._cards:
                self._start_check(done.reader)
            return
        checked = ReaderState(done.reader, Phase.CHECKED, reader_report, since=now)
        self._publish(state.with_reader(checked))
        trace.mark("published", done.reader)
        self._cancel_recheck(done.reader)
        self._rechecks[done.reader] = self._after(
            self._options.recheck_seconds, _Recheck(done.reader, done.token)
        )

    def _with_diagnosis(self, state: DaemonState, reader: str) -> DaemonState:
        """``state`` with the diagnosis of ``reader`` after its check (the report listeners,
        among them the history, have run)."""
        assert self._diagnose is not None
        try:
            verdict = self._diagnose(reader)
        except Exception:  # a diagnosis bug costs the diagnosis, never the check's result
            log.exception("diagnosing %s failed", reader)
            verdict = None
        others = tuple(v for v in state.diagnoses if v.reader != reader)
        return replace(state, diagnoses=others + ((verdict,) if verdict is not None else ()))

    def _service_down_item(self, item: CheckItem) -> None:
        # The watcher will tell the same soon; showing it now avoids a misleading green.
        self._publish(replace(self.state, service_up=False, service_item=item))

    def _set_reader(self, reader: ReaderState) -> None:
        self._publish(self.state.with_reader(reader))

    def _publish(self, state: DaemonState) -> None:
        state = replace(state, updated_at=self._clock.now())
        with self._state_lock:
            self._state = state
        for listener in self._state_listeners:
            _safely(listener, state)


def _reader_report(reader: str, report: CheckReport | None) -> ReaderReport:
    """The reader's part of a one-reader check, or an item saying why there is none."""
    if report is not None:
        for part in report.readers:
            if part.reader == reader:
                return part
        if report.reader_item is not None:
            return ReaderReport(reader=reader, items=(report.reader_item,))
        if report.service.status is Status.FAIL:
            return ReaderReport(reader=reader, items=(report.service,))
    item = CheckItem(
        ItemId.CARD_PRESENT,
        Status.SKIP,
        _("Cardwatch failed while checking this reader"),
        _(
            "This is a bug in Cardwatch, not a fault of the card. Please report it with the "
            "output of 'cardwatch -vv check'."
        ),
        Cause.NONE,
        Code.INTERNAL_ERROR,
    )
    return ReaderReport(reader=reader, items=(item,))


def _safely(listener: Callable[..., None], *args: object) -> None:
    try:
        listener(*args)
    except Exception:  # a listener's fault (tray, history, disk) must not stop the daemon
        log.exception("listener %r failed", listener)


__all__ = ["Checker", "Daemon", "DaemonOptions", "ReportListener", "StateListener"]
