"""Typed, frozen results of a health check."""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone


class StrEnum310(str, enum.Enum):
    """``enum.StrEnum`` for Python 3.10: members are strings, and print as their value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - Python 3.10
    StrEnum = StrEnum310


class Status(enum.Enum):
    """Outcome of one check item."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def rank(self) -> int:
        """Badness, for picking the worst."""
        return {Status.SKIP: 0, Status.PASS: 1, Status.WARN: 2, Status.FAIL: 3}[self]


class Health(enum.IntEnum):
    """Overall verdict; the value is the monitoring-plugin exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


class Cause(enum.Enum):
    """What a problem is attributed to."""

    NONE = "none"
    SERVICE = "service"
    READER = "reader"
    CARD = "card"
    CLOCK = "clock"
    CERTIFICATE = "certificate"
    PIN = "pin"
    USER = "user"


class ItemId(enum.IntEnum):
    """The numbered check items, in the order of the HiCOS inspection tool."""

    SERVICE = 1
    READER = 2
    CARD_PRESENT = 3
    CARD_IDENTIFIED = 4
    APPLICATION = 5
    CERTIFICATES = 6
    PIN = 7
    VALID_FROM = 8
    EXPIRY = 9
    CLOCK = 10
    REVOCATION = 11

    @property
    def key(self) -> str:
        """Stable machine name used in JSON."""
        return self.name.lower()


class Code(StrEnum):
    """Why a check item has its status: the stable machine code of one outcome of one item.

    A code is what ``CheckItem.code`` and ``ItemOutcome.code`` hold: the ``"code"`` of an item
    in the JSON (schema cardwatch.check/1), the second field of an item in the history
    (cardwatch.history/1) and in state.json (cardwatch.state/1), ``data-code`` in the HTML
    report. The diagnosis, the notification policy and the report match on them; the texts
    beside them (summary, advice) are translated, the codes never are. Members are strings
    (``Code.CARD_MUTE == "card_mute"``), so they go into JSON as plain strings.

    Not codes, though some look alike: :class:`RevocationStatus` ``cause`` and
    :class:`ClockUnknown` ``cause`` (why a status is unknown: they only shape the summary
    text), CRL reason names, notification keys (``"service_down"``, ``"clock:…"``), the
    :class:`Status`, :class:`Cause` and :class:`PinState` values, JSON keys and metric names.

    The members are grouped by the item that gives them; every one but :attr:`OTHER` is
    produced by the check (``tests/test_codes.py`` holds the list to this).
    """

    #: nothing to report: every passing item
    OK = "ok"
    #: an item that was not reached because an earlier one failed
    NOT_CHECKED = "not_checked"
    #: a code in a history or state file, written by another version, that this version does
    #: not know: the entry stays readable (the history keeps the text it read, see
    #: ``ItemOutcome.raw_code``); never produced by a check
    OTHER = "other"

    # item 1, service (or the item a card session was at when the service stopped)
    SERVICE_NOT_RUNNING = "service_not_running"
    SERVICE_NOT_INSTALLED = "service_not_installed"

    # item 2, reader
    NO_READER = "no_reader"
    READER_NOT_FOUND = "reader_not_found"
    READER_UNAVAILABLE = "reader_unavailable"

    # item 3, card present (and the stage a card session broke at: items 3-7)
    NO_CARD = "no_card"
    CARD_MUTE = "card_mute"
    CARD_IN_USE = "card_in_use"
    CARD_REMOVED = "card_removed"
    CARD_SLOW = "card_slow"
    TRANSMISSION_FAILED = "transmission_failed"
    GUARD_REFUSED = "guard_refused"
    UNRECOGNISED_LAYOUT = "unrecognised_layout"
    #: a Cardwatch bug while checking one reader
    INTERNAL_ERROR = "internal_error"

    # item 4, card identified; item 5, application
    UNKNOWN_CARD = "unknown_card"
    UNSUPPORTED_CARD = "unsupported_card"
    CARD_ERROR = "card_error"

    # item 6, certificates
    CERTIFICATE_UNREADABLE = "certificate_unreadable"
    NO_CERTIFICATES = "no_certificates"

    # item 7, PIN
    PIN_UNKNOWN = "pin_unknown"
    PIN_NOT_READABLE = "pin_not_readable"
    PIN_COUNT_LOW = "pin_count_low"
    PIN_FINAL_TRY = "pin_final_try"
    PIN_LOCKED = "pin_locked"

    # items 8 and 9 (and 11): validity
    #: no user certificate to judge (items 8, 9 and 11)
    NO_CERTIFICATE = "no_certificate"
    NOT_YET_VALID = "not_yet_valid"
    NOT_YET_VALID_SOON = "not_yet_valid_soon"
    CLOCK_BEHIND = "clock_behind"
    #: this computer's clock is earlier than the release (items 8 and 10)
    CLOCK_BEFORE_RELEASE = "clock_before_release"
    EXPIRED = "expired"
    EXPIRES_CRITICAL = "expires_critical"
    EXPIRES_URGENT = "expires_urgent"
    EXPIRES_SOON = "expires_soon"

    # item 10, computer clock
    CLOCK_SKEW = "clock_skew"
    CLOCK_TIME_ZONE = "clock_time_zone"
    CLOCK_FLIPS_VALIDITY = "clock_flips_validity"
    CLOCK_BEFORE_CERTIFICATE = "clock_before_certificate"
    CLOCK_UNKNOWN = "clock_unknown"
    CLOCK_NOT_MEASURED = "clock_not_measured"

    # item 11, revocation
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation_unknown"
    REVOCATION_NOT_CHECKED = "revocation_not_checked"
    REVOCATION_OFF = "revocation_off"

    @classmethod
    def parse(cls, text: str) -> Code:
        """The member for a stored ``text``; :attr:`OTHER` for a code this version does not know."""
        try:
            return cls(text)
        except ValueError:
            return cls.OTHER


@dataclass(frozen=True)
class CheckItem:
    """One numbered result line: status, what was found, and what to do."""

    item: ItemId
    status: Status
    summary: str
    advice: str = ""
    cause: Cause = Cause.NONE
    code: Code = Code.OK


class PinState(enum.Enum):
    """PIN lock risk, as far as it can be read without presenting a PIN."""

    OK = "ok"
    COUNT_LOW = "count_low"
    FINAL_TRY = "final_try"
    LOCKED = "locked"
    VERIFIED = "verified"
    NOT_READABLE = "not_readable"


@dataclass(frozen=True)
class PinStatus:
    """Tries left for one PIN reference."""

    label: str
    state: PinState
    tries_left: int | None = None
    source: str = ""


@dataclass(frozen=True)
class CardCertificate:
    """Certificate bytes as read from the card, with where they came from."""

    der: bytes
    label: str
    slot: str
    authority: bool = False


@dataclass(frozen=True)
class CardReading:
    """What a card profile read from one application of a card."""

    kind: str
    card_type: str
    application: str
    generation: str | None = None
    card_number: str | None = None
    certificates: tuple[CardCertificate, ...] = ()
    pins: tuple[PinStatus, ...] = ()
    cert_errors: tuple[str, ...] = ()
    issuer_service: str | None = None
    #: Directory entries the profile could not decode and skipped (reported, not fatal).
    skipped_entries: tuple[str, ...] = ()


class RevocationState(enum.Enum):
    """What the issuer says about a certificate."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class RevocationStatus:
    """One certificate's revocation status, as an OCSP responder or a CRL gave it."""

    state: RevocationState
    #: "ocsp" or "crl" for an answer; "" when there is none
    source: str = ""
    revoked_at: datetime | None = None
    #: RFC 5280 CRLReason, e.g. "key_compromise"; None when not given
    reason: str | None = None
    #: when the issuer's answer was fetched: the status was last confirmed then
    checked_at: datetime | None = None
    next_update: datetime | None = None
    #: the URL asked (OCSP responder or CRL)
    responder: str = ""
    #: why the state is unknown or not checked, as a stable code (e.g. "bad_signature")
    cause: str = ""
    #: technical detail for the log and the summary line (not translated)
    detail: str = ""
    cached: bool = False


@dataclass(frozen=True)
class ClockMeasurement:
    """How far this computer's clock is off, as a time server told it."""

    #: the server's time minus this computer's clock: positive means the clock is slow
    offset_seconds: float
    #: "sntp", "http_date" or "simulated"
    source: str
    server: str
    #: this computer's clock (UTC) when it was measured
    measured_at: datetime
    delay_seconds: float = 0.0
    samples: int = 1
    #: how precise the offset is (half the round trip, plus the server's resolution)
    uncertainty_seconds: float = 0.0
    #: False for weak evidence (one SNTP server, or an unauthenticated Date header): it may
    #: warn about the clock, but never alone judges certificates expired or not yet valid
    confirmed: bool = True


@dataclass(frozen=True)
class ClockUnknown:
    """No trustworthy measurement: why, and which servers were asked."""

    #: "off", "unreachable", "timeout", "garbage", "disagree" or "not_configured"
    cause: str
    detail: str = ""
    tried: tuple[str, ...] = ()


ClockReading = ClockMeasurement | ClockUnknown


@dataclass(frozen=True)
class CertInfo:
    """A parsed certificate, as shown to the user."""

    label: str
    slot: str
    subject: str
    common_name: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    days_left: int
    key_usage: tuple[str, ...]
    is_ca: bool
    sha256: str
    revocation: RevocationStatus | None = None


@dataclass(frozen=True)
class ReaderReport:
    """Everything found in one reader."""

    reader: str
    items: tuple[CheckItem, ...]
    atr: str | None = None
    card_kind: str | None = None
    card_type: str | None = None
    generation: str | None = None
    card_number: str | None = None
    certificates: tuple[CertInfo, ...] = ()
    pins: tuple[PinStatus, ...] = ()
    apdus: int = 0
    duration_ms: float = 0.0
    #: PKCS#11 modules asked about this card (their own commands never pass the guard and
    #: are not in ``apdus``), the ones listed but not asked, and the time they took.
    pkcs11_modules: tuple[str, ...] = ()
    pkcs11_skipped: tuple[str, ...] = ()
    pkcs11_ms: float = 0.0
    #: the issuer's site for its card holders (renewal, unlocking), from the card's profile
    issuer_service: str | None = None

    @property
    def status(self) -> Status:
        """The worst item status."""
        return worst(item.status for item in self.items)

    @property
    def health(self) -> Health:
        """Monitoring verdict for this reader alone."""
        status = self.status
        if status is Status.FAIL:
            return Health.CRITICAL
        if status is Status.WARN:
            return Health.WARNING
        checked = any(i.status is Status.PASS and i.item >= ItemId.APPLICATION for i in self.items)
        return Health.OK if checked else Health.UNKNOWN


@dataclass(frozen=True)
class CheckReport:
    """A whole check: the service item, then one report per reader."""

    checked_at: datetime
    service: CheckItem
    readers: tuple[ReaderReport, ...] = ()
    reader_item: CheckItem | None = None
    language: str = "en"
    #: item 10, "computer clock": the measurement (or why there is none) and the verdict
    clock: CheckItem | None = None
    clock_reading: ClockReading | None = None

    @property
    def health(self) -> Health:
        """Monitoring verdict: CRITICAL beats WARNING beats OK beats UNKNOWN."""
        if self.service.status is Status.FAIL:
            return Health.CRITICAL
        if self.reader_item is not None and self.reader_item.status is Status.FAIL:
            return Health.CRITICAL
        if self.clock is not None and self.clock.status is Status.FAIL:
            return Health.CRITICAL
        verdicts = [r.health for r in self.readers]
        if self.clock is not None and self.clock.status is Status.WARN:
            verdicts.append(Health.WARNING)
        for level in (Health.CRITICAL, Health.WARNING, Health.OK):
            if level in verdicts:
                return level
        return Health.UNKNOWN


def worst(statuses: Iterable[Status]) -> Status:
    """The worst of some statuses (SKIP when there are none)."""
    result = Status.SKIP
    for status in statuses:
        if status.rank > result.rank:
            result = status
    return result


# The history's records: one finished check, compactly (stored by tray.store.history).


def parse_time(text: object) -> datetime:
    """A schema time ('2026-11-24T16:30:00Z') as an aware UTC datetime; ValueError if not."""
    # fromisoformat is ten times faster than strptime; the shape check keeps it as strict.
    if not isinstance(text, str) or len(text) != 20 or text[10] != "T" or text[19] != "Z":
        raise ValueError(f"not a time: {text!r}")
    return datetime.fromisoformat(text[:19]).replace(tzinfo=timezone.utc)


def card_key(report: ReaderReport) -> str | None:
    """What identifies the card: its number, else ATR/first user-certificate serial, else ATR."""
    if report.card_number:
        return report.card_number
    if not report.atr:
        return None
    serial = next((c.serial for c in report.certificates if not c.is_ca), None)
    return f"{report.atr}/{serial}" if serial else report.atr


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """One item of a past check, without its (language-dependent) texts."""

    item: ItemId
    status: Status
    code: Code
    cause: Cause
    #: the code as stored, when this version does not know it (``code`` is ``Code.OTHER``),
    #: so that it is shown and written back as it was
    raw_code: str | None = None

    @property
    def code_text(self) -> str:
        """The code as stored: the unknown one as read, else the member's value."""
        return self.raw_code if self.raw_code is not None else str(self.code)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One finished check, compactly."""

    at: datetime
    reader: str
    card: str | None
    kind: str | None
    health: Health
    items: tuple[ItemOutcome, ...]
    #: the fewest days left of the card's own (not CA) certificates
    days_left: int | None = None
    #: PIN label and tries left (None: not readable)
    pins: tuple[tuple[str, int | None], ...] = ()
    #: the card's ATR (hex), so a check that failed before the card number was read can be
    #: matched with the card's good reads elsewhere (:mod:`tray.daemon.diagnosis`)
    atr: str | None = None


def entry_from_report(report: ReaderReport, at: datetime) -> HistoryEntry:
    """The history entry for one finished check."""
    own = [c.days_left for c in report.certificates if not c.is_ca]
    return HistoryEntry(
        at=at.astimezone(timezone.utc).replace(microsecond=0),
        reader=report.reader,
        card=card_key(report),
        kind=report.card_kind,
        health=report.health,
        items=tuple(ItemOutcome(i.item, i.status, i.code, i.cause) for i in report.items),
        days_left=min(own) if own else None,
        pins=tuple((p.label, p.tries_left) for p in report.pins),
        atr=report.atr,
    )
