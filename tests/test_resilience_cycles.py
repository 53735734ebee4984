"""Resilience: many insert/remove cycles through the daemon in a process of its own.

The daemon runs in a subprocess (tests/resilience_daemon.py, built as ``cardwatch run
--no-tray`` builds it), so its resident memory, threads and descriptors are its own: the
test process's vpcd card threads, hypothesis and pytest do not blur the measurement. Every
insertion must be reported exactly once; after a warm-up the RSS may grow by at most 2 MiB,
and the thread and descriptor counts must come back to what they were.

The history starts full (at its entry cap, as after months of use): it is bounded by
design, so from then on every check adds one entry and pruning takes old ones away, and
memory that still grows is a leak, not a store filling up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from bench import PcscBench
from conftest import CARD_TIMEOUT, READERS
from resilience import TALLY, DaemonProcess, ResilienceCounts, phase
from vpcd_client import VpcdCard, reader_port

from tray.check.run import run_check
from tray.clock import SystemClock
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.store.history import History, history_path

pytestmark = [pytest.mark.bench, pytest.mark.resilience]

MAX_RSS_GROWTH_KIB = 2048
WARM_UP_ROUNDS = 5


def _fill_history() -> int:
    """A history at its entry cap, of both bench cards over the last months; its size."""
    now = datetime.now(timezone.utc)
    reports = [
        replace(
            run_check(SimBackend(scenarios.build(name, now)), SystemClock()).readers[0],
            reader=reader,
        )
        for name, reader in zip(("default", "gen2"), READERS, strict=True)
    ]
    with History(history_path(), SystemClock()) as history:
        cap = history.max_entries
        for index in range(cap):
            history.record(reports[index % 2], now - timedelta(hours=cap - index))
    return cap


@pytest.fixture
def daemon(pcsc_bench: PcscBench) -> Iterator[DaemonProcess]:
    pcsc_bench.ensure_running()
    _fill_history()
    process = DaemonProcess()
    try:
        process.wait_state("both readers", lambda s: all(phase(s, r) == "empty" for r in READERS))
        yield process
    finally:
        assert process.close() == 0, "\n".join(process.stderr[-30:])


def _cards() -> list[VpcdCard]:
    now = datetime.now(timezone.utc)
    gen1 = scenarios.build("default", now)
    gen2 = scenarios.build("gen2", now)
    # Slot 0 takes a MOICA gen 1 card, slot 1 a MOICA gen 2: two different profiles' paths.
    first = next(iter(gen1.values()))
    second = next(iter(gen2.values()))
    assert first is not None and second is not None
    return [VpcdCard(first, reader_port(0)), VpcdCard(second, reader_port(1))]


def _round(daemon: DaemonProcess, bench: PcscBench, cards: list[VpcdCard]) -> None:
    """Insert a card into both readers, wait for both checks, pull both, wait for empty."""
    before = Counter(r["reader"] for r in daemon.reports)
    for plugged, reader in zip(cards, READERS, strict=True):
        plugged.insert()
        bench.wait_card(reader, present=True, timeout=CARD_TIMEOUT)
    daemon.wait_state("both checks", lambda s: all(phase(s, r) == "checked" for r in READERS))
    for plugged, reader in zip(cards, READERS, strict=True):
        plugged.remove()
        bench.wait_card(reader, present=False, timeout=CARD_TIMEOUT)
    daemon.wait_state("both empty", lambda s: all(phase(s, r) == "empty" for r in READERS))
    after = Counter(r["reader"] for r in daemon.reports)
    for reader in READERS:
        assert after[reader] - before[reader] == 1, f"{reader}: not reported exactly once"


def test_insert_remove_cycles_report_each_insertion_once_and_leak_nothing(
    daemon: DaemonProcess, pcsc_bench: PcscBench, counts: ResilienceCounts
) -> None:
    cards = _cards()
    rounds = counts.cycles // 2  # each round inserts into both readers
    for _ in range(WARM_UP_ROUNDS):
        _round(daemon, pcsc_bench, cards)
    start = daemon.stats()
    reports_before = len(daemon.reports)
    for _ in range(rounds):
        _round(daemon, pcsc_bench, cards)
    end = daemon.stats()
    reports = daemon.reports[reports_before:]
    assert len(reports) == 2 * rounds
    assert end["checks_started"] - start["checks_started"] == 2 * rounds
    assert all(r["health"] == 0 for r in reports), [r for r in reports if r["health"]][:3]
    growth = end["rss_kib"] - start["rss_kib"]
    TALLY.add(f"insert/remove cycles through the daemon ({counts.name})", 2 * rounds)
    print(
        f"{2 * rounds} insertions: RSS {start['rss_kib']} -> {end['rss_kib']} KiB "
        f"({growth:+d}), threads {start['threads']} -> {end['threads']}, "
        f"fds {start['fds']} -> {end['fds']}"
    )
    assert growth <= MAX_RSS_GROWTH_KIB, f"RSS grew by {growth} KiB over {2 * rounds} insertions"
    assert end["threads"] == start["threads"]
    assert end["fds"] == start["fds"], (start["fd_targets"], end["fd_targets"])
