"""zh_TW output has no English left in it: every demo scenario through every surface.

Allowed ASCII words: names (of products, standards, services), numbers, URLs, file paths,
and card data (what a card or its certificates say: names, labels, numbers, hex).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest
from helpers import FixedClock

from tray.check.run import CheckOptions, run_check
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo.backend import SimBackend
from tray.demo.scenarios import SCENARIOS, build, network
from tray.i18n import set_language
from tray.model import CheckReport
from tray.present import status
from tray.present.check_text import render
from tray.present.report_html import render_html
from tray.present.report_text import render_report_text
from tray.store.history import History, history_path, state_path

NOW = datetime(2026, 12, 3, 17, 43, tzinfo=timezone.utc)

#: names that stay as they are in Chinese text too
NAMES = set(
    [
        "Cardwatch",
        "PC",
        "SC",
        "PIN",
        "PUK",
        "OCSP",
        "CRL",
        "MOICA",
        "GRCA",
        "PIV",
        "ATR",
        "APDU",
        "APDUs",
        "SNTP",
        "NTP",
        "UTC",
        "HiCOS",
        "PKCS",
        "OpenPGP",
        "CA",
        "IC",
        "JSON",
        "HTML",
        "Ctrl",
        "USB",
        "DF",
        "CLA",
        "SW",
        "Windows",
        "macOS",
        "Linux",
        "Chrome",
        "Firefox",
        "Edge",
        "ID",
        "HTTP",
        "HTTPS",
        "DNS",
        "TLS",
        "TWCA",
        "OK",
        "pcscd",
        "FAQ",
        "GUID",
        "CHUID",
        "AID",
        "SIM",
        "GET",
        "DATA",
        "NIST",
        "SP",
        "ms",
        "pid",
        "TLV",
        "DER",
        "GPPKI",
        "PW",
    ]
)
URL = re.compile(r"(https?://|www\.)\S+|\S+\.(gov|com|org|net)\.?\S*|\S+\.(toml|json|html|log)\b")
HEX = re.compile(r"\b[0-9A-Fa-f]{2,}\b")
WORD = re.compile(r"[A-Za-z][A-Za-z_'-]*[A-Za-z]")


class _Text(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


@pytest.fixture(autouse=True)
def chinese() -> Iterator[None]:
    set_language("zh_TW")
    yield
    set_language("en")


def card_words(report: CheckReport) -> set[str]:
    """Every word the cards and their certificates say (data, not prose)."""
    found: list[str] = []
    for reader in report.readers:
        found += [reader.reader, reader.card_type or "", reader.card_number or "", reader.atr or ""]
        found += [reader.card_kind or ""]
        for cert in reader.certificates:
            found += [cert.subject, cert.issuer, cert.common_name, cert.label, cert.serial]
    return {w for text in found for w in WORD.findall(text)}


def english_in(text: str, allowed: set[str]) -> list[str]:
    text = URL.sub(" ", text)
    text = HEX.sub(" ", text)
    return sorted({w for w in WORD.findall(text) if w not in NAMES and w not in allowed})


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_zh_tw_surfaces_carry_no_english_prose(scenario: str) -> None:
    backend = SimBackend(build(scenario, NOW))
    report = run_check(backend, FixedClock(NOW), CheckOptions(network=network(scenario, NOW)))
    history = History(history_path(), FixedClock(NOW))
    state = DaemonState(service_up=True, updated_at=NOW)
    for reader in report.readers:
        history.record(reader, NOW)
        state = state.with_reader(ReaderState(reader.reader, Phase.CHECKED, reader, since=NOW))
    history.save_state(state)
    assert history.flush()
    data = status.read(state_path(), history_path())
    allowed = card_words(report)
    surfaces = {
        "check": render(report),
        "report": render_report_text(report, data.entries),
        "html": " ".join(_Text(render_html(report, data.entries)).parts),
        "status": status.render_text(data),
    }
    leaks = {name: english_in(text, allowed) for name, text in surfaces.items()}
    assert leaks == {name: [] for name in surfaces}


def test_known_certificate_roles_are_translated_and_card_labels_stay() -> None:
    from tray.card.roles import role_label

    assert role_label("Signature certificate") == "簽章憑證"
    assert role_label("encryption certificate") == "加密憑證"
    assert role_label("My Company Login") == "My Company Login"
    report = run_check(SimBackend(build("default", NOW)), FixedClock(NOW))
    labels = [c.label for r in report.readers for c in r.certificates]
    assert "簽章憑證" in labels and "加密憑證" in labels


def test_every_code_has_words_in_both_languages() -> None:
    from tray.model import Code
    from tray.present.codewords import WORDS, code_words

    assert set(WORDS) == set(Code) - {Code.OTHER}
    chinese = {code: code_words(code) for code in WORDS}
    set_language("en")
    english = {code: code_words(code) for code in WORDS}
    assert all(chinese[c] != english[c] for c in WORDS if c is not Code.OK)
    assert all("_" not in words for words in english.values())
    assert code_words(Code.OTHER, "from_the_future") == "from_the_future"


def test_argparse_speaks_chinese_and_wraps_by_display_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    from tray.cli import main
    from tray.present.argparse_words import cells

    with pytest.raises(SystemExit) as stop:
        main(["--lang", "zh_TW", "check", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("用法：cardwatch check")
    assert "顯示這段說明後結束" in out and "show this help" not in out and "options" not in out
    width = max(cells(line) for line in out.splitlines())
    assert width <= 80, out
    # argparse's own error messages too
    with pytest.raises(SystemExit) as stop:
        main(["--lang", "zh_TW", "check", "--reader"])
    assert stop.value.code == 3
    assert "需要一個參數" in capsys.readouterr().err
