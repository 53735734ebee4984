"""Shared parts of the resilience suite: its counts, its tally, the daemon in a subprocess."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WAIT = 20.0  # seconds to wait for one daemon event before the test fails (not a timing claim)


@dataclass(frozen=True)
class ResilienceCounts:
    """How much each resilience test does; bounded for CI, full with ``--long``."""

    name: str
    cycles: int  # insert/remove cycles, alternating the two readers
    restarts: int  # pcscd restarts with SIGTERM, and as many with SIGKILL
    drop_daemon_every_k: bool  # every drop point through the daemon too (else a sample)
    fuzz_tlv: int  # hypothesis examples: every parser on BER-TLV with lying lengths
    fuzz_der: int  # ... the certificate reader on damaged DER
    fuzz_profiles: int  # ... each of the three profiles on hostile answers
    fuzz_vpcd: int  # ... each of two ATRs, whole checks through the real pcscd + vpcd


# Bounded: 1,500 + 2,500 + 3 x 2,000 = 10,000 in-process examples, plus 2 x 250 through vpcd.
BOUNDED = ResilienceCounts("bounded", 120, 3, False, 1500, 2500, 2000, 250)
FULL = ResilienceCounts("full (--long)", 1000, 20, True, 5000, 5000, 5000, 1000)


@dataclass
class Tally:
    """What the resilience suite ran, printed at the end of the session."""

    ran: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str, count: int = 1) -> None:
        with self.lock:
            self.ran[what] = self.ran.get(what, 0) + count

    def lines(self) -> list[str]:
        with self.lock:
            return [f"{what}: {count}" for what, count in sorted(self.ran.items())]


TALLY = Tally()


class DaemonProcess:
    """``tests/resilience_daemon.py`` running: the daemon alone in its own process."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "resilience_daemon.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=HERE.parent,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr: list[str] = []
        self.last_state: dict[str, Any] | None = None
        self.reports: list[dict[str, Any]] = []
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        started = self.next_event(lambda e: e["event"] == "started", "the daemon to start")
        self.pid: int = started["pid"]

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
        self.events.put({"event": "exited"})

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def next_event(self, wanted: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """The next event for which ``wanted`` holds; states and reports are kept on the way."""
        while True:
            try:
                event = self.events.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(
                    f"no event within {WAIT} s while waiting for {what}; last state "
                    f"{self.last_state}; stderr:\n" + "\n".join(self.stderr[-20:])
                ) from None
            if event["event"] == "exited":
                raise AssertionError(
                    f"the daemon exited while waiting for {what}:\n" + "\n".join(self.stderr[-30:])
                )
            if event["event"] == "state":
                self.last_state = event
            elif event["event"] == "report":
                self.reports.append(event)
            if wanted(event):
                return event

    def wait_state(self, what: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Wait for a state snapshot satisfying ``predicate`` (the latest one may already)."""
        if self.last_state is not None and predicate(self.last_state):
            return self.last_state
        return self.next_event(lambda e: e["event"] == "state" and predicate(e), what)

    def stats(self) -> dict[str, Any]:
        """The daemon process's RSS, thread and descriptor counts, and its checks started."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return self.next_event(lambda e: e["event"] == "stats", "the stats")

    def close(self) -> int:
        """Ask the daemon to stop; return its exit status."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        return self.proc.returncode


def phase(state: dict[str, Any], reader: str) -> str | None:
    """The phase of ``reader`` in a state event, or None when the daemon does not list it."""
    return next((p for name, p in state["readers"] if name == reader), None)


class Cardwatch:
    """``cardwatch -v run --no-tray [--no-network]`` with its output read line by line."""

    def __init__(self, network: bool = False, prefix: tuple[str, ...] = ()) -> None:
        env = dict(os.environ, LANG="C.UTF-8", LANGUAGE="", NO_COLOR="1")
        args = () if network else ("--no-network",)
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "tray", "-v", "run", "--no-tray", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        #: the process SIGTERM goes to on stop (the daemon itself when a prefix wraps it)
        self.target: int = self.proc.pid
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_line(self, what: str, wanted: Callable[[str], bool]) -> str:
        """The next output line for which ``wanted`` holds (earlier lines are kept)."""
        for line in self.lines:
            if wanted(line):
                return line
        while True:
            try:
                line = self._queue.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(
                    f"no line {what} yet:\n" + "\n".join(self.lines[-30:])
                ) from None
            if line is None:
                raise AssertionError(f"cardwatch exited before {what}:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if wanted(line):
                return line

    def stop(self) -> int:
        if self.proc.poll() is None:
            # Process-wide, as a service manager sends it: the kernel may hand it to any
            # thread, and cardwatch must act on it all the same (its threads block it).
            os.kill(self.target, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.lines.append(line)
        return self.proc.returncode
