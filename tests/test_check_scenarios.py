"""The check over in-process virtual cards: every scenario gives the right items and exit code."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from helpers import FixedClock, item, statuses

from tray.card.backend import Slot
from tray.check.run import CheckOptions, run_check
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.demo.cards import PIV_GUID
from tray.errors import CardRemoved, ReaderError, ServiceUnavailable
from tray.model import (
    CardCertificate,
    CardReading,
    Cause,
    Health,
    ItemId,
    PinState,
    PinStatus,
    Status,
)
from tray.present.check_json import SCHEMA, reader_to_dict, to_dict
from tray.present.status import reader_from_dict

P, W, F, S = Status.PASS, Status.WARN, Status.FAIL, Status.SKIP


def check(name: str, clock: FixedClock | None = None, **options: object):  # type: ignore[no-untyped-def]
    clock = clock or FixedClock()
    backend = SimBackend(scenarios.build(name, clock.now()))
    return run_check(backend, clock, CheckOptions(**options))  # type: ignore[arg-type]


def test_healthy_moica_and_piv_cards_pass_with_exit_code_0() -> None:
    report = check("default")
    assert report.health is Health.OK
    moica, piv = report.readers
    assert statuses(moica) == {2: P, 3: P, 4: P, 5: P, 6: P, 7: S, 8: P, 9: P}
    assert moica.card_kind == "moica"
    assert moica.generation == "1"
    assert moica.card_number == scenarios.DEMO_CARD_NUMBER
    assert len(moica.certificates) == 4
    assert sum(c.is_ca for c in moica.certificates) == 2
    assert item(moica, ItemId.PIN).code == "pin_not_readable"
    assert statuses(piv) == {2: P, 3: P, 4: P, 5: P, 6: P, 7: P, 8: P, 9: P}
    assert piv.pins[0].tries_left == 3
    assert piv.card_number is not None
    assert piv.card_number.replace("-", "") == PIV_GUID.hex()


def test_certificate_expiring_in_21_days_warns_with_renewal_advice() -> None:
    report = check("expiring")
    (reader,) = report.readers
    expiry = item(reader, ItemId.EXPIRY)
    assert expiry.status is W
    assert expiry.code == "expires_urgent"
    assert "moica.nat.gov.tw" in expiry.advice
    assert report.health is Health.WARNING


def test_expired_certificate_is_critical() -> None:
    report = check("expired")
    expiry = item(report.readers[0], ItemId.EXPIRY)
    assert (expiry.status, expiry.code, expiry.cause) == (F, "expired", Cause.CERTIFICATE)
    assert report.health is Health.CRITICAL


def test_expiry_thresholds_are_options() -> None:
    report = check("default", thresholds=scenarios_thresholds(warn=500, urgent=450, critical=420))
    assert item(report.readers[0], ItemId.EXPIRY).status is F


def scenarios_thresholds(**days: int):  # type: ignore[no-untyped-def]
    from tray.check.validity import Thresholds

    return Thresholds(
        warn_days=days["warn"], urgent_days=days["urgent"], critical_days=days["critical"]
    )


def test_not_yet_valid_names_the_clock_as_cause() -> None:
    report = check("not-yet-valid")
    valid = item(report.readers[0], ItemId.VALID_FROM)
    assert (valid.status, valid.cause, valid.code) == (F, Cause.CLOCK, "not_yet_valid")
    assert "date" in valid.advice


def test_clock_before_release_date_is_certainly_wrong() -> None:
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    backend = SimBackend(scenarios.build("default", now))
    report = run_check(backend, FixedClock(now - timedelta(days=6 * 365)))
    valid = item(report.readers[0], ItemId.VALID_FROM)
    assert (valid.status, valid.code, valid.cause) == (F, "clock_behind", Cause.CLOCK)


def test_clock_before_release_date_warns_even_when_certificates_look_valid() -> None:
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    backend = SimBackend(scenarios.build("default", now))
    report = run_check(backend, FixedClock(now - timedelta(days=365)))
    valid = item(report.readers[0], ItemId.VALID_FROM)
    assert (valid.status, valid.code, valid.cause) == (W, "clock_before_release", Cause.CLOCK)


def test_certificate_starting_within_a_day_is_a_warning_about_the_clock() -> None:
    now = datetime.now(timezone.utc) + timedelta(days=2000)  # keep clocks after the release
    backend = SimBackend(scenarios.build("default", now))
    report = run_check(backend, FixedClock(now))
    start = min(c.not_before for c in report.readers[0].certificates if not c.is_ca)
    report = run_check(backend, FixedClock(start - timedelta(hours=5)))
    valid = item(report.readers[0], ItemId.VALID_FROM)
    assert (valid.status, valid.code, valid.cause) == (W, "not_yet_valid_soon", Cause.CLOCK)
    report = run_check(backend, FixedClock(start - timedelta(days=3)))
    assert item(report.readers[0], ItemId.VALID_FROM).code == "not_yet_valid"


@pytest.mark.parametrize(
    ("scenario", "state", "status", "health"),
    [
        ("pin-final-try", PinState.FINAL_TRY, W, Health.WARNING),
        ("pin-locked", PinState.LOCKED, F, Health.CRITICAL),
    ],
)
def test_piv_pin_tries_are_read_without_a_pin(
    scenario: str, state: PinState, status: Status, health: Health
) -> None:
    report = check(scenario)
    reader = report.readers[0]
    assert reader.pins[0].state is state
    assert item(reader, ItemId.PIN).status is status
    assert report.health is health


def test_openpgp_card_reports_both_pin_counters_and_certificate() -> None:
    reader = check("openpgp").readers[0]
    assert statuses(reader)[7] is P
    assert [p.tries_left for p in reader.pins] == [3, 3]
    assert len(reader.certificates) == 1
    assert reader.card_kind == "openpgp"


def test_second_generation_moica_card_is_found_by_aid() -> None:
    reader = check("gen2").readers[0]
    assert (reader.card_kind, reader.generation) == ("moica", "2")
    assert reader.card_number == scenarios.DEMO_CARD_NUMBER
    assert statuses(reader)[9] is P


def test_mute_card_says_check_the_chip_orientation() -> None:
    report = check("mute")
    present = item(report.readers[0], ItemId.CARD_PRESENT)
    assert (present.status, present.cause, present.code) == (F, Cause.CARD, "card_mute")
    assert "chip" in present.advice
    assert report.health is Health.CRITICAL


def test_card_answering_6f00_to_everything_is_a_card_fault() -> None:
    report = check("error-card")
    app = item(report.readers[0], ItemId.APPLICATION)
    assert (app.status, app.cause, app.code) == (F, Cause.CARD, "card_error")
    assert "6F00" in app.summary


def test_garbage_certificate_data_is_a_card_fault_not_a_crash() -> None:
    for name in ("bad-der", "garbage-piv"):
        report = check(name)
        certs = item(report.readers[0], ItemId.CERTIFICATES)
        assert (certs.status, certs.cause) == (F, Cause.CARD), name


def test_unknown_card_is_identified_by_atr_only_and_is_unknown() -> None:
    report = check("unknown-card")
    reader = report.readers[0]
    assert statuses(reader)[5] is S
    assert report.health is Health.UNKNOWN


def test_empty_reader_is_unknown_not_an_alarm() -> None:
    report = check("no-card")
    assert statuses(report.readers[0]) == {2: P, 3: S}
    assert report.health is Health.UNKNOWN


class DownBackend:
    def slots(self) -> list[Slot]:
        raise ServiceUnavailable("Service not available. (0x8010001D)")

    def session(self, reader: str):  # type: ignore[no-untyped-def]
        raise AssertionError("no session without a service")


def test_service_down_is_critical_with_advice() -> None:
    report = run_check(DownBackend(), FixedClock())  # type: ignore[arg-type]
    assert report.service.status is F
    assert report.service.cause is Cause.SERVICE
    assert report.service.code in {"service_not_running", "service_not_installed"}
    assert report.health is Health.CRITICAL


def test_no_reader_is_critical() -> None:
    report = run_check(SimBackend({}), FixedClock())
    assert report.reader_item is not None
    assert report.reader_item.code == "no_reader"
    assert report.health is Health.CRITICAL


def test_reader_filter_selects_by_substring_and_names_the_alternatives() -> None:
    report = check("default", reader="reader 1")
    assert [r.reader for r in report.readers] == ["Cardwatch Demo Reader 1"]
    report = check("default", reader="nonesuch")
    assert (
        report.reader_item is not None and "Cardwatch Demo Reader 0" in report.reader_item.summary
    )


def test_json_schema_is_stable_and_complete() -> None:
    report = check("expiring")
    data = json.loads(json.dumps(to_dict(report)))
    assert data["schema"] == SCHEMA
    assert data["status"] == "warning" and data["exit_code"] == 1
    reader = data["readers"][0]
    assert set(reader) == {
        "reader",
        "status",
        "health",
        "atr",
        "card",
        "items",
        "certificates",
        "pins",
        "apdus",
        "duration_ms",
        "pkcs11",
    }
    assert reader["pkcs11"] is None  # read by a built-in profile: no module was even listed
    assert [i["number"] for i in reader["items"]] == list(range(2, 10))
    assert set(reader["items"][0]) == {
        "number",
        "key",
        "status",
        "summary",
        "advice",
        "cause",
        "code",
    }
    cert = reader["certificates"][0]
    assert cert["days_left"] == 21
    assert cert["not_after"].endswith("Z")
    assert reader["card"]["number"] == scenarios.DEMO_CARD_NUMBER


class FlakyBackend(SimBackend):
    """Lists a card, then fails while connecting to it."""

    def __init__(self, error: Exception) -> None:
        super().__init__(scenarios.build("default", datetime.now(timezone.utc)))
        self.error = error

    def session(self, reader: str):  # type: ignore[no-untyped-def]
        raise self.error


@pytest.mark.parametrize(
    ("error", "cause", "code"),
    [
        (ServiceUnavailable("gone"), Cause.SERVICE, None),
        (ReaderError("r", "protocol mismatch"), Cause.READER, "transmission_failed"),
        (CardRemoved("pulled"), Cause.CARD, "card_removed"),
    ],
)
def test_failure_while_connecting_belongs_to_item_3(
    error: Exception, cause: Cause, code: str | None
) -> None:
    report = run_check(FlakyBackend(error), FixedClock())
    reader = report.readers[0]
    present = item(reader, ItemId.CARD_PRESENT)
    assert (present.status, present.cause) == (F, cause)
    assert code is None or present.code == code
    assert [int(i.item) for i in reader.items] == list(range(2, 10))
    assert all(i.status is S for i in reader.items if i.item > ItemId.CARD_PRESENT)


class StubMiddleware:
    """Stands in for a PKCS#11 module (the real one is proven on the bench in test_pkcs11)."""

    name = "stub-pkcs11.so"
    active = True

    def __init__(self) -> None:
        self.asked: list[str] = []

    def read(self, reader: str) -> CardReading | None:
        self.asked.append(reader)
        now = datetime.now(timezone.utc)
        der = scenarios.piv_certs(now, 100)[0x9A]
        return CardReading(
            kind="pkcs11",
            card_type="Token (Vendor)",
            application="PKCS#11 module stub-pkcs11.so",
            card_number="0042",
            certificates=(CardCertificate(der, "Auth", "01"),),
            pins=(PinStatus("User PIN", PinState.FINAL_TRY, 1, "PKCS#11 token flags"),),
        )


def test_middleware_reads_cards_no_profile_knows_and_only_those() -> None:
    stub = StubMiddleware()
    backend = SimBackend(scenarios.build("unknown-card", datetime.now(timezone.utc)))
    report = run_check(backend, FixedClock(), middleware=[stub])
    reader = report.readers[0]
    assert stub.asked == [reader.reader]
    assert reader.card_kind == "pkcs11"
    assert statuses(reader) == {2: P, 3: P, 4: P, 5: P, 6: P, 7: W, 8: P, 9: P}
    assert report.health is Health.WARNING

    stub = StubMiddleware()
    run_check(
        SimBackend(scenarios.build("default", datetime.now(timezone.utc))),
        FixedClock(),
        middleware=[stub],
    )
    assert stub.asked == []


def test_a_module_not_asked_is_never_read_and_the_json_says_so() -> None:
    stub = StubMiddleware()
    stub.active = False
    backend = SimBackend(scenarios.build("unknown-card", datetime.now(timezone.utc)))
    reader = run_check(backend, FixedClock(), middleware=[stub]).readers[0]
    assert stub.asked == []
    assert (reader.pkcs11_modules, reader.pkcs11_skipped) == ((), ("stub-pkcs11.so",))
    pkcs11 = json.loads(json.dumps(reader_to_dict(reader)))["pkcs11"]
    assert pkcs11["modules"] == [] and pkcs11["not_asked"] == ["stub-pkcs11.so"]
    assert pkcs11["guarded"] is False
    assert reader_from_dict(reader_to_dict(reader)) == reader


def test_an_asked_module_is_timed_apart_and_said_to_pass_no_guard() -> None:
    stub = StubMiddleware()
    backend = SimBackend(scenarios.build("unknown-card", datetime.now(timezone.utc)))
    reader = run_check(backend, FixedClock(), middleware=[stub]).readers[0]
    assert reader.pkcs11_modules == ("stub-pkcs11.so",)
    pkcs11 = json.loads(json.dumps(reader_to_dict(reader)))["pkcs11"]
    assert pkcs11["modules"] == ["stub-pkcs11.so"] and pkcs11["guarded"] is False
    assert "not counted" in pkcs11["note"]
    assert reader_from_dict(reader_to_dict(reader)).pkcs11_modules == ("stub-pkcs11.so",)


class BuggyBackend(SimBackend):
    """The first reader trips over an unexpected error; the second is fine."""

    def session(self, reader: str):  # type: ignore[no-untyped-def]
        if reader.endswith("0"):
            raise RuntimeError("unexpected")
        return super().session(reader)


def test_a_bug_on_one_reader_leaves_the_others_checked() -> None:
    backend = BuggyBackend(scenarios.build("default", datetime.now(timezone.utc)))
    report = run_check(backend, FixedClock())
    broken, piv = report.readers
    assert [i.code for i in broken.items] == ["internal_error"]
    assert broken.health is Health.UNKNOWN
    assert piv.health is Health.OK
    assert report.health is Health.OK
