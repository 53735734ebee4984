"""Demo scenarios: which virtual card sits in which virtual reader."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..i18n import N_
from ..net import NetworkChecks
from . import certs
from .card import VirtualCard
from .cards import (
    BadDerMoicaCard,
    ErrorCard,
    GarbageTlvPivCard,
    MoicaCert,
    MoicaGen1Card,
    MoicaGen2Card,
    MuteCard,
    OpenPgpCard,
    PivCard,
    UnknownCard,
)
from .network import SimClockProbe, SimRevocationChecker

READER_0 = "Cardwatch Demo Reader 0"
READER_1 = "Cardwatch Demo Reader 1"
DEMO_CARD_NUMBER = "TP03170000012345"
DEMO_PERSON = "王小明"

Readers = dict[str, VirtualCard | None]

# Values are marked with N_() and translated with _() where they are shown.
SCENARIOS: dict[str, str] = {
    "default": N_("A MOICA citizen card and a PIV card, both healthy"),
    "expiring": N_("A MOICA card whose certificates expire in 21 days"),
    "expired": N_("A MOICA card whose certificates have expired"),
    "not-yet-valid": N_("A MOICA card whose certificates become valid in 3 days"),
    "pin-final-try": N_("A PIV card with one PIN try left"),
    "pin-locked": N_("A PIV card whose PIN is blocked"),
    "openpgp": N_("An OpenPGP card holding an X.509 certificate"),
    "gen2": N_("A second-generation MOICA card"),
    "mute": N_("A card that does not answer to reset"),
    "error-card": N_("A card that answers every command with an error"),
    "no-card": N_("A reader with no card inserted"),
    "unknown-card": N_("A card of a type Cardwatch does not know"),
    "bad-der": N_("A MOICA card whose certificate data is corrupt"),
    "garbage-piv": N_("A PIV card whose data objects are malformed"),
    "clock-skew": N_("A healthy MOICA card on a computer whose clock is 8 hours ahead"),
    "revoked": N_("A MOICA card whose signature certificate has been revoked"),
}


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def moica_certs(
    now: datetime,
    days_left: float,
    *,
    not_yet_valid: float | None = None,
    urls: certs.Urls | None = None,
) -> list[MoicaCert]:
    """Signing, encryption, CA and root CA certificates as a MOICA card stores them."""
    sign = certs.moica_person(now, days_left, usage="sign", not_yet_valid=not_yet_valid, urls=urls)
    encrypt = certs.moica_person(
        now, days_left, usage="encrypt", not_yet_valid=not_yet_valid, urls=urls
    )
    return [
        (_der(sign), "Signature certificate", False),
        (_der(encrypt), "Encryption certificate", False),
        (_der(certs.moica_ca()[0]), "MOICA CA certificate", True),
        (_der(certs.grca_root()[0]), "GRCA root certificate", True),
    ]


def piv_certs(
    now: datetime, days_left: float, *, urls: certs.Urls | None = None
) -> dict[int, bytes]:
    """Authentication (9A) and signature (9C) certificates for a PIV card."""
    return {
        0x9A: _der(certs.piv_person(now, days_left, usage="auth", urls=urls)),
        0x9C: _der(certs.piv_person(now, days_left, usage="sign", urls=urls)),
    }


def _default(now: datetime) -> Readers:
    return {
        READER_0: MoicaGen1Card(moica_certs(now, 412), DEMO_CARD_NUMBER),
        READER_1: PivCard(piv_certs(now, 800), pin_tries=3),
    }


def _one(card: VirtualCard | None) -> Readers:
    return {READER_0: card}


_BUILDERS: dict[str, Callable[[datetime], Readers]] = {
    "default": _default,
    "expiring": lambda now: _one(MoicaGen1Card(moica_certs(now, 21), DEMO_CARD_NUMBER)),
    "expired": lambda now: _one(MoicaGen1Card(moica_certs(now, -30), DEMO_CARD_NUMBER)),
    "not-yet-valid": lambda now: _one(
        MoicaGen1Card(moica_certs(now, 1826, not_yet_valid=72), DEMO_CARD_NUMBER)
    ),
    "pin-final-try": lambda now: _one(PivCard(piv_certs(now, 800), pin_tries=1)),
    "pin-locked": lambda now: _one(PivCard(piv_certs(now, 800), pin_tries=0)),
    "openpgp": lambda now: _one(OpenPgpCard(_der(certs.openpgp_person(now, 365)))),
    "gen2": lambda now: _one(MoicaGen2Card(moica_certs(now, 412), DEMO_CARD_NUMBER)),
    "mute": lambda now: _one(MuteCard()),
    "error-card": lambda now: _one(ErrorCard()),
    "no-card": lambda now: _one(None),
    "unknown-card": lambda now: _one(UnknownCard()),
    "bad-der": lambda now: _one(BadDerMoicaCard(moica_certs(now, 412), DEMO_CARD_NUMBER)),
    "garbage-piv": lambda now: _one(GarbageTlvPivCard(piv_certs(now, 800))),
    "clock-skew": lambda now: _one(MoicaGen1Card(moica_certs(now, 412), DEMO_CARD_NUMBER)),
    "revoked": lambda now: _one(MoicaGen1Card(moica_certs(now, 412), DEMO_CARD_NUMBER)),
}

#: The simulated clock offset of each scenario (server time minus this computer's clock).
_OFFSETS: dict[str, float] = {"clock-skew": -8 * 3600 - 40.0}
_SMALL_OFFSET = 0.2


def network(name: str, now: datetime) -> NetworkChecks:
    """The simulated network answers of scenario ``name``: nothing is contacted."""
    offset = _OFFSETS.get(name, _SMALL_OFFSET)
    revoked = (now - timedelta(days=12), "key_compromise") if name == "revoked" else None
    return NetworkChecks(
        enabled=True,
        clock=SimClockProbe(offset, now),
        revocation=SimRevocationChecker(now, revoked),
    )


def build(name: str, now: datetime) -> Readers:
    """Reader name → card (None for an empty reader) for scenario ``name`` at ``now``."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown demo scenario: {name}") from None
    return builder(now)
