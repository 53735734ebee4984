"""The notification log on disk: what was told per card and finding, and the snoozes.

``notifications.json`` in the user data dir, written atomically through
:mod:`tray.store.files` from a background thread; a file that cannot be read is set aside (one
log line) and the log starts afresh: at worst a finding is told once more.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..clock import Clock
from ..model import parse_time
from ..notify.policy import NotifyLog, Told
from .files import Coalescer, atomic_write_text, data_dir, load_json, set_aside

log = logging.getLogger(__name__)

SCHEMA = "cardwatch.notifications/1"
FILE = "notifications.json"


def log_path() -> Path:
    """Where the notification log lives."""
    return data_dir() / FILE


def _time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_dict(notify_log: NotifyLog) -> dict[str, Any]:
    """The log as it is stored."""
    return {
        "schema": SCHEMA,
        "told": {
            card: {
                k: {"at": _time(t.at), "topic": t.topic, "rank": t.rank} for k, t in keys.items()
            }
            for card, keys in sorted(notify_log.told.items())
        },
        "snoozed": {card: _time(until) for card, until in sorted(notify_log.snoozed.items())},
    }


def from_dict(data: Any) -> NotifyLog:
    """The log from its stored form; ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    told: dict[str, dict[str, Told]] = {}
    for card, keys in dict(data.get("told") or {}).items():
        if not isinstance(keys, dict):
            raise ValueError(f"told[{card!r}] is not an object")
        mine = told.setdefault(str(card), {})
        for key, entry in keys.items():
            if not isinstance(entry, dict):
                raise ValueError(f"told[{card!r}][{key!r}] is not an object")
            rank = entry.get("rank")
            if not isinstance(rank, int) or isinstance(rank, bool):
                raise ValueError(f"told[{card!r}][{key!r}].rank is not a number")
            mine[str(key)] = Told(parse_time(entry.get("at")), str(entry.get("topic", "")), rank)
    snoozed = {str(c): parse_time(u) for c, u in dict(data.get("snoozed") or {}).items()}
    return NotifyLog(told, snoozed)


def load(path: Path, clock: Clock | None = None) -> NotifyLog:
    """The log in ``path``; empty if missing; an unusable file is set aside."""
    data = load_json(path, "notification log", schema=SCHEMA, clock=clock)
    if data is None:
        return NotifyLog()
    try:
        return from_dict(data)
    except (ValueError, TypeError) as exc:
        set_aside(path, "notification log", f"unexpected content: {exc}", clock)
        return NotifyLog()


class LogFile:
    """The log kept on disk; ``save`` never waits for the disk."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.initial = load(path, clock)
        self._writer: Coalescer[NotifyLog] = Coalescer("cw-notify-log", self._write)

    def save(self, notify_log: NotifyLog) -> None:
        """Write ``notify_log`` soon (from the writer's thread)."""
        self._writer.submit(notify_log)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until what was saved is on disk."""
        return self._writer.flush(timeout)

    def close(self) -> None:
        """Write what is pending and stop."""
        self._writer.close()

    def _write(self, notify_log: NotifyLog) -> None:
        atomic_write_text(
            self.path, json.dumps(to_dict(notify_log), indent=1) + "\n", own_folder=True
        )
