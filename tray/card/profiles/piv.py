"""PIV cards and YubiKeys (NIST SP 800-73-4): certificates in slots 9A/9C/9D/9E, PIN tries.

PIN tries are read with VERIFY carrying no data field, which SP 800-73-4 (part 2, 3.2.1)
defines as a status query: 63Cx gives the tries left, 6983 a blocked PIN, and no try is
spent. That data-less form, for the PIV application PIN (P2 80) and the Global PIN (P2 00),
is the one VERIFY the guard lets through for this profile. The Global PIN is asked about
only when the Discovery Object (7E, PIN usage policy 5F2F) says it is the primary PIN.
Some cards (YubiKey NEO) answer 630X instead of 63CX: X is the tries left there too.
"""

from __future__ import annotations

import zlib

from ...errors import CardDataError
from ...i18n import _
from ...model import CardCertificate, CardReading, ItemId, PinState, PinStatus
from ..apdu import SW_AUTH_BLOCKED, SW_OK, command, select_aid
from ..guard import Allowlist, Channel
from ..tlv import Tlv, parse, parse_one
from .common import NOT_FOUND_SWS, Progress

KIND = "piv"
PIV_PIN_P2 = 0x80
GLOBAL_PIN_P2 = 0x00
ALLOWLIST = Allowlist(empty_verify_p2=frozenset({PIV_PIN_P2, GLOBAL_PIN_P2}))
EXCLUSIVE = False

AID = bytes.fromhex("A000000308000010000100")
MAX_CERT = 16 * 1024

#: (slot, data object tag, slot name)
SLOTS: tuple[tuple[str, int, str], ...] = (
    ("9A", 0x5FC105, "PIV Authentication"),
    ("9C", 0x5FC10A, "Digital Signature"),
    ("9D", 0x5FC10B, "Key Management"),
    ("9E", 0x5FC101, "Card Authentication"),
)
CHUID = 0x5FC102
DISCOVERY = 0x7E


def get_object(channel: Channel, tag: int) -> bytes | None:
    """GET DATA for a PIV data object; the 53 container's value, or None if absent."""
    resp = channel.send(
        command(0x00, 0xCB, 0x3F, 0xFF, bytes((0x5C, 0x03)) + tag.to_bytes(3, "big"), le=0)
    )
    if resp.sw in NOT_FOUND_SWS or resp.sw == 0x6A80:
        return None
    if resp.sw != SW_OK:
        raise CardDataError(f"PIV object {tag:06X} unreadable (SW {resp.sw:04X})")
    if not resp.data:
        return None
    container, _end = parse_one(resp.data)
    if container.tag != 0x53:
        raise CardDataError(f"PIV object {tag:06X} is not a data object container")
    return container.value


def _inflate(data: bytes) -> bytes:
    """Decompress a gzip-compressed certificate, refusing anything that grows too large."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_CERT)
    except zlib.error as exc:
        raise CardDataError(f"compressed certificate is corrupt: {exc}") from None
    if inflater.unconsumed_tail:
        raise CardDataError("compressed certificate is too large")
    return out


def certificate_from_object(value: bytes) -> bytes | None:
    """The certificate DER from a PIV certificate object (70 cert, 71 CertInfo)."""
    cert: Tlv | None = None
    info: Tlv | None = None
    pos = 0
    while pos < len(value):
        item, pos = parse_one(value, pos)
        if item.tag == 0x70:
            cert = item
        elif item.tag == 0x71:
            info = item
    if cert is None or not cert.value:
        return None
    if info is not None and info.value and info.value[0] & 0x01:
        return _inflate(cert.value)
    return cert.value


def _guid(chuid: bytes) -> str | None:
    # PIV's CHUID uses simple tags: 30 (FASC-N) is not a constructed object, so look only at
    # the top level instead of searching depth-first.
    found = next((t for t in parse(chuid) if t.tag == 0x34), None)
    if found is None or len(found.value) != 16 or not any(found.value):
        return None
    h = found.value.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def global_pin_is_primary(channel: Channel) -> bool:
    """Whether the Discovery Object's PIN usage policy names the Global PIN as primary
    (first byte: both PINs satisfy the access rules; second byte 20)."""
    resp = channel.send(command(0x00, 0xCB, 0x3F, 0xFF, bytes((0x5C, 0x01, DISCOVERY)), le=0))
    if resp.sw != SW_OK or not resp.data:
        return False
    try:
        discovery, _end = parse_one(resp.data)
        if discovery.tag != DISCOVERY:
            return False
        policy = next((t.value for t in parse(discovery.value) if t.tag == 0x5F2F), b"")
    except CardDataError:
        return False
    return len(policy) == 2 and policy[0] & 0x60 == 0x60 and policy[1] == 0x20


def pin_status(channel: Channel, p2: int = PIV_PIN_P2) -> PinStatus:
    """Tries left on a PIN by a data-less VERIFY (no PIN is sent, no try is spent)."""
    resp = channel.send(command(0x00, 0x20, 0x00, p2))
    label = _("Global PIN") if p2 == GLOBAL_PIN_P2 else _("PIV PIN")
    source = _("VERIFY status query (no PIN sent)")
    if resp.sw == SW_OK:
        return PinStatus(label, PinState.VERIFIED, None, source)
    if resp.sw == SW_AUTH_BLOCKED:
        return PinStatus(label, PinState.LOCKED, 0, source)
    if resp.sw >> 4 == 0x63C or 0x6301 <= resp.sw <= 0x630F:
        tries = resp.sw & 0x0F
        if tries == 0:
            return PinStatus(label, PinState.LOCKED, 0, source)
        state = PinState.FINAL_TRY if tries == 1 else PinState.OK
        return PinStatus(label, state, tries, source)
    return PinStatus(label, PinState.NOT_READABLE, None, source)


def read(channel: Channel, atr: bytes, progress: Progress | None = None) -> CardReading | None:
    """Select the PIV application and read its certificates and PIN status."""
    progress = progress or Progress()
    progress.item = ItemId.APPLICATION
    resp = channel.send(select_aid(AID))
    if resp.sw != SW_OK:
        return None
    progress.item = ItemId.CARD_IDENTIFIED
    try:
        chuid = get_object(channel, CHUID)
        number = _guid(chuid) if chuid else None
    except CardDataError:
        number = None  # the card number is a nicety; certificates are what matter
    progress.item = ItemId.CERTIFICATES
    certs: list[CardCertificate] = []
    errors: list[str] = []
    for slot, tag, name in SLOTS:
        try:
            value = get_object(channel, tag)
            der = certificate_from_object(value) if value is not None else None
        except CardDataError as exc:
            errors.append(_("slot {slot}: {error}").format(slot=slot, error=exc.what))
            continue
        if der is not None:
            certs.append(CardCertificate(der=der, label=name, slot=slot))
    progress.item = ItemId.PIN
    # The PIN the cardholder types is the primary one: the Global PIN when Discovery says so.
    pin = pin_status(channel, GLOBAL_PIN_P2 if global_pin_is_primary(channel) else PIV_PIN_P2)
    return CardReading(
        kind=KIND,
        card_type=_("PIV card"),
        application=_("PIV (NIST SP 800-73-4)"),
        card_number=number,
        certificates=tuple(certs),
        pins=(pin,),
        cert_errors=tuple(errors),
    )
