"""Cardwatch against card applets nobody on the project wrote: PivApplet and SmartPGP.

They run in jCardSim behind the bench's pcscd + vpcd (the shared folder
``../shared/thirdparty-cards`` beside the repository, or ``CARDWATCH_THIRDPARTY_CARDS``), are
personalised by that folder's own scripts, and ``cardwatch check --json`` reads them like any
card. Every APDU Cardwatch sends is recorded (``--record``) and put through the APDU audit.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from apdu_audit import AUDIT, violation
from bench import PcscBench
from conftest import CARD_TIMEOUT, READERS
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from tray.demo import certs
from tray.model import Health

ROOT = Path(__file__).resolve().parents[1]
CARDS = Path(
    os.environ.get("CARDWATCH_THIRDPARTY_CARDS") or ROOT.parent / "shared" / "thirdparty-cards"
)
PORTS = (35963, 35964)

pytestmark = [
    pytest.mark.bench,
    pytest.mark.skipif(
        not (CARDS / "start_pivapplet.sh").is_file(),
        reason=f"the third-party card applets are not here ({CARDS}): "
        "set CARDWATCH_THIRDPARTY_CARDS to the thirdparty-cards folder to run these tests",
    ),
]


def _env() -> dict[str, str]:
    return dict(os.environ, TP_PYTHON=sys.executable, NO_COLOR="1", LANG="C.UTF-8", LANGUAGE="")


StartCard = Callable[[str], str]


@pytest.fixture
def applet(pcsc_bench: PcscBench, tmp_path: Path) -> Iterator[StartCard]:
    """Start an applet card (the script's name) in reader 0; stopped by its pid afterwards."""
    pcsc_bench.ensure_running()
    pids: list[int] = []
    env = dict(_env(), TP_LOG=str(tmp_path / "tp-logs"))

    def start(script: str) -> str:
        out = subprocess.run(
            [str(CARDS / script), str(PORTS[0])],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        pids.append(int(out.stdout.strip().splitlines()[-1]))
        return READERS[0]

    yield start
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    pcsc_bench.wait_card(READERS[0], present=False, timeout=CARD_TIMEOUT * 4)


def personalise(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def cardwatch_check(tmp_path: Path, name: str) -> tuple[int, dict[str, Any]]:
    """``cardwatch check --json`` on reader 0, its exchange recorded (redacted) and audited.

    With CARDWATCH_SAVE_TRANSCRIPTS=DIR the recording is kept as DIR/applet-NAME.json (how
    tests/transcripts/applet-*.json were made)."""
    record = tmp_path / "transcript.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "tray", "check", "--json", "--no-pkcs11",
            "--reader", READERS[0], "--record", str(record), "--redact",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )  # fmt: skip
    assert result.returncode in (0, 1, 2), result.stderr
    audit_transcript(record)
    keep = os.environ.get("CARDWATCH_SAVE_TRANSCRIPTS")
    if keep:
        (Path(keep) / f"applet-{name}.json").write_text(record.read_text())
    return result.returncode, json.loads(result.stdout)["readers"][0]


def audit_transcript(path: Path) -> None:
    """Put every recorded command through the APDU audit."""
    transcript = json.loads(path.read_text())
    sent = [bytes.fromhex(x["command"]) for r in transcript["readers"] for x in r["exchanges"]]
    assert sent, "nothing was recorded"
    AUDIT.total += len(sent)
    for apdu in sent:
        reason = violation(apdu)
        if reason is not None:
            AUDIT.violations.append(("applet", apdu.hex().upper(), reason))


def piv_tries(reader: str) -> int:
    """The applet's PIN counter as yubico-piv-tool reads it (an empty VERIFY: no try spent)."""
    out = subprocess.run(
        ["yubico-piv-tool", "-r", reader, "-a", "status"],
        capture_output=True, text=True, env=_env(), timeout=60,
    )  # fmt: skip
    found = re.search(r"PIN tries left:\s*(\d+)", out.stdout)
    assert found, out.stdout + out.stderr
    return int(found.group(1))


def rsa4096_certificate(path: Path, days_left: int) -> bytes:
    """A certificate for a fresh RSA-4096 key: large enough that every read is chained."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    now = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Applet RSA-4096")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=days_left))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(Encoding.DER)
    path.write_bytes(der)
    return der


def test_pivapplet_chained_4096_gzip_and_final_try_with_no_try_spent(
    applet: StartCard, tmp_path: Path
) -> None:
    reader = applet("start_pivapplet.sh")
    big = rsa4096_certificate(tmp_path / "9a.der", 300)
    assert len(big) > 1024
    personalise(
        [str(CARDS / "personalise_piv.sh"), reader, str(tmp_path / "piv"), "expiring",
         "--cert", f"9a={tmp_path / '9a.der'}"]
    )  # fmt: skip
    before = piv_tries(reader)
    assert before == 1
    code, data = cardwatch_check(tmp_path, "pivapplet-expiring")
    after = piv_tries(reader)
    assert after == before  # Cardwatch spent no try
    assert data["card"]["kind"] == "piv"
    by_slot = {c["slot"]: c for c in data["certificates"]}
    assert set(by_slot) == {"9A", "9C", "9D"}
    assert by_slot["9A"]["common_name"] == "Applet RSA-4096"
    assert by_slot["9A"]["days_left"] == 300
    assert by_slot["9D"]["days_left"] == 400  # the gzip-compressed object
    assert [(p["state"], p["tries_left"]) for p in data["pins"]] == [("final_try", 1)]
    assert code == Health.WARNING


def test_pivapplet_locked_pin(applet: StartCard, tmp_path: Path) -> None:
    reader = applet("start_pivapplet.sh")
    personalise([str(CARDS / "personalise_piv.sh"), reader, str(tmp_path / "piv"), "critical"])
    before = piv_tries(reader)
    code, data = cardwatch_check(tmp_path, "pivapplet-locked")
    assert piv_tries(reader) == before == 0
    assert [(p["state"], p["tries_left"]) for p in data["pins"]] == [("locked", 0)]
    assert code == Health.CRITICAL


def test_smartpgp_aut_and_sig_and_the_3_day_sig_drives_the_verdict(
    applet: StartCard, tmp_path: Path
) -> None:
    reader = applet("start_smartpgp.sh")
    now = datetime.now(timezone.utc)
    aut = certs.openpgp_person(now, 200, usage="auth", name="Applet AUT")
    sig = certs.openpgp_person(now, 3, usage="sign", name="Applet SIG")
    (tmp_path / "aut.der").write_bytes(aut.public_bytes(Encoding.DER))
    (tmp_path / "sig.der").write_bytes(sig.public_bytes(Encoding.DER))
    personalise(
        [sys.executable, str(CARDS / "personalise_openpgp.py"), reader, str(tmp_path / "pgp"),
         "plain", "--cert", f"AUT={tmp_path / 'aut.der'}", "--cert", f"SIG={tmp_path / 'sig.der'}"]
    )  # fmt: skip
    code, data = cardwatch_check(tmp_path, "smartpgp-aut-sig")
    assert data["card"]["kind"] == "openpgp"
    days = {c["slot"]: c["days_left"] for c in data["certificates"]}
    assert days == {"7F21/AUT": 200, "7F21/SIG": 3}
    expiry = next(i for i in data["items"] if i["key"] == "expiry")
    assert expiry["status"] == "fail" and "SIG" in expiry["summary"]
    assert code == Health.CRITICAL  # the AUT certificate alone would be healthy
    assert [p["tries_left"] for p in data["pins"]] == [3, 3]
