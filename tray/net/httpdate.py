"""The clock fallback when UDP is blocked: the ``Date`` header of one HTTPS (or HTTP) site.

The header has a resolution of one second; the offset is taken against the middle of the
round trip, and the answer is bounded by a short timeout in a daemon thread.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import queue
import ssl
import threading
import urllib.parse
from datetime import timedelta, timezone

from ..clock import Clock
from ..model import ClockMeasurement, ClockReading, ClockUnknown

log = logging.getLogger(__name__)


class HttpDateProbe:
    """Measures the clock offset from a web server's Date header (a ClockProbe)."""

    def __init__(self, url: str, clock: Clock, *, timeout: float = 1.2) -> None:
        self._url = url
        self._clock = clock
        self._timeout = timeout

    def measure(self) -> ClockReading:
        """HEAD the URL once; the Date header against the middle of the round trip."""
        host = urllib.parse.urlsplit(self._url).hostname or self._url
        answers: queue.Queue[ClockReading] = queue.Queue()
        threading.Thread(
            target=lambda: answers.put(self._ask_safely(host)), name="http date", daemon=True
        ).start()
        try:
            return answers.get(timeout=self._timeout)
        except queue.Empty:
            return ClockUnknown("timeout", f"{host}: no answer in time", (host,))

    def _ask_safely(self, host: str) -> ClockReading:
        try:
            return self._ask(host)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            log.info("HTTP Date from %s failed: %s", self._url, exc)
            cause = "timeout" if isinstance(exc, TimeoutError) else "unreachable"
            return ClockUnknown(cause, f"{host}: {exc}", (host,))
        except Exception as exc:  # a bug must cost the measurement, not the caller
            log.exception("HTTP Date from %s failed", self._url)
            return ClockUnknown("garbage", f"{host}: {type(exc).__name__}: {exc}", (host,))

    def _ask(self, host: str) -> ClockReading:
        parts = urllib.parse.urlsplit(self._url)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            # Not verified on purpose: a clock far off makes every certificate look invalid,
            # which is exactly when this fallback is needed; SNTP is unauthenticated too.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=self._timeout, context=context
            )
        elif parts.scheme == "http":
            connection = http.client.HTTPConnection(host, parts.port, timeout=self._timeout)
        else:
            raise ValueError(f"not an http(s) URL: {self._url}")
        try:
            connection.connect()
            start = self._clock.monotonic()
            before = self._clock.now()
            connection.request("HEAD", parts.path or "/", headers={"User-Agent": "cardwatch"})
            response = connection.getresponse()
            rtt = self._clock.monotonic() - start
            header = response.getheader("Date")
        finally:
            connection.close()
        if not header:
            return ClockUnknown("garbage", f"{host}: no Date header", (host,))
        try:
            server_time = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return ClockUnknown("garbage", f"{host}: unreadable Date header {header!r}", (host,))
        if server_time.tzinfo is None:
            server_time = server_time.replace(tzinfo=timezone.utc)
        # The header truncates to the second: its true value lies half a second later on average.
        middle = before + timedelta(seconds=rtt / 2)
        offset = (server_time + timedelta(seconds=0.5) - middle).total_seconds()
        return ClockMeasurement(
            offset_seconds=offset,
            source="http_date",
            server=host,
            measured_at=before.astimezone(timezone.utc),
            delay_seconds=rtt,
            samples=1,
            uncertainty_seconds=rtt / 2 + 0.5,
            # Unauthenticated (a certificate not verified, or plain HTTP): weak evidence.
            confirmed=False,
        )
