"""The health check: items 1-9 for every reader, from PC/SC service to certificate expiry.

Pure orchestration over the :class:`~tray.backend.Backend` seam, the card profiles and a
passed-in clock; it never raises for a card, reader or service fault: each becomes an item
with a cause and advice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Protocol

from . import advice
from .apdu import describe_sw
from .atr import AtrMatch, lookup
from .backend import Backend, CardState, Slot
from .certinfo import describe
from .clock import Clock
from .errors import (
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
from .guard import Channel, Transport
from .i18n import _, current_language, join_clauses, join_list, labelled, ngettext, sentences
from .model import (
    CardReading,
    Cause,
    CertInfo,
    CheckItem,
    CheckReport,
    ItemId,
    PinState,
    PinStatus,
    ReaderReport,
    Status,
)
from .profiles import PROFILES
from .profiles.common import is_card_error
from .validity import Thresholds, expiry, valid_from

log = logging.getLogger(__name__)


class Middleware(Protocol):
    """A vendor or OpenSC PKCS#11 module used when no built-in profile reads the card."""

    name: str

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


class _Recorder:
    """Wraps the session: enforces the time budget, remembers status words, counts APDUs."""

    def __init__(self, session: Transport, clock: Clock, budget: float) -> None:
        self._session = session
        self._clock = clock
        self._deadline = clock.monotonic() + budget
        self._start = clock.monotonic()
        self.sws: list[int] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self._clock.monotonic() > self._deadline:
            raise CardTooSlow(self._clock.monotonic() - self._start)
        data, sw = self._session.transmit(apdu)
        self.sws.append(sw)
        return data, sw


def run_check(
    backend: Backend,
    clock: Clock,
    options: CheckOptions | None = None,
    middleware: Sequence[Middleware] = (),
) -> CheckReport:
    """Check every reader (or those matching ``options.reader``)."""
    options = options or CheckOptions()
    checked_at = clock.now()
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
                "reader_not_found",
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
            "no_reader",
        )
        return CheckReport(checked_at, service, reader_item=item, language=current_language())
    reports = tuple(check_reader(backend, slot, clock, options, middleware) for slot in slots)
    return CheckReport(checked_at, service, reports, language=current_language())


def check_reader(
    backend: Backend,
    slot: Slot,
    clock: Clock,
    options: CheckOptions,
    middleware: Sequence[Middleware] = (),
) -> ReaderReport:
    """Items 2-9 for one reader; every fault becomes an item, never an exception."""
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
            "reader_unavailable",
        )
        return ReaderReport(reader=slot.reader, items=(item,))
    if slot.state is CardState.EMPTY:
        return _with(
            base,
            CheckItem(ItemId.CARD_PRESENT, Status.SKIP, _("No card in the reader"), code="no_card"),
        )
    if slot.state is CardState.MUTE:
        return _with(base, _mute_item(), atr=slot.atr.hex().upper() or None)

    recorder: _Recorder | None = None
    channel: Channel | None = None
    readings: list[CardReading] = []
    failure: CheckItem | None = None
    atr = slot.atr
    try:
        with backend.session(slot.reader) as session:
            atr = session.atr
            recorder = _Recorder(session, clock, options.card_budget_seconds)
            for profile in _order(atr):
                channel = Channel(recorder, profile.ALLOWLIST)
                reading = profile.read(channel, atr)
                if reading is not None:
                    readings.append(reading)
                    if profile.EXCLUSIVE:
                        break
    except CardUnresponsive:
        return _with(base, _mute_item(), atr=atr.hex().upper() or None)
    except CardInUse:
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
                "card_in_use",
            ),
            atr=atr.hex().upper() or None,
        )
    except CardRemoved:
        failure = _stage_item(
            channel,
            Status.FAIL,
            _("The card was removed during the check"),
            _(
                "Leave the card in the reader until the check has finished, then check again. If "
                "you did not remove it, the card is losing contact: clean the chip and insert it "
                "firmly."
            ),
            Cause.CARD,
            "card_removed",
        )
    except CardTooSlow as exc:
        failure = _stage_item(
            channel,
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
            "card_slow",
        )
    except ReaderError as exc:
        failure = _stage_item(
            channel,
            Status.FAIL,
            _("Transmission to the card failed in the reader ({detail})").format(
                detail=exc.detail or "-"
            ),
            advice.reader_fault(),
            Cause.READER,
            "transmission_failed",
        )
    except ServiceUnavailable as exc:
        code, text = advice.service_down()
        failure = _stage_item(
            channel,
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
            channel,
            Status.FAIL,
            _("Cardwatch refused to send a command that is not read-only ({reason})").format(
                reason=exc.reason
            ),
            _("Nothing was sent to the card. Please report this as a Cardwatch bug."),
            Cause.NONE,
            "guard_refused",
        )
    except (CardDataError, ApduError) as exc:
        failure = _stage_item(
            channel,
            Status.FAIL,
            _("The card answered, but its data has an unrecognised layout ({what})").format(
                what=_detail(str(exc))
            ),
            _(
                "The card's data area may be damaged. Reinsert the card and check again; if it "
                "keeps failing on different readers, contact the card's issuer."
            ),
            Cause.CARD,
            "unrecognised_layout",
        )

    apdus = len(recorder.sws) if recorder else 0
    if failure is None and not readings:
        for source in middleware:
            reading = _read_middleware(source, slot.reader)
            if reading is not None:
                readings.append(reading)
                break
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
        items += _failed_items(failure, match)
    else:
        sws = recorder.sws if recorder else []
        more, certs = _reading_items(readings, match, sws, clock, options)
        items += more
    first = readings[0] if readings else None
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
    )


def _detail(text: str, limit: int = 120) -> str:
    """Technical detail for a summary line, cut to a readable length."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        "card_mute",
    )


def _stage_item(
    channel: Channel | None, status: Status, summary: str, text: str, cause: Cause, code: str
) -> CheckItem:
    # No channel yet means the failure came while connecting: it belongs to item 3.
    stage = ItemId(channel.stage) if channel is not None else ItemId.CARD_PRESENT
    return CheckItem(stage, status, summary, text, cause, code)


def _identified(match: AtrMatch | None) -> CheckItem:
    if match is not None:
        return CheckItem(
            ItemId.CARD_IDENTIFIED,
            Status.PASS,
            _("Identified by its ATR: {description}").format(description=_(match.description)),
        )
    return CheckItem(
        ItemId.CARD_IDENTIFIED, Status.SKIP, _("Card type not recognised"), code="unknown_card"
    )


def _failed_items(failure: CheckItem, match: AtrMatch | None) -> list[CheckItem]:
    items: list[CheckItem] = []
    if failure.item > ItemId.CARD_IDENTIFIED:
        items.append(_identified(match))
    items.append(failure)
    for item_id in ItemId:
        if item_id > failure.item:
            items.append(CheckItem(item_id, Status.SKIP, _("Not checked"), code="not_checked"))
    return items


def _reading_items(
    readings: list[CardReading],
    match: AtrMatch | None,
    sws: list[int],
    clock: Clock,
    options: CheckOptions,
) -> tuple[list[CheckItem], list[CertInfo]]:
    if not readings:
        items = [_identified(match)]
        card_errors = [sw for sw in sws if is_card_error(sw)]
        if sws and len(card_errors) == len(sws):
            items.append(
                CheckItem(
                    ItemId.APPLICATION,
                    Status.FAIL,
                    _("The card answers every command with an error ({sw}: {meaning})").format(
                        sw=f"{card_errors[0]:04X}", meaning=_(describe_sw(card_errors[0]))
                    ),
                    sentences(
                        _(
                            "Reinsert the card and check again. If it fails the same way in another reader, "
                            "the card's chip is damaged: contact the card's issuer for a new card."
                        ),
                        advice.card_care(),
                    ),
                    Cause.CARD,
                    "card_error",
                )
            )
        else:
            items.append(
                CheckItem(
                    ItemId.APPLICATION,
                    Status.SKIP,
                    _(
                        "No application Cardwatch can read on this card (supported: MOICA/HiCOS, PIV, "
                        "OpenPGP, PKCS#11 modules)"
                    ),
                    code="unsupported_card",
                )
            )
        return items, []

    described = []
    for r in readings:
        parts = [r.card_type]
        if r.generation:
            parts.append(_("generation {n}").format(n=r.generation))
        if r.card_number:
            parts.append(_("card number {number}").format(number=r.card_number))
        described.append(join_list(parts))
    items = [
        CheckItem(ItemId.CARD_IDENTIFIED, Status.PASS, join_clauses(described)),
        CheckItem(
            ItemId.APPLICATION,
            Status.PASS,
            _("Application selected: {names}").format(
                names=join_clauses(r.application for r in readings)
            ),
        ),
    ]
    now = clock.now()
    certs: list[CertInfo] = []
    errors: list[str] = [e for r in readings for e in r.cert_errors]
    for r in readings:
        for card_cert in r.certificates:
            try:
                certs.append(describe(card_cert, now))
            except CardDataError as exc:
                errors.append(f"{card_cert.label or card_cert.slot}: {exc.what}")
    items.append(_certificates_item(readings, certs, errors))
    items.append(_pin_item([p for r in readings for p in r.pins], readings[0].issuer_service))
    users = [c for c in certs if not c.is_ca]
    if users:
        items.append(valid_from(users, now, options.thresholds))
        items.append(expiry(users, now, options.thresholds, readings[0].issuer_service))
    else:
        for item_id in (ItemId.VALID_FROM, ItemId.EXPIRY):
            items.append(
                CheckItem(
                    item_id, Status.SKIP, _("No user certificate to check"), code="no_certificate"
                )
            )
    return items, certs


def _certificates_item(
    readings: list[CardReading], certs: list[CertInfo], errors: list[str]
) -> CheckItem:
    if errors:
        return CheckItem(
            ItemId.CERTIFICATES,
            Status.FAIL,
            _("Certificate data unreadable: {errors}").format(
                errors=_detail(join_clauses(errors), 240)
            ),
            _(
                "The card answers but its certificate area cannot be read. Reinsert the card; if "
                "this persists on another reader, the card is damaged: contact the issuer."
            ),
            Cause.CARD,
            "certificate_unreadable",
        )
    if not certs:
        if any(r.kind == "moica" for r in readings):
            return CheckItem(
                ItemId.CERTIFICATES,
                Status.FAIL,
                _("No certificates found on the card"),
                _(
                    "A MOICA card always holds certificates: its data may be damaged. Contact the "
                    "MOICA service."
                ),
                Cause.CARD,
                "no_certificates",
            )
        return CheckItem(
            ItemId.CERTIFICATES,
            Status.SKIP,
            _("No certificates stored on the card"),
            code="no_certificates",
        )
    labels = join_list(c.label or c.slot for c in certs)
    count = ngettext("{n} certificate read", "{n} certificates read", len(certs)).format(
        n=len(certs)
    )
    return CheckItem(ItemId.CERTIFICATES, Status.PASS, labelled(count, labels))


def _pin_text(pin: PinStatus) -> str:
    if pin.state is PinState.LOCKED:
        return _("{label}: locked").format(label=pin.label)
    if pin.state is PinState.VERIFIED:
        return _("{label}: already verified in this session").format(label=pin.label)
    if pin.state is PinState.NOT_READABLE:
        return _("{label}: tries left cannot be read safely on this card").format(label=pin.label)
    if pin.state is PinState.COUNT_LOW and pin.tries_left is None:
        return _("{label}: a wrong PIN was entered since the last success").format(label=pin.label)
    if pin.tries_left is None:
        return _("{label}: OK").format(label=pin.label)
    return ngettext("{label}: {n} try left", "{label}: {n} tries left", pin.tries_left).format(
        label=pin.label, n=pin.tries_left
    )


def _pin_item(pins: list[PinStatus], issuer_service: str | None) -> CheckItem:
    if not pins:
        return CheckItem(ItemId.PIN, Status.SKIP, _("No PIN information"), code="pin_unknown")
    summary = join_clauses(_pin_text(p) for p in pins)
    states = {p.state for p in pins}
    if PinState.LOCKED in states:
        return CheckItem(
            ItemId.PIN, Status.FAIL, summary, advice.unlock(issuer_service), Cause.PIN, "pin_locked"
        )
    if PinState.FINAL_TRY in states:
        return CheckItem(
            ItemId.PIN,
            Status.WARN,
            summary,
            advice.final_try(issuer_service),
            Cause.PIN,
            "pin_final_try",
        )
    if PinState.COUNT_LOW in states:
        return CheckItem(
            ItemId.PIN,
            Status.WARN,
            summary,
            _("A wrong PIN was entered; each further mistake brings the lock nearer."),
            Cause.PIN,
            "pin_count_low",
        )
    if states == {PinState.NOT_READABLE}:
        return CheckItem(
            ItemId.PIN,
            Status.SKIP,
            summary,
            _("Cardwatch never tests the PIN: on this card every attempt could cost a try."),
            code="pin_not_readable",
        )
    return CheckItem(ItemId.PIN, Status.PASS, summary)
