"""The daemon's state as one frozen snapshot, and what the tray shows of it (pure functions).

The daemon publishes a new :class:`DaemonState` on every change; the tray, the history and
the Prometheus textfile only read snapshots, never the daemon's internals.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from ..check.assess import Assessment, assess, card_name

__all__ = ["card_name"]
from ..i18n import _, current_language, labelled
from ..model import CheckItem, CheckReport, ClockReading, Code, Health, ItemId, ReaderReport, Status
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
    #: the clock measurement behind ``clock`` (None: not measured)
    clock_reading: ClockReading | None = None
    #: the language the items' texts are in
    language: str = ""

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


_NO_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
_HEALTH_ICON = {
    Health.OK: IconState.OK,
    Health.WARNING: IconState.WARNING,
    Health.CRITICAL: IconState.ERROR,
    Health.UNKNOWN: IconState.IDLE,
}


def as_check_report(state: DaemonState) -> CheckReport:
    """The daemon's snapshot in the shape of a ``cardwatch check`` result.

    With no reader connected, the daemon has nothing to judge: item 2 is a SKIP (grey icon,
    exit code 3), unlike ``cardwatch check``, which was asked to check and found nothing.
    """
    service = state.service_item or CheckItem(
        ItemId.SERVICE, Status.PASS, _("PC/SC service reachable")
    )
    if state.service_up is False and service.status is not Status.FAIL:
        service = replace(service, status=Status.FAIL)
    reports = tuple(r.report for r in state.readers if r.report is not None)
    reader_item = None
    if state.service_up and not state.readers:
        reader_item = CheckItem(
            ItemId.READER, Status.SKIP, _("No card reader connected"), code=Code.NO_READER
        )
    # The time is not part of the verdict; a snapshot not yet published has none.
    when = state.updated_at or _NO_TIME
    return CheckReport(
        when,
        service,
        reports,
        reader_item,
        state.language or current_language(),
        clock=state.clock,
        clock_reading=state.clock_reading,
    )


def assessment(state: DaemonState) -> Assessment:
    """The one verdict of ``state`` that the tray, notifications, files and ``status`` show."""
    return assess(as_check_report(state))


def reader_icon(state: ReaderState) -> IconState:
    """The icon state one reader alone would give."""
    if state.phase in (Phase.INSERTED, Phase.CHECKING):
        return IconState.CHECKING
    if state.phase is Phase.CHECKED and state.report is not None:
        return _HEALTH_ICON[state.report.health]
    return IconState.IDLE


def icon_state(state: DaemonState) -> IconState:
    """The assessment's health; a check in progress shows as checking until it is done."""
    if state.service_up is False:
        return IconState.ERROR
    if state.service_up is None or any(
        r.phase in (Phase.INSERTED, Phase.CHECKING) for r in state.readers
    ):
        return IconState.CHECKING
    return _HEALTH_ICON[assessment(state).health]


def reader_line(
    state: ReaderState, clock: CheckItem | None = None, verdict: Assessment | None = None
) -> str:
    """One line per reader for the tooltip and the menu: the card and its headline."""
    if state.phase is Phase.EMPTY:
        return labelled(state.reader, _("no card"))
    if state.phase in (Phase.INSERTED, Phase.CHECKING) or state.report is None:
        return labelled(state.reader, _("checking…"))
    card = verdict.card(state.reader) if verdict is not None else None
    if card is None:
        alone = DaemonState((state,), service_up=True, clock=clock, updated_at=state.since)
        card = assessment(alone).cards[0]
    if card.name is None:
        return labelled(state.reader, card.headline)
    return _("{card} — {headline}").format(card=card.name, headline=card.headline)


def tooltip(state: DaemonState) -> str:
    """The tray tooltip as plain text (unescaped: the tray makes each line safe)."""
    return "\n".join(tooltip_lines(state))


def tooltip_lines(state: DaemonState) -> tuple[str, ...]:
    """The tray tooltip's lines: the service fault, or one line per reader; the clock when it
    matters."""
    lines = [_("Cardwatch")]
    verdict = assessment(state)
    if state.service_up is False and state.service_item is not None:
        lines.append(state.service_item.summary)
    elif state.service_up is None:
        lines.append(_("Connecting to the PC/SC service…"))
    elif not state.readers:
        lines.append(_("No card reader connected"))
    else:
        lines += [reader_line(r, state.clock, verdict) for r in state.readers]
    if verdict.clock is not None:
        lines.append(verdict.clock.headline)
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
