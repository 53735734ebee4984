"""Hostile revocation answers on 127.0.0.1: a card's own CA poisoning the cache, redirects to
other places, and answers the parser only rejects late. Each ends with a named cause, and the
CRL is still asked when the responder fails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from hostile_peers import HostilePeer
from ocsp_server import RevocationServer

from tray.clock import SystemClock
from tray.demo import certs
from tray.model import RevocationState
from tray.net.revocation import HttpRevocationChecker
from tray.store.revocation_cache import RevocationCache

NOW = datetime.now(timezone.utc)
REVOKED_AT = (NOW - timedelta(days=5)).replace(microsecond=0)


def checker(tmp_path: Path) -> HttpRevocationChecker:
    clock = SystemClock()
    return HttpRevocationChecker(clock, cache=RevocationCache(tmp_path / "cache", clock), timeout=2)


@pytest.fixture
def real() -> Iterator[RevocationServer]:
    with RevocationServer(*certs.moica_ca()) as server:
        yield server


def impostor_ca() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A CA named exactly like MOICA, with its own key: what a hostile card can carry."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = certs.moica_ca()[0].subject
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=10))
        .not_valid_after(NOW + timedelta(days=1000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


@pytest.mark.parametrize("victim_revoked", [False, True])
def test_a_card_with_its_own_ca_cannot_poison_the_cache_for_a_real_certificate(
    real: RevocationServer, tmp_path: Path, victim_revoked: bool
) -> None:
    victim = certs.moica_person(NOW, 300, urls=certs.Urls.under(real.base_url))
    if victim_revoked:
        real.revoke(victim, REVOKED_AT, x509.ReasonFlags.key_compromise)
    else:
        real.know(victim)
    fake_ca, fake_key = impostor_ca()
    with RevocationServer(fake_ca, fake_key) as hostile:
        forged = certs.make_cert(
            victim.subject,
            fake_ca,
            fake_key,
            NOW - timedelta(days=10),
            NOW + timedelta(days=300),
            serial=victim.serial_number,
            urls=certs.Urls.under(hostile.base_url),
        )
        if victim_revoked:
            hostile.know(forged)  # the impostor says "good" for the victim's serial
        else:
            hostile.revoke(forged, REVOKED_AT, x509.ReasonFlags.key_compromise)
        planted = checker(tmp_path).check(forged, fake_ca)
        assert planted.state is (
            RevocationState.GOOD if victim_revoked else RevocationState.REVOKED
        )
        status = checker(tmp_path).check(victim, certs.moica_ca()[0])
    expected = RevocationState.REVOKED if victim_revoked else RevocationState.GOOD
    assert (status.state, status.cached) == (expected, False)
    assert real.hits == ["/ocsp"]  # the real responder was asked


def test_a_certificate_beside_a_ca_that_did_not_sign_it_is_not_asked_about(
    real: RevocationServer, tmp_path: Path
) -> None:
    fake_ca, fake_key = impostor_ca()
    forged = certs.make_cert(
        x509.Name([]),
        fake_ca,
        fake_key,
        NOW - timedelta(days=10),
        NOW + timedelta(days=300),
        urls=certs.Urls.under(real.base_url),
    )
    status = checker(tmp_path).check(forged, certs.moica_ca()[0])
    assert (status.state, status.cause) == (RevocationState.UNKNOWN, "issuer_mismatch")
    assert real.hits == []


@pytest.mark.parametrize("elsewhere", ["other_port", "ftp"])
def test_a_redirect_elsewhere_is_refused_and_the_crl_still_answers(
    real: RevocationServer, tmp_path: Path, elsewhere: str
) -> None:
    target = f"{real.base_url}/ocsp" if elsewhere == "other_port" else "ftp://127.0.0.1/ocsp"
    with HostilePeer("redirect", location=target) as peer:
        urls = certs.Urls(ocsp=peer.url, crl=f"{real.base_url}/ca.crl")
        cert = certs.moica_person(NOW, 300, urls=urls)
        real.know(cert)
        status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert (status.state, status.source) == (RevocationState.GOOD, "crl")
    assert real.hits == ["/ca.crl"]  # the redirect to another place was not followed


def test_a_redirect_on_the_same_host_and_port_is_followed(tmp_path: Path) -> None:
    with HostilePeer("redirect", location="/ca.cer", body=b"not a certificate") as peer:
        cert = certs.moica_person(NOW, 300, urls=certs.Urls(ocsp=peer.url))
        status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert status.cause == "malformed"  # it reached /ca.cer on the same peer and read the body
    assert [r.split(b" ")[1] for r in peer.requests] == [b"/x", b"/ca.cer"]


def unreadable_ocsp(server: RevocationServer, cert: x509.Certificate) -> bytes:
    """A correctly signed OCSP answer whose CertID names a hash algorithm nobody knows."""
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, server.issuer, hashes.SHA1()).build()
    der = server.ocsp_answer(request.public_bytes(serialization.Encoding.DER))
    response = ocsp.load_der_ocsp_response(der)
    tbs = response.tbs_response_bytes
    sha1 = bytes.fromhex("06052b0e03021a")
    bad_tbs = tbs.replace(sha1, bytes.fromhex("06052b0e03021b"), 1)
    assert bad_tbs != tbs
    key = server.key
    assert isinstance(key, rsa.RSAPrivateKey)
    algorithm = response.signature_hash_algorithm
    assert algorithm is not None
    signature = key.sign(bad_tbs, padding.PKCS1v15(), algorithm)
    assert len(signature) == len(response.signature)
    return der.replace(tbs, bad_tbs).replace(response.signature, signature)


def test_an_ocsp_answer_rejected_late_is_named_and_the_crl_still_runs(
    real: RevocationServer, tmp_path: Path
) -> None:
    cert = certs.moica_person(NOW, 300)
    real.know(cert)
    with HostilePeer("body", body=unreadable_ocsp(real, cert)) as peer:
        urls = certs.Urls(ocsp=peer.url, crl=f"{real.base_url}/ca.crl")
        cert = certs.moica_person(NOW, 300, urls=urls, serial=cert.serial_number)
        status = checker(tmp_path).check(cert, certs.moica_ca()[0])
        (tmp_path / "alone").mkdir()
        alone = certs.moica_person(
            NOW, 300, urls=certs.Urls(ocsp=peer.url), serial=cert.serial_number
        )
        only = checker(tmp_path / "alone").check(alone, certs.moica_ca()[0])
    assert (status.state, status.source) == (RevocationState.GOOD, "crl")
    assert real.hits == ["/ca.crl"]
    assert (only.state, only.cause) == (RevocationState.UNKNOWN, "malformed")
