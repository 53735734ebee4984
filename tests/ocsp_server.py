"""A real OCSP responder, CRL and caIssuers server on 127.0.0.1, built with ``cryptography``.

Paths: POST /ocsp (RFC 6960 request), GET /ca.cer (the issuer, DER), GET /ca.crl (DER CRL);
the test CA's certificates point here with tray.demo.certs.Urls.under(server.base_url).
Behaviours are switched per test: stale answers, a broken signature, a slow server, errors.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp

Revocation = tuple[datetime, x509.ReasonFlags | None]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _broken(der: bytes) -> bytes:
    # The signature is the last field of both a BasicOCSPResponse (no certs) and a CRL.
    return der[:-1] + bytes([der[-1] ^ 0x01])


class RevocationServer:
    """``ocsp_mode``/``crl_mode``: "normal", "stale", "bad_signature", "slow", "error",
    "garbage"; certificates it answers for are registered with :meth:`know`."""

    def __init__(
        self,
        issuer: x509.Certificate,
        key: rsa.RSAPrivateKey,
        signer: tuple[x509.Certificate, PrivateKey] | None = None,
    ) -> None:
        self.issuer = issuer
        self.key: PrivateKey = key
        #: a responder certificate and key that sign instead of the issuer (delegated or forged)
        self.signer = signer
        self.known: dict[int, x509.Certificate] = {}
        self.revoked: dict[int, Revocation] = {}
        self.unknown: set[int] = set()
        self.ocsp_mode = "normal"
        self.crl_mode = "normal"
        self.slow_seconds = 30.0
        self.hits: list[str] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.hits.append(self.path)
                if self.path != "/ocsp":
                    self._send(404, b"")
                    return
                self._answer(server.ocsp_mode, lambda: server.ocsp_answer(body), "ocsp")

            def do_GET(self) -> None:
                server.hits.append(self.path)
                if self.path == "/ca.cer":
                    self._send(200, server.issuer.public_bytes(serialization.Encoding.DER))
                elif self.path == "/ca.crl":
                    self._answer(server.crl_mode, server.crl, "pkix-crl")
                else:
                    self._send(404, b"")

            def _answer(self, mode: str, make: object, kind: str) -> None:
                if mode == "slow":
                    server._stop.wait(server.slow_seconds)
                if mode == "error":
                    self._send(500, b"internal error")
                    return
                if mode == "garbage":
                    self._send(200, b"\x30\x03garbage")
                    return
                assert callable(make)
                der: bytes = make()
                if mode == "bad_signature":
                    der = _broken(der)
                self._send(200, der, f"application/{kind}-response" if kind == "ocsp" else kind)

            def _send(self, code: int, body: bytes, kind: str = "text/plain") -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout test)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="test ocsp", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def know(self, *certs: x509.Certificate) -> None:
        for cert in certs:
            self.known[cert.serial_number] = cert

    def revoke(
        self, cert: x509.Certificate, at: datetime, reason: x509.ReasonFlags | None = None
    ) -> None:
        self.know(cert)
        self.revoked[cert.serial_number] = (at, reason)

    def _times(self, mode: str) -> tuple[datetime, datetime]:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        if mode == "stale":
            return now - timedelta(days=3), now - timedelta(days=2)
        return now - timedelta(minutes=1), now + timedelta(hours=6)

    def ocsp_answer(self, body: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(body)
        serial = request.serial_number
        cert = self.known.get(serial)
        if cert is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            ).public_bytes(serialization.Encoding.DER)
        this_update, next_update = self._times(self.ocsp_mode)
        status, revoked_at, reason = ocsp.OCSPCertStatus.GOOD, None, None
        if serial in self.revoked:
            status = ocsp.OCSPCertStatus.REVOKED
            revoked_at, reason = self.revoked[serial]
        elif serial in self.unknown:
            status = ocsp.OCSPCertStatus.UNKNOWN
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=cert,
                issuer=self.issuer,
                algorithm=hashes.SHA1(),
                cert_status=status,
                this_update=this_update,
                next_update=next_update,
                revocation_time=revoked_at,
                revocation_reason=reason,
            )
            .responder_id(
                ocsp.OCSPResponderEncoding.HASH, self.signer[0] if self.signer else self.issuer
            )
        )
        if self.signer is not None:
            builder = builder.certificates([self.signer[0]])
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
            if self.ocsp_mode != "stale":  # a pre-produced, cached response echoes no nonce
                builder = builder.add_extension(nonce, critical=False)
        except x509.ExtensionNotFound:
            pass
        key = self.signer[1] if self.signer else self.key
        response = builder.sign(key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)

    def crl(self) -> bytes:
        this_update, next_update = self._times(self.crl_mode)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuer.subject)
            .last_update(this_update)
            .next_update(next_update)
        )
        for serial, (at, reason) in self.revoked.items():
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at)
            if reason is not None:
                entry = entry.add_extension(x509.CRLReason(reason), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        crl = builder.sign(self.signer[1] if self.signer else self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER)

    def start(self) -> RevocationServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RevocationServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
