"""``cardwatch run``: the daemon wired to its event source, checker, history and tray."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

from .check import CheckOptions, Middleware, check_one
from .clock import Clock, SystemClock
from .daemon import Checker, Daemon, DaemonOptions
from .events import EventSource
from .history import History
from .model import CheckReport
from .net import CachedClockProbe, NetworkChecks
from .prometheus import TextfileWriter
from .state import DaemonState, icon_state, tooltip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """What ``cardwatch run`` was asked for."""

    demo: str | None = None
    tray: bool = True
    pkcs11_modules: tuple[str, ...] = ()
    no_pkcs11: bool = False
    prometheus_textfile: str | None = None


#: the daemon measures the clock at most this often (a check inside the hour reuses it)
CLOCK_MAX_AGE_SECONDS = 3600.0


def pcsc_parts(
    clock: Clock, middleware: Sequence[Middleware], network: NetworkChecks | None = None
) -> tuple[EventSource, Checker]:
    """The real PC/SC watcher, and a checker that opens its own context for every check."""
    from .pcsc.adapter import PcscBackend
    from .pcsc.watch import PcscWatcher

    def check(reader: str) -> CheckReport:
        backend = PcscBackend()
        try:
            return check_one(backend, reader, clock, CheckOptions(network=network), middleware)
        finally:
            backend.close()

    return PcscWatcher(), check


def demo_parts(
    scenario: str, clock: Clock, network: NetworkChecks | None = None
) -> tuple[EventSource, Checker]:
    """Simulated readers and cards of a demo scenario (and its simulated network answers)."""
    from .sim.backend import SimBackend
    from .sim.scenarios import build
    from .sim.scenarios import network as simulated
    from .sim.watch import SimWatcher

    readers = build(scenario, clock.now())
    options = CheckOptions(network=network or simulated(scenario, clock.now()))
    backend = SimBackend(readers)
    lock = threading.Lock()  # virtual cards keep selection state: one check at a time

    def check(reader: str) -> CheckReport:
        with lock:
            return check_one(backend, reader, clock, options)

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
) -> Daemon:
    """The daemon for ``options`` (not started); ``network`` None: no network checks."""
    net = daemon_network(network, clock) if network is not None else None
    if options.demo:
        source, checker = demo_parts(options.demo, clock, net)
    else:
        source, checker = pcsc_parts(clock, middleware, net)
    return Daemon(source, checker, clock, DaemonOptions())


def _log_state(state: DaemonState) -> None:
    log.info("state %s: %s", icon_state(state).value, tooltip(state).replace("\n", " | "))


def run(
    options: RunOptions,
    middleware: Sequence[Middleware] = (),
    network: NetworkChecks | None = None,
) -> int:
    """Run until SIGINT/SIGTERM (or Quit in the tray); returns the exit code."""
    clock = SystemClock()
    daemon = build_daemon(options, clock, middleware, network)
    daemon.on_state(_log_state)
    history = History.open_default(clock)
    daemon.on_report(history.record)
    daemon.on_state(history.save_state)
    closers = [history.close]
    if options.prometheus_textfile:
        textfile = TextfileWriter(Path(options.prometheus_textfile))
        daemon.on_state(textfile.on_state)
        closers.append(textfile.close)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    daemon.start()
    try:
        stopping.wait()
    finally:
        daemon.stop()
        for close in closers:
            close()
    return 0
