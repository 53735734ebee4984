pytest_plugins = ["apdu_audit"]
# Shared fixtures: the real pcscd + vpcd bench, virtual-card insertion, private XDG dirs.
# The plugin line comes first by project convention, so neither a docstring nor
# `from __future__ import annotations` can precede it (nothing here needs the latter).
# ruff: noqa: E402

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bench import PcscBench, bench_unavailable
from resilience import BOUNDED, FULL, TALLY, ResilienceCounts
from vpcd_client import READER_NAMES, VpcdCard, reader_port

from tray.demo.card import Fault, VirtualCard

READERS = READER_NAMES
CARD_TIMEOUT = 5.0  # pcscd polls vpcd every ~0.44 s; this is ten polls and then some

InsertCard = Callable[..., VpcdCard]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def private_xdg_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every XDG base directory at the test's tmp_path, never at the real home."""
    for var, name in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_RUNTIME_DIR", "runtime"),
    ):
        path = tmp_path / "xdg" / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)  # platformdirs ignores a runtime dir that others could read
        monkeypatch.setenv(var, str(path))


ZoneSetter = Callable[[str], None]


@pytest.fixture(autouse=True)
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZoneSetter]:
    """Pin this process's local time zone (UTC unless a test asks for another one).

    Times for people are local, so a test must not depend on the zone the machine runs in,
    just as it must not depend on the hour: the zone is pinned like the clock.
    """

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    set_zone("UTC")
    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def pcsc_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscBench]:
    """The real pcscd with the two vpcd readers, for the whole session."""
    reason = bench_unavailable()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"CI=true but the bench cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    bench = PcscBench(READERS, log_dir=tmp_path_factory.mktemp("pcscd"))
    bench.start()
    from apdu_audit import bench_started  # after pytest has loaded it as the plugin

    bench_started()  # a session that ran the bench must have seen APDUs
    try:
        yield bench
    finally:
        bench.stop()


@pytest.fixture
def readers() -> tuple[str, ...]:
    """The vpcd reader names, slot 0 first."""
    return READERS


@pytest.fixture
def vpcd(pcsc_bench: PcscBench) -> Iterator[InsertCard]:
    """``insert(card, slot=0, fault=None)``: plug a card into a vpcd reader; all pulled at teardown."""
    pcsc_bench.ensure_running()
    inserted: list[tuple[VpcdCard, str]] = []

    def insert(card: VirtualCard, slot: int = 0, fault: Fault | None = None) -> VpcdCard:
        reader = READERS[slot]
        plugged = VpcdCard(card, reader_port(slot), fault=fault)
        plugged.insert()
        inserted.append((plugged, reader))
        # A mute card also reports PRESENT (with MUTE): vpcd offers it an over-long ATR.
        pcsc_bench.wait_card(reader, present=True, timeout=CARD_TIMEOUT)
        return plugged

    yield insert

    for plugged, _ in reversed(inserted):
        plugged.remove()
    if pcsc_bench.running:
        for reader in {reader for _, reader in inserted}:
            pcsc_bench.wait_card(reader, present=False, timeout=CARD_TIMEOUT)


# -- the resilience suite (tests/test_resilience_*.py): bounded by default, full with --long --


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the resilience suite with its full counts (1,000 cycles, 20+20 pcscd restarts, "
        "every drop point through the daemon, full fuzz counts)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "resilience: the resilience suite; bounded counts unless --long is given"
    )


@pytest.fixture(scope="session")
def counts(request: pytest.FixtureRequest) -> ResilienceCounts:
    """How much the resilience suite does this run: bounded, or full with --long."""
    return FULL if request.config.getoption("--long") else BOUNDED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.lines():
        terminalreporter.write_sep("-", "resilience suite")
        for line in TALLY.lines():
            terminalreporter.write_line(line)
