"""The daemon in a process of its own, for the resilience suite; JSON lines on stdout.

It is built by ``tray.app.build_runtime``, the builder ``cardwatch run --no-tray`` uses: the
daemon with its history (every check recorded, the state saved), the diagnosis, the
notifications (policy, notification log, and the backend ``cardwatch run`` would pick: with
no notification service on the session bus, that is plyer, whose every notice ends as one
warning on stderr naming the notice, or the log line where plyer is missing; the
``started`` line names it) and the state's log line; plus listeners that print every state
and report as one JSON line. A line on stdin asks for something: ``stats`` waits until
every file write and notice handed in so far is done, then prints the process's resident
memory, thread and descriptor counts; ``quit`` (or EOF) stops the daemon.

Usage: python tests/resilience_daemon.py  (network checks off, as with --no-network)
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import datetime
from pathlib import Path

from tray.app import RunOptions, build_runtime
from tray.clock import SystemClock
from tray.daemon.state import DaemonState
from tray.model import ReaderReport
from tray.net import NetworkChecks


def proc_stats() -> dict[str, int]:
    """This process's VmRSS (KiB), kernel thread count and open descriptors."""
    status = Path("/proc/self/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    fds = sorted(_target(fd) for fd in os.listdir("/proc/self/fd"))
    return {
        "rss_kib": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "fds": len(fds),
        "fd_targets": fds,
    }


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "(closed meanwhile)"


def main() -> int:
    lock = threading.Lock()

    def emit(record: dict[str, object]) -> None:
        with lock:
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()

    def on_state(state: DaemonState) -> None:
        emit(
            {
                "event": "state",
                "service_up": state.service_up,
                "readers": [[r.reader, r.phase.value] for r in state.readers],
            }
        )

    def on_report(report: ReaderReport, _at: datetime) -> None:
        emit(
            {
                "event": "report",
                "reader": report.reader,
                "health": int(report.health),
                "codes": [i.code for i in report.items if i.status.rank >= 2],
                "apdus": report.apdus,
            }
        )

    runtime = build_runtime(RunOptions(tray=False), SystemClock(), network=NetworkChecks.off())
    runtime.on_report(on_report)
    runtime.on_state(on_state)
    runtime.start()
    emit(
        {
            "event": "started",
            "pid": os.getpid(),
            "notifications": runtime.notifications.backend.name,
        }
    )
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                # Quiesce first: a file write still under way holds its temporary file open.
                runtime.flush()
                checks = runtime.daemon.checks_started
                emit({"event": "stats", "checks_started": checks, **proc_stats()})
            elif command == "quit":
                break
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
