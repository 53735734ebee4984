"""Items 4-9 from what the profiles read: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..card.apdu import describe_sw
from ..card.atr import AtrMatch
from ..card.certinfo import days_left, describe
from ..card.profiles.common import is_card_error
from ..card.roles import role_label
from ..clock import Clock, local_time
from ..errors import CardDataError
from ..i18n import _, join_clauses, join_list, labelled, ngettext, sentences
from ..model import (
    CardReading,
    Cause,
    CertInfo,
    CheckItem,
    Code,
    ItemId,
    PinState,
    PinStatus,
    RevocationState,
    Status,
)
from . import advice
from .validity import Thresholds, expiry, judged_by_true_time, valid_from


def detail(text: str, limit: int = 120) -> str:
    """Technical detail for a summary line, cut to a readable length."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def identified(match: AtrMatch | None) -> CheckItem:
    if match is not None:
        return CheckItem(
            ItemId.CARD_IDENTIFIED,
            Status.PASS,
            _("Identified by its ATR: {description}").format(description=_(match.description)),
        )
    return CheckItem(
        ItemId.CARD_IDENTIFIED, Status.SKIP, _("Card type not recognised"), code=Code.UNKNOWN_CARD
    )


def failed_items(failure: CheckItem, match: AtrMatch | None) -> list[CheckItem]:
    items: list[CheckItem] = []
    if failure.item > ItemId.CARD_IDENTIFIED:
        items.append(identified(match))
    items.append(failure)
    for item_id in ItemId:
        if failure.item < item_id <= ItemId.EXPIRY:
            items.append(CheckItem(item_id, Status.SKIP, _("Not checked"), code=Code.NOT_CHECKED))
    return items


def reading_items(
    readings: list[CardReading],
    match: AtrMatch | None,
    sws: list[int],
    clock: Clock,
    thresholds: Thresholds,
    true_now: datetime | None = None,
) -> tuple[list[CheckItem], list[CertInfo]]:
    """Items 4-9; with ``true_now`` (a measured time) items 8-9 are judged by it too."""
    if not readings:
        items = [identified(match)]
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
                    Code.CARD_ERROR,
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
                    code=Code.UNSUPPORTED_CARD,
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
                errors.append(f"{role_label(card_cert.label) or card_cert.slot}: {exc.what}")
    skipped = [e for r in readings for e in r.skipped_entries]
    items.append(_certificates_item(readings, certs, errors, skipped))
    items.append(_pin_item([p for r in readings for p in r.pins], readings[0].issuer_service))
    users = [c for c in certs if not c.is_ca]
    if users:
        service = readings[0].issuer_service
        start = valid_from(users, now, thresholds)
        end = expiry(users, now, thresholds, service)
        if true_now is not None:
            truly = [replace(c, days_left=days_left(c.not_after, true_now)) for c in users]
            start = judged_by_true_time(start, valid_from(truly, true_now, thresholds), true_now)
            end = judged_by_true_time(end, expiry(truly, true_now, thresholds, service), true_now)
        items += [start, end]
    else:
        for item_id in (ItemId.VALID_FROM, ItemId.EXPIRY):
            items.append(
                CheckItem(
                    item_id,
                    Status.SKIP,
                    _("No user certificate to check"),
                    code=Code.NO_CERTIFICATE,
                )
            )
    return items, certs


def _certificates_item(
    readings: list[CardReading],
    certs: list[CertInfo],
    errors: list[str],
    skipped: list[str],
) -> CheckItem:
    if errors:
        return CheckItem(
            ItemId.CERTIFICATES,
            Status.FAIL,
            _("Certificate data unreadable: {errors}").format(
                errors=detail(join_clauses(errors), 240)
            ),
            _(
                "The card answers but its certificate area cannot be read. Reinsert the card; if "
                "this persists on another reader, the card is damaged: contact the issuer."
            ),
            Cause.CARD,
            Code.CERTIFICATE_UNREADABLE,
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
                Code.NO_CERTIFICATES,
            )
        return CheckItem(
            ItemId.CERTIFICATES,
            Status.SKIP,
            _("No certificates stored on the card"),
            code=Code.NO_CERTIFICATES,
        )
    labels = join_list(c.label or c.slot for c in certs)
    count = ngettext("{n} certificate read", "{n} certificates read", len(certs)).format(
        n=len(certs)
    )
    summary = labelled(count, labels)
    if skipped:
        # An entry nobody can decode names no certificate this check could judge: say so, but
        # the certificates that were read are what the card's health depends on.
        summary = join_clauses(
            (
                summary,
                ngettext(
                    "{n} undecodable directory entry skipped ({details})",
                    "{n} undecodable directory entries skipped ({details})",
                    len(skipped),
                ).format(n=len(skipped), details=detail(join_clauses(skipped), 160)),
            )
        )
    return CheckItem(ItemId.CERTIFICATES, Status.PASS, summary)


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
        return CheckItem(ItemId.PIN, Status.SKIP, _("No PIN information"), code=Code.PIN_UNKNOWN)
    summary = join_clauses(_pin_text(p) for p in pins)
    states = {p.state for p in pins}
    if PinState.LOCKED in states:
        return CheckItem(
            ItemId.PIN,
            Status.FAIL,
            summary,
            advice.unlock(issuer_service),
            Cause.PIN,
            Code.PIN_LOCKED,
        )
    if PinState.FINAL_TRY in states:
        return CheckItem(
            ItemId.PIN,
            Status.WARN,
            summary,
            advice.final_try(issuer_service),
            Cause.PIN,
            Code.PIN_FINAL_TRY,
        )
    if PinState.COUNT_LOW in states:
        return CheckItem(
            ItemId.PIN,
            Status.WARN,
            summary,
            _("A wrong PIN was entered; each further mistake brings the lock nearer."),
            Cause.PIN,
            Code.PIN_COUNT_LOW,
        )
    if states == {PinState.NOT_READABLE}:
        return CheckItem(
            ItemId.PIN,
            Status.SKIP,
            summary,
            _("Cardwatch never tests the PIN: on this card every attempt could cost a try."),
            code=Code.PIN_NOT_READABLE,
        )
    return CheckItem(ItemId.PIN, Status.PASS, summary)


def _when(moment: datetime) -> str:
    return local_time(moment)


def _reason_text(reason: str) -> str:
    """RFC 5280 CRLReason names in words."""
    return {
        "unspecified": _("unspecified"),
        "key_compromise": _("key compromise"),
        "ca_compromise": _("CA compromise"),
        "affiliation_changed": _("affiliation changed"),
        "superseded": _("superseded"),
        "cessation_of_operation": _("cessation of operation"),
        "certificate_hold": _("certificate on hold"),
        "privilege_withdrawn": _("privilege withdrawn"),
        "aa_compromise": _("AA compromise"),
        "remove_from_crl": _("removed from the CRL"),
    }.get(reason, reason)


def _unknown_cause_text(cause: str) -> str:
    return {
        "no_responder": _("the certificate names no OCSP responder or CRL"),
        "issuer_missing": _("the issuer's certificate is not available"),
        "unreachable": _("the issuer's server cannot be reached"),
        "timeout": _("the issuer's server did not answer in time"),
        "http_error": _("the issuer's server answered with an error"),
        "responder_error": _("the OCSP responder refused to answer"),
        "responder_unknown": _("the issuer does not know this certificate"),
        "malformed": _("the answer is not readable"),
        "too_large": _("the answer is too large: refused"),
        "redirect": _("the issuer's server sent Cardwatch elsewhere: refused"),
        "issuer_mismatch": _("the certificate was not issued by the CA certificate beside it"),
        "bad_signature": _("the answer's signature is not valid: rejected"),
        "stale": _("the answer is out of date: rejected"),
        "internal_error": _("Cardwatch failed while asking"),
    }.get(cause, cause)


def _source_text(source: str) -> str:
    return {"ocsp": "OCSP", "crl": "CRL"}.get(source, source)


def revocation_item(certs: list[CertInfo], issuer_service: str | None) -> CheckItem:
    """Item 11: are the user certificates revoked? Unknown is shown, never an alarm."""
    users = [c for c in certs if not c.is_ca and c.revocation is not None]
    if not users:
        return CheckItem(
            ItemId.REVOCATION,
            Status.SKIP,
            _("No user certificate to check"),
            code=Code.NO_CERTIFICATE,
        )
    by_state: dict[RevocationState, list[CertInfo]] = {}
    for cert in users:
        assert cert.revocation is not None
        by_state.setdefault(cert.revocation.state, []).append(cert)
    revoked = by_state.get(RevocationState.REVOKED, [])
    if revoked:
        first = revoked[0]
        status = first.revocation
        assert status is not None
        label = first.label or first.slot
        date = _when(status.revoked_at) if status.revoked_at else "?"
        if status.reason:
            summary = _("Certificate '{label}' was revoked on {date} (reason: {reason})").format(
                label=label, date=date, reason=_reason_text(status.reason)
            )
        else:
            summary = _("Certificate '{label}' was revoked on {date}").format(
                label=label, date=date
            )
        if status.checked_at:
            summary = join_clauses(
                [
                    summary,
                    _("confirmed by {source} at {when}").format(
                        source=_source_text(status.source), when=_when(status.checked_at)
                    ),
                ]
            )
        return CheckItem(
            ItemId.REVOCATION,
            Status.FAIL,
            summary,
            advice.revoked(issuer_service),
            Cause.CERTIFICATE,
            Code.REVOKED,
        )
    unknown = by_state.get(RevocationState.UNKNOWN, [])
    if unknown:
        first = unknown[0]
        status = first.revocation
        assert status is not None
        summary = _("Revocation status of '{label}' unknown: {why}").format(
            label=first.label or first.slot, why=_unknown_cause_text(status.cause)
        )
        if status.detail and status.cause != "no_responder":  # it only restates the cause
            summary += f" ({detail(status.detail, 100)})"
        if status.checked_at:
            last = _("last confirmed not revoked at {when}").format(when=_when(status.checked_at))
        else:
            last = _("never confirmed")
        summary = join_clauses([summary, last])
        return CheckItem(
            ItemId.REVOCATION,
            Status.SKIP,
            summary,
            _("Cardwatch asks again at the next check; this alone is no reason to worry."),
            code=Code.REVOCATION_UNKNOWN,
        )
    good = by_state.get(RevocationState.GOOD, [])
    if good:
        times = [c.revocation.checked_at for c in good if c.revocation and c.revocation.checked_at]
        sources = sorted({_source_text(c.revocation.source) for c in good if c.revocation})
        summary = _("Not revoked: {labels}").format(
            labels=join_list(c.label or c.slot for c in good)
        )
        if times:
            confirmed = _("confirmed by {source} at {when}").format(
                source=join_list(sources), when=_when(min(times))
            )
            summary = join_clauses([summary, confirmed])
        return CheckItem(ItemId.REVOCATION, Status.PASS, summary)
    causes = {c.revocation.cause for c in users if c.revocation}
    if causes == {"expired"}:
        return CheckItem(
            ItemId.REVOCATION,
            Status.SKIP,
            _("Revocation not checked: the certificates have expired"),
            code=Code.REVOCATION_NOT_CHECKED,
        )
    return CheckItem(
        ItemId.REVOCATION,
        Status.SKIP,
        _("Revocation not checked: network checks are off"),
        code=Code.REVOCATION_OFF,
    )
