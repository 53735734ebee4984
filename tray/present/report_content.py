"""What the report says beyond the check items: the first step, the FAQ's notes, history rows.

Pure functions over the check's results, shared by the HTML and the text form; every
string is in the current language and not yet escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..card.issuers import MOICA_SITE
from ..check import advice
from ..check.assess import assess
from ..clock import local_time
from ..daemon.diagnosis import Culprit, diagnose
from ..daemon.diagnosis import advice as diagnosis_advice
from ..daemon.diagnosis import confidence as diagnosis_confidence
from ..daemon.diagnosis import summary as diagnosis_summary
from ..i18n import _
from ..model import (
    CertInfo,
    CheckItem,
    CheckReport,
    Code,
    Health,
    HistoryEntry,
    PinStatus,
    ReaderReport,
)
from .check_text import status_label
from .codewords import code_words
from .words import cert_days_left, days_left, health_label, pin_state

#: codes of items that point at the card's chip or its contacts
CONTACT_FAULTS = frozenset({Code.CARD_MUTE, Code.CARD_ERROR, Code.CARD_SLOW})
#: how many past checks the report lists, newest first
HISTORY_ROWS = 20


@dataclass(frozen=True)
class FirstStep:
    """The summary at the top: the verdict, what stands out, and what to do first."""

    health: Health
    verdict: str
    headline: str
    action: str = ""
    #: the reader the headline is about (None: this computer, or all readers)
    reader: str | None = None
    #: where to act (the issuer's site), when the first step is the issuer's business
    link: str = ""


@dataclass(frozen=True)
class Note:
    """A box of background the FAQ teaches: a title, an explanation, and optional rows."""

    key: str
    title: str
    text: str
    rows: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class HistoryRow:
    """One past check, ready to show."""

    when: str
    reader: str
    card: str
    health: Health
    verdict: str
    detail: str


def general_items(report: CheckReport) -> list[CheckItem]:
    """The items that concern this computer, not one reader: 1, 10, and 2 without readers."""
    items = [report.service]
    if report.clock is not None:
        items.append(report.clock)
    if report.reader_item is not None:
        items.append(report.reader_item)
    return items


def _all_items(report: CheckReport) -> Iterable[tuple[str | None, CheckItem]]:
    for item in general_items(report):
        yield None, item
    for reader in report.readers:
        for item in reader.items:
            yield reader.reader, item


#: findings only the card's issuer can settle: their first step links to the issuer's site
ISSUER_BUSINESS = frozenset(
    {
        Code.EXPIRED,
        Code.EXPIRES_SOON,
        Code.EXPIRES_URGENT,
        Code.EXPIRES_CRITICAL,
        Code.REVOKED,
        Code.PIN_LOCKED,
        Code.PIN_FINAL_TRY,
    }
)


#: the issuers' sites a report may link to (tray/card/issuers.py)
KNOWN_SITES = frozenset({MOICA_SITE})


def issuer_site(reader: ReaderReport) -> str:
    """The issuer's site for this card's holder ('' when none is known).

    Only an address Cardwatch itself knows (:data:`KNOWN_SITES`) becomes a link: the value
    may come back from a saved state file, and a file is as untrusted as a card.
    """
    site = reader.issuer_service or (MOICA_SITE if reader.card_kind == "moica" else "")
    return site if site in KNOWN_SITES else ""


def first_step(report: CheckReport) -> FirstStep:
    """The assessment's verdict, headline and first step (tray/check/assess.py)."""
    verdict = assess(report)
    link = ""
    worst = verdict.worst
    if worst is not None and worst.reader is not None and worst.code in ISSUER_BUSINESS:
        reader = next((r for r in report.readers if r.reader == worst.reader), None)
        link = issuer_site(reader) if reader is not None else ""
    return FirstStep(
        verdict.health,
        health_label(verdict.health),
        verdict.headline,
        verdict.advice,
        verdict.reader,
        link,
    )


def days_left_text(cert: CertInfo) -> str:
    """'21 days left', or 'expired'."""
    return cert_days_left(cert.days_left)


def pin_state_text(pin: PinStatus) -> str:
    """A PIN's state in words."""
    return pin_state(pin)


def reader_notes(reader: ReaderReport) -> list[Note]:
    """The FAQ's background that applies to this reader's card."""
    notes = []
    codes = {item.code for item in reader.items}
    if Code.CARD_MUTE in codes:
        notes.append(
            Note("chip_orientation", _("Is the chip facing the right way?"), advice.mute_card())
        )
    elif codes & CONTACT_FAULTS:
        notes.append(Note("card_care", _("Card care"), advice.card_care()))
    own = [c for c in reader.certificates if not c.is_ca]
    if reader.card_kind == "moica" and reader.card_number and own:
        rows = [(_("IC card number"), reader.card_number)]
        rows += [
            (_("Certificate serial number ({label})").format(label=c.label or c.slot), c.serial)
            for c in own
        ]
        notes.append(
            Note(
                "serial_vs_card_number",
                _("Certificate serial number and card number"),
                _(
                    "The certificate serial number is assigned by the certificate authority "
                    "when it issues a certificate: every certificate has its own, and it "
                    "identifies that certificate. The IC card number is given to the card when "
                    "the card is made. The two are numbered in different ways for different "
                    "purposes, so they differ and cannot be unified."
                ),
                tuple(rows),
            )
        )
    return notes


def _when(moment: datetime) -> str:
    return local_time(moment)


def history_rows(
    entries: Sequence[HistoryEntry], readers: Iterable[str] | None = None
) -> list[HistoryRow]:
    """The latest past checks (of ``readers`` if given), newest first."""
    wanted = set(readers) if readers is not None else None
    chosen = [e for e in entries if wanted is None or e.reader in wanted]
    rows = []
    for entry in reversed(chosen[-HISTORY_ROWS:]):
        parts = []
        bad = [i for i in entry.items if i.status.rank >= 2]
        if bad:
            worst = max(bad, key=lambda i: i.status.rank)
            parts.append(f"{status_label(worst.status)}: {code_words(worst.code, worst.code_text)}")
        days = entry.days_left
        if days is not None:
            parts.append(days_left(days))
        rows.append(
            HistoryRow(
                _when(entry.at),
                entry.reader,
                entry.card or _("no card"),
                entry.health,
                health_label(entry.health),
                " · ".join(parts),
            )
        )
    return rows


@dataclass(frozen=True)
class DiagnosisRow:
    """One reader's diagnosis from the history, ready to show."""

    reader: str
    #: the culprit's machine name (tray.daemon.diagnosis.Culprit value)
    culprit: str
    summary: str
    advice: str
    confidence: str


def diagnosis_rows(report: CheckReport, entries: Sequence[HistoryEntry]) -> list[DiagnosisRow]:
    """What the history says about each reader of ``report`` and the card in it."""
    rows = []
    for reader in report.readers:
        verdict = diagnose(entries, reader.reader, report.checked_at)
        if verdict is None:
            continue
        sure = (
            "" if verdict.culprit is Culprit.NOT_ENOUGH_EVIDENCE else diagnosis_confidence(verdict)
        )
        rows.append(
            DiagnosisRow(
                reader.reader,
                verdict.culprit.value,
                diagnosis_summary(verdict, report.checked_at),
                diagnosis_advice(verdict),
                sure,
            )
        )
    return rows
