"""Recorded card exchanges: record a check's APDUs, replay them through the real profiles.

A transcript (``cardwatch.transcript/1``, JSON) holds per reader its name, the ATR and every
command with the card's answer (data, status word, milliseconds), exactly as the guard let
them through: read-only by construction. :class:`RecordingBackend` wraps a real backend and
records; :class:`ReplayBackend` answers from a transcript, command by command, and stops at
the first command the transcript did not record (a scripted peer, as Solaar's tests use).
:func:`redact` replaces personal data consistently, keeping every length, so a redacted
transcript still replays (certificate signatures then no longer verify, which the check does
not rely on).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509

from ..errors import CardDataError
from .backend import Backend, CardSession, CardState, Slot

FORMAT = "cardwatch.transcript/1"


@dataclass
class Exchange:
    """One command and the card's answer."""

    command: bytes
    response: bytes
    sw: int
    ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command.hex().upper(),
            "response": self.response.hex().upper(),
            "sw": f"{self.sw:04X}",
            "ms": round(self.ms, 2),
        }


@dataclass
class ReaderTranscript:
    """What passed between Cardwatch and the card in one reader."""

    reader: str
    atr: bytes = b""
    exchanges: list[Exchange] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reader": self.reader,
            "atr": self.atr.hex().upper(),
            "exchanges": [e.to_dict() for e in self.exchanges],
        }


class _RecordingSession:
    def __init__(
        self, inner: CardSession, record: ReaderTranscript, timer: Callable[[], float]
    ) -> None:
        self._inner = inner
        self._record = record
        self._timer = timer
        record.atr = inner.atr

    @property
    def atr(self) -> bytes:
        return self._inner.atr

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        start = self._timer()
        data, sw = self._inner.transmit(apdu)
        self._record.exchanges.append(
            Exchange(bytes(apdu), bytes(data), sw, (self._timer() - start) * 1000)
        )
        return data, sw


class RecordingBackend:
    """A backend that records every exchange of the sessions it opens."""

    def __init__(self, inner: Backend, timer: Callable[[], float] = time.perf_counter) -> None:
        self._inner = inner
        self._timer = timer
        self.readers: list[ReaderTranscript] = []

    def slots(self) -> list[Slot]:
        return self._inner.slots()

    @contextmanager
    def session(self, reader: str) -> Iterator[_RecordingSession]:
        with self._inner.session(reader) as inner:
            record = ReaderTranscript(reader)
            self.readers.append(record)
            yield _RecordingSession(inner, record, self._timer)

    def to_dict(
        self, recorded_at: datetime, expected: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The transcript as JSON-able data."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "recorded_at": recorded_at.isoformat(),
            "readers": [r.to_dict() for r in self.readers],
        }
        if expected is not None:
            out["expected"] = expected
        return out


def dumps(data: dict[str, Any]) -> str:
    """A transcript as the file holds it."""
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def load(text: str) -> dict[str, Any]:
    """Parse and validate a transcript file."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CardDataError(f"transcript is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CardDataError("not a cardwatch.transcript/1 file")
    for reader in data.get("readers", ()):
        for key in ("reader", "atr", "exchanges"):
            if key not in reader:
                raise CardDataError(f"transcript reader lacks '{key}'")
    return data


class TranscriptMismatch(AssertionError):
    """The profiles sent a command the transcript did not record at that point."""


class _ReplaySession:
    def __init__(self, record: dict[str, Any]) -> None:
        self._atr = bytes.fromhex(record["atr"])
        self._script = list(record["exchanges"])
        self.position = 0

    @property
    def atr(self) -> bytes:
        return self._atr

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self.position >= len(self._script):
            raise TranscriptMismatch(f"command {apdu.hex().upper()} after the recorded end")
        step = self._script[self.position]
        if bytes.fromhex(step["command"]) != bytes(apdu):
            raise TranscriptMismatch(
                f"exchange {self.position}: sent {apdu.hex().upper()}, recorded {step['command']}"
            )
        self.position += 1
        return bytes.fromhex(step["response"]), int(step["sw"], 16)

    @property
    def finished(self) -> bool:
        return self.position == len(self._script)


class ReplayBackend:
    """Readers whose cards answer from a transcript."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._readers = {r["reader"]: r for r in data["readers"]}
        self.sessions: list[_ReplaySession] = []

    def slots(self) -> list[Slot]:
        return [
            Slot(name, CardState.PRESENT, bytes.fromhex(r["atr"]))
            for name, r in self._readers.items()
        ]

    @contextmanager
    def session(self, reader: str) -> Iterator[_ReplaySession]:
        replay = _ReplaySession(self._readers[reader])
        self.sessions.append(replay)
        yield replay


# --------------------------------------------------------------------------- redaction

#: Subject attributes that name or number a person (CN, serialNumber, e-mail, names, ...).
_PERSONAL = (
    x509.NameOID.COMMON_NAME,
    x509.NameOID.SERIAL_NUMBER,
    x509.NameOID.EMAIL_ADDRESS,
    x509.NameOID.GIVEN_NAME,
    x509.NameOID.SURNAME,
    x509.NameOID.PSEUDONYM,
    x509.NameOID.USER_ID,
)
_DER_START = re.compile(rb"\x30\x82")


def _certificates(stream: bytes) -> Iterator[x509.Certificate]:
    """Every DER certificate stored contiguously in ``stream``."""
    for found in _DER_START.finditer(stream):
        start = found.start()
        size = 4 + int.from_bytes(stream[start + 2 : start + 4], "big")
        if size > len(stream) - start:
            continue
        try:
            yield x509.load_der_x509_certificate(stream[start : start + size])
        except ValueError:
            continue


def _stand_in(original: bytes, kind: str) -> bytes:
    """A same-length replacement, the same for the same original in every transcript."""
    digest = hashlib.sha256(kind.encode() + original).digest()
    if kind == "digits":
        return bytes(0x30 + b % 10 for b in (digest * (len(original) // 32 + 1))[: len(original)])
    if kind == "binary":
        out = bytearray((digest * (len(original) // 32 + 1))[: len(original)])
        out[0] = (out[0] & 0x7F) | 0x01  # a positive INTEGER without a leading zero
        return bytes(out)
    pattern = b"REDACTED" + digest.hex().upper().encode()
    return (pattern * (len(original) // len(pattern) + 1))[: len(original)]


def personal_values(stream: bytes, card_numbers: Sequence[str] = ()) -> dict[bytes, bytes]:
    """Original → replacement for the personal data in ``stream``: names, serial numbers and
    e-mail addresses of the (non-CA) certificates it holds, and the card numbers given."""
    mapping: dict[bytes, bytes] = {}
    for cert in _certificates(stream):
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if is_ca:
            continue
        for attribute in cert.subject:
            if attribute.oid in _PERSONAL and isinstance(attribute.value, str):
                raw = attribute.value.encode("utf-8")
                kind = "digits" if raw.isdigit() else "text"
                if len(raw) >= 3:
                    mapping[raw] = _stand_in(raw, kind)
        serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
        if len(serial) >= 4:
            mapping[serial] = _stand_in(serial, "binary")
    for number in card_numbers:
        if not number:
            continue
        mapping[number.encode()] = _stand_in(number.encode(), "text")
        compact = number.replace("-", "")
        if re.fullmatch(r"(?:[0-9A-Fa-f]{2}){4,}", compact):
            raw = bytes.fromhex(compact)
            mapping[raw] = _stand_in(raw, "binary")
    return mapping


def redact(data: dict[str, Any], card_numbers: Sequence[str] = ()) -> dict[str, Any]:
    """A copy of transcript ``data`` with personal data replaced in every response.

    Each reader's responses are treated as one stream (a name may straddle two READ BINARY
    answers) and split back at the same places: every length stays as it was."""
    out: dict[str, Any] = json.loads(json.dumps(data))
    for reader in out["readers"]:
        pieces = [bytes.fromhex(x["response"]) for x in reader["exchanges"]]
        stream = b"".join(pieces)
        mapping = personal_values(stream, card_numbers)
        for original in sorted(mapping, key=len, reverse=True):
            stream = stream.replace(original, mapping[original])
        pos = 0
        for exchange, piece in zip(reader["exchanges"], pieces, strict=True):
            exchange["response"] = stream[pos : pos + len(piece)].hex().upper()
            pos += len(piece)
        reader["redacted"] = len(mapping)
    return out
