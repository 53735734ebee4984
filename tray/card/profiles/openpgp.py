"""OpenPGP cards (spec v2/v3): cardholder certificate (7F21) and PW status bytes (C4).

The retry counters are read from the PW status bytes, a plain GET DATA: no VERIFY of any
form is sent to an OpenPGP card.
"""

from __future__ import annotations

from ...errors import CardDataError
from ...i18n import _
from ...model import CardCertificate, CardReading, ItemId, PinState, PinStatus
from ..apdu import SW_OK, get_data, select_aid
from ..guard import Allowlist, Channel
from ..tlv import find, parse_one
from .common import NOT_FOUND_SWS, Progress

KIND = "openpgp"
ALLOWLIST = Allowlist()
EXCLUSIVE = False

AID = bytes.fromhex("D27600012401")
DO_APPLICATION_DATA = 0x006E
DO_CARDHOLDER_CERT = 0x7F21


def _get(channel: Channel, tag: int) -> bytes | None:
    resp = channel.send(get_data(tag))
    if resp.sw in NOT_FOUND_SWS:
        return None
    if resp.sw != SW_OK:
        raise CardDataError(f"OpenPGP data object {tag:04X} unreadable (SW {resp.sw:04X})")
    return resp.data


def _unwrap(data: bytes, tag: int) -> bytes:
    """Some cards wrap a GET DATA answer in its own tag; accept both forms."""
    if data[:1] == tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")[:1]:
        try:
            item, end = parse_one(data)
        except CardDataError:
            return data
        if item.tag == tag and end == len(data):
            return item.value
    return data


def pin_statuses(pw_status: bytes) -> tuple[PinStatus, ...]:
    """Turn the seven PW status bytes into PIN states (user PIN and admin PIN)."""
    if len(pw_status) < 7:
        raise CardDataError("PW status bytes are too short")
    source = _("PW status bytes (C4)")
    out = []
    for label, tries in ((_("User PIN (PW1)"), pw_status[4]), (_("Admin PIN (PW3)"), pw_status[6])):
        if tries == 0:
            state = PinState.LOCKED
        elif tries == 1:
            state = PinState.FINAL_TRY
        else:
            state = PinState.OK
        out.append(PinStatus(label, state, tries, source))
    return tuple(out)


def read(channel: Channel, atr: bytes, progress: Progress | None = None) -> CardReading | None:
    """Select the OpenPGP application and read serial, PIN counters and certificate."""
    progress = progress or Progress()
    progress.item = ItemId.APPLICATION
    resp = channel.send(select_aid(AID, le=None))
    if resp.sw != SW_OK:
        return None
    progress.item = ItemId.CARD_IDENTIFIED
    app = _get(channel, DO_APPLICATION_DATA)
    if not app:
        raise CardDataError("OpenPGP application related data (6E) missing")
    app = _unwrap(app, DO_APPLICATION_DATA)
    aid = find(app, 0x4F)
    number = None
    version = None
    if aid is not None and len(aid.value) >= 14:
        version = f"{aid.value[6]}.{aid.value[7]}"
        number = aid.value[10:14].hex().upper()
    progress.item = ItemId.PIN
    pw = find(app, 0xC4)
    if pw is None:
        raise CardDataError("OpenPGP PW status bytes (C4) missing")
    pins = pin_statuses(pw.value)
    progress.item = ItemId.CERTIFICATES
    certs: tuple[CardCertificate, ...] = ()
    errors: tuple[str, ...] = ()
    try:
        raw = _get(channel, DO_CARDHOLDER_CERT)
    except CardDataError as exc:
        raw, errors = None, (exc.what,)
    if raw:
        certs = (
            CardCertificate(_unwrap(raw, DO_CARDHOLDER_CERT), _("Cardholder certificate"), "7F21"),
        )
    return CardReading(
        kind=KIND,
        card_type=_("OpenPGP card"),
        application=_("OpenPGP application") + (f" v{version}" if version else ""),
        card_number=number,
        certificates=certs,
        pins=pins,
        cert_errors=errors,
    )
