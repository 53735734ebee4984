"""Certificate factory for the virtual cards: realistic MOICA, PIV and OpenPGP identities."""

from __future__ import annotations

import functools
import hashlib
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

KeyUsageKind = Literal["sign", "encrypt", "auth"]
CertAndKey = tuple[x509.Certificate, rsa.RSAPrivateKey]

MOICA_CA_NAME_PARTS = (("C", "TW"), ("O", "行政院"), ("OU", "內政部憑證管理中心"))
GRCA_G3_CN = "Government Root Certification Authority - G3"
TEST_CA_CN = "Cardwatch Test CA"

# Published validity of MOICA G3 (see reference/hicos-card-notes.md).
MOICA_G3_NOT_BEFORE = datetime(2024, 1, 23, tzinfo=timezone.utc)
MOICA_G3_NOT_AFTER = datetime(2044, 1, 23, tzinfo=timezone.utc)
# Illustrative only: chosen to cover MOICA G3, not the real root's dates.
GRCA_G3_NOT_BEFORE = datetime(2012, 9, 28, tzinfo=timezone.utc)
GRCA_G3_NOT_AFTER = datetime(2044, 12, 31, tzinfo=timezone.utc)
TEST_CA_NOT_BEFORE = datetime(2020, 1, 1, tzinfo=timezone.utc)
TEST_CA_NOT_AFTER = datetime(2060, 1, 1, tzinfo=timezone.utc)

_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "emailAddress": NameOID.EMAIL_ADDRESS,
}


@functools.lru_cache(maxsize=1)
def demo_key() -> rsa.RSAPrivateKey:
    """The one RSA-2048 key every simulated certificate uses (generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def dn(*parts: tuple[str, str]) -> x509.Name:
    """Build a Name from (short attribute, value) pairs; hostile or over-long values are kept."""
    attributes = []
    with warnings.catch_warnings():
        # cryptography warns about over-long values only when validation is off; we want them.
        warnings.simplefilter("ignore")
        for short, value in parts:
            attributes.append(x509.NameAttribute(_OIDS[short], value, _validate=False))
    return x509.Name(attributes)


def _key_id(subject: x509.Name) -> bytes:
    # Every certificate shares demo_key(), so a key-derived identifier would make all
    # issuers look alike; derive it from the subject so AKI/SKI chains stay distinct.
    return hashlib.sha1(subject.public_bytes()).digest()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("certificate dates must be timezone-aware")
    return moment.astimezone(timezone.utc)


def _issuer_key_id(issuer_cert: x509.Certificate) -> bytes:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return _key_id(issuer_cert.subject)
    return ski.value.digest


def make_ca(
    name: x509.Name,
    not_before: datetime,
    not_after: datetime,
    issuer: CertAndKey | None = None,
) -> CertAndKey:
    """A CA certificate, self-signed unless ``issuer`` (certificate, key) is given."""
    key = demo_key()
    issuer_name = issuer[0].subject if issuer else name
    signing_key = issuer[1] if issuer else key
    aki = _issuer_key_id(issuer[0]) if issuer else _key_id(name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_utc(not_before))
        .not_valid_after(_utc(not_after))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier(_key_id(name)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(aki, None, None),
            critical=False,
        )
    )
    return builder.sign(signing_key, hashes.SHA256()), key


def _key_usage(kind: KeyUsageKind) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=kind in ("sign", "auth"),
        content_commitment=kind == "sign",
        key_encipherment=kind == "encrypt",
        data_encipherment=kind == "encrypt",
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Urls:
    """Where a certificate says its issuer answers: OCSP, caIssuers and the CRL."""

    ocsp: str | None = None
    ca_issuers: str | None = None
    crl: str | None = None

    @classmethod
    def under(
        cls, base: str, *, ocsp: bool = True, ca_issuers: bool = True, crl: bool = True
    ) -> Urls:
        """``base``/ocsp, ``base``/ca.cer and ``base``/ca.crl (a loopback test server)."""
        base = base.rstrip("/")
        return cls(
            f"{base}/ocsp" if ocsp else None,
            f"{base}/ca.cer" if ca_issuers else None,
            f"{base}/ca.crl" if crl else None,
        )


def make_cert(
    subject: x509.Name,
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    not_before: datetime,
    not_after: datetime,
    *,
    serial: int | None = None,
    key_usage: KeyUsageKind = "sign",
    urls: Urls | None = None,
) -> x509.Certificate:
    """An end-entity certificate for ``subject`` signed by the issuer (AIA/CDP from ``urls``)."""
    urls = urls or Urls()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(demo_key().public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(_utc(not_before))
        .not_valid_after(_utc(not_after))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(key_usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(_key_id(subject)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(_issuer_key_id(issuer_cert), None, None),
            critical=False,
        )
    )
    if key_usage == "auth":
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    access = []
    if urls.ocsp:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
            )
        )
    if urls.ca_issuers:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(urls.ca_issuers),
            )
        )
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if urls.crl:
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(urls.crl)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@functools.lru_cache(maxsize=1)
def grca_root() -> CertAndKey:
    """A stand-in for the Taiwan Government Root Certification Authority - G3."""
    subject = dn(("C", "TW"), ("O", "Government Root Certification Authority"), ("CN", GRCA_G3_CN))
    return make_ca(subject, GRCA_G3_NOT_BEFORE, GRCA_G3_NOT_AFTER)


@functools.lru_cache(maxsize=1)
def moica_ca() -> CertAndKey:
    """A stand-in for MOICA G3, with the real issuer DN, issued by :func:`grca_root`."""
    return make_ca(dn(*MOICA_CA_NAME_PARTS), MOICA_G3_NOT_BEFORE, MOICA_G3_NOT_AFTER, grca_root())


@functools.lru_cache(maxsize=1)
def cardwatch_test_ca() -> CertAndKey:
    """The self-signed "Cardwatch Test CA" that issues PIV and OpenPGP demo certificates."""
    subject = dn(("C", "US"), ("O", "Cardwatch Test"), ("CN", TEST_CA_CN))
    return make_ca(subject, TEST_CA_NOT_BEFORE, TEST_CA_NOT_AFTER)


def validity(
    now: datetime,
    days_left: float,
    valid_days: float,
    not_yet_valid: float | None = None,
) -> tuple[datetime, datetime]:
    """(notBefore, notAfter) leaving ``days_left`` at ``now`` (or ``not_yet_valid`` hours ahead)."""
    if not_yet_valid is not None:
        start = now + timedelta(hours=not_yet_valid)
        return start, start + timedelta(days=valid_days)
    return now - timedelta(days=valid_days - days_left), now + timedelta(days=days_left)


def _issue(
    subject: x509.Name,
    issuer: CertAndKey,
    period: tuple[datetime, datetime],
    serial: int | None,
    usage: KeyUsageKind,
    urls: Urls | None,
) -> x509.Certificate:
    """A holder certificate for ``subject`` issued by ``issuer`` for ``period``."""
    ca_cert, ca_key = issuer
    return make_cert(subject, ca_cert, ca_key, *period, serial=serial, key_usage=usage, urls=urls)


def moica_person(
    now: datetime,
    days_left: float,
    *,
    name: str = "王小明",
    serial_digits: str = "0000000112345678",
    valid_days: float = 1826,
    usage: KeyUsageKind = "sign",
    not_yet_valid: float | None = None,
    serial: int | None = None,
    urls: Urls | None = None,
) -> x509.Certificate:
    """A MOICA citizen certificate (subject C=TW, CN, serialNumber) issued by :func:`moica_ca`."""
    subject = dn(("C", "TW"), ("CN", name), ("serialNumber", serial_digits))
    period = validity(now, days_left, valid_days, not_yet_valid)
    return _issue(subject, moica_ca(), period, serial, usage, urls)


def piv_person(
    now: datetime,
    days_left: float,
    *,
    name: str = "Jane Doe",
    valid_days: float = 1095,
    usage: KeyUsageKind = "auth",
    not_yet_valid: float | None = None,
    serial: int | None = None,
    urls: Urls | None = None,
) -> x509.Certificate:
    """A PIV holder certificate issued by :func:`cardwatch_test_ca`."""
    subject = dn(("C", "US"), ("O", "Cardwatch Test"), ("OU", "PIV"), ("CN", name))
    period = validity(now, days_left, valid_days, not_yet_valid)
    return _issue(subject, cardwatch_test_ca(), period, serial, usage, urls)


def openpgp_person(
    now: datetime,
    days_left: float,
    *,
    name: str = "Jane Doe",
    email: str = "jane.doe@example.org",
    valid_days: float = 730,
    usage: KeyUsageKind = "sign",
    not_yet_valid: float | None = None,
    serial: int | None = None,
) -> x509.Certificate:
    """An X.509 certificate for the OpenPGP card's DO 7F21, issued by :func:`cardwatch_test_ca`."""
    subject = dn(("CN", name), ("emailAddress", email))
    period = validity(now, days_left, valid_days, not_yet_valid)
    return _issue(subject, cardwatch_test_ca(), period, serial, usage, None)
