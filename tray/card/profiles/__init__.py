"""Card profiles: pure functions of a guarded channel that read one card application.

Each profile module exposes ``KIND``, ``ALLOWLIST`` (what the guard lets through for it),
``EXCLUSIVE`` (no other profile is tried after it matched) and
``read(channel, atr) -> CardReading | None`` (None: this application is not on the card).
"""

from __future__ import annotations

from types import ModuleType

from . import hicos, openpgp, piv

#: Tried in this order; a profile claiming the ATR is tried first.
PROFILES: tuple[ModuleType, ...] = (hicos, piv, openpgp)
