"""Revocation against a real OCSP responder and CRL server on 127.0.0.1.

Good, revoked (with date and reason), unknown, stale, bad signature and a slow server; the
CRL fallback; the issuer from caIssuers; the on-disk cache, including a corrupt file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from helpers import FixedClock, item
from ocsp_server import RevocationServer

from tray.check.run import CheckOptions, run_check
from tray.clock import SystemClock
from tray.demo import certs, scenarios
from tray.demo.backend import SimBackend
from tray.demo.cards import MoicaGen1Card
from tray.model import Cause, Health, ItemId, RevocationState, Status
from tray.net import NetworkChecks
from tray.net.revocation import HttpRevocationChecker
from tray.present.check_json import to_dict
from tray.store.revocation_cache import RevocationCache, cache_key

NOW = datetime.now(timezone.utc)
REVOKED_AT = (NOW - timedelta(days=12)).replace(microsecond=0)


@pytest.fixture
def moica_server() -> Iterator[RevocationServer]:
    with RevocationServer(*certs.moica_ca()) as server:
        yield server


@pytest.fixture
def piv_server() -> Iterator[RevocationServer]:
    with RevocationServer(*certs.cardwatch_test_ca()) as server:
        yield server


def checker(tmp_path: Path, clock: object = None, timeout: float = 2.0) -> HttpRevocationChecker:
    clock = clock or SystemClock()
    cache = RevocationCache(tmp_path / "cache", clock)  # type: ignore[arg-type]
    return HttpRevocationChecker(clock, cache=cache, timeout=timeout)  # type: ignore[arg-type]


def person(server: RevocationServer, **urls: bool) -> x509.Certificate:
    cert = certs.moica_person(NOW, 300, urls=certs.Urls.under(server.base_url, **urls))
    server.know(cert)
    return cert


def test_good_certificate_is_confirmed_by_ocsp(
    moica_server: RevocationServer, tmp_path: Path
) -> None:
    cert = person(moica_server)
    status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert status.state is RevocationState.GOOD
    assert status.source == "ocsp"
    assert status.checked_at is not None and status.next_update is not None
    assert status.next_update <= status.checked_at + timedelta(days=1)
    assert moica_server.hits == ["/ocsp"]


def test_revoked_certificate_has_its_date_and_reason(
    moica_server: RevocationServer, tmp_path: Path
) -> None:
    cert = person(moica_server)
    moica_server.revoke(cert, REVOKED_AT, x509.ReasonFlags.key_compromise)
    status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert status.state is RevocationState.REVOKED
    assert (status.revoked_at, status.reason, status.source) == (
        REVOKED_AT,
        "key_compromise",
        "ocsp",
    )


def test_responder_that_does_not_know_the_certificate_gives_unknown(
    moica_server: RevocationServer, tmp_path: Path
) -> None:
    cert = person(moica_server, crl=False)
    moica_server.unknown.add(cert.serial_number)
    status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert (status.state, status.cause) == (RevocationState.UNKNOWN, "responder_unknown")


@pytest.mark.parametrize(
    ("mode", "cause"), [("stale", "stale"), ("bad_signature", "bad_signature")]
)
def test_stale_or_badly_signed_ocsp_answer_is_rejected(
    moica_server: RevocationServer, tmp_path: Path, mode: str, cause: str
) -> None:
    cert = person(moica_server, crl=False)
    moica_server.revoke(cert, REVOKED_AT)  # a forged or old answer must not decide either way
    moica_server.ocsp_mode = mode
    status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert (status.state, status.cause) == (RevocationState.UNKNOWN, cause)
    assert "/ocsp" in status.detail


def responder_cert(
    issuer: x509.Certificate, issuer_key: object, *, for_ocsp: bool = True
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A responder certificate signed by ``issuer_key`` (the CA's, or a stranger's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    usage = [ExtendedKeyUsageOID.OCSP_SIGNING if for_ocsp else ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(certs.dn(("C", "TW"), ("CN", "Test OCSP responder")))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert, key


def test_delegated_responder_signed_by_the_issuer_is_trusted(tmp_path: Path) -> None:
    ca, ca_key = certs.moica_ca()
    with RevocationServer(ca, ca_key, signer=responder_cert(ca, ca_key)) as server:
        cert = person(server, crl=False)
        status = checker(tmp_path).check(cert, ca)
    assert status.state is RevocationState.GOOD


@pytest.mark.parametrize("for_ocsp", [True, False])
def test_responder_the_issuer_did_not_authorise_is_rejected(tmp_path: Path, for_ocsp: bool) -> None:
    ca, ca_key = certs.moica_ca()
    # A stranger's key signs the responder certificate (for_ocsp) or it lacks OCSP signing.
    stranger = ec.generate_private_key(ec.SECP256R1()) if for_ocsp else ca_key
    with RevocationServer(
        ca, ca_key, signer=responder_cert(ca, stranger, for_ocsp=for_ocsp)
    ) as server:
        cert = person(server)
        server.revoke(cert, REVOKED_AT)
        status = checker(tmp_path).check(cert, ca)
    assert (status.state, status.cause) == (RevocationState.UNKNOWN, "bad_signature")
    assert server.hits == ["/ocsp", "/ca.crl"]  # the CRL, signed by the same key, fails too


def test_slow_server_times_out_without_hanging(
    moica_server: RevocationServer, tmp_path: Path
) -> None:
    cert = person(moica_server)
    moica_server.ocsp_mode = moica_server.crl_mode = "slow"
    status = checker(tmp_path, timeout=0.3).check(cert, certs.moica_ca()[0])
    assert (status.state, status.cause) == (RevocationState.UNKNOWN, "timeout")
    assert status.checked_at is None


def test_crl_is_the_fallback_when_the_responder_fails(
    moica_server: RevocationServer, tmp_path: Path
) -> None:
    cert = person(moica_server)
    moica_server.revoke(cert, REVOKED_AT, x509.ReasonFlags.cessation_of_operation)
    moica_server.ocsp_mode = "error"
    status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert (status.state, status.source) == (RevocationState.REVOKED, "crl")
    assert (status.revoked_at, status.reason) == (REVOKED_AT, "cessation_of_operation")
    assert moica_server.hits == ["/ocsp", "/ca.crl"]

    other = person(moica_server, ocsp=False)
    good = checker(tmp_path).check(other, certs.moica_ca()[0])
    assert (good.state, good.source) == (RevocationState.GOOD, "crl")


@pytest.mark.parametrize(
    ("mode", "cause"), [("stale", "stale"), ("bad_signature", "bad_signature")]
)
def test_stale_or_badly_signed_crl_is_rejected(
    moica_server: RevocationServer, tmp_path: Path, mode: str, cause: str
) -> None:
    cert = person(moica_server, ocsp=False)
    moica_server.crl_mode = mode
    status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert (status.state, status.cause) == (RevocationState.UNKNOWN, cause)


def test_garbage_answers_are_unknown_not_good(
    moica_server: RevocationServer, tmp_path: Path
) -> None:
    cert = person(moica_server)
    moica_server.ocsp_mode = moica_server.crl_mode = "garbage"
    status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert (status.state, status.cause) == (RevocationState.UNKNOWN, "malformed")


def test_issuer_is_fetched_from_ca_issuers_when_the_card_lacks_it(
    piv_server: RevocationServer, tmp_path: Path
) -> None:
    cert = certs.piv_person(NOW, 300, urls=certs.Urls.under(piv_server.base_url))
    piv_server.know(cert)
    status = checker(tmp_path).check(cert, None)
    assert status.state is RevocationState.GOOD
    assert piv_server.hits == ["/ca.cer", "/ocsp"]


def test_missing_issuer_and_missing_urls_are_named(
    piv_server: RevocationServer, tmp_path: Path
) -> None:
    cert = certs.piv_person(NOW, 300, urls=certs.Urls.under(piv_server.base_url, ca_issuers=False))
    assert checker(tmp_path).check(cert, None).cause == "issuer_missing"
    bare = certs.piv_person(NOW, 300)
    assert checker(tmp_path).check(bare, None).cause == "no_responder"


def test_closed_port_is_unreachable(tmp_path: Path) -> None:
    cert = certs.moica_person(NOW, 300, urls=certs.Urls.under("http://127.0.0.1:9"))
    status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert (status.state, status.cause) == (RevocationState.UNKNOWN, "unreachable")


def test_answer_is_cached_until_next_update_and_at_most_a_day(
    moica_server: RevocationServer, tmp_path: Path
) -> None:
    cert = person(moica_server)
    clock = FixedClock(datetime.now(timezone.utc))
    first = checker(tmp_path, clock).check(cert, certs.moica_ca()[0])
    again = checker(tmp_path, clock).check(cert, certs.moica_ca()[0])
    assert moica_server.hits == ["/ocsp"]
    assert again.cached and again.state is first.state and again.checked_at == first.checked_at
    # The server's nextUpdate is six hours on: after that the cache is not trusted.
    later = FixedClock(clock.now() + timedelta(hours=7))
    moica_server.ocsp_mode = "error"
    moica_server.crl_mode = "error"
    stale = checker(tmp_path, later).check(cert, certs.moica_ca()[0])
    assert stale.state is RevocationState.UNKNOWN
    assert stale.checked_at == first.checked_at  # "last confirmed" survives
    assert moica_server.hits == ["/ocsp", "/ocsp", "/ca.crl"]


def test_corrupt_cache_file_is_set_aside_with_a_log_line(
    moica_server: RevocationServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert = person(moica_server)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    path = cache_dir / f"{cache_key(cert, certs.moica_ca()[0])}.json"
    path.write_text('{"format": 1, "state": "good", "checked_at": 42')
    with caplog.at_level(logging.WARNING, logger="tray.store.revocation_cache"):
        status = checker(tmp_path).check(cert, certs.moica_ca()[0])
    assert status.state is RevocationState.GOOD and not status.cached
    assert "corrupt" in caplog.text
    aside = list(cache_dir.glob("*.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith('{"format": 1')
    assert json.loads(path.read_text())["state"] == "good"  # rewritten atomically


def test_revoked_card_turns_the_check_red_with_moica_advice(
    moica_server: RevocationServer, tmp_path: Path
) -> None:
    card_certs = scenarios.moica_certs(NOW, 412, urls=certs.Urls.under(moica_server.base_url))
    parsed = [x509.load_der_x509_certificate(der) for der, _label, _ca in card_certs[:2]]
    moica_server.know(*parsed)
    moica_server.revoke(parsed[0], REVOKED_AT, x509.ReasonFlags.key_compromise)
    backend = SimBackend(
        {scenarios.READER_0: MoicaGen1Card(card_certs, scenarios.DEMO_CARD_NUMBER)}
    )
    network = NetworkChecks(revocation=checker(tmp_path))
    report = run_check(backend, SystemClock(), CheckOptions(network=network))
    revoked = item(report.readers[0], ItemId.REVOCATION)
    assert (revoked.status, revoked.cause, revoked.code) == (
        Status.FAIL,
        Cause.CERTIFICATE,
        "revoked",
    )
    assert REVOKED_AT.strftime("%Y-%m-%d") in revoked.summary
    assert "household registration office" in revoked.advice
    assert report.health is Health.CRITICAL
    data = to_dict(report)["readers"][0]["certificates"]
    assert data[0]["revocation"]["status"] == "revoked"
    assert data[0]["revocation"]["revoked_at"] == REVOKED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data[1]["revocation"]["status"] == "good"
    assert data[2]["revocation"] is None  # CA certificates are not asked about


def test_unknown_status_is_shown_but_never_an_alarm(tmp_path: Path) -> None:
    card_certs = scenarios.moica_certs(NOW, 412, urls=certs.Urls.under("http://127.0.0.1:9"))
    backend = SimBackend(
        {scenarios.READER_0: MoicaGen1Card(card_certs, scenarios.DEMO_CARD_NUMBER)}
    )
    network = NetworkChecks(revocation=checker(tmp_path))
    report = run_check(backend, SystemClock(), CheckOptions(network=network))
    unknown = item(report.readers[0], ItemId.REVOCATION)
    assert (unknown.status, unknown.code) == (Status.SKIP, "revocation_unknown")
    assert "never confirmed" in unknown.summary
    assert report.health is Health.OK


def test_network_off_contacts_no_responder(moica_server: RevocationServer) -> None:
    card_certs = scenarios.moica_certs(NOW, 412, urls=certs.Urls.under(moica_server.base_url))
    backend = SimBackend(
        {scenarios.READER_0: MoicaGen1Card(card_certs, scenarios.DEMO_CARD_NUMBER)}
    )
    report = run_check(backend, SystemClock(), CheckOptions(network=NetworkChecks.off()))
    off = item(report.readers[0], ItemId.REVOCATION)
    assert (off.status, off.code) == (Status.SKIP, "revocation_off")
    assert moica_server.hits == []
    assert report.health is Health.OK
