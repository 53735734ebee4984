"""Check history and the state file: what is recorded, what survives, what pruning keeps."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import FixedClock
from test_daemon import Idle, insert
from test_daemon_bench import Recorder, checked, empty

from tray.check.run import run_check
from tray.clock import SystemClock
from tray.daemon.core import Daemon, DaemonOptions
from tray.daemon.events import CardRemoved
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo.backend import SimBackend
from tray.demo.scenarios import READER_0, build
from tray.model import (
    Health,
    HistoryEntry,
    ItemId,
    ReaderReport,
    Status,
    card_key,
    entry_from_report,
)
from tray.present.check_json import reader_to_dict
from tray.store.history import (
    SCHEMA,
    STATE_SCHEMA,
    History,
    history_path,
    load_history,
    prune,
    state_path,
)

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)


def report(scenario: str, index: int = 0) -> ReaderReport:
    clock = FixedClock(NOW)
    return run_check(SimBackend(build(scenario, NOW)), clock).readers[index]


def test_history_lives_in_the_user_data_dir(tmp_path: Path) -> None:
    data = Path(os.environ["XDG_DATA_HOME"])
    assert history_path() == data / "cardwatch" / "history.json"
    assert state_path() == data / "cardwatch" / "state.json"


def test_card_key_is_the_number_else_atr_and_serial_else_atr() -> None:
    moica = report("default")
    assert card_key(moica) == "TP03170000012345"
    serial = next(c.serial for c in moica.certificates if not c.is_ca)
    assert card_key(replace(moica, card_number=None)) == f"{moica.atr}/{serial}"
    unknown = report("unknown-card")
    assert card_key(unknown) == unknown.atr
    assert card_key(report("mute")) is None  # no ATR, no card to name


def test_every_check_is_recorded_compactly_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    last = report("pin-final-try")
    with History(path, FixedClock(NOW)) as history:
        history.record(report("default", 1), NOW)  # PIV, 3 tries
        history.record(report("expiring"), NOW + timedelta(minutes=1))
        history.record(last, NOW + timedelta(minutes=2))
    entries, latest = load_history(path)
    piv, expiring, final_try = entries
    assert piv.kind == "piv" and piv.health is Health.OK and piv.pins == (("PIV PIN", 3),)
    assert expiring.card == "TP03170000012345" and expiring.days_left == 21
    assert expiring.health is Health.WARNING
    assert final_try.at == NOW + timedelta(minutes=2)
    pin = next(i for i in final_try.items if i.item is ItemId.PIN)
    assert (pin.status, pin.code) == (Status.WARN, "pin_final_try")
    assert final_try.pins == (("PIV PIN", 1),)
    # The latest full report per reader, in the check's JSON form.
    assert set(latest) == {piv.reader, READER_0}
    assert latest[READER_0].report == reader_to_dict(last)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema"] == SCHEMA
    assert document["entries"][1]["items"]["9"] == ["warn", "expires_urgent", "certificate"]


def test_history_is_loaded_once_at_start_and_extended(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    with History(path, FixedClock(NOW)) as history:
        history.record(report("default"), NOW)
    with History(path, FixedClock(NOW)) as history:
        assert len(history.entries()) == 1
        history.record(report("expired"), NOW + timedelta(hours=1))
    assert [e.health for e in load_history(path)[0]] == [Health.OK, Health.CRITICAL]


def test_keys_a_later_version_added_are_kept_on_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    with History(path, FixedClock(NOW)) as history:
        history.record(report("default"), NOW)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["entries"][0]["reader_firmware"] = "2.1"
    path.write_text(json.dumps(document), encoding="utf-8")
    with History(path, FixedClock(NOW)) as history:
        history.record(report("expiring"), NOW + timedelta(hours=1))
    entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
    assert entries[0]["reader_firmware"] == "2.1" and len(entries) == 2


@pytest.mark.parametrize(
    "content",
    [
        b'{"schema": "cardwatch.history/1", "entries": [{"at": "yesterday"}]}',
        b'{"schema": "cardwatch.history/1", "entr',
        b"\x00\x00\x00",
    ],
    ids=["malformed-entry", "truncated", "binary"],
)
def test_corrupt_history_is_set_aside_and_nothing_else_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / "history.json"
    path.write_bytes(content)
    state = tmp_path / "state.json"
    state.write_text('{"schema": "cardwatch.state/1"}')
    with caplog.at_level(logging.WARNING), History(path, FixedClock(NOW)) as history:
        assert history.entries() == []
        history.record(report("default"), NOW)
    moved = list(tmp_path.glob("history.json.corrupt-*"))
    assert [p.read_bytes() for p in moved] == [content]
    assert state.read_text() == '{"schema": "cardwatch.state/1"}'
    assert len(load_history(path)[0]) == 1
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert str(path) in warning and str(moved[0]) in warning


@pytest.fixture(scope="module")
def base() -> HistoryEntry:
    return entry_from_report(report("default"), NOW)


def _entries(
    base: HistoryEntry, reader: str, card: str | None, count: int, start: datetime
) -> list[HistoryEntry]:
    return [
        replace(base, reader=reader, card=card, at=start + timedelta(minutes=n))
        for n in range(count)
    ]


def test_pruning_caps_entries_but_keeps_the_last_ten_of_every_reader_and_card(
    base: HistoryEntry,
) -> None:
    old = NOW - timedelta(days=30)
    # A reader used once long ago, a card seen once long ago, then a busy reader.
    rare_reader = _entries(base, "rare reader", "card A", 3, old)
    rare_card = _entries(base, "busy reader", "card B", 12, old + timedelta(days=1))
    busy = _entries(base, "busy reader", "card C", 200, old + timedelta(days=2))
    kept = prune(rare_reader + rare_card + busy, NOW, 50, 400, 10)
    assert len(kept) == 50  # the cap: the 3 + 10 protected ones and the 37 newest others
    assert [e for e in kept if e.reader == "rare reader"] == rare_reader
    assert [e for e in kept if e.card == "card B"] == rare_card[-10:]
    assert [e for e in kept if e.card == "card C"] == busy[-37:]
    assert kept == sorted(kept, key=lambda e: e.at)


def test_entries_past_the_age_cap_go_unless_they_are_a_keys_last_ones(base: HistoryEntry) -> None:
    ancient = _entries(base, "reader", "card A", 15, NOW - timedelta(days=500))
    recent = _entries(base, "reader", "card B", 20, NOW - timedelta(days=1))
    kept = prune(ancient + recent, NOW, 1000, 400, 10)
    # card A's last ten stay; the reader has ten newer entries, so it protects nothing old.
    assert kept == ancient[-10:] + recent


def test_many_distinct_cards_still_keep_the_history_bounded(base: HistoryEntry) -> None:
    entries = [
        e
        for n in range(300)
        for e in _entries(base, "kiosk", f"card {n}", 1, NOW + timedelta(hours=n))
    ]
    kept = prune(entries, NOW + timedelta(days=30), 100, 400, 10)
    assert len(kept) == 200  # twice the cap, the newest
    assert kept == entries[-200:]


def test_recording_keeps_the_file_bounded(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    one = report("default")
    with History(path, FixedClock(NOW), max_entries=20, keep_per_key=5) as history:
        for n in range(60):
            history.record(replace(one, reader=f"R{n % 3}"), NOW + timedelta(minutes=n))
    entries, _latest = load_history(path)
    assert 20 <= len(entries) <= 22  # pruned back to the cap once a tenth past it
    assert entries[-1].at == NOW + timedelta(minutes=59)


def test_a_failed_write_is_logged_and_the_next_one_saves_everything(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    path = blocker / "history.json"
    with caplog.at_level(logging.WARNING), History(path, FixedClock(NOW)) as history:
        history.record(report("default"), NOW)
        assert history.flush()
        assert any(str(path) in r.getMessage() for r in caplog.records)
        blocker.unlink()
        history.record(report("expiring"), NOW + timedelta(minutes=1))
    assert [e.days_left for e in load_history(path)[0]] == [412, 21]


def _state_document(path: Path) -> dict[str, object]:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema"] == STATE_SCHEMA
    return document  # type: ignore[no-any-return]


def test_state_file_holds_the_snapshot_and_says_when_the_daemon_stopped(tmp_path: Path) -> None:
    history = History(tmp_path / "history.json", FixedClock(NOW))
    piv = report("default", 1)
    state = DaemonState(service_up=True, updated_at=NOW).with_reader(
        ReaderState(piv.reader, Phase.CHECKED, piv, since=NOW)
    )
    checking = state.with_reader(ReaderState("Other reader", Phase.CHECKING, since=NOW))
    history.save_state(state)
    history.save_state(checking)
    assert history.flush()
    document = _state_document(history.state_file)
    assert document["running"] is True and document["pid"] == os.getpid()
    assert document["icon"] == "checking" and document["updated_at"] == "2026-12-01T12:00:00Z"
    readers = document["readers"]
    assert isinstance(readers, list)
    assert [(r["reader"], r["phase"]) for r in readers] == [
        (piv.reader, "checked"),
        ("Other reader", "checking"),
    ]
    assert readers[0]["report"] == reader_to_dict(piv)
    history.close()
    assert _state_document(history.state_file)["running"] is False


def test_a_running_daemon_keeps_history_and_state_on_disk(tmp_path: Path) -> None:
    clock = SystemClock()
    from tray.app import demo_parts

    _source, checker = demo_parts("default", clock)
    daemon = Daemon(Idle(), checker, clock, DaemonOptions(settle_seconds=0.01))
    history = History(tmp_path / "history.json", clock)
    daemon.on_report(history.record)
    daemon.on_state(history.save_state)
    recorder = Recorder(daemon)
    daemon.start()
    try:
        insert(daemon)
        recorder.wait("checked", checked(READER_0))
        assert history.flush()
        during = _state_document(history.state_file)
        daemon.submit(CardRemoved(READER_0))
        recorder.wait("empty", empty(READER_0))
    finally:
        daemon.stop()
        history.close()
    readers = during["readers"]
    assert isinstance(readers, list) and readers[0]["phase"] == "checked"
    after = _state_document(history.state_file)
    assert after["running"] is False
    assert after["readers"] == [
        {
            "reader": READER_0,
            "phase": "empty",
            "since": after["readers"][0]["since"],
            "report": None,
        }  # type: ignore[index]
    ]
    (entry,) = load_history(history.path)[0]
    assert entry.reader == READER_0 and entry.card == "TP03170000012345"


def test_the_data_dir_of_a_stopped_writer_has_no_temporary_files(tmp_path: Path) -> None:
    with History(tmp_path / "history.json", FixedClock(NOW)) as history:
        for n in range(20):
            history.record(report("default"), NOW + timedelta(seconds=n))
            history.save_state(DaemonState(service_up=True, updated_at=NOW))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "xdg") == [
        "history.json",
        "state.json",
    ]
