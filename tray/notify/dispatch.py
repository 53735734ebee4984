"""The daemon's notifications: snapshots through the policy, actions to a backend, the log.

:meth:`Notifications.on_state` is a daemon state listener (the dispatcher thread): it only
runs the pure policy and hands the actions to the backend, which sends them from its own
thread. The user's clicks arrive on the backend's thread and return at once: writing and
opening a report runs on a thread of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .. import trace
from ..clock import Clock
from ..daemon.state import DaemonState
from ..present import safe
from ..store.notifylog import LogFile
from .backends import Backend, Callbacks, make_backend
from .policy import Notice, NotifyLog, NotifySettings, Show, Withdraw, decide, snooze

log = logging.getLogger(__name__)

#: writes the report of one reader (None: all) and returns its file; StorageError
WriteReport = Callable[[str | None], Path]
OpenFile = Callable[[Path], object]
MakeBackend = Callable[[Callbacks, Callable[[Notice], Path | None]], Backend]


class Notifications:
    """Keeps one notification per card (and for the service and the clock) in step."""

    def __init__(
        self,
        settings: NotifySettings,
        clock: Clock,
        write_report: WriteReport,
        open_file: OpenFile,
        log_file: LogFile | None = None,
        backend: MakeBackend = make_backend,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._write_report = write_report
        self._open_file = open_file
        self._log_file = log_file
        self._lock = threading.Lock()
        self._log = (log_file.initial if log_file is not None else NotifyLog()).pruned(clock.now())
        self._live: dict[str, Notice] = {}
        self._state: DaemonState | None = None
        callbacks = Callbacks(self._open_report, self._snooze, self._closed)
        self.backend = backend(callbacks, self._report_file)

    # -- the daemon's side (dispatcher thread) -------------------------------------------

    def on_state(self, state: DaemonState) -> None:
        """Bring the notifications in line with ``state`` (a daemon state listener)."""
        with self._lock:
            self._state = state
            self._apply(state)

    def _apply(self, state: DaemonState) -> None:
        before = self._log
        actions, self._log = decide(state, self._live, self._log, self._clock.now(), self._settings)
        for action in actions:
            if isinstance(action, Show):
                self._live[action.notice.slot] = action.notice
                trace.mark("notify_queued", action.notice.reader or "")
                self.backend.show(action.notice)
            elif isinstance(action, Withdraw):
                self._live.pop(action.slot, None)
                self.backend.withdraw(action.slot)
        if self._log is not before:
            self._save()

    def _save(self) -> None:
        if self._log_file is not None:
            self._log_file.save(self._log)

    # -- the user's side (the backend's thread: return at once) --------------------------

    def _open_report(self, notice: Notice) -> None:
        reader = notice.reader
        threading.Thread(
            target=self._write_and_open, args=(reader,), name="cw-report", daemon=True
        ).start()

    def _write_and_open(self, reader: str | None) -> None:
        try:
            path = self._write_report(reader)
            log.info("opening the report %s", path)
            self._open_file(path)
        except Exception:  # a thread boundary: say so and keep running
            log.exception("writing or opening the report failed")

    def _report_file(self, notice: Notice) -> Path | None:
        """For backends without clicks: the report written now, named in the message."""
        try:
            return self._write_report(notice.reader)
        except Exception:
            log.exception("writing the report failed")
            return None

    def _snooze(self, notice: Notice) -> None:
        card = notice.card
        slot = notice.slot
        with self._lock:
            self._log = snooze(self._log, card, self._clock.now(), self._settings)
            self._live.pop(slot, None)
            self._save()
        # a card's number is shortened in the log; a slot's own name ("reader:…") is not
        named = card == slot or card.startswith("reader:")
        log.info(
            "notifications for %s snoozed", safe.terminal(card) if named else safe.log_card(card)
        )

    def _closed(self, notice: Notice) -> None:
        slot = notice.slot
        with self._lock:
            if self._live.get(slot) is notice:
                del self._live[slot]

    # -- life cycle -----------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every notice and log write handed in so far is done; False on timeout."""
        sent = self.backend.flush(timeout)
        written = self._log_file.flush(timeout) if self._log_file is not None else True
        return sent and written

    def close(self) -> None:
        """Withdraw Cardwatch's notifications (their buttons would be dead once it has quit),
        stop the backend and write the log."""
        with self._lock:
            self._live.clear()
        self.backend.close()
        if self._log_file is not None:
            self._log_file.close()
