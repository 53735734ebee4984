"""The report behind "Open report": the current state as a check report, in a file, opened.

For now the text form of ``cardwatch check``; the HTML report replaces it in a later release.
"""

from __future__ import annotations

import logging
import webbrowser
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .history import HistoryEntry
from .i18n import _, current_language
from .model import CheckItem, CheckReport, ItemId, Status
from .render import render
from .state import DaemonState
from .storage import atomic_write_text, data_dir

log = logging.getLogger(__name__)


def as_check_report(state: DaemonState) -> CheckReport:
    """The daemon's snapshot in the shape of a ``cardwatch check`` result."""
    service = state.service_item or CheckItem(
        ItemId.SERVICE, Status.PASS, _("PC/SC service reachable")
    )
    reports = tuple(r.report for r in state.readers if r.report is not None)
    reader_item = None
    if state.service_up and not state.readers:
        reader_item = CheckItem(
            ItemId.READER, Status.FAIL, _("No card reader connected"), code="no_reader"
        )
    when = state.updated_at
    assert when is not None, "a published state always has its time"
    return CheckReport(when, service, reports, reader_item, current_language())


def report_dir() -> Path:
    """Where reports are written (the user data dir)."""
    return data_dir() / "reports"


def write_report(
    state: DaemonState,
    directory: Path,
    *,
    reader: str | None = None,
    history: Sequence[HistoryEntry] = (),
) -> Path:
    """Write the report (of one ``reader``, or of all) into ``directory``; StorageError.

    ``history``: the stored checks the report may show (unused by the text form).
    """
    if reader is not None:
        state = replace(state, readers=tuple(r for r in state.readers if r.reader == reader))
    path = directory / "report.txt"
    atomic_write_text(path, render(as_check_report(state)))
    return path


def open_file(path: Path) -> bool:
    """Open ``path`` with the desktop's default program (BROWSER is honoured); False if none."""
    try:
        return webbrowser.open(path.resolve().as_uri())
    except webbrowser.Error:
        log.warning("no program to open %s", path)
        return False
