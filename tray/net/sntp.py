"""An SNTP client (RFC 4330): several samples per server, round-trip compensated, median offset.

Servers are asked in parallel, each in its own daemon thread, and the whole probe is bounded
by ``budget`` seconds: a name lookup that hangs or a server that stays silent costs at most
that, never more. Replies that fail RFC 4330's sanity checks are thrown away.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import statistics
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ..clock import Clock
from ..model import ClockMeasurement, ClockReading, ClockUnknown
from .http import FetchError, resolve

log = logging.getLogger(__name__)

NTP_PORT = 123
#: seconds from 1900-01-01 (NTP era 0) to 1970-01-01
NTP_UNIX_DELTA = 2208988800
_PACKET = struct.Struct("!BBbbII4sQQQQ")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class BadReply(ValueError):
    """A reply that is not a usable SNTP answer."""


@dataclass(frozen=True)
class Sample:
    """One request/reply exchange."""

    offset: float
    delay: float


def split_server(server: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` → (host, port)."""
    if server.startswith("["):
        host, _sep, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else NTP_PORT
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, NTP_PORT


def to_ntp(unix: float) -> int:
    """Unix seconds → 64-bit NTP timestamp."""
    seconds = unix + NTP_UNIX_DELTA
    whole = int(seconds)
    return ((whole & 0xFFFFFFFF) << 32) | int((seconds - whole) * 2**32)


def from_ntp(stamp: int) -> float:
    """64-bit NTP timestamp → Unix seconds (RFC 4330 section 3: era 1 when the top bit is 0)."""
    seconds, fraction = stamp >> 32, stamp & 0xFFFFFFFF
    if not seconds & 0x80000000:
        seconds += 2**32
    return seconds - NTP_UNIX_DELTA + fraction / 2**32


def request(transmit: int) -> bytes:
    """A client request: LI 0, version 4, mode 3, our transmit timestamp."""
    return _PACKET.pack(0x23, 0, 0, 0, 0, 0, b"\0\0\0\0", 0, 0, 0, transmit)


def parse_reply(data: bytes, sent: int, t1: float, t4: float) -> Sample:
    """Check a reply as RFC 4330 section 5 asks, and compute offset and round-trip delay."""
    if len(data) < _PACKET.size:
        raise BadReply(f"{len(data)} bytes, not an NTP packet")
    first, stratum, _poll, _prec, root_delay, root_disp, _ref, _reft, orig, recv, xmit = (
        _PACKET.unpack_from(data)
    )
    leap, version, mode = first >> 6, (first >> 3) & 7, first & 7
    if mode != 4:
        raise BadReply(f"mode {mode}, not a server reply")
    if not 1 <= version <= 4:
        raise BadReply(f"version {version}")
    if stratum == 0:
        raise BadReply("kiss-o'-death (stratum 0)")
    if stratum > 15:
        raise BadReply(f"stratum {stratum}")
    if leap == 3:
        raise BadReply("server clock not synchronised (leap indicator 3)")
    if orig != sent:
        raise BadReply("originate timestamp does not match our request")
    if recv == 0 or xmit == 0:
        raise BadReply("zero timestamps")
    if root_delay >> 16 >= 16 or root_disp >> 16 >= 16:
        raise BadReply("root delay or dispersion of 16 s or more")
    t2, t3 = from_ntp(recv), from_ntp(xmit)
    offset = ((t2 - t1) + (t3 - t4)) / 2
    delay = (t4 - t1) - (t3 - t2)
    if delay < -0.01:
        raise BadReply(f"negative round trip ({delay:.3f} s)")
    return Sample(offset, max(delay, 0.0))


def _unix(moment: datetime) -> float:
    return (moment - _EPOCH).total_seconds()


@dataclass(frozen=True)
class _Outcome:
    server: str
    samples: tuple[Sample, ...]
    failure: str = ""  # "unreachable", "timeout" or "garbage" when there are no samples
    detail: str = ""


class SntpProbe:
    """Measures the clock offset against SNTP servers (a :class:`~tray.net.ClockProbe`)."""

    def __init__(
        self,
        servers: Sequence[str],
        clock: Clock,
        *,
        samples: int = 4,
        sample_timeout: float = 0.8,
        budget: float = 1.8,
        agree_within: float = 60.0,
    ) -> None:
        self._servers = tuple(servers)
        self._clock = clock
        self._samples = samples
        self._timeout = sample_timeout
        self._budget = budget
        self._agree = agree_within

    def measure(self) -> ClockReading:
        """Ask every server in parallel; the median of the answering servers' samples."""
        if not self._servers:
            return ClockUnknown("not_configured")
        deadline = self._clock.monotonic() + self._budget
        results: queue.Queue[_Outcome] = queue.Queue()
        for server in self._servers:
            # Daemon threads: a name lookup that never returns must not keep the process alive.
            threading.Thread(
                target=self._ask_safely,
                args=(server, deadline, results),
                name=f"sntp {server}",
                daemon=True,
            ).start()
        outcomes: dict[str, _Outcome] = {}
        while len(outcomes) < len(self._servers):
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                break
            try:
                outcome = results.get(timeout=remaining + 0.05)
            except queue.Empty:
                break
            outcomes[outcome.server] = outcome
        measured_at = self._clock.now()
        answered = [outcomes[s] for s in self._servers if s in outcomes and outcomes[s].samples]
        if not answered:
            return self._unknown(outcomes)
        medians = [statistics.median(s.offset for s in o.samples) for o in answered]
        if max(medians) - min(medians) > self._agree:
            detail = ", ".join(
                f"{o.server}: {m:+.1f} s" for o, m in zip(answered, medians, strict=True)
            )
            log.warning("time servers disagree: %s", detail)
            return ClockUnknown("disagree", detail, tuple(o.server for o in answered))
        samples = [s for o in answered for s in o.samples]
        offset = statistics.median(s.offset for s in samples)
        delay = statistics.median(s.delay for s in samples)
        return ClockMeasurement(
            offset_seconds=offset,
            source="sntp",
            server=", ".join(o.server for o in answered),
            measured_at=measured_at,
            delay_seconds=delay,
            samples=len(samples),
            uncertainty_seconds=delay / 2,
            # One server alone is weak evidence: it may warn, never judge certificates.
            confirmed=len(answered) >= 2,
        )

    def _unknown(self, outcomes: dict[str, _Outcome]) -> ClockUnknown:
        failures = [outcomes[s].failure if s in outcomes else "timeout" for s in self._servers]
        details = [
            f"{s}: {outcomes[s].detail if s in outcomes else 'no answer in time'}"
            for s in self._servers
        ]
        # The most telling cause: a garbage answer beats silence beats a failed lookup.
        for cause in ("garbage", "timeout", "unreachable"):
            if cause in failures:
                break
        log.info("clock not measured (%s): %s", cause, "; ".join(details))
        return ClockUnknown(cause, "; ".join(details), self._servers)

    def _ask_safely(self, server: str, deadline: float, results: queue.Queue[_Outcome]) -> None:
        try:
            results.put(self._ask(server, deadline))
        except Exception as exc:  # a bug here must cost this server only, never the caller
            log.exception("SNTP query of %s failed", server)
            results.put(_Outcome(server, (), "garbage", f"{type(exc).__name__}: {exc}"))

    def _ask(self, server: str, deadline: float) -> _Outcome:
        try:
            host, port = split_server(server)
            # Bounded: a hung resolver costs a helper thread (at most four at once), never
            # this thread's deadline.
            remaining = deadline - self._clock.monotonic()
            family, address = resolve(host, port, max(remaining, 0.01), socket.SOCK_DGRAM)[0]
        except FetchError as exc:
            cause = "timeout" if exc.cause == "timeout" else "unreachable"
            return _Outcome(server, (), cause, f"name lookup failed ({exc.detail})")
        except (OSError, ValueError, UnicodeError, IndexError) as exc:
            return _Outcome(server, (), "unreachable", f"name lookup failed ({exc})")
        samples: list[Sample] = []
        bad: list[str] = []
        silent = 0
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect(address)
            except OSError as exc:
                return _Outcome(server, (), "unreachable", str(exc))
            for _ in range(self._samples):
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0.01:
                    break
                sock.settimeout(min(self._timeout, remaining))
                try:
                    samples.append(self._sample(sock))
                    silent = 0
                except BadReply as exc:
                    bad.append(str(exc))
                    if "kiss" in str(exc):
                        break
                except TimeoutError:
                    silent += 1
                    if silent >= 2:  # one lost packet is normal; two in a row is a blocked port
                        break
                except OSError as exc:
                    return _Outcome(server, tuple(samples), "unreachable", str(exc))
        if samples:
            return _Outcome(server, tuple(samples))
        if bad:
            return _Outcome(server, (), "garbage", bad[0])
        return _Outcome(server, (), "timeout", "no answer")

    def _sample(self, sock: socket.socket) -> Sample:
        start = self._clock.monotonic()
        t1 = _unix(self._clock.now())
        # The low bits are random, so a forged reply cannot guess our originate timestamp.
        sent = (to_ntp(t1) & ~0xFFFF) | int.from_bytes(os.urandom(2), "big")
        sock.send(request(sent))
        mismatch: BadReply | None = None
        while True:
            try:
                data = sock.recv(1024)
            except TimeoutError:
                if mismatch is not None:  # answers came, none to our request: a liar, not silence
                    raise mismatch from None
                raise
            # t4 from the monotonic clock: a clock step during the exchange cannot skew it.
            t4 = t1 + (self._clock.monotonic() - start)
            try:
                return parse_reply(data, sent, t1, t4)
            except BadReply as exc:
                if "originate" not in str(exc):
                    raise
                mismatch = exc  # perhaps a late reply to an earlier request: wait for ours
                if self._clock.monotonic() - start > self._timeout:
                    raise
