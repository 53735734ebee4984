"""Reading helpers shared by the profiles."""

from __future__ import annotations

from ...errors import ApduError, CardDataError
from ...model import ItemId
from ..apdu import SW_END_OF_FILE, SW_OK, SW_WRONG_P1P2, read_binary
from ..guard import Channel


class Progress:
    """Which check item a profile is working on, so that a failure mid-read (card removed,
    reader fault) is reported against the right item. The orchestrator reads it; the guard
    knows nothing of it."""

    __slots__ = ("item",)

    def __init__(self) -> None:
        self.item = ItemId.APPLICATION


#: Status words meaning "not here" rather than "broken".
NOT_FOUND_SWS = frozenset({0x6A82, 0x6A86, 0x6A81, 0x6D00, 0x6E00, 0x6A88, 0x6985, 0x6999})


def is_card_error(sw: int) -> bool:
    """Status words that mean the card itself is in trouble (memory, no diagnosis)."""
    return sw >> 8 in (0x64, 0x65, 0x6F)


def read_chunk(channel: Channel, offset: int, length: int, cla: int) -> bytes:
    """READ BINARY one chunk; b'' at end of file."""
    resp = channel.send(read_binary(offset, length, cla=cla))
    if resp.sw in (SW_OK, SW_END_OF_FILE):
        return resp.data
    if resp.sw == SW_WRONG_P1P2:
        return b""
    raise ApduError(resp.sw, "READ BINARY")


def read_exact(channel: Channel, offset: int, length: int, cla: int, chunk: int) -> bytes:
    """Read exactly ``length`` bytes from ``offset`` in chunks of at most ``chunk`` bytes."""
    out = bytearray()
    while len(out) < length:
        want = min(chunk, length - len(out))
        data = read_chunk(channel, offset + len(out), want, cla)
        if not data:
            raise CardDataError(f"file ends after {len(out)} of {length} bytes")
        out += data[:want]
    return bytes(out)


def der_length(header: bytes) -> int | None:
    """Total length of the DER element starting ``header``, or None if not yet decidable."""
    if len(header) < 2:
        return None
    first = header[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 3:
        raise CardDataError("certificate length field is not DER")
    if len(header) < 2 + count:
        return None
    return 2 + count + int.from_bytes(header[2 : 2 + count], "big")


def printable(data: bytes) -> str | None:
    """ASCII text with padding stripped, or None when it is not printable text."""
    text = data.rstrip(b"\x00\xff ").decode("ascii", errors="replace")
    if not text or any(not ch.isprintable() or ch == "\ufffd" for ch in text):
        return None
    return text
