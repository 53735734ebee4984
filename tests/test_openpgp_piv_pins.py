"""OpenPGP v3's three certificates (SELECT DATA), terminated applications, and the PIV Global PIN.

The allowlist grows by exactly six SELECT DATA commands (OpenPGP only) and the data-less
VERIFY of the Global PIN (PIV only); the guard and the independent APDU audit agree on them.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest
from apdu_audit import violation
from cryptography.hazmat.primitives.serialization import Encoding
from helpers import FixedClock, item

from tray.card.apdu import command
from tray.card.profiles import hicos, openpgp, piv
from tray.check.run import CheckOptions, run_check
from tray.demo import certs
from tray.demo.backend import SimBackend
from tray.demo.card import VirtualCard
from tray.demo.cards import OpenPgpCard, PivCard
from tray.model import Health, ItemId, PinState, ReaderReport, Status

NOW = datetime.now(timezone.utc)


def der(days: float, usage: str = "sign", name: str = "Jane Doe") -> bytes:
    cert = certs.openpgp_person(NOW, days, usage=usage, name=name)  # type: ignore[arg-type]
    return cert.public_bytes(Encoding.DER)


def check(card: VirtualCard) -> tuple[Health, ReaderReport]:
    report = run_check(SimBackend({"R": card}), FixedClock(NOW), CheckOptions())
    return report.health, report.readers[0]


# --------------------------------------------------------------------------- the allowlist

SELECT_DATA_FORMS = [
    bytes.fromhex(f"00A5{occ:02X}04{body}")
    for occ in (0, 1, 2)
    for body in ("0660045C027F21", "070660045C027F21")
]


def test_openpgp_allowlist_passes_exactly_the_six_select_data_commands() -> None:
    for apdu in SELECT_DATA_FORMS:
        assert openpgp.ALLOWLIST.refusal(apdu) is None
        assert violation(apdu) is None
        for other in (piv.ALLOWLIST, hicos.ALLOWLIST):
            assert other.refusal(apdu) is not None
    assert openpgp.ALLOWLIST.select_data == frozenset(SELECT_DATA_FORMS)


@pytest.mark.parametrize(
    "apdu",
    [
        "00A5030460045C027F21",  # occurrence 3 (data as the card sees it, Lc below)
        "00A503040660045C027F21",  # occurrence 3
        "00A500000660045C027F21",  # P2 00
        "00A50004066004 5C02 7F22",  # another data object
        "00A500040660045C027F2100",  # with Le
        "80A500040660045C027F21",  # proprietary class
        "00A500040460025C00",  # short tag list
        "00A50004080606 60045C027F21",  # two leading 06
        "00A50004",  # no data at all
    ],
)
def test_no_other_select_data_passes_guard_or_audit(apdu: str) -> None:
    raw = bytes.fromhex(apdu.replace(" ", ""))
    assert openpgp.ALLOWLIST.refusal(raw) is not None
    assert violation(raw) is not None


def test_guard_and_audit_agree_on_every_select_data_with_small_parameters() -> None:
    bodies = [b"", b"\x60\x04\x5c\x02\x7f\x21", b"\x06\x60\x04\x5c\x02\x7f\x21", b"\x01"]
    for cla, p1, p2, body in itertools.product((0x00, 0x80), range(5), range(6), bodies):
        apdu = command(cla, 0xA5, p1, p2, body)
        assert (openpgp.ALLOWLIST.refusal(apdu) is None) == (violation(apdu) is None), apdu.hex()


def test_global_pin_query_only_for_piv_and_only_without_data() -> None:
    bare = command(0x00, 0x20, 0x00, 0x00)
    assert piv.ALLOWLIST.refusal(bare) is None
    assert violation(bare) is None
    for profile in (hicos, openpgp):
        assert profile.ALLOWLIST.refusal(bare) is not None
    for with_pin in (command(0x00, 0x20, 0x00, 0x00, b"123456\xff\xff"), bare + b"\x00"):
        assert piv.ALLOWLIST.refusal(with_pin) is not None
        assert violation(with_pin) is not None
    assert piv.ALLOWLIST.empty_verify_p2 == frozenset({0x80, 0x00})


# --------------------------------------------------------------------------- OpenPGP v3


def test_v3_card_reports_aut_and_sig_and_the_3_day_sig_drives_the_verdict() -> None:
    card = OpenPgpCard(der(200, "auth"), sig_cert=der(3, "sign"))
    health, reader = check(card)
    labels = sorted(c.label for c in reader.certificates)
    assert labels == ["Authentication certificate (AUT)", "Signature certificate (SIG)"]
    expiry = item(reader, ItemId.EXPIRY)
    assert expiry.status is not Status.PASS
    assert "SIG" in expiry.summary
    assert health is not Health.OK
    # Occurrence 0 again afterwards, and every SELECT DATA was the plain form.
    assert card.occurrence == 0
    sent = [a for a in card.received if a[1] == 0xA5]
    assert [a[2] for a in sent] == [0, 1, 2, 0]
    assert all(a[4] == 0x06 for a in sent)


def test_all_three_occurrences_are_read_and_labelled() -> None:
    card = OpenPgpCard(der(300, "auth"), dec_cert=der(300, "encrypt"), sig_cert=der(300))
    health, reader = check(card)
    assert health is Health.OK
    assert {c.slot for c in reader.certificates} == {"7F21/AUT", "7F21/DEC", "7F21/SIG"}


def test_yubikey_up_to_5_4_3_gets_the_leading_06() -> None:
    card = OpenPgpCard(der(200, "auth"), sig_cert=der(100), yubikey_543=True)
    _health, reader = check(card)
    assert len(reader.certificates) == 2
    assert card.occurrence == 0
    bodies = [a[4:] for a in card.received if a[1] == 0xA5]
    assert bodies[0] == bytes.fromhex("0660045C027F21")  # tried plain once
    assert all(b == bytes.fromhex("070660045C027F21") for b in bodies[1:])


def test_v2_card_gets_no_select_data() -> None:
    card = OpenPgpCard(der(200), version=(2, 1))
    _health, reader = check(card)
    assert [c.label for c in reader.certificates] == ["Cardholder certificate"]
    assert not [a for a in card.received if a[1] == 0xA5]


def test_terminated_application_is_named_not_unknown() -> None:
    health, reader = check(OpenPgpCard(der(200), terminated=True))
    assert reader.card_kind == "openpgp"
    assert "terminated" in item(reader, ItemId.APPLICATION).summary
    certificates = item(reader, ItemId.CERTIFICATES)
    assert certificates.status is Status.FAIL and "terminated" in certificates.summary
    assert health is Health.CRITICAL


# --------------------------------------------------------------------------- PIV Global PIN


def test_global_pin_primary_is_read_and_labelled_without_spending_a_try() -> None:
    card = PivCard({}, pin_tries=3, global_pin_tries=2)
    _health, reader = check(card)
    (pin,) = reader.pins
    assert pin.label == "Global PIN"
    assert pin.tries_left == 2 and pin.state is PinState.OK
    assert card.global_pin_tries == 2 and card.pin_tries == 3
    assert bytes.fromhex("00200000") in card.received
    assert bytes.fromhex("00200080") not in card.received


def test_piv_pin_stays_when_discovery_names_the_piv_pin() -> None:
    card = PivCard({}, pin_tries=1)
    _health, reader = check(card)
    assert [(p.label, p.state) for p in reader.pins] == [("PIV PIN", PinState.FINAL_TRY)]
    assert bytes.fromhex("00200000") not in card.received


@pytest.mark.parametrize(("tries", "state"), [(3, PinState.OK), (1, PinState.FINAL_TRY)])
def test_630x_counts_as_tries_like_63cx(tries: int, state: PinState) -> None:
    card = PivCard({}, pin_tries=tries, counter_630x=True)
    _health, reader = check(card)
    assert (reader.pins[0].tries_left, reader.pins[0].state) == (tries, state)
