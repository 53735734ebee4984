"""Identify a card by its ATR: a small shipped table, then pcsc-tools' list when installed."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ..i18n import N_


@dataclass(frozen=True)
class AtrMatch:
    """A known ATR: a description (translatable) and the profile kind that reads it."""

    description: str
    kind: str | None = None
    source: str = "cardwatch"


# (pattern, description, profile kind). Patterns are hex with '..' for any byte.
_TABLE: tuple[tuple[str, str, str | None], ...] = (
    (
        "3BB81300813 1FA524348544D4F494341A5",
        N_("MOICA citizen certificate card, Chunghwa Telecom HiCOS (T7S, generation 1)"),
        "moica",
    ),
    (
        # Historical bytes "CHTGPKIJ"; pcsc-tools lists it as the citizen digital certificate.
        "3BD8960081B1FE451F07434854475 04B494ADD",
        N_("MOICA citizen certificate card, Chunghwa Telecom HiCOS (generation 2)"),
        "moica",
    ),
    (
        # The same card read through its contactless interface (pcsc-tools' list).
        "3B8B80010031C164084021300090 0057",
        N_("MOICA citizen certificate card (contactless interface)"),
        "moica",
    ),
    (
        "3BFD1300008131FE158073C021C057597562694B657940",
        N_("YubiKey 5 series (PIV, OpenPGP)"),
        "piv",
    ),
    ("3BF81300008131FE15597562696B657934D4", N_("YubiKey 4 (PIV, OpenPGP)"), "piv"),
    ("3BFC1300008131FE15597562696B65794E454F7233E1", N_("YubiKey NEO (PIV, OpenPGP)"), "piv"),
    ("3BDA18FF81B1FE751F030031C573C001400090000C", N_("OpenPGP card v2/v3"), "openpgp"),
)

_PCSC_TOOLS_LISTS = (
    Path("/usr/share/pcsc/smartcard_list.txt"),
    Path("/usr/local/share/pcsc/smartcard_list.txt"),
    Path("/opt/homebrew/share/pcsc/smartcard_list.txt"),
)


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace(" ", "").upper() + r"\Z")


def normalise(atr: bytes) -> bytes:
    """Drop the extra leading 00 some readers (EZ100PU on macOS) put before TS."""
    if len(atr) > 1 and atr[0] == 0x00 and atr[1] in (0x3B, 0x3F):
        return atr[1:]
    return atr


def lookup(atr: bytes, *, lists: tuple[Path, ...] = _PCSC_TOOLS_LISTS) -> AtrMatch | None:
    """Describe ``atr`` from the shipped table, else from pcsc-tools' smartcard_list.txt."""
    text = normalise(atr).hex().upper()
    for pattern, description, kind in _TABLE:
        if _compile(pattern).match(text):
            return AtrMatch(description, kind)
    for path in lists:
        found = _lookup_list(path, text)
        if found is not None:
            return AtrMatch(found, None, str(path))
    return None


def _lookup_list(path: Path, atr_hex: str) -> str | None:
    for pattern, description in _load_list(path):
        if pattern.match(atr_hex):
            return description
    return None


@functools.lru_cache(maxsize=4)
def _load_list(path: Path) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Parse pcsc-tools' list once: an ATR regex line, then tab-indented description lines."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ()
    entries: list[tuple[re.Pattern[str], str]] = []
    pattern: re.Pattern[str] | None = None
    descriptions: list[str] = []

    def flush() -> None:
        if pattern is not None and descriptions:
            entries.append((pattern, "; ".join(descriptions)))

    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        if line[0] in "\t ":
            descriptions.append(line.strip())
            continue
        flush()
        descriptions = []
        try:
            pattern = _compile(line)
        except re.error:
            pattern = None
    flush()
    return tuple(entries)


def is_moica_gen1(atr: bytes) -> bool:
    """True for the first-generation MOICA card (historical bytes 'RCHTMOICA')."""
    return b"CHTMOICA" in historical_bytes(atr)


def is_cht(atr: bytes) -> bool:
    """True when the historical bytes name Chunghwa Telecom ('CHT') or the table calls the
    card a MOICA/HiCOS card: worth probing HiCOS generation 1 (CLA 80) on."""
    if b"CHT" in historical_bytes(atr):
        return True
    match = lookup(atr, lists=())
    return match is not None and match.kind == "moica"


def historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of ``atr`` (ISO 7816-3: T0's low nibble counts them, after the
    interface bytes); b'' when the ATR is too short to hold them."""
    atr = normalise(atr)
    if len(atr) < 2:
        return b""
    count = atr[1] & 0x0F
    pos = 2
    y = atr[1] >> 4
    while True:
        td = None
        for bit in range(4):
            if y & (1 << bit):
                if pos >= len(atr):
                    return b""
                if bit == 3:
                    td = atr[pos]
                pos += 1
        if td is None:
            break
        y = td >> 4
    return atr[pos : pos + count]
