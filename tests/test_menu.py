"""The tray menu model: one line per reader, the four actions, pause mark, default action."""

from __future__ import annotations

import pytest

from tray.check.run import run_check
from tray.clock import SystemClock
from tray.daemon.state import DaemonState, Phase, ReaderState, reader_line
from tray.demo.backend import SimBackend
from tray.demo.scenarios import build
from tray.i18n import set_language
from tray.model import CheckItem, ItemId, ReaderReport, Status
from tray.ui.menu import DEFAULT_ACTION, Action, Entry, Separator, build_menu, status_lines

UP = DaemonState(service_up=True)


def report(scenario: str) -> ReaderReport:
    clock = SystemClock()
    return run_check(SimBackend(build(scenario, clock.now())), clock).readers[0]


def entries(state: DaemonState) -> list[Entry]:
    return [item for item in build_menu(state) if isinstance(item, Entry)]


def test_each_reader_has_a_line_and_a_checked_cards_line_opens_its_report() -> None:
    r0 = ReaderState("Reader 0", Phase.CHECKED, report("default"))
    r1 = ReaderState("Reader 1", Phase.EMPTY)
    r2 = ReaderState("Reader 2", Phase.CHECKING)
    state = UP.with_reader(r0).with_reader(r1).with_reader(r2)
    lines = entries(state)[:3]
    assert [e.label for e in lines] == [reader_line(r0), reader_line(r1), reader_line(r2)]
    card, empty, checking = lines
    assert (card.action, card.reader, card.arguments) == (
        Action.OPEN_READER_REPORT,
        "Reader 0",
        ("Reader 0",),
    )
    assert card.enabled and not card.default
    # No card, or no result yet: nothing to open, an information line.
    assert (empty.action, empty.reader, empty.enabled) == (None, None, False)
    assert (checking.action, checking.enabled) == (None, False)
    assert "Reader 1" in empty.label


def test_a_service_fault_line_opens_nothing() -> None:
    slot = ReaderState("Reader 0", Phase.CHECKED, report("default"))
    fault = CheckItem(ItemId.SERVICE, Status.FAIL, "PC/SC service not running")
    down = DaemonState(readers=(slot,), service_up=False, service_item=fault)
    (line,) = [e for e in entries(down) if e.action in (None, Action.OPEN_READER_REPORT)]
    assert (line.label, line.action) == ("PC/SC service not running", None)


def test_actions_come_in_order_after_a_separator() -> None:
    menu = build_menu(UP)
    assert isinstance(menu[1], Separator)
    actions = [e.action for e in entries(UP) if e.action is not None]
    assert actions == [Action.CHECK_NOW, Action.OPEN_REPORT, Action.TOGGLE_PAUSE, Action.QUIT]
    assert all(e.enabled for e in entries(UP) if e.action is not None)


def test_open_report_is_the_one_default_action() -> None:
    defaults = [e for e in entries(UP) if e.default]
    assert [e.action for e in defaults] == [Action.OPEN_REPORT] == [DEFAULT_ACTION]


@pytest.mark.parametrize("paused", [False, True])
def test_pause_entry_is_checked_when_paused(paused: bool) -> None:
    (pause,) = [
        e for e in entries(DaemonState(service_up=True, paused=paused)) if e.checked is not None
    ]
    assert pause.action is Action.TOGGLE_PAUSE
    assert pause.checked is paused


def test_no_reader_service_down_and_connecting_each_say_so() -> None:
    assert status_lines(UP) == ("No card reader connected",)
    assert status_lines(DaemonState()) == ("Connecting to the PC/SC service…",)
    fault = CheckItem(ItemId.SERVICE, Status.FAIL, "PC/SC service not running")
    down = DaemonState(service_up=False, service_item=fault)
    assert status_lines(down) == ("PC/SC service not running",)
    assert entries(down)[0] == Entry("PC/SC service not running")


def test_labels_are_translated() -> None:
    set_language("zh_TW")
    try:
        labels = {e.action: e.label for e in entries(UP)}
    finally:
        set_language("en")
    assert labels[Action.QUIT] != "Quit"
    assert labels[None] != "No card reader connected"


@pytest.mark.parametrize("enabled", [False, True])
def test_start_at_login_entry_shows_the_autostart_status_not_the_daemon_state(
    enabled: bool,
) -> None:
    menu = [item for item in build_menu(UP, autostart_enabled=enabled) if isinstance(item, Entry)]
    (login,) = [e for e in menu if e.action is Action.TOGGLE_AUTOSTART]
    assert login.checked is enabled
    assert login.label == "Start at login"
    # after Pause notifications, before the separator and Quit
    actions = [e.action for e in menu if e.action is not None]
    assert actions[-2:] == [Action.TOGGLE_AUTOSTART, Action.QUIT]
    assert isinstance(build_menu(UP, enabled)[-2], Separator)


def test_start_at_login_entry_is_left_out_when_it_cannot_be_changed() -> None:
    assert Action.TOGGLE_AUTOSTART not in [e.action for e in entries(UP)]
