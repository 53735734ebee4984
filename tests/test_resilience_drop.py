"""Resilience: a card that drops the connection after k APDUs, for every k of a full check.

For each virtual card type a clean check first tells how many APDUs a full check sends (n);
then the card is inserted with ``Fault(drop_after=k)`` for every k in 0..n-1. Each time the
result must be "card removed during check" (item code ``card_removed``, cause CARD), never a
traceback, and a normal insertion afterwards must be checked fine. Every k runs through the
real pcscd + vpcd with the PC/SC adapter and ``tray.check.run``; through the daemon (in its own
process) a sample of k runs by default, every k with --long.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from bench import PcscBench
from conftest import CARD_TIMEOUT, READERS
from resilience import TALLY, DaemonProcess, ResilienceCounts, phase
from vpcd_client import VpcdCard, reader_port

from tray.check.run import CheckOptions, run_check
from tray.clock import SystemClock
from tray.demo import scenarios
from tray.demo.card import Fault, VirtualCard
from tray.model import Cause, Health, ReaderReport, Status
from tray.net import NetworkChecks
from tray.pcsc.adapter import PcscBackend

pytestmark = [pytest.mark.bench, pytest.mark.resilience]

CARDS = {
    "moica-gen1": ("default", 0),
    "moica-gen2": ("gen2", 0),
    "piv": ("default", 1),
    "openpgp": ("openpgp", 0),
}


def fresh_card(name: str) -> VirtualCard:
    scenario, index = CARDS[name]
    card = list(scenarios.build(scenario, datetime.now(timezone.utc)).values())[index]
    assert card is not None
    return card


def check(bench: PcscBench, card: VirtualCard, fault: Fault | None = None) -> ReaderReport:
    """Insert ``card`` into slot 0, check that reader once, pull the card."""
    plugged = VpcdCard(card, reader_port(0), fault=fault)
    plugged.insert()
    try:
        bench.wait_card(READERS[0], present=True, timeout=CARD_TIMEOUT)
        backend = PcscBackend()
        try:
            options = CheckOptions(reader=READERS[0], network=NetworkChecks.off())
            report = run_check(backend, SystemClock(), options)
        finally:
            backend.close()
    finally:
        plugged.remove()
        bench.wait_card(READERS[0], present=False, timeout=CARD_TIMEOUT)
    (reader,) = report.readers
    return reader


def failures(report: ReaderReport) -> list[tuple[str, Cause]]:
    return [(i.code, i.cause) for i in report.items if i.status is Status.FAIL]


def sample(n: int) -> list[int]:
    """The drop points the bounded run sends through the daemon: first, middle, last."""
    return sorted({0, n // 2, n - 1} & set(range(n)))


@pytest.fixture
def bench(pcsc_bench: PcscBench) -> PcscBench:
    pcsc_bench.ensure_running()
    return pcsc_bench


def full_count(bench: PcscBench, name: str) -> int:
    clean = check(bench, fresh_card(name))
    assert clean.health is Health.OK, failures(clean)
    assert clean.apdus > 0
    return clean.apdus


@pytest.mark.parametrize("name", list(CARDS))
def test_card_dropped_after_every_k_apdus_is_a_card_removal_through_pcscd(
    bench: PcscBench, name: str, caplog: pytest.LogCaptureFixture, counts: ResilienceCounts
) -> None:
    n = full_count(bench, name)
    caplog.set_level(logging.WARNING)
    for k in range(n):
        report = check(bench, fresh_card(name), Fault(drop_after=k))
        assert failures(report) == [("card_removed", Cause.CARD)], f"drop after {k} of {n}"
        if counts.drop_daemon_every_k:  # bounded: the daemon test checks the next insertion
            assert check(bench, fresh_card(name)).health is Health.OK, f"after drop at {k}"
    assert check(bench, fresh_card(name)).health is Health.OK
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    TALLY.add("card drop points checked through pcscd (every k of every card)", n)


@pytest.fixture
def daemon(bench: PcscBench) -> Iterator[DaemonProcess]:
    process = DaemonProcess()
    try:
        process.wait_state("both readers", lambda s: all(phase(s, r) == "empty" for r in READERS))
        yield process
    finally:
        assert process.close() == 0, "\n".join(process.stderr[-30:])
        assert not any("Traceback" in line for line in process.stderr), process.stderr[-30:]


def daemon_check(
    daemon: DaemonProcess, bench: PcscBench, card: VirtualCard, fault: Fault | None = None
) -> dict[str, object]:
    """Insert ``card`` with the daemon watching; its one report for that insertion."""
    before = len(daemon.reports)
    plugged = VpcdCard(card, reader_port(0), fault=fault)
    plugged.insert()
    try:
        daemon.next_event(
            lambda e: e["event"] == "report" and e["reader"] == READERS[0], "the report"
        )
    finally:
        plugged.remove()
        bench.wait_card(READERS[0], present=False, timeout=CARD_TIMEOUT)
    daemon.wait_state("the empty reader", lambda s: phase(s, READERS[0]) == "empty")
    fresh = daemon.reports[before:]
    assert len(fresh) == 1, fresh
    return fresh[0]


@pytest.mark.parametrize("name", list(CARDS))
def test_daemon_reports_a_card_dropped_mid_check_as_removed_and_checks_the_next(
    daemon: DaemonProcess, bench: PcscBench, name: str, counts: ResilienceCounts
) -> None:
    clean = daemon_check(daemon, bench, fresh_card(name))
    assert clean["health"] == 0, clean
    n = int(clean["apdus"])  # type: ignore[call-overload]
    points = range(n) if counts.drop_daemon_every_k else sample(n)
    for k in points:
        dropped = daemon_check(daemon, bench, fresh_card(name), Fault(drop_after=k))
        assert dropped["codes"] == ["card_removed"], f"drop after {k} of {n}: {dropped}"
        after = daemon_check(daemon, bench, fresh_card(name))
        assert after["health"] == 0, f"the insertion after the drop at {k}: {after}"
    TALLY.add(f"card drop points through the daemon ({counts.name})", len(points))
