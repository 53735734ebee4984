"""An unknown card (no built-in profile reads it): time and APDUs, with and without OpenSC.

The daemon's own path: the real check through pcscd + vpcd, PKCS#11 modules in a child
process each (as `cardwatch run` uses them), OpenSC with its installed configuration. The
virtual card counts every APDU it receives, Cardwatch's own and the middleware's. Prints a
table; asserts nothing. Root, Linux; run it inside `unshare --net` (run_all.py does):

    .venv/bin/python benchmarks/unknown_card.py [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from tray.card.pkcs11 import discover  # noqa: E402
from tray.card.pkcs11_child import isolated  # noqa: E402
from tray.check.run import CheckOptions, Middleware, run_check  # noqa: E402
from tray.clock import SystemClock  # noqa: E402
from tray.demo.cards import UnknownCard  # noqa: E402

#: (label, --no-pkcs11, --pkcs11-probe)
CASES = (
    ("no PKCS#11 (--no-pkcs11)", True, False),
    ("OpenSC installed, default (not asked)", False, False),
    ("OpenSC opted in (--pkcs11-probe)", False, True),
)


def sources(off: bool, probe: bool) -> list[Middleware]:
    if off:
        return []
    found = discover(probe_unknown=probe)
    not_asked = frozenset(s.name for s in found if not s.active)
    return list(isolated([s.name for s in found], not_asked=not_asked))


def once(bench: object, middleware: list[Middleware]) -> dict[str, float]:
    from conftest import CARD_TIMEOUT
    from vpcd_client import READER_NAMES, VpcdCard, reader_port

    from tray.pcsc.adapter import PcscBackend

    card = UnknownCard()
    plugged = VpcdCard(card, reader_port(0))
    plugged.insert()
    bench.wait_card(READER_NAMES[0], True, CARD_TIMEOUT)  # type: ignore[attr-defined]
    backend = PcscBackend()
    try:
        started = time.perf_counter()
        report = run_check(backend, SystemClock(), CheckOptions(reader=READER_NAMES[0]), middleware)
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        backend.close()
        plugged.remove()
        bench.wait_card(READER_NAMES[0], False, CARD_TIMEOUT)  # type: ignore[attr-defined]
    reader = report.readers[0]
    return {
        "ms": elapsed,
        "pkcs11_ms": reader.pkcs11_ms,
        "apdus_received": float(len(card.received)),
        "apdus_guarded": float(reader.apdus),
        "modules": float(len(reader.pkcs11_modules)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 run each: a smoke run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.quick:
        args.repeat = 1
    out = sys.stderr if args.json else sys.stdout
    from bench import PcscBench
    from vpcd_client import READER_NAMES

    bench = PcscBench(READER_NAMES)
    bench.start()
    rows: list[dict[str, object]] = []
    try:
        once(bench, [])  # warm-up: the first PC/SC context and imports are not the card's time
        print(f"Unknown card through pcscd + vpcd ({args.repeat} runs each)\n", file=out)
        print(
            "| setting | ms p50 | ms max | PKCS#11 ms p50 | APDUs the card received | "
            "APDUs through the guard |",
            file=out,
        )
        print("|---|---:|---:|---:|---:|---:|", file=out)
        for label, off, probe in CASES:
            runs = [once(bench, sources(off, probe)) for _ in range(args.repeat)]
            row: dict[str, object] = {
                "setting": label,
                "ms_p50": statistics.median(r["ms"] for r in runs),
                "ms_max": max(r["ms"] for r in runs),
                "pkcs11_ms_p50": statistics.median(r["pkcs11_ms"] for r in runs),
                "apdus_received": int(max(r["apdus_received"] for r in runs)),
                "apdus_guarded": int(max(r["apdus_guarded"] for r in runs)),
                "modules_asked": int(max(r["modules"] for r in runs)),
            }
            rows.append(row)
            print(
                f"| {label} | {row['ms_p50']:.1f} | {row['ms_max']:.1f} | "
                f"{row['pkcs11_ms_p50']:.1f} | {row['apdus_received']} | "
                f"{row['apdus_guarded']} |",
                file=out,
            )
    finally:
        bench.stop()
    if args.json:
        installed = [s.name for s in discover(probe_unknown=True)]
        figures = {"mode": "pcscd + vpcd", "repeat": args.repeat, "modules": installed}
        print(json.dumps({**figures, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
