"""The clock probes against real servers on 127.0.0.1: SNTP with a chosen offset, garbage,
silence, and the HTTP Date fallback."""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ntp_server import NtpServer

from tray.clock import SystemClock
from tray.model import ClockMeasurement, ClockUnknown
from tray.net import CachedClockProbe, FirstAnswer
from tray.net.httpdate import HttpDateProbe
from tray.net.sntp import SntpProbe, from_ntp, split_server, to_ntp

HOUR = 3600.0
DAY = 24 * HOUR


def probe(*servers: str, timeout: float = 0.3, budget: float = 1.5) -> SntpProbe:
    return SntpProbe(servers, SystemClock(), sample_timeout=timeout, budget=budget)


@pytest.mark.parametrize("offset", [2 * HOUR, -3 * DAY, 90.0, 0.0])
def test_measured_offset_is_within_100_ms_of_the_truth(offset: float) -> None:
    with NtpServer(offset) as server:
        reading = probe(server.address).measure()
    assert isinstance(reading, ClockMeasurement), reading
    assert abs(reading.offset_seconds - offset) < 0.1
    assert (reading.source, reading.server) == ("sntp", server.address)
    assert reading.samples == 4 and server.requests == 4


@pytest.mark.parametrize(
    ("mode", "cause"),
    [
        ("garbage", "garbage"),
        ("silent", "timeout"),
        ("kiss", "garbage"),
        ("spoof", "garbage"),
        ("unsynchronised", "garbage"),
    ],
)
def test_garbage_or_silence_is_unknown(mode: str, cause: str) -> None:
    with NtpServer(2 * HOUR, mode=mode) as server:
        reading = probe(server.address, timeout=0.2, budget=1.0).measure()
    assert isinstance(reading, ClockUnknown)
    assert reading.cause == cause
    assert reading.tried == (server.address,)


def test_closed_port_is_unreachable() -> None:
    with NtpServer() as server:
        address = server.address
    reading = probe(address).measure()
    assert isinstance(reading, ClockUnknown) and reading.cause in {"unreachable", "timeout"}


def test_a_silent_server_does_not_hide_an_answering_one() -> None:
    with NtpServer(mode="silent") as silent, NtpServer(90.0) as good:
        reading = probe(silent.address, good.address, timeout=0.2, budget=1.0).measure()
    assert isinstance(reading, ClockMeasurement)
    assert reading.server == good.address
    assert abs(reading.offset_seconds - 90.0) < 0.1


def test_servers_that_disagree_give_unknown() -> None:
    with NtpServer(0.0) as honest, NtpServer(2 * HOUR) as liar:
        reading = probe(honest.address, liar.address).measure()
    assert isinstance(reading, ClockUnknown) and reading.cause == "disagree"


def test_ntp_timestamps_round_trip_across_the_2036_era() -> None:
    for unix in (0.0, 1_780_000_000.25, 2_085_978_496.5, 2_200_000_000.0):
        assert abs(from_ntp(to_ntp(unix)) - unix) < 1e-6
    assert split_server("[::1]:1123") == ("::1", 1123)
    assert split_server("time.stdtime.gov.tw") == ("time.stdtime.gov.tw", 123)


class DateServer:
    """An HTTP server on 127.0.0.1 whose Date header runs ``offset`` seconds off."""

    def __init__(self, offset: float, header: bool = True) -> None:
        outer = self
        self.offset = offset

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                return email.utils.formatdate(time.time() + outer.offset, usegmt=True)

            def send_header(self, keyword: str, value: str) -> None:
                if keyword != "Date" or header:
                    super().send_header(keyword, value)

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def date_server() -> Iterator[DateServer]:
    server = DateServer(-3 * DAY)
    yield server
    server.close()


def test_http_date_header_measures_the_offset_to_the_second(date_server: DateServer) -> None:
    reading = HttpDateProbe(date_server.url, SystemClock()).measure()
    assert isinstance(reading, ClockMeasurement), reading
    assert reading.source == "http_date"
    assert abs(reading.offset_seconds - date_server.offset) <= 1.0


def test_http_date_is_the_fallback_when_udp_is_blocked(date_server: DateServer) -> None:
    with NtpServer(mode="silent") as silent:
        both = FirstAnswer(
            [
                probe(silent.address, timeout=0.2, budget=0.6),
                HttpDateProbe(date_server.url, SystemClock()),
            ]
        )
        reading = both.measure()
    assert isinstance(reading, ClockMeasurement) and reading.source == "http_date"


def test_missing_date_header_and_closed_port_are_unknown() -> None:
    server = DateServer(0.0, header=False)
    try:
        reading = HttpDateProbe(server.url, SystemClock()).measure()
    finally:
        server.close()
    assert isinstance(reading, ClockUnknown) and reading.cause == "garbage"
    closed = HttpDateProbe(server.url, SystemClock()).measure()
    assert isinstance(closed, ClockUnknown) and closed.cause == "unreachable"


def test_cached_probe_asks_the_server_once() -> None:
    with NtpServer(90.0) as server:
        cached = CachedClockProbe(probe(server.address), SystemClock(), max_age=600)
        first, second = cached.measure(), cached.measure()
    assert first is second and server.requests == 4
