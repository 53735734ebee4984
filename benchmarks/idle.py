"""Idle cost of the watching daemon: wake-ups and CPU per minute with two readers, no activity.

Runs the real pcscd with the two vpcd readers (as root, in private network and mount
namespaces: the script re-executes itself under ``unshare`` when it is not in one), then
measures, each in its own process and through ``getrusage`` inside that process:

* ``cardwatch``: the daemon as ``cardwatch run --no-tray --offline`` runs it, built by
  ``tray.app.build_runtime`` (watcher, dispatcher, check workers, history and state file,
  diagnosis, notifications through the real desktop-notifier backend to
  tests/notify_server.py on a private session bus, as on a desktop), with XDG directories of
  its own; with ``--tray`` also with the tray icon, once per Linux backend (sni, xorg, and
  gtk when PyGObject is installed), on a real host: xfce4-panel on a private Xvfb
  (tests/hosts.py; its systray plugin hosts StatusNotifierItems and XEmbed icons alike), or
  without xfce4-panel on the current DISPLAY or a private Xvfb + trayer (no sni row then);
* ``pyscard``: the baseline, pyscard's ReaderMonitor + CardMonitor with one observer each.

Nothing here is asserted; the table is printed. Goal for cardwatch: at most 2 wake-ups
(context switches) per minute.

    sudo .venv/bin/python benchmarks/idle.py [--seconds 60] [--tray]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from common import DAEMON, desktop_env, in_namespace  # noqa: E402


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _pss_kib() -> int:
    # PSS shares each shared page among the processes mapping it: the fair share of memory.
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _measure(seconds: float) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    time.sleep(seconds)  # the main thread sleeps too: its one wake-up is counted, on purpose
    after = resource.getrusage(resource.RUSAGE_SELF)
    minutes = (time.monotonic() - start) / 60
    return {
        "voluntary_per_min": (after.ru_nvcsw - before.ru_nvcsw) / minutes,
        "involuntary_per_min": (after.ru_nivcsw - before.ru_nivcsw) / minutes,
        "cpu_ms_per_min": (
            (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000 / minutes
        ),
        "rss_mib": _rss_kib() / 1024,
        "pss_mib": _pss_kib() / 1024,
        "threads": threading.active_count(),
    }


def child_cardwatch(
    seconds: float, warmup: float, with_tray: bool, after_check: float = 0.0
) -> dict[str, Any]:
    from tray.app import RunOptions, build_runtime
    from tray.clock import SystemClock

    runtime = build_runtime(RunOptions(tray=with_tray), SystemClock(), (), None)
    checked = threading.Event()
    runtime.on_report(lambda report, at: checked.set())
    daemon = runtime.daemon
    backend = runtime.notifications.backend.name
    runtime.start()
    tray_thread = None
    if with_tray:
        from tray.ui.choose import TrayIcon
        from tray.ui.sni import SniTray
        from tray.ui.tray import Tray

        class Quiet:
            def check_now(self) -> None: ...
            def open_report(self) -> None: ...
            def open_reader_report(self, reader: str) -> None: ...
            def toggle_pause(self) -> None: ...
            def toggle_autostart(self) -> None: ...
            def quit(self) -> None: ...
            def autostart_enabled(self) -> bool | None:
                return None

        icon: TrayIcon
        if os.environ.get("PYSTRAY_BACKEND") == "sni":
            icon = SniTray(Quiet(), daemon.state)
        else:
            icon = Tray(Quiet(), daemon.state)
        runtime.on_state(icon.update)
        result: dict[str, Any] = {"notifications": backend}

        def measure() -> None:
            time.sleep(warmup)
            result.update(_measure(seconds))
            icon.stop()

        tray_thread = threading.Thread(target=measure)
        icon.run(tray_thread.start)
        tray_thread.join()
        runtime.stop()
        return result
    time.sleep(warmup)
    result = {"notifications": backend, **_measure(seconds)}
    if after_check > 0:
        # The parent inserts a card now; once it is checked, wait, then measure again.
        print(json.dumps({"kind": "insert-now"}), flush=True)
        if checked.wait(30):
            time.sleep(after_check)
            result.update(
                after_check_seconds=after_check,
                after_check_rss_mib=_rss_kib() / 1024,
                after_check_pss_mib=_pss_kib() / 1024,
            )
    runtime.stop()
    return result


def child_pyscard(seconds: float, warmup: float) -> dict[str, float]:
    from smartcard.CardMonitoring import CardMonitor, CardObserver
    from smartcard.ReaderMonitoring import ReaderMonitor, ReaderObserver

    class Cards(CardObserver):  # type: ignore[misc]
        def update(self, observable: object, actions: object) -> None:
            pass

    class Readers(ReaderObserver):  # type: ignore[misc]
        def update(self, observable: object, actions: object) -> None:
            pass

    cards, readers = CardMonitor(), ReaderMonitor()
    card_observer, reader_observer = Cards(), Readers()
    cards.addObserver(card_observer)
    readers.addObserver(reader_observer)
    time.sleep(warmup)
    result = _measure(seconds)
    cards.deleteObserver(card_observer)
    readers.deleteObserver(reader_observer)
    return result


def _insert_when_asked(proc: subprocess.Popen[str]) -> None:
    """Insert a virtual MOICA card into the first reader when the child asks, until it ends."""
    from datetime import datetime, timezone

    from vpcd_client import VpcdCard, reader_port

    from tray.demo.cards import MoicaGen1Card
    from tray.demo.scenarios import moica_certs

    assert proc.stdout is not None
    lines = []
    card = None
    for line in proc.stdout:
        lines.append(line)
        if '"insert-now"' in line and card is None:
            certs = moica_certs(datetime.now(timezone.utc), 400)
            card = VpcdCard(MoicaGen1Card(certs, "TP00000000000001"), reader_port(0))
            card.insert()
    proc.wait()
    if card is not None:
        card.remove()
    proc.stdout = None  # read here: _result takes the lines from proc.lines
    proc.lines = lines  # type: ignore[attr-defined]


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    lines = getattr(proc, "lines", None)
    if lines is not None:
        out = "".join(lines)
    else:
        out, _err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"idle child failed with status {proc.returncode}")
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    if result.get("notifications", "desktop-notifier") != "desktop-notifier":
        raise RuntimeError(f"notifications went to {result['notifications']}, not D-Bus")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--tray", action="store_true", help="also show the tray icon (DISPLAY)")
    parser.add_argument("--child", choices=("cardwatch", "pyscard"))
    parser.add_argument(
        "--parallel", action="store_true", help="measure all processes at the same time"
    )
    parser.add_argument(
        "--after-check",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="then insert a card, and measure the headless daemon's memory SECONDS after its "
        "check (the issue asks for 300)",
    )
    parser.add_argument("--quick", action="store_true", help="5 s each: a smoke run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.quick and not args.child:
        args.seconds, args.warmup = 5.0, 1.0
    if args.child == "cardwatch":
        result = child_cardwatch(args.seconds, args.warmup, args.tray, args.after_check)
        print(json.dumps(result))
        return 0
    if args.child == "pyscard":
        print(json.dumps(child_pyscard(args.seconds, args.warmup)))
        return 0

    in_namespace()
    from bench import PcscBench, bench_unavailable
    from desktop import desktop_unavailable
    from hosts import XfceDesktop, xfce_unavailable
    from notify_server import NotifyServer, dbus_unavailable, session_bus

    reason = bench_unavailable() or dbus_unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    rows = []
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        host = None
        tray_host = ""
        if args.tray and xfce_unavailable() is None and desktop_unavailable() is None:
            # a real SNI host: the panel's own session bus carries the notifications too
            (workdir / "xfce").mkdir()
            host = stack.enter_context(XfceDesktop(workdir / "xfce"))
            address = host.address
            tray_host = "the systray plugin of xfce4-panel 4.18 on a private Xvfb"
        else:
            address = stack.enter_context(session_bus(str(workdir)))
        stack.enter_context(NotifyServer(address))

        def cardwatch_env(name: str, base: dict[str, str]) -> dict[str, str]:
            # Files of its own, and the session bus with the notification server.
            env = desktop_env(workdir / name, base)
            return dict(env, DBUS_SESSION_BUS_ADDRESS=address)

        after = ["--after-check", str(args.after_check)] if args.after_check > 0 else []
        runs: list[tuple[str, list[str], dict[str, str]]] = [
            ("cardwatch", after, cardwatch_env("cardwatch", dict(os.environ))),
            ("pyscard", [], dict(os.environ)),
        ]
        if args.tray:
            env = dict(os.environ)
            if host is not None:
                env = host.env
            elif not env.get("DISPLAY"):
                from desktop import Desktop

                env = stack.enter_context(Desktop(workdir)).env
                tray_host = "trayer on a private Xvfb"
            else:
                tray_host = f"the tray of DISPLAY {env['DISPLAY']}"
            backends = (["sni"] if host is not None else []) + ["xorg"]
            backends += ["gtk"] if find_spec("gi") is not None else []
            runs[1:1] = [
                (
                    f"cardwatch + tray ({b})",
                    ["--tray"],
                    cardwatch_env(f"tray-{b}", dict(env, PYSTRAY_BACKEND=b)),
                )
                for b in backends
            ]
        bench = stack.enter_context(PcscBench())
        print(
            f"pcscd {bench.pid} with readers {', '.join(bench.readers())}; {args.seconds:.0f} s each"
        )
        procs = []
        for label, extra, env in runs:
            name = label.split()[0]
            command = [
                sys.executable,
                __file__,
                "--child",
                name,
                "--seconds",
                str(args.seconds),
                "--warmup",
                str(args.warmup),
                *extra,
            ]
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
            procs.append((label, proc))
            if "--after-check" in extra:
                _insert_when_asked(proc)
            if not args.parallel:
                rows.append((label, _result(proc)))
        if args.parallel:
            rows = [(label, _result(proc)) for label, proc in procs]
    if args.json:
        figures = {
            "seconds": args.seconds,
            "parallel": args.parallel,
            "after_check_seconds": args.after_check,
            "rows": dict(rows),
        }
        if args.tray:
            figures["tray_host"] = tray_host
        print(json.dumps({**figures, "daemon": DAEMON}))
        return 0
    print()
    print(
        "| process | wake-ups/min (voluntary) | involuntary/min | CPU ms/min | RSS MiB | PSS MiB "
        "| threads |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in rows:
        print(
            f"| {name} | {row['voluntary_per_min']:.1f} | {row['involuntary_per_min']:.1f} | "
            f"{row['cpu_ms_per_min']:.1f} | {row['rss_mib']:.1f} | {row['pss_mib']:.1f} | "
            f"{row['threads']:.0f} |"
        )
    for name, row in rows:
        if "after_check_rss_mib" in row:
            print(
                f"\n{name}, {row['after_check_seconds']:.0f} s after a check: RSS "
                f"{row['after_check_rss_mib']:.1f} MiB, PSS {row['after_check_pss_mib']:.1f} MiB"
            )
    print("\ngoal: cardwatch at most 2 wake-ups per minute and at most 30 MiB RSS when idle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
