"""Start-up: import time, ``cardwatch --version``, first state headless, tray icon visible.

* import time of ``tray.cli`` (``python -X importtime``, the cumulative figure of tray.cli)
  and the wall time of ``cardwatch --version`` (the installed entry point);
* ``cardwatch -v run --no-tray --offline`` with the real pcscd + vpcd bench: process start
  until the daemon logs its first state (``-v`` puts that INFO line on stderr);
* ``cardwatch run --offline`` on a private Xvfb + trayer (tests/desktop.py), once per Linux
  tray backend (xorg, and gtk when PyGObject is installed): process start until the icon's
  pixels show in the tray (the tray strip is read through Xlib every 10 ms and compared
  with the empty panel).

Every run has its own home and runtime directories and a private D-Bus session bus with
tests/notify_server.py's server, as a desktop would. Root; the script re-executes itself in
private network and mount namespaces. Prints a table (``--json``: the figures as JSON).

    sudo .venv/bin/python benchmarks/startup.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import desktop_env, fmt, in_namespace, markdown_table

#: how long a start may take before the benchmark gives up on it
GIVE_UP = 30.0


def cardwatch_command() -> list[str]:
    """The installed ``cardwatch`` entry point next to this Python, else ``python -m tray``."""
    script = Path(sys.executable).with_name("cardwatch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tray"]


def import_ms(repeat: int) -> list[float]:
    """Cumulative import time of tray.cli, in ms, per run."""
    out = []
    for _ in range(repeat):
        run = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import tray.cli"],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in run.stderr.splitlines():
            parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
            if len(parts) == 3 and parts[2] == "tray.cli":
                out.append(int(parts[1]) / 1000)
    return out


def version_ms(repeat: int) -> list[float]:
    """Wall time of ``cardwatch --version``, in ms, per run."""
    out = []
    for _ in range(repeat):
        started = time.monotonic()
        subprocess.run([*cardwatch_command(), "--version"], capture_output=True, check=True)
        out.append((time.monotonic() - started) * 1000)
    return out


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def first_state_ms(env: dict[str, str]) -> float:
    """``cardwatch run --no-tray --offline``: start until its first "state" log line."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [*cardwatch_command(), "-v", "run", "--no-tray", "--offline"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = threading.Event()
    moment: list[float] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if not seen.is_set() and "INFO tray.app: state " in line:
                moment.append(time.monotonic())
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not seen.wait(GIVE_UP):
            raise RuntimeError("cardwatch run --no-tray logged no state")
    finally:
        _stop(proc)
        reader.join(5)
    return (moment[0] - started) * 1000


def _strip(display: Any, box: tuple[int, int, int, int]) -> bytes:
    import Xlib.X

    root = display.screen().root
    left, top, right, bottom = box
    image = root.get_image(left, top, right - left, bottom - top, Xlib.X.ZPixmap, 0xFFFFFFFF)
    return bytes(image.data)


def _changed_pixels(a: bytes, b: bytes) -> int:
    return sum(1 for i in range(0, min(len(a), len(b)), 4) if a[i : i + 3] != b[i : i + 3])


def icon_visible_ms(env: dict[str, str], backend: str) -> float:
    """``cardwatch run --offline``: start until its tray icon's pixels show in trayer."""
    import Xlib.display
    from desktop import TRAY_BOX

    display = Xlib.display.Display(env["DISPLAY"])
    try:
        empty = _strip(display, TRAY_BOX)
        started = time.monotonic()
        proc = subprocess.Popen(
            [*cardwatch_command(), "run", "--offline"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(env, PYSTRAY_BACKEND=backend),
        )
        try:
            while _changed_pixels(_strip(display, TRAY_BOX), empty) < 20:
                if time.monotonic() - started > GIVE_UP or proc.poll() is not None:
                    raise RuntimeError(f"no tray icon from the {backend} backend")
                time.sleep(0.01)
            shown = time.monotonic()
        finally:
            _stop(proc)  # type: ignore[arg-type]
        # The next start begins with the empty panel again.
        deadline = time.monotonic() + GIVE_UP
        while _changed_pixels(_strip(display, TRAY_BOX), empty) >= 20:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        display.close()
    return (shown - started) * 1000


def measure(repeat: int, workdir: Path) -> dict[str, Any]:
    from bench import PcscBench
    from desktop import Desktop, desktop_unavailable
    from notify_server import session_bus

    result: dict[str, Any] = {
        "repeat": repeat,
        "import_ms": statistics.median(import_ms(repeat)),
        "version_ms": statistics.median(version_ms(repeat)),
    }
    with contextlib.ExitStack() as stack:
        stack.enter_context(PcscBench(log_dir=workdir))
        address = stack.enter_context(session_bus(str(workdir)))
        from common import timed_notify_server

        stack.enter_context(timed_notify_server(address))
        runs = 0

        def fresh_env(base: dict[str, str]) -> dict[str, str]:
            nonlocal runs
            runs += 1
            env = desktop_env(workdir / f"run-{runs}", base)
            env["DBUS_SESSION_BUS_ADDRESS"] = address
            return env

        headless_base = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        result["headless_first_state_ms"] = statistics.median(
            first_state_ms(fresh_env(headless_base)) for _ in range(repeat)
        )
        tray: dict[str, float | None] = {}
        reason = desktop_unavailable()
        if reason is None:
            desktop = stack.enter_context(Desktop(workdir))
            backends = ["xorg"] + (["gtk"] if find_spec("gi") is not None else [])
            for backend in backends:
                tray[backend] = statistics.median(
                    icon_visible_ms(fresh_env(desktop.env), backend) for _ in range(repeat)
                )
        else:
            result["tray_skipped"] = reason
        result["tray_icon_visible_ms"] = tray
    return result


def table(result: dict[str, Any]) -> str:
    rows = [
        ["import tray.cli (-X importtime, cumulative)", fmt(result["import_ms"])],
        ["`cardwatch --version` (wall)", fmt(result["version_ms"])],
        ["`run --no-tray`: start → first state", fmt(result["headless_first_state_ms"])],
    ]
    for backend, value in result["tray_icon_visible_ms"].items():
        rows.append([f"`run` ({backend} tray): start → icon visible", fmt(value)])
    return markdown_table([f"start-up (median of {result['repeat']})", "ms"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run each: a smoke run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    in_namespace()
    from bench import bench_unavailable

    reason = bench_unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    repeat = 1 if args.quick else args.repeat
    with tempfile.TemporaryDirectory(prefix="cardwatch-startup-") as tmp:
        result = measure(repeat, Path(tmp))
    if args.json:
        print(json.dumps(result))
        return 0
    print(table(result))
    if "tray_skipped" in result:
        print(f"\ntray not measured: {result['tray_skipped']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
