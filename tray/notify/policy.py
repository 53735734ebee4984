"""When to notify, about what, how urgently: pure functions over state snapshots and a log.

The daemon's snapshots go in, together with what is shown now and the log of what was told
when; out come the actions for the notifier (show or replace one notice per slot, withdraw
one) and the updated log. A *slot* is one reader (one card), or the computer's PC/SC
service, or its clock: each has at most one live notification, replaced rather than stacked.

Rules:

* only checked findings count (a card still being checked keeps what it has); an empty
  reader, a vanished reader, or a finding that went away withdraws the notice;
* an expiry threshold (60, 30, 14, 7, 3, 1 days by default) is told once per certificate;
  "expired" once per certificate too;
* any other finding is told again at most once a ``repeat_hours`` window, unless something
  worse of the same kind (a higher rank in the same topic) turns up;
* a snoozed card, paused notifications, or ``enabled=False`` hold new notices back;
  withdrawing still happens (it never disturbs anyone);
* a diagnosis (tray/daemon/diagnosis.py: "reader probably faulty", "card damaged") has a slot of its
  own per subject (the reader, or the card) and is told only when it is new or worse than the
  last one told for that subject; a check that clears the subject re-arms it. Virtual and
  TPM-backed readers never get one (their verdict never names a culprit).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ..clock import local_date
from ..daemon.diagnosis import Culprit, Verdict
from ..daemon.diagnosis import advice as diagnosis_advice
from ..daemon.diagnosis import summary as diagnosis_summary
from ..daemon.state import DaemonState, Phase, assessment, card_name, shown_diagnoses
from ..i18n import _, ngettext
from ..model import CheckItem, Code, ItemId, ReaderReport, Status, card_key
from .wording import body, urgency_name

SERVICE_SLOT = "@service"
CLOCK_SLOT = "@clock"
#: a diagnosis's slot is this prefix and its subject ("reader:NAME" or "card:KEY")
DIAGNOSIS_SLOT = "@diagnosis:"

#: log entries older than this are forgotten (a threshold told that long ago is moot)
KEEP_DAYS = 400


@dataclass(frozen=True)
class NotifySettings:
    """What the user chose about notifications."""

    enabled: bool = True
    #: days before a certificate expires at which to tell, each once per certificate
    expiry_days: tuple[int, ...] = (60, 30, 14, 7, 3, 1)
    #: the same finding is not told again within this many hours unless it gets worse
    repeat_hours: float = 24.0
    #: how long "Snooze for a day" holds a card's notices back
    snooze_hours: float = 24.0


class Urgency(enum.Enum):
    """The notification's urgency (the freedesktop levels)."""

    LOW = "low"
    NORMAL = "normal"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Finding:
    """Something that needs the user, about one card or the computer."""

    #: unique within its slot: what is logged as told
    key: str
    #: what it is about; a finding waits out the repeat window only if no worse one came
    topic: str
    rank: int
    urgency: Urgency
    title: str
    detail: str
    advice: str = ""
    #: told once, never repeated (expiry thresholds)
    once: bool = False


@dataclass(frozen=True)
class Notice:
    """One notification as it should look now."""

    slot: str
    #: whose report a click opens; None: the report of all readers
    reader: str | None
    #: the card (or slot) the log and a snooze are kept under
    card: str
    key: str
    title: str
    #: the body's lines; a line may hold card or reader text, so the backends make each
    #: safe for their sink (tray/present/safe.py) and join them there
    lines: tuple[str, ...]
    urgency: Urgency
    #: seconds until the server may hide it (0: stays until acted on)
    timeout: int = 0
    snooze: bool = True

    @property
    def body(self) -> str:
        """The body as plain text (unescaped: for tests and the log, never a sink)."""
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Show:
    """Show ``notice``, replacing whatever its slot shows."""

    notice: Notice


@dataclass(frozen=True)
class Withdraw:
    """Close the notification of ``slot``."""

    slot: str


Action = Show | Withdraw


@dataclass(frozen=True)
class Told:
    """When a finding was last told, and how bad it was."""

    at: datetime
    topic: str
    rank: int


@dataclass(frozen=True)
class NotifyLog:
    """What was told per card and finding, and which cards are snoozed until when."""

    told: Mapping[str, Mapping[str, Told]] = field(default_factory=dict)
    snoozed: Mapping[str, datetime] = field(default_factory=dict)

    def tell(self, card: str, findings: Iterable[Finding], now: datetime) -> NotifyLog:
        """A copy recording ``findings`` as told now."""
        told = dict(self.told)
        mine = dict(told.get(card, {}))
        for f in findings:
            mine[f.key] = Told(now, f.topic, f.rank)
        told[card] = mine
        return replace(self, told=told)

    def snooze(self, card: str, until: datetime) -> NotifyLog:
        """A copy with ``card`` held back until ``until``."""
        return replace(self, snoozed={**self.snoozed, card: until})

    def pruned(self, now: datetime) -> NotifyLog:
        """A copy without entries past :data:`KEEP_DAYS` and snoozes that ran out."""
        limit = now - timedelta(days=KEEP_DAYS)
        told = {
            card: kept
            for card, keys in self.told.items()
            if (kept := {k: t for k, t in keys.items() if t.at >= limit})
        }
        snoozed = {c: until for c, until in self.snoozed.items() if until > now}
        return NotifyLog(told, snoozed)


# -- findings ---------------------------------------------------------------------------

_ITEM_TITLES = {
    # code: (topic, rank, urgency, title)
    Code.PIN_LOCKED: ("pin", 2, Urgency.CRITICAL, "PIN locked"),
    Code.PIN_FINAL_TRY: ("pin", 1, Urgency.CRITICAL, "One PIN try left before the card locks"),
    Code.REVOKED: ("revocation", 1, Urgency.CRITICAL, "Certificate revoked"),
    Code.NOT_YET_VALID: ("valid_from", 2, Urgency.NORMAL, "Certificate not yet valid"),
    Code.NOT_YET_VALID_SOON: ("valid_from", 1, Urgency.NORMAL, "Certificate not yet valid"),
    Code.CLOCK_BEFORE_RELEASE: ("valid_from", 2, Urgency.NORMAL, "Certificate not yet valid"),
    Code.CARD_MUTE: ("reader", 1, Urgency.NORMAL, "The card does not answer"),
    Code.TRANSMISSION_FAILED: ("reader", 1, Urgency.NORMAL, "Card reader fault"),
    Code.READER_UNAVAILABLE: ("reader", 1, Urgency.NORMAL, "Card reader not available"),
    Code.READER_NOT_FOUND: ("reader", 1, Urgency.NORMAL, "Card reader vanished during the check"),
    Code.CARD_REMOVED: ("reader", 1, Urgency.NORMAL, "The card went away during the check"),
    Code.CARD_SLOW: ("reader", 1, Urgency.NORMAL, "The card answers too slowly"),
    Code.CARD_ERROR: ("card", 1, Urgency.NORMAL, "Card unreadable"),
    Code.CERTIFICATE_UNREADABLE: ("card", 1, Urgency.NORMAL, "Card unreadable"),
    Code.NO_CERTIFICATES: ("card", 1, Urgency.NORMAL, "Card unreadable"),
    Code.UNRECOGNISED_LAYOUT: ("card", 1, Urgency.NORMAL, "Card unreadable"),
}


def _title(code: Code) -> str:
    # The table keeps English keys; translations come from these literal calls.
    titles = {
        "PIN locked": _("PIN locked"),
        "One PIN try left before the card locks": _("One PIN try left before the card locks"),
        "Certificate revoked": _("Certificate revoked"),
        "Certificate not yet valid": _("Certificate not yet valid"),
        "The card does not answer": _("The card does not answer"),
        "Card reader fault": _("Card reader fault"),
        "Card reader not available": _("Card reader not available"),
        "Card reader vanished during the check": _("Card reader vanished during the check"),
        "The card went away during the check": _("The card went away during the check"),
        "The card answers too slowly": _("The card answers too slowly"),
        "Card unreadable": _("Card unreadable"),
    }
    return titles[_ITEM_TITLES[code][3]]


def threshold(days_left: int, thresholds: Iterable[int]) -> int | None:
    """The smallest threshold that ``days_left`` has reached, or None (none reached)."""
    reached = [t for t in thresholds if days_left <= t]
    return min(reached) if reached else None


def _item(report: ReaderReport, item_id: ItemId) -> CheckItem | None:
    return next((i for i in report.items if i.item is item_id), None)


def _expiry_findings(report: ReaderReport, settings: NotifySettings) -> list[Finding]:
    item = _item(report, ItemId.EXPIRY)
    advice = item.advice if item is not None else ""
    found = []
    for cert in report.certificates:
        if cert.is_ca:
            continue
        topic = f"expiry:{cert.sha256}"
        date = local_date(cert.not_after)
        if cert.days_left < 0:
            detail = _("Certificate '{label}' expired on {date}.").format(
                label=cert.label, date=date
            )
            title = _("Certificate expired")
            found.append(Finding(f"expired:{cert.sha256}", topic, 1000, Urgency.CRITICAL,
                                 title, detail, advice, once=True))  # fmt: skip
            continue
        reached = threshold(cert.days_left, settings.expiry_days)
        if reached is None:
            continue
        if cert.days_left == 0:
            title = _("Certificate expires today")
        else:
            title = ngettext(
                "Certificate expires in {n} day", "Certificate expires in {n} days", cert.days_left
            ).format(n=cert.days_left)
        detail = _("Certificate '{label}' expires on {date}.").format(label=cert.label, date=date)
        # As loud as the expiry item (check, tray) says: red when it fails, amber when it warns.
        urgency = Urgency(urgency_name(item.status)) if item is not None else Urgency.NORMAL
        rank = 1000 - reached
        key = f"expiry:{cert.sha256}:{reached}"
        found.append(Finding(key, topic, rank, urgency, title, detail, advice, once=True))
    return found


def reader_findings(
    report: ReaderReport, settings: NotifySettings, folded: Sequence[CheckItem] = ()
) -> list[Finding]:
    """What in one checked card needs the user, worst first; ``folded``: told by the clock."""
    found = _expiry_findings(report, settings)
    for item in report.items:
        if item.status not in (Status.WARN, Status.FAIL) or item.code not in _ITEM_TITLES:
            continue
        if item in folded:
            continue  # the clock's notice tells it: one finding, one first step
        topic, rank, _table, _english = _ITEM_TITLES[item.code]
        urgency = Urgency(urgency_name(item.status))
        title = _title(item.code)
        found.append(Finding(item.code, topic, rank, urgency, title, item.summary, item.advice))
    return sorted(found, key=_badness, reverse=True)


def _badness(finding: Finding) -> tuple[int, int]:
    order = [Urgency.LOW, Urgency.NORMAL, Urgency.CRITICAL]
    return order.index(finding.urgency), finding.rank


def clock_finding(item: CheckItem, headline: str = "") -> Finding | None:
    """Item 10 as a finding, when the clock is off; titled with its headline if given."""
    if item.status not in (Status.WARN, Status.FAIL):
        return None
    rank = 2 if item.status is Status.FAIL else 1
    urgency = Urgency.CRITICAL if item.status is Status.FAIL else Urgency.NORMAL
    title = headline or _("Computer clock is wrong")
    return Finding(f"clock:{item.code}", "clock", rank, urgency, title, item.summary, item.advice)


def service_finding(item: CheckItem | None) -> Finding:
    """The PC/SC service being down, as a finding."""
    detail = item.summary if item is not None else _("PC/SC service not reachable")
    advice = item.advice if item is not None else ""
    title = _("Smart-card service stopped")
    return Finding("service_down", "service", 1, Urgency.CRITICAL, title, detail, advice)


# -- deciding ---------------------------------------------------------------------------


def _due(finding: Finding, told: Mapping[str, Told], now: datetime, window: timedelta) -> bool:
    before = told.get(finding.key)
    if before is not None and (finding.once or now - before.at < window):
        return False
    # Something of the same kind as bad or worse was told recently: this one waits.
    return not any(
        t.topic == finding.topic and t.rank >= finding.rank and now - t.at < window
        for key, t in told.items()
        if key != finding.key
    )


def _body(where: str, findings: list[Finding]) -> tuple[str, ...]:
    first = findings[0]
    others = [f.title for f in findings[1:] if f.title != first.title]
    return body(first.advice, first.detail, where, others)


def _slot(
    notice: Notice,
    findings: list[Finding],
    live: Mapping[str, Notice],
    log: NotifyLog,
    now: datetime,
    settings: NotifySettings,
    quiet: bool,
) -> tuple[Action | None, NotifyLog]:
    current = live.get(notice.slot)
    if not findings:
        return (Withdraw(notice.slot) if current is not None else None), log
    snoozed = log.snoozed.get(notice.card)
    if quiet or not settings.enabled or (snoozed is not None and snoozed > now):
        return None, log
    window = timedelta(hours=settings.repeat_hours)
    told = log.told.get(notice.card, {})
    if any(_due(f, told, now, window) for f in findings):
        return Show(notice), log.tell(notice.card, findings, now)
    if current is not None and current.key != notice.key:
        # What the notice said changed (its worst finding went away): bring it up to date.
        return Show(notice), log
    return None, log


def _reader_notice(reader: str, report: ReaderReport, findings: list[Finding]) -> Notice:
    card = card_key(report) or f"reader:{reader}"
    where = _("{card} in {reader}").format(card=card_name(report), reader=reader)
    if report.card_type is None and not report.certificates:
        where = _("Reader {reader}").format(reader=reader)
    return _notice(reader, reader, card, where, findings)


def _computer_notice(slot: str, findings: list[Finding]) -> Notice:
    return _notice(slot, None, slot, _("This computer"), findings)


def _notice(
    slot: str, reader: str | None, card: str, where: str, findings: list[Finding]
) -> Notice:
    """The notice of ``slot``: its worst finding leads, the others follow in the body."""
    first = findings[0] if findings else None
    return Notice(
        slot=slot,
        reader=reader,
        card=card,
        key=first.key if first else "",
        title=first.title if first else "",
        lines=_body(where, findings) if findings else (),
        urgency=first.urgency if first else Urgency.NORMAL,
    )


def service_back() -> Notice:
    """The short notice replacing "service stopped" once the service runs again."""
    return Notice(
        slot=SERVICE_SLOT,
        reader=None,
        card=SERVICE_SLOT,
        key="service_up",
        title=_("Smart-card service running again"),
        lines=(_("Cardwatch checks the cards again."),),
        urgency=Urgency.LOW,
        timeout=10,
        snooze=False,
    )


def decide(
    state: DaemonState,
    live: Mapping[str, Notice],
    log: NotifyLog,
    now: datetime,
    settings: NotifySettings,
) -> tuple[list[Action], NotifyLog]:
    """The actions that bring the notifications in line with ``state``, and the new log."""
    actions: list[Action] = []
    quiet = state.paused
    verdict = assessment(state)

    def apply(result: tuple[Action | None, NotifyLog]) -> None:
        nonlocal log
        action, log = result
        if action is not None:
            actions.append(action)

    # The PC/SC service.
    if state.service_up is False:
        found = [service_finding(state.service_item)]
        apply(_slot(_computer_notice(SERVICE_SLOT, found), found, live, log, now, settings, quiet))
    elif state.service_up is True:
        shown = live.get(SERVICE_SLOT)
        if shown is not None and shown.key == "service_down":
            actions.append(Show(service_back()))
    # The computer's clock (item 10 of the latest check).
    if state.clock is not None:
        clock = clock_finding(state.clock, verdict.clock.headline if verdict.clock else "")
        found = [clock] if clock is not None else []
        apply(_slot(_computer_notice(CLOCK_SLOT, found), found, live, log, now, settings, quiet))
    # Each reader's card; what the clock explains is the clock's notice.
    folded = verdict.clock.folded if verdict.clock is not None else ()
    present = {r.reader for r in state.readers}
    for slot in live:
        if not slot.startswith("@") and slot not in present:
            actions.append(Withdraw(slot))
    for reader in state.readers:
        if reader.phase is Phase.EMPTY:
            if reader.reader in live:
                actions.append(Withdraw(reader.reader))
            continue
        if reader.phase is not Phase.CHECKED or reader.report is None:
            continue  # still being checked: notify on findings, not on events
        found = reader_findings(reader.report, settings, folded)
        notice = _reader_notice(reader.reader, reader.report, found)
        apply(_slot(notice, found, live, log, now, settings, quiet))
    told, log = _diagnoses(state, live, log, now, settings)
    return actions + told, log


def diagnosis_finding(verdict: Verdict, now: datetime) -> Finding:
    """A verdict that names a culprit, as a finding (rank: its severity)."""
    titles = {
        Culprit.READER: _("Card reader probably faulty"),
        Culprit.CARD: _("Card probably damaged"),
        Culprit.CARD_DATA: _("Card data unreadable"),
    }
    return Finding(
        verdict.key,
        "diagnosis",
        verdict.culprit.severity,
        Urgency.NORMAL,
        titles.get(verdict.culprit, ""),
        diagnosis_summary(verdict, now),
        diagnosis_advice(verdict),
    )


def _last_told(told: Mapping[str, Told]) -> Told | None:
    return max(told.values(), key=lambda t: (t.at, t.rank), default=None)


def _diagnoses(
    state: DaemonState,
    live: Mapping[str, Notice],
    log: NotifyLog,
    now: datetime,
    settings: NotifySettings,
) -> tuple[list[Action], NotifyLog]:
    actions: list[Action] = []
    shown = {DIAGNOSIS_SLOT + v.subject: v for v in shown_diagnoses(state)}
    for slot in live:
        if slot.startswith(DIAGNOSIS_SLOT) and slot not in shown:
            actions.append(Withdraw(slot))
    # A check that found nothing wrong re-arms its reader and card: a relapse is new again.
    for verdict in state.diagnoses:
        if verdict.culprit is not Culprit.NONE:
            continue
        subjects = [f"reader:{verdict.reader}"] + ([f"card:{verdict.card}"] if verdict.card else [])
        for subject in subjects:
            told = log.told.get(DIAGNOSIS_SLOT + subject, {})
            # Each verdict told is marked as no longer standing (rank 0).
            cleared = [
                Finding(key, "diagnosis", 0, Urgency.LOW, "", "")
                for key, t in told.items()
                if t.rank > 0
            ]
            if cleared:
                log = log.tell(DIAGNOSIS_SLOT + subject, cleared, now)
    quiet = state.paused or not settings.enabled
    for slot, verdict in shown.items():
        finding = diagnosis_finding(verdict, now)
        last = _last_told(log.told.get(slot, {}))
        snoozed = log.snoozed.get(slot)
        if last is not None and last.rank >= finding.rank:
            continue  # told already, and it is no worse
        if quiet or (snoozed is not None and snoozed > now):
            continue
        notice = _notice(slot, verdict.reader, slot, _("Diagnosis"), [finding])
        actions.append(Show(notice))
        log = log.tell(slot, [finding], now)
    return actions, log


def snooze(log: NotifyLog, card: str, now: datetime, settings: NotifySettings) -> NotifyLog:
    """The log after "Snooze for a day" on ``card``'s notice."""
    return log.snooze(card, now + timedelta(hours=settings.snooze_hours))
