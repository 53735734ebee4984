"""End to end on the bench: a virtual card read through the real pcscd + vpcd, its certificate
revoked by the OCSP responder on 127.0.0.1, the clock measured by the SNTP server on
127.0.0.1, and `cardwatch check --json` run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from conftest import READERS, InsertCard
from cryptography import x509
from ntp_server import NtpServer
from ocsp_server import RevocationServer

from tray.demo import certs, scenarios
from tray.demo.cards import MoicaGen1Card
from tray.model import Health

pytestmark = pytest.mark.bench


@pytest.fixture
def responder() -> Iterator[RevocationServer]:
    with RevocationServer(*certs.moica_ca()) as server:
        yield server


def cardwatch(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", LANG="C.UTF-8", LANGUAGE="")
    return subprocess.run(
        [sys.executable, "-m", "tray", *args], capture_output=True, text=True, env=env, timeout=60
    )


def revoked_card(responder: RevocationServer, revoked_at: datetime) -> MoicaGen1Card:
    now = datetime.now(timezone.utc)
    card_certs = scenarios.moica_certs(now, 412, urls=certs.Urls.under(responder.base_url))
    sign, encrypt = (x509.load_der_x509_certificate(der) for der, _l, _ca in card_certs[:2])
    responder.know(sign, encrypt)
    responder.revoke(sign, revoked_at, x509.ReasonFlags.key_compromise)
    return MoicaGen1Card(card_certs, scenarios.DEMO_CARD_NUMBER)


def test_revoked_certificate_turns_the_bench_check_red_with_the_date(
    vpcd: InsertCard, responder: RevocationServer
) -> None:
    revoked_at = (datetime.now(timezone.utc) - timedelta(days=40)).replace(microsecond=0)
    card = revoked_card(responder, revoked_at)
    vpcd(card)
    with NtpServer(0.05) as ntp:
        result = cardwatch(
            "check", "--json", "--no-pkcs11", "--reader", READERS[0], "--ntp-server", ntp.address
        )
    assert result.returncode == Health.CRITICAL, result.stderr
    data = json.loads(result.stdout)
    assert data["clock"]["status"] == "pass" and data["clock"]["source"] == "sntp"
    (reader,) = data["readers"]
    items = {i["key"]: i for i in reader["items"]}
    assert items["revocation"]["status"] == "fail"
    assert items["revocation"]["cause"] == "certificate"
    assert revoked_at.strftime("%Y-%m-%d") in items["revocation"]["summary"]
    assert "household registration office" in items["revocation"]["advice"]
    assert items["expiry"]["status"] == "pass"
    sign = reader["certificates"][0]["revocation"]
    assert sign["status"] == "revoked"
    assert sign["revoked_at"] == revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (sign["source"], sign["reason"]) == ("ocsp", "key_compromise")
    assert reader["certificates"][1]["revocation"]["status"] == "good"
    assert responder.hits == ["/ocsp", "/ocsp"]
    # Nothing but the read-only commands reached the card (the APDU audit checks each one).
    assert reader["apdus"] == len(card.received)

    # The answer is cached on disk: the second check asks nobody and is just as red.
    again = cardwatch("check", "--no-pkcs11", "--reader", READERS[0], "--ntp-server", ntp.address)
    assert again.returncode == Health.CRITICAL
    assert "revoked on " + revoked_at.strftime("%Y-%m-%d") in again.stdout
    assert responder.hits == ["/ocsp", "/ocsp"]


def test_offline_bench_check_contacts_nobody(vpcd: InsertCard, responder: RevocationServer) -> None:
    vpcd(revoked_card(responder, datetime.now(timezone.utc) - timedelta(days=1)))
    with NtpServer() as ntp:
        result = cardwatch(
            "check", "--offline", "--no-pkcs11", "--reader", READERS[0], "--ntp-server", ntp.address
        )
        assert ntp.requests == 0
    assert result.returncode == Health.OK, result.stdout
    assert responder.hits == []
    assert "network checks are off" in result.stdout


def not_yet_valid_card(responder: RevocationServer) -> MoicaGen1Card:
    """A MOICA card whose certificates start in 3 days (by the true time)."""
    now = datetime.now(timezone.utc)
    urls = certs.Urls.under(responder.base_url)
    card_certs = scenarios.moica_certs(now, 1826, not_yet_valid=72, urls=urls)
    sign, encrypt = (x509.load_der_x509_certificate(der) for der, _l, _ca in card_certs[:2])
    responder.know(sign, encrypt)
    return MoicaGen1Card(card_certs, scenarios.DEMO_CARD_NUMBER)


def test_not_yet_valid_card_with_the_clock_measured_right_names_the_certificate(
    vpcd: InsertCard, responder: RevocationServer
) -> None:
    vpcd(not_yet_valid_card(responder))
    base = ("check", "--no-pkcs11", "--reader", READERS[0], "--time-url", "none")
    with NtpServer(0.0) as ntp:  # the true time: this computer's clock is right
        result = cardwatch(*base, "--json", "--ntp-server", ntp.address)
        text = cardwatch(*base, "--ntp-server", ntp.address)
        assert ntp.requests >= 2
    assert result.returncode == Health.CRITICAL, result.stderr
    data = json.loads(result.stdout)
    assert (data["clock"]["status"], data["clock"]["source"]) == ("pass", "sntp")
    (reader,) = data["readers"]
    valid_from = next(i for i in reader["items"] if i["key"] == "valid_from")
    assert (valid_from["status"], valid_from["cause"]) == ("fail", "certificate")
    assert "this computer's clock is right" in valid_from["summary"]
    assert "Ask the issuer" in valid_from["advice"]
    verdict = data["assessment"]
    assert verdict["headline"] == "Not yet valid — ask the issuer"
    assert [(f["code"], f["cause"]) for f in verdict["findings"]] == [
        ("not_yet_valid", "certificate")
    ]
    # Nobody is sent to fix a clock just measured as right.
    assert "time zone" not in result.stdout and "clock is wrong" not in result.stdout
    assert text.returncode == Health.CRITICAL
    assert "Not yet valid — ask the issuer" in text.stdout
    assert "correct" in text.stdout.split("10 PASS", 1)[1].splitlines()[0]


def test_not_yet_valid_card_with_the_clock_measured_days_behind_names_the_clock(
    vpcd: InsertCard, responder: RevocationServer
) -> None:
    vpcd(not_yet_valid_card(responder))
    # Two SNTP servers agree that the true time is 4 days later (one server alone is weak
    # evidence, tests/test_hostile_time.py): this computer's clock is behind, and the
    # certificate that started "in 3 days" has in truth started already.
    with NtpServer(4 * 86400.0) as ntp, NtpServer(4 * 86400.0) as other:
        result = cardwatch(
            "check", "--json", "--no-pkcs11", "--reader", READERS[0], "--time-url", "none",
            "--ntp-server", ntp.address, "--ntp-server", other.address,
        )  # fmt: skip
    assert result.returncode == Health.CRITICAL, result.stderr
    data = json.loads(result.stdout)
    assert data["clock"]["status"] == "fail"
    verdict = data["assessment"]
    assert "Clock" in verdict["headline"] and "behind" in verdict["headline"], verdict
    assert all(f["cause"] != "certificate" for f in verdict["findings"]), verdict
