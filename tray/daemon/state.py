"""The daemon's state as one frozen snapshot, and what the tray shows of it (pure functions).

The daemon publishes a new :class:`DaemonState` on every change; the tray, the history and
the Prometheus textfile only read snapshots, never the daemon's internals.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from ..i18n import _, join_list, labelled, ngettext
from ..model import CheckItem, Health, ItemId, ReaderReport, Status
from .diagnosis import Culprit, Verdict
from .diagnosis import summary as diagnosis_summary


class IconState(enum.Enum):
    """What the tray icon says at a glance; colour and glyph differ for each (colour-blind safe)."""

    OK = "ok"  # green, check mark
    WARNING = "warning"  # amber, exclamation mark
    ERROR = "error"  # red, cross
    IDLE = "idle"  # grey, ring: no reader or no card
    CHECKING = "checking"  # blue, ellipsis


class Phase(enum.Enum):
    """Where a reader's slot stands."""

    EMPTY = "empty"
    INSERTED = "inserted"  # seen, waiting for the card to settle
    CHECKING = "checking"
    CHECKED = "checked"


@dataclass(frozen=True)
class ReaderState:
    """One reader: its slot phase and the result of the last check of the card in it."""

    reader: str
    phase: Phase = Phase.EMPTY
    report: ReaderReport | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class DaemonState:
    """Everything the tray shows; a new snapshot on every change."""

    readers: tuple[ReaderState, ...] = ()
    #: None while the first contact with the PC/SC service is still pending
    service_up: bool | None = None
    #: the item-1 failure (cause and advice) while the service is down
    service_item: CheckItem | None = None
    paused: bool = False
    updated_at: datetime | None = None
    #: item 10, "computer clock", from the latest check (None until a check has judged it)
    clock: CheckItem | None = None
    #: each reader's diagnosis after its latest check (tray/daemon/diagnosis.py)
    diagnoses: tuple[Verdict, ...] = ()

    def reader(self, name: str) -> ReaderState | None:
        """The state of reader ``name``, if known."""
        return next((r for r in self.readers if r.reader == name), None)

    def with_reader(self, state: ReaderState) -> DaemonState:
        """A copy with ``state`` replacing (or adding) its reader, readers kept in name order."""
        others = [r for r in self.readers if r.reader != state.reader]
        return replace(self, readers=tuple(sorted([*others, state], key=lambda r: r.reader)))

    def without_reader(self, name: str) -> DaemonState:
        """A copy without reader ``name``."""
        return replace(self, readers=tuple(r for r in self.readers if r.reader != name))


_HEALTH_ICON = {
    Health.OK: IconState.OK,
    Health.WARNING: IconState.WARNING,
    Health.CRITICAL: IconState.ERROR,
    Health.UNKNOWN: IconState.IDLE,
}
_RANK = [IconState.IDLE, IconState.OK, IconState.WARNING, IconState.ERROR]


def reader_icon(state: ReaderState) -> IconState:
    """The icon state one reader alone would give."""
    if state.phase in (Phase.INSERTED, Phase.CHECKING):
        return IconState.CHECKING
    if state.phase is Phase.CHECKED and state.report is not None:
        return _HEALTH_ICON[state.report.health]
    return IconState.IDLE


def icon_state(state: DaemonState) -> IconState:
    """The worst current state; a check in progress shows as checking until it is done."""
    if state.service_up is False:
        return IconState.ERROR
    icons = [reader_icon(r) for r in state.readers]
    if IconState.CHECKING in icons or state.service_up is None:
        return IconState.CHECKING
    # A wrong clock makes every certificate verdict doubtful, card or no card.
    if state.clock is not None and state.clock.status is Status.FAIL:
        icons.append(IconState.ERROR)
    elif state.clock is not None and state.clock.status is Status.WARN:
        icons.append(IconState.WARNING)
    return max(icons, key=_RANK.index, default=IconState.IDLE)


def _short_kind(report: ReaderReport) -> str:
    kinds = {"moica": _("MOICA card"), "piv": _("PIV card"), "openpgp": _("OpenPGP card")}
    return kinds.get(report.card_kind or "", "") or report.card_type or _("Unknown card")


def card_name(report: ReaderReport) -> str:
    """'MOICA card TP0317…': a short card kind and the start of the card number."""
    kind = _short_kind(report)
    if report.card_number:
        number = report.card_number
        short = number if len(number) <= 8 else number[:6] + "…"
        return f"{kind} {short}"
    return kind


def _validity(report: ReaderReport) -> str:
    own = [c for c in report.certificates if not c.is_ca]
    if not own:
        return ""
    days = min(c.days_left for c in own)
    if days < 0:
        return _("expired")
    return ngettext("valid {n} day", "valid {n} days", days).format(n=days)


def _worst_item(report: ReaderReport) -> CheckItem | None:
    bad = [i for i in report.items if i.status.rank >= 2]
    return max(bad, key=lambda i: i.status.rank) if bad else None


def reader_line(state: ReaderState, clock: CheckItem | None = None) -> str:
    """One line per reader for the tooltip and the menu; "clock OK" when the clock was checked."""
    if state.phase is Phase.EMPTY:
        return labelled(state.reader, _("no card"))
    if state.phase in (Phase.INSERTED, Phase.CHECKING) or state.report is None:
        return labelled(state.reader, _("checking…"))
    report = state.report
    if report.card_type is None and report.certificates == ():
        problem = _worst_item(report)
        return labelled(state.reader, problem.summary if problem else _("no card"))
    parts = [p for p in (_validity(report),) if p]
    problem = _worst_item(report)
    if problem is not None and problem.item is not ItemId.EXPIRY:
        parts.append(problem.summary)
    if clock is not None and clock.status is Status.PASS:
        parts.append(_("clock OK"))
    if not parts:
        parts.append(_("OK"))
    return labelled(card_name(report), join_list(parts))


def tooltip(state: DaemonState) -> str:
    """The tray tooltip as plain text (unescaped: the tray makes each line safe)."""
    return "\n".join(tooltip_lines(state))


def tooltip_lines(state: DaemonState) -> tuple[str, ...]:
    """The tray tooltip's lines: the service fault, or one line per reader."""
    lines = [_("Cardwatch")]
    if state.service_up is False and state.service_item is not None:
        lines.append(state.service_item.summary)
    elif state.service_up is None:
        lines.append(_("Connecting to the PC/SC service…"))
    elif not state.readers:
        lines.append(_("No card reader connected"))
    else:
        lines += [reader_line(r, state.clock) for r in state.readers]
    if state.clock is not None and state.clock.status in (Status.WARN, Status.FAIL):
        lines.append(state.clock.summary)
    lines += diagnosis_lines(state)
    if state.paused:
        lines.append(_("Notifications paused"))
    return tuple(lines)


def shown_diagnoses(state: DaemonState) -> list[Verdict]:
    """The verdicts that name a culprit: a reader's while it is connected, a card's while in."""
    shown = []
    for verdict in state.diagnoses:
        reader = state.reader(verdict.reader)
        if not verdict.alarming or reader is None:
            continue
        if verdict.culprit is not Culprit.READER and reader.phase is Phase.EMPTY:
            continue
        shown.append(verdict)
    return shown


def diagnosis_lines(state: DaemonState) -> list[str]:
    """The tooltip's lines for the diagnoses that name a culprit."""
    now = state.updated_at
    return [diagnosis_summary(v, now or v.at) for v in shown_diagnoses(state)]
