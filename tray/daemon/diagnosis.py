"""Bad reader or bad card? A verdict from the check history alone (pure: no I/O, no clock).

Every finished check is one *observation* of a reader and a card. Only checks that talked
to a card count; an empty reader, a stopped PC/SC service, a card in use by another program
or a Cardwatch fault are not evidence about either. Each observation is one of:

============  ====================================================================
good          the card was read (its certificates may still be expired: that is
              not a fault of the reader or the chip)
transport     the exchange with the card broke: ``transmission_failed``,
              ``card_removed``, ``card_slow``, ``card_mute``, ``reader_unavailable``
card-level    the card answered every command with an error: ``card_error``
data          the card answered, its certificate area did not make sense:
              ``certificate_unreadable``, ``no_certificates``, ``unrecognised_layout``
============  ====================================================================

A card is known by its history key (card number, else ATR + certificate serial, else ATR).
A check that failed before the card number was read only knows the ATR: such a card
*matches* any card with the same ATR, and the texts say "a card with the same ATR", never
"the same card".

Only the recent past counts: the last :data:`READER_WINDOW` observations of a reader and
of a card, none older than :data:`RECENT_DAYS`. The rules, first match wins:

====  ===============  =============================================================
rule  culprit          evidence needed (the constants below)
====  ===============  =============================================================
0     NONE             the reader's name marks it as virtual or TPM-backed
                       (:data:`VIRTUAL_MARKS`): it is never blamed or alarmed on
1     NONE             the latest check of the reader read the card
2     CARD             the card's latest observation failed on at least
                       :data:`MIN_CARD_READERS` different readers (card-level or
                       transport failures; CARD_DATA if all were data failures)
3     READER           the latest check was a transport failure, and on this reader
                       at least :data:`MIN_READER_OBSERVATIONS` observations, of them
                       at least :data:`MIN_READER_FAILURES` transport failures and at
                       least half; and the cards are cleared: a failing card read fine
                       on another reader, or :data:`MIN_READER_CARDS` different cards
                       failed on it
4     CARD_DATA        the card's last :data:`MIN_DATA_FAILURES` observations were
                       all data failures (whatever the reader: the card answers)
5     NOT_ENOUGH_      the latest check failed, but no rule above has its evidence
      EVIDENCE
====  ===============  =============================================================

The vpcd readers ("Virtual PCD 00 00") of the test bench are ordinary readers here:
vpcd is a developer's tool that stands in for a USB reader, not a virtual smart card, and
the bench must be diagnosable. Readers whose names mark a PIN pad or keyboard
(:data:`TROUBLESOME_MARKS`) are the button-type readers the MOICA FAQ says fail its items
2, 4, 6 and 7: a READER verdict on one adds that advice.

Each verdict carries the counts it rests on, so its confidence is shown, never overstated.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..check.advice import card_care
from ..i18n import _, ngettext, sentences
from ..model import Code, HistoryEntry, ItemId, Status

#: observations of one reader (or card) that count: the most recent ones
READER_WINDOW = 8
#: observations older than this are not evidence any more
RECENT_DAYS = 30
#: a reader is never blamed on fewer observations than this
MIN_READER_OBSERVATIONS = 3
#: ... nor on fewer transport failures than this (and they must be at least half)
MIN_READER_FAILURES = 2
#: ... and the cards must be cleared: this many different cards failed on it, or one of
#: them read fine on another reader
MIN_READER_CARDS = 2
#: a card is blamed when its latest observation failed on this many different readers
MIN_CARD_READERS = 2
#: a card's data is blamed after this many data failures in a row
MIN_DATA_FAILURES = 2

#: reader names (lower case) that mark a virtual or TPM-backed smart card: never alarmed on
VIRTUAL_MARKS = (
    "windows hello",
    "virtual smart card",
    "microsoft virtual",
    "tpm",
)
#: reader names (lower case) that mark a PIN-pad ("button-type") or keyboard reader
TROUBLESOME_MARKS = ("pinpad", "pin pad", "pin-pad", "keypad", "keyboard", "cyberjack")

TRANSPORT_CODES = frozenset(
    {
        Code.TRANSMISSION_FAILED,
        Code.CARD_REMOVED,
        Code.CARD_SLOW,
        Code.CARD_MUTE,
        Code.READER_UNAVAILABLE,
    }
)
CARD_CODES = frozenset({Code.CARD_ERROR})
DATA_CODES = frozenset(
    {Code.CERTIFICATE_UNREADABLE, Code.NO_CERTIFICATES, Code.UNRECOGNISED_LAYOUT}
)
#: codes that say nothing about the reader or the card
_NOT_EVIDENCE = frozenset({Code.NO_CARD, Code.CARD_IN_USE, Code.INTERNAL_ERROR, Code.GUARD_REFUSED})


class Outcome(enum.Enum):
    """What one check says about its reader and card."""

    GOOD = "good"
    TRANSPORT = "transport"
    CARD = "card"
    DATA = "data"


class Culprit(enum.Enum):
    """Who the history blames."""

    NONE = "none"
    NOT_ENOUGH_EVIDENCE = "not_enough_evidence"
    CARD_DATA = "card_data"
    READER = "reader"
    CARD = "card"

    @property
    def severity(self) -> int:
        """How bad, for "new or worse"."""
        order = (Culprit.CARD_DATA, Culprit.READER, Culprit.CARD)
        return order.index(self) + 1 if self in order else 0


class ReaderKind(enum.Enum):
    """What a reader's name says about it."""

    ORDINARY = "ordinary"
    VIRTUAL = "virtual"
    TROUBLESOME = "troublesome"


def reader_kind(name: str) -> ReaderKind:
    """Virtual/TPM, a PIN-pad or keyboard reader, or an ordinary one, by its name."""
    lower = name.lower()
    if any(mark in lower for mark in VIRTUAL_MARKS):
        return ReaderKind.VIRTUAL
    if any(mark in lower for mark in TROUBLESOME_MARKS):
        return ReaderKind.TROUBLESOME
    return ReaderKind.ORDINARY


@dataclass(frozen=True)
class Evidence:
    """The counts a verdict rests on."""

    #: observations of the reader in the window, and its transport failures among them
    reader_checks: int = 0
    reader_failures: int = 0
    #: different cards among the reader's failures
    failing_cards: int = 0
    #: observations of the card in the window, and its failures (of any kind) among them
    card_checks: int = 0
    card_failures: int = 0
    #: readers where the card's latest observation failed
    failed_readers: tuple[str, ...] = ()
    #: a matching card's latest good read on another reader: (reader, time)
    good_elsewhere: tuple[str, datetime] | None = None
    #: the good read elsewhere was of a card with the same ATR only (not the same key)
    same_atr_only: bool = False


@dataclass(frozen=True)
class Verdict:
    """The diagnosis after one check of ``reader``."""

    culprit: Culprit
    #: the reader of the check diagnosed
    reader: str
    #: the card key of that check (None: no card identity)
    card: str | None
    at: datetime
    evidence: Evidence
    reader_kind: ReaderKind = ReaderKind.ORDINARY

    @property
    def subject(self) -> str:
        """Whom the verdict is about: ``reader:NAME`` or ``card:KEY``."""
        if self.culprit in (Culprit.CARD, Culprit.CARD_DATA) and self.card is not None:
            return f"card:{self.card}"
        return f"reader:{self.reader}"

    @property
    def key(self) -> str:
        """Stable across checks while the verdict stays the same (notification dedup)."""
        return f"diagnosis:{self.culprit.value}:{self.subject}"

    @property
    def alarming(self) -> bool:
        """True when the verdict names a culprit."""
        return self.culprit.severity > 0

    @property
    def observations(self) -> int:
        """How many checks the verdict rests on (its confidence)."""
        if self.culprit in (Culprit.CARD, Culprit.CARD_DATA):
            return self.evidence.card_checks
        return self.evidence.reader_checks


def outcome(entry: HistoryEntry) -> Outcome | None:
    """What ``entry`` says about its reader and card; None: nothing."""
    codes = {i.code for i in entry.items if i.status in (Status.FAIL, Status.WARN)}
    if any(i.item is ItemId.SERVICE and i.status is Status.FAIL for i in entry.items):
        return None
    if codes & TRANSPORT_CODES:
        return Outcome.TRANSPORT
    if codes & CARD_CODES:
        return Outcome.CARD
    if codes & DATA_CODES:
        return Outcome.DATA
    if codes & _NOT_EVIDENCE or entry.card is None:
        return None
    present = [i for i in entry.items if i.item is ItemId.CARD_PRESENT]
    if not present or any(i.status is not Status.PASS for i in present):
        return None
    return Outcome.GOOD


def _atr(entry: HistoryEntry) -> str | None:
    return getattr(entry, "atr", None)


def matches(failed: HistoryEntry, other: HistoryEntry) -> bool:
    """Whether ``other`` may be the card of ``failed`` (same key, or same ATR when only that is known)."""
    if failed.card is not None and failed.card == other.card:
        return True
    atr = _atr(failed)
    return atr is not None and failed.card == atr and _atr(other) == atr


def _recent(entries: Sequence[HistoryEntry], now: datetime) -> list[tuple[HistoryEntry, Outcome]]:
    cutoff = now - timedelta(days=RECENT_DAYS)
    found = [(e, outcome(e)) for e in entries if cutoff <= e.at <= now]
    # Time order; equal times by reader and card so that input order never matters.
    ordered = sorted(
        ((e, o) for e, o in found if o is not None),
        key=lambda p: (p[0].at, p[0].reader, p[0].card or "", p[1].value),
    )
    return ordered


def diagnose(entries: Sequence[HistoryEntry], reader: str, now: datetime) -> Verdict | None:
    """The verdict after the latest check of ``reader`` in ``entries``; None: never checked."""
    observed = _recent(entries, now)
    mine = [(e, o) for e, o in observed if e.reader == reader]
    if not mine:
        return None
    latest, latest_outcome = mine[-1]
    kind = reader_kind(reader)
    window = mine[-READER_WINDOW:]
    failures = [(e, o) for e, o in window if o is Outcome.TRANSPORT]
    failing_cards = {e.card or "" for e, _o in failures}
    card_obs = [(e, o) for e, o in observed if matches(latest, e)][-READER_WINDOW:]
    # The card's latest observation on each reader.
    last_on: dict[str, tuple[HistoryEntry, Outcome]] = {}
    for e, o in card_obs:
        last_on[e.reader] = (e, o)
    failed_readers = tuple(
        sorted(
            r
            for r, (_e, o) in last_on.items()
            if o is not Outcome.GOOD and reader_kind(r) is not ReaderKind.VIRTUAL
        )
    )
    good_elsewhere = _good_elsewhere(observed, failures, reader)
    evidence = Evidence(
        reader_checks=len(window),
        reader_failures=len(failures),
        failing_cards=len(failing_cards),
        card_checks=len(card_obs),
        card_failures=sum(1 for _e, o in card_obs if o is not Outcome.GOOD),
        failed_readers=failed_readers,
        good_elsewhere=(good_elsewhere[0].reader, good_elsewhere[0].at) if good_elsewhere else None,
        same_atr_only=bool(good_elsewhere and good_elsewhere[1]),
    )

    def verdict(culprit: Culprit) -> Verdict:
        return Verdict(culprit, reader, latest.card, latest.at, evidence, kind)

    if kind is ReaderKind.VIRTUAL:
        return verdict(Culprit.NONE)
    if latest_outcome is Outcome.GOOD:
        return verdict(Culprit.NONE)
    if latest.card is not None and len(failed_readers) >= MIN_CARD_READERS:
        data_only = all(last_on[r][1] is Outcome.DATA for r in failed_readers)
        return verdict(Culprit.CARD_DATA if data_only else Culprit.CARD)
    if (
        latest_outcome is Outcome.TRANSPORT
        and len(window) >= MIN_READER_OBSERVATIONS
        and len(failures) >= MIN_READER_FAILURES
        and 2 * len(failures) >= len(window)
        and (good_elsewhere is not None or len(failing_cards) >= MIN_READER_CARDS)
    ):
        return verdict(Culprit.READER)
    recent_card = card_obs[-MIN_DATA_FAILURES:]
    if len(recent_card) >= MIN_DATA_FAILURES and all(o is Outcome.DATA for _e, o in recent_card):
        return verdict(Culprit.CARD_DATA)
    return verdict(Culprit.NOT_ENOUGH_EVIDENCE)


def _good_elsewhere(
    observed: Sequence[tuple[HistoryEntry, Outcome]],
    failures: Sequence[tuple[HistoryEntry, Outcome]],
    reader: str,
) -> tuple[HistoryEntry, bool] | None:
    """The latest good read, on another reader, of a card that failed on ``reader``."""
    best: tuple[HistoryEntry, bool] | None = None
    for e, o in observed:
        if o is not Outcome.GOOD or e.reader == reader:
            continue
        if reader_kind(e.reader) is ReaderKind.VIRTUAL:
            continue
        for failed, _o in failures:
            if matches(failed, e):
                best = (e, failed.card != e.card)
                break
    return best


# -- words --------------------------------------------------------------------------------


def _ago(then: datetime, now: datetime) -> str:
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 1:
        return _("just now")
    if minutes < 120:
        return ngettext("{n} minute ago", "{n} minutes ago", minutes).format(n=minutes)
    hours = minutes // 60
    if hours < 48:
        return ngettext("{n} hour ago", "{n} hours ago", hours).format(n=hours)
    days = hours // 24
    return ngettext("{n} day ago", "{n} days ago", days).format(n=days)


def summary(verdict: Verdict, now: datetime) -> str:
    """The verdict in one sentence, with its evidence."""
    ev = verdict.evidence
    culprit = verdict.culprit
    if culprit is Culprit.READER:
        text = ngettext(
            "Reader '{reader}' is probably faulty: {failed} of the last {n} check on it failed "
            "while transmitting",
            "Reader '{reader}' is probably faulty: {failed} of the last {n} checks on it failed "
            "while transmitting",
            ev.reader_checks,
        ).format(reader=verdict.reader, failed=ev.reader_failures, n=ev.reader_checks)
        if ev.good_elsewhere is not None:
            other, when = ev.good_elsewhere
            if ev.same_atr_only:
                more = _("a card with the same ATR read fine on '{other}' {ago}")
            else:
                more = _("the same card read fine on '{other}' {ago}")
            text = _("{first}; {second}").format(
                first=text, second=more.format(other=other, ago=_ago(when, now))
            )
        elif ev.failing_cards >= MIN_READER_CARDS:
            more = ngettext(
                "{n} different card failed on it",
                "{n} different cards failed on it",
                ev.failing_cards,
            ).format(n=ev.failing_cards)
            text = _("{first}; {second}").format(first=text, second=more)
        return text
    if culprit is Culprit.CARD:
        return ngettext(
            "This card failed on {n} different reader: its chip may be damaged",
            "This card failed on {n} different readers: its chip may be damaged",
            len(ev.failed_readers),
        ).format(n=len(ev.failed_readers))
    if culprit is Culprit.CARD_DATA:
        return ngettext(
            "Only this card's certificate area fails ({failed} of {n} check): the card answers "
            "but its data is unreadable",
            "Only this card's certificate area fails ({failed} of {n} checks): the card answers "
            "but its data is unreadable",
            ev.card_checks,
        ).format(failed=ev.card_failures, n=ev.card_checks)
    if culprit is Culprit.NOT_ENOUGH_EVIDENCE:
        return ngettext(
            "Not enough evidence yet to tell a bad reader from a bad card ({checks} recent "
            "check on this reader, {failed} failed; at least {needed} are needed)",
            "Not enough evidence yet to tell a bad reader from a bad card ({checks} recent "
            "checks on this reader, {failed} failed; at least {needed} are needed)",
            ev.reader_checks,
        ).format(checks=ev.reader_checks, failed=ev.reader_failures, needed=MIN_READER_OBSERVATIONS)
    if verdict.reader_kind is ReaderKind.VIRTUAL:
        return _("Virtual or TPM-backed smart card: never diagnosed or alarmed on")
    return ngettext(
        "No fault of the reader or the card in the history ({n} recent check)",
        "No fault of the reader or the card in the history ({n} recent checks)",
        ev.reader_checks,
    ).format(n=ev.reader_checks)


def advice(verdict: Verdict) -> str:
    """What to do about the verdict ("" when nothing)."""
    culprit = verdict.culprit
    if culprit is Culprit.READER:
        text = _("Try another reader, or unplug this one and plug it in again.")
        if verdict.reader_kind is ReaderKind.TROUBLESOME:
            text = sentences(
                text,
                _(
                    "This looks like a button-type (PIN-pad) reader: the MOICA FAQ says some of "
                    "these fail the inspection tool's items 2, 4, 6 and 7. Ask the reader's "
                    "maker for support, or use a reader of another model."
                ),
            )
        return text
    if culprit is Culprit.CARD:
        return sentences(
            card_care(),
            _("Contact the card's issuer: a card that fails on every reader needs replacing."),
        )
    if culprit is Culprit.CARD_DATA:
        return _(
            "The chip works but its certificate data cannot be read: contact the card's issuer."
        )
    return ""


def confidence(verdict: Verdict) -> str:
    """How much evidence the verdict rests on, in words."""
    n = verdict.observations
    return ngettext("based on {n} check", "based on {n} checks", n).format(n=n)


__all__ = [
    "Culprit",
    "Evidence",
    "Outcome",
    "ReaderKind",
    "Verdict",
    "advice",
    "confidence",
    "diagnose",
    "matches",
    "outcome",
    "reader_kind",
    "summary",
]
