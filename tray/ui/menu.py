"""The tray menu as data: entries built from a :class:`~tray.daemon.state.DaemonState` (pure, no pystray).

The adapter in ``tray/ui/tray.py`` turns these entries into the backend's menu; tests check
the labels and the checked / enabled state here without any desktop.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..daemon.state import DaemonState, Phase, reader_line, tooltip_lines
from ..i18n import _
from ..present.safe import terminal


class Action(enum.Enum):
    """What a menu entry does when chosen."""

    CHECK_NOW = "check_now"
    OPEN_REPORT = "open_report"
    #: a card's line: the report of that reader alone (the entry's ``reader``)
    OPEN_READER_REPORT = "open_reader_report"
    TOGGLE_PAUSE = "toggle_pause"
    TOGGLE_AUTOSTART = "toggle_autostart"
    QUIT = "quit"


#: the action of a plain (left) click on the icon
DEFAULT_ACTION = Action.OPEN_REPORT


@dataclass(frozen=True)
class Entry:
    """One menu line; ``action`` None is an information line (shown disabled)."""

    label: str
    action: Action | None = None
    #: None: not a check item; True/False: a check item and its mark
    checked: bool | None = None
    default: bool = False
    #: the reader the action is about (a card's line), else None
    reader: str | None = None

    @property
    def enabled(self) -> bool:
        """Information lines cannot be chosen."""
        return self.action is not None

    @property
    def arguments(self) -> tuple[str, ...]:
        """What the action's method is called with: ``getattr(actions, action.value)(*these)``."""
        return () if self.reader is None else (self.reader,)


@dataclass(frozen=True)
class Separator:
    """A line between groups of entries."""


Item = Entry | Separator


def status_lines(state: DaemonState) -> tuple[str, ...]:
    """One line per reader (its card and state), or what stands in the way of any.

    A line may hold a card label or a reader name: each is made safe (control and bidi
    characters escaped) before it becomes a menu label.
    """
    return tuple(terminal(line) for line in _status_lines(state))


def tooltip_text(state: DaemonState) -> str:
    """The tray tooltip, each line safe (a newline in a card's label cannot add one)."""
    return "\n".join(terminal(line) for line in tooltip_lines(state))


def _status_lines(state: DaemonState) -> tuple[str, ...]:
    if state.service_up is False and state.service_item is not None:
        return (state.service_item.summary,)
    if state.service_up is None:
        return (_("Connecting to the PC/SC service…"),)
    if not state.readers:
        return (_("No card reader connected"),)
    return tuple(reader_line(r, state.clock) for r in state.readers)


def status_entries(state: DaemonState) -> tuple[Entry, ...]:
    """The status lines as entries: a checked card's line opens that reader's report."""
    lines = status_lines(state)
    if len(lines) != len(state.readers) or state.service_up is not True:
        return tuple(Entry(line) for line in lines)
    return tuple(
        Entry(line, Action.OPEN_READER_REPORT, reader=slot.reader)
        if slot.phase is Phase.CHECKED and slot.report is not None
        else Entry(line)
        for line, slot in zip(lines, state.readers, strict=True)
    )


def build_menu(state: DaemonState, autostart_enabled: bool | None = None) -> tuple[Item, ...]:
    """The whole menu for ``state``: status lines (a card's opens its report), then the actions.

    ``autostart_enabled`` is whether Cardwatch starts at login (the autostart status, not the
    daemon's); None leaves the "Start at login" entry out (no way to change it here).
    """
    login: tuple[Item, ...] = ()
    if autostart_enabled is not None:
        login = (Entry(_("Start at login"), Action.TOGGLE_AUTOSTART, checked=autostart_enabled),)
    return (
        *status_entries(state),
        Separator(),
        Entry(_("Check now"), Action.CHECK_NOW),
        Entry(_("Open report"), Action.OPEN_REPORT, default=DEFAULT_ACTION is Action.OPEN_REPORT),
        Entry(_("Pause notifications"), Action.TOGGLE_PAUSE, checked=state.paused),
        *login,
        Separator(),
        Entry(_("Quit"), Action.QUIT),
    )
