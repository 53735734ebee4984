"""The virtual cards answer raw APDUs the way the real cards are documented to."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tray.card import tlv
from tray.demo import cards, certs, scenarios
from tray.demo.card import VirtualCard
from tray.errors import CardDataError

# These tests are the virtual cards' own unit tests: they send raw APDUs, some of them
# forbidden on purpose (a VERIFY with a PIN must cost a try), so none of this is Cardwatch
# traffic and the APDU audit does not apply here.
pytestmark = pytest.mark.audit_exempt

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
CARD_NUMBER = "TP03170000012345"
GEN2_AID = bytes.fromhex("A0 00 00 02 83 00 00 06 22 01 69 64 00 01 01 01")


def send(card: VirtualCard, apdu: bytes | str) -> tuple[bytes, int]:
    """Transmit one APDU and split the answer into data and SW."""
    raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
    answer = card.respond(raw)
    return answer[:-2], int.from_bytes(answer[-2:], "big")


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def read_all(card: VirtualCard, cla: int, chunk: int = 0xC8) -> bytes:
    """Read the current EF to its end, as a careful host would (6CXX → resend with XX)."""
    out = b""
    while True:
        offset = len(out)
        data, sw = send(card, bytes((cla, 0xB0, offset >> 8, offset & 0xFF, chunk & 0xFF)))
        if sw >> 8 == 0x6C:
            data, sw = send(card, bytes((cla, 0xB0, offset >> 8, offset & 0xFF, sw & 0xFF)))
            assert sw == 0x9000
            return out + data
        if sw == 0x6B00:
            return out
        assert sw == 0x9000
        assert len(data) == chunk
        out += data


def select_path(card: VirtualCard, cla: int, *fids: str) -> None:
    for fid in fids:
        assert send(card, f"{cla:02X}A4000C02{fid}") == (b"", 0x9000), fid


def get_chained(card: VirtualCard, apdu: str) -> tuple[bytes, int, int]:
    """Send, then follow 61XX with GET RESPONSE; returns (data, final SW, GET RESPONSE count)."""
    data, sw = send(card, apdu)
    rounds = 0
    while sw >> 8 == 0x61:
        more, sw = send(card, bytes((0x00, 0xC0, 0x00, 0x00, sw & 0xFF)))
        data += more
        rounds += 1
    return data, sw, rounds


@pytest.fixture(scope="module")
def moica_certs() -> list[cards.MoicaCert]:
    return scenarios.moica_certs(NOW, 412)


@pytest.fixture
def gen1(moica_certs: list[cards.MoicaCert]) -> cards.MoicaGen1Card:
    card = cards.MoicaGen1Card(moica_certs, CARD_NUMBER)
    card.power_on()
    return card


@pytest.fixture
def gen2(moica_certs: list[cards.MoicaCert]) -> cards.MoicaGen2Card:
    card = cards.MoicaGen2Card(moica_certs, CARD_NUMBER)
    card.power_on()
    return card


@pytest.fixture(scope="module")
def piv_certs() -> dict[int, bytes]:
    return scenarios.piv_certs(NOW, 800)


def cdf_entries(cdf_content: bytes) -> list[dict[str, object]]:
    """Decode the PKCS#15 CertificateObjects the way a profile would."""
    entries = []
    for obj in tlv.parse(cdf_content):
        common, cert_attrs, type_attrs = obj.children()
        x509_attrs = type_attrs.children()[0]
        path_obj = x509_attrs.children()[0]
        path, index, length = path_obj.children()
        entries.append(
            {
                "label": common.children()[0].value.decode(),
                "id": cert_attrs.children()[0].value,
                "is_ca": cert_attrs.child(0x01) is not None,
                "path": path.value,
                "offset": int.from_bytes(index.value, "big"),
                "length": int.from_bytes(length.value, "big"),
                "subject": x509_attrs.children()[1],
            }
        )
    return entries


# --------------------------------------------------------------------------- MOICA gen 1


def test_gen1_atr_is_the_documented_moica_atr(gen1: cards.MoicaGen1Card) -> None:
    assert gen1.atr == bytes.fromhex("3B B8 13 00 81 31 FA 52 43 48 54 4D 4F 49 43 41 A5")


def test_gen1_refuses_class_00(gen1: cards.MoicaGen1Card) -> None:
    assert send(gen1, "00A4000C023F00") == (b"", 0x6E00)
    assert send(gen1, "00A4040C10" + GEN2_AID.hex()) == (b"", 0x6E00)


def test_gen1_unsupported_instruction_and_missing_pkcs15_app(gen1: cards.MoicaGen1Card) -> None:
    assert send(gen1, "80CA004F00")[1] == 0x6D00
    assert send(gen1, "80A4000C025015")[1] == 0x6A82


def test_gen1_select_answers_without_data(gen1: cards.MoicaGen1Card) -> None:
    assert send(gen1, "80A40000023F00") == (b"", 0x9000)
    assert send(gen1, "80A4000C025030") == (b"", 0x9000)


def test_gen1_select_only_reaches_children_siblings_and_mf(gen1: cards.MoicaGen1Card) -> None:
    # From the MF, an EF two levels down is not reachable directly.
    assert send(gen1, "80A4000C0208F2")[1] == 0x6A82
    select_path(gen1, 0x80, "5030", "4104", "08F2")
    # 0900 is a sibling of the current DF (5030).
    select_path(gen1, 0x80, "0900", "0903")
    assert read_all(gen1, 0x80) == CARD_NUMBER.encode()


def test_gen1_card_number_and_version(gen1: cards.MoicaGen1Card) -> None:
    select_path(gen1, 0x80, "3F00", "0900", "0905")
    assert read_all(gen1, 0x80) == b"CHT V32N"


def test_gen1_reads_every_certificate_in_200_byte_chunks(
    gen1: cards.MoicaGen1Card, moica_certs: list[cards.MoicaCert]
) -> None:
    select_path(gen1, 0x80, "3F00", "5030", "4104")
    cdf = read_all(gen1, 0x80)
    entries = cdf_entries(cdf[: int.from_bytes(cdf[-2:], "little")])
    assert [e["offset"] for e in entries] == [0x0000, 0x0700, 0x0E00, 0x1500]
    select_path(gen1, 0x80, "08F2")
    for entry, (expected, _, _) in zip(entries, moica_certs, strict=True):
        offset, length = entry["offset"], entry["length"]
        assert isinstance(offset, int) and isinstance(length, int)
        got = b""
        while len(got) < length:
            pos = offset + len(got)
            want = min(0xC8, length - len(got))
            data, sw = send(gen1, bytes((0x80, 0xB0, pos >> 8, pos & 0xFF, want)))
            assert sw == 0x9000
            got += data
        assert got == expected
        assert x509.load_der_x509_certificate(got).subject.rfc4514_string()


def test_gen1_cdf_trailer_gives_content_length_and_entries(gen1: cards.MoicaGen1Card) -> None:
    select_path(gen1, 0x80, "3F00", "5030", "4104")
    cdf = read_all(gen1, 0x80)
    assert len(cdf) == 0x600
    length = int.from_bytes(cdf[-2:], "little")
    assert cdf[length:-2] == bytes(len(cdf) - length - 2)
    entries = cdf_entries(cdf[:length])
    assert [e["id"] for e in entries] == [b"SIGN", b"KEYX", b"CACert", b"ROOTCACert"]
    assert [e["is_ca"] for e in entries] == [False, False, True, True]
    assert {e["path"] for e in entries} == {bytes.fromhex("3F00503008F2")}
    assert entries[0]["label"] == "Signature certificate"


def test_gen1_read_binary_status_words(gen1: cards.MoicaGen1Card) -> None:
    select_path(gen1, 0x80, "3F00", "5030")
    assert send(gen1, "80B00000C8") == (b"", 0x6986)  # a DF is current, no EF
    select_path(gen1, 0x80, "0900", "0903")
    assert send(gen1, "80B00000C9") == (b"", 0x6700)  # above 200 bytes
    assert send(gen1, "80B0000000") == (b"", 0x6700)  # 00 means 256
    assert send(gen1, "80B0000020") == (b"", 0x6C10)  # only 16 bytes there
    assert send(gen1, "80B0000410") == (b"", 0x6C0C)
    assert send(gen1, "80B0001001") == (b"", 0x6B00)  # offset at the end
    assert send(gen1, "80B0000010") == (CARD_NUMBER.encode(), 0x9000)


def test_gen1_cert_file_is_ff_padded(gen1: cards.MoicaGen1Card) -> None:
    select_path(gen1, 0x80, "3F00", "5030", "08F2")
    data = read_all(gen1, 0x80)
    assert len(data) == 0x1C00
    assert data[-0x10:] == b"\xff" * 0x10


def test_gen1_token_info(gen1: cards.MoicaGen1Card) -> None:
    select_path(gen1, 0x80, "3F00", "5030", "5032")
    info = tlv.parse(read_all(gen1, 0x80))[0]
    version, serial, manufacturer, label = info.children()
    assert (version.tag, version.value) == (0x02, b"\x00")
    assert serial.value == cards.moica_token_serial(CARD_NUMBER).encode()
    assert serial.value.startswith(b"M-")
    assert manufacturer.value == b"Chunghwa Telecom"
    assert (label.tag, label.value) == (0x80, b"HiCOS PKI Smart Card")


def test_gen1_pin_commands_unsupported_but_pin_data_is_counted(gen1: cards.MoicaGen1Card) -> None:
    assert send(gen1, "8020008100")[1] == 0x6D00
    assert send(gen1, "80200081")[1] == 0x6D00
    assert gen1.pin_tries == 3
    send(gen1, "8C2000810831323334353637FF")
    assert gen1.pin_tries == 2


def test_gen1_power_on_returns_to_mf(gen1: cards.MoicaGen1Card) -> None:
    select_path(gen1, 0x80, "5030", "4104")
    gen1.power_on()
    assert send(gen1, "80B0000001") == (b"", 0x6986)
    assert send(gen1, "80A4000C024104")[1] == 0x6A82


def test_bad_der_card_keeps_cdf_but_certificates_do_not_parse(
    moica_certs: list[cards.MoicaCert],
) -> None:
    card = cards.BadDerMoicaCard(moica_certs, CARD_NUMBER)
    select_path(card, 0x80, "3F00", "5030", "4104")
    cdf = read_all(card, 0x80)
    entries = cdf_entries(cdf[: int.from_bytes(cdf[-2:], "little")])
    select_path(card, 0x80, "08F2")
    blob = read_all(card, 0x80)
    for entry in entries:
        offset, length = entry["offset"], entry["length"]
        assert isinstance(offset, int) and isinstance(length, int)
        with pytest.raises(ValueError):
            x509.load_der_x509_certificate(blob[offset : offset + length])


def test_gen1_overrides_replace_files(moica_certs: list[cards.MoicaCert]) -> None:
    card = cards.MoicaGen1Card(
        moica_certs, CARD_NUMBER, cdf_override=b"\x30\x85junk", cert_override=b"\x00" * 8
    )
    select_path(card, 0x80, "3F00", "5030", "4104")
    assert read_all(card, 0x80) == b"\x30\x85junk"
    select_path(card, 0x80, "08F2")
    assert read_all(card, 0x80) == b"\x00" * 8


# --------------------------------------------------------------------------- MOICA gen 2


def test_gen2_atr_is_the_chtgpkij_atr_with_a_correct_tck(gen2: cards.MoicaGen2Card) -> None:
    atr = gen2.atr
    assert atr is not None
    assert atr == bytes.fromhex("3BD8960081B1FE451F07") + b"CHTGPKIJ" + b"\xdd"
    check = 0
    for byte in atr[1:]:
        check ^= byte
    assert check == 0


def test_gen2_needs_the_aid_first(gen2: cards.MoicaGen2Card) -> None:
    assert send(gen2, "00A4000C025030")[1] == 0x6A82
    assert send(gen2, "80A4000C023F00")[1] == 0x6A82
    assert send(gen2, "00B00000C8")[1] == 0x6A82
    assert send(gen2, "00A4040C10" + GEN2_AID.hex()) == (b"", 0x9000)
    assert send(gen2, "80A4000C025030")[1] == 0x6E00
    select_path(gen2, 0x00, "5030", "5032")
    serial = tlv.parse(read_all(gen2, 0x00))[0].children()[1]
    assert serial.value == cards.moica_token_serial(CARD_NUMBER).encode()


def test_gen2_accepts_aid_select_with_le(gen2: cards.MoicaGen2Card) -> None:
    assert send(gen2, "00A4040010" + GEN2_AID.hex() + "00") == (b"", 0x9000)


def test_gen2_has_an_ascii_card_number_and_cdf_paths_under_7fff(
    gen2: cards.MoicaGen2Card, moica_certs: list[cards.MoicaCert]
) -> None:
    send(gen2, "00A4040C10" + GEN2_AID.hex())
    select_path(gen2, 0x00, "0900", "0903")
    assert read_all(gen2, 0x00, chunk=16) == CARD_NUMBER.encode()
    send(gen2, "00A4040C10" + GEN2_AID.hex())
    select_path(gen2, 0x00, "7FFF", "5030", "4104")
    cdf = read_all(gen2, 0x00, chunk=0x100)
    entries = cdf_entries(cdf[: int.from_bytes(cdf[-2:], "little")])
    assert {e["path"] for e in entries} == {bytes.fromhex("7FFF503008F2")}
    select_path(gen2, 0x00, "08F2")
    blob = read_all(gen2, 0x00, chunk=0xFF)
    assert blob[0x700 : 0x700 + len(moica_certs[1][0])] == moica_certs[1][0]


def test_gen2_power_on_deselects(gen2: cards.MoicaGen2Card) -> None:
    send(gen2, "00A4040C10" + GEN2_AID.hex())
    gen2.power_on()
    assert send(gen2, "00A4000C025030")[1] == 0x6A82


# --------------------------------------------------------------------------- PIV


def test_piv_other_aids_are_not_found(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs)
    assert send(card, "00A4040007A000000527210100")[1] == 0x6A82
    assert send(card, "00A4040006D2760001240100")[1] == 0x6A82


def test_piv_select_returns_apt(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs)
    data, sw = send(card, "00A4040009A0000003080000100000")
    assert sw == 0x9000
    apt = tlv.parse(data)[0]
    assert apt.tag == 0x61
    assert apt.child(0x4F) == tlv.Tlv(0x4F, bytes.fromhex("000010000100"))
    assert tlv.find(data, 0x79) is not None


def test_piv_long_object_is_chained_through_get_response(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs)
    send(card, "00A4040005A000000308")
    data, sw, rounds = get_chained(card, "00CB3FFF055C035FC10500")
    assert sw == 0x9000
    assert rounds >= 2
    assert data == cards.piv_cert_object(piv_certs[0x9A], compress=False)
    obj = tlv.parse(data)[0]
    assert obj.tag == 0x53
    assert obj.child(0x70) == tlv.Tlv(0x70, piv_certs[0x9A])
    assert obj.child(0x71) == tlv.Tlv(0x71, b"\x00")


def test_piv_chunks_are_256_bytes_and_61xx_counts_the_rest(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs)
    send(card, "00A4040005A000000308")
    full = cards.piv_cert_object(piv_certs[0x9C], compress=False)
    data, sw = send(card, "00CB3FFF055C035FC10A00")
    assert len(data) == 256
    assert sw == 0x6100 | (min(len(full) - 256, 256) & 0xFF)


def test_piv_compressed_slot_decompresses(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs, compress_slots={0x9C})
    send(card, "00A4040005A000000308")
    data, sw, _ = get_chained(card, "00CB3FFF055C035FC10A00")
    assert sw == 0x9000
    obj = tlv.parse(data)[0]
    assert obj.child(0x71) == tlv.Tlv(0x71, b"\x01")
    body = obj.child(0x70)
    assert body is not None
    assert gzip.decompress(body.value) == piv_certs[0x9C]


def test_piv_get_data_errors(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs)
    assert send(card, "00CB3FFF055C035FC10500")[1] != 0x9000  # not selected yet
    send(card, "00A4040005A000000308")
    assert send(card, "00CB3FFF055C035FC10B00")[1] == 0x6A82  # empty 9D slot
    assert send(card, "00CB3FFF055C035FC10700")[1] == 0x6A82  # no CCC
    assert send(card, "00CB0000055C035FC10500")[1] == 0x6A86
    assert send(card, "00CB3FFF055D035FC10500")[1] == 0x6A80
    assert send(card, "00C0000000")[1] == 0x6985  # nothing pending


def test_piv_discovery_and_chuid(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs)
    send(card, "00A4040005A000000308")
    data, sw = send(card, "00CB3FFF035C017E00")
    assert sw == 0x9000
    assert tlv.parse(data)[0].child(0x5F2F) == tlv.Tlv(0x5F2F, b"\x40\x00")
    data, sw = send(card, "00CB3FFF055C035FC10200")
    chuid = tlv.parse(data)[0]
    fascn, guid, expiry = chuid.child(0x30), chuid.child(0x34), chuid.child(0x35)
    assert fascn is not None and len(fascn.value) == 25
    assert guid is not None and len(guid.value) == 16
    assert expiry is not None and expiry.value.isdigit() and len(expiry.value) == 8
    assert send(cards.PivCard(piv_certs, chuid=False), "00A4040005A000000308")[1] == 0x9000


def test_piv_empty_verify_reports_tries_and_spends_none(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs)
    send(card, "00A4040005A000000308")
    for _ in range(5):
        assert send(card, "0020008000") == (b"", 0x63C3)
        assert send(card, "00200080") == (b"", 0x63C3)
    assert card.pin_tries == 3
    assert send(card, "00200081")[1] == 0x63C3


def test_piv_blocked_pin_reports_6983(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs, pin_tries=0)
    send(card, "00A4040005A000000308")
    assert send(card, "00200080")[1] == 0x6983
    assert card.pin_tries == 0


def test_piv_verify_with_a_pin_costs_a_try(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs, pin_tries=2)
    send(card, "00A4040005A000000308")
    assert send(card, "0020008008313233343536FFFF")[1] == 0x63C1
    assert card.pin_tries == 1
    assert send(card, "0020008008313233343536FFFF")[1] == 0x6983
    assert card.pin_tries == 0


def test_piv_power_on_deselects(piv_certs: dict[int, bytes]) -> None:
    card = cards.PivCard(piv_certs)
    send(card, "00A4040005A000000308")
    card.power_on()
    assert send(card, "00CB3FFF055C035FC10500")[1] != 0x9000


def test_garbage_piv_objects_fail_strict_parsing(piv_certs: dict[int, bytes]) -> None:
    card = cards.GarbageTlvPivCard(piv_certs)
    assert send(card, "00A4040005A000000308")[1] == 0x9000
    data, sw, _ = get_chained(card, "00CB3FFF055C035FC10500")
    assert sw == 0x9000
    outer = tlv.parse(data)[0]
    with pytest.raises(CardDataError):
        outer.children()
    chuid, sw = send(card, "00CB3FFF055C035FC10200")
    assert sw == 0x9000
    assert chuid[:1] != b"\x53" or len(chuid) < 2


# --------------------------------------------------------------------------- OpenPGP


@pytest.fixture
def openpgp() -> cards.OpenPgpCard:
    card = cards.OpenPgpCard(der(certs.openpgp_person(NOW, 365)), pw1_tries=3, pw3_tries=2)
    assert send(card, "00A4040006D2760001240100") == (b"", 0x9000)
    return card


def test_openpgp_application_related_data(openpgp: cards.OpenPgpCard) -> None:
    data, sw, _ = get_chained(openpgp, "00CA006E00")
    assert sw == 0x9000
    app = tlv.parse(data)[0]
    assert app.tag == 0x6E
    aid = app.child(0x4F)
    assert aid is not None and aid.value[:6] == bytes.fromhex("D27600012401")
    assert aid.value[10:14] == (0x12345678).to_bytes(4, "big")
    discretionary = app.child(0x73)
    assert discretionary is not None
    status_do = discretionary.child(0xC4)
    assert status_do is not None and status_do.value == bytes.fromhex("017F7F7F030002")
    fingerprints = discretionary.child(0xC5)
    assert fingerprints is not None and len(fingerprints.value) == 60


def test_openpgp_simple_objects(openpgp: cards.OpenPgpCard) -> None:
    assert send(openpgp, "00CA00C400") == (bytes.fromhex("017F7F7F030002"), 0x9000)
    aid, sw = send(openpgp, "00CA004F00")
    assert sw == 0x9000 and len(aid) == 16
    holder = tlv.parse(send(openpgp, "00CA006500")[0])[0]
    assert holder.child(0x5B) == tlv.Tlv(0x5B, b"Doe<<Jane")
    assert send(openpgp, "00CA5F5000") == (b"", 0x9000)
    assert send(openpgp, "00CA010100")[1] == 0x6A88


def test_openpgp_certificate_is_chained(openpgp: cards.OpenPgpCard) -> None:
    data, sw, rounds = get_chained(openpgp, "00CA7F2100")
    assert sw == 0x9000 and rounds >= 1
    assert data == openpgp.cert
    assert send(cards.OpenPgpCard(None), "00A4040006D2760001240100")[1] == 0x9000


def test_openpgp_other_aid_and_empty_verify(openpgp: cards.OpenPgpCard) -> None:
    assert send(openpgp, "00A4040005A000000308")[1] == 0x6A82
    assert send(openpgp, "00200081")[1] == 0x63C3
    assert send(openpgp, "00200083")[1] == 0x63C2
    assert (openpgp.pw1_tries, openpgp.pw3_tries) == (3, 2)
    send(openpgp, "0020008206313233343536")
    assert openpgp.pw1_tries == 2


# --------------------------------------------------------------------------- other cards


def test_faulty_cards() -> None:
    assert cards.MuteCard().atr is None
    assert send(cards.ErrorCard(), "00A4040005A000000308") == (b"", 0x6F00)
    unknown = cards.UnknownCard()
    assert send(unknown, "00A4040005A000000308")[1] == 0x6A82
    assert send(unknown, "00CA004F00")[1] == 0x6D00
    assert unknown.received == [bytes.fromhex("00A4040005A000000308"), bytes.fromhex("00CA004F00")]


def test_malformed_apdu_is_wrong_length(gen1: cards.MoicaGen1Card) -> None:
    assert send(gen1, "80A4000C053F00")[1] == 0x6700
    assert send(gen1, "80A4")[1] == 0x6700


# --------------------------------------------------------------------------- certificates and scenarios


def test_moica_person_dates_and_names() -> None:
    cert = certs.moica_person(NOW, 412, usage="encrypt")
    assert cert.not_valid_after_utc == NOW + timedelta(days=412)
    assert cert.not_valid_before_utc == NOW - timedelta(days=1826 - 412)
    assert cert.issuer.rfc4514_string() == "OU=內政部憑證管理中心,O=行政院,C=TW"
    assert certs.moica_ca()[0].issuer == certs.grca_root()[0].subject
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "王小明"


def test_not_yet_valid_and_hostile_names() -> None:
    cert = certs.piv_person(NOW, 800, name="<script>alert(1)</script>", not_yet_valid=72)
    assert cert.not_valid_before_utc == NOW + timedelta(hours=72)
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == "<script>alert(1)</script>"


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_every_scenario_builds(name: str) -> None:
    readers = scenarios.build(name, NOW)
    assert readers
    assert all(r.startswith("Cardwatch Demo Reader ") for r in readers)
    for card in readers.values():
        assert card is None or isinstance(card, VirtualCard)


def test_default_scenario_has_moica_and_piv() -> None:
    readers = scenarios.build("default", NOW)
    assert isinstance(readers["Cardwatch Demo Reader 0"], cards.MoicaGen1Card)
    piv = readers["Cardwatch Demo Reader 1"]
    assert isinstance(piv, cards.PivCard) and set(piv.certs) == {0x9A, 0x9C}


def test_unknown_scenario_is_an_error() -> None:
    with pytest.raises(ValueError):
        scenarios.build("nope", NOW)
