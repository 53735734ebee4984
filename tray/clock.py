"""The clock is passed in, so tests and the demo can pin time."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time (for certificate validity) and a monotonic timer (for budgets)."""

    def now(self) -> datetime:
        """Current UTC time, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        ...


class SystemClock:
    """This computer's clock."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()
