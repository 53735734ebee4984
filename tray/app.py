"""``cardwatch run``: the daemon wired to its event source, checker, history and tray.

:func:`build_runtime` is the one place that wires the daemon to what it runs with (history,
diagnosis, notifications, textfile); :func:`run` adds the tray and the signals. The
benchmarks and the resilience suite build their daemons with it too.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from . import autostart
from .autostart import Autostart, current_command
from .check.skew import SkewThresholds
from .check.validity import Thresholds
from .clock import Clock, SystemClock
from .daemon.core import Checker, Daemon, DaemonOptions, ReportListener, StateListener
from .daemon.diagnosis import Verdict, diagnose
from .daemon.events import EventSource
from .daemon.state import DaemonState, icon_state, tooltip
from .model import CheckReport
from .net import CachedClockProbe, NetworkChecks
from .notify.backends import make_backend
from .notify.dispatch import MakeBackend, Notifications, OpenFile
from .notify.policy import NotifySettings
from .present.prometheus import TextfileWriter
from .present.report import REPORTS_DIR, open_file, report_dir, write_report
from .store.history import HISTORY_FILE, History
from .store.notifylog import FILE as NOTIFY_LOG_FILE
from .store.notifylog import LogFile, log_path

if TYPE_CHECKING:
    from .check.run import CheckOptions, Middleware
    from .ui.choose import TrayIcon as _Tray

# The idle daemon does not import the check, and with it cryptography, the certificate
# parsing and the network clients: the checker imports it on the first card. That keeps
# the idle daemon small (benchmarks/idle.py; tests/test_idle_imports.py).

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """What ``cardwatch run`` was asked for."""

    demo: str | None = None
    tray: bool = True
    prometheus_textfile: str | None = None
    #: how the textfile names cards: "hash" or "number" ([prometheus] card_id)
    prometheus_card_id: str = "hash"
    #: the expiry item's thresholds ([check] in config.toml)
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: the clock item's thresholds ([clock] in config.toml)
    clock_thresholds: SkewThresholds = field(default_factory=SkewThresholds)
    #: what the desktop notifications tell and when ([notifications] in config.toml)
    notify: NotifySettings = field(default_factory=NotifySettings)
    #: the tray backend asked for ([ui] tray_backend; "" = chosen for the desktop)
    tray_backend: str = ""
    #: also told every new state (``cardwatch run`` in a terminal says what it watches)
    on_state: Callable[[DaemonState], None] | None = None

    def check_options(self, network: NetworkChecks | None) -> CheckOptions:
        """The options of each check the daemon runs."""
        from .check.run import CheckOptions

        return CheckOptions(
            thresholds=self.thresholds, clock_thresholds=self.clock_thresholds, network=network
        )


#: the daemon measures the clock at most this often (a check inside the hour reuses it)
CLOCK_MAX_AGE_SECONDS = 3600.0


def pcsc_parts(
    clock: Clock,
    middleware: Sequence[Middleware],
    network: NetworkChecks | None = None,
    options: CheckOptions | None = None,
) -> tuple[EventSource, Checker]:
    """The real PC/SC watcher, and a checker that opens its own context for every check."""

    def checks() -> CheckOptions:
        from .check.run import CheckOptions

        return replace(options or CheckOptions(), network=network)

    return _pcsc_parts(clock, middleware, checks)


def _pcsc_parts(
    clock: Clock, middleware: Sequence[Middleware], checks: Callable[[], CheckOptions]
) -> tuple[EventSource, Checker]:
    """:func:`pcsc_parts` with the check options made when a card is checked, not before."""
    from .pcsc.adapter import PcscBackend
    from .pcsc.watch import PcscWatcher

    def check(reader: str) -> CheckReport:
        from .check.run import check_one

        backend = PcscBackend()
        try:
            return check_one(backend, reader, clock, checks(), middleware)
        finally:
            backend.close()

    return PcscWatcher(), check


def demo_parts(
    scenario: str,
    clock: Clock,
    network: NetworkChecks | None = None,
    options: CheckOptions | None = None,
) -> tuple[EventSource, Checker]:
    """Simulated readers and cards of a demo scenario (and its simulated network answers)."""
    from .check.run import CheckOptions, check_one
    from .demo.backend import SimBackend
    from .demo.scenarios import build
    from .demo.scenarios import network as simulated
    from .demo.watch import SimWatcher

    readers = build(scenario, clock.now())
    net = network or simulated(scenario, clock.now())
    checks = replace(options or CheckOptions(), network=net)
    backend = SimBackend(readers)
    lock = threading.Lock()  # virtual cards keep selection state: one check at a time

    def check(reader: str) -> CheckReport:
        with lock:
            return check_one(backend, reader, clock, checks)

    return SimWatcher(readers), check


def daemon_network(network: NetworkChecks, clock: Clock) -> NetworkChecks:
    """The network checks as the daemon uses them: the clock measured at most once an hour."""
    if network.enabled and network.clock is not None:
        probe = CachedClockProbe(network.clock, clock, CLOCK_MAX_AGE_SECONDS)
        return replace(network, clock=probe)
    return network


def build_daemon(
    options: RunOptions,
    clock: Clock,
    middleware: Sequence[Middleware] = (),
    network: NetworkChecks | None = None,
    parts: tuple[EventSource, Checker] | None = None,
) -> Daemon:
    """The daemon alone for ``options`` (not started); ``network`` None: no network checks.

    ``parts`` (an event source and a checker) replace the demo's or PC/SC's. The daemon as
    ``cardwatch run`` runs it, with its history, diagnosis and notifications, is
    :func:`build_runtime`'s.
    """
    if parts is not None:
        source, checker = parts
    else:
        net = daemon_network(network, clock) if network is not None else None
        if options.demo:
            source, checker = demo_parts(options.demo, clock, net, options.check_options(net))
        else:
            source, checker = _pcsc_parts(clock, middleware, lambda: options.check_options(net))
    return Daemon(source, checker, clock, DaemonOptions())


def diagnoser(history: History, clock: Clock) -> Callable[[str], Verdict | None]:
    """The daemon's diagnosis of a reader after its check, from the recorded history."""

    def diagnose_reader(reader: str) -> Verdict | None:
        return diagnose(history.entries(), reader, clock.now())

    return diagnose_reader


def _log_state(state: DaemonState) -> None:
    log.info("state %s: %s", icon_state(state).value, tooltip(state).replace("\n", " | "))


def _write_report(daemon: Daemon, history: History, directory: Path, reader: str | None) -> Path:
    # All of them: the report's diagnosis needs the card's checks on other readers too.
    entries = history.entries()
    return write_report(daemon.state, directory, reader=reader, history=entries)


@dataclass
class Runtime:
    """What ``cardwatch run`` runs, all but the tray; made by :func:`build_runtime`.

    Listeners added through :meth:`on_state` and :meth:`on_report` before :meth:`start` run
    after the runtime's own (the log line, the history, the notifications, the textfile).
    """

    daemon: Daemon
    history: History
    notifications: Notifications
    #: where reports are written (a notification's click, the tray's "Open report")
    report_dir: Path
    #: the Prometheus textfile, when one is configured
    textfile: TextfileWriter | None = None

    def on_state(self, listener: StateListener) -> None:
        """Call ``listener`` with every state the daemon publishes (its dispatcher thread)."""
        self.daemon.on_state(listener)

    def on_report(self, listener: ReportListener) -> None:
        """Call ``listener`` with every finished check (its dispatcher thread)."""
        self.daemon.on_report(listener)

    def write_report(self, reader: str | None = None) -> Path:
        """Write the report of ``reader`` (None: all) now; its file. StorageError."""
        return _write_report(self.daemon, self.history, self.report_dir, reader)

    def start(self) -> None:
        """Start watching."""
        self.daemon.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every file write and notification handed in so far is done."""
        done = self.history.flush(timeout)
        done = self.notifications.flush(timeout) and done
        if self.textfile is not None:
            done = self.textfile.flush(timeout) and done
        return done

    def stop(self) -> None:
        """Stop watching, withdraw the notifications, and write what is left to disk."""
        self.daemon.stop()
        self.notifications.close()
        self.history.close()
        if self.textfile is not None:
            self.textfile.close()


def build_runtime(
    options: RunOptions,
    clock: Clock,
    middleware: Sequence[Middleware] = (),
    network: NetworkChecks | None = None,
    *,
    parts: tuple[EventSource, Checker] | None = None,
    data: Path | None = None,
    notify_backend: MakeBackend = make_backend,
    open_report: OpenFile = open_file,
) -> Runtime:
    """The daemon wired as ``cardwatch run`` wires it, without the tray (not started).

    The daemon (``options.demo``'s simulated readers, else PC/SC; ``parts``, an event source
    and a checker, replace either), its state logged, every check recorded in the history and
    diagnosed from it, the state saved for ``cardwatch status``, the notifications (policy,
    ``notify_backend``, notification log; a click writes the reader's report and hands it to
    ``open_report``), and the Prometheus textfile when ``options`` names one.

    ``network`` None: no network checks. ``data``: the directory of the history, the state,
    the notification log and the reports; None, the user data dir.
    """
    daemon = build_daemon(options, clock, middleware, network, parts)
    daemon.on_state(_log_state)
    if data is None:
        history = History.open_default(clock)
        notify_log = LogFile(log_path(), clock)
        reports = report_dir()
    else:
        history = History(data / HISTORY_FILE, clock)
        notify_log = LogFile(data / NOTIFY_LOG_FILE, clock)
        reports = data / REPORTS_DIR
    daemon.on_report(history.record)
    daemon.diagnose_with(diagnoser(history, clock))
    daemon.on_state(history.save_state)

    def write(reader: str | None) -> Path:
        return _write_report(daemon, history, reports, reader)

    notifications = Notifications(
        options.notify, clock, write, open_report, notify_log, notify_backend
    )
    daemon.on_state(notifications.on_state)
    textfile = None
    if options.prometheus_textfile:
        textfile = TextfileWriter(
            Path(options.prometheus_textfile), card_id=options.prometheus_card_id
        )
        daemon.on_state(textfile.on_state)
    return Runtime(daemon, history, notifications, reports, textfile)


class _TrayActions:
    """What the tray's menu and click do; each returns at once (the UI thread never waits)."""

    def __init__(
        self,
        daemon: Daemon,
        stopping: threading.Event,
        report_dir: Path,
        history: History | None = None,
        autostart: Autostart | None = None,
    ) -> None:
        self._daemon = daemon
        self._stopping = stopping
        self._report_dir = report_dir
        self._history = history
        self._autostart = autostart
        self._autostart_lock = threading.Lock()
        #: the autostart status as last read (the menu reads this, never the disk)
        self._autostart_on: bool | None = None
        #: called after a toggle so that the tray renders its menu again
        self.on_change: Callable[[], None] = lambda: None
        if autostart is not None:
            self._read_autostart()

    def _read_autostart(self) -> None:
        if self._autostart is None:
            return
        try:
            self._autostart_on = self._autostart.status().enabled
        except Exception:  # an unreadable entry: show the entry unchecked, keep running
            log.exception("reading the start-at-login entry failed")
            self._autostart_on = False

    def check_now(self) -> None:
        self._daemon.check_now()

    def open_report(self) -> None:
        # Writing the file and starting the viewer happen off the UI thread.
        threading.Thread(target=self._open_report, name="cw-report", daemon=True).start()

    def open_reader_report(self, reader: str) -> None:
        """A card's line in the menu: the report of that reader alone."""
        threading.Thread(
            target=self._open_report, args=(reader,), name="cw-report", daemon=True
        ).start()

    def _open_report(self, reader: str | None = None) -> None:
        try:
            entries = self._history.entries() if self._history is not None else ()
            path = write_report(
                self._daemon.state, self._report_dir, reader=reader, history=entries
            )
            log.info("opening the report %s", path)
            open_file(path)
        except Exception:  # a thread boundary: say so and keep running
            log.exception("writing or opening the report failed")

    def toggle_pause(self) -> None:
        self._daemon.set_paused(None)

    def autostart_enabled(self) -> bool | None:
        return self._autostart_on

    def toggle_autostart(self) -> None:
        # Files (or the registry) are written off the UI thread.
        threading.Thread(target=self._toggle_autostart, name="cw-autostart", daemon=True).start()

    def _toggle_autostart(self) -> None:
        if self._autostart is None:
            return
        with self._autostart_lock:  # two quick clicks toggle twice, in order
            try:
                if self._autostart.status().enabled:
                    found = self._autostart.disable()
                else:
                    found = self._autostart.enable(current_command())
                log.info("start at login: %s", found.reason)
            except Exception:  # a thread boundary: say so and keep running
                log.exception("changing the start-at-login entry failed")
            self._read_autostart()
        self.on_change()

    def quit(self) -> None:
        self._stopping.set()


def _autostart_entries() -> Autostart | None:
    """This platform's start-at-login entries, or None (logged) when they cannot be had."""
    try:
        return autostart.default()
    except Exception as exc:  # e.g. no registry access: the menu simply has no such entry
        log.warning("no start-at-login entry in the menu (%s)", exc)
        return None


def _make_tray(actions: _TrayActions, state: DaemonState, backend: str = "") -> _Tray | None:
    """The tray icon, or None (after ONE warning naming the cause) when none can be shown."""
    try:
        from .ui.choose import make_tray
        from .ui.tray import TrayUnavailable
    except Exception as exc:  # pystray or Pillow missing or broken
        log.warning("no tray icon (%s); Cardwatch keeps watching without it", exc)
        return None
    try:
        return make_tray(actions, state, backend)
    except TrayUnavailable as exc:
        log.warning("no tray icon: %s; Cardwatch keeps watching without it", exc.cause)
    except Exception as exc:  # a backend failing in a way it should not: still keep watching
        log.debug("the tray failed to start", exc_info=True)
        log.warning("no tray icon (%s); Cardwatch keeps watching without it", exc)
    return None


def run(
    options: RunOptions,
    middleware: Sequence[Middleware] = (),
    network: NetworkChecks | None = None,
) -> int:
    """Run until SIGINT/SIGTERM (or Quit in the tray); returns the exit code."""
    # Python acts on a signal only in the main thread, and the kernel may hand a
    # process-wide SIGTERM to any thread that does not block it: every thread started
    # below is born with the stop signals blocked, and the main thread unblocks them once
    # it waits.
    _block_stop_signals(True)
    try:
        return _run_blocked(options, middleware, network)
    finally:
        _block_stop_signals(False)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _block_stop_signals(block: bool) -> None:
    if hasattr(signal, "pthread_sigmask"):  # not on Windows, where this question does not arise
        how = signal.SIG_BLOCK if block else signal.SIG_UNBLOCK
        signal.pthread_sigmask(how, _STOP_SIGNALS)


def _run_blocked(
    options: RunOptions, middleware: Sequence[Middleware], network: NetworkChecks | None
) -> int:
    clock = SystemClock()
    runtime = build_runtime(options, clock, middleware, network)
    daemon = runtime.daemon
    if options.on_state is not None:
        daemon.on_state(options.on_state)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()  # only a flag: the stopper thread or the main thread does the rest

    for signum in _STOP_SIGNALS:
        signal.signal(signum, on_signal)
    tray = None
    if options.tray:
        actions = _TrayActions(
            daemon, stopping, runtime.report_dir, runtime.history, _autostart_entries()
        )
        tray = _make_tray(actions, daemon.state, options.tray_backend)
    if tray is not None:
        daemon.on_state(tray.update)
        shown_tray = tray
        actions.on_change = lambda: shown_tray.update(daemon.state)
    runtime.start()
    try:
        if tray is None:
            _block_stop_signals(False)
            stopping.wait()
        else:
            shown = tray

            def stop_tray() -> None:
                stopping.wait()
                shown.stop()

            threading.Thread(target=stop_tray, name="cw-stopper", daemon=True).start()
            _block_stop_signals(False)
            try:
                tray.run()  # the main thread belongs to the tray loop until Quit or a signal
            except Exception as exc:  # the display went away, a backend bug: keep watching
                log.debug("the tray loop failed", exc_info=True)
                log.warning("the tray icon stopped (%s); Cardwatch keeps watching", exc)
            if not stopping.is_set():
                log.warning("the tray icon went away; Cardwatch keeps watching without it")
                stopping.wait()
    finally:
        runtime.stop()
    return 0
