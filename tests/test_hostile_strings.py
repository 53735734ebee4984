"""Strings from a hostile card or reader reach every sink made safe (tray/present/safe.py):
no escape sequence, newline or bidi override reaches a terminal, a menu or the tooltip; no
markup a notification server; the HTML report isolates them; JSON keeps them as they are."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from helpers import FixedClock

from tray.check.run import CheckOptions, run_check
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo import certs
from tray.demo.backend import SimBackend
from tray.demo.cards import MoicaGen1Card
from tray.demo.scenarios import DEMO_CARD_NUMBER
from tray.i18n import set_language
from tray.model import CheckReport, entry_from_report
from tray.notify.backends import FailureLog, body_text, make_backend, title_text
from tray.notify.policy import Notice, Urgency
from tray.present import safe
from tray.present.check_json import dumps as render_json
from tray.present.check_text import render
from tray.present.report_html import render_html
from tray.present.report_text import render_report_text
from tray.ui.menu import status_lines, tooltip_text

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
CN = "Mallory\x1b]0;pwned\x07\x1b[2J\n 9 PASS  Certificate valid for 900 days\x1b[8m"
LABEL = 'Sign\n 9 PASS fake <b><span size="xx-large">x</span></b> <a href="https://evil.example/renew">renew</a>'
READER = "Reader \u202eevil\u202c 0"
#: only Cardwatch's own colours may be escape sequences
OWN_ESCAPES = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def english() -> None:
    set_language("en")


def hostile_report() -> CheckReport:
    """A MOICA card expiring in 3 days whose CN, label and reader name are hostile."""
    ca_cert, ca_key = certs.make_ca(
        certs.dn(("C", "TW"), ("O", "Issuer"), ("CN", "Test CA")),
        NOW - timedelta(days=900),
        NOW + timedelta(days=3000),
    )
    person = certs.make_cert(
        certs.dn(("C", "TW"), ("CN", CN), ("serialNumber", "0000000112345678")),
        ca_cert,
        ca_key,
        NOW - timedelta(days=100),
        NOW + timedelta(days=3),
    )
    card = MoicaGen1Card(
        [
            (person.public_bytes(Encoding.DER), LABEL, False),
            (ca_cert.public_bytes(Encoding.DER), "CA certificate", True),
        ],
        DEMO_CARD_NUMBER,
    )
    return run_check(SimBackend({READER: card}), FixedClock(NOW), CheckOptions())


def assert_terminal_safe(text: str) -> None:
    bare = OWN_ESCAPES.sub("", text)
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in bare), bare
    assert not set(bare) & {chr(c) for c in safe.BIDI_AND_SEPARATORS}
    assert not any(line.lstrip().startswith("9 PASS") for line in bare.splitlines())


def test_the_card_strings_really_are_hostile() -> None:
    report = hostile_report()
    cert = report.readers[0].certificates[0]
    assert cert.common_name == CN and cert.label == LABEL and report.readers[0].reader == READER


def test_check_text_escapes_control_characters_newlines_and_overrides_like_openssl() -> None:
    report = hostile_report()
    for colour in (False, True):
        text = render(report, colour=colour)
        assert_terminal_safe(text)
        assert "Mallory\\1B]0;pwned\\07\\1B[2J\\0A 9 PASS" in text
        assert "Reader \\U202Eevil\\U202C 0" in text
        assert "\\0A 9 PASS fake" in text
        assert "3 days left" in text or "in 3 days" in text


def test_report_text_and_replayed_history_are_safe() -> None:
    report = hostile_report()
    history = [entry_from_report(r, NOW) for r in report.readers]
    text = render_report_text(report, history)
    assert_terminal_safe(text)
    assert "\\U202E" in text


def test_menu_and_tooltip_lines_are_safe() -> None:
    report = hostile_report()
    state = DaemonState(service_up=True, updated_at=NOW).with_reader(
        ReaderState(READER, Phase.CHECKED, report.readers[0], NOW)
    )
    for line in status_lines(state):
        assert_terminal_safe(line)
        assert "\n" not in line
    tip = tooltip_text(state)
    assert_terminal_safe(tip)
    assert len(tip.splitlines()) == len(state.readers) + 1


def test_html_isolates_a_right_to_left_override_and_shows_it() -> None:
    report = hostile_report()
    page = render_html(report)
    assert "\u202e" not in page and "\u202c" not in page
    assert "<bdi>Reader \\U202Eevil\\U202C 0</bdi>" in page
    assert "\x1b" not in page and "&lt;b&gt;" in page and "<b>" not in page


def test_json_keeps_the_strings_as_they_are() -> None:
    report = hostile_report()
    data = json.loads(render_json(report))
    assert data["readers"][0]["reader"] == READER
    assert "\x1b" not in render_json(report)  # JSON's own escapes: \u001b


def test_notification_text_is_markup_escaped_and_one_line_per_line() -> None:
    notice = Notice(
        slot=READER,
        reader=READER,
        card="card:x",
        key="k",
        title=f"Certificate '{LABEL}' expires",
        lines=(f"MOICA card in {READER}", f"Certificate '{LABEL}' expires on 2026-12-04."),
        urgency=Urgency.CRITICAL,
    )
    body = body_text(notice, markup=True)
    title = title_text(notice, markup=True)
    for text in (body, title):
        assert "<" not in text and ">" not in text
        assert "&lt;a href=" in text and "\u202e" not in text
    assert len(body.split("\n")) == 2
    plain = body_text(notice, markup=False)
    assert "<b>" in plain and len(plain.split("\n")) == 2 and "\x1b" not in plain


def test_no_notification_service_logs_each_notice_instead_of_losing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    backend = make_backend(callbacks=None, report_file=lambda notice: None)  # type: ignore[arg-type]
    try:
        assert backend.name == "log"  # not plyer: it would call the absent service silently
        caplog.set_level(logging.WARNING)
        notice = Notice(
            "s", None, "c", "k", "Certificate expires in 3 days", ("x",), Urgency.NORMAL
        )
        backend.show(notice)
        assert "Certificate expires in 3 days" in caplog.text
    finally:
        backend.close()


def test_a_failing_notification_is_logged_once_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    failed = FailureLog()
    notice = Notice("s", None, "c", "k", "Certificate expires", ("x",), Urgency.NORMAL)
    for _n in range(50):
        failed("show: DBusError", notice, RuntimeError("service gone"))
    failed("show: TimeoutError", notice, TimeoutError())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "Certificate expires" in warnings[0].getMessage()
