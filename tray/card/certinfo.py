"""Turn certificate bytes from a card into :class:`CertInfo` (cryptography does the parsing)."""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from ..errors import CardDataError
from ..i18n import _
from ..model import CardCertificate, CertInfo
from .roles import role_label

log = logging.getLogger(__name__)

_USAGES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)


def load(der: bytes) -> x509.Certificate:
    """Parse DER, turning every parser complaint into :class:`CardDataError`."""
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, TypeError, x509.InvalidVersion) as exc:
        log.debug("certificate parse error: %s", exc)
        raise CardDataError(_("not a valid X.509 certificate (DER)")) from None


def _common_name(name: x509.Name) -> str:
    try:
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return ""
    return str(attrs[0].value) if attrs else ""


#: attribute names RFC 4514 leaves as dotted OIDs, as OpenSSL and the RFCs name them
READABLE_NAMES = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "surname",
    NameOID.TITLE: "title",
    NameOID.INITIALS: "initials",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.POSTAL_ADDRESS: "postalAddress",
}


def _name(name: x509.Name) -> str:
    """RFC 4514 with readable attribute names (``serialNumber=…``, not ``2.5.4.5=…``)."""
    try:
        return name.rfc4514_string(READABLE_NAMES)
    except ValueError:
        return "?"


def _key_usage(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return ()
    return tuple(name for attr, name in _USAGES if getattr(ku, attr))


def _is_ca(cert: x509.Certificate, declared: bool) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return declared


def serial_hex(number: int) -> str:
    """A serial as OpenSSL and Windows show it: upper-case hex, whole bytes (leading zeros kept)."""
    digits = format(number, "X")
    return digits.zfill(len(digits) + len(digits) % 2)


def days_left(not_after: datetime, now: datetime, zone: tzinfo | None = None) -> int:
    """Calendar days in ``zone`` (default: local) from ``now`` to ``not_after``.

    0 on the last day, negative after. Counting the card holder's calendar days keeps
    "expires on 15 Dec: 21 days left" consistent with the (local) date shown, whatever the
    hour of the check.
    """
    return (not_after.astimezone(zone).date() - now.astimezone(zone).date()).days


def describe(card_cert: CardCertificate, now: datetime, zone: tzinfo | None = None) -> CertInfo:
    """Parse one certificate read from a card (days left counted in ``zone``, default local)."""
    cert = load(card_cert.der)
    try:
        return _describe(cert, card_cert, now, zone)
    except CardDataError:
        raise
    except Exception as exc:  # cryptography parses lazily and has many error types
        log.debug("certificate field error: %s", exc)
        raise CardDataError(_("certificate fields unreadable")) from None


def _describe(
    cert: x509.Certificate, card_cert: CardCertificate, now: datetime, zone: tzinfo | None
) -> CertInfo:
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    return CertInfo(
        label=role_label(card_cert.label),
        slot=card_cert.slot,
        subject=_name(cert.subject),
        common_name=_common_name(cert.subject),
        issuer=_name(cert.issuer),
        serial=serial_hex(cert.serial_number),
        not_before=not_before,
        not_after=not_after,
        days_left=days_left(not_after, now, zone),
        key_usage=_key_usage(cert),
        is_ca=_is_ca(cert, card_cert.authority),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def issuer_text(der: bytes) -> str:
    """The issuer DN of ``der``, or '' when it cannot be read."""
    try:
        return _name(load(der).issuer)
    except Exception:  # any parse failure just means "unknown issuer"
        return ""
