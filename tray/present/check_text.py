"""The check as terminal text: numbered items, PASS/WARN/FAIL/SKIP, cause and advice.

Every piece that may hold card or reader text passes :func:`.safe.terminal` before it is
coloured: the only escape sequences in the output are Cardwatch's own colours.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata

from .. import __version__
from ..check.assess import assess
from ..clock import local_date, local_time
from ..i18n import _, labelled
from ..model import (
    CertInfo,
    CheckItem,
    CheckReport,
    Health,
    RevocationState,
    RevocationStatus,
    Status,
)
from .safe import terminal
from .words import cert_days_left, health_label, pkcs11_note

_COLOURS = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "31", Status.SKIP: "90"}
_HEALTH_COLOURS = {
    Health.OK: "32",
    Health.WARNING: "33",
    Health.CRITICAL: "31",
    Health.UNKNOWN: "90",
}


def status_label(status: Status) -> str:
    """The translated four-letter-ish label."""
    return {
        Status.PASS: _("PASS"),
        Status.WARN: _("WARN"),
        Status.FAIL: _("FAIL"),
        Status.SKIP: _("SKIP"),
    }[status]


class _Painter:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text


def _width(text: str) -> int:
    """Terminal columns: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


_QUOTED = re.compile(r"(?<!\w)'[^']*'(?!\w)")


def _wrap(text: str, indent: str) -> list[str]:
    if any(ord(ch) > 0x2E80 for ch in text):  # CJK text has no spaces to wrap at
        return [indent + text]
    # Keep quoted commands on one line so they can be copied whole.
    glued = _QUOTED.sub(lambda m: m.group(0).replace(" ", "\x00"), text)
    lines = textwrap.wrap(
        glued,
        96,
        initial_indent=indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=False,
    )
    return [line.replace("\x00", " ") for line in lines] or [indent]


def _item_lines(item: CheckItem, paint: _Painter) -> list[str]:
    label = status_label(item.status)
    summary = terminal(item.summary)
    head = f"{int(item.item):>2} {paint(_pad(label, 4), _COLOURS[item.status])}  {summary}"
    lines = [head]
    if item.advice:
        lines += _wrap("→ " + terminal(item.advice), "         ")
    return lines


def _cert_lines(cert: CertInfo) -> list[str]:
    left = cert_days_left(cert.days_left)
    kind = _("CA certificate") if cert.is_ca else (cert.label or cert.slot)
    lines = [
        "     • " + terminal(labelled(kind, cert.common_name or cert.subject)),
        "       "
        + _("serial {serial} · valid {start} → {end} ({left})").format(
            serial=terminal(cert.serial),
            start=local_date(cert.not_before),
            end=local_date(cert.not_after),
            left=left,
        ),
    ]
    revocation = revocation_line(cert.revocation)
    if revocation:
        lines.append("       " + revocation)
    return lines


def revocation_line(status: RevocationStatus | None) -> str:
    """A certificate's revocation status in one line ("" when it was not checked)."""
    if status is None or status.state is RevocationState.NOT_CHECKED:
        return ""
    when = local_time(status.checked_at) if status.checked_at else ""
    if status.state is RevocationState.REVOKED:
        date = local_date(status.revoked_at) if status.revoked_at else "?"
        return _("REVOKED on {date} (confirmed {when})").format(date=date, when=when)
    if status.state is RevocationState.GOOD:
        return _("not revoked (confirmed {when})").format(when=when)
    if when:
        return _("revocation status unknown (last confirmed {when})").format(when=when)
    return _("revocation status unknown")


def render(report: CheckReport, *, colour: bool = False) -> str:
    """The whole report as text."""
    paint = _Painter(colour)
    out = [
        _("Cardwatch {version} · card health check · {when}").format(
            version=__version__, when=local_time(report.checked_at)
        ),
        "",
    ]
    out += _item_lines(report.service, paint)
    if report.clock is not None:
        out += _item_lines(report.clock, paint)
    if report.reader_item is not None:
        out += _item_lines(report.reader_item, paint)
    for reader in report.readers:
        out += ["", paint(_("Reader: {name}").format(name=terminal(reader.reader)), "1")]
        for item in reader.items:
            out += _item_lines(item, paint)
        if reader.certificates:
            out.append("   " + _("Certificates:"))
            for cert in reader.certificates:
                out += _cert_lines(cert)
        if reader.apdus:
            out.append(
                "   "
                + _("{apdus} commands, {ms:.0f} ms").format(
                    apdus=reader.apdus, ms=reader.duration_ms
                )
            )
        if reader.pkcs11_modules or reader.pkcs11_skipped:
            out.append("   " + terminal(pkcs11_note(reader)))
    verdict = assess(report)
    health = verdict.health
    out += [
        "",
        _("Result: {verdict} (exit code {code})").format(
            verdict=paint(health_label(health), _HEALTH_COLOURS[health]), code=verdict.exit_code
        ),
    ]
    if verdict.findings:
        out.append("  " + verdict.headline)
        if verdict.advice:
            out += _wrap("→ " + verdict.advice, "  ")
    return "\n".join(out) + "\n"
