"""OpenPGP cards (spec v2/v3): cardholder certificates (7F21) and PW status bytes (C4).

The retry counters are read from the PW status bytes, a plain GET DATA: no VERIFY of any
form is sent to an OpenPGP card. A v3 card holds up to three certificates (occurrences 0 =
AUT, 1 = DEC, 2 = SIG, as GnuPG, OpenSC and SmartPGP number them); SELECT DATA (spec 3.4,
7.2.5) picks which one GET DATA 7F21 returns, and is reset to occurrence 0 afterwards so
other software finds the card as it was. YubiKeys up to firmware 5.4.3 want an extra
leading 06 byte in its data field. A SELECT answered 6285 is a terminated application.
"""

from __future__ import annotations

from ...errors import CardDataError
from ...i18n import _
from ...model import CardCertificate, CardReading, ItemId, PinState, PinStatus
from ..apdu import INS_SELECT_DATA, SW_OK, command, get_data, select_aid
from ..guard import Allowlist, Channel
from ..tlv import find, parse_one
from .common import NOT_FOUND_SWS, Progress

KIND = "openpgp"
EXCLUSIVE = False

AID = bytes.fromhex("D27600012401")
DO_APPLICATION_DATA = 0x006E
DO_CARDHOLDER_CERT = 0x7F21
SW_TERMINATED = 0x6285
MANUFACTURER_YUBICO = 0x0006
#: SELECT DATA's field for DO 7F21: tag list 60 { 5C 02 7F 21 }.
_SELECT_7F21 = bytes.fromhex("6004 5C02 7F21")
#: The certificate occurrences of a v3 card and their keys.
OCCURRENCES = ((0, "AUT"), (1, "DEC"), (2, "SIG"))


def select_data(occurrence: int, yubikey_bug: bool = False) -> bytes:
    """SELECT DATA for occurrence ``occurrence`` of DO 7F21 (with the YubiKey <= 5.4.3 06)."""
    data = (b"\x06" if yubikey_bug else b"") + _SELECT_7F21
    return command(0x00, INS_SELECT_DATA, occurrence, 0x04, data)


#: Exactly these SELECT DATA commands, and no other, may reach an OpenPGP card.
ALLOWLIST = Allowlist(
    select_data=frozenset(
        select_data(occurrence, bug) for occurrence, _key in OCCURRENCES for bug in (False, True)
    )
)


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


def _cert_labels() -> dict[str, str]:
    return {
        "AUT": _("Authentication certificate (AUT)"),
        "DEC": _("Decryption certificate (DEC)"),
        "SIG": _("Signature certificate (SIG)"),
    }


def _select_occurrence(channel: Channel, occurrence: int, forms: tuple[bool, ...]) -> bool | None:
    """SELECT DATA in the first form the card takes: False plain, True with the YubiKey 06;
    None when the card refuses it."""
    for bug in forms:
        sw = channel.send(select_data(occurrence, yubikey_bug=bug)).sw
        if sw == SW_OK:
            return bug
        if sw not in (0x6A80, 0x6700):  # anything but "wrong data" ends the attempt
            return None
    return None


def _v3_certificates(
    channel: Channel, yubikey: bool
) -> tuple[list[CardCertificate], list[str]] | None:
    """Every certificate occurrence of a v3 card; None when SELECT DATA is not supported."""
    labels = _cert_labels()
    certs: list[CardCertificate] = []
    errors: list[str] = []
    forms: tuple[bool, ...] = (False, True) if yubikey else (False,)
    for occurrence, key in OCCURRENCES:
        form = _select_occurrence(channel, occurrence, forms)
        if form is None:
            if occurrence == 0:
                return None
            errors.append(_("certificate {key}: the card refused SELECT DATA").format(key=key))
            break
        forms = (form,)
        try:
            raw = _get(channel, DO_CARDHOLDER_CERT)
        except CardDataError as exc:
            errors.append(f"{key}: {exc.what}")
            continue
        if raw:
            certs.append(
                CardCertificate(_unwrap(raw, DO_CARDHOLDER_CERT), labels[key], f"7F21/{key}")
            )
    # Leave the card as other software expects it: GET DATA 7F21 means occurrence 0 again.
    channel.send(select_data(0, yubikey_bug=forms[0]))
    return certs, errors


def _terminated() -> CardReading:
    return CardReading(
        kind=KIND,
        card_type=_("OpenPGP card"),
        application=_("OpenPGP application (terminated)"),
        cert_errors=(
            _(
                "the OpenPGP application is terminated: it holds no usable keys until it is "
                "reset with its owner's tools"
            ),
        ),
    )


def read(channel: Channel, atr: bytes, progress: Progress | None = None) -> CardReading | None:
    """Select the OpenPGP application and read serial, PIN counters and certificates."""
    progress = progress or Progress()
    progress.item = ItemId.APPLICATION
    resp = channel.send(select_aid(AID, le=None))
    if resp.sw == SW_TERMINATED:
        return _terminated()
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
    major = 0
    manufacturer = None
    if aid is not None and len(aid.value) >= 14:
        major = aid.value[6]
        version = f"{aid.value[6]}.{aid.value[7]}"
        manufacturer = int.from_bytes(aid.value[8:10], "big")
        number = aid.value[10:14].hex().upper()
    progress.item = ItemId.PIN
    pw = find(app, 0xC4)
    if pw is None:
        raise CardDataError("OpenPGP PW status bytes (C4) missing")
    pins = pin_statuses(pw.value)
    progress.item = ItemId.CERTIFICATES
    certs: tuple[CardCertificate, ...] = ()
    errors: tuple[str, ...] = ()
    v3 = _v3_certificates(channel, manufacturer == MANUFACTURER_YUBICO) if major >= 3 else None
    if v3 is not None:
        certs, errors = tuple(v3[0]), tuple(v3[1])
    else:
        try:
            raw = _get(channel, DO_CARDHOLDER_CERT)
        except CardDataError as exc:
            raw, errors = None, (exc.what,)
        if raw:
            certs = (
                CardCertificate(
                    _unwrap(raw, DO_CARDHOLDER_CERT), _("Cardholder certificate"), "7F21"
                ),
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
