"""The APDU audit itself: as strict as the guard, sees cards in child processes, and fails a
bench session that saw nothing. Nested pytest sessions run the audit plugin for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from apdu_audit import violation

from tray.card.guard import Allowlist

TESTS = Path(__file__).parent
ROOT = TESTS.parent

PLANTED = '''
import subprocess, sys

CHILD = """
from tray.demo.card import VirtualCard, sw_bytes


class PlantedCard(VirtualCard):
    def process(self, apdu):
        return sw_bytes(0x9000)


PlantedCard().respond(bytes.fromhex({apdu!r}))
"""


def test_plant():
    subprocess.run([sys.executable, "-c", CHILD], check=True)
'''

SILENT_BENCH = """
import pytest


@pytest.mark.bench
def test_bench_without_apdus():
    pass
"""


def nested(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as a test file in its own pytest session with the audit plugin."""
    (tmp_path / "test_nested.py").write_text(source)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT)]))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "apdu_audit",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            str(tmp_path / "test_nested.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


@pytest.mark.parametrize(
    "apdu",
    [
        "0020000108" + "31323334FFFFFFFF",  # VERIFY presenting a PIN
        "80200080",  # VERIFY under another class
        "0020008000",  # VERIFY with an Le
        "00200001",  # VERIFY of a reference no profile declares
        "04B0000000",  # READ BINARY under a class that is not used
        "00B000000200AA",  # READ BINARY with a data field
        "00CA01010100",  # GET DATA with a data field
        "00A4020C0200AA",  # SELECT in a mode that is not used
        "00C0010100",  # GET RESPONSE with parameters
        "00CB000003AA0102",  # GET DATA (odd) outside 3F FF
        "00D6000001AA",  # UPDATE BINARY
        "002C000100",  # RESET RETRY COUNTER
    ],
)
def test_the_audit_refuses_what_the_guard_refuses(apdu: str) -> None:
    raw = bytes.fromhex(apdu)
    assert Allowlist(empty_verify_p2=frozenset({0x80})).refusal(raw) is not None
    assert violation(raw) is not None


@pytest.mark.parametrize(
    "apdu",
    ["00A4040007A0000003080000", "00B0000000", "00200080", "00CB3FFF055C035FC10200"],
)
def test_the_audit_lets_through_what_the_guard_lets_through(apdu: str) -> None:
    raw = bytes.fromhex(apdu)
    assert Allowlist(empty_verify_p2=frozenset({0x80})).refusal(raw) is None
    assert violation(raw) is None


def test_a_forbidden_apdu_planted_in_a_child_process_fails_the_session(tmp_path: Path) -> None:
    planted = "0020000108" + "31323334FFFFFFFF"
    done = nested(tmp_path, PLANTED.replace("{apdu!r}", repr(planted)))
    assert done.returncode != 0, done.stdout
    assert f"FORBIDDEN {planted}" in done.stdout, done.stdout
    assert "1 outside the allowlist, 1 carrying PIN bytes" in done.stdout, done.stdout


def test_a_permitted_apdu_in_a_child_process_is_counted(tmp_path: Path) -> None:
    done = nested(tmp_path, PLANTED.replace("{apdu!r}", repr("00A4040000")))
    assert done.returncode == 0, done.stdout
    assert "APDU audit: 1 APDUs received by virtual cards in 1 process(es), 0 outside" in (
        done.stdout
    )


def test_a_bench_session_that_saw_no_apdu_fails(tmp_path: Path) -> None:
    done = nested(tmp_path, SILENT_BENCH)
    assert "1 passed" in done.stdout, done.stdout
    assert done.returncode != 0, done.stdout
    assert "no virtual card received any APDU" in done.stdout
