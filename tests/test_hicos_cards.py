"""HiCOS / MOICA cards as the public traces show them, and the variants real cards may be.

Each variant is a virtual card that answers the way a real card was seen (or may be) to
answer: a gen-2 applet that refuses SELECT with P2 0C, reads past the end of a file answered
with 6700, a certificate directory with an entry nobody can decode, a gen-1 HiCOS card whose
ATR is not the MOICA one, the CHTGPKIJ ATR. Every one must still be read in full.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from helpers import FixedClock, item

from tray.card.atr import historical_bytes, is_cht, lookup
from tray.check.run import CheckOptions, run_check
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.demo.card import VirtualCard
from tray.demo.cards import (
    HICOS_GEN1_OTHER_ATR,
    MOICA_GEN2_ATR,
    MoicaGen1Card,
    MoicaGen2Card,
    Node,
    moica_token_serial,
)
from tray.model import Health, ItemId, ReaderReport, Status

NOW = datetime.now(timezone.utc)
NUMBER = scenarios.DEMO_CARD_NUMBER
CERT_IDS = {"Signature certificate", "Encryption certificate", "MOICA CA certificate"}


def certs() -> list[tuple[bytes, str, bool]]:
    return scenarios.moica_certs(NOW, 412)


def check(card: VirtualCard) -> ReaderReport:
    report = run_check(SimBackend({"R": card}), FixedClock(NOW), CheckOptions())
    (reader,) = report.readers
    return reader


def assert_read_in_full(reader: ReaderReport, generation: str) -> None:
    assert reader.card_kind == "moica"
    assert reader.generation == generation
    assert len(reader.certificates) == 4, item(reader, ItemId.CERTIFICATES).summary
    assert sum(c.is_ca for c in reader.certificates) == 2
    assert item(reader, ItemId.CERTIFICATES).status is Status.PASS
    assert item(reader, ItemId.EXPIRY).status is Status.PASS
    assert reader.card_number == NUMBER
    assert "MOICA" in (reader.card_type or "")


def selects(card: VirtualCard) -> list[bytes]:
    return [apdu for apdu in card.received if apdu[1] == 0xA4]


def test_gen2_applet_refusing_p2_0c_is_read_with_p2_04_and_le() -> None:
    card = MoicaGen2Card(certs(), NUMBER, refuse_p2_0c=True)
    reader = check(card)
    assert_read_in_full(reader, "2")
    file_selects = [a for a in selects(card) if a[2] == 0x00]
    assert file_selects and all(a[3] == 0x04 and len(a) == 8 for a in file_selects)


@pytest.mark.parametrize("generation", ["1", "2"])
def test_reads_past_the_end_answered_with_6700_still_read_the_card(generation: str) -> None:
    cls = MoicaGen1Card if generation == "1" else MoicaGen2Card
    card = cls(certs(), NUMBER, eof_6700=True, tight_directory=True)
    reader = check(card)
    assert_read_in_full(reader, generation)
    # The card did answer 6700 at least once: the variant was exercised.
    assert 0x6700 in [sw for sw in _sws(card)]


def _sws(card: VirtualCard) -> list[int]:
    # Replay what the card received to learn its answers (the card's state is reset first).
    card.power_on()
    return [int.from_bytes(card.process(apdu)[-2:], "big") for apdu in list(card.received)]


@pytest.mark.parametrize("cls", [MoicaGen1Card, MoicaGen2Card])
def test_an_undecodable_directory_entry_is_skipped_and_reported(cls: type) -> None:
    reader = check(cls(certs(), NUMBER, junk_cdf_entry=True))
    assert_read_in_full(reader, "1" if cls is MoicaGen1Card else "2")
    summary = item(reader, ItemId.CERTIFICATES).summary
    assert "skipped" in summary and "entry 1" in summary


def test_gen1_card_with_another_cht_atr_is_identified_as_hicos_gen1() -> None:
    assert lookup(HICOS_GEN1_OTHER_ATR, lists=()) is None
    assert is_cht(HICOS_GEN1_OTHER_ATR)
    card = MoicaGen1Card(certs(), NUMBER, atr=HICOS_GEN1_OTHER_ATR)
    reader = check(card)
    assert_read_in_full(reader, "1")
    # The gen-2 AID is asked first (CLA 00), then the MF with CLA 80.
    assert card.received[0][:5] == bytes.fromhex("00A4040C10")
    assert card.received[1] == bytes.fromhex("80A40000023F00")


def test_a_card_without_cht_in_its_atr_is_never_probed_with_cla_80() -> None:
    card = MoicaGen1Card(
        certs(), NUMBER, atr=bytes.fromhex("3B8F8001804F0CA0000003060300030000000068")
    )
    reader = check(card)
    assert reader.card_kind != "moica"
    assert not [a for a in card.received if a[0] == 0x80]


def test_chtgpkij_atr_routes_to_gen2_and_is_named_moica() -> None:
    match = lookup(MOICA_GEN2_ATR, lists=())
    assert match is not None and match.kind == "moica" and "MOICA" in match.description
    assert historical_bytes(MOICA_GEN2_ATR) == b"CHTGPKIJ"
    card = MoicaGen2Card(certs(), NUMBER)
    reader = check(card)
    assert_read_in_full(reader, "2")
    assert card.received[0][:4] == bytes.fromhex("00A4040C")


def test_contactless_moica_atr_is_known() -> None:
    atr = bytes.fromhex("3B8B80010031C164084021300090 0057".replace(" ", ""))
    match = lookup(atr, lists=())
    assert match is not None and match.kind == "moica"


def test_certificates_are_selected_from_the_root() -> None:
    card = MoicaGen1Card(certs(), NUMBER)
    check(card)
    fids = [a[5:7].hex().upper() for a in selects(card)]
    at = fids.index("08F2")
    assert fids[at - 2 : at + 1] == ["3F00", "5030", "08F2"]


def test_virtual_cards_carry_the_ids_and_strings_the_traces_show() -> None:
    card = MoicaGen1Card(certs(), NUMBER)
    assert card.version == b"CHT V32N"
    info = card.pkcs15.children[0x5032].data
    assert moica_token_serial(NUMBER).encode() in info
    cdf = card.pkcs15.children[0x4104].data
    for cert_id in (b"SIGN", b"KEYX", b"CACert", b"ROOTCACert"):
        assert b"\x04" + bytes((len(cert_id),)) + cert_id in cdf


class NumberlessCard(MoicaGen1Card):
    """A gen-1 card whose card-number file answers with a memory error."""

    def _build_root(self) -> Node:
        root = super()._build_root()
        root.children[0x0900].children[0x0903].data = b""
        return root

    def process(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xB0 and self.current_ef is not None and self.current_ef.fid == 0x0903:
            return bytes.fromhex("6581")
        return super().process(apdu)


def test_card_number_trouble_never_sinks_the_reading() -> None:
    reader = check(NumberlessCard(certs(), NUMBER))
    assert reader.card_number is None
    assert len(reader.certificates) == 4
    assert item(reader, ItemId.CERTIFICATES).status is Status.PASS


def test_gen2_card_number_comes_from_0903_and_tokeninfo_is_only_a_fallback() -> None:
    reader = check(MoicaGen2Card(certs(), NUMBER))
    assert reader.card_number == NUMBER
    card = MoicaGen2Card(certs(), NUMBER)
    del card.root.children[0x0900]
    assert check(card).card_number == moica_token_serial(NUMBER)


def test_healthy_variants_keep_the_ok_verdict() -> None:
    for card in (
        MoicaGen2Card(certs(), NUMBER, refuse_p2_0c=True, eof_6700=True, tight_directory=True),
        MoicaGen1Card(certs(), NUMBER, junk_cdf_entry=True, atr=HICOS_GEN1_OTHER_ATR),
    ):
        report = run_check(SimBackend({"R": card}), FixedClock(NOW), CheckOptions())
        assert report.health is Health.OK
