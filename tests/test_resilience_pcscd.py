"""Resilience: pcscd killed (SIGTERM, SIGKILL) and restarted again and again under load.

The daemon runs in its own process (tests/resilience_daemon.py) and is never restarted: each
time it must show the service fault, come back by itself when pcscd does, list exactly the
bench's readers with nothing stale in them, and check the cards inserted afterwards.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from bench import PcscBench
from conftest import CARD_TIMEOUT, READERS
from resilience import TALLY, DaemonProcess, ResilienceCounts, phase
from vpcd_client import VpcdCard, reader_port

from tray.demo import scenarios

pytestmark = [pytest.mark.bench, pytest.mark.resilience]


@pytest.fixture
def daemon(pcsc_bench: PcscBench) -> Iterator[DaemonProcess]:
    pcsc_bench.ensure_running()
    process = DaemonProcess()
    try:
        process.wait_state("both readers", lambda s: all(phase(s, r) == "empty" for r in READERS))
        yield process
    finally:
        pcsc_bench.ensure_running()
        assert process.close() == 0, "\n".join(process.stderr[-30:])


def _cards() -> list[VpcdCard]:
    now = datetime.now(timezone.utc)
    default = scenarios.build("default", now)  # a MOICA card in slot 0, a PIV card in slot 1
    cards = list(default.values())
    assert cards[0] is not None and cards[1] is not None
    return [VpcdCard(cards[0], reader_port(0)), VpcdCard(cards[1], reader_port(1))]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_daemon_recovers_by_itself_every_time_pcscd_dies_under_load(
    daemon: DaemonProcess, pcsc_bench: PcscBench, counts: ResilienceCounts, sig: signal.Signals
) -> None:
    cards = _cards()
    for restart in range(counts.restarts):
        # Load: a card in each reader, pcscd killed while the daemon is checking one of them.
        for plugged, reader in zip(cards, READERS, strict=True):
            plugged.insert()
            pcsc_bench.wait_card(reader, present=True, timeout=CARD_TIMEOUT)
        daemon.wait_state(
            "a check under way",
            lambda s: any(phase(s, r) in ("checking", "checked") for r in READERS),
        )
        if sig == signal.SIGKILL:
            pcsc_bench.kill()
        else:
            pcsc_bench.stop(sig)
        # A check cut short may say "service down" first; the watcher then drops every reader.
        daemon.wait_state(
            f"the service fault with no reader left (restart {restart})",
            lambda s: s["service_up"] is False and s["readers"] == [],
        )
        for plugged in cards:
            plugged.remove()  # pcscd took the vpcd connection with it; reap our side
        pcsc_bench.ensure_running()
        back = daemon.wait_state(
            "the service back with both readers empty",
            lambda s: s["service_up"] is True and all(phase(s, r) == "empty" for r in READERS),
        )
        assert sorted(name for name, _ in back["readers"]) == sorted(READERS)
        # The cards inserted after the restart are checked, and found fine.
        reports_before = len(daemon.reports)
        for plugged, reader in zip(cards, READERS, strict=True):
            plugged.insert()
            pcsc_bench.wait_card(reader, present=True, timeout=CARD_TIMEOUT)
        daemon.wait_state(
            "both checks after the restart",
            lambda s: all(phase(s, r) == "checked" for r in READERS),
        )
        fresh = daemon.reports[reports_before:]
        assert sorted(r["reader"] for r in fresh) == sorted(READERS)
        assert all(r["health"] == 0 for r in fresh), fresh
        for plugged, reader in zip(cards, READERS, strict=True):
            plugged.remove()
            pcsc_bench.wait_card(reader, present=False, timeout=CARD_TIMEOUT)
        daemon.wait_state("both empty", lambda s: all(phase(s, r) == "empty" for r in READERS))
        assert daemon.proc.poll() is None
    assert daemon.stats()  # the same process answers after every restart
    TALLY.add(f"pcscd restarts after {sig.name} ({counts.name})", counts.restarts)
