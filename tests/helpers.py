"""Small helpers shared by tests."""

from __future__ import annotations

from datetime import datetime, timezone

from tray.model import ItemId, ReaderReport, Status


class FixedClock:
    """A clock pinned at ``now``; monotonic time advances only when told."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime.now(timezone.utc)
        self.mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self.mono


def statuses(report: ReaderReport) -> dict[int, Status]:
    """Item number → status for one reader."""
    return {int(item.item): item.status for item in report.items}


def item(report: ReaderReport, number: ItemId):  # type: ignore[no-untyped-def]
    """The item with ``number``."""
    return next(i for i in report.items if i.item == number)
