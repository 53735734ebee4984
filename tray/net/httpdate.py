"""The clock fallback when UDP is blocked: the ``Date`` header of one HTTPS (or HTTP) site.

The header has a resolution of one second; the offset is taken against the middle of the
round trip, and the whole exchange is bounded by one short deadline (tray/net/http.py), in
the caller's thread. The answer is unauthenticated, so it is weak evidence: it may warn
about the clock, never judge certificates (tray/check/skew.py).
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import time
import urllib.parse
from datetime import timedelta, timezone

from ..clock import Clock
from ..model import ClockMeasurement, ClockReading, ClockUnknown
from .http import FetchError, fetch

log = logging.getLogger(__name__)


class HttpDateProbe:
    """Measures the clock offset from a web server's Date header (a ClockProbe)."""

    def __init__(self, url: str, clock: Clock, *, timeout: float = 1.2) -> None:
        self._url = url
        self._clock = clock
        self._timeout = timeout

    def measure(self) -> ClockReading:
        """HEAD the URL once, in this thread, bounded by the timeout for the whole exchange."""
        host = urllib.parse.urlsplit(self._url).hostname or self._url
        try:
            return self._ask(host)
        except FetchError as exc:
            log.info("HTTP Date from %s failed: %s", self._url, exc)
            cause = {"timeout": "timeout", "malformed": "garbage"}.get(exc.cause, "unreachable")
            return ClockUnknown(cause, f"{host}: {exc.detail}", (host,))
        except Exception as exc:  # a bug must cost the measurement, not the caller
            log.exception("HTTP Date from %s failed", self._url)
            return ClockUnknown("garbage", f"{host}: {type(exc).__name__}: {exc}", (host,))

    def _ask(self, host: str) -> ClockReading:
        context: ssl.SSLContext | None = None
        if urllib.parse.urlsplit(self._url).scheme.lower() == "https":
            # Not verified on purpose: a clock far off makes every certificate look invalid,
            # which is exactly when this fallback is needed. So the answer is weak evidence.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        wall, mono = self._clock.now(), time.monotonic()
        response = fetch(
            self._url,
            timeout=self._timeout,
            limit=0,
            method="HEAD",
            redirects=0,
            any_status=True,
            context=context,
        )
        before = wall + timedelta(seconds=response.sent_at - mono)
        rtt = max(response.answered_at - response.sent_at, 0.0)
        header = response.headers.get("date")
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
