"""Revocation: OCSP to the responder the certificate names, the CRL as a fallback.

Every answer is checked before it is believed: the OCSP response must be signed by the
issuer (or by a responder certificate the issuer signed for OCSP), the CRL by the issuer,
and both must be current (thisUpdate not in the future, nextUpdate not passed). Anything
else is "unknown" with a named cause, never "good" and never an alarm.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from ..clock import Clock
from ..model import RevocationState, RevocationStatus
from .http import FetchError, fetch

#: a cached answer is fresh for a day (and a CRL without nextUpdate is stale after one)
MAX_AGE = timedelta(days=1)


class AnswerCache(Protocol):
    """Where answers are kept between checks (:class:`tray.store.revocation_cache.RevocationCache`)."""

    def load(self, cert: x509.Certificate, issuer: x509.Certificate) -> RevocationStatus | None:
        """The stored answer for ``cert`` from ``issuer`` (the full CertID), fresh or not."""
        ...

    def fresh(self, status: RevocationStatus) -> bool:
        """Whether a stored answer can stand for a new one."""
        ...

    def store(
        self, cert: x509.Certificate, issuer: x509.Certificate, status: RevocationStatus
    ) -> None:
        """Keep a definite answer, verified as the issuer's."""
        ...


log = logging.getLogger(__name__)

#: the issuer's clock and ours may differ a little
CLOCK_TOLERANCE = timedelta(minutes=5)
MAX_CRL_BYTES = 64 * 1024 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024
#: CRLs downloaded and parsed at once, process-wide: two at the size cap must not both sit in
#: memory (the others wait, within their own deadline)
_crl_slots = threading.BoundedSemaphore(1)


class Rejected(Exception):
    """An answer that cannot be used: ``cause`` is a stable code, ``detail`` says why."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.detail = detail


@dataclass(frozen=True)
class Answer:
    """A verified answer from a responder or a CRL."""

    state: RevocationState
    source: str
    url: str
    this_update: datetime
    next_update: datetime | None
    revoked_at: datetime | None = None
    reason: str | None = None


def urls(cert: x509.Certificate) -> tuple[list[str], list[str], list[str]]:
    """(OCSP responders, caIssuers, CRL distribution points) named in ``cert``, http(s) only."""
    ocsp_urls: list[str] = []
    issuers: list[str] = []
    crls: list[str] = []
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        aia = None
    for access in aia or ():
        if isinstance(access.access_location, x509.UniformResourceIdentifier):
            url = access.access_location.value
            if access.access_method == AuthorityInformationAccessOID.OCSP:
                ocsp_urls.append(url)
            elif access.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
                issuers.append(url)
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        points = None
    for point in points or ():
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                crls.append(name.value)
    web = ("http://", "https://")
    return (
        [u for u in ocsp_urls if u.lower().startswith(web)],
        [u for u in issuers if u.lower().startswith(web)],
        [u for u in crls if u.lower().startswith(web)],
    )


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s name and key made ``cert``'s signature."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def find_issuer(
    cert: x509.Certificate, candidates: list[x509.Certificate]
) -> x509.Certificate | None:
    """The candidate that signed ``cert`` (a card's CA certificates, a caIssuers download)."""
    return next((c for c in candidates if issued_by(cert, c)), None)


def _verify_signature(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> None:
    """Raise InvalidSignature unless ``key`` signed ``data``."""
    if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
        key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        key.verify(signature, data)
    else:
        raise InvalidSignature(f"unsupported key or algorithm: {type(key).__name__}")


def _load_certificates(data: bytes) -> list[x509.Certificate]:
    """A caIssuers download: DER or PEM certificate, or a PKCS#7 certs-only bundle."""
    loaders: tuple[Callable[[bytes], list[x509.Certificate]], ...] = (
        lambda d: [x509.load_der_x509_certificate(d)],
        x509.load_pem_x509_certificates,
        pkcs7.load_der_pkcs7_certificates,
        pkcs7.load_pem_pkcs7_certificates,
    )
    for load in loaders:
        try:
            return list(load(data))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    return []


def _reason_name(reason: x509.ReasonFlags | None) -> str | None:
    return reason.name if reason is not None else None


def _fetch(
    url: str, data: bytes | None, content_type: str | None, timeout: float, limit: int
) -> bytes:
    """GET (or POST ``data``) within ``timeout`` for the whole transfer, in this thread."""
    try:
        return fetch(url, timeout=timeout, limit=limit, data=data, content_type=content_type).body
    except FetchError as exc:
        raise Rejected(exc.cause, exc.detail) from None


class HttpRevocationChecker:
    """OCSP, then CRL, over HTTP with short timeouts and the on-disk cache (a RevocationChecker)."""

    def __init__(
        self,
        clock: Clock,
        *,
        cache: AnswerCache | None = None,
        timeout: float = 5.0,
        budget: float = 10.0,
    ) -> None:
        self._clock = clock
        self._cache = cache
        self._timeout = timeout
        #: all requests for one certificate together (issuer, OCSP, CRL) take no longer
        self._budget = budget

    def _limit(self, deadline: float) -> float:
        remaining = deadline - self._clock.monotonic()
        if remaining < 0.05:
            raise Rejected("timeout", "time for this certificate used up")
        return min(self._timeout, remaining)

    def check(self, cert: x509.Certificate, issuer: x509.Certificate | None) -> RevocationStatus:
        """The revocation status of ``cert``; never raises for a network or data fault."""
        try:
            return self._check(cert, issuer)
        except Exception as exc:  # a bug costs this certificate's status, never the check
            log.exception("revocation check failed")
            return RevocationStatus(
                RevocationState.UNKNOWN, cause="internal_error", detail=f"{type(exc).__name__}"
            )

    def _check(self, cert: x509.Certificate, issuer: x509.Certificate | None) -> RevocationStatus:
        deadline = self._clock.monotonic() + self._budget
        ocsp_urls, issuer_urls, crl_urls = urls(cert)
        if not ocsp_urls and not crl_urls:
            return self._unknown(None, "no_responder", "no OCSP responder or CRL named")
        failures: list[Rejected] = []
        if issuer is None:
            issuer = self._download_issuer(cert, issuer_urls, failures, deadline)
        if issuer is None:
            first = failures[0] if failures else Rejected("issuer_missing", "no caIssuers URL")
            return self._unknown(
                None, "issuer_missing", f"issuer certificate not available ({first.detail})"
            )
        if not issued_by(cert, issuer):
            return self._unknown(
                None, "issuer_mismatch", "the issuer did not sign this certificate"
            )
        # Keyed by the full CertID: only this issuer's own (verified) answers are found.
        cached = self._cache.load(cert, issuer) if self._cache else None
        if cached is not None and self._cache is not None and self._cache.fresh(cached):
            return cached
        attempts = [(self._ask_ocsp, url) for url in ocsp_urls[:2]]
        attempts += [(self._ask_crl, url) for url in crl_urls[:2]]
        for ask, url in attempts:
            try:
                answer = ask(cert, issuer, url, deadline)
            except Rejected as exc:
                log.info("revocation: %s rejected: %s", url, exc)
                failures.append(Rejected(exc.cause, f"{url}: {exc.detail}"))
                continue
            except (ValueError, TypeError, UnsupportedAlgorithm, OverflowError) as exc:
                # A malformed answer the parser only notices late: named, and the next
                # source (the CRL) is still asked.
                log.info("revocation: %s gave a malformed answer: %s", url, exc)
                failures.append(Rejected("malformed", f"{url}: {type(exc).__name__}: {exc}"))
                continue
            status = self._status(answer)
            if self._cache is not None:
                self._cache.store(cert, issuer, status)
            return status
        first = failures[0]
        return self._unknown(cached, first.cause, "; ".join(f.detail for f in failures))

    def _unknown(
        self, previous: RevocationStatus | None, cause: str, detail: str
    ) -> RevocationStatus:
        # An expired cache entry still says when the status was last confirmed.
        return RevocationStatus(
            RevocationState.UNKNOWN,
            source=previous.source if previous else "",
            checked_at=previous.checked_at if previous else None,
            responder=previous.responder if previous else "",
            cause=cause,
            detail=detail,
        )

    def _status(self, answer: Answer) -> RevocationStatus:
        now = self._clock.now()
        limit = now + MAX_AGE
        next_update = min(answer.next_update, limit) if answer.next_update else limit
        return RevocationStatus(
            answer.state,
            source=answer.source,
            revoked_at=answer.revoked_at,
            reason=answer.reason,
            checked_at=now,
            next_update=next_update,
            responder=answer.url,
        )

    def _download_issuer(
        self,
        cert: x509.Certificate,
        issuer_urls: list[str],
        failures: list[Rejected],
        deadline: float,
    ) -> x509.Certificate | None:
        for url in issuer_urls[:2]:
            try:
                limit = self._limit(deadline)
                data = _fetch(url, None, None, limit, MAX_RESPONSE_BYTES)
            except Rejected as exc:
                failures.append(Rejected(exc.cause, f"{url}: {exc.detail}"))
                continue
            found = find_issuer(cert, _load_certificates(data))
            if found is not None:
                return found
            failures.append(Rejected("issuer_missing", f"{url}: not the issuer's certificate"))
        return None

    def _check_times(self, this_update: datetime, next_update: datetime | None) -> None:
        now = self._clock.now()
        if this_update > now + CLOCK_TOLERANCE:
            raise Rejected("stale", f"issued in the future ({this_update:%Y-%m-%d %H:%M} UTC)")
        if next_update is not None and next_update < now:
            raise Rejected("stale", f"out of date since {next_update:%Y-%m-%d %H:%M} UTC")
        if next_update is None and now - this_update > MAX_AGE:
            raise Rejected("stale", f"from {this_update:%Y-%m-%d %H:%M} UTC, no nextUpdate")

    def _ask_ocsp(
        self, cert: x509.Certificate, issuer: x509.Certificate, url: str, deadline: float
    ) -> Answer:
        nonce = os.urandom(16)
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert, issuer, hashes.SHA1())  # SHA-1 CertID: what responders expect
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
        )
        body = _fetch(
            url,
            request.public_bytes(serialization.Encoding.DER),
            "application/ocsp-request",
            self._limit(deadline),
            MAX_RESPONSE_BYTES,
        )
        try:
            response = ocsp.load_der_ocsp_response(body)
        except ValueError as exc:
            raise Rejected("malformed", f"not an OCSP response ({exc})") from None
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise Rejected("responder_error", f"responder says {response.response_status.name}")
        self._verify_ocsp(response, issuer)
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if echoed is not None and echoed != nonce:
            raise Rejected("malformed", "the response answers another request (nonce)")
        single = self._single(response, cert, issuer)
        this_update, next_update = single.this_update_utc, single.next_update_utc
        self._check_times(this_update, next_update)
        if single.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
            raise Rejected("responder_unknown", "the responder does not know this certificate")
        if single.certificate_status is ocsp.OCSPCertStatus.REVOKED:
            return Answer(
                RevocationState.REVOKED,
                "ocsp",
                url,
                this_update,
                next_update,
                single.revocation_time_utc,
                _reason_name(single.revocation_reason),
            )
        return Answer(RevocationState.GOOD, "ocsp", url, this_update, next_update)

    def _single(
        self, response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
    ) -> ocsp.OCSPSingleResponse:
        for single in response.responses:
            digest = hashes.Hash(single.hash_algorithm)
            digest.update(issuer.subject.public_bytes())
            if (
                single.serial_number == cert.serial_number
                and single.issuer_name_hash == digest.finalize()
            ):
                return single
        raise Rejected("malformed", "the response does not cover this certificate")

    def _verify_ocsp(self, response: ocsp.OCSPResponse, issuer: x509.Certificate) -> None:
        def named(candidate: x509.Certificate) -> bool:
            if response.responder_name is not None:
                return candidate.subject == response.responder_name
            key_id = x509.SubjectKeyIdentifier.from_public_key(candidate.public_key()).digest
            return response.responder_key_hash == key_id

        signer: x509.Certificate | None = issuer if named(issuer) else None
        if signer is None:
            for candidate in response.certificates:
                if named(candidate) and self._delegated(candidate, issuer):
                    signer = candidate
                    break
        if signer is None:
            raise Rejected("bad_signature", "signed by a responder the issuer did not authorise")
        try:
            _verify_signature(
                signer.public_key(),
                response.signature,
                response.tbs_response_bytes,
                response.signature_hash_algorithm,
            )
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            raise Rejected("bad_signature", "the response's signature is not valid") from None

    def _delegated(self, responder: x509.Certificate, issuer: x509.Certificate) -> bool:
        """A responder certificate the issuer signed for OCSP signing, valid now."""
        if not issued_by(responder, issuer):
            return False
        try:
            usage = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return False
        now = self._clock.now()
        valid = responder.not_valid_before_utc <= now <= responder.not_valid_after_utc
        return ExtendedKeyUsageOID.OCSP_SIGNING in usage and valid

    def _ask_crl(
        self, cert: x509.Certificate, issuer: x509.Certificate, url: str, deadline: float
    ) -> Answer:
        if not _crl_slots.acquire(timeout=self._limit(deadline)):
            raise Rejected("timeout", "another CRL download took the time")
        try:
            body = _fetch(url, None, None, self._limit(deadline), MAX_CRL_BYTES)
            return self._crl_answer(cert, issuer, url, body)
        finally:
            _crl_slots.release()

    def _crl_answer(
        self, cert: x509.Certificate, issuer: x509.Certificate, url: str, body: bytes
    ) -> Answer:
        try:
            crl = x509.load_der_x509_crl(body)
        except ValueError:
            try:
                crl = x509.load_pem_x509_crl(body)
            except ValueError as exc:
                raise Rejected("malformed", f"not a CRL ({exc})") from None
        if crl.issuer != issuer.subject:
            raise Rejected("bad_signature", "the CRL is from another issuer")
        try:
            valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        except (TypeError, ValueError, UnsupportedAlgorithm):
            valid = False
        if not valid:
            raise Rejected("bad_signature", "the CRL's signature is not valid")
        this_update, next_update = crl.last_update_utc, crl.next_update_utc
        self._check_times(this_update, next_update)
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is None:
            return Answer(RevocationState.GOOD, "crl", url, this_update, next_update)
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        return Answer(
            RevocationState.REVOKED,
            "crl",
            url,
            this_update,
            next_update,
            entry.revocation_date_utc,
            _reason_name(reason),
        )


def not_checked(cause: str, detail: str = "") -> RevocationStatus:
    """A status for a certificate Cardwatch did not ask about."""
    return RevocationStatus(RevocationState.NOT_CHECKED, cause=cause, detail=detail)
