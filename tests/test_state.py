"""What the tray shows of a state snapshot: pure rules, tested with real demo reports."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from tray.check.run import run_check
from tray.clock import SystemClock
from tray.daemon.state import (
    DaemonState,
    IconState,
    Phase,
    ReaderState,
    icon_state,
    reader_line,
    tooltip,
)
from tray.demo.backend import SimBackend
from tray.demo.scenarios import build
from tray.i18n import set_language
from tray.model import CheckItem, ItemId, ReaderReport, Status


def report(scenario: str) -> ReaderReport:
    clock = SystemClock()
    return run_check(SimBackend(build(scenario, clock.now())), clock).readers[0]


def checked(scenario: str, reader: str = "R0") -> ReaderState:
    return ReaderState(reader, Phase.CHECKED, report(scenario))


UP = DaemonState(service_up=True)


@pytest.mark.parametrize(
    ("scenario", "icon"),
    [
        ("default", IconState.OK),
        ("expiring", IconState.WARNING),
        ("pin-final-try", IconState.WARNING),
        ("expired", IconState.ERROR),
        ("pin-locked", IconState.ERROR),
        ("mute", IconState.ERROR),
        ("unknown-card", IconState.IDLE),
    ],
)
def test_icon_follows_the_card(scenario: str, icon: IconState) -> None:
    assert icon_state(UP.with_reader(checked(scenario))) is icon


def test_worst_reader_wins_and_checking_shows_while_a_check_runs() -> None:
    state = UP.with_reader(checked("default", "R0")).with_reader(checked("expiring", "R1"))
    assert icon_state(state) is IconState.WARNING
    state = state.with_reader(checked("expired", "R2"))
    assert icon_state(state) is IconState.ERROR
    state = state.with_reader(ReaderState("R3", Phase.CHECKING))
    assert icon_state(state) is IconState.CHECKING


def test_no_reader_or_empty_reader_is_grey() -> None:
    assert icon_state(UP) is IconState.IDLE
    assert icon_state(UP.with_reader(ReaderState("R0"))) is IconState.IDLE


def test_service_down_is_red_before_anything_else() -> None:
    item = CheckItem(ItemId.SERVICE, Status.FAIL, "PC/SC service not reachable (x)")
    state = DaemonState(service_up=False, service_item=item)
    assert icon_state(state) is IconState.ERROR
    assert tooltip(state).splitlines() == ["Cardwatch", "PC/SC service not reachable (x)"]


def test_tooltip_has_one_line_per_card() -> None:
    set_language("en")
    state = UP.with_reader(checked("default", "R0")).with_reader(ReaderState("R1"))
    lines = tooltip(state).splitlines()
    assert lines[1] == "MOICA card TP0317… — OK, valid 412 days"
    assert lines[2] == "R1: no card"


def test_reader_line_names_the_problem_beyond_expiry() -> None:
    set_language("en")
    assert reader_line(checked("pin-locked")).startswith("PIV card")
    assert reader_line(checked("pin-locked")) == "PIV card 436172… — PIN locked — have it unlocked"
    assert reader_line(checked("expired")) == "MOICA card TP0317… — Expired — renew the certificate"
    assert reader_line(checked("expiring")) == "MOICA card TP0317… — Expires in 21 days — renew"
    assert reader_line(checked("mute")) == "R0: Does not answer — reinsert the card"


def test_tooltip_in_traditional_chinese() -> None:
    set_language("zh_TW")
    try:
        state = UP.with_reader(checked("default"))
        assert "自然人憑證卡 TP0317… — 正常，有效 412 天" in tooltip(state)
    finally:
        set_language("en")


def test_with_reader_keeps_readers_sorted_and_unique() -> None:
    state = UP.with_reader(ReaderState("b")).with_reader(ReaderState("a"))
    state = state.with_reader(ReaderState("b", Phase.CHECKING))
    assert [r.reader for r in state.readers] == ["a", "b"]
    assert state.without_reader("a").readers == (ReaderState("b", Phase.CHECKING),)
    assert datetime.now(timezone.utc)


def _clock(status: Status, summary: str) -> CheckItem:
    return CheckItem(ItemId.CLOCK, status, summary, code="test")


def test_a_right_clock_adds_nothing_to_the_card_lines() -> None:
    set_language("en")
    state = replace(UP.with_reader(checked("default")), clock=_clock(Status.PASS, "fine"))
    assert tooltip(state).splitlines()[1:] == ["MOICA card TP0317… — OK, valid 412 days"]
    assert icon_state(state) is IconState.OK


def test_wrong_clock_colours_the_icon_and_has_its_own_line() -> None:
    set_language("en")
    card = UP.with_reader(checked("default"))
    slow = replace(card, clock=_clock(Status.WARN, "The clock is 7 minutes slow"))
    assert icon_state(slow) is IconState.WARNING
    # The clock once, as a headline (no measurement here: its size is unknown).
    assert tooltip(slow).splitlines()[-1] == "Clock wrong — set the time"
    wrong = replace(card, clock=_clock(Status.FAIL, "The clock is 8 hours behind"))
    assert icon_state(wrong) is IconState.ERROR
    # An unknown clock (no network) is never an alarm and adds nothing.
    unknown = replace(card, clock=_clock(Status.SKIP, "not measured"))
    assert icon_state(unknown) is IconState.OK
    assert "not measured" not in tooltip(unknown)
