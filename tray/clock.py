"""The clock is passed in, so tests and the demo can pin time."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone, tzinfo
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


# Times for people are local, with their offset; times for machines (JSON, history,
# Prometheus) stay UTC. ``zone`` None means this computer's local time zone.


def local(moment: datetime, zone: tzinfo | None = None) -> datetime:
    """``moment`` in ``zone`` (default: this computer's local time zone)."""
    return moment.astimezone(zone)


def offset_name(moment: datetime) -> str:
    """'UTC+8', 'UTC-5', 'UTC+5:30' or 'UTC' for an aware ``moment``."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}:{rest:02d}" if rest else f"UTC{sign}{hours}"


def local_time(moment: datetime, zone: tzinfo | None = None, *, seconds: bool = False) -> str:
    """'2026-12-04 01:43 (UTC+8)': a time for a person, in local time with its offset."""
    here = local(moment, zone)
    shape = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{here.strftime(shape)} ({offset_name(here)})"


def local_date(moment: datetime, zone: tzinfo | None = None) -> str:
    """'2026-12-04': the local calendar date of ``moment``."""
    return local(moment, zone).strftime("%Y-%m-%d")
