"""The benchmark scripts run and write their tables (smoke runs: nothing here is timed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench import bench_unavailable
from desktop import desktop_unavailable
from notify_server import dbus_unavailable

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def _needs_everything() -> None:
    reasons = [
        r
        for r in (
            bench_unavailable(),
            desktop_unavailable(),
            dbus_unavailable(),
            None if shutil.which("unshare") else "unshare is missing (apt: util-linux)",
        )
        if r is not None
    ]
    if reasons:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the benchmarks cannot run: {'; '.join(reasons)}")
        pytest.skip("; ".join(reasons))


def _env() -> dict[str, str]:
    # Each benchmark makes namespaces of its own, also when this test runs inside some.
    return {k: v for k, v in os.environ.items() if k != "CARDWATCH_BENCH_NS"}


def test_check_apdus_in_process_gives_a_row_per_card_type() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "check_apdus.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert [row["card"] for row in result["rows"]] == [
        "MOICA gen 1",
        "MOICA gen 2",
        "PIV",
        "OpenPGP",
    ]
    assert {"apdus", "minimum", "ms_p50", "ms_max"} <= set(result["rows"][0])


@pytest.mark.bench
def test_run_all_quick_writes_every_table_with_its_goal(tmp_path: Path) -> None:
    _needs_everything()
    output = tmp_path / "RESULTS.md"
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "run_all.py"), "--quick", "--output", str(output)],
        env=_env(),
        check=True,
        timeout=600,
    )
    text = output.read_text()
    for heading in (
        "## Insertion → check → notification (3 insertions)",
        "## Idle cost",
        "## APDUs and milliseconds per check (pcscd + vpcd",
        "## Unknown card, with and without OpenSC",
        "## Burst: a card in every reader at once",
        "### 16 readers",
        "### 14 readers",
        "## Start-up",
    ):
        assert heading in text
    for row in (
        "| pyscard CardMonitor event (baseline) |",
        "| Cardwatch notification received |",
        "| cardwatch + tray (xorg) |",
        "| pyscard |",
        "| → check worker starts |",
        "| … minus the card's own time (Cardwatch's share) |",
        "| MOICA gen 1 |",
        "| OpenSC installed, default (not asked) |",
        "| Cardwatch reported all 16 (checks finished) |",
        "| `run --no-tray`: start → first state |",
        "| `run` (xorg tray): start → icon visible |",
    ):
        assert row in text
    for key in ("CPU", "kernel", "Debian", "Python", "pyscard", "pcsc-lite (pcscd)"):
        assert f"- {key}: " in text
    goals = [line for line in text.splitlines() if line.startswith("Goal:")]
    # latency (against pyscard, and Cardwatch's own share), idle, APDUs, the unknown card and
    # the two bursts
    assert len(goals) == 7
    assert all("**met**" in line or "**not met**: " in line for line in goals)

    results = json.loads(output.with_suffix(".json").read_text())["results"]
    assert set(results) == {
        "latency",
        "idle",
        "apdus",
        "unknown",
        "burst16",
        "burst14",
        "startup",
        "rss_steps",
    }
    latency = results["latency"]
    assert set(latency["stages_ms"]) == {"event", "seen", "check", "notify", "notify_minus_event"}
    assert {"p50", "p95", "max", "n"} <= set(latency["stages_ms"]["notify"])
    assert {"p50", "p95"} <= set(latency["trace_ms"]["overhead"])
    assert latency["trace_ms"]["apdu_time"]["n"] > 0  # the APDU marks reached the benchmark
    cardwatch = results["idle"]["rows"]["cardwatch"]
    assert {"rss_mib", "pss_mib", "voluntary_per_min", "after_check_rss_mib"} <= set(cardwatch)
    unknown = {row["setting"]: row for row in results["unknown"]["rows"]}
    assert len(unknown) == 3
    assert {"ms_p50", "pkcs11_ms_p50", "apdus_received", "apdus_guarded"} <= set(
        unknown["OpenSC installed, default (not asked)"]
    )
    assert results["burst16"]["readers"] == 16
    assert {"import_ms", "version_ms", "headless_first_state_ms"} <= set(results["startup"])

    # --render writes the same file again from RESULTS.json alone.
    output.unlink()
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "run_all.py"), "--render", "--output", str(output)],
        check=True,
        timeout=60,
    )
    assert output.read_text() == text
