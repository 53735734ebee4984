"""Virtual cards that answer like the real ones: MOICA/HiCOS gen 1 and 2, PIV, OpenPGP, faulty cards."""

from __future__ import annotations

import gzip
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..card.tlv import encode
from .card import VirtualCard, sw_bytes

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_CONDITIONS = 0x6985
SW_NO_CURRENT_EF = 0x6986
SW_BLOCKED = 0x6983
SW_WRONG_DATA = 0x6A80
SW_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_DATA_NOT_FOUND = 0x6A88
SW_OFFSET = 0x6B00
SW_INS = 0x6D00
SW_CLA = 0x6E00
SW_UNKNOWN = 0x6F00

PIN_INS = frozenset((0x20, 0x24, 0x2C))


def with_tck(atr_without_tck: bytes) -> bytes:
    """Append TCK: the XOR of every ATR byte after TS (required when T=1 is offered)."""
    tck = 0
    for byte in atr_without_tck[1:]:
        tck ^= byte
    return atr_without_tck + bytes((tck,))


def der_int(value: int) -> bytes:
    """Minimal DER INTEGER contents of a non-negative number (leading 00 when the high bit is set)."""
    return value.to_bytes((value.bit_length() + 8) // 8, "big")


@dataclass(frozen=True)
class Apdu:
    """A decoded short command APDU."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None

    @property
    def ne(self) -> int:
        """Expected length with 00 meaning 256 (0 when Le is absent)."""
        if self.le is None:
            return 0
        return self.le or 256


def parse_apdu(apdu: bytes) -> Apdu | None:
    """Split a short APDU into its fields; None when the lengths do not add up."""
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if not body:
        return Apdu(cla, ins, p1, p2, b"", None)
    if len(body) == 1:
        return Apdu(cla, ins, p1, p2, b"", body[0])
    lc = body[0]
    if lc == 0:
        # Extended length: none of the simulated cards supports it.
        return None
    if len(body) == 1 + lc:
        return Apdu(cla, ins, p1, p2, body[1:], None)
    if len(body) == 2 + lc:
        return Apdu(cla, ins, p1, p2, body[1 : 1 + lc], body[-1])
    return None


def status(sw: int, data: bytes = b"") -> bytes:
    """Response bytes: ``data`` then the status word."""
    return data + sw_bytes(sw)


class ChainingMixin:
    """ISO 7816-4 response chaining: long answers come out 256 bytes at a time behind 61XX."""

    _pending: bytes = b""

    def _reset_chain(self) -> None:
        self._pending = b""

    def _chained(self, data: bytes) -> bytes:
        self._pending = b""
        if len(data) <= 256:
            return status(SW_OK, data)
        self._pending = data[256:]
        return status(0x6100 | (min(len(self._pending), 256) & 0xFF), data[:256])

    def _triage(self, apdu: bytes) -> Apdu | bytes:
        """Common first steps: decode, insist on CLA 00, serve GET RESPONSE.

        Returns the decoded command to handle, or the finished answer."""
        cmd = parse_apdu(apdu)
        if cmd is None:
            self._reset_chain()
            return status(SW_WRONG_LENGTH)
        if cmd.cla != 0x00:
            self._reset_chain()
            return status(SW_CLA)
        if cmd.ins == 0xC0:
            return self._get_response(cmd)
        self._reset_chain()
        return cmd

    def _get_response(self, cmd: Apdu) -> bytes:
        if not self._pending:
            return status(SW_CONDITIONS)
        size = cmd.ne or 256
        chunk, self._pending = self._pending[:size], self._pending[size:]
        if self._pending:
            return status(0x6100 | (min(len(self._pending), 256) & 0xFF), chunk)
        return status(SW_OK, chunk)


# --------------------------------------------------------------------------- MOICA / HiCOS

MOICA_GEN1_ATR = bytes.fromhex("3B B8 13 00 81 31 FA 52 43 48 54 4D 4F 49 43 41 A5")
# pcsc-tools lists this ATR (historical bytes "CHTGPKIJ") as the citizen digital certificate.
MOICA_GEN2_ATR = bytes.fromhex("3B D8 96 00 81 B1 FE 45 1F 07 43 48 54 47 50 4B 49 4A DD")
# A gen-1 HiCOS card that is not a MOICA card (say a company certificate card): the same T7S
# chip with other historical bytes. These exact bytes are invented; "CHT" is what matters.
HICOS_GEN1_OTHER_ATR = with_tck(bytes.fromhex("3B B8 13 00 81 31 FA 52") + b"CHTHICOS")
MOICA_GEN2_AID = bytes.fromhex("A0 00 00 02 83 00 00 06 22 01 69 64 00 01 01 01")
MOICA_CERT_SLOT = 0x700
MOICA_CERT_FILE_SIZE = 0x1C00
MOICA_CDF_SIZE = 0x600
MOICA_MANUFACTURER = b"Chunghwa Telecom"
MOICA_TOKEN_LABEL = b"HiCOS PKI Smart Card"

MoicaCert = tuple[bytes, str, bool]


@dataclass
class Node:
    """A file (EF, with ``data``) or directory (DF, with ``children``) on a card."""

    fid: int
    data: bytes = b""
    children: dict[int, Node] = field(default_factory=dict)
    parent: Node | None = None
    is_df: bool = False

    def add(self, child: Node) -> Node:
        """Attach ``child`` below this DF."""
        child.parent = self
        self.children[child.fid] = child
        return child


def _df(fid: int, *children: Node) -> Node:
    node = Node(fid, is_df=True)
    for child in children:
        node.add(child)
    return node


def _directory_file(content: bytes, minimum: int) -> bytes:
    # HiCOS directory files are fixed-size; the last two bytes give the content length (LE).
    size = max(minimum, (len(content) + 2 + 0xFF) // 0x100 * 0x100)
    return content + bytes(size - len(content) - 2) + len(content).to_bytes(2, "little")


def _cert_id(der: bytes, is_ca: bool, index: int, ca_index: int) -> bytes:
    # The ids the official middleware shows: SIGN, KEYX, CACert, ROOTCACert.
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        cert = None
    if is_ca:
        if cert is not None and cert.issuer == cert.subject:
            return b"ROOTCACert"
        return b"CACert" if ca_index == 0 else f"CACert{ca_index + 1}".encode()
    try:
        if cert is None:
            raise ValueError("not DER")
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        if usage.value.key_encipherment:
            return b"KEYX"
        return b"SIGN"
    except (ValueError, x509.ExtensionNotFound):
        return (b"SIGN", b"KEYX")[index] if index < 2 else f"USR{index}".encode()


def _names_and_serial(der: bytes) -> tuple[bytes, bytes, int]:
    try:
        cert = x509.load_der_x509_certificate(der)
        return cert.subject.public_bytes(), cert.issuer.public_bytes(), cert.serial_number
    except ValueError:
        return b"\x30\x00", b"\x30\x00", 0


def moica_cdf_entry(
    der: bytes, label: str, cert_id: bytes, is_ca: bool, path: bytes, offset: int
) -> bytes:
    """One PKCS#15 CertificateObject as HiCOS writes it into the CDF."""
    subject, issuer, serial = _names_and_serial(der)
    common = encode(0x30, encode(0x0C, label.encode()) + bytes.fromhex("03020640"))
    cert_attrs = encode(0x30, encode(0x04, cert_id) + (b"\x01\x01\xff" if is_ca else b""))
    where = encode(
        0x30,
        encode(0x04, path) + encode(0x02, der_int(offset)) + encode(0x80, der_int(len(der))),
    )
    x509_attrs = where + subject + encode(0xA0, issuer) + encode(0x02, der_int(serial))
    return encode(0x30, common + cert_attrs + encode(0xA1, encode(0x30, x509_attrs)))


def moica_cdf(certs: Iterable[MoicaCert], path: bytes) -> bytes:
    """CDF content (no padding) for ``certs`` stored at 0x700 steps in ``path``."""
    out = b""
    ca_index = 0
    for index, (der, label, is_ca) in enumerate(certs):
        cert_id = _cert_id(der, is_ca, index, ca_index)
        ca_index += is_ca
        out += moica_cdf_entry(der, label, cert_id, is_ca, path, index * MOICA_CERT_SLOT)
    return out


def moica_cert_file(ders: Iterable[bytes]) -> bytes:
    """The 08F2 file: FF-filled, certificate i at offset i*0x700."""
    ders = list(ders)
    data = bytearray(b"\xff" * max(MOICA_CERT_FILE_SIZE, len(ders) * MOICA_CERT_SLOT))
    for index, der in enumerate(ders):
        if len(der) > MOICA_CERT_SLOT:
            raise ValueError(f"certificate {index} is {len(der)} bytes, more than a 0x700 slot")
        data[index * MOICA_CERT_SLOT : index * MOICA_CERT_SLOT + len(der)] = der
    return bytes(data)


def moica_token_serial(card_number: str) -> str:
    """TokenInfo's serial: an ``M-`` string (as the public traces show), not the card number."""
    return "M-" + card_number[-10:]


def moica_token_info(card_number: str) -> bytes:
    """TokenInfo (5032): version, serialNumber (``M-...``), manufacturer, label."""
    return encode(
        0x30,
        encode(0x02, b"\x00")
        + encode(0x04, moica_token_serial(card_number).encode("ascii"))
        + encode(0x0C, MOICA_MANUFACTURER)
        + encode(0x80, MOICA_TOKEN_LABEL),
    )


def _dummy_directory(label: bytes) -> bytes:
    return _directory_file(encode(0x30, encode(0x30, encode(0x0C, label))), 0x40)


class _MoicaCard(VirtualCard):
    """Shared file system and READ BINARY rules of HiCOS cards."""

    root_fid = 0x3F00
    cert_path = bytes.fromhex("3F00503008F2")
    max_le = 0xC8

    def __init__(
        self,
        certs: list[MoicaCert],
        card_number: str,
        *,
        cdf_override: bytes | None = None,
        cert_override: bytes | None = None,
        eof_6700: bool = False,
        tight_directory: bool = False,
        junk_cdf_entry: bool = False,
        version: bytes = b"CHT V32N",
        atr: bytes | None = None,
    ) -> None:
        super().__init__()
        if atr is not None:
            self.atr = atr
        #: Answer 6700 to a read that runs past the end of a file (instead of 6Cxx).
        self.eof_6700 = eof_6700
        self.version = version
        if len(card_number) != 16 or not card_number.isascii():
            raise ValueError("a HiCOS card number is 16 ASCII characters")
        self.certs = list(certs)
        self.card_number = card_number
        self.pin_tries = 3
        cdf = cdf_override if cdf_override is not None else moica_cdf(self.certs, self.cert_path)
        if junk_cdf_entry:
            # An entry no PKCS#15 reader can decode, between the good ones.
            cdf = encode(0x30, encode(0x02, b"\x07") + encode(0x04, b"??")) + cdf
        cert_data = (
            cert_override if cert_override is not None else moica_cert_file(d for d, _, _ in certs)
        )
        if cdf_override is not None or tight_directory:
            cdf_file = cdf  # the file ends where the directory's content ends
        else:
            cdf_file = _directory_file(cdf, MOICA_CDF_SIZE)
        self.pkcs15 = _df(
            0x5030,
            Node(0x4100, _dummy_directory(b"PrKDF")),
            Node(0x4101, _dummy_directory(b"PuKDF")),
            Node(0x4104, cdf_file),
            Node(0x4107, _dummy_directory(b"DODF")),
            Node(0x5032, moica_token_info(card_number)),
            Node(0x08F2, cert_data),
        )
        self.root = self._build_root()
        self.current_df: Node = self.root
        self.current_ef: Node | None = None

    def _build_root(self) -> Node:
        info = _df(
            0x0900, Node(0x0903, self.card_number.encode("ascii")), Node(0x0905, self.version)
        )
        return _df(self.root_fid, info, self.pkcs15)

    def power_on(self) -> None:
        """A reset returns to the root DF with no current EF."""
        self.current_df = self.root
        self.current_ef = None

    def _note_pin_attempt(self, cmd: Apdu) -> None:
        # A PIN-bearing command would cost a try on the real card; make that damage visible.
        if cmd.ins in PIN_INS and cmd.data:
            self.pin_tries = max(0, self.pin_tries - 1)

    def _select_fid(self, cmd: Apdu) -> bytes:
        if cmd.p1 != 0x00:
            return status(SW_WRONG_P1P2)
        if len(cmd.data) != 2:
            return status(SW_WRONG_LENGTH)
        fid = int.from_bytes(cmd.data, "big")
        target: Node | None = None
        if fid == self.root.fid:
            target = self.root
        elif fid in self.current_df.children:
            target = self.current_df.children[fid]
        elif self.current_df.parent is not None and fid in self.current_df.parent.children:
            target = self.current_df.parent.children[fid]
        if target is None:
            return status(SW_NOT_FOUND)
        if target.is_df:
            self.current_df = target
            self.current_ef = None
        else:
            assert target.parent is not None
            self.current_df = target.parent
            self.current_ef = target
        return status(SW_OK)

    def _read_binary(self, cmd: Apdu) -> bytes:
        if cmd.data or cmd.le is None:
            return status(SW_WRONG_LENGTH)
        if cmd.p1 & 0x80:
            # Short-EF addressing is not implemented by these cards.
            return status(SW_WRONG_P1P2)
        wanted = cmd.ne
        if wanted > self.max_le:
            return status(SW_WRONG_LENGTH)
        if self.current_ef is None:
            return status(SW_NO_CURRENT_EF)
        offset = (cmd.p1 << 8) | cmd.p2
        data = self.current_ef.data
        if offset >= len(data):
            return status(SW_OFFSET)
        remaining = len(data) - offset
        if remaining < wanted:
            return status(SW_WRONG_LENGTH if self.eof_6700 else 0x6C00 | remaining)
        return status(SW_OK, data[offset : offset + wanted])


class MoicaGen1Card(_MoicaCard):
    """First-generation MOICA card (HiCOS T7S, ``CHT V32N``): CLA 80, SELECT by FID only."""

    name = "MOICA gen 1 (virtual)"
    atr = MOICA_GEN1_ATR

    def _build_root(self) -> Node:
        self.pkcs15.add(Node(0x0810, b"\x30\x00" + bytes(0x10E)))
        self.pkcs15.add(Node(0x0811, b"\x30\x00" + bytes(0x10E)))
        return super()._build_root()

    def process(self, apdu: bytes) -> bytes:
        """Answer as a T7S card: CLA 80 only, SELECT and READ BINARY only."""
        cmd = parse_apdu(apdu)
        if cmd is None:
            return status(SW_WRONG_LENGTH)
        self._note_pin_attempt(cmd)
        if cmd.cla != 0x80:
            return status(SW_CLA)
        if cmd.ins == 0xA4:
            return self._select_fid(cmd)
        if cmd.ins == 0xB0:
            return self._read_binary(cmd)
        return status(SW_INS)


class MoicaGen2Card(_MoicaCard):
    """Second-generation MOICA card (GPPKI applet): SELECT the AID, then CLA 00 below 7FFF."""

    name = "MOICA gen 2 (virtual)"
    atr = MOICA_GEN2_ATR
    root_fid = 0x7FFF
    cert_path = bytes.fromhex("7FFF503008F2")
    max_le = 0x100
    selected = False  # set per instance once the AID is selected; a reset clears it
    #: Refuse SELECT by file id with P2 0C (no response data) with 6A86, as some applets do.
    refuse_p2_0c = False

    def __init__(
        self, certs: list[MoicaCert], card_number: str, *, refuse_p2_0c: bool = False, **kw: Any
    ) -> None:
        super().__init__(certs, card_number, **kw)
        self.refuse_p2_0c = refuse_p2_0c

    def power_on(self) -> None:
        """A reset deselects the applet."""
        super().power_on()
        self.selected = False

    def process(self, apdu: bytes) -> bytes:
        """Answer as the GPPKI applet."""
        cmd = parse_apdu(apdu)
        if cmd is None:
            return status(SW_WRONG_LENGTH)
        self._note_pin_attempt(cmd)
        if cmd.cla == 0x00 and cmd.ins == 0xA4 and cmd.p1 == 0x04:
            if cmd.data != MOICA_GEN2_AID:
                return status(SW_NOT_FOUND)
            self.selected = True
            self.current_df = self.root
            self.current_ef = None
            return status(SW_OK)
        if not self.selected:
            return status(SW_NOT_FOUND)
        if cmd.cla != 0x00:
            return status(SW_CLA)
        if cmd.ins == 0xA4:
            if cmd.p2 == 0x0C and self.refuse_p2_0c:
                return status(SW_WRONG_P1P2)
            if cmd.p2 not in (0x00, 0x04, 0x0C):
                return status(SW_WRONG_P1P2)
            answer = self._select_fid(cmd)
            if cmd.p2 == 0x04 and answer == status(SW_OK) and cmd.data:
                # P2 04 asks for the FCP: file id (and size for an EF).
                return status(SW_OK, self._fcp(int.from_bytes(cmd.data, "big")))
            return answer
        if cmd.ins == 0xB0:
            return self._read_binary(cmd)
        return status(SW_INS)

    def _fcp(self, fid: int) -> bytes:
        body = encode(0x83, fid.to_bytes(2, "big"))
        if self.current_ef is not None:
            body = encode(0x80, len(self.current_ef.data).to_bytes(2, "big")) + body
        return encode(0x62, body)


# --------------------------------------------------------------------------- PIV

PIV_AID_PREFIX = bytes.fromhex("A000000308")
PIV_ATR = with_tck(bytes.fromhex("3B888001") + b"PIVCARD0")
PIV_APT = encode(
    0x61,
    encode(0x4F, bytes.fromhex("00 00 10 00 01 00")) + encode(0x79, encode(0x4F, PIV_AID_PREFIX)),
)
PIV_DISCOVERY = encode(
    0x7E,
    encode(0x4F, bytes.fromhex("A0 00 00 03 08 00 00 10 00 01 00")) + encode(0x5F2F, b"\x40\x00"),
)
PIV_SLOT_OBJECTS = {0x9A: 0x5FC105, 0x9C: 0x5FC10A, 0x9D: 0x5FC10B, 0x9E: 0x5FC101}
PIV_CHUID = 0x5FC102
# The FASC-N most test and non-federal cards carry (agency code 9999, all nines).
PIV_FASCN = bytes.fromhex("D4E739DA739CED39CE739D836858210842108421C84210C3EB")
PIV_GUID = bytes.fromhex("43617264776174636850495647554944")


def piv_cert_object(der: bytes, compress: bool) -> bytes:
    """The 53 container for a certificate slot (gzip when ``compress``)."""
    body = gzip.compress(der, mtime=0) if compress else der
    return encode(
        0x53,
        encode(0x70, body) + encode(0x71, b"\x01" if compress else b"\x00") + encode(0xFE, b""),
    )


def piv_chuid(expiry: str) -> bytes:
    """A CHUID: FASC-N, GUID, expiry YYYYMMDD, empty signature and LRC."""
    return encode(
        0x53,
        encode(0x30, PIV_FASCN)
        + encode(0x34, PIV_GUID)
        + encode(0x35, expiry.encode("ascii"))
        + encode(0x3E, b"")
        + encode(0xFE, b""),
    )


class PivCard(ChainingMixin, VirtualCard):
    """A PIV card after NIST SP 800-73-4, with a PIN nobody in the tests knows."""

    name = "PIV (virtual)"

    def __init__(
        self,
        certs: dict[int, bytes],
        pin_tries: int = 3,
        max_tries: int = 3,
        compress_slots: Iterable[int] = (),
        chuid: bool = True,
        atr: bytes = PIV_ATR,
        *,
        puk_tries: int = 3,
        chuid_expiry: str = "20351231",
        global_pin_tries: int | None = None,
        counter_630x: bool = False,
    ) -> None:
        super().__init__()
        #: None: no Global PIN; else its tries, and Discovery names it the primary PIN.
        self.global_pin_tries = global_pin_tries
        #: Report tries as 630X (as the YubiKey NEO does) instead of 63CX.
        self.counter_630x = counter_630x
        unknown = set(certs) - set(PIV_SLOT_OBJECTS)
        if unknown:
            raise ValueError(f"unknown PIV slots: {sorted(unknown)}")
        self.certs = dict(certs)
        self.pin_tries = pin_tries
        self.puk_tries = puk_tries
        self.max_tries = max_tries
        self.compress_slots = frozenset(compress_slots)
        self.chuid = chuid
        self.chuid_expiry = chuid_expiry
        self.atr = atr
        # Random secrets: any VERIFY carrying data is a wrong guess and costs a try.
        self._pin = secrets.token_bytes(8)
        self._puk = secrets.token_bytes(8)
        self.selected = False
        self._reset_chain()

    def power_on(self) -> None:
        """A reset deselects the application and drops pending response data."""
        self.selected = False
        self._reset_chain()

    def data_object(self, tag: int) -> bytes | None:
        """The BER-TLV answer for a data object tag, or None when absent."""
        for slot, object_tag in PIV_SLOT_OBJECTS.items():
            if tag == object_tag:
                der = self.certs.get(slot)
                if der is None:
                    return None
                return piv_cert_object(der, slot in self.compress_slots)
        if tag == PIV_CHUID:
            return piv_chuid(self.chuid_expiry) if self.chuid else None
        if tag == 0x7E:
            if self.global_pin_tries is not None:
                return encode(
                    0x7E,
                    encode(0x4F, PIV_AID_PREFIX + bytes.fromhex("000010000100"))
                    + encode(0x5F2F, b"\x60\x20"),
                )
            return PIV_DISCOVERY
        return None

    def process(self, apdu: bytes) -> bytes:
        """Answer SELECT, GET DATA, GET RESPONSE and VERIFY."""
        cmd = self._triage(apdu)
        if isinstance(cmd, bytes):
            return cmd
        if cmd.ins == 0xA4:
            return self._select(cmd)
        if not self.selected:
            return status(SW_INS)
        if cmd.ins == 0xCB:
            return self._get_data(cmd)
        if cmd.ins == 0x20:
            return self._verify(cmd)
        return status(SW_INS)

    def _select(self, cmd: Apdu) -> bytes:
        if cmd.p1 != 0x04 or not cmd.data.startswith(PIV_AID_PREFIX):
            return status(SW_NOT_FOUND)
        self.selected = True
        return self._chained(PIV_APT)

    def _get_data(self, cmd: Apdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF):
            return status(SW_WRONG_P1P2)
        data = cmd.data
        if len(data) < 3 or data[0] != 0x5C or data[1] != len(data) - 2 or data[1] > 3:
            return status(SW_WRONG_DATA)
        found = self.data_object(int.from_bytes(data[2:], "big"))
        if found is None:
            return status(SW_NOT_FOUND)
        return self._chained(found)

    def _verify(self, cmd: Apdu) -> bytes:
        if cmd.p1 == 0xFF and not cmd.data:
            # P1 FF resets the security status: no try is spent.
            return status(SW_OK)
        if cmd.p1 != 0x00:
            return status(SW_WRONG_P1P2)
        if cmd.p2 == 0x80:
            tries, secret = self.pin_tries, self._pin
        elif cmd.p2 == 0x81:
            tries, secret = self.puk_tries, self._puk
        elif cmd.p2 == 0x00 and self.global_pin_tries is not None:
            tries, secret = self.global_pin_tries, self._pin
        else:
            return status(SW_DATA_NOT_FOUND)
        counter = 0x6300 if self.counter_630x else 0x63C0
        if tries <= 0:
            return status(SW_BLOCKED)
        if not cmd.data:
            return status(counter | min(tries, 15))
        if cmd.data == secret:
            tries = self.max_tries
            answer = status(SW_OK)
        else:
            tries -= 1
            answer = status(counter | min(tries, 15)) if tries else status(SW_BLOCKED)
        if cmd.p2 == 0x80:
            self.pin_tries = tries
        elif cmd.p2 == 0x81:
            self.puk_tries = tries
        else:
            self.global_pin_tries = tries
        return answer


# --------------------------------------------------------------------------- OpenPGP

OPENPGP_RID = bytes.fromhex("D27600012401")
OPENPGP_ATR = bytes.fromhex("3BDA18FF81B1FE751F030031C573C001400090000C")
OPENPGP_HISTORICAL = bytes.fromhex("0031C573C00140009000")
OPENPGP_EXT_CAPS = bytes.fromhex("7D000BFE080000FF0000")
OPENPGP_RSA2048 = bytes.fromhex("010800002000")


SELECT_DATA_7F21 = bytes.fromhex("60045C027F21")


class OpenPgpCard(ChainingMixin, VirtualCard):
    """An OpenPGP card (spec v3.4): X.509 certificates in DO 7F21, occurrences 0 (AUT),
    1 (DEC) and 2 (SIG) picked by SELECT DATA; ``cert`` is occurrence 0."""

    name = "OpenPGP (virtual)"

    def __init__(
        self,
        cert: bytes | None,
        pw1_tries: int = 3,
        rc_tries: int = 0,
        pw3_tries: int = 3,
        serial: int = 0x12345678,
        name: str = "Doe<<Jane",
        atr: bytes = OPENPGP_ATR,
        *,
        dec_cert: bytes | None = None,
        sig_cert: bytes | None = None,
        version: tuple[int, int] = (3, 4),
        manufacturer: int = 0x0006,
        yubikey_543: bool = False,
        terminated: bool = False,
    ) -> None:
        super().__init__()
        self.cert = cert
        self.certs: dict[int, bytes | None] = {0: cert, 1: dec_cert, 2: sig_cert}
        self.version = version
        self.manufacturer = manufacturer
        #: SELECT DATA wants the extra leading 06 (YubiKey firmware up to 5.4.3).
        self.yubikey_543 = yubikey_543
        #: The application is terminated: SELECT answers 6285 and nothing else works.
        self.terminated = terminated
        self.occurrence = 0
        self.pw1_tries = pw1_tries
        self.rc_tries = rc_tries
        self.pw3_tries = pw3_tries
        self.serial = serial
        self.holder = name
        self.atr = atr
        self._pw1 = secrets.token_bytes(8)
        self._pw3 = secrets.token_bytes(8)
        self.selected = False
        self._reset_chain()

    @property
    def aid(self) -> bytes:
        """Full AID: RID, application, version 3.4, manufacturer 0006, serial, RFU."""
        return (
            OPENPGP_RID
            + bytes(self.version)
            + self.manufacturer.to_bytes(2, "big")
            + self.serial.to_bytes(4, "big")
            + b"\x00\x00"
        )

    def pw_status(self) -> bytes:
        """DO C4: PW1 valid for several commands, max lengths, then the three retry counters."""
        return bytes((0x01, 0x7F, 0x7F, 0x7F, self.pw1_tries, self.rc_tries, self.pw3_tries))

    def _fingerprints(self) -> bytes:
        if self.cert is None:
            return bytes(60)
        # Only the signature key is "present"; its fingerprint just has to be stable and non-zero.
        digest = hashes.Hash(hashes.SHA1())
        digest.update(self.cert)
        return digest.finalize() + bytes(40)

    def application_data(self) -> bytes:
        """DO 6E with its own tag, as real cards return it."""
        discretionary = (
            encode(0xC0, OPENPGP_EXT_CAPS)
            + encode(0xC1, OPENPGP_RSA2048)
            + encode(0xC2, OPENPGP_RSA2048)
            + encode(0xC3, OPENPGP_RSA2048)
            + encode(0xC4, self.pw_status())
            + encode(0xC5, self._fingerprints())
            + encode(0xC6, bytes(60))
            + encode(0xCD, bytes.fromhex("5F5E1000") + bytes(8) if self.cert else bytes(12))
        )
        return encode(
            0x6E,
            encode(0x4F, self.aid)
            + encode(0x5F52, OPENPGP_HISTORICAL)
            + encode(0x73, discretionary),
        )

    def data_object(self, tag: int) -> bytes | None:
        """The answer to GET DATA ``tag``, or None for 6A88."""
        if tag == 0x004F:
            return self.aid
        if tag == 0x006E:
            return self.application_data()
        if tag == 0x0065:
            return encode(
                0x65,
                encode(0x5B, self.holder.encode("utf-8"))
                + encode(0x5F2D, b"en")
                + encode(0x5F35, b"9"),
            )
        if tag == 0x00C4:
            return self.pw_status()
        if tag == 0x7F21:
            return self.certs.get(self.occurrence) or b""
        if tag == 0x5F50:
            return b""
        return None

    def power_on(self) -> None:
        """A reset deselects the application and drops pending response data."""
        self.selected = False
        self.occurrence = 0
        self._reset_chain()

    def process(self, apdu: bytes) -> bytes:
        """Answer SELECT, SELECT DATA, GET DATA, GET RESPONSE and VERIFY."""
        cmd = self._triage(apdu)
        if isinstance(cmd, bytes):
            return cmd
        if cmd.ins == 0xA4:
            if (
                cmd.p1 != 0x04
                or not cmd.data.startswith(OPENPGP_RID)
                or not self.aid.startswith(cmd.data)
            ):
                return status(SW_NOT_FOUND)
            if self.terminated:
                return status(0x6285)
            self.selected = True
            self.occurrence = 0
            return status(SW_OK)
        if not self.selected:
            return status(SW_INS)
        if cmd.ins == 0xA5:
            return self._select_data(cmd)
        if cmd.ins == 0xCA:
            found = self.data_object((cmd.p1 << 8) | cmd.p2)
            return status(SW_DATA_NOT_FOUND) if found is None else self._chained(found)
        if cmd.ins == 0x20:
            return self._verify(cmd)
        return status(SW_INS)

    def _select_data(self, cmd: Apdu) -> bytes:
        if self.version[0] < 3:
            return status(SW_INS)
        wanted = b"\x06" + SELECT_DATA_7F21 if self.yubikey_543 else SELECT_DATA_7F21
        if cmd.p2 != 0x04 or cmd.p1 > 2:
            return status(SW_WRONG_P1P2)
        if cmd.data != wanted:
            return status(SW_WRONG_DATA)
        self.occurrence = cmd.p1
        return status(SW_OK)

    def _verify(self, cmd: Apdu) -> bytes:
        if cmd.p1 == 0xFF and not cmd.data:
            return status(SW_OK)
        if cmd.p1 != 0x00 or cmd.p2 not in (0x81, 0x82, 0x83):
            return status(SW_WRONG_P1P2)
        admin = cmd.p2 == 0x83
        tries = self.pw3_tries if admin else self.pw1_tries
        if tries <= 0:
            return status(SW_BLOCKED)
        if not cmd.data:
            # Spec v3: an empty VERIFY reports the counter (9000 only when already verified).
            return status(0x63C0 | min(tries, 15))
        if cmd.data == (self._pw3 if admin else self._pw1):
            tries, answer = 3, status(SW_OK)
        else:
            tries -= 1
            answer = status(0x63C0 | min(tries, 15)) if tries else status(SW_BLOCKED)
        if admin:
            self.pw3_tries = tries
        else:
            self.pw1_tries = tries
        return answer


# --------------------------------------------------------------------------- faulty cards


class MuteCard(VirtualCard):
    """A card that gives no answer to reset."""

    name = "mute card (virtual)"
    atr = None

    def process(self, apdu: bytes) -> bytes:
        """Never reached through a reader; answers 6F00 if called directly."""
        return status(SW_UNKNOWN)


class ErrorCard(VirtualCard):
    """A card that powers up and then answers 6F00 to everything."""

    name = "failing card (virtual)"
    atr = bytes.fromhex("3B021450")

    def process(self, apdu: bytes) -> bytes:
        """No precise diagnosis, whatever the command."""
        return status(SW_UNKNOWN)


class GarbageTlvPivCard(PivCard):
    """A PIV card whose certificate objects lie about their length and whose CHUID is junk."""

    name = "PIV with broken data objects (virtual)"

    def data_object(self, tag: int) -> bytes | None:
        """Certificates behind a 70 length that overshoots; CHUID as raw junk."""
        if tag == PIV_CHUID:
            return random.Random(0x5EED).randbytes(61)
        found = super().data_object(tag)
        if found is None or tag not in PIV_SLOT_OBJECTS.values():
            return found
        slot = next(s for s, t in PIV_SLOT_OBJECTS.items() if t == tag)
        der = self.certs[slot]
        # 70 claims 0x400 more bytes than follow; the outer 53 length stays honest.
        inner = b"\x70\x82" + (len(der) + 0x400).to_bytes(2, "big") + der
        return encode(0x53, inner)


def broken_cert_file(ders: Iterable[bytes], seed: int = 0xBAD) -> bytes:
    """An 08F2 file whose slots hold a DER SEQUENCE header followed by random bytes."""
    rng = random.Random(seed)
    junk = []
    for der in ders:
        body = rng.randbytes(len(der) - 4)
        # Keep the outer header honest so a reader fetches the right length, then fails to parse.
        junk.append(b"\x30\x82" + len(body).to_bytes(2, "big") + body)
    return moica_cert_file(junk)


class BadDerMoicaCard(MoicaGen1Card):
    """A gen 1 MOICA card whose CDF is intact but whose certificate bytes are not DER."""

    name = "MOICA gen 1 with corrupt certificates (virtual)"

    def __init__(
        self, certs: list[MoicaCert], card_number: str, version: bytes = b"CHT V32N"
    ) -> None:
        super().__init__(
            certs,
            card_number,
            version=version,
            cert_override=broken_cert_file(der for der, _, _ in certs),
        )


class UnknownCard(VirtualCard):
    """A PC/SC-style storage card no profile knows: nothing to select."""

    name = "unknown card (virtual)"
    atr = bytes.fromhex("3B8F8001804F0CA0000003060300030000000068")

    def process(self, apdu: bytes) -> bytes:
        """6A82 to SELECT, 6D00 to anything else."""
        return status(SW_NOT_FOUND if apdu[1] == 0xA4 else SW_INS)
