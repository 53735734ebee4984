"""The HTML report and ``cardwatch report``: what it holds, in both languages, escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from helpers import FixedClock

from tray.check import advice
from tray.check.run import CheckOptions, run_check
from tray.cli import main
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo import certs
from tray.demo.backend import SimBackend
from tray.demo.cards import MoicaGen1Card
from tray.demo.scenarios import DEMO_CARD_NUMBER, READER_0, READER_1, build, network
from tray.i18n import _, set_language
from tray.model import CheckReport, ItemId, Status, entry_from_report
from tray.present.report import report_dir, report_name, write_report
from tray.present.report_html import render_html
from tray.present.report_text import render_report_text
from tray.store.files import demo_data_dir
from tray.store.history import History, history_path

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
HOSTILE = '<script>document.title="pwned"</script>"onload=x &'


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def check(scenario: str) -> CheckReport:
    backend = SimBackend(build(scenario, NOW))
    return run_check(backend, FixedClock(NOW), CheckOptions(network=network(scenario, NOW)))


def hostile_report() -> CheckReport:
    """A MOICA card whose certificate subject, issuer and label are markup."""
    ca_cert, ca_key = certs.make_ca(
        certs.dn(("C", "TW"), ("O", "Issuer"), ("CN", HOSTILE)),
        NOW - timedelta(days=900),
        NOW + timedelta(days=3000),
    )
    person = certs.make_cert(
        certs.dn(("C", "TW"), ("CN", HOSTILE), ("serialNumber", "0000000112345678")),
        ca_cert,
        ca_key,
        NOW - timedelta(days=100),
        NOW + timedelta(days=20),
    )
    card = MoicaGen1Card(
        [
            (person.public_bytes(Encoding.DER), "Label " + HOSTILE, False),
            (ca_cert.public_bytes(Encoding.DER), "CA certificate", True),
        ],
        DEMO_CARD_NUMBER,
    )
    return run_check(SimBackend({READER_0: card}), FixedClock(NOW), CheckOptions())


class Page(HTMLParser):
    """The parts of the report a test looks at."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.items: list[tuple[int, str]] = []
        self.tags: list[str] = []
        self.classes: list[str] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        self.classes += (values.get("class") or "").split()
        if tag == "li" and "data-item" in values:
            self.items.append((int(values["data-item"] or 0), values["data-status"] or ""))
        for name, _value in attrs:
            assert not name.startswith("on"), f"an event handler attribute: {name}"

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("scenario", ["default", "expiring", "expired", "pin-final-try", "mute"])
@pytest.mark.parametrize("language", ["en", "zh_TW"])
def test_every_numbered_item_appears_with_its_status(scenario: str, language: str) -> None:
    set_language(language)
    report = check(scenario)
    page = Page(render_html(report))
    expected = [(int(report.service.item), report.service.status.value)]
    if report.clock is not None:
        expected.append((int(report.clock.item), report.clock.status.value))
    for reader in report.readers:
        expected += [(int(i.item), i.status.value) for i in reader.items]
    assert page.items == expected
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert page.tags.count("style") == 1  # inline CSS only
    for reader in report.readers:
        for item in reader.items:
            assert flat(item.summary) in page.words


def test_certificates_show_subject_issuer_serial_validity_days_and_key_usage() -> None:
    report = check("expiring")
    page = Page(render_html(report))
    for label in ("Subject", "Issuer", "Serial number", "Valid", "Days left", "Key usage"):
        assert label in page.words
    for cert in report.readers[0].certificates:
        assert cert.serial in page.words
        assert flat(cert.subject) in page.words
        assert cert.not_after.strftime("%Y-%m-%d") in page.words
    assert "21 days left" in page.words
    assert "digital signature" in page.words
    assert "WARNING" in page.words and "What to do first:" in page.words


def test_serial_and_card_number_side_by_side_with_why_they_differ() -> None:
    report = check("default")
    page = Page(render_html(report))
    assert "note-serial_vs_card_number" in page.classes
    assert DEMO_CARD_NUMBER in page.words
    assert "cannot be unified" in page.words
    set_language("zh_TW")
    page = Page(render_html(check("default")))
    assert "憑證序號與 IC 卡卡號" in page.words and "無法統一" in page.words
    # No certificate read: nothing to compare.
    assert render_html(check("mute")).count("note-serial_vs_card_number") == 0


def without_support_block(html: str) -> str:
    """The page without its "Copy for support" block (the plain text of the whole check)."""
    return re.sub(r'<section class="support".*?</section>', "", html, flags=re.S)


def test_a_mute_card_gets_chip_orientation_and_card_care_advice_once() -> None:
    html = render_html(check("mute"))
    page = Page(without_support_block(html))
    # The first step is the chip-orientation advice; the FAQ box would only repeat it.
    assert page.words.count(flat(advice.mute_card())) == 1
    assert "chip facing" in page.words and "demagnetised" in page.words
    assert "note-chip_orientation" not in page.classes
    set_language("zh_TW")
    page = Page(without_support_block(render_html(check("mute"))))
    assert page.words.count(flat(advice.mute_card())) == 1
    assert "晶片" in page.words and "消磁" in page.words


def test_a_card_error_gets_the_card_care_advice_and_a_healthy_card_does_not() -> None:
    page = Page(render_html(check("error-card")))
    assert "note-card_care" in page.classes
    assert flat(advice.card_care()) in page.words
    assert "note-card_care" not in Page(render_html(check("default"))).classes


def test_pin_status_is_shown() -> None:
    page = Page(render_html(check("pin-final-try")))
    assert "PIN status" in page.words
    assert "one try left before the PIN locks" in page.words


def test_history_rows_list_the_latest_checks_of_the_readers_shown() -> None:
    report = check("default")
    entries = [
        entry_from_report(check("expired").readers[0], NOW - timedelta(days=2)),
        entry_from_report(report.readers[0], NOW - timedelta(days=1)),
        entry_from_report(report.readers[1], NOW),
    ]
    text = render_html(report, entries)
    page = Page(text)
    assert text.count('class="history-row"') == 3
    assert "Last checks" in page.words and "expired 30 days ago" in page.words
    # Newest first.
    assert text.index("2026-12-01 12:00 (UTC)</td>") < text.index("2026-11-29 12:00 (UTC)</td>")
    # A report of reader 1 alone lists only reader 1's checks.
    one = render_html(CheckReport(NOW, report.service, (report.readers[1],)), entries)
    assert one.count('class="history-row"') == 1


def test_the_report_is_in_traditional_chinese() -> None:
    set_language("zh_TW")
    report = check("expiring")
    text = render_html(report)
    assert '<html lang="zh-Hant-TW">' in text
    page = Page(text)
    for words in (
        "卡片健康報告",
        "警告",
        "請先做",
        "檢查項目",
        "憑證",
        "序號",
        "剩 21 天",
        "這台電腦",
    ):
        assert words in page.words
    plain = render_report_text(report)
    assert plain.startswith("警告：")
    assert "請先做：" in plain and "憑證序號與 IC 卡卡號" in plain


def test_hostile_certificate_fields_are_escaped_in_html_and_kept_in_text() -> None:
    report = hostile_report()
    cert = report.readers[0].certificates[0]
    assert cert.common_name == HOSTILE and HOSTILE in cert.label
    assert "\\<script\\>" in cert.subject and "\\<script\\>" in cert.issuer  # RFC 4514 form
    text = render_html(report)
    assert "<script" not in text
    assert '"onload' not in text
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;&quot;onload" in text
    assert "onload=x &amp;" in text
    page = Page(text)  # also asserts no on* attribute exists
    assert HOSTILE in page.words  # shown to the user as the text it is
    assert "script" not in page.tags
    assert HOSTILE in render_report_text(report)


def test_write_report_writes_one_file_per_reader_and_one_for_all(tmp_path: Path) -> None:
    report = check("default")
    state = DaemonState(service_up=True, updated_at=NOW)
    for reader in report.readers:
        state = state.with_reader(ReaderState(reader.reader, Phase.CHECKED, reader, NOW))
    entries = [entry_from_report(r, NOW) for r in report.readers]
    out = tmp_path / "reports"
    every = write_report(state, out, history=entries)
    first = write_report(state, out, reader=READER_0, history=entries)
    second = write_report(state, out, reader=READER_1, history=entries)
    assert every.name == "report.html"
    assert len({every, first, second}) == 3
    assert first.name.startswith("report-cardwatch-demo-reader-0-") and first.suffix == ".html"
    assert report_name("Reader 0") != report_name("reader-0")
    assert READER_1 not in first.read_text(encoding="utf-8")
    assert READER_0 in every.read_text(encoding="utf-8")
    assert READER_1 in every.read_text(encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in (every, first, second)
    )  # no temporary file left behind


def test_write_report_raises_storage_error_on_disk_problems(tmp_path: Path) -> None:
    from tray.store.files import StorageError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    state = DaemonState(service_up=True, updated_at=NOW)
    with pytest.raises(StorageError):
        write_report(state, blocker / "reports")


# -- cardwatch report ---------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_demo_expiring_prints_the_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "report", "--demo", "expiring")
    assert code == 1 and err == ""
    assert out.startswith("WARNING: Expires in 21 days — renew\n")
    assert "What to do first: Renew the certificate" in out
    assert " 9 WARN  Certificate 'Signature certificate'" in out
    assert "Certificate serial number and card number" in out
    code, out, _err = run(capsys, "--lang", "zh_TW", "report", "--demo", "expiring")
    assert code == 1 and out.startswith("警告：")


def test_report_demo_html_writes_the_file_and_prints_its_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "report", "--demo", "expired", "--html")
    assert code == 2 and err == ""
    path = Path(out.strip())
    # A demo keeps to its own data directory.
    assert path.parent == demo_data_dir() / "reports" and path.name == "report-demo-expired.html"
    assert path.parent != report_dir()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "CRITICAL" in text


def test_report_without_daemon_data_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "report")
    assert code == 3 and out == ""
    assert "cardwatch run" in err and "--demo" in err
    code, _out, _err = run(capsys, "report", "--demo", "no-such-scenario")
    assert code == 3


def save(*reports: CheckReport) -> DaemonState:
    state = DaemonState(service_up=True, updated_at=NOW)
    with History(history_path(), FixedClock(NOW)) as history:
        for n, report in enumerate(reports):
            for reader in report.readers:
                state = state.with_reader(ReaderState(reader.reader, Phase.CHECKED, reader, NOW))
                history.record(reader, NOW + timedelta(seconds=n))
        history.save_state(state)
        assert history.flush()
    return state


def test_report_reads_the_saved_state_and_history(capsys: pytest.CaptureFixture[str]) -> None:
    save(check("default"), check("expired"))
    code, out, err = run(capsys, "report")
    assert code == 2, err
    assert "Reader: Cardwatch Demo Reader 1" in out
    assert "Last checks" in out and out.count("Cardwatch Demo Reader 0  TP03170000012345") == 2
    code, out, _err = run(capsys, "report", "--reader", "reader 1", "--html")
    assert code == 0
    path = Path(out.strip())
    # Beside the daemon's report files, never over them.
    assert path.name == "cli-" + report_name(READER_1)
    page = Page(path.read_text(encoding="utf-8"))
    assert READER_0 not in page.words and "PIV" in page.words
    code, _out, err = run(capsys, "report", "--reader", "nothing like it")
    assert code == 3 and "nothing like it" in err


def test_a_corrupt_state_file_is_named_and_the_latest_reports_still_serve(
    capsys: pytest.CaptureFixture[str],
) -> None:
    save(check("expiring"))
    state_file = history_path().with_name("state.json")
    state_file.write_text("{ not json", encoding="utf-8")
    code, out, err = run(capsys, "report")
    assert "state file" in err and str(state_file) in err and "Traceback" not in err
    assert code == 1 and "21 days left" in out
    # Both files unusable: a named cause and exit code 3, never a traceback.
    history_path().write_text(json.dumps({"schema": "other"}), encoding="utf-8")
    state_file.write_text("[]", encoding="utf-8")
    code, out, err = run(capsys, "report")
    assert code == 3 and out == "" and "cardwatch run" in err and "Traceback" not in err


def test_report_html_into_an_unwritable_place_is_a_named_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reports = demo_data_dir() / "reports"
    reports.parent.mkdir(parents=True, exist_ok=True)
    reports.write_text("a file where the directory should be")
    code, out, err = run(capsys, "report", "--demo", "default", "--html")
    assert code == 3 and out == ""
    assert "cannot write the report" in err and str(reports) in err


def test_items_of_a_missing_reader_keep_their_numbers() -> None:
    report = check("no-card")
    page = Page(render_html(report))
    assert (int(ItemId.CARD_PRESENT), Status.SKIP.value) in page.items
    assert "UNKNOWN" in page.words and "No card in the reader" in page.words


@pytest.mark.parametrize(
    ("scenario", "note"),
    [
        ("expiring", "Certificate serial number and card number"),
        ("mute", "Is the chip facing the right way?"),
        ("error-card", "Card care"),
        ("pin-locked", "PIN status"),
    ],
)
@pytest.mark.parametrize("language", ["en", "zh_TW"])
def test_the_text_form_holds_the_items_notes_and_history(
    scenario: str, note: str, language: str
) -> None:
    set_language(language)
    report = check(scenario)
    entries = [entry_from_report(report.readers[0], NOW - timedelta(hours=1))]
    text = render_report_text(report, entries)
    for reader in report.readers:
        for item in reader.items:
            assert item.summary in text
    assert _(note) in text
    assert _("Last checks") in text and "2026-12-01 11:00 (UTC)" in text


def test_a_demo_report_leaves_the_real_data_alone(capsys: pytest.CaptureFixture[str]) -> None:
    save(check("default"))
    real = sorted(p.name for p in report_dir().parent.iterdir())
    code, out, _err = run(capsys, "report", "--demo", "expired", "--html")
    assert code == 2 and Path(out.strip()).is_relative_to(demo_data_dir())
    # Only the demo's own directory is new; nothing of the real data changed.
    assert sorted(p.name for p in report_dir().parent.iterdir() if p.name != "demo") == real
    code, out, _err = run(capsys, "report")
    assert code == 0 and "expired" not in out.lower().split("last checks")[0]


def test_subjects_name_their_attributes_in_words() -> None:
    cert = next(c for c in check("default").readers[0].certificates if not c.is_ca)
    assert cert.subject.startswith("serialNumber=0000000112345678,CN=")
    assert "2.5.4." not in render_html(check("default"))


def test_the_first_step_links_to_the_place_to_act_only_where_the_issuer_acts() -> None:
    page = render_html(check("expiring"))
    assert page.count("<a ") == 1 and '<a class="act" href="https://moica.nat.gov.tw"' in page
    assert page.index('class="act"') < page.index('id="reader-0"')
    for scenario in ("default", "mute", "pin-final-try", "clock-skew"):
        assert "<a " not in render_html(check(scenario)), scenario


def test_the_moica_box_is_only_for_moica_cards() -> None:
    assert "note-serial_vs_card_number" not in render_html(check("pin-final-try"))
    default = render_html(check("default"))
    assert default.count("note-serial_vs_card_number") == 1
    assert "note-serial_vs_card_number" not in default.split('id="reader-1"')[1]


@pytest.mark.parametrize("scenario", ["default", "expiring", "expired", "pin-final-try", "mute"])
def test_each_advice_is_said_once(scenario: str) -> None:
    report = check(scenario)
    page = Page(without_support_block(render_html(report)))
    for reader in report.readers:
        for item in reader.items:
            if item.advice and item.status.rank >= 2:
                assert page.words.count(flat(item.advice)) == 1, item.code


def test_a_healthy_card_has_no_diagnosis_box_and_folds_its_history() -> None:
    report = check("default")
    history = [entry_from_report(r, NOW) for r in report.readers]
    text = render_html(report, history)
    assert 'id="diagnosis"' not in text
    assert '<details class="history" id="history">' in text
    assert "support" in text and "<textarea" in text and "readonly" in text


def test_only_a_site_cardwatch_knows_becomes_a_link() -> None:
    from dataclasses import replace as changed

    report = check("expiring")
    forged = changed(report.readers[0], issuer_service="https://evil.example/renew")
    page = render_html(changed(report, readers=(forged,)))
    assert "<a " not in page and "evil.example" not in page.split("<textarea")[0]
