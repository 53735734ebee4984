"""APDU building and status-word helpers (ISO 7816-4 short APDUs only)."""

from __future__ import annotations

from dataclasses import dataclass

from ..i18n import N_

SW_OK = 0x9000
SW_FILE_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6B00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_AUTH_BLOCKED = 0x6983
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_DATA_NOT_FOUND = 0x6A88
SW_END_OF_FILE = 0x6282

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_READ_RECORD = 0xB2
INS_GET_DATA = 0xCA
INS_GET_DATA_ODD = 0xCB
INS_GET_RESPONSE = 0xC0
INS_VERIFY = 0x20
INS_SELECT_DATA = 0xA5


@dataclass(frozen=True)
class Response:
    """A card's answer: data bytes and the status word."""

    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        """True for 9000."""
        return self.sw == SW_OK

    @property
    def sw1(self) -> int:
        """First status byte."""
        return self.sw >> 8


def command(
    cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None
) -> bytes:
    """Encode a short APDU; ``le`` 256 is encoded as 00."""
    if len(data) > 255:
        raise ValueError("short APDU data longer than 255 bytes")
    out = bytes((cla, ins, p1, p2))
    if data:
        out += bytes((len(data),)) + data
    if le is not None:
        if not 0 <= le <= 256:
            raise ValueError("Le out of range")
        out += bytes((le & 0xFF,))
    return out


def select_aid(aid: bytes, cla: int = 0x00, p2: int = 0x00, le: int | None = 0) -> bytes:
    """SELECT by DF name (application identifier)."""
    return command(cla, INS_SELECT, 0x04, p2, aid, le if p2 != 0x0C else None)


def select_fid(fid: int, cla: int = 0x00, p2: int = 0x0C) -> bytes:
    """SELECT a file or DF by its two-byte identifier, no FCI requested."""
    return command(cla, INS_SELECT, 0x00, p2, fid.to_bytes(2, "big"))


def read_binary(offset: int, length: int, cla: int = 0x00) -> bytes:
    """READ BINARY ``length`` (1..256) bytes at ``offset`` (< 0x8000) of the current EF."""
    if not 0 <= offset < 0x8000:
        raise ValueError("offset out of range")
    return command(cla, INS_READ_BINARY, offset >> 8, offset & 0xFF, le=length)


def get_data(tag: int, cla: int = 0x00) -> bytes:
    """GET DATA (even INS) for a simple two-byte tag."""
    return command(cla, INS_GET_DATA, tag >> 8, tag & 0xFF, le=0)


_SW_NAMES = {
    SW_OK: N_("success"),
    SW_FILE_NOT_FOUND: N_("file or application not found"),
    SW_WRONG_P1P2: N_("wrong offset"),
    SW_CLA_NOT_SUPPORTED: N_("class not supported"),
    SW_INS_NOT_SUPPORTED: N_("instruction not supported"),
    SW_AUTH_BLOCKED: N_("authentication method blocked"),
    SW_SECURITY_NOT_SATISFIED: N_("security status not satisfied"),
    SW_DATA_NOT_FOUND: N_("referenced data not found"),
    0x6F00: N_("no precise diagnosis (card error)"),
    0x6700: N_("wrong length"),
    0x6A86: N_("incorrect P1/P2"),
    0x6A81: N_("function not supported"),
    0x6581: N_("memory failure"),
}


def describe_sw(sw: int) -> str:
    """A short technical name for a status word (untranslated; pass it through ``_()``)."""
    if sw in _SW_NAMES:
        return _SW_NAMES[sw]
    if sw >> 4 == 0x63C:
        return N_("counter value")
    return N_("unexpected status")
