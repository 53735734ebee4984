"""MOICA citizen certificate cards (Chunghwa Telecom HiCOS), read by direct APDUs.

Generation 1 (T7S, 'CHT V32N') needs CLA 80; generation 2 is selected by AID first and
then uses CLA 00, selecting files with P2 04 and an Le (the form the official module uses
on real gen-2 cards; 62xx answers are success). Certificates are located through the PKCS#15
certificate directory (CDF, EF 4104 under DF 5030) and each is selected from the root
(3F00 or the applet, then 5030, then 08F2); only the announced bytes are read, 200 bytes per
command. An undecodable directory entry is skipped and reported; the card number
(0900/0903) is a nicety and never sinks the reading.
No PIN command of any kind is sent: no safe way to read the tries left is known.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ApduError, CardDataError
from ...i18n import _
from ...model import CardCertificate, CardReading, ItemId, PinState, PinStatus
from ..apdu import SW_END_OF_FILE, SW_OK, SW_WRONG_P1P2, command, read_binary, select_aid
from ..atr import is_cht, is_moica_gen1
from ..certinfo import issuer_text
from ..guard import Allowlist, Channel
from ..issuers import MOICA_SITE
from ..tlv import Tlv, iterate, parse_one
from .common import Progress, der_length, printable

KIND = "moica"
ALLOWLIST = Allowlist()  # SELECT and READ BINARY only; never VERIFY
EXCLUSIVE = True

GEN2_AID = bytes.fromhex("A0000002830000062201696400010101")
MOICA_ISSUER_OU = "內政部憑證管理中心"

CHUNK = 200  # largest READ BINARY the cards accept
MAX_DIRECTORY = 8 * 1024
MAX_CERT = 8 * 1024
MF = 0x3F00
APPLET_ROOT = 0x7FFF  # how gen-2 paths name the applet
DF_PKCS15 = 0x5030
EF_CDF = 0x4104
EF_TOKENINFO = 0x5032
DF_CARDINFO = 0x0900
EF_CARD_NUMBER = 0x0903

#: SELECT answers meaning "no such file". 6A86 (wrong P1/P2) is a refused form, not absence.
SELECT_NOT_FOUND = frozenset({0x6A82})
#: READ BINARY answers to a length that runs past the end of the file.
SW_WRONG_LENGTH = 0x6700
SW_LENGTH_VS_FILE = 0x6987


@dataclass(frozen=True)
class CdfEntry:
    """One certificate named by the certificate directory."""

    label: str
    authority: bool
    path: bytes
    offset: int
    length: int | None


@dataclass(frozen=True)
class _Gen:
    """How one generation talks: class byte and SELECT form."""

    number: str
    cla: int

    def select_fid(self, fid: int) -> bytes:
        if self.cla == 0x80:
            return command(0x80, 0xA4, 0x00, 0x00, fid.to_bytes(2, "big"))
        return command(0x00, 0xA4, 0x00, 0x04, fid.to_bytes(2, "big"), le=0)

    def select_root(self) -> bytes:
        if self.cla == 0x80:
            return self.select_fid(MF)
        return select_aid(GEN2_AID, p2=0x0C)


GEN1 = _Gen("1", 0x80)
GEN2 = _Gen("2", 0x00)


def _selected(sw: int) -> bool:
    return sw == SW_OK or sw >> 8 == 0x62


def _select(channel: Channel, gen: _Gen, fid: int) -> bool:
    resp = channel.send(gen.select_fid(fid))
    if _selected(resp.sw):
        return True
    if resp.sw in SELECT_NOT_FOUND:
        return False
    raise ApduError(resp.sw, f"SELECT {fid:04X}")


def _select_root(channel: Channel, gen: _Gen) -> bool:
    resp = channel.send(gen.select_root())
    if _selected(resp.sw):
        return True
    if resp.sw in SELECT_NOT_FOUND:
        return False
    raise ApduError(resp.sw, "SELECT root")


def _select_path(channel: Channel, gen: _Gen, path: bytes) -> bool:
    """Select ``path`` from the root, as the official module does; False when a part is missing."""
    fids = [int.from_bytes(path[i : i + 2], "big") for i in range(0, len(path), 2)]
    if fids and fids[0] in (MF, APPLET_ROOT):
        fids = fids[1:]
    elif len(fids) == 1:
        fids = [DF_PKCS15, *fids]  # a bare file id lives beside the directory files
    if not _select_root(channel, gen):
        return False
    return all(_select(channel, gen, fid) for fid in fids)


def _read(channel: Channel, gen: _Gen, offset: int, length: int) -> bytes:
    """READ BINARY up to ``length`` bytes; b'' at the end of the file.

    A card may refuse a length that runs past the end (6700, 6987) instead of shortening the
    answer: the length is halved until the card answers, so the last bytes are read too."""
    want = length
    while True:
        resp = channel.send(read_binary(offset, want, cla=gen.cla))
        if resp.sw in (SW_OK, SW_END_OF_FILE) or resp.sw >> 8 == 0x62:
            return resp.data
        if resp.sw in (SW_WRONG_P1P2, 0x6A86):
            return b""  # offset beyond the end
        if resp.sw in (SW_WRONG_LENGTH, SW_LENGTH_VS_FILE):
            if want == 1:
                return b""
            want //= 2
            continue
        raise ApduError(resp.sw, "READ BINARY")


def _read_exact(channel: Channel, gen: _Gen, offset: int, length: int) -> bytes:
    out = bytearray()
    while len(out) < length:
        data = _read(channel, gen, offset + len(out), min(CHUNK, length - len(out)))
        if not data:
            raise CardDataError(f"file ends after {len(out)} of {length} bytes")
        out += data[: length - len(out)]
    return bytes(out)


def _directory_complete(buf: bytes) -> bool:
    """True once ``buf`` holds whole DER entries followed by 00/FF padding."""
    pos = 0
    while pos < len(buf):
        if buf[pos] in (0x00, 0xFF):
            return True
        try:
            total = der_length(buf[pos : pos + 6])
        except CardDataError:
            return True  # not DER from here on: the parser reports what it cannot decode
        if total is None or pos + total > len(buf):
            return False
        pos += total
    return False


def _read_directory(channel: Channel, gen: _Gen) -> bytes:
    """Read a directory file chunk by chunk until its content is complete or the file ends."""
    buf = b""
    want = CHUNK
    while not _directory_complete(buf):
        if len(buf) >= MAX_DIRECTORY:
            raise CardDataError("certificate directory has no end")
        data = _read(channel, gen, len(buf), want)
        if not data:
            break
        buf += data
        # A shorter answer means the file ends or the card shortened Le near the end: keep
        # asking for that much, so the remaining bytes are found without another refusal.
        want = min(CHUNK, len(data))
    return buf


def _integer(item: Tlv) -> int:
    if not item.value or len(item.value) > 4:
        raise CardDataError("bad integer in certificate directory")
    return int.from_bytes(item.value, "big", signed=True)


def _entry(obj: Tlv) -> CdfEntry:
    """Decode one PKCS#15 CertificateObject."""
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
    return CdfEntry(label, authority, path, offset, size)


def parse_cdf(data: bytes) -> tuple[list[CdfEntry], list[str]]:
    """Decode the certificate directory: the entries, and why each skipped entry was skipped.

    Raises CardDataError only when the directory as a whole is not TLV."""
    entries: list[CdfEntry] = []
    skipped: list[str] = []
    for number, obj in enumerate(iterate(data, stop_at_padding=True), start=1):
        if obj.tag != 0x30:
            continue
        try:
            entries.append(_entry(obj))
        except CardDataError as exc:
            skipped.append(
                _("certificate directory entry {number} skipped: {error}").format(
                    number=number, error=exc.what
                )
            )
    return entries, skipped


def _read_certificate(channel: Channel, gen: _Gen, offset: int, size: int | None) -> bytes:
    if size is None:
        head = _read(channel, gen, offset, CHUNK)
        total = der_length(head[:6])
        if total is None or total > MAX_CERT:
            raise CardDataError("certificate has no DER header")
        if total <= len(head):
            return head[:total]
        return head + _read_exact(channel, gen, offset + len(head), total - len(head))
    return _read_exact(channel, gen, offset, size)


def _read_certificates(
    channel: Channel, gen: _Gen, progress: Progress
) -> tuple[tuple[CardCertificate, ...], tuple[str, ...], tuple[str, ...]]:
    """Read the CDF, then each certificate it points at, each file selected from the root."""
    progress.item = ItemId.CERTIFICATES
    if not _select(channel, gen, EF_CDF):
        raise CardDataError("certificate directory (EF 4104) not found")
    entries, skipped = parse_cdf(_read_directory(channel, gen))
    certs: list[CardCertificate] = []
    errors: list[str] = []
    current: bytes | None = None
    for entry in entries:
        if entry.path != current:
            if not _select_path(channel, gen, entry.path):
                errors.append(
                    _("certificate file {path} not found").format(path=entry.path.hex().upper())
                )
                current = None
                continue
            current = entry.path
        try:
            der = _read_certificate(channel, gen, entry.offset, entry.length)
        except CardDataError as exc:
            errors.append(
                _("certificate '{label}': {error}").format(label=entry.label, error=exc.what)
            )
            continue
        slot = f"{entry.path[-2:].hex().upper()}@{entry.offset:04X}"
        certs.append(
            CardCertificate(der=der, label=entry.label, slot=slot, authority=entry.authority)
        )
    return tuple(certs), tuple(errors), tuple(skipped)


def _card_number(channel: Channel, gen: _Gen) -> str | None:
    """The 16-character card number in EF 0903 under DF 0900 (both generations); None on any
    trouble: the number is a nicety and never fails the card."""
    try:
        if not (
            _select_root(channel, gen)
            and _select(channel, gen, DF_CARDINFO)
            and _select(channel, gen, EF_CARD_NUMBER)
        ):
            return None
        return printable(_read(channel, gen, 0, 16))
    except (ApduError, CardDataError):
        return None


def _token_serial(channel: Channel, gen: _Gen) -> str | None:
    """The serial in PKCS#15 TokenInfo (EF 5032 under 5030), None on any trouble."""
    try:
        if not (
            _select_root(channel, gen)
            and _select(channel, gen, DF_PKCS15)
            and _select(channel, gen, EF_TOKENINFO)
        ):
            return None
        info, _end = parse_one(_read(channel, gen, 0, CHUNK))
        fields = info.children()
    except (ApduError, CardDataError):
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
    gen: _Gen,
    number: str | None,
    certs: tuple[CardCertificate, ...],
    errors: tuple[str, ...],
    skipped: tuple[str, ...],
) -> CardReading:
    """A HiCOS reading; MOICA is told from other HiCOS cards by its certificates' issuer."""
    moica = any(MOICA_ISSUER_OU in issuer_text(cert.der) for cert in certs)
    application = (
        _("HiCOS PKCS#15 (DF 5030, CLA 80)")
        if gen is GEN1
        else _("HiCOS GPPKI applet (generation 2)")
    )
    return CardReading(
        kind=KIND,
        card_type=_("MOICA citizen certificate card (HiCOS)")
        if moica
        else _("Chunghwa Telecom HiCOS card"),
        application=application,
        generation=gen.number,
        card_number=number,
        certificates=certs,
        pins=(_pin(),),
        cert_errors=errors,
        issuer_service=MOICA_SITE if moica else None,
        skipped_entries=skipped,
    )


def _probe(channel: Channel, gen: _Gen) -> bool:
    """Whether this generation's root answers; nothing else is sent."""
    resp = channel.send(gen.select_root())
    return _selected(resp.sw)


def _read_gen(channel: Channel, gen: _Gen, progress: Progress) -> CardReading:
    """Read a card whose root (MF or applet) was just selected."""
    progress.item = ItemId.APPLICATION
    if not _select(channel, gen, DF_PKCS15):
        raise CardDataError("PKCS#15 directory DF 5030 not found")
    certs, errors, skipped = _read_certificates(channel, gen, progress)
    progress.item = ItemId.CARD_IDENTIFIED
    number = _card_number(channel, gen)
    if number is None and gen is GEN2:
        number = _token_serial(channel, gen)
    return _reading(gen, number, certs, errors, skipped)


def read(channel: Channel, atr: bytes, progress: Progress | None = None) -> CardReading | None:
    """Read a HiCOS card: the gen-2 applet by AID first (the gen-1 ATR tries gen 1 first);
    generation 1 is probed by SELECT MF (CLA 80) only when the ATR names Chunghwa Telecom."""
    progress = progress or Progress()
    progress.item = ItemId.APPLICATION
    order = (GEN1, GEN2) if is_moica_gen1(atr) else (GEN2, GEN1) if is_cht(atr) else (GEN2,)
    for gen in order:
        if _probe(channel, gen):
            return _read_gen(channel, gen, progress)
    return None
