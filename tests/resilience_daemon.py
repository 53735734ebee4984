"""The daemon in a process of its own, for the resilience suite; JSON lines on stdout.

It is built the way ``cardwatch run --no-tray`` builds it (``tray.app.build_daemon`` with
the history recording reports and saving state), plus listeners that print every state and
report as one JSON line. A line on stdin asks for something: ``stats`` prints the process's
resident memory, thread and descriptor counts; ``quit`` (or EOF) stops the daemon.

Usage: python tests/resilience_daemon.py  (network checks off, as with --no-network)
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import datetime
from pathlib import Path

from tray.app import RunOptions, build_daemon
from tray.clock import SystemClock
from tray.daemon.state import DaemonState
from tray.model import ReaderReport
from tray.net import NetworkChecks
from tray.store.history import History


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

    clock = SystemClock()
    daemon = build_daemon(RunOptions(tray=False), clock, network=NetworkChecks.off())
    history = History.open_default(clock)
    daemon.on_report(history.record)
    daemon.on_state(history.save_state)
    daemon.on_report(on_report)
    daemon.on_state(on_state)
    daemon.start()
    emit({"event": "started", "pid": os.getpid()})
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                # Quiesce first: a history write still under way holds its temporary file open.
                history.flush()
                emit({"event": "stats", "checks_started": daemon.checks_started, **proc_stats()})
            elif command == "quit":
                break
    finally:
        daemon.stop()
        history.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
