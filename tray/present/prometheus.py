"""The daemon's state for node_exporter's textfile collector (one ``*.prom`` file).

:func:`render` is pure: a snapshot in, the text exposition format out. :class:`TextfileWriter`
is a state listener that replaces the file atomically (through a coalescing writer, so a
burst of events costs a few writes) and leaves ``cardwatch_up 0`` behind when it stops.

The file is world-readable (node_exporter runs as its own user), so by default
(``card_id="hash"``) a card and a certificate serial appear as the first 12 hex digits of the
SHA-256 of their text, not as they are; ``card_id="number"`` writes them as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..daemon.state import DaemonState, Phase, assessment
from ..model import ReaderReport, card_key
from ..store.files import Coalescer, atomic_write_text

log = logging.getLogger(__name__)

#: node_exporter runs as its own user: the file must be readable by others
MODE = 0o644


#: how cards and certificate serials are named in the file
CARD_IDS = ("hash", "number")


def card_label(value: str, card_id: str = "hash") -> str:
    """``value`` (a card key or a serial) as the file shows it: hashed unless "number"."""
    if card_id == "number" or not value:
        return value
    import hashlib  # OpenSSL's hashes: loaded on the first card, not by the idle daemon

    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def escape_label(value: str) -> str:
    """A label value as the exposition format quotes it (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    return (
        repr(float(value))
        if isinstance(value, float) and not value.is_integer()
        else str(int(value))
    )


@dataclass
class _Family:
    name: str
    help: str
    samples: list[tuple[tuple[tuple[str, str], ...], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        key = tuple(labels.items())
        # Two series with the same labels would make the whole scrape fail: keep the first.
        if all(existing != key for existing, _ in self.samples):
            self.samples.append((key, value))

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {_escape_help(self.help)}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in self.samples:
            text = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels)
            yield (
                f"{self.name}{{{text}}} {_number(value)}"
                if text
                else f"{self.name} {_number(value)}"
            )


def _families() -> dict[str, _Family]:
    specs = [
        ("cardwatch_up", "1 while the Cardwatch daemon runs, 0 after it stopped."),
        ("cardwatch_pcsc_service_up", "1 if the PC/SC service is reachable."),
        (
            "cardwatch_health",
            "The overall verdict (as status and the tray icon): 0 ok, 1 warning, 2 critical, "
            "3 unknown.",
        ),
        ("cardwatch_clock_ok", "0 while the computer's clock is off (a finding), else 1."),
        ("cardwatch_reader_card_present", "1 if the reader holds a card."),
        (
            "cardwatch_check_status",
            "Result of the last check: 0 ok, 1 warning, 2 critical, 3 unknown.",
        ),
        ("cardwatch_last_check_timestamp_seconds", "When the card was last checked (Unix time)."),
        ("cardwatch_certificate_days_left", "Whole days until the certificate expires."),
        (
            "cardwatch_certificate_expiry_timestamp_seconds",
            "When the certificate expires (Unix time).",
        ),
        ("cardwatch_pin_tries_left", "PIN tries left before the PIN locks."),
    ]
    return {name: _Family(name, text) for name, text in specs}


def render(
    state: DaemonState,
    up: bool = True,
    checked_at: Mapping[str, datetime] | None = None,
    card_id: str = "hash",
) -> str:
    """The exposition text for ``state``; ``checked_at``: reader → time of its shown report.

    ``card_id``: "hash" (cards and serials hashed, see :func:`card_label`) or "number".
    """
    checked_at = checked_at or {}
    families = _families()
    families["cardwatch_up"].add(1 if up else 0)
    families["cardwatch_pcsc_service_up"].add(1 if state.service_up else 0)
    verdict = assessment(state)
    families["cardwatch_health"].add(verdict.exit_code)
    families["cardwatch_clock_ok"].add(0 if verdict.clock is not None else 1)
    for slot in state.readers:
        families["cardwatch_reader_card_present"].add(
            0 if slot.phase is Phase.EMPTY else 1, reader=slot.reader
        )
        report = slot.report
        if report is None or slot.phase is Phase.EMPTY:
            continue
        card = card_label(card_key(report) or "", card_id)
        _card_metrics(families, report, card, card_id)
        when = slot.since if slot.phase is Phase.CHECKED else checked_at.get(slot.reader)
        if when is not None:
            families["cardwatch_last_check_timestamp_seconds"].add(
                when.timestamp(), reader=slot.reader, card=card
            )
    lines = [line for family in families.values() for line in family.lines()]
    return "\n".join(lines) + "\n"


def _card_metrics(
    families: dict[str, _Family], report: ReaderReport, card: str, card_id: str
) -> None:
    reader = report.reader
    families["cardwatch_check_status"].add(int(report.health), reader=reader, card=card)
    for cert in report.certificates:
        serial = card_label(cert.serial, card_id)
        labels = {"reader": reader, "card": card, "label": cert.label, "serial": serial}
        families["cardwatch_certificate_days_left"].add(cert.days_left, **labels)
        families["cardwatch_certificate_expiry_timestamp_seconds"].add(
            cert.not_after.timestamp(), **labels
        )
    for pin in report.pins:
        if pin.tries_left is not None:
            families["cardwatch_pin_tries_left"].add(
                pin.tries_left, reader=reader, card=card, label=pin.label
            )


class TextfileWriter:
    """A state listener keeping one textfile up to date; ``close`` leaves cardwatch_up 0."""

    def __init__(self, path: Path, min_interval: float = 0.25, card_id: str = "hash") -> None:
        self.path = path
        self.card_id = card_id
        if path.suffix != ".prom":
            log.warning("node_exporter's textfile collector reads only *.prom files, not %s", path)
        self._checked_at: dict[str, datetime] = {}
        self._last: DaemonState | None = None
        self._writer: Coalescer[str] = Coalescer("cw-prometheus", self._write, min_interval)

    def on_state(self, state: DaemonState) -> None:
        """Write ``state`` soon (a daemon state listener)."""
        for slot in state.readers:
            if slot.phase is Phase.CHECKED and slot.since is not None:
                self._checked_at[slot.reader] = slot.since
        self._last = state
        self._writer.submit(render(state, True, self._checked_at, self.card_id))

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until the latest state is written."""
        return self._writer.flush(timeout)

    def close(self) -> None:
        """Write the last state with cardwatch_up 0, and stop."""
        self._writer.submit(
            render(self._last or DaemonState(), False, self._checked_at, self.card_id)
        )
        self._writer.close()

    def _write(self, text: str) -> None:
        atomic_write_text(self.path, text, MODE)
