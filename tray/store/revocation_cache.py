"""On-disk cache of revocation answers, keyed by the full CertID (issuer name and key, serial).

An answer is reused until the issuer's nextUpdate, and for at most a day. Writes are atomic
(a temporary file renamed over the old one); a file that cannot be read is set aside with a
log line, never deleted, and never stops a check.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import platformdirs
from cryptography import x509

from ..clock import Clock
from ..model import RevocationState, RevocationStatus
from ..net.revocation import MAX_AGE
from .files import StorageError, atomic_write_text, load_json, set_aside

log = logging.getLogger(__name__)

_FORMAT = 2


def default_cache_dir() -> Path:
    """``<user cache dir>/cardwatch/revocation`` (XDG_CACHE_HOME on Linux)."""
    return Path(platformdirs.user_cache_dir("cardwatch", appauthor=False)) / "revocation"


def cert_id(cert: x509.Certificate, issuer: x509.Certificate) -> str:
    """RFC 6960's CertID, hex: SHA-1 of the issuer's name and of its key, and the serial.

    The key hash matters: a card can carry its own CA with the same name as a real one and
    a certificate with a victim's serial number; its answers must never stand for the victim.
    """
    name_hash = hashlib.sha1(issuer.subject.public_bytes(), usedforsecurity=False).digest()
    key_hash = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    number = cert.serial_number
    serial = number.to_bytes(max(1, (number.bit_length() + 8) // 8), "big", signed=True)
    return f"{name_hash.hex()}:{key_hash.hex()}:{serial.hex()}"


def cache_key(cert: x509.Certificate, issuer: x509.Certificate) -> str:
    """The file name for ``cert`` issued by ``issuer``: a digest of the full CertID."""
    return hashlib.sha256(cert_id(cert, issuer).encode()).hexdigest()[:40]


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"time without a zone: {value!r}")
    return moment


def _encode(status: RevocationStatus, key: str) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "cert_id": key,
        "state": status.state.value,
        "source": status.source,
        "revoked_at": _time(status.revoked_at),
        "reason": status.reason,
        "checked_at": _time(status.checked_at),
        "next_update": _time(status.next_update),
        "responder": status.responder,
    }


def _decode(data: Any, key: str) -> RevocationStatus:
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ValueError("not a cache entry of this version")
    if data.get("cert_id") != key:
        raise ValueError("an entry for another certificate")
    state = RevocationState(data["state"])
    if state not in (RevocationState.GOOD, RevocationState.REVOKED):
        raise ValueError(f"state {state.value} is never cached")
    checked_at = _parse_time(data["checked_at"])
    if checked_at is None:
        raise ValueError("no checked_at")
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ValueError("reason is not text")
    return RevocationStatus(
        state=state,
        source=str(data["source"]),
        revoked_at=_parse_time(data.get("revoked_at")),
        reason=reason,
        checked_at=checked_at,
        next_update=_parse_time(data.get("next_update")),
        responder=str(data.get("responder", "")),
        cached=True,
    )


class RevocationCache:
    """Good and revoked answers on disk; unknowns are never stored."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self._dir = directory
        self._clock = clock

    def _path(self, cert: x509.Certificate, issuer: x509.Certificate) -> Path:
        return self._dir / f"{cache_key(cert, issuer)}.json"

    def load(self, cert: x509.Certificate, issuer: x509.Certificate) -> RevocationStatus | None:
        """The stored answer for ``cert`` from ``issuer``, fresh or not; None if none."""
        path = self._path(cert, issuer)
        data = load_json(path, "revocation cache", clock=self._clock)
        if data is None:
            return None
        try:
            return _decode(data, cert_id(cert, issuer))
        except (ValueError, KeyError, TypeError) as exc:
            set_aside(path, "revocation cache", f"not a cached answer ({exc})", self._clock)
            return None

    def fresh(self, status: RevocationStatus) -> bool:
        """Still valid: before the issuer's nextUpdate, at most a day old, not from the future."""
        now = self._clock.now()
        if status.checked_at is None or status.checked_at > now + timedelta(minutes=5):
            return False
        if now - status.checked_at >= MAX_AGE:
            return False
        return status.next_update is None or now < status.next_update

    def store(
        self, cert: x509.Certificate, issuer: x509.Certificate, status: RevocationStatus
    ) -> None:
        """Write the answer atomically; a full disk or a read-only home only costs the cache.

        The caller stores only answers verified as signed by ``issuer`` (or a responder it
        certified), about a certificate ``issuer`` signed.
        """
        if status.state not in (RevocationState.GOOD, RevocationState.REVOKED):
            return
        path = self._path(cert, issuer)
        entry = _encode(replace(status, cached=False), cert_id(cert, issuer))
        try:
            atomic_write_text(path, json.dumps(entry), own_folder=True)
        except StorageError as exc:
            log.warning("revocation cache %s cannot be written (%s)", path, exc.reason)
