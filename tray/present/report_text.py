"""The report as terminal text: the first step, the check, the FAQ's notes and the history."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from ..i18n import _, labelled
from ..model import CheckReport, HistoryEntry, ReaderReport
from .check_text import render
from .report_content import (
    diagnosis_rows,
    first_step,
    history_rows,
    pin_state_text,
    reader_notes,
)
from .safe import terminal
from .words import tries_left


def _paragraph(text: str, indent: str) -> list[str]:
    if any(ord(ch) > 0x2E80 for ch in text):  # CJK text has no spaces to wrap at
        return [indent + text]
    return textwrap.wrap(text, 96, initial_indent=indent, subsequent_indent=indent) or [indent]


def _pin_lines(reader: ReaderReport) -> list[str]:
    lines = []
    for pin in reader.pins:
        state = pin_state_text(pin)
        if pin.tries_left is not None:
            state = f"{state} ({tries_left(pin.tries_left)})"
        lines.append("     • " + labelled(pin.label, state))
    return lines


def render_report_text(
    report: CheckReport, history: Sequence[HistoryEntry] = (), *, colour: bool = False
) -> str:
    """The whole report as text (the HTML report's content, for a terminal)."""
    step = first_step(report)
    out = [labelled(step.verdict, step.headline)]
    if step.reader is not None:
        out.append("  " + _("Reader: {name}").format(name=step.reader))
    if step.action:
        out.append("  " + labelled(_("What to do first"), step.action))
    # The check is already safe (and coloured); every other line is made safe at the end.
    checked = render(report, colour=colour).rstrip("\n")
    head, out = [*out, ""], []
    for reader in report.readers:
        pins = _pin_lines(reader)
        notes = reader_notes(reader)
        if not pins and not notes:
            continue
        out += ["", _("Reader: {name}").format(name=reader.reader)]
        if pins:
            out.append("   " + _("PIN status"))
            out += pins
        for note in notes:
            out += ["   " + note.title, *_paragraph(note.text, "     ")]
            out += ["     " + labelled(label, value) for label, value in note.rows]
    diagnoses = diagnosis_rows(report, history)
    if diagnoses:
        out += ["", _("Diagnosis")]
        for row in diagnoses:
            out.append("  " + labelled(row.reader, row.summary))
            if row.confidence:
                out.append("    " + row.confidence)
            if row.advice:
                out += _paragraph("→ " + row.advice, "    ")
    rows = history_rows(history, [r.reader for r in report.readers] or None)
    if rows:
        out += ["", _("Last checks")]
        out += [
            "  " + "  ".join(p for p in (r.when, r.reader, r.card, r.verdict, r.detail) if p)
            for r in rows
        ]
    return "\n".join([*map(terminal, head), checked, *map(terminal, out)]) + "\n"
