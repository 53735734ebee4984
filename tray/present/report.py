"""The report behind "Open report": the current state as a check report, in a file, opened.

The writer and the opener; the page itself comes from :mod:`tray.present.report_html` (pure). One
file per reader (``report-<slug>.html``) and one for all readers (``report.html``), each
written atomically, so two notifications open their own card's report. Callable from any
thread: nothing here keeps state.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..daemon.state import DaemonState, as_check_report
from ..model import CheckReport, HistoryEntry
from ..store.files import atomic_write_text, data_dir

log = logging.getLogger(__name__)

__all__ = [
    "as_check_report",
    "open_file",
    "report_dir",
    "report_name",
    "write_html",
    "write_report",
]


#: the reports' folder in the data dir
REPORTS_DIR = "reports"


def report_dir() -> Path:
    """Where reports are written (the user data dir)."""
    return data_dir() / REPORTS_DIR


def write_report(
    state: DaemonState,
    directory: Path,
    *,
    reader: str | None = None,
    history: Sequence[HistoryEntry] = (),
) -> Path:
    """Write the HTML report (of one ``reader``, or of all) into ``directory``; StorageError.

    ``history``: the stored checks; the report lists the latest of the readers it shows.
    """
    if reader is not None:
        state = replace(state, readers=tuple(r for r in state.readers if r.reader == reader))
    return write_html(as_check_report(state), directory / report_name(reader), history)


def report_name(reader: str | None) -> str:
    """``report.html`` for all readers, ``report-<slug>-<hash>.html`` for one."""
    if reader is None:
        return "report.html"
    slug = re.sub(r"[^a-z0-9]+", "-", reader.lower()).strip("-")[:48] or "reader"
    # Names that slug alike ("Reader 0", "reader-0") still get their own file.
    import hashlib  # here, not at the top: it loads OpenSSL, which the idle daemon does without

    digest = hashlib.sha256(reader.encode("utf-8")).hexdigest()[:8]
    return f"report-{slug}-{digest}.html"


def write_html(report: CheckReport, path: Path, history: Sequence[HistoryEntry] = ()) -> Path:
    """Write ``report`` as a self-contained HTML page to ``path`` (atomically); StorageError."""
    from .report_html import render_html  # imported on the first report, not by the idle daemon

    atomic_write_text(path, render_html(report, history), own_folder=True)
    return path


def open_file(path: Path) -> bool:
    """Open ``path`` with the desktop's default program (BROWSER is honoured); False if none."""
    import webbrowser

    try:
        return webbrowser.open(path.resolve().as_uri())
    except webbrowser.Error:
        log.warning("no program to open %s", path)
        return False
