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


def test_each_reader_has_a_disabled_line_with_its_card() -> None:
    r0 = ReaderState("Reader 0", Phase.CHECKED, report("default"))
    r1 = ReaderState("Reader 1", Phase.EMPTY)
    state = UP.with_reader(r0).with_reader(r1)
    info = [e for e in entries(state) if e.action is None]
    assert [e.label for e in info] == [reader_line(r0), reader_line(r1)]
    assert not any(e.enabled for e in info)
    assert "Reader 1" in info[1].label


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
