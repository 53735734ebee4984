"""The idle daemon does without cryptography: it is imported on the first card, not before.

Each case runs in a fresh interpreter (the test process has long imported everything) and
lists which of the heavy modules are loaded; ``benchmarks/idle.py`` measures the memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: what the idle daemon must not have loaded: cryptography (x509 alone is ~14 MiB), the
#: network clients, hashlib's OpenSSL, the check and the HTML report (``ssl`` is not among
#: them: asyncio imports it, and desktop-notifier runs on asyncio)
HEAVY = (
    "cryptography",
    "_hashlib",
    "urllib.request",
    "http.client",
    "tray.check.run",
    "tray.net.revocation",
    "tray.present.report_html",
)

IDLE_DAEMON = """
import argparse, json, sys, threading, time
from pathlib import Path

from tray.app import RunOptions, build_runtime
from tray.cli import _network
from tray.clock import SystemClock
from tray.config import Config
from tray.notify.backends import LogBackend


class Idle:
    def __init__(self):
        self._stop = threading.Event()

    def run(self, sink):
        self._stop.wait()

    def stop(self):
        self._stop.set()


def unused(reader):
    raise AssertionError("no card is inserted")


clock = SystemClock()
args = argparse.Namespace(offline=False, demo=None, time_url=None, ntp_server=[])
network = _network(args, clock, Config())
# The daemon as cardwatch run builds it (real PC/SC parts, network checks on), started with
# an event source that stays quiet: idle.
runtime = build_runtime(RunOptions(tray=False), clock, (), network, data=Path(sys.argv[1]),
                        notify_backend=lambda callbacks, report: LogBackend())
built = sorted(m for m in HEAVY if m in sys.modules)
runtime = build_runtime(RunOptions(tray=False), clock, (), network, data=Path(sys.argv[1]),
                        parts=(Idle(), unused),
                        notify_backend=lambda callbacks, report: LogBackend())
runtime.start()
time.sleep(0.3)
runtime.stop()
print(json.dumps({"built": built, "idle": sorted(m for m in HEAVY if m in sys.modules)}))
"""


def _loaded(code: str, *args: str) -> dict[str, list[str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{code}", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    result: dict[str, list[str]] = json.loads(out.splitlines()[-1])
    return result


def test_the_idle_daemon_imports_no_cryptography(tmp_path: Path) -> None:
    loaded = _loaded(IDLE_DAEMON, str(tmp_path))
    assert loaded == {"built": [], "idle": []}


def test_the_entry_point_imports_no_cryptography() -> None:
    loaded = _loaded(
        "import sys, json\nimport tray.cli, tray.app, tray.pcsc.watch, tray.pcsc.adapter\n"
        'print(json.dumps({"cli": sorted(m for m in HEAVY if m in sys.modules)}))'
    )
    assert loaded == {"cli": []}


def test_the_first_check_imports_what_it_needs(tmp_path: Path) -> None:
    # The other side of the bargain: the same daemon checks a (demo) card with everything.
    code = """
import json, sys
from tray.app import demo_parts
from tray.clock import SystemClock
_source, check = demo_parts("default", SystemClock())
report = check("Cardwatch Demo Reader 0")
print(json.dumps({"loaded": sorted(m for m in HEAVY if m in sys.modules),
                  "certificates": len(report.readers[0].certificates)}))
"""
    loaded = _loaded(code)
    assert "cryptography" in loaded["loaded"] and "tray.check.run" in loaded["loaded"]
    assert loaded["certificates"] > 0
