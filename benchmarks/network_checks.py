"""The network checks on loopback: SNTP accuracy, bounded waits, OCSP/CRL latency, the cache.

Prints measured figures; asserts nothing. Uses the test suite's loopback servers
(tests/ntp_server.py, tests/ocsp_server.py); best run inside `unshare --net`:

    .venv/bin/python benchmarks/network_checks.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from ntp_server import NtpServer  # noqa: E402
from ocsp_server import RevocationServer  # noqa: E402

from tray.clock import SystemClock  # noqa: E402
from tray.demo import certs  # noqa: E402
from tray.model import ClockMeasurement  # noqa: E402
from tray.net import FirstAnswer  # noqa: E402
from tray.net.httpdate import HttpDateProbe  # noqa: E402
from tray.net.revocation import HttpRevocationChecker  # noqa: E402
from tray.net.sntp import SntpProbe  # noqa: E402
from tray.store.revocation_cache import RevocationCache  # noqa: E402


def ms(seconds: list[float]) -> str:
    return f"p50 {statistics.median(seconds) * 1000:7.1f} ms  max {max(seconds) * 1000:7.1f} ms"


def sntp(repeat: int) -> None:
    for offset in (7200.0, -3 * 86400.0, 90.0):
        errors, times = [], []
        with NtpServer(offset) as server:
            for _ in range(repeat):
                start = time.monotonic()
                reading = SntpProbe([server.address], SystemClock()).measure()
                times.append(time.monotonic() - start)
                assert isinstance(reading, ClockMeasurement)
                errors.append(abs(reading.offset_seconds - offset))
        print(
            f"SNTP offset {offset:+10.0f} s: error p50 {statistics.median(errors) * 1000:.2f} ms"
            f", max {max(errors) * 1000:.2f} ms; probe {ms(times)}"
        )
    with NtpServer(mode="silent") as silent:
        start = time.monotonic()
        SntpProbe([silent.address], SystemClock()).measure()
        sntp_wait = time.monotonic() - start
        start = time.monotonic()
        FirstAnswer(
            [
                SntpProbe([silent.address], SystemClock()),
                HttpDateProbe("http://127.0.0.1:9/", SystemClock()),
            ]
        ).measure()
        both = time.monotonic() - start
    print(f"silent SNTP server: unknown after {sntp_wait:.2f} s; with HTTP fallback {both:.2f} s")


def revocation(repeat: int) -> None:
    now = datetime.now(timezone.utc)
    with RevocationServer(*certs.moica_ca()) as server, tempfile.TemporaryDirectory() as tmp:
        cold, warm, crl = [], [], []
        issuer = certs.moica_ca()[0]
        for i in range(repeat):
            cert = certs.moica_person(now, 300, urls=certs.Urls.under(server.base_url))
            server.know(cert)
            cache = RevocationCache(Path(tmp) / str(i), SystemClock())
            checker = HttpRevocationChecker(SystemClock(), cache=cache)
            start = time.monotonic()
            checker.check(cert, issuer)
            cold.append(time.monotonic() - start)
            start = time.monotonic()
            checker.check(cert, issuer)
            warm.append(time.monotonic() - start)
        server.ocsp_mode = "error"
        for _ in range(repeat):
            cert = certs.moica_person(now, 300, urls=certs.Urls.under(server.base_url))
            start = time.monotonic()
            HttpRevocationChecker(SystemClock()).check(cert, issuer)
            crl.append(time.monotonic() - start)
        server.ocsp_mode = server.crl_mode = "slow"
        start = time.monotonic()
        HttpRevocationChecker(SystemClock()).check(cert, issuer)
        slow = time.monotonic() - start
    print(f"OCSP check, cold:            {ms(cold)}")
    print(f"OCSP check, from disk cache: {ms(warm)}")
    print(f"OCSP error, CRL fallback:    {ms(crl)}")
    print(f"silent responder and CRL:    unknown after {slow:.2f} s (limit 5 s each, 10 s in all)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    sntp(args.repeat)
    revocation(args.repeat)


if __name__ == "__main__":
    main()
