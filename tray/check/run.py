"""The health check: items 1-9 for every reader, from PC/SC service to certificate expiry.

Pure orchestration over the :class:`~tray.card.backend.Backend` seam, the card profiles and a
passed-in clock; it never raises for a card, reader or service fault: each becomes an item
with a cause and advice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import ModuleType
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..card.atr import lookup
from ..card.backend import Backend, CardState, Slot
from ..card.certinfo import load
from ..card.guard import Channel, Transport
from ..card.profiles import PROFILES
from ..card.profiles.common import Progress
from ..clock import Clock
from ..errors import (
    ApduError,
    CardDataError,
    CardInUse,
    CardRemoved,
    CardTooSlow,
    CardUnresponsive,
    ForbiddenApdu,
    ReaderError,
    ServiceUnavailable,
)
from ..i18n import _, current_language, join_list, sentences
from ..model import (
    CardReading,
    Cause,
    CertInfo,
    CheckItem,
    CheckReport,
    ClockReading,
    ClockUnknown,
    Code,
    ItemId,
    ReaderReport,
    RevocationState,
    RevocationStatus,
    Status,
)
from ..net import NetworkChecks, RevocationChecker
from ..net.revocation import find_issuer
from . import advice
from .assess import reason
from .items import detail, failed_items, reading_items, revocation_item
from .skew import SkewThresholds, clock_item, true_time
from .validity import Thresholds, release_date

log = logging.getLogger(__name__)


class Middleware(Protocol):
    """A vendor or OpenSC PKCS#11 module used when no built-in profile reads the card."""

    name: str
    #: False: a module listed but not asked about cards (an installed OpenSC the user did not
    #: opt in to: its driver probe costs seconds on a card no built-in profile reads).
    active: bool

    def read(self, reader: str) -> CardReading | None:
        """Read public objects of the token in ``reader`` without logging in."""
        ...


@dataclass(frozen=True)
class CheckOptions:
    """What to check and how strictly."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    #: A check whose card takes longer than this is stopped and reported as too slow.
    card_budget_seconds: float = 15.0
    reader: str | None = None
    #: None: no network checks configured (item 10 from offline evidence only, no item 11);
    #: NetworkChecks.off(): turned off by the user, nothing is contacted.
    network: NetworkChecks | None = None
    clock_thresholds: SkewThresholds = field(default_factory=SkewThresholds)


class _Recorder:
    """Wraps the session: enforces the time budget, remembers status words, counts APDUs."""

    def __init__(
        self, session: Transport, clock: Clock, budget: float, abandoned: threading.Event
    ) -> None:
        self._session = session
        self._clock = clock
        self._deadline = clock.monotonic() + budget
        self._start = clock.monotonic()
        self._abandoned = abandoned
        self.sws: list[int] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self._abandoned.is_set() or self._clock.monotonic() > self._deadline:
            raise CardTooSlow(self._clock.monotonic() - self._start)
        data, sw = self._session.transmit(apdu)
        self.sws.append(sw)
        return data, sw


class _CardRun:
    """One card session with a real deadline: the budget is checked between APDUs, and the
    whole session runs in a worker that is abandoned when the budget is spent.

    A call that blocks (a transaction another program holds the card for, a transmit the
    reader never answers) cannot be interrupted from outside in pcsc-lite; the check does
    not wait for it. The abandoned worker sends nothing more and closes the session as soon
    as the call returns (each session has its own PC/SC context, so nothing else waits).
    """

    #: grace on top of the budget for the worker to notice it ran out between two APDUs
    GRACE_SECONDS = 1.0

    def __init__(self, backend: Backend, reader: str, clock: Clock, budget: float) -> None:
        self._backend = backend
        self._reader = reader
        self._clock = clock
        self._budget = budget
        self._abandoned = threading.Event()
        self.atr = b""
        self.recorder: _Recorder | None = None
        self.progress: Progress | None = None
        self.readings: list[CardReading] = []
        self._error: BaseException | None = None

    def run(self) -> None:
        """Read the card; raises what the session raised, CardInUse when it could not start
        within the budget, CardTooSlow when it did not end within it."""
        started = time.monotonic()
        worker = threading.Thread(
            target=self._work, name=f"cw-card-{self._reader[:20]}", daemon=True
        )
        worker.start()
        worker.join(self._budget + self.GRACE_SECONDS)
        if worker.is_alive():
            self._abandoned.set()
            if self.recorder is None:
                log.warning("%s: the card session did not start within the budget", self._reader)
                raise CardInUse("the card session did not start within the budget")
            raise CardTooSlow(time.monotonic() - started)
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        try:
            with self._backend.session(self._reader) as session:
                self.atr = session.atr
                if self._abandoned.is_set():
                    return  # the check gave up waiting: send nothing, just close
                recorder = _Recorder(session, self._clock, self._budget, self._abandoned)
                self.recorder = recorder
                for profile in _order(self.atr):
                    self.progress = Progress()
                    reading = profile.read(
                        Channel(recorder, profile.ALLOWLIST), self.atr, self.progress
                    )
                    if reading is not None:
                        self.readings.append(reading)
                        if profile.EXCLUSIVE:
                            break
        except BaseException as exc:  # handed to the checking thread, which maps it to an item
            if not self._abandoned.is_set():
                self._error = exc
            else:
                log.debug("%s: abandoned card session ended: %r", self._reader, exc)


def run_check(
    backend: Backend,
    clock: Clock,
    options: CheckOptions | None = None,
    middleware: Sequence[Middleware] = (),
    *,
    only: str | None = None,
) -> CheckReport:
    """Check every reader (or those matching ``options.reader``, or the one named ``only``)."""
    options = options or CheckOptions()
    reading = measure_clock(options.network)
    report = _run_check(backend, clock, options, middleware, only, reading)
    certs = [c for r in report.readers for c in r.certificates]
    try:
        item = clock_item(
            reading, certs, report.checked_at, release_date(), options.clock_thresholds
        )
    except Exception:  # no clock answer, however absurd, may cost the card items
        log.exception("clock verdict failed")
        reading = ClockUnknown("garbage", "no verdict from this answer")
        item = clock_item(
            reading, certs, report.checked_at, release_date(), options.clock_thresholds
        )
    # The clock measurement is evidence for items 8 and 9 (assess.RULES).
    return reason(replace(report, clock=item, clock_reading=reading))


def measure_clock(network: NetworkChecks | None) -> ClockReading | None:
    """The clock probe's reading; nothing is contacted when network checks are off."""
    if network is None:
        return None
    if not network.enabled:
        return ClockUnknown("off")
    if network.clock is None:
        return ClockUnknown("not_configured")
    try:
        return network.clock.measure()
    except Exception as exc:  # a probe bug costs the measurement, never the check
        log.exception("clock probe failed")
        return ClockUnknown("garbage", f"{type(exc).__name__}: {exc}")


def _run_check(
    backend: Backend,
    clock: Clock,
    options: CheckOptions,
    middleware: Sequence[Middleware],
    only: str | None,
    reading: ClockReading | None,
) -> CheckReport:
    checked_at = clock.now()
    true_now = true_time(reading, checked_at, release_date())
    try:
        slots = backend.slots()
    except ServiceUnavailable as exc:
        code, text = advice.service_down()
        service = CheckItem(
            ItemId.SERVICE,
            Status.FAIL,
            _("PC/SC service not reachable ({detail})").format(detail=exc.detail or "-"),
            text,
            Cause.SERVICE,
            code,
        )
        return CheckReport(checked_at, service, language=current_language())
    service = CheckItem(ItemId.SERVICE, Status.PASS, _("PC/SC service reachable"))
    if only is not None:
        slots = [s for s in slots if s.reader == only]
        if not slots:
            item = CheckItem(
                ItemId.READER,
                Status.FAIL,
                _("Reader '{name}' is gone").format(name=only),
                advice.reader_fault(),
                Cause.READER,
                Code.READER_UNAVAILABLE,
            )
            return CheckReport(checked_at, service, reader_item=item, language=current_language())
    if options.reader:
        wanted = options.reader.casefold()
        chosen = [s for s in slots if wanted in s.reader.casefold()]
        if not chosen:
            names = join_list(s.reader for s in slots) or _("none")
            item = CheckItem(
                ItemId.READER,
                Status.FAIL,
                _("No reader matches '{name}' (readers: {names})").format(
                    name=options.reader, names=names
                ),
                _("Check the reader name with 'cardwatch check' without --reader."),
                Cause.READER,
                Code.READER_NOT_FOUND,
            )
            return CheckReport(checked_at, service, reader_item=item, language=current_language())
        slots = chosen
    if not slots:
        item = CheckItem(
            ItemId.READER,
            Status.FAIL,
            _("No card reader connected"),
            advice.no_reader(),
            Cause.READER,
            Code.NO_READER,
        )
        return CheckReport(checked_at, service, reader_item=item, language=current_language())
    reports = tuple(
        _check_reader_safely(backend, slot, clock, options, middleware, true_now) for slot in slots
    )
    return CheckReport(checked_at, service, reports, language=current_language())


def _check_reader_safely(
    backend: Backend,
    slot: Slot,
    clock: Clock,
    options: CheckOptions,
    middleware: Sequence[Middleware],
    true_now: datetime | None = None,
) -> ReaderReport:
    """One reader's bug must not cost the other readers their results."""
    try:
        return check_reader(backend, slot, clock, options, middleware, true_now)
    except Exception as exc:  # a Cardwatch bug, not a card fault: report it, keep going
        log.exception("checking %s failed", slot.reader)
        item = CheckItem(
            ItemId.CARD_PRESENT,
            Status.SKIP,
            _("Cardwatch failed while checking this reader ({error})").format(
                error=detail(f"{type(exc).__name__}: {exc}")
            ),
            _(
                "This is a bug in Cardwatch, not a fault of the card. Please report it with the "
                "output of 'cardwatch -vv check'."
            ),
            Cause.NONE,
            Code.INTERNAL_ERROR,
        )
        return ReaderReport(reader=slot.reader, items=(item,))


def check_reader(
    backend: Backend,
    slot: Slot,
    clock: Clock,
    options: CheckOptions,
    middleware: Sequence[Middleware] = (),
    true_now: datetime | None = None,
) -> ReaderReport:
    """Items 2-9 (and 11) for one reader; every fault becomes an item, never an exception."""
    started = clock.monotonic()
    reader_ok = CheckItem(
        ItemId.READER, Status.PASS, _("Reader '{name}' present").format(name=slot.reader)
    )
    base = ReaderReport(reader=slot.reader, items=(reader_ok,))
    if slot.state is CardState.UNAVAILABLE:
        item = CheckItem(
            ItemId.READER,
            Status.FAIL,
            _("Reader '{name}' is listed but not available").format(name=slot.reader),
            advice.reader_fault(),
            Cause.READER,
            Code.READER_UNAVAILABLE,
        )
        return ReaderReport(reader=slot.reader, items=(item,))
    if slot.state is CardState.EMPTY:
        return _with(
            base,
            CheckItem(
                ItemId.CARD_PRESENT, Status.SKIP, _("No card in the reader"), code=Code.NO_CARD
            ),
        )
    if slot.state is CardState.MUTE:
        return _with(base, _mute_item(), atr=slot.atr.hex().upper() or None)

    card = _CardRun(backend, slot.reader, clock, options.card_budget_seconds)
    card.atr = slot.atr
    readings = card.readings
    failure: CheckItem | None = None
    try:
        card.run()
    except CardUnresponsive:
        atr = card.atr
        return _with(base, _mute_item(), atr=atr.hex().upper() or None)
    except CardInUse:
        atr = card.atr
        return _with(
            base,
            CheckItem(
                ItemId.CARD_PRESENT,
                Status.WARN,
                _("The card is in exclusive use by another program"),
                _(
                    "Close programs that use the card (signing tools, browsers with the card open), "
                    "then check again."
                ),
                Cause.USER,
                Code.CARD_IN_USE,
            ),
            atr=atr.hex().upper() or None,
        )
    except CardRemoved:
        failure = _stage_item(
            card.progress,
            Status.FAIL,
            _("The card was removed during the check"),
            _(
                "Leave the card in the reader until the check has finished, then check again. If "
                "you did not remove it, the card is losing contact: clean the chip and insert it "
                "firmly."
            ),
            Cause.CARD,
            Code.CARD_REMOVED,
        )
    except CardTooSlow as exc:
        failure = _stage_item(
            card.progress,
            Status.FAIL,
            _("The card answers too slowly ({seconds:.1f} s and still not done)").format(
                seconds=exc.seconds
            ),
            sentences(
                _(
                    "Reinsert the card; clean the chip; try another reader. A card that stays this "
                    "slow is failing."
                ),
                advice.card_care(),
            ),
            Cause.CARD,
            Code.CARD_SLOW,
        )
    except ReaderError as exc:
        failure = _stage_item(
            card.progress,
            Status.FAIL,
            _("Transmission to the card failed in the reader ({detail})").format(
                detail=exc.detail or "-"
            ),
            advice.reader_fault(),
            Cause.READER,
            Code.TRANSMISSION_FAILED,
        )
    except ServiceUnavailable as exc:
        code, text = advice.service_down()
        failure = _stage_item(
            card.progress,
            Status.FAIL,
            _("The PC/SC service stopped during the check ({detail})").format(
                detail=exc.detail or "-"
            ),
            text,
            Cause.SERVICE,
            code,
        )
    except ForbiddenApdu as exc:
        # A profile bug, never a card fault: the guard stopped it before the card saw it.
        log.error("guard refused a command: %s", exc)
        failure = _stage_item(
            card.progress,
            Status.FAIL,
            _("Cardwatch refused to send a command that is not read-only ({reason})").format(
                reason=exc.reason
            ),
            _("Nothing was sent to the card. Please report this as a Cardwatch bug."),
            Cause.NONE,
            Code.GUARD_REFUSED,
        )
    except (CardDataError, ApduError) as exc:
        failure = _stage_item(
            card.progress,
            Status.FAIL,
            _("The card answered, but its data has an unrecognised layout ({what})").format(
                what=detail(str(exc))
            ),
            _(
                "The card's data area may be damaged. Reinsert the card and check again; if it "
                "keeps failing on different readers, contact the card's issuer."
            ),
            Cause.CARD,
            Code.UNRECOGNISED_LAYOUT,
        )

    atr, recorder = card.atr, card.recorder
    apdus = len(recorder.sws) if recorder else 0
    asked: list[str] = []
    skipped: list[str] = []
    pkcs11_ms = 0.0
    if failure is None and not readings:
        pkcs11_started = clock.monotonic()
        for source in middleware:
            if not source.active:
                skipped.append(source.name)
                continue
            asked.append(source.name)
            reading = _read_middleware(source, slot.reader)
            if reading is not None:
                readings.append(reading)
                break
        if asked:
            pkcs11_ms = round((clock.monotonic() - pkcs11_started) * 1000, 1)
    items = [reader_ok]
    if failure is None or failure.item > ItemId.CARD_PRESENT:
        items.append(
            CheckItem(
                ItemId.CARD_PRESENT,
                Status.PASS,
                _("Card present and powered (ATR {atr})").format(atr=atr.hex(" ").upper()),
            )
        )
    match = lookup(atr) if not readings else None
    certs: list[CertInfo] = []
    if failure is not None:
        items += failed_items(failure, match)
    else:
        sws = recorder.sws if recorder else []
        more, certs = reading_items(readings, match, sws, clock, options.thresholds, true_now)
        items += more
    first = readings[0] if readings else None
    network = options.network
    # Item 11 exists when a revocation checker is configured or the user turned the network off.
    asks = network is not None and (not network.enabled or network.revocation is not None)
    if asks and failure is not None:
        items.append(
            CheckItem(ItemId.REVOCATION, Status.SKIP, _("Not checked"), code=Code.NOT_CHECKED)
        )
    elif network is not None and asks and items[-1].item is ItemId.EXPIRY:
        # The card session is closed by now: the network is asked about certificates already read.
        certs = _with_revocation(certs, readings, network)
        items.append(revocation_item(certs, first.issuer_service if first else None))
    return ReaderReport(
        reader=slot.reader,
        items=tuple(items),
        atr=atr.hex().upper(),
        card_kind=first.kind if first else (match.kind if match else None),
        card_type=" + ".join(r.card_type for r in readings)
        or (_(match.description) if match else None),
        generation=first.generation if first else None,
        card_number=next((r.card_number for r in readings if r.card_number), None),
        certificates=tuple(certs),
        pins=tuple(p for r in readings for p in r.pins),
        apdus=apdus,
        duration_ms=round((clock.monotonic() - started) * 1000, 1),
        pkcs11_modules=tuple(asked),
        pkcs11_skipped=tuple(skipped),
        pkcs11_ms=pkcs11_ms,
        issuer_service=first.issuer_service if first else None,
    )


def _with_revocation(
    certs: list[CertInfo], readings: list[CardReading], network: NetworkChecks
) -> list[CertInfo]:
    """The certificates, users' ones with their revocation status (asked in parallel)."""
    parsed: dict[str, x509.Certificate] = {}
    for reading in readings:
        for card_cert in reading.certificates:
            try:
                cert = load(card_cert.der)
                parsed[cert.fingerprint(hashes.SHA256()).hex()] = cert
            except Exception:  # unreadable certificates are item 6's business
                continue
    authorities = [parsed[c.sha256] for c in certs if c.is_ca and c.sha256 in parsed]
    users = [c for c in certs if not c.is_ca and c.sha256 in parsed]
    checker = network.revocation if network.enabled else None
    statuses: dict[str, RevocationStatus] = {}
    if checker is None:
        cause = "off" if not network.enabled else "not_configured"
        statuses = {c.sha256: _not_checked(cause) for c in users}
    else:
        # An expired certificate drops off the issuer's lists: asking about it tells nothing.
        statuses = {c.sha256: _not_checked("expired") for c in users if c.days_left < 0}
        live = [c for c in users if c.days_left >= 0]
        if live:
            with ThreadPoolExecutor(max_workers=min(4, len(live))) as pool:
                answers = pool.map(lambda c: _ask(checker, parsed[c.sha256], authorities), live)
                statuses.update(zip((c.sha256 for c in live), answers, strict=True))
    return [replace(c, revocation=statuses[c.sha256]) if c.sha256 in statuses else c for c in certs]


def _not_checked(cause: str) -> RevocationStatus:
    return RevocationStatus(RevocationState.NOT_CHECKED, cause=cause)


def _ask(
    checker: RevocationChecker, cert: x509.Certificate, authorities: list[x509.Certificate]
) -> RevocationStatus:
    try:
        return checker.check(cert, find_issuer(cert, authorities))
    except Exception as exc:  # a checker bug costs this certificate's status only
        log.exception("revocation checker failed")
        return RevocationStatus(
            RevocationState.UNKNOWN, cause="internal_error", detail=type(exc).__name__
        )


def _order(atr: bytes) -> list[ModuleType]:
    """Profiles, the one the ATR table names first."""
    match = lookup(atr, lists=())
    claimed = [p for p in PROFILES if match is not None and match.kind == p.KIND]
    return claimed + [p for p in PROFILES if p not in claimed]


def _read_middleware(source: Middleware, reader: str) -> CardReading | None:
    try:
        return source.read(reader)
    except Exception:  # a vendor module must never take the check down
        log.exception("PKCS#11 module %s failed", source.name)
        return None


def _with(base: ReaderReport, item: CheckItem, atr: str | None = None) -> ReaderReport:
    return ReaderReport(reader=base.reader, items=(*base.items, item), atr=atr)


def _mute_item() -> CheckItem:
    return CheckItem(
        ItemId.CARD_PRESENT,
        Status.FAIL,
        _("The card does not answer (no answer to reset)"),
        advice.mute_card(),
        Cause.CARD,
        Code.CARD_MUTE,
    )


def _stage_item(
    progress: Progress | None, status: Status, summary: str, text: str, cause: Cause, code: Code
) -> CheckItem:
    # No profile started yet means the failure came while connecting: it belongs to item 3.
    stage = progress.item if progress is not None else ItemId.CARD_PRESENT
    return CheckItem(stage, status, summary, text, cause, code)


def check_one(
    backend: Backend,
    reader: str,
    clock: Clock,
    options: CheckOptions | None = None,
    middleware: Sequence[Middleware] = (),
) -> CheckReport:
    """Check the one reader named exactly ``reader`` (the daemon's check after an insertion)."""
    options = replace(options or CheckOptions(), reader=None)
    return run_check(backend, clock, options, middleware, only=reader)
