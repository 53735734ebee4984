"""Strings from a card, a reader, the network or a saved file, made safe for each sink.

Such a string is data until it reaches a sink; this module is the one place that turns it
into text for that sink (the habit of OpenSSL's ``-nameopt esc_ctrl``, the Desktop
Notifications spec's markup rules and HTML autoescaping):

* terminal (:func:`terminal`): C0 and C1 control characters, DEL and ESC are written as
  ``\\XX`` (``\\1B``), as OpenSSL's esc_ctrl does; bidi overrides, embeddings, isolates and
  marks and the Unicode line/paragraph separators as ``\\UXXXX`` (``\\U202E``). So no escape
  sequence can reach the terminal (no title change, no clearing, no concealing), no newline
  can forge another line, and no override can reverse Cardwatch's own words.
* notification (:func:`notification`): the same, then ``&``, ``<`` and ``>`` written as
  entities where the server may parse markup (the spec's body-markup; dunst also parses the
  summary), so a label shows ``<b>`` literally and no link is made of ``<a href>``.
* HTML (:func:`html_text`, :func:`html_isolated`): the same visible escapes, then
  :func:`html.escape`; a value that is wholly data is isolated in ``<bdi>`` so right-to-left
  text in it cannot reorder what surrounds it.
* JSON: as is (:func:`json.dumps` escapes control characters itself).
* log (:func:`log_card`): a card is named by the first 4 and last 4 characters of its number
  (``TP03…2345``), never the whole number: the log file is what gets attached to bug reports.

Cardwatch's own words never hold these characters, so a whole composed line can pass through
:func:`terminal` too.
"""

from __future__ import annotations

from html import escape

#: bidi formatting characters: LRE RLE PDF LRO RLO, LRI RLI FSI PDI, LRM RLM, ALM; and the
#: line and paragraph separators, which some terminals and toolkits treat as a newline
BIDI_AND_SEPARATORS = frozenset(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C, 0x2028, 0x2029]
)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\{code:02X}"
    if code in BIDI_AND_SEPARATORS:
        return f"\\U{code:04X}"
    return ch


def _needs(text: str) -> bool:
    return any((o := ord(ch)) < 0x20 or 0x7F <= o < 0xA0 or o in BIDI_AND_SEPARATORS for ch in text)


def terminal(text: str) -> str:
    """``text`` for a terminal: control and bidi characters escaped, never a newline."""
    if not _needs(text):
        return text
    return "".join(_escape_char(ch) for ch in text)


def terminal_lines(lines: list[str]) -> str:
    """Lines joined for a terminal, each made safe (a newline inside one cannot forge more)."""
    return "\n".join(terminal(line) for line in lines) + "\n"


def notification(text: str, *, markup: bool) -> str:
    """``text`` for a desktop notification; ``markup`` when the server may parse markup."""
    safe = terminal(text)
    if markup:
        safe = safe.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return safe


def html_text(value: object) -> str:
    """``value`` as HTML text or attribute value: escaped, no control or bidi character left."""
    return escape(terminal(str(value)), quote=True)


def html_isolated(value: object) -> str:
    """``value`` (wholly data) as HTML isolated in ``<bdi>``: its direction stays inside."""
    return f"<bdi>{html_text(value)}</bdi>"


def log_card(key: str | None) -> str:
    """A card key (number, or ATR/serial) shortened for the log: ``TP03…2345``, ``…2345``."""
    if not key:
        return ""
    atr, slash, serial = key.rpartition("/")
    if slash:  # no card number: the ATR names the card model, the serial the person
        return f"{terminal(atr)}/{log_card(serial)}"
    text = terminal(key)
    if len(text) > 8:
        return f"{text[:4]}…{text[-4:]}"
    return f"…{text[-4:]}" if len(text) > 4 else "…"
