"""The words every rendering shares: health, days left, PIN states and tries.

One spelling each, so that the terminal, the report, ``status`` and the tray say the same
thing in the same words (and each phrase is translated once).
"""

from __future__ import annotations

from ..i18n import _, ngettext
from ..model import Health, PinState, PinStatus, ReaderReport


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


def pkcs11_note(report: ReaderReport) -> str:
    """What the PKCS#11 figures mean, in the report's words."""
    parts: list[str] = []
    if report.pkcs11_modules:
        parts.append(
            _(
                "PKCS#11 module(s) {names} asked: {ms:.0f} ms. Their own commands to the card do "
                "not pass Cardwatch's guard and are not counted in the commands above."
            ).format(names=", ".join(report.pkcs11_modules), ms=report.pkcs11_ms)
        )
    if report.pkcs11_skipped:
        parts.append(
            _(
                "Not asked: {names} (its driver probe takes seconds on a card no built-in profile "
                "reads; '--pkcs11-probe' or [pkcs11] probe_unknown = true asks it)."
            ).format(names=", ".join(report.pkcs11_skipped))
        )
    return " ".join(parts)
