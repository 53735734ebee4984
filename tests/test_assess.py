"""The one verdict (tray/check/assess.py): each row of the rule table, and the headlines."""

from __future__ import annotations

from datetime import datetime, timedelta

from helpers import FixedClock, item

from tray.check.assess import RULES, assess, matching_rule
from tray.check.run import CheckOptions, run_check
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.i18n import set_language
from tray.model import Cause, CheckReport, ClockMeasurement, Health, ItemId, Status
from tray.net import NetworkChecks


class Probe:
    """A clock probe telling a fixed offset (true time minus this computer's clock)."""

    def __init__(self, offset: float, now: datetime) -> None:
        self.offset = offset
        self.now = now

    def measure(self) -> ClockMeasurement:
        return ClockMeasurement(self.offset, "sntp", "127.0.0.1", self.now)


def check(name: str, offset: float | None) -> CheckReport:
    """Scenario ``name`` checked; ``offset`` None: the clock is not measured."""
    set_language("en")
    clock = FixedClock()
    network = None
    if offset is not None:
        network = NetworkChecks(enabled=True, clock=Probe(offset, clock.now()))
    backend = SimBackend(scenarios.build(name, clock.now()))
    return run_check(backend, clock, CheckOptions(network=network))


def test_the_rule_table_is_applied_in_its_written_order() -> None:
    assert [r.name for r in RULES] == [
        "clock_flips_validity",
        "measured_right_not_yet_valid",
        "unmeasured_not_yet_valid",
    ]


def test_not_yet_valid_with_a_measured_right_clock_is_the_certificates_problem() -> None:
    report = check("not-yet-valid", 0.2)
    valid = item(report.readers[0], ItemId.VALID_FROM)
    assert matching_rule(valid, "measured_right").name == "measured_right_not_yet_valid"
    assert (valid.status, valid.cause, valid.code) == (
        Status.FAIL,
        Cause.CERTIFICATE,
        "not_yet_valid",
    )
    assert "this computer's clock is right" in valid.summary
    assert "Ask the issuer" in valid.advice and "time zone" not in valid.advice
    verdict = assess(report)
    assert verdict.health is Health.CRITICAL
    assert verdict.headline == "Not yet valid — ask the issuer"
    assert verdict.clock is None
    assert "clock" not in verdict.advice.replace("clock is right", "")


def test_not_yet_valid_with_an_unmeasured_clock_stays_probably_the_clock() -> None:
    report = check("not-yet-valid", None)
    valid = item(report.readers[0], ItemId.VALID_FROM)
    assert matching_rule(valid, "unmeasured").name == "unmeasured_not_yet_valid"
    assert valid.cause is Cause.CLOCK and "computer's date is wrong" in valid.advice
    # Offline, item 10 says the clock is probably behind: one finding, a likelihood.
    verdict = assess(report)
    assert verdict.headline == "Clock probably behind — check the date and time"
    assert verdict.clock is not None and valid in verdict.clock.folded


def test_not_yet_valid_with_a_measured_wrong_clock_is_the_clocks_finding() -> None:
    # The clock is 4 days slow: by the true time the certificate is valid (the verdict flips).
    report = check("not-yet-valid", 4 * 86400.0)
    assert report.clock is not None and report.clock.code == "clock_flips_validity"
    valid = item(report.readers[0], ItemId.VALID_FROM)
    assert matching_rule(valid, "measured_wrong").name == "clock_flips_validity"
    verdict = assess(report)
    # One finding, one first step: the clock's, with item 8 folded into it.
    assert [f.item.item for f in verdict.findings] == [ItemId.CLOCK]
    assert verdict.worst is verdict.clock
    assert verdict.clock is not None and valid in verdict.clock.folded
    assert verdict.headline == "Clock 4 days 0 h behind — set the time"
    assert verdict.advice == report.clock.advice
    (card,) = verdict.cards
    assert card.headline == verdict.headline and card.health is Health.CRITICAL


def test_a_clock_hours_off_with_healthy_cards_is_one_clock_finding() -> None:
    report = check("default", -8 * 3600.0)
    verdict = assess(report)
    assert verdict.health is Health.CRITICAL
    assert [f.item.item for f in verdict.findings] == [ItemId.CLOCK]
    assert verdict.headline == "Clock 8 h 0 min ahead — fix the time zone"
    assert [c.headline for c in verdict.cards] == ["OK, valid 412 days", "OK, valid 800 days"]


def test_headlines_say_what_is_wrong_and_what_to_do() -> None:
    expected = {
        "expiring": "Expires in 21 days — renew",
        "expired": "Expired — renew the certificate",
        "pin-final-try": "One PIN try left — do not guess",
        "pin-locked": "PIN locked — have it unlocked",
        "mute": "Does not answer — reinsert the card",
        "default": "Every card checked is fine. Nothing to do.",
    }
    for name, headline in expected.items():
        assert assess(check(name, 0.2)).headline == headline, name


def test_revoked_headline() -> None:
    set_language("en")
    clock = FixedClock()
    backend = SimBackend(scenarios.build("revoked", clock.now()))
    network = scenarios.network("revoked", clock.now())
    report = run_check(backend, clock, CheckOptions(network=network))
    verdict = assess(report)
    assert verdict.headline == "Revoked — get a new card"
    assert verdict.cards[0].headline == "Revoked — get a new card"


def test_assessment_agrees_with_the_report_health_for_every_scenario() -> None:
    for name in scenarios.SCENARIOS:
        clock = FixedClock()
        backend = SimBackend(scenarios.build(name, clock.now()))
        network = scenarios.network(name, clock.now() + timedelta(0))
        report = run_check(backend, clock, CheckOptions(network=network))
        verdict = assess(report)
        assert verdict.health is report.health, name
        assert (verdict.worst is None) == (verdict.health in (Health.OK, Health.UNKNOWN)), name
