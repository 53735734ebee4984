"""Check history and the daemon's last state, on disk in the user data dir.

Two JSON documents, each written atomically through :mod:`tray.store.files` by a coalescing
background writer (the dispatcher thread that calls :meth:`History.record` and
:meth:`History.save_state` never waits for the disk):

* ``history.json`` (schema ``cardwatch.history/1``): one compact entry per finished check,
  oldest first, and the latest full report of each reader;
* ``state.json`` (schema ``cardwatch.state/1``): the current snapshot, read by
  ``cardwatch status``.

The history stays bounded (an entry cap and an age cap) but keeps, for every reader, every
card and every ATR, at least its most recent ``keep_per_key`` entries and its most recent
``keep_per_key`` checks that are evidence about a reader or card, and each card's latest good
read on each reader, so that :mod:`tray.daemon.diagnosis` can tell a bad reader from a bad card
later (its windows are smaller than ``keep_per_key``). Only when protected entries alone pass twice the entry cap (a
fleet of many cards through one machine) does the oldest go regardless.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from .. import __version__
from ..clock import Clock
from ..daemon import diagnosis
from ..daemon.state import DaemonState, as_check_report, assessment, icon_state
from ..model import (
    Cause,
    Code,
    Health,
    HistoryEntry,
    ItemId,
    ItemOutcome,
    ReaderReport,
    Status,
    entry_from_report,
    parse_time,
)
from ..present.check_json import (
    assessment_to_dict,
    clock_to_dict,
    item_to_dict,
    reader_to_dict,
    timestamp,
)
from .files import Coalescer, atomic_write_text, data_dir, load_json, set_aside

log = logging.getLogger(__name__)

SCHEMA = "cardwatch.history/1"
STATE_SCHEMA = "cardwatch.state/1"
HISTORY_FILE = "history.json"
STATE_FILE = "state.json"
#: readers whose latest full report is kept (the least recently checked goes first)
MAX_READERS = 32


def history_path() -> Path:
    """The history file in the user data dir."""
    return data_dir() / HISTORY_FILE


def state_path() -> Path:
    """The daemon's state file in the user data dir."""
    return data_dir() / STATE_FILE


def entry_to_dict(entry: HistoryEntry) -> dict[str, Any]:
    """An entry as it is stored."""
    return {
        "at": timestamp(entry.at),
        "reader": entry.reader,
        "card": entry.card,
        "kind": entry.kind,
        "health": entry.health.name.lower(),
        "items": {
            str(int(i.item)): [i.status.value, i.code_text, i.cause.value] for i in entry.items
        },
        "days_left": entry.days_left,
        "pins": [[label, tries] for label, tries in entry.pins],
        "atr": entry.atr,
    }


def _text(value: object, what: str, optional: bool = False) -> Any:
    if (value is None and optional) or isinstance(value, str):
        return value
    raise ValueError(f"{what} is not text: {value!r}")


def _count(value: object, what: str) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"{what} is not a number: {value!r}")


_STATUS = {s.value: s for s in Status}
_CAUSE = {c.value: c for c in Cause}
_CODE = {c.value: c for c in Code}


def entry_from_dict(data: object) -> HistoryEntry:
    """A stored entry; ValueError (or KeyError/TypeError) when it is not one."""
    if not isinstance(data, dict):
        raise ValueError(f"an entry is not an object: {data!r}")
    items = []
    for number, outcome in dict(data["items"]).items():
        status, text, cause = outcome
        # A code of another version is kept as read: the entry stays usable, and is shown and
        # written back unchanged.
        code = _CODE.get(_text(text, "code"), Code.OTHER)
        raw = None if code == text else text
        items.append(ItemOutcome(ItemId(int(number)), _STATUS[status], code, _CAUSE[cause], raw))
    pins = tuple(
        (_text(label, "PIN label"), _count(tries, "PIN tries")) for label, tries in data["pins"]
    )
    return HistoryEntry(
        at=parse_time(data["at"]),
        reader=_text(data["reader"], "reader"),
        card=_text(data["card"], "card", optional=True),
        kind=_text(data["kind"], "kind", optional=True),
        health=Health[_text(data["health"], "health").upper()],
        items=tuple(items),
        days_left=_count(data["days_left"], "days left"),
        pins=pins,
        atr=_text(data.get("atr"), "ATR", optional=True),
    )


@dataclass(frozen=True)
class Latest:
    """The latest full report of one reader, as report_json data (schema cardwatch.check/1)."""

    at: datetime
    report: Mapping[str, Any]


def prune_mask(
    entries: Sequence[HistoryEntry],
    now: datetime,
    max_entries: int,
    max_age_days: float,
    keep_per_key: int,
) -> list[bool]:
    """Which entries :func:`prune` keeps (True), in order."""
    cutoff = now - timedelta(days=max_age_days)
    if len(entries) <= max_entries and all(e.at >= cutoff for e in entries[:1]):
        return [True] * len(entries)
    # Newer entries per reader, card and ATR (the diagnosis matches a card that failed before
    # its number was read by its ATR); all of them, and only those that are evidence.
    newer: Counter[tuple[str, str]] = Counter()
    newer_evidence: Counter[tuple[str, str]] = Counter()
    good_seen: set[tuple[str, str]] = set()
    protected = [False] * len(entries)
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        found = diagnosis.outcome(entry)
        keys = [("reader", entry.reader)]
        keys += [("card", entry.card)] if entry.card is not None else []
        keys += [("atr", entry.atr)] if entry.atr is not None else []
        keep = any(newer[k] < keep_per_key for k in keys)
        if found is not None:
            keep = keep or any(newer_evidence[k] < keep_per_key for k in keys)
            newer_evidence.update(keys)
        newer.update(keys)
        # A card's latest good read on each reader clears that card on other readers.
        if entry.card is not None and found is diagnosis.Outcome.GOOD:
            keep = keep or (entry.card, entry.reader) not in good_seen
            good_seen.add((entry.card, entry.reader))
        protected[index] = keep
    kept = [p or e.at >= cutoff for p, e in zip(protected, entries, strict=True)]
    excess = sum(kept) - max_entries
    for index in range(len(entries)):
        if excess <= 0:
            break
        if kept[index] and not protected[index]:
            kept[index] = False
            excess -= 1
    # Protected entries alone past twice the cap (very many cards): the oldest go regardless.
    excess = sum(kept) - 2 * max_entries
    for index in range(len(entries)):
        if excess <= 0:
            break
        if kept[index]:
            kept[index] = False
            excess -= 1
    return kept


def prune(
    entries: Sequence[HistoryEntry],
    now: datetime,
    max_entries: int,
    max_age_days: float,
    keep_per_key: int,
) -> list[HistoryEntry]:
    """Drop the oldest entries past the caps, but keep each reader's and card's latest ones."""
    mask = prune_mask(entries, now, max_entries, max_age_days, keep_per_key)
    return [e for e, k in zip(entries, mask, strict=True) if k]


_Loaded = tuple[list[HistoryEntry], list[str], dict[str, Latest]]


def _parse_history(data: dict[str, Any]) -> _Loaded:
    raw = list(data["entries"])
    entries = [entry_from_dict(e) for e in raw]
    # Stored as read (keys a later version added are kept), encoded once.
    encoded = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in raw]
    latest = {}
    for reader, value in dict(data.get("latest") or {}).items():
        report = value["report"]
        if not isinstance(report, dict):
            raise ValueError(f"the latest report of {reader!r} is not an object")
        latest[_text(reader, "reader")] = Latest(parse_time(value["at"]), report)
    return entries, encoded, latest


def _load(path: Path, clock: Clock | None) -> _Loaded:
    data = load_json(path, "history", schema=SCHEMA, clock=clock)
    if data is None:
        return [], [], {}
    try:
        return _parse_history(data)
    except (KeyError, TypeError, ValueError) as exc:
        set_aside(path, "history", f"malformed content: {exc!r}", clock)
        return [], [], {}


def load_history(
    path: Path, clock: Clock | None = None
) -> tuple[list[HistoryEntry], dict[str, Latest]]:
    """The entries and latest reports in ``path``; empty if missing, set aside if unusable."""
    entries, _encoded, latest = _load(path, clock)
    return entries, latest


def _encode(entry: HistoryEntry) -> str:
    return json.dumps(entry_to_dict(entry), ensure_ascii=False, separators=(",", ":"))


def history_text(encoded: Sequence[str], latest: Mapping[str, Latest]) -> str:
    """The history document (schema cardwatch.history/1) from already encoded entries."""
    head = {"schema": SCHEMA, "version": __version__}
    tail = {
        "latest": {
            reader: {"at": timestamp(value.at), "report": dict(value.report)}
            for reader, value in sorted(latest.items())
        }
    }
    # Each entry is encoded once, when recorded: a write then costs a join, not 2000 encodings.
    return _dumps(head)[:-2] + ',"entries":[' + ",".join(encoded) + "]," + _dumps(tail)[1:]


@dataclass(frozen=True)
class Owner:
    """Which process writes the state file, so ``cardwatch status`` can tell if it still runs."""

    pid: int
    host: str

    @staticmethod
    def this_process() -> Owner:
        """The current process on this host."""
        return Owner(os.getpid(), socket.gethostname())


def state_document(state: DaemonState, owner: Owner, running: bool = True) -> dict[str, Any]:
    """The snapshot as ``state.json`` holds it (schema cardwatch.state/1)."""
    updated = state.updated_at
    return {
        "schema": STATE_SCHEMA,
        "version": __version__,
        "updated_at": timestamp(updated) if updated else None,
        "running": running,
        "pid": owner.pid,
        "host": owner.host,
        "icon": icon_state(state).value,
        "language": as_check_report(state).language,
        # the verdict every surface shows, and the clock item it may rest on
        "assessment": assessment_to_dict(assessment(state)),
        "clock": clock_to_dict(state.clock, state.clock_reading),
        "paused": state.paused,
        "service_up": state.service_up,
        "service_item": item_to_dict(state.service_item) if state.service_item else None,
        "readers": [
            {
                "reader": r.reader,
                "phase": r.phase.value,
                "since": timestamp(r.since) if r.since else None,
                "report": reader_to_dict(r.report) if r.report else None,
            }
            for r in state.readers
        ],
    }


def _dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


_HistorySnapshot = tuple[tuple[str, ...], dict[str, Latest]]


class History:
    """Records every finished check and the current state; see the module doc."""

    def __init__(
        self,
        path: Path,
        clock: Clock,
        max_entries: int = 2000,
        max_age_days: float = 400.0,
        keep_per_key: int = 10,
        *,
        state_file: Path | None = None,
        min_interval: float = 0.25,
        owner: Owner | None = None,
    ) -> None:
        self.path = path
        self.state_file = state_file or path.with_name(STATE_FILE)
        self._clock = clock
        self._max_entries = max_entries
        self._max_age_days = max_age_days
        self._keep = keep_per_key
        self._owner = owner or Owner.this_process()
        self._lock = threading.Lock()
        entries, self._encoded, self._latest = _load(path, clock)
        # Most checks end with one of a few item outcomes: entries share those tuples, so
        # thousands of entries in memory cost little more than their encoded text.
        self._outcomes: dict[tuple[ItemOutcome, ...], tuple[ItemOutcome, ...]] = {}
        self._entries = [self._shared(e) for e in entries]
        self._next_prune = datetime.min.replace(tzinfo=timezone.utc)
        self._last_state: DaemonState | None = None
        # Documents are built and serialised on the writers' threads, not the caller's.
        self._history_writer: Coalescer[_HistorySnapshot] = Coalescer(
            "cw-history", self._write_history, min_interval
        )
        self._state_writer: Coalescer[tuple[DaemonState, bool]] = Coalescer(
            "cw-state", self._write_state, min_interval
        )

    @property
    def max_entries(self) -> int:
        """The entry cap pruning keeps the history under (give or take a tenth)."""
        return self._max_entries

    @classmethod
    def open_default(cls, clock: Clock) -> History:
        """The history in the user data dir."""
        return cls(history_path(), clock)

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- listeners (the daemon's dispatcher thread) --------------------------------------

    def record(self, report: ReaderReport, at: datetime) -> None:
        """Add one finished check (a daemon report listener)."""
        entry = self._shared(entry_from_report(report, at))
        encoded = _encode(entry)
        with self._lock:
            self._entries.append(entry)
            self._encoded.append(encoded)
            # Pruning walks every entry: do it past the cap by a tenth, or hourly for age.
            if len(self._entries) > self._max_entries * 1.1 or entry.at >= self._next_prune:
                self._prune(entry.at)
            self._latest[report.reader] = Latest(entry.at, reader_to_dict(report))
            if len(self._latest) > MAX_READERS:
                oldest = min(self._latest, key=lambda r: self._latest[r].at)
                del self._latest[oldest]
            snapshot = (tuple(self._encoded), dict(self._latest))
        self._history_writer.submit(snapshot)

    def _shared(self, entry: HistoryEntry) -> HistoryEntry:
        items = self._outcomes.setdefault(entry.items, entry.items)
        if len(self._outcomes) > 4 * self._max_entries:  # only when every check differs
            self._outcomes.clear()
        return entry if items is entry.items else replace(entry, items=items)

    def _prune(self, now: datetime) -> None:
        mask = prune_mask(self._entries, now, self._max_entries, self._max_age_days, self._keep)
        self._next_prune = now + timedelta(hours=1)
        if not all(mask):
            pairs = zip(self._entries, self._encoded, mask, strict=True)
            kept = [(e, text) for e, text, k in pairs if k]
            self._entries = [e for e, _text in kept]
            self._encoded = [text for _e, text in kept]

    def save_state(self, state: DaemonState) -> None:
        """Write the current snapshot to ``state.json`` soon (a daemon state listener)."""
        self._last_state = state
        self._state_writer.submit((state, True))

    # -- reading ------------------------------------------------------------------------

    def entries(self, reader: str | None = None, card: str | None = None) -> list[HistoryEntry]:
        """The entries, oldest first; only those of ``reader`` and/or ``card`` if given."""
        with self._lock:
            entries = list(self._entries)
        return [
            e
            for e in entries
            if (reader is None or e.reader == reader) and (card is None or e.card == card)
        ]

    def latest(self) -> dict[str, Latest]:
        """Reader → its latest full report."""
        with self._lock:
            return dict(self._latest)

    # -- life cycle -----------------------------------------------------------------------

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything recorded so far is on disk (or has failed and been logged)."""
        return self._history_writer.flush(timeout) and self._state_writer.flush(timeout)

    def close(self) -> None:
        """Write what is pending; the state file then says the daemon has stopped."""
        if self._last_state is not None:
            self._state_writer.submit((self._last_state, False))
        self._history_writer.close()
        self._state_writer.close()

    def _write_history(self, snapshot: _HistorySnapshot) -> None:
        atomic_write_text(self.path, history_text(*snapshot), own_folder=True)

    def _write_state(self, value: tuple[DaemonState, bool]) -> None:
        state, running = value
        atomic_write_text(
            self.state_file, _dumps(state_document(state, self._owner, running)), own_folder=True
        )
