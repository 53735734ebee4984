"""Simulated network answers for ``--demo``: a clock offset and revocation statuses.

Nothing here opens a connection; the answers are fixed when the scenario is built, so the
demo stays deterministic and fast.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509

from ..model import ClockMeasurement, ClockReading, RevocationState, RevocationStatus

SIMULATED_SERVER = "time.stdtime.gov.tw"
SIMULATED_RESPONDER = "http://ocsp.demo.invalid/"


class SimClockProbe:
    """Always measures ``offset`` seconds (server time minus this computer's clock)."""

    def __init__(self, offset: float, now: datetime) -> None:
        self._offset = offset
        self._now = now

    def measure(self) -> ClockReading:
        """The fixed, simulated measurement."""
        return ClockMeasurement(
            offset_seconds=self._offset,
            source="simulated",
            server=SIMULATED_SERVER,
            measured_at=self._now,
            delay_seconds=0.012,
            samples=4,
            uncertainty_seconds=0.006,
        )


def _signs(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return bool(usage.content_commitment)


class SimRevocationChecker:
    """Good for every certificate, or revoked (at, reason) for signature certificates."""

    def __init__(self, now: datetime, revoked: tuple[datetime, str] | None = None) -> None:
        self._now = now
        self._revoked = revoked

    def check(self, cert: x509.Certificate, issuer: x509.Certificate | None) -> RevocationStatus:
        """The fixed, simulated answer of an OCSP responder."""
        if self._revoked is not None and _signs(cert):
            at, reason = self._revoked
            return RevocationStatus(
                RevocationState.REVOKED,
                source="ocsp",
                revoked_at=at,
                reason=reason,
                checked_at=self._now,
                next_update=self._now + timedelta(hours=12),
                responder=SIMULATED_RESPONDER,
            )
        return RevocationStatus(
            RevocationState.GOOD,
            source="ocsp",
            checked_at=self._now,
            next_update=self._now + timedelta(hours=12),
            responder=SIMULATED_RESPONDER,
        )
