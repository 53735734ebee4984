"""``cardwatch status``: the daemon's last state and recent checks, read from its files.

It reads ``state.json`` and ``history.json`` (never the live daemon), so it works from any
terminal and tells whether the daemon that wrote them still runs. :func:`read` does the
file work; :func:`render_text`, :func:`render_json` and :func:`exit_code` are pure.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..check.assess import Assessment
from ..clock import Clock, local_time
from ..daemon.diagnosis import Verdict, diagnose
from ..daemon.diagnosis import summary as diagnosis_summary
from ..daemon.state import (
    DaemonState,
    IconState,
    Phase,
    ReaderState,
    assessment,
    icon_state,
    reader_line,
)
from ..i18n import _, join_list, labelled
from ..model import (
    Cause,
    CertInfo,
    CheckItem,
    ClockMeasurement,
    ClockReading,
    ClockUnknown,
    Code,
    Health,
    HistoryEntry,
    ItemId,
    PinState,
    PinStatus,
    ReaderReport,
    Status,
    parse_time,
)
from ..store import instance
from ..store.files import read_json, set_aside
from ..store.history import STATE_SCHEMA, Latest, entry_to_dict, load_history
from .check_json import assessment_to_dict, timestamp
from .codewords import code_words
from .safe import terminal_lines
from .words import days_left, health_label, health_word

SCHEMA = "cardwatch.status/1"
#: how many past checks the text form lists (the JSON form lists more)
RECENT_TEXT = 5
RECENT_JSON = 50


def daemon_running(document: Mapping[str, Any]) -> bool | None:
    """Whether the daemon that wrote ``document`` still runs (None: cannot tell)."""
    if document.get("running") is False:
        return False
    # The single-instance lock is the proof: the kernel drops it when the daemon ends.
    locked = instance.held()
    if locked is not None:
        return locked
    # No lock file (a state file from elsewhere, or an unusual runtime dir): guess from the pid.
    pid, host = document.get("pid"), document.get("host")
    if not isinstance(pid, int) or pid <= 0 or host != socket.gethostname():
        return None
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user
        return True
    except OSError:
        return None
    return True


# -- decoding report_json data back into results --------------------------------------------


def _str(data: Mapping[str, Any], key: str, optional: bool = False) -> Any:
    value = data.get(key) if optional else data[key]
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} is not text: {value!r}")
    return value


def _int(data: Mapping[str, Any], key: str, optional: bool = False) -> Any:
    value = data.get(key) if optional else data[key]
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} is not a whole number: {value!r}")
    return value


def item_from_dict(data: Mapping[str, Any]) -> CheckItem:
    """An item of schema cardwatch.check/1 as a CheckItem."""
    return CheckItem(
        ItemId(_int(data, "number")),
        Status(data["status"]),
        _str(data, "summary"),
        _str(data, "advice"),
        Cause(data["cause"]),
        # a code of another version: Code.OTHER (its summary and advice still say what it is)
        Code.parse(_str(data, "code")),
    )


def _cert(data: Mapping[str, Any]) -> CertInfo:
    return CertInfo(
        label=_str(data, "label"),
        slot=_str(data, "slot"),
        subject=_str(data, "subject"),
        common_name=_str(data, "common_name"),
        issuer=_str(data, "issuer"),
        serial=_str(data, "serial"),
        not_before=parse_time(data["not_before"]),
        not_after=parse_time(data["not_after"]),
        days_left=_int(data, "days_left"),
        key_usage=tuple(str(u) for u in data["key_usage"]),
        is_ca=bool(data["is_ca"]),
        sha256=_str(data, "sha256"),
    )


def _pin(data: Mapping[str, Any]) -> PinStatus:
    return PinStatus(
        _str(data, "label"),
        PinState(data["state"]),
        _int(data, "tries_left", optional=True),
        _str(data, "source"),
    )


def reader_from_dict(data: Mapping[str, Any]) -> ReaderReport:
    """A reader of schema cardwatch.check/1 as a ReaderReport; ValueError/KeyError/TypeError."""
    card = data.get("card") or {}
    return ReaderReport(
        reader=_str(data, "reader"),
        items=tuple(item_from_dict(i) for i in data["items"]),
        atr=_str(data, "atr", optional=True),
        card_kind=_str(card, "kind", optional=True),
        card_type=_str(card, "type", optional=True),
        generation=_str(card, "generation", optional=True),
        card_number=_str(card, "number", optional=True),
        certificates=tuple(_cert(c) for c in data["certificates"]),
        pins=tuple(_pin(p) for p in data["pins"]),
        apdus=_int(data, "apdus"),
        duration_ms=float(data["duration_ms"]),
        **_pkcs11(data.get("pkcs11")),
        issuer_service=_str(card, "issuer_service", optional=True),
    )


def _pkcs11(data: Any) -> dict[str, Any]:
    """ReaderReport's PKCS#11 fields from the optional "pkcs11" object (absent before)."""
    if data is None:
        return {}
    return {
        "pkcs11_modules": tuple(str(m) for m in data["modules"]),
        "pkcs11_skipped": tuple(str(m) for m in data["not_asked"]),
        "pkcs11_ms": float(data["ms"]),
    }


def state_from_dict(data: Mapping[str, Any]) -> DaemonState:
    """A state document (schema cardwatch.state/1) as a DaemonState."""
    readers = []
    for slot in data["readers"]:
        report = slot.get("report")
        since = slot.get("since")
        readers.append(
            ReaderState(
                _str(slot, "reader"),
                Phase(slot["phase"]),
                reader_from_dict(report) if report is not None else None,
                parse_time(since) if since is not None else None,
            )
        )
    service_up = data["service_up"]
    if service_up is not None and not isinstance(service_up, bool):
        raise ValueError(f"service_up is not true, false or null: {service_up!r}")
    item = data.get("service_item")
    clock, reading = clock_from_dict(data.get("clock"))
    language = data.get("language")
    return DaemonState(
        clock=clock,
        clock_reading=reading,
        language=language if isinstance(language, str) else "",
        readers=tuple(sorted(readers, key=lambda r: r.reader)),
        service_up=service_up,
        service_item=item_from_dict(item) if item is not None else None,
        paused=bool(data["paused"]),
        updated_at=parse_time(data["updated_at"]),
    )


def clock_from_dict(data: object) -> tuple[CheckItem | None, ClockReading | None]:
    """Item 10 and its measurement as ``clock_to_dict`` wrote them."""
    if data is None:
        return None, None
    if not isinstance(data, Mapping):
        raise ValueError(f"clock is not an object: {data!r}")
    item = item_from_dict(data["item"])
    reading: ClockReading | None = None
    if data.get("offset_seconds") is not None:
        reading = ClockMeasurement(
            offset_seconds=float(data["offset_seconds"]),
            source=_str(data, "source"),
            server=_str(data, "server"),
            measured_at=parse_time(data["measured_at"]),
            uncertainty_seconds=float(data.get("uncertainty_seconds") or 0.0),
        )
    elif data.get("cause") is not None:
        tried = _str(data, "server", optional=True)
        reading = ClockUnknown(_str(data, "cause"), tried=tuple(tried.split(", ")) if tried else ())
    return item, reading


# -- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusData:
    """What ``cardwatch status`` shows."""

    #: None when there is no usable state file; ``problem`` says why
    state: DaemonState | None
    document: Mapping[str, Any] | None = None
    running: bool | None = None
    problem: str | None = None
    #: past checks, oldest first
    entries: Sequence[HistoryEntry] = ()
    latest: Mapping[str, Latest] = field(default_factory=dict)


def read(state_file: Path, history_file: Path, clock: Clock | None = None) -> StatusData:
    """Read the state and history files; unusable ones are set aside (and said so)."""
    entries, latest = load_history(history_file, clock)
    loaded = read_json(state_file, "state", schema=STATE_SCHEMA, clock=clock)
    problem: str | None = None
    if loaded.problem is not None:
        problem = _set_aside_text(state_file, loaded.problem, loaded.moved_to)
    elif loaded.data is not None:
        try:
            state = state_from_dict(loaded.data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            cause = f"malformed content: {exc!r}"
            problem = _set_aside_text(
                state_file, cause, set_aside(state_file, "state", cause, clock)
            )
        else:
            return StatusData(
                state, loaded.data, daemon_running(loaded.data), None, entries, latest
            )
    return StatusData(None, None, None, problem, entries, latest)


def _set_aside_text(path: Path, cause: str, moved_to: Path | None) -> str:
    if moved_to is None:
        return _("The state file {path} is unusable ({cause}).").format(path=path, cause=cause)
    return _("The state file {path} was unusable ({cause}); it was set aside as {moved}.").format(
        path=path, cause=cause, moved=moved_to
    )


# -- rendering (pure) ---------------------------------------------------------------------


def not_running_text() -> str:
    """The message when there is no state to show."""
    return _(
        "Cardwatch is not running / has not checked a card yet: start it with 'cardwatch run'."
    )


def exit_code(data: StatusData) -> int:
    """Like ``cardwatch check``: 0 OK, 1 warning, 2 critical, 3 unknown (or no live state)."""
    if data.state is None or data.running is False:
        return int(Health.UNKNOWN)
    return assessment(data.state).exit_code


def icon_words(icon: IconState) -> str:
    """The tray icon described in words, colour and glyph included."""
    words = {
        IconState.OK: _("green ✓, all fine"),
        IconState.WARNING: _("amber !, warning"),
        IconState.ERROR: _("red ✕, error"),
        IconState.IDLE: _("grey ○, no reader or no card"),
        IconState.CHECKING: _("blue …, checking"),
    }
    return words[icon]


def _when(moment: datetime | None) -> str:
    return local_time(moment, seconds=True) if moment is not None else "-"


def entry_line(entry: HistoryEntry) -> str:
    """One past check in one line."""
    parts = [health_word(entry.health)]
    bad = [i for i in entry.items if i.status.rank >= 2]
    if bad:
        worst = max(bad, key=lambda i: i.status.rank)
        parts[0] += f" ({code_words(worst.code, worst.code_text)})"
    days = entry.days_left
    if days is not None:
        parts.append(days_left(days))
    card = entry.card or _("no card")
    return "  ".join([_when(entry.at), entry.reader, card, join_list(parts)])


def _reader_text(slot: ReaderState, verdict: Assessment | None = None) -> str:
    line = reader_line(slot, None, verdict)
    # A checked card's line names the card, not the reader: say which reader holds it.
    if line.startswith(slot.reader):
        return line
    return labelled(slot.reader, line)


def render_text(data: StatusData) -> str:
    """The text form."""
    if data.state is None:
        lines = [data.problem] if data.problem else []
        lines.append(not_running_text())
        return terminal_lines(lines)
    state = data.state
    document = data.document or {}
    when = _when(state.updated_at)
    if data.running is True:
        head = _("Cardwatch is running (pid {pid}); state of {when}").format(
            pid=document.get("pid"), when=when
        )
    elif data.running is False:
        head = _("Cardwatch is not running; its last state, of {when}").format(when=when)
    else:
        head = _("State of {when} (cannot tell whether Cardwatch still runs)").format(when=when)
    icon = IconState(document["icon"]) if "icon" in document else icon_state(state)
    verdict = assessment(state)
    lines = [
        head,
        labelled(_("Icon"), icon_words(icon)),
        labelled(health_label(verdict.health), verdict.headline),
    ]
    if verdict.findings and verdict.advice:
        lines.append("  " + labelled(_("What to do first"), verdict.advice))
    if state.service_up is False and state.service_item is not None:
        lines.append("  " + state.service_item.summary)
    elif not state.readers:
        lines.append("  " + _("No card reader connected"))
    lines += ["  " + _reader_text(slot, verdict) for slot in state.readers]
    lines += ["  " + diagnosis_summary(v, v.at) for v in diagnoses(data) if v.alarming]
    if state.paused:
        lines.append("  " + _("Notifications paused"))
    if data.entries:
        lines.append(_("Last checks:"))
        lines += ["  " + entry_line(e) for e in reversed(data.entries[-RECENT_TEXT:])]
    if data.running is False:
        lines.append(_("Start it with 'cardwatch run'."))
    # The state and history come from files: whatever a card wrote there is made safe here.
    return terminal_lines(lines)


def diagnoses(data: StatusData) -> list[Verdict]:
    """Each shown reader's diagnosis from the saved history (tray/daemon/diagnosis.py)."""
    state = data.state
    if state is None or state.updated_at is None:
        return []
    found = (diagnose(data.entries, slot.reader, state.updated_at) for slot in state.readers)
    return [v for v in found if v is not None]


def render_json(data: StatusData) -> str:
    """The JSON form (schema cardwatch.status/1)."""
    code = exit_code(data)
    document = {
        "schema": SCHEMA,
        "version": __version__,
        "status": Health(code).name.lower(),
        "exit_code": code,
        "running": data.running,
        "message": data.problem
        or (not_running_text() if data.state is None or data.running is False else None),
        "assessment": (
            assessment_to_dict(assessment(data.state)) if data.state is not None else None
        ),
        "state": dict(data.document) if data.document is not None else None,
        "recent": [entry_to_dict(e) for e in reversed(data.entries[-RECENT_JSON:])],
        "diagnoses": [
            {
                "reader": v.reader,
                "culprit": v.culprit.value,
                "subject": v.subject,
                "observations": v.observations,
                "summary": diagnosis_summary(v, v.at),
            }
            for v in diagnoses(data)
        ],
        "latest": {
            reader: {"at": timestamp(value.at), "report": dict(value.report)}
            for reader, value in sorted(data.latest.items())
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
