"""APDUs and milliseconds per check for each card type, against the minimum APDU count.

Prints a table; asserts nothing. In-process by default (the virtual cards called directly);
with --bench the same cards are read through the real pcscd + vpcd (root, Linux; run it
inside `unshare --net` so vpcd's listener stays private):

    .venv/bin/python benchmarks/check_apdus.py [--bench] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from tray.card.profiles.hicos import parse_cdf  # noqa: E402
from tray.check.run import CheckOptions, run_check  # noqa: E402
from tray.clock import SystemClock  # noqa: E402
from tray.demo import scenarios  # noqa: E402
from tray.demo.backend import SimBackend  # noqa: E402
from tray.demo.card import VirtualCard  # noqa: E402
from tray.demo.cards import MoicaGen1Card, moica_cdf  # noqa: E402

CASES = (
    ("MOICA gen 1", "default", 0),
    ("MOICA gen 2", "gen2", 0),
    ("PIV", "default", 1),
    ("OpenPGP", "openpgp", 0),
)


def moica_minimum(card: MoicaGen1Card) -> tuple[int, int]:
    """Nine path SELECTs (3F00/5030/4104, 3F00/5030/08F2 from the root, 3F00/0900/0903) plus
    ⌈bytes/200⌉ READ BINARYs for the card number, CDF and certificates."""
    cdf = moica_cdf(card.certs, card.cert_path)
    reads = 1 + math.ceil((len(cdf) + 1) / 200)
    size = 16 + len(cdf)
    entries, _skipped = parse_cdf(cdf)
    for entry in entries:
        assert entry.length is not None
        reads += math.ceil(entry.length / 200)
        size += entry.length
    return 9 + reads, size


def fresh(scenario: str, index: int) -> VirtualCard:
    card = list(scenarios.build(scenario, datetime.now(timezone.utc)).values())[index]
    assert card is not None
    return card


def run_inprocess(card: VirtualCard) -> tuple[int, float]:
    backend = SimBackend({"bench": card})
    started = time.perf_counter()
    report = run_check(backend, SystemClock())
    return report.readers[0].apdus, (time.perf_counter() - started) * 1000


def run_bench(card: VirtualCard) -> tuple[int, float]:
    from conftest import CARD_TIMEOUT
    from vpcd_client import READER_NAMES, VpcdCard, reader_port

    from tray.pcsc.adapter import PcscBackend

    assert BENCH is not None
    plugged = VpcdCard(card, reader_port(0))
    plugged.insert()
    BENCH.wait_card(READER_NAMES[0], True, CARD_TIMEOUT)
    backend = PcscBackend()
    try:
        started = time.perf_counter()
        report = run_check(backend, SystemClock(), CheckOptions(reader=READER_NAMES[0]))
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        backend.close()
        plugged.remove()
        BENCH.wait_card(READER_NAMES[0], False, CARD_TIMEOUT)
    return report.readers[0].apdus, elapsed


BENCH = None


def main() -> int:
    global BENCH
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="store_true", help="read through real pcscd + vpcd")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 runs each: a smoke run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.quick:
        args.repeat = 3
    out = sys.stderr if args.json else sys.stdout
    rows: list[dict[str, object]] = []
    runner = run_inprocess
    if args.bench:
        from bench import PcscBench
        from vpcd_client import READER_NAMES

        BENCH = PcscBench(READER_NAMES)
        BENCH.start()
        runner = run_bench
    try:
        mode = "pcscd + vpcd" if args.bench else "in-process"
        print(f"Check cost per card type ({mode}, {args.repeat} runs each)\n", file=out)
        print("| card | APDUs | minimum | bytes needed | ms p50 | ms max |", file=out)
        print("|---|---:|---:|---:|---:|---:|", file=out)
        for label, scenario, index in CASES:
            times = []
            apdus = 0
            minimum = "–"
            needed = "–"
            for _ in range(args.repeat):
                card = fresh(scenario, index)
                apdus, ms = runner(card)
                times.append(ms)
                if isinstance(card, MoicaGen1Card):
                    low, size = moica_minimum(card)
                    minimum, needed = str(low), str(size)
            print(
                f"| {label} | {apdus} | {minimum} | {needed} | "
                f"{statistics.median(times):.1f} | {max(times):.1f} |",
                file=out,
            )
            rows.append(
                {
                    "card": label,
                    "apdus": apdus,
                    "minimum": None if minimum == "–" else int(minimum),
                    "bytes_needed": None if needed == "–" else int(needed),
                    "ms_p50": statistics.median(times),
                    "ms_max": max(times),
                }
            )
    finally:
        if BENCH is not None:
            BENCH.stop()
    if args.json:
        mode = "pcscd + vpcd" if args.bench else "in-process"
        print(json.dumps({"mode": mode, "repeat": args.repeat, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
