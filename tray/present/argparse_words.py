"""argparse in the user's language, wrapped by display width for Chinese.

argparse translates its own words ("usage: ", "options", "show this help message and
exit", its error messages) through module-level ``_``/``ngettext`` taken from
``gettext``'s default domain, which Cardwatch never installs. :func:`install` routes them
to Cardwatch's catalogue, which holds those msgids (the :data:`MESSAGES` below, copied from
Python's argparse so the extractor finds them). :class:`HelpFormatter` wraps help text by
display cells: a CJK character is two cells wide and a line may break between two of them,
never in the middle of a Latin word.
"""

from __future__ import annotations

import argparse
import re
import unicodedata

from ..i18n import N_, _, ngettext

#: argparse's own messages (Python 3.10-3.13), so that the catalogue can hold them
MESSAGES = (
    N_("usage: "),
    N_("options"),
    N_("optional arguments"),
    N_("positional arguments"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("unrecognized arguments: %s"),
    N_("the following arguments are required: %s"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("ignored explicit argument %r"),
    N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"),
)


def install() -> None:
    """Let argparse's own words go through Cardwatch's catalogue (idempotent)."""
    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


def cells(text: str) -> int:
    """Display width: East Asian wide and full-width characters take two cells."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


_WIDE = r"[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]"
#: closing punctuation that must not begin a line: it sticks to what is before it
_CLOSING = "，。、：；！？）」』】》〉”’…"
_TOKENS = re.compile(rf"\s+|{_WIDE}[{_CLOSING}]*|[^\s\u1100-\uffef]+[{_CLOSING}]*|.", re.S)


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` cells (a longer word gets a line of its own)."""
    lines: list[str] = []
    line = ""
    space = False
    for token in _TOKENS.findall(" ".join(text.split())):
        if token.isspace():
            space = bool(line)
            continue
        gap = " " if space else ""
        if line and cells(line + gap + token) > width:
            lines.append(line)
            line, gap = "", ""
        line += gap + token
        space = False
    if line:
        lines.append(line)
    return lines


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, wrapping by display cells (see :func:`wrap`)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap(text, width - len(indent)))
