"""Network checks: the seams (clock probe, revocation checker) and the live set-up.

The check receives these objects; it never opens a connection by itself. The live probes
are built by :func:`live`; ``--demo`` passes simulated ones (tray/sim/network.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..clock import Clock
from ..model import ClockMeasurement, ClockReading, ClockUnknown, RevocationStatus

if TYPE_CHECKING:
    from cryptography import x509

    from .revocation import AnswerCache

#: Taiwan's national time service first, then the global pool.
DEFAULT_NTP_SERVERS = ("time.stdtime.gov.tw", "pool.ntp.org")
#: Asked for its HTTP Date header when no SNTP server answers (UDP blocked).
DEFAULT_TIME_URL = "https://moica.nat.gov.tw"


class ClockProbe(Protocol):
    """Measures how far this computer's clock is off; never raises, bounded in time."""

    def measure(self) -> ClockReading:
        """A measurement, or a :class:`~tray.model.ClockUnknown` saying why there is none."""
        ...


class RevocationChecker(Protocol):
    """Asks a certificate's issuer whether it is revoked; never raises, bounded in time."""

    def check(self, cert: x509.Certificate, issuer: x509.Certificate | None) -> RevocationStatus:
        """The status of ``cert``; ``issuer`` None means: find it from the AIA caIssuers URL."""
        ...


@dataclass(frozen=True)
class NetworkChecks:
    """The user's network switch and the probes to use when it is on."""

    enabled: bool = True
    clock: ClockProbe | None = None
    revocation: RevocationChecker | None = None

    @classmethod
    def off(cls) -> NetworkChecks:
        """Network checks turned off: nothing is contacted."""
        return cls(enabled=False)


class FirstAnswer:
    """Asks clock probes in turn and returns the first measurement (SNTP, then HTTP Date)."""

    def __init__(self, probes: Sequence[ClockProbe]) -> None:
        self._probes = tuple(probes)

    def measure(self) -> ClockReading:
        """The first probe's measurement, or the first probe's reason for having none."""
        first: ClockReading | None = None
        tried: list[str] = []
        for probe in self._probes:
            reading = probe.measure()
            if isinstance(reading, ClockMeasurement):
                return reading
            first = first or reading
            tried += reading.tried
        if first is None:
            return ClockUnknown("not_configured")
        assert isinstance(first, ClockUnknown)
        return ClockUnknown(first.cause, first.detail, tuple(tried))


class CachedClockProbe:
    """Reuses a reading for ``max_age`` seconds (an unknown for a tenth of it); thread-safe.

    For the daemon's worker threads: one measurement serves many checks. The offset is
    reused as it was; a clock stepped in between is noticed at the next measurement.
    """

    def __init__(self, probe: ClockProbe, clock: Clock, max_age: float = 3600.0) -> None:
        self._probe = probe
        self._clock = clock
        self._max_age = max_age
        self._lock = threading.Lock()
        self._last: tuple[float, ClockReading] | None = None

    def measure(self) -> ClockReading:
        """The cached reading while fresh (an unknown is kept for a tenth of the time)."""
        with self._lock:
            now = self._clock.monotonic()
            if self._last is not None:
                taken, reading = self._last
                age = self._max_age if isinstance(reading, ClockMeasurement) else self._max_age / 10
                if now - taken < age:
                    return reading
            reading = self._probe.measure()
            self._last = (self._clock.monotonic(), reading)
            return reading


def live(
    clock: Clock,
    *,
    ntp_servers: Sequence[str] = DEFAULT_NTP_SERVERS,
    time_url: str | None = DEFAULT_TIME_URL,
    cache: AnswerCache | None = None,
) -> NetworkChecks:
    """The real probes: SNTP with the HTTP Date fallback, OCSP/CRL with ``cache`` (if any)."""
    from .httpdate import HttpDateProbe
    from .revocation import HttpRevocationChecker
    from .sntp import SntpProbe

    probes: list[ClockProbe] = [SntpProbe(ntp_servers, clock)] if ntp_servers else []
    if time_url:
        probes.append(HttpDateProbe(time_url, clock))
    return NetworkChecks(
        enabled=True,
        clock=FirstAnswer(probes),
        revocation=HttpRevocationChecker(clock, cache=cache),
    )
