"""Burst: sixteen readers, a card in each at once; time until all are reported, events lost.

pcscd allows at most 16 readers and vpcd gives two per reader.conf entry (ports P and P+1
for ``DEVICENAME /dev/null:P``), so the bench gets a reader.conf.d of its own (pcscd
``--config``) with eight vpcd entries. vpcd keeps its connections in static variables
indexed by slot, so eight entries loading the same library would overwrite each other's
slots: each entry loads its own copy of libifdvpcd.so.

Per round, sixteen virtual MOICA cards (certificates expiring in 2 days, a card number of
their own) connect one after another within a millisecond or so; t0 is just before the
first connect. Measured: until the daemon (as ``cardwatch run --no-tray --offline`` wires it)
has finished all sixteen checks, until the notification server has all sixteen notices, and
until pyscard's CardMonitor (the baseline, own process) has seen all sixteen. An event not
seen within 15 s counts as lost. Root; re-executes itself in private namespaces.

    sudo .venv/bin/python benchmarks/burst.py [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    LOST_AFTER,
    Child,
    child_command,
    desktop_env,
    fmt,
    in_namespace,
    markdown_table,
    run_daemon_child,
    run_monitor_child,
    summary_ms,
    timed_notify_server,
)

ENTRIES = 8
SLOTS = 2
FIRST_PORT = 35963
GOAL_SECONDS = 2.0


def reader_config(
    directory: Path, driver: Path, entries: int = ENTRIES
) -> tuple[Path, list[tuple[str, int]]]:
    """A reader.conf.d of ``entries`` vpcd entries; returns it and (reader name, port) per slot."""
    conf = directory / "reader.conf.d"
    libs = directory / "drivers"
    conf.mkdir()
    libs.mkdir()
    readers = []
    for entry in range(entries):
        port = FIRST_PORT + SLOTS * entry
        lib = libs / f"libifdvpcd-{entry}.so"
        shutil.copyfile(driver, lib)
        (conf / f"vpcd-burst-{entry}").write_text(
            f'FRIENDLYNAME "Burst {entry}"\nDEVICENAME /dev/null:{port}\n'
            f"LIBPATH {lib}\nCHANNELID {port}\n"
        )
        readers += [(f"Burst {entry} 00 {slot:02d}", port + slot) for slot in range(SLOTS)]
    return conf, readers


def _collect(
    child: Child, kind: str, wanted: set[str], t0: float, lost_after: float
) -> dict[str, float]:
    """Reader → seconds after t0 of the first ``kind`` message for each wanted reader."""
    got: dict[str, float] = {}
    deadline = t0 + lost_after
    while set(got) < wanted:
        left = deadline - time.monotonic()
        message = child.expect(lambda m: m["kind"] == kind, max(left, 0.0))
        if message is None:
            break
        if message["reader"] in wanted and message["reader"] not in got:
            got[message["reader"]] = message["t"] - t0
    return got


def measure(
    rounds: int, workdir: Path, entries: int = ENTRIES, lost_after: float = LOST_AFTER
) -> dict[str, Any]:
    from bench import VPCD_DRIVER, PcscBench
    from notify_server import session_bus
    from vpcd_client import VpcdCard

    from tray.demo.cards import MoicaGen1Card
    from tray.demo.scenarios import moica_certs

    conf, readers = reader_config(workdir, VPCD_DRIVER, entries)
    names = {name for name, _port in readers}
    certs = moica_certs(datetime.now(timezone.utc), 2)
    all_seconds: dict[str, list[float]] = {"event": [], "check": [], "notify": []}
    each_check: list[float] = []
    lost = {"event": 0, "check": 0, "notify": 0}
    script = __file__
    bench = PcscBench([name for name, _port in readers], log_dir=workdir, reader_conf=conf)
    with bench, session_bus(str(workdir)) as address, timed_notify_server(address) as server:
        env = dict(desktop_env(workdir), DBUS_SESSION_BUS_ADDRESS=address)
        daemon = Child(child_command(script, "--child", "daemon"), env, workdir / "daemon.log")
        monitor = Child(child_command(script, "--child", "monitor"), env, workdir / "monitor.log")
        try:
            for child, name in ((daemon, "daemon"), (monitor, "monitor")):
                if child.expect(lambda m: m["kind"] == "ready") is None:
                    raise RuntimeError(f"the {name} child did not start:\n{child.log_tail()}")
            for round_ in range(rounds):
                calls_before = len(server.calls)
                plugged = [
                    VpcdCard(MoicaGen1Card(certs, f"TP{round_:06d}{slot:08d}"), port)
                    for slot, (_name, port) in enumerate(readers)
                ]
                t0 = time.monotonic()
                for card in plugged:
                    card.insert()
                try:
                    checks = _collect(daemon, "report", names, t0, lost_after)
                    events = _collect(monitor, "insert", names, t0, lost_after)
                    deadline = t0 + lost_after
                    while len(server.times) < calls_before + len(names):
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.005)
                    notices = [t - t0 for t in server.times[calls_before:]]
                finally:
                    for card in plugged:
                        card.remove()
                for key, got in (("event", events), ("check", checks)):
                    lost[key] += len(names) - len(got)
                    if len(got) == len(names):
                        all_seconds[key].append(max(got.values()))
                lost["notify"] += max(0, len(names) - len(notices))
                if len(notices) >= len(names):
                    all_seconds["notify"].append(max(notices[: len(names)]))
                each_check += list(checks.values())
                _collect(daemon, "empty", names, time.monotonic(), lost_after)
                _collect(monitor, "remove", names, time.monotonic(), lost_after)
        finally:
            daemon.stop()
            monitor.stop()
    figures = {key: summary_ms(values) for key, values in all_seconds.items()}
    worst = figures["check"]["max"] / 1000
    return {
        "rounds": rounds,
        "readers": len(readers),
        "all_reported_ms": figures,
        "each_check_ms": summary_ms(each_check),
        "lost": lost,
        # pcsc-lite 1.9.9 answers SCardGetStatusChange on more than 16 reader states with
        # SCARD_E_INVALID_PARAMETER; watchers add the PnP pseudo-reader to the real ones.
        "reader_states_asked": len(readers) + 1,
        "pcsc_lite_max_reader_states": 16,
        "goal_seconds": GOAL_SECONDS,
        "met": worst <= GOAL_SECONDS and lost["check"] == 0 and lost["notify"] == 0,
    }


LABELS = (
    ("event", "pyscard CardMonitor saw all {n} (baseline)"),
    ("check", "Cardwatch reported all {n} (checks finished)"),
    ("notify", "Cardwatch notified all {n}"),
)


def table(result: dict[str, Any]) -> str:
    rows = []
    for key, template in LABELS:
        label = template.format(n=result["readers"])
        s = result["all_reported_ms"][key]
        rows.append([label, fmt(s["p50"]), fmt(s["max"]), f"{s['n']:.0f}", result["lost"][key]])
    return markdown_table(
        ["from the first insertion until", "p50 ms", "max ms", "rounds", "lost"], rows
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--entries", type=int, default=ENTRIES, help="vpcd entries (2 readers each)"
    )
    parser.add_argument("--lost-after", type=float, default=LOST_AFTER, help="seconds")
    parser.add_argument("--quick", action="store_true", help="one round: a smoke run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", choices=("daemon", "monitor"))
    args = parser.parse_args()
    if args.child == "daemon":
        run_daemon_child()
        return 0
    if args.child == "monitor":
        run_monitor_child()
        return 0
    in_namespace()
    from bench import bench_unavailable

    reason = bench_unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="cardwatch-burst-") as tmp:
        result = measure(rounds, Path(tmp), args.entries, args.lost_after)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"Burst: {result['readers']} readers, a card in each at once, {rounds} rounds\n")
    print(table(result))
    each = result["each_check_ms"]
    print(f"\neach check, from t0: p50 {fmt(each['p50'])} ms, max {fmt(each['max'])} ms")
    print(
        f"goal: all reported within {GOAL_SECONDS:.0f} s, none lost: "
        f"{'met' if result['met'] else 'not met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
