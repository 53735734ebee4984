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
