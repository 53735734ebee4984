"""The words every rendering shares: health, days left, PIN states and tries.

One spelling each, so that the terminal, the report, ``status`` and the tray say the same
thing in the same words (and each phrase is translated once).
"""

from __future__ import annotations

from ..i18n import _, ngettext
from ..model import Health, PinState, PinStatus


def health_label(health: Health) -> str:
    """The overall verdict as a heading word ('CRITICAL')."""
    return {
        Health.OK: _("OK"),
        Health.WARNING: _("WARNING"),
        Health.CRITICAL: _("CRITICAL"),
        Health.UNKNOWN: _("UNKNOWN"),
    }[health]


def health_word(health: Health) -> str:
    """The verdict as a word inside a line ('critical')."""
    return {
        Health.OK: _("OK"),
        Health.WARNING: _("warning"),
        Health.CRITICAL: _("critical"),
        Health.UNKNOWN: _("unknown"),
    }[health]


def days_left(days: int) -> str:
    """'21 days left'; for a negative count, 'expired 3 days ago'."""
    if days < 0:
        return ngettext("expired {n} day ago", "expired {n} days ago", -days).format(n=-days)
    return ngettext("{n} day left", "{n} days left", days).format(n=days)


def cert_days_left(days: int) -> str:
    """A certificate's '21 days left', or 'expired'."""
    if days < 0:
        return _("expired")
    return ngettext("{n} day left", "{n} days left", days).format(n=days)


def pin_state(pin: PinStatus) -> str:
    """A PIN's state in words."""
    words = {
        PinState.OK: _("OK"),
        PinState.COUNT_LOW: _("few tries left"),
        PinState.FINAL_TRY: _("one try left before the PIN locks"),
        PinState.LOCKED: _("locked"),
        PinState.VERIFIED: _("verified in this session"),
        PinState.NOT_READABLE: _("tries left cannot be read safely"),
    }
    return words[pin.state]


def tries_left(tries: int) -> str:
    """'3 tries left'."""
    return ngettext("{n} try left", "{n} tries left", tries).format(n=tries)
