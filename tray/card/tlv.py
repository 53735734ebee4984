"""A small, strict BER-TLV reader: every length is checked against the bytes at hand."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import CardDataError
from ..i18n import _

MAX_DEPTH = 16


@dataclass(frozen=True)
class Tlv:
    """One decoded tag-length-value."""

    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        """True when the value holds nested TLVs."""
        first = self.tag
        while first > 0xFF:
            first >>= 8
        return bool(first & 0x20)

    def children(self) -> list[Tlv]:
        """Decode the value as a list of TLVs."""
        return parse(self.value)

    def child(self, tag: int) -> Tlv | None:
        """First direct child with ``tag``, or None."""
        for item in self.children():
            if item.tag == tag:
                return item
        return None


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise CardDataError("TLV truncated in tag")
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        for _ in range(3):
            if pos >= len(data):
                raise CardDataError("TLV truncated in multi-byte tag")
            byte = data[pos]
            tag = (tag << 8) | byte
            pos += 1
            if not byte & 0x80:
                break
        else:
            raise CardDataError("TLV tag longer than four bytes")
    return tag, pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise CardDataError("TLV truncated in length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0:
        raise CardDataError("TLV indefinite length is not allowed here")
    if count > 3:
        raise CardDataError("TLV length field too long")
    if pos + count > len(data):
        raise CardDataError("TLV truncated in length")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def parse_one(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """Decode the TLV at ``pos``; return it and the offset just after it."""
    tag, pos = _read_tag(data, pos)
    length, pos = _read_length(data, pos)
    end = pos + length
    if end > len(data):
        raise CardDataError(
            _("TLV {tag} claims {length} bytes, only {present} present").format(
                tag=f"{tag:X}", length=length, present=len(data) - pos
            )
        )
    return Tlv(tag, bytes(data[pos:end])), end


def iterate(data: bytes, *, stop_at_padding: bool = False) -> Iterator[Tlv]:
    """Yield consecutive TLVs; with ``stop_at_padding`` a 00 or FF byte in tag position ends the list."""
    pos = 0
    while pos < len(data):
        if stop_at_padding and data[pos] in (0x00, 0xFF):
            return
        item, pos = parse_one(data, pos)
        yield item


def parse(data: bytes, *, stop_at_padding: bool = False) -> list[Tlv]:
    """Decode all consecutive TLVs in ``data``."""
    return list(iterate(data, stop_at_padding=stop_at_padding))


def find(data: bytes, tag: int, *, depth: int = 0) -> Tlv | None:
    """Depth-first search for the first TLV with ``tag`` (bounded nesting)."""
    if depth > MAX_DEPTH:
        raise CardDataError("TLV nesting too deep")
    for item in iterate(data):
        if item.tag == tag:
            return item
        if item.constructed:
            found = find(item.value, tag, depth=depth + 1)
            if found is not None:
                return found
    return None


def encode(tag: int, value: bytes) -> bytes:
    """Encode one TLV (used by the virtual cards)."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    elif n <= 0xFF:
        length = bytes((0x81, n))
    elif n <= 0xFFFF:
        length = b"\x82" + n.to_bytes(2, "big")
    else:
        length = b"\x83" + n.to_bytes(3, "big")
    return tag_bytes + length + value
