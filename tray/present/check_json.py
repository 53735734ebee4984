"""The ``--json`` form of a check: a stable, documented schema (``cardwatch.check/1``).

Keys and enum values are stable; ``summary`` and ``advice`` are in the user's language.
Additions keep the schema name; a removal or change of meaning bumps it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .. import __version__
from ..check.assess import Assessment, Finding, assess
from ..model import (
    CertInfo,
    CheckItem,
    CheckReport,
    ClockMeasurement,
    ClockReading,
    ClockUnknown,
    PinStatus,
    ReaderReport,
    RevocationStatus,
)
from .words import pkcs11_note

SCHEMA = "cardwatch.check/1"


def timestamp(moment: datetime) -> str:
    """A UTC time as the schema writes it: 2026-11-24T16:30:00Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _maybe_time(moment: datetime | None) -> str | None:
    return timestamp(moment) if moment is not None else None


def _revocation(status: RevocationStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "status": status.state.value,
        "revoked_at": _maybe_time(status.revoked_at),
        "reason": status.reason,
        "source": status.source or None,
        "checked_at": _maybe_time(status.checked_at),
        "next_update": _maybe_time(status.next_update),
        "responder": status.responder or None,
        "cause": status.cause or None,
        "detail": status.detail or None,
        "cached": status.cached,
    }


def _clock(report: CheckReport) -> dict[str, Any] | None:
    return clock_to_dict(report.clock, report.clock_reading)


def clock_to_dict(item: CheckItem | None, reading: ClockReading | None) -> dict[str, Any] | None:
    """Item 10 and the measurement behind it as JSON-able data (None: not judged)."""
    if item is None:
        return None
    data: dict[str, Any] = {
        "status": item.status.value,
        "offset_seconds": None,
        "source": None,
        "server": None,
        "measured_at": None,
        "uncertainty_seconds": None,
        "cause": None,
        "item": item_to_dict(item),
    }
    if isinstance(reading, ClockMeasurement):
        data.update(
            offset_seconds=round(reading.offset_seconds, 3),
            source=reading.source,
            server=reading.server,
            measured_at=timestamp(reading.measured_at),
            uncertainty_seconds=round(reading.uncertainty_seconds, 3),
        )
    elif isinstance(reading, ClockUnknown):
        data.update(cause=reading.cause, server=", ".join(reading.tried) or None)
    return data


def item_to_dict(item: CheckItem) -> dict[str, Any]:
    """One numbered item as JSON-able data."""
    return {
        "number": int(item.item),
        "key": item.item.key,
        "status": item.status.value,
        "summary": item.summary,
        "advice": item.advice,
        "cause": item.cause.value,
        "code": item.code,
    }


def _cert(cert: CertInfo) -> dict[str, Any]:
    return {
        "label": cert.label,
        "slot": cert.slot,
        "subject": cert.subject,
        "common_name": cert.common_name,
        "issuer": cert.issuer,
        "serial": cert.serial,
        "not_before": timestamp(cert.not_before),
        "not_after": timestamp(cert.not_after),
        "days_left": cert.days_left,
        "key_usage": list(cert.key_usage),
        "is_ca": cert.is_ca,
        "sha256": cert.sha256,
        "revocation": _revocation(cert.revocation),
    }


def _pin(pin: PinStatus) -> dict[str, Any]:
    return {
        "label": pin.label,
        "state": pin.state.value,
        "tries_left": pin.tries_left,
        "source": pin.source,
    }


def reader_to_dict(report: ReaderReport) -> dict[str, Any]:
    """One reader's part of a check as JSON-able data (an element of ``readers``)."""
    card = None
    if report.card_type or report.card_kind:
        card = {
            "kind": report.card_kind,
            "type": report.card_type,
            "generation": report.generation,
            "number": report.card_number,
            "issuer_service": report.issuer_service,
        }
    return {
        "reader": report.reader,
        "status": report.status.value,
        "health": report.health.name.lower(),
        "atr": report.atr,
        "card": card,
        "items": [item_to_dict(i) for i in report.items],
        "certificates": [_cert(c) for c in report.certificates],
        "pins": [_pin(p) for p in report.pins],
        "apdus": report.apdus,
        "duration_ms": report.duration_ms,
        "pkcs11": _pkcs11(report),
    }


def _pkcs11(report: ReaderReport) -> dict[str, Any] | None:
    """The PKCS#11 modules asked about the card (None when none was even listed)."""
    if not report.pkcs11_modules and not report.pkcs11_skipped:
        return None
    return {
        "modules": list(report.pkcs11_modules),
        "not_asked": list(report.pkcs11_skipped),
        "ms": report.pkcs11_ms,
        # The modules talk to the card themselves: the guard never sees their commands.
        "guarded": False,
        "note": pkcs11_note(report),
    }


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "reader": finding.reader,
        "number": int(finding.item.item),
        "code": finding.code,
        "cause": finding.item.cause.value,
        "severity": finding.severity.name.lower(),
        "headline": finding.headline,
        "advice": finding.advice,
        "folded": [int(i.item) for i in finding.folded],
    }


def assessment_to_dict(verdict: Assessment) -> dict[str, Any]:
    """The one verdict (tray/check/assess.py) as JSON-able data."""
    return {
        "status": verdict.health.name.lower(),
        "exit_code": verdict.exit_code,
        "headline": verdict.headline,
        "advice": verdict.advice,
        "reader": verdict.reader,
        "cards": [
            {
                "reader": c.reader,
                "card": c.name,
                "status": c.health.name.lower(),
                "headline": c.headline,
                "advice": c.advice,
            }
            for c in verdict.cards
        ],
        "findings": [_finding(f) for f in verdict.findings],
    }


def to_dict(report: CheckReport) -> dict[str, Any]:
    """The report as plain JSON-able data."""
    verdict = assess(report)
    return {
        "schema": SCHEMA,
        "version": __version__,
        "checked_at": timestamp(report.checked_at),
        "language": report.language,
        "status": verdict.health.name.lower(),
        "exit_code": verdict.exit_code,
        "assessment": assessment_to_dict(verdict),
        "service": item_to_dict(report.service),
        "reader_item": item_to_dict(report.reader_item) if report.reader_item else None,
        "clock": _clock(report),
        "readers": [reader_to_dict(r) for r in report.readers],
    }


def dumps(report: CheckReport) -> str:
    """Serialise to indented UTF-8 JSON text."""
    return json.dumps(to_dict(report), ensure_ascii=False, indent=2)


def reading_summary(report: ReaderReport) -> dict[str, Any]:
    """What a recorded transcript must read back as: no names, numbers or serials, so the
    summary survives redaction (``cardwatch check --record``; tests/transcripts/)."""
    return {
        "health": report.health.name.lower(),
        "kind": report.card_kind,
        "generation": report.generation,
        "items": {item.item.key: item.status.value for item in report.items},
        "certificates": sorted([c.slot, c.days_left, c.is_ca] for c in report.certificates),
        "pins": [[p.state.value, p.tries_left] for p in report.pins],
    }


def error_dumps(message: str) -> str:
    """A check that could not run, in the same schema: status unknown, exit code 3, why."""
    document = {
        "schema": SCHEMA,
        "version": __version__,
        "status": "unknown",
        "exit_code": 3,
        "error": message,
        "readers": [],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)
