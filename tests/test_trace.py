"""tray/trace.py: the latency benchmark's marks, in order, from a real daemon check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_daemon import insert, make
from test_daemon_bench import checked

from tray import trace
from tray.demo.scenarios import READER_0


@pytest.fixture
def marks() -> Iterator[list[tuple[str, str, float]]]:
    seen: list[tuple[str, str, float]] = []
    trace.set_hook(lambda stage, key, at: seen.append((stage, key, at)))
    yield seen
    trace.set_hook(None)


def test_a_check_marks_every_stage_in_order(marks: list[tuple[str, str, float]]) -> None:
    daemon, recorder = make()
    daemon.start()
    try:
        insert(daemon)
        recorder.wait("checked", checked(READER_0))
    finally:
        daemon.stop()
    stages = [stage for stage, _key, _at in marks]
    firsts = [
        "event",
        "dispatched",
        "check_queued",
        "check_start",
        "apdu_sent",
        "apdu_answered",
        "check_end",
        "done",
        "recorded",
        "published",
    ]
    assert [stages.index(s) for s in firsts] == sorted(stages.index(s) for s in firsts)
    assert stages.count("apdu_sent") == stages.count("apdu_answered") > 0
    times = [at for _stage, _key, at in marks]
    assert times == sorted(times)
    assert {key for stage, key, _at in marks if stage == "check_start"} == {READER_0}


def test_no_hook_records_nothing() -> None:
    seen: list[str] = []
    trace.set_hook(lambda stage, key, at: seen.append(stage))
    trace.set_hook(None)
    trace.mark("event", READER_0)
    assert seen == []
