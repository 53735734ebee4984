"""Recorded transcripts: record a check, replay it through the real profiles, get the same.

Every card kind round-trips (recorded from a virtual card, replayed from the recording, plain
and redacted), and every file in tests/transcripts/ -- recorded from the virtual cards, from
the independent applets on the bench, or contributed from a real card with
``cardwatch check --record FILE --redact`` -- replays to the reading it was recorded with.
Each replayed command also goes through the APDU audit.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from apdu_audit import AUDIT, violation
from helpers import FixedClock
from transcript_cards import CARDS, NUMBER

from tray.card.transcript import (
    RecordingBackend,
    ReplayBackend,
    TranscriptMismatch,
    dumps,
    load,
    redact,
)
from tray.check.run import CheckOptions, run_check
from tray.demo.backend import SimBackend
from tray.model import CheckReport
from tray.present.check_json import reading_summary

FILES = sorted((Path(__file__).parent / "transcripts").glob("*.json"))
NOW = datetime.now(timezone.utc)


def record(name: str, now: datetime = NOW) -> tuple[dict[str, Any], CheckReport]:
    recorder = RecordingBackend(SimBackend({"Reader": CARDS[name](now)}))
    report = run_check(recorder, FixedClock(now), CheckOptions())
    data = recorder.to_dict(now)
    for reader, found in zip(data["readers"], report.readers, strict=True):
        reader["expected"] = reading_summary(found)
    return data, report


def replay(data: dict[str, Any]) -> tuple[CheckReport, ReplayBackend]:
    backend = ReplayBackend(data)
    recorded_at = datetime.fromisoformat(data["recorded_at"])
    report = run_check(backend, FixedClock(recorded_at), CheckOptions())
    for session in backend.sessions:
        for step in session._script:  # audit what the replay fed the profiles
            AUDIT.total += 1
            reason = violation(bytes.fromhex(step["command"]))
            if reason is not None:
                AUDIT.violations.append(("transcript", step["command"], reason))
    return report, backend


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    # Revocation needs the network, which a replay does not have.
    items = {k: v for k, v in summary["items"].items() if k != "revocation"}
    return dict(summary, items=items)


@pytest.mark.parametrize("name", sorted(CARDS))
@pytest.mark.parametrize("redacted", [False, True], ids=["plain", "redacted"])
def test_every_card_kind_round_trips(name: str, redacted: bool) -> None:
    data, report = record(name)
    if redacted:
        data = redact(data, [r.card_number for r in report.readers if r.card_number])
    data = load(dumps(data))
    replayed, backend = replay(data)
    assert all(s.finished for s in backend.sessions)
    assert [comparable(reading_summary(r)) for r in replayed.readers] == [
        comparable(reading_summary(r)) for r in report.readers
    ]
    if not redacted:
        assert [r.card_number for r in replayed.readers] == [r.card_number for r in report.readers]


def test_redaction_removes_names_numbers_and_serials_and_keeps_lengths() -> None:
    data, report = record("moica-gen1")
    plain = json.dumps(data)
    red = redact(data, [NUMBER])
    text = json.dumps(red)
    assert NUMBER.encode().hex().upper() in plain
    assert NUMBER.encode().hex().upper() not in text
    name = "王小明".encode().hex().upper()
    assert name in plain and name not in text
    for cert in report.readers[0].certificates:
        if not cert.is_ca:
            serial = int(cert.serial, 16) if isinstance(cert.serial, str) else cert.serial
            raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big").hex().upper()
            assert raw in plain and raw not in text
    pairs = zip(data["readers"][0]["exchanges"], red["readers"][0]["exchanges"], strict=True)
    for before, after in pairs:
        assert len(before["response"]) == len(after["response"])
        assert before["command"] == after["command"]
    replayed, _backend = replay(red)
    assert replayed.readers[0].card_number not in (None, NUMBER)


def test_replay_refuses_a_command_it_did_not_record() -> None:
    data, _report = record("piv")
    step = data["readers"][0]["exchanges"][0]
    with ReplayBackend(data).session("Reader") as session:
        with pytest.raises(TranscriptMismatch):
            session.transmit(bytes.fromhex(step["command"]) + b"\x00")
        assert session.transmit(bytes.fromhex(step["command"]))[1] == int(step["sw"], 16)


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_stored_transcript_replays_to_its_recorded_reading(path: Path) -> None:
    data = load(path.read_text(encoding="utf-8"))
    replayed, backend = replay(data)
    assert all(s.finished for s in backend.sessions), "the profiles stopped early"
    got = {r.reader: reading_summary(r) for r in replayed.readers}
    for reader in data["readers"]:
        assert comparable(got[reader["reader"]]) == comparable(reader["expected"]), reader["reader"]


def test_stored_transcripts_cover_every_card_kind() -> None:
    kinds = set()
    for path in FILES:
        for reader in load(path.read_text(encoding="utf-8"))["readers"]:
            kinds.add(reader["expected"]["kind"])
    assert {"moica", "piv", "openpgp"} <= kinds
