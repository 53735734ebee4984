"""What the benchmarks share: private namespaces, child processes that talk in JSON lines,
percentiles, and the daemon as ``cardwatch run --no-tray`` builds it (``tray.app.build_runtime``).

Not a benchmark itself. Every time here is ``time.monotonic()`` (CLOCK_MONOTONIC), which is
one clock for every process on a Linux machine, so timestamps taken in different processes
can be subtracted.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(ROOT / "tests")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

NS_MARK = "CARDWATCH_BENCH_NS"
#: how long a benchmark waits for something before it counts it as lost
LOST_AFTER = 15.0


def in_namespace() -> None:
    """Re-execute this script in private network and mount namespaces, unless already in them.

    Only as root and only once (the environment marks the re-executed process); a nested
    namespace is fine, so this works inside the test suite's namespaces too.
    """
    if os.environ.get(NS_MARK) or os.geteuid() != 0 or shutil.which("unshare") is None:
        return
    script = (
        "set -e; mkdir -p /run/pcscd; mount -t tmpfs -o mode=0755 tmpfs /run/pcscd; "
        'ip link set lo up; exec "$@"'
    )
    env = dict(os.environ, **{NS_MARK: "1"})
    command = ["unshare", "--net", "--mount", "bash", "-c", script, "_", sys.executable, *sys.argv]
    sys.stdout.flush()
    os.execvpe("unshare", command, env)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.95 is p95); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and max of ``seconds``, in milliseconds."""
    return {
        "p50": percentile(seconds, 0.50) * 1000,
        "p95": percentile(seconds, 0.95) * 1000,
        "max": (max(seconds) if seconds else math.nan) * 1000,
        "n": float(len(seconds)),
    }


def say(message: dict[str, Any]) -> None:
    """A child's one JSON line to its parent (stdout), flushed at once."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Child:
    """A child process whose stdout lines are JSON messages, collected on a thread."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        #: the ``trace`` messages' marks, ``[stage, key, t]`` each, in arrival order
        self.marks: list[list[Any]] = []
        self.log_path = log
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                message = json.loads(line)
                if message.get("kind") == "trace":
                    self.marks.extend(message["marks"])
                else:
                    self.messages.put(message)

    def expect(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = LOST_AFTER
    ) -> dict[str, Any] | None:
        """The next message that satisfies ``predicate`` (others are dropped), or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                return None
            if predicate(message):
                return message

    def drain(self) -> list[dict[str, Any]]:
        """Every message received so far."""
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> None:
        """Close its stdin (the child's cue to stop) and wait; kill it if it will not go."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def desktop_env(workdir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose home, config, data and runtime directories are under ``workdir``."""
    env = {k: v for k, v in (base or os.environ).items() if not k.startswith("XDG_")}
    home = workdir / "home"
    runtime = workdir / "runtime"
    for path in (home, runtime):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(runtime),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_STATE_HOME=str(home / "state"),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    )
    return env


def wait_stdin_closed() -> None:
    """Block until the parent closes our stdin (its way to say "stop")."""
    for _line in sys.stdin:
        pass


#: what the benchmarks' cardwatch processes run, in the words of RESULTS.md
DAEMON = (
    "the daemon as `cardwatch run --no-tray --offline` builds it (tray/app.py "
    "`build_runtime`): watcher, dispatcher, check workers, history and state file, "
    "diagnosis, notifications (policy, notification log, desktop-notifier on the private "
    "session bus)"
)


def run_daemon_child(trace: bool = False) -> None:
    """The daemon as ``cardwatch run --no-tray --offline`` runs it, reporting in JSON.

    Built by ``tray.app.build_runtime``, the builder ``cardwatch run`` itself uses: the
    watcher, dispatcher and check workers, the history (every check recorded, the state
    saved), the diagnosis, the notifications (policy, notification log, and the backend
    ``cardwatch run`` would pick: desktop-notifier on the session bus the parent gives) and
    the state's log line; only the tray is left out. Files go to the XDG directories of the
    environment (:func:`desktop_env`).

    Messages: ``ready`` (with the notification backend's name); ``seen`` (a reader's card
    inserted: the watcher's event); ``report`` (a check finished, with the card number);
    ``empty`` (a reader empty again). With ``trace``, also ``trace``: the stages
    :mod:`tray.trace` marked since the last one (``[stage, key, t]`` each), sent when a reader
    is empty again and at the end, so that the JSON lines cost nothing while a card is
    checked.
    """
    from tray import trace as tracing
    from tray.app import RunOptions, build_runtime
    from tray.clock import SystemClock
    from tray.daemon.state import DaemonState, Phase
    from tray.model import ReaderReport

    marks: list[tuple[str, str, float]] = []
    marks_lock = threading.Lock()

    def record(stage: str, key: str, at: float) -> None:
        with marks_lock:
            marks.append((stage, key, at))

    def send_marks() -> None:
        with marks_lock:
            batch = marks[:]
            marks.clear()
        if batch:
            say({"kind": "trace", "marks": batch})

    if trace:
        tracing.set_hook(record)
    runtime = build_runtime(RunOptions(tray=False), SystemClock(), (), None)
    phases: dict[str, Phase] = {}

    def on_report(report: ReaderReport, _at: object) -> None:
        say(
            {
                "kind": "report",
                "reader": report.reader,
                "card": report.card_number,
                "t": time.monotonic(),
            }
        )

    def on_state(state: DaemonState) -> None:
        now = time.monotonic()
        for reader in state.readers:
            before = phases.get(reader.reader)
            if reader.phase is before:
                continue
            phases[reader.reader] = reader.phase
            if reader.phase is Phase.INSERTED:
                say({"kind": "seen", "reader": reader.reader, "t": now})
            elif reader.phase is Phase.EMPTY and before is not None:
                if trace:
                    send_marks()
                say({"kind": "empty", "reader": reader.reader, "t": now})

    runtime.on_report(on_report)
    runtime.on_state(on_state)
    runtime.start()
    say({"kind": "ready", "backend": runtime.notifications.backend.name})
    try:
        wait_stdin_closed()
    finally:
        runtime.stop()
        if trace:
            send_marks()


def run_monitor_child() -> None:
    """The baseline: pyscard's CardMonitor with one observer, reporting each event in JSON."""
    from smartcard.CardMonitoring import CardMonitor, CardObserver

    class Observer(CardObserver):  # type: ignore[misc]
        def update(self, observable: object, actions: tuple[list[Any], list[Any]]) -> None:
            now = time.monotonic()
            added, removed = actions
            for card in added:
                say({"kind": "insert", "reader": str(card.reader), "t": now})
            for card in removed:
                say({"kind": "remove", "reader": str(card.reader), "t": now})

    monitor = CardMonitor()
    observer = Observer()
    monitor.addObserver(observer)
    time.sleep(0.5)  # its thread's first SCardGetStatusChange is under way by then
    say({"kind": "ready"})
    try:
        wait_stdin_closed()
    finally:
        monitor.deleteObserver(observer)


def child_command(script: str, *args: str) -> list[str]:
    """The command line that runs ``script`` (a benchmark) as one of its children."""
    return [sys.executable, str(Path(script).resolve()), *args]


def fmt(value: float, digits: int = 1) -> str:
    """A figure for a table ("–" when there is none)."""
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A GitHub table; the first column left-aligned, the others right-aligned."""
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def timed_notify_server(address: str) -> Any:
    """tests/notify_server.py's recording server, also noting when each Notify arrived."""
    from notify_server import NotifyServer

    class TimedNotifyServer(NotifyServer):
        def __init__(self, address: str) -> None:
            super().__init__(address)
            self.times: list[float] = []

        def _notified(self, *args: Any) -> int:
            arrived = time.monotonic()
            with self._cond:
                self.times.append(arrived)
            return super()._notified(*args)

    return TimedNotifyServer(address)
