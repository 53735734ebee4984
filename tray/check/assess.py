"""One verdict for a check: severity, headline and first step, computed once (pure).

Every surface (terminal, JSON, ``status``, the report, the tray, notifications, the exit
code, Prometheus) renders an :class:`Assessment`; none judges the items again.

Two steps:

* :func:`reason` lets the findings reason together: the clock measurement (item 10) is
  evidence for items 8 and 9. Its rule table, :data:`RULES`, is applied in order; the first
  row that matches an item decides it.
* :func:`assess` turns the reasoned check into the verdict: overall and per-card health, the
  headline of each card, the first step, and each finding with its severity. A clock that
  is off absorbs the findings it explains (cause ``clock``): one finding, one first step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ..i18n import _, ngettext
from ..model import (
    Cause,
    CheckItem,
    CheckReport,
    ClockMeasurement,
    Code,
    Health,
    ItemId,
    ReaderReport,
    Status,
)
from .skew import duration

# -- findings reason together ---------------------------------------------------------------

#: the codes of item 8 that say "not yet valid" and, offline, blame the clock
NOT_YET_VALID = frozenset({Code.NOT_YET_VALID, Code.NOT_YET_VALID_SOON})


class Evidence:
    """What the clock measurement says, in the words of the rule table."""

    MEASURED_RIGHT = "measured_right"
    MEASURED_WRONG = "measured_wrong"
    UNMEASURED = "unmeasured"


def clock_evidence(report: CheckReport) -> str:
    """Whether this check measured the clock, and whether it was right."""
    if not isinstance(report.clock_reading, ClockMeasurement) or report.clock is None:
        return Evidence.UNMEASURED
    if report.clock.status is Status.PASS:
        return Evidence.MEASURED_RIGHT
    if report.clock.status in (Status.WARN, Status.FAIL):
        return Evidence.MEASURED_WRONG
    return Evidence.UNMEASURED  # a measurement the skew check did not trust


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _certificate_not_yet_valid(item: CheckItem, reader: ReaderReport) -> CheckItem:
    """Item 8 when the clock was measured right: the certificate, not the clock, is wrong."""
    pending = [c for c in reader.certificates if not c.is_ca]
    first = min(pending, key=lambda c: c.not_before) if pending else None
    start = _date(first.not_before) if first is not None else "?"
    label = (first.label or first.slot) if first is not None else "?"
    return replace(
        item,
        summary=_(
            "Certificate '{label}' is not valid until {date}; this computer's clock is right"
        ).format(label=label, date=start),
        advice=_(
            "This computer's clock is right: the card was issued with a future start date, or "
            "it is the wrong card. Ask the issuer."
        ),
        cause=Cause.CERTIFICATE,
    )


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: when it applies, and what it makes of the item."""

    name: str
    applies: Callable[[CheckItem, str], bool]
    #: None: the item stays as it is (the row only says that nothing else applies)
    rewrite: Callable[[CheckItem, ReaderReport], CheckItem] | None
    why: str


def _keep(item: CheckItem, reader: ReaderReport) -> CheckItem:
    return item


#: Applied in this order; the first row whose ``applies`` holds decides the item.
RULES: tuple[Rule, ...] = (
    Rule(
        "clock_flips_validity",
        lambda item, ev: ev == Evidence.MEASURED_WRONG and item.cause is Cause.CLOCK,
        _keep,
        "The measured clock is wrong and this item blames it: the item is folded into the "
        "clock's finding (one finding, one first step; see assess()).",
    ),
    Rule(
        "measured_right_not_yet_valid",
        lambda item, ev: (
            ev == Evidence.MEASURED_RIGHT
            and item.item is ItemId.VALID_FROM
            and item.code in NOT_YET_VALID
        ),
        _certificate_not_yet_valid,
        "Not yet valid, and the clock was measured right: the certificate's problem.",
    ),
    Rule(
        "unmeasured_not_yet_valid",
        lambda item, ev: ev == Evidence.UNMEASURED and item.code in NOT_YET_VALID,
        None,
        "No measurement: 'probably the clock' stays, as the offline evidence says.",
    ),
)


def matching_rule(item: CheckItem, evidence: str) -> Rule | None:
    """The first row of :data:`RULES` that applies to ``item``."""
    return next((rule for rule in RULES if rule.applies(item, evidence)), None)


def reason(report: CheckReport) -> CheckReport:
    """``report`` with items 8 and 9 judged in the light of the clock measurement."""
    evidence = clock_evidence(report)
    readers = []
    for reader in report.readers:
        items = []
        for item in reader.items:
            rule = matching_rule(item, evidence)
            items.append(rule.rewrite(item, reader) if rule and rule.rewrite else item)
        readers.append(replace(reader, items=tuple(items)))
    return replace(report, readers=tuple(readers))


# -- the assessment -------------------------------------------------------------------------

_SEVERITY = {Status.FAIL: Health.CRITICAL, Status.WARN: Health.WARNING}
_ORDER = [Health.UNKNOWN, Health.OK, Health.WARNING, Health.CRITICAL]


def severity(status: Status) -> Health:
    """An item status as the severity of a finding (PASS and SKIP: OK)."""
    return _SEVERITY.get(status, Health.OK)


def worse(a: Health, b: Health) -> Health:
    """The worse of two verdicts: CRITICAL beats WARNING beats OK beats UNKNOWN."""
    return max(a, b, key=_ORDER.index)


@dataclass(frozen=True)
class Finding:
    """Something that needs the user: its item, severity, short headline and first step."""

    #: the reader it is about; None: this computer (service, clock, no reader)
    reader: str | None
    item: CheckItem
    severity: Health
    headline: str
    #: items this finding explains and stands for (e.g. item 8 that the clock explains)
    folded: tuple[CheckItem, ...] = ()

    @property
    def advice(self) -> str:
        """What to do first."""
        return self.item.advice

    @property
    def code(self) -> str:
        """The stable code of the finding (its item's code)."""
        return self.item.code


@dataclass(frozen=True)
class CardVerdict:
    """One reader and the card in it: health, headline and first step."""

    reader: str
    #: 'MOICA card TP0317…'; None when no card could be named
    name: str | None
    health: Health
    headline: str
    advice: str = ""
    #: the finding the headline comes from (None: nothing wrong)
    worst: Finding | None = None


@dataclass(frozen=True)
class Assessment:
    """The verdict every surface renders."""

    health: Health
    headline: str
    advice: str
    #: the reader the headline is about (None: this computer, or every reader)
    reader: str | None
    cards: tuple[CardVerdict, ...]
    #: worst first (computer before readers, item order among equals)
    findings: tuple[Finding, ...]
    #: the clock's finding, when the clock is off (shown once, only then)
    clock: Finding | None = None

    @property
    def exit_code(self) -> int:
        """The monitoring-plugin exit code."""
        return int(self.health)

    @property
    def worst(self) -> Finding | None:
        """The finding the headline comes from."""
        return self.findings[0] if self.findings else None

    def card(self, reader: str) -> CardVerdict | None:
        """The verdict of ``reader``'s card."""
        return next((c for c in self.cards if c.reader == reader), None)


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


def _days_to_expiry(report: ReaderReport) -> int | None:
    own = [c.days_left for c in report.certificates if not c.is_ca]
    return min(own) if own else None


def clock_headline(item: CheckItem, report: CheckReport) -> str:
    """'Clock 8 h 0 min ahead — fix the time zone'."""
    if item.code == Code.CLOCK_BEFORE_CERTIFICATE:  # offline evidence only: a likelihood
        return _("Clock probably behind — check the date and time")
    reading = report.clock_reading
    if isinstance(reading, ClockMeasurement):
        off = duration(reading.offset_seconds)
        # offset = true time - this clock: positive means this clock is behind
        if reading.offset_seconds > 0:
            text = _("Clock {off} behind").format(off=off)
        else:
            text = _("Clock {off} ahead").format(off=off)
    elif item.code in (Code.CLOCK_BEFORE_RELEASE, Code.CLOCK_BEFORE_CERTIFICATE):
        text = _("Clock behind")
    else:
        text = _("Clock wrong")
    if item.code == Code.CLOCK_TIME_ZONE:
        return _("{problem} — fix the time zone").format(problem=text)
    return _("{problem} — set the time").format(problem=text)


def item_headline(item: CheckItem, reader: ReaderReport | None) -> str:
    """A finding's short headline: what is wrong — what to do."""
    code = item.code
    days = _days_to_expiry(reader) if reader is not None else None
    if code == Code.REVOKED:
        return _("Revoked — get a new card")
    if code == Code.EXPIRED:
        return _("Expired — renew the certificate")
    if code in (Code.EXPIRES_SOON, Code.EXPIRES_URGENT, Code.EXPIRES_CRITICAL) and days is not None:
        if days == 0:
            return _("Expires today — renew")
        return ngettext("Expires in {n} day — renew", "Expires in {n} days — renew", days).format(
            n=days
        )
    if code in NOT_YET_VALID:
        if item.cause is Cause.CERTIFICATE:
            return _("Not yet valid — ask the issuer")
        return _("Not yet valid — probably the clock")
    if code == Code.PIN_LOCKED:
        return _("PIN locked — have it unlocked")
    if code == Code.PIN_FINAL_TRY:
        return _("One PIN try left — do not guess")
    if code == Code.PIN_COUNT_LOW:
        return _("A wrong PIN was entered — careful")
    if code == Code.CARD_MUTE:
        return _("Does not answer — reinsert the card")
    return item.summary


def _ok_headline(reader: ReaderReport) -> str:
    days = _days_to_expiry(reader)
    if days is None:
        return _("OK")
    return ngettext("OK, valid {n} day", "OK, valid {n} days", days).format(n=days)


def _general(report: CheckReport) -> list[CheckItem]:
    items = [report.service]
    if report.clock is not None:
        items.append(report.clock)
    if report.reader_item is not None:
        items.append(report.reader_item)
    return items


def assess(report: CheckReport) -> Assessment:
    """The verdict of ``report`` (reasoned with :func:`reason` first, if it was not yet)."""
    report = reason(report)
    clock_bad = report.clock is not None and report.clock.status in (Status.WARN, Status.FAIL)
    # The clock's finding stands for every item that blames the clock.
    folded = tuple(
        item
        for reader in report.readers
        for item in reader.items
        if clock_bad and item.cause is Cause.CLOCK and item.status.rank >= 2
    )
    clock: Finding | None = None
    findings: list[Finding] = []
    for item in _general(report):
        if item.status.rank < 2:
            continue
        if item is report.clock:
            level = severity(item.status)
            for other in folded:
                level = worse(level, severity(other.status))
            clock = Finding(None, item, level, clock_headline(item, report), folded)
            findings.append(clock)
        else:
            findings.append(Finding(None, item, severity(item.status), item_headline(item, None)))
    cards = []
    for reader in report.readers:
        mine = [
            Finding(reader.reader, item, severity(item.status), item_headline(item, reader))
            for item in reader.items
            if item.status.rank >= 2 and item not in folded
        ]
        findings += mine
        explained = [item for item in reader.items if item in folded]
        name = card_name(reader) if reader.card_type or reader.certificates else None
        worst = _worst(mine)
        if explained and clock is not None and (worst is None or worst.severity <= clock.severity):
            cards.append(
                CardVerdict(reader.reader, name, reader.health, clock.headline, clock.advice, clock)
            )
        elif worst is not None:
            cards.append(
                CardVerdict(reader.reader, name, reader.health, worst.headline, worst.advice, worst)
            )
        elif reader.health is Health.OK:
            cards.append(CardVerdict(reader.reader, name, Health.OK, _ok_headline(reader)))
        else:
            skipped = next(
                (i for i in reader.items if i.code not in (Code.OK, Code.NOT_CHECKED)), None
            )
            text = skipped.summary if skipped is not None else _("Not checked")
            advice = skipped.advice if skipped is not None else ""
            cards.append(CardVerdict(reader.reader, name, reader.health, text, advice))
    ordered = sorted(findings, key=lambda f: _ORDER.index(f.severity), reverse=True)
    health = report.health
    if ordered:
        first = ordered[0]
        return Assessment(
            health, first.headline, first.advice, first.reader, tuple(cards), tuple(ordered), clock
        )
    if health is Health.OK:
        return Assessment(health, _("Every card checked is fine. Nothing to do."), "", None,
                          tuple(cards), (), clock)  # fmt: skip
    for reader_name, item in _skipped(report):
        return Assessment(health, item.summary, item.advice, reader_name, tuple(cards), (), clock)
    return Assessment(health, _("No card could be checked."), "", None, tuple(cards), (), clock)


def _worst(findings: Sequence[Finding]) -> Finding | None:
    if not findings:
        return None
    return max(findings, key=lambda f: _ORDER.index(f.severity))


def _skipped(report: CheckReport) -> list[tuple[str | None, CheckItem]]:
    found: list[tuple[str | None, CheckItem]] = [
        (None, i) for i in _general(report) if i.code not in (Code.OK, Code.NOT_CHECKED)
    ]
    for reader in report.readers:
        found += [
            (reader.reader, i) for i in reader.items if i.code not in (Code.OK, Code.NOT_CHECKED)
        ]
    return found
