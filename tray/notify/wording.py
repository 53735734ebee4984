"""What a notification says and how loudly: from the assessment's severities (pure).

The urgency (and with it the icon, see :mod:`tray.notify.backends`) follows the finding's
severity as the tray and ``check`` show it: critical (red) findings are critical-urgency
notifications, warnings normal urgency (amber). The body leads with what to do, then
where, within :data:`BODY_LIMIT` characters; the full text is in the report.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..check.assess import severity
from ..i18n import _, join_list
from ..model import Health, Status

#: a notification body's length, about (servers cut or scroll longer ones)
BODY_LIMIT = 200


def urgency_name(status: Status) -> str:
    """'critical' for a FAIL, 'normal' for a WARN (and anything milder)."""
    return "critical" if severity(status) is Health.CRITICAL else "normal"


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word to at most ``limit`` characters, with an ellipsis if cut."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def body(advice: str, detail: str, where: str, others: Sequence[str] = ()) -> tuple[str, ...]:
    """The body's lines: advice first (else the detail), then where, then what else; at most
    BODY_LIMIT characters in all. Each line stays whole, so that the sink can make it safe."""
    tail = [where] if where else []
    if others:
        tail.append(_("Also: {problems}").format(problems=join_list(dict.fromkeys(others))))
    if _size(tail) > BODY_LIMIT - 41:  # an absurdly long card or reader name
        tail = [shorten(tail[0], BODY_LIMIT - 41)]
    lead = advice or detail
    lines = [shorten(lead, BODY_LIMIT - _size(tail) - (1 if tail else 0))] if lead else []
    lines += tail
    # What was found follows the advice when there is room for a useful part of it.
    left = BODY_LIMIT - _size(lines) - 1
    if advice and detail and left >= 40:
        lines.append(shorten(detail, left))
    return tuple(line for line in lines if line)


def _size(lines: Sequence[str]) -> int:
    """The length of ``lines`` joined by newlines."""
    return sum(map(len, lines)) + max(0, len(lines) - 1)
