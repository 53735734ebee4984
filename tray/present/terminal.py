"""Writing to a terminal whatever its encoding: output is never lost to a codec.

JSON is written as UTF-8 bytes (it is for machines, and JSON is UTF-8). Text for people
keeps its symbols on a UTF-8 terminal; on another one (``LANG=en_US.ISO-8859-1``, a Windows
console code page) each symbol becomes its ASCII spelling (→ becomes ->, ✓ becomes OK)
and what still cannot be written becomes '?', instead of the whole output failing.
"""

from __future__ import annotations

import codecs
import contextlib
from typing import TextIO

#: symbols the renderings use, and how they read in plain ASCII
ASCII_SPELLING = {
    "→": "->",
    "←": "<-",
    "✓": "OK",
    "✔": "OK",
    "✕": "x",
    "✗": "x",
    "•": "*",
    "·": "-",
    "…": "...",
    "○": "o",
    "—": "--",
    "–": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "「": '"',
    "」": '"',
    "≥": ">=",
    "≤": "<=",
    "\u00a0": " ",
}


def _encoding(stream: TextIO) -> str:
    try:
        return codecs.lookup(stream.encoding or "ascii").name
    except LookupError:
        return "ascii"


def fits(text: str, encoding: str) -> bool:
    """Whether ``text`` can be written in ``encoding`` as it is."""
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def degrade(text: str, encoding: str) -> str:
    """``text`` as ``encoding`` can carry it: symbols spelt in ASCII, the rest as '?'."""
    if fits(text, encoding):
        return text
    out = []
    for char in text:
        if not fits(char, encoding):
            char = ASCII_SPELLING.get(char, char)
        out.append(char)
    spelt = "".join(out)
    return spelt.encode(encoding, errors="replace").decode(encoding)


def write_text(stream: TextIO, text: str) -> None:
    """Write text for people to ``stream``, degraded to what its encoding can carry."""
    stream.write(degrade(text, _encoding(stream)))


def write_json(stream: TextIO, text: str) -> None:
    """Write a JSON document as UTF-8 bytes, whatever the locale's encoding."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a stream without bytes underneath (a test's StringIO)
        stream.write(text)
        return
    stream.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def tolerant(stream: TextIO) -> None:
    """Let ``stream`` replace what its encoding cannot carry instead of raising."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        # a closed or detached stream has nothing to protect
        with contextlib.suppress(ValueError, OSError):
            reconfigure(errors="replace")
