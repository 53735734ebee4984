"""MOICA citizen certificate cards (Chunghwa Telecom HiCOS), read by direct APDUs.

Generation 1 (T7S, 'CHT V32N') needs CLA 80; generation 2 is selected by AID first and
then uses CLA 00. Certificates are located through the PKCS#15 certificate directory (CDF,
EF 4104 under DF 5030) and only the announced bytes are read, 200 bytes per command.
No PIN command of any kind is sent: no safe way to read the tries left is known.
"""

from __future__ import annotations

from ...errors import ApduError, CardDataError
from ...i18n import _
from ...model import CardCertificate, CardReading, ItemId, PinState, PinStatus
from ..apdu import SW_OK, select_aid, select_fid
from ..atr import is_moica_gen1
from ..certinfo import issuer_text
from ..guard import Allowlist, Channel
from ..issuers import MOICA_SITE
from ..tlv import Tlv, iterate, parse_one
from .common import NOT_FOUND_SWS, Progress, der_length, printable, read_chunk, read_exact

KIND = "moica"
ALLOWLIST = Allowlist()  # SELECT and READ BINARY only; never VERIFY
EXCLUSIVE = True

GEN2_AID = bytes.fromhex("A0000002830000062201696400010101")
MOICA_ISSUER_OU = "內政部憑證管理中心"

CHUNK = 200  # largest READ BINARY the cards accept
MAX_DIRECTORY = 8 * 1024
MAX_CERT = 8 * 1024
DF_PKCS15 = 0x5030
EF_CDF = 0x4104
EF_TOKENINFO = 0x5032
DF_CARDINFO = 0x0900
EF_CARD_NUMBER = 0x0903


def _select(channel: Channel, fid: int, cla: int) -> bool:
    resp = channel.send(select_fid(fid, cla=cla, p2=0x00 if cla == 0x80 else 0x0C))
    if resp.sw == SW_OK:
        return True
    if resp.sw in NOT_FOUND_SWS:
        return False
    raise ApduError(resp.sw, f"SELECT {fid:04X}")


def _directory_complete(buf: bytes) -> bool:
    """True once ``buf`` holds whole DER entries followed by 00/FF padding."""
    pos = 0
    while pos < len(buf):
        if buf[pos] in (0x00, 0xFF):
            return True
        total = der_length(buf[pos : pos + 6])
        if total is None or pos + total > len(buf):
            return False
        pos += total
    return False


def _read_directory(channel: Channel, cla: int) -> bytes:
    """Read a directory file chunk by chunk until its content is complete."""
    buf = b""
    while not _directory_complete(buf):
        if len(buf) >= MAX_DIRECTORY:
            raise CardDataError("certificate directory has no end")
        data = read_chunk(channel, len(buf), CHUNK, cla)
        buf += data
        if len(data) < CHUNK:
            break
    return buf


def _integer(item: Tlv) -> int:
    if not item.value or len(item.value) > 4:
        raise CardDataError("bad integer in certificate directory")
    return int.from_bytes(item.value, "big", signed=True)


def parse_cdf(data: bytes) -> list[tuple[str, bool, bytes, int, int | None]]:
    """Decode PKCS#15 CertificateObjects: (label, authority, path, offset, length)."""
    entries: list[tuple[str, bool, bytes, int, int | None]] = []
    for obj in iterate(data, stop_at_padding=True):
        if obj.tag != 0x30:
            continue
        parts = obj.children()
        if len(parts) < 3 or parts[0].tag != 0x30 or parts[1].tag != 0x30:
            raise CardDataError("certificate directory entry has an unrecognised layout")
        label_tlv = parts[0].child(0x0C)
        label = label_tlv.value.decode("utf-8", errors="replace") if label_tlv else ""
        authority_tlv = parts[1].child(0x01)
        authority = bool(authority_tlv and authority_tlv.value not in (b"", b"\x00"))
        type_attrs = next((p for p in parts[2:] if p.tag == 0xA1), None)
        if type_attrs is None:
            raise CardDataError("certificate directory entry has no certificate attributes")
        x509_attrs = type_attrs.children()
        if not x509_attrs or x509_attrs[0].tag != 0x30:
            raise CardDataError("certificate attributes have an unrecognised layout")
        value = x509_attrs[0].children()
        if not value or value[0].tag != 0x30:
            raise CardDataError("certificate is not stored by path")
        path_parts = value[0].children()
        path = next((p.value for p in path_parts if p.tag == 0x04), b"")
        index = next((p for p in path_parts if p.tag == 0x02), None)
        length = next((p for p in path_parts if p.tag == 0x80), None)
        if len(path) < 2 or len(path) % 2:
            raise CardDataError("certificate path is malformed")
        offset = _integer(index) if index else 0
        size = _integer(length) if length else None
        if offset < 0 or offset >= 0x8000 or (size is not None and not 0 < size <= MAX_CERT):
            raise CardDataError("certificate offset or length out of range")
        entries.append((label, authority, path, offset, size))
    return entries


def _read_certificate(channel: Channel, offset: int, size: int | None, cla: int) -> bytes:
    if size is None:
        head = read_chunk(channel, offset, CHUNK, cla)
        total = der_length(head[:6])
        if total is None or total > MAX_CERT:
            raise CardDataError("certificate has no DER header")
        if total <= len(head):
            return head[:total]
        return head + read_exact(channel, offset + len(head), total - len(head), cla, CHUNK)
    return read_exact(channel, offset, size, cla, CHUNK)


def _read_certificates(
    channel: Channel, cla: int, progress: Progress
) -> tuple[tuple[CardCertificate, ...], tuple[str, ...]]:
    """From inside DF 5030: read the CDF, then each certificate it points at."""
    progress.item = ItemId.CERTIFICATES
    if not _select(channel, EF_CDF, cla):
        raise CardDataError("certificate directory (EF 4104) not found")
    entries = parse_cdf(_read_directory(channel, cla))
    certs: list[CardCertificate] = []
    errors: list[str] = []
    current: bytes | None = None
    for label, authority, path, offset, size in entries:
        if path != current:
            if not _select(channel, int.from_bytes(path[-2:], "big"), cla):
                errors.append(
                    _("certificate file {path} not found").format(path=path.hex().upper())
                )
                continue
            current = path
        der = _read_certificate(channel, offset, size, cla)
        slot = f"{path[-2:].hex().upper()}@{offset:04X}"
        certs.append(CardCertificate(der=der, label=label, slot=slot, authority=authority))
    return tuple(certs), tuple(errors)


def _card_number_gen1(channel: Channel) -> str | None:
    """The 16-character card number in EF 0903 under DF 0900; the MF must be selected."""
    if not (_select(channel, DF_CARDINFO, 0x80) and _select(channel, EF_CARD_NUMBER, 0x80)):
        return None
    return printable(read_chunk(channel, 0, 16, 0x80))


def _token_serial(channel: Channel, cla: int) -> str | None:
    """Card number from PKCS#15 TokenInfo (EF 5032): SEQUENCE { version, serialNumber, ... }."""
    if not _select(channel, EF_TOKENINFO, cla):
        return None
    data = read_chunk(channel, 0, CHUNK, cla)
    try:
        info, _end = parse_one(data)
        fields = info.children()
    except CardDataError:
        return None
    if len(fields) >= 2 and fields[1].tag == 0x04:
        return printable(fields[1].value)
    return None


def _pin() -> PinStatus:
    return PinStatus(
        label=_("User PIN"),
        state=PinState.NOT_READABLE,
        source=_("HiCOS cards offer no safe way to read the tries left"),
    )


def _reading(
    generation: str,
    application: str,
    number: str | None,
    certs: tuple[CardCertificate, ...],
    errors: tuple[str, ...],
) -> CardReading:
    """A HiCOS reading; MOICA is told from other HiCOS cards by its certificates' issuer."""
    moica = any(MOICA_ISSUER_OU in issuer_text(cert.der) for cert in certs)
    return CardReading(
        kind=KIND,
        card_type=_("MOICA citizen certificate card (HiCOS)")
        if moica
        else _("Chunghwa Telecom HiCOS card"),
        application=application,
        generation=generation,
        card_number=number,
        certificates=certs,
        pins=(_pin(),),
        cert_errors=errors,
        issuer_service=MOICA_SITE if moica else None,
    )


def _gen1(channel: Channel, progress: Progress) -> CardReading | None:
    progress.item = ItemId.CARD_IDENTIFIED
    resp = channel.send(select_fid(0x3F00, cla=0x80, p2=0x00))
    if resp.sw != SW_OK:
        return None
    number = _card_number_gen1(channel)
    progress.item = ItemId.APPLICATION
    if not (_select(channel, 0x3F00, 0x80) and _select(channel, DF_PKCS15, 0x80)):
        raise CardDataError("PKCS#15 directory DF 5030 not found")
    certs, errors = _read_certificates(channel, 0x80, progress)
    return _reading("1", _("HiCOS PKCS#15 (DF 5030, CLA 80)"), number, certs, errors)


def _gen2(channel: Channel, progress: Progress) -> CardReading | None:
    progress.item = ItemId.APPLICATION
    resp = channel.send(select_aid(GEN2_AID, p2=0x0C))
    if resp.sw != SW_OK:
        return None
    if not _select(channel, DF_PKCS15, 0x00):
        raise CardDataError("PKCS#15 directory DF 5030 not found")
    certs, errors = _read_certificates(channel, 0x00, progress)
    progress.item = ItemId.CARD_IDENTIFIED
    number = _token_serial(channel, 0x00)
    return _reading("2", _("HiCOS GPPKI applet (generation 2)"), number, certs, errors)


def read(channel: Channel, atr: bytes, progress: Progress | None = None) -> CardReading | None:
    """Read a HiCOS card; the generation-1 ATR goes straight to the CLA 80 path."""
    progress = progress or Progress()
    if is_moica_gen1(atr):
        reading = _gen1(channel, progress)
        return reading if reading is not None else _gen2(channel, progress)
    return _gen2(channel, progress)
