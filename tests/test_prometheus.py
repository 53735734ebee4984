"""The node_exporter textfile: valid exposition format (checked by prometheus_client's parser)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import FixedClock
from prometheus_client.parser import text_string_to_metric_families
from test_daemon import Idle, insert
from test_daemon_bench import Recorder, checked

from tray.app import demo_parts
from tray.check.run import run_check
from tray.clock import SystemClock
from tray.config import read_config as load_config
from tray.daemon.core import Daemon, DaemonOptions
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo.backend import SimBackend
from tray.demo.scenarios import READER_0, READER_1, build
from tray.model import CheckItem, ItemId, ReaderReport, Status
from tray.present.prometheus import TextfileWriter, card_label, escape_label, render

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)

Samples = dict[str, list[tuple[dict[str, str], float]]]


def reports(scenario: str) -> tuple[ReaderReport, ...]:
    return run_check(SimBackend(build(scenario, NOW)), FixedClock(NOW)).readers


def state_of(*readers: ReaderReport) -> DaemonState:
    state = DaemonState(service_up=True, updated_at=NOW)
    for report in readers:
        state = state.with_reader(ReaderState(report.reader, Phase.CHECKED, report, since=NOW))
    return state


def parse(text: str) -> Samples:
    """Metric name → (labels, value) of every sample; fails on any format error."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    (found,) = [v for got, v in samples[name] if all(got.get(k) == w for k, w in labels.items())]
    return found


def test_healthy_cards_give_every_metric() -> None:
    moica, piv = reports("default")
    samples = parse(render(state_of(moica, piv), card_id="number"))
    assert value(samples, "cardwatch_up") == 1
    assert value(samples, "cardwatch_pcsc_service_up") == 1
    assert value(samples, "cardwatch_reader_card_present", reader=READER_0) == 1
    card = "TP03170000012345"
    assert value(samples, "cardwatch_check_status", reader=READER_0, card=card) == 0
    assert value(samples, "cardwatch_last_check_timestamp_seconds", card=card) == NOW.timestamp()
    signature = next(c for c in moica.certificates if c.label == "Signature certificate")
    labels = {"card": card, "label": signature.label, "serial": signature.serial}
    assert value(samples, "cardwatch_certificate_days_left", **labels) == 412
    assert (
        value(samples, "cardwatch_certificate_expiry_timestamp_seconds", **labels)
        == signature.not_after.timestamp()
    )
    assert value(samples, "cardwatch_pin_tries_left", reader=READER_1, label="PIV PIN") == 3
    # The MOICA card's PIN tries cannot be read without a PIN: no sample rather than a guess.
    assert [s for s in samples["cardwatch_pin_tries_left"] if s[0]["reader"] == READER_0] == []


def test_by_default_cards_and_serials_are_hashed_not_written_out() -> None:
    moica, piv = reports("default")
    text = render(state_of(moica, piv))
    samples = parse(text)
    number = "TP03170000012345"
    card = hashlib.sha256(number.encode()).hexdigest()[:12]
    assert card_label(number) == card
    assert value(samples, "cardwatch_check_status", reader=READER_0, card=card) == 0
    signature = next(c for c in moica.certificates if c.label == "Signature certificate")
    serial = hashlib.sha256(signature.serial.encode()).hexdigest()[:12]
    labels = {"card": card, "label": signature.label, "serial": serial}
    assert value(samples, "cardwatch_certificate_days_left", **labels) == 412
    # Neither card number nor any certificate serial is in the world-readable file.
    assert number not in text
    assert piv.card_number and piv.card_number not in text
    for cert in (*moica.certificates, *piv.certificates):
        assert cert.serial not in text


def test_card_id_number_in_the_config_reaches_the_textfile(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[prometheus]\ncard_id = "number"\n', encoding="utf-8")
    loaded = load_config(config)
    assert loaded.problems == ()
    assert loaded.config.prometheus.card_id == "number"
    assert load_config(tmp_path / "missing.toml").config.prometheus.card_id == "hash"
    config.write_text('[prometheus]\ncard_id = "sha1"\n', encoding="utf-8")
    bad = load_config(config)
    assert bad.config.prometheus.card_id == "hash"
    assert [p.key for p in bad.problems] == ["prometheus.card_id"]
    assert '"hash" or "number"' in bad.problems[0].message
    path = tmp_path / "cardwatch.prom"
    writer = TextfileWriter(path, card_id=loaded.config.prometheus.card_id)
    writer.on_state(state_of(*reports("default")))
    writer.close()
    assert 'card="TP03170000012345"' in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("scenario", "status"),
    [("expiring", 1), ("pin-final-try", 1), ("expired", 2), ("mute", 2), ("unknown-card", 3)],
)
def test_check_status_follows_the_card(scenario: str, status: int) -> None:
    samples = parse(render(state_of(*reports(scenario))))
    assert value(samples, "cardwatch_check_status", reader=READER_0) == status


def test_hostile_reader_and_label_names_survive_the_round_trip() -> None:
    hostile = 'Evil "Reader" \\ 0\nnext_metric{x="1"} 9 # 讀卡機'
    (piv,) = reports("pin-final-try")
    cert = replace(piv.certificates[0], label='label with "quotes"\\and\nnewline')
    pin = replace(piv.pins[0], label="PIN}\n{")
    report = replace(piv, reader=hostile, certificates=(cert,), pins=(pin,))
    samples = parse(render(state_of(report)))
    assert value(samples, "cardwatch_reader_card_present", reader=hostile) == 1
    assert value(samples, "cardwatch_certificate_days_left", reader=hostile, label=cert.label) == (
        cert.days_left
    )
    assert value(samples, "cardwatch_pin_tries_left", reader=hostile, label="PIN}\n{") == 1
    assert "next_metric" not in samples


def test_label_escaping_follows_the_exposition_format() -> None:
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_service_down_empty_and_checking_readers() -> None:
    item = CheckItem(ItemId.SERVICE, Status.FAIL, "PC/SC service not reachable")
    down = parse(render(DaemonState(service_up=False, service_item=item, updated_at=NOW)))
    assert value(down, "cardwatch_pcsc_service_up") == 0
    assert "cardwatch_check_status" not in down
    (moica,) = reports("expiring")
    state = state_of(moica).with_reader(ReaderState(READER_1))
    # A re-check shows the previous result, stamped with when that result came.
    state = state.with_reader(ReaderState(READER_0, Phase.CHECKING, moica, NOW + timedelta(1)))
    samples = parse(render(state, checked_at={READER_0: NOW}))
    assert value(samples, "cardwatch_reader_card_present", reader=READER_1) == 0
    assert value(samples, "cardwatch_check_status", reader=READER_0) == 1
    assert value(samples, "cardwatch_last_check_timestamp_seconds") == NOW.timestamp()


def test_writer_replaces_the_file_readably_and_leaves_up_0_when_it_stops(
    tmp_path: Path,
) -> None:
    path = tmp_path / "textfile" / "cardwatch.prom"
    moica, piv = reports("default")
    writer = TextfileWriter(path)
    writer.on_state(state_of(moica))
    writer.on_state(state_of(moica, piv))
    assert writer.flush()
    assert path.stat().st_mode & 0o777 == 0o644  # node_exporter runs as another user
    samples = parse(path.read_text(encoding="utf-8"))
    assert len(samples["cardwatch_check_status"]) == 2
    writer.close()
    stopped = parse(path.read_text(encoding="utf-8"))
    assert value(stopped, "cardwatch_up") == 0
    assert len(stopped["cardwatch_check_status"]) == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["cardwatch.prom"]


def test_a_running_daemon_keeps_the_textfile_current(tmp_path: Path) -> None:
    clock = SystemClock()
    _source, checker = demo_parts("pin-final-try", clock)
    daemon = Daemon(Idle(), checker, clock, DaemonOptions(settle_seconds=0.01))
    writer = TextfileWriter(tmp_path / "cardwatch.prom")
    daemon.on_state(writer.on_state)
    recorder = Recorder(daemon)
    daemon.start()
    try:
        insert(daemon)
        recorder.wait("checked", checked(READER_0))
        assert writer.flush()
        samples = parse(writer.path.read_text(encoding="utf-8"))
    finally:
        daemon.stop()
        writer.close()
    assert value(samples, "cardwatch_check_status", reader=READER_0) == 1
    assert value(samples, "cardwatch_pin_tries_left", reader=READER_0) == 1
