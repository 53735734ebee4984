"""Items 8 and 9 from certificate dates alone (pure code, no cards)."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tray.card.certinfo import days_left, describe
from tray.check.validity import Thresholds, expiry
from tray.demo import certs
from tray.model import CardCertificate, CertInfo, Status

UTC = timezone.utc


def cert(not_after: datetime, now: datetime) -> CertInfo:
    return CertInfo(
        label="Signature certificate",
        slot="08F2@0000",
        subject="CN=x",
        common_name="x",
        issuer="CN=ca",
        serial="01",
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        not_after=not_after,
        days_left=days_left(not_after, now),
        key_usage=(),
        is_ca=False,
        sha256="00",
    )


def test_days_left_counts_calendar_days_like_the_date_shown() -> None:
    now = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    assert days_left(datetime(2026, 12, 15, 0, 30, tzinfo=UTC), now) == 21
    assert days_left(datetime(2026, 11, 24, 23, 30, tzinfo=UTC), now) == 0
    assert days_left(datetime(2026, 11, 23, 23, 30, tzinfo=UTC), now) == -1


def test_last_day_says_today_and_is_critical_until_the_moment_it_expires() -> None:
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    item = expiry([cert(datetime(2026, 11, 24, 18, 0, tzinfo=UTC), now)], now, Thresholds(), None)
    assert (item.status, item.code) == (Status.FAIL, "expires_critical")
    assert "today" in item.summary
    later = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    item = expiry(
        [cert(datetime(2026, 11, 24, 18, 0, tzinfo=UTC), later)], later, Thresholds(), None
    )
    assert item.code == "expired"


def test_each_threshold_band() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    codes = {}
    for days in (61, 60, 31, 30, 8, 7):
        not_after = datetime.fromordinal(now.toordinal() + days).replace(tzinfo=UTC)
        codes[days] = expiry([cert(not_after, now)], now, Thresholds(), None).code
    assert codes == {
        61: "ok",
        60: "expires_soon",
        31: "expires_soon",
        30: "expires_urgent",
        8: "expires_urgent",
        7: "expires_critical",
    }


def test_the_earliest_expiring_certificate_decides() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    soon = cert(datetime(2026, 1, 20, tzinfo=UTC), now)
    late = cert(datetime(2030, 1, 1, tzinfo=UTC), now)
    assert expiry([late, soon], now, Thresholds(), None).code == "expires_urgent"


@pytest.mark.parametrize(
    "serial",
    [0x73AF9C1D2E3F40516273849AB5C6D7E8F9012, 0x1, 0xFFF, 0xABCDEF, 0x7F00000000000000000001],
)
def test_serials_keep_their_leading_zeros_like_openssl(serial: int, tmp_path: Path) -> None:
    """Whole bytes, as OpenSSL and Windows show a serial: 073AF9…, not 73AF9…."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ca, key = certs.make_ca(
        certs.dn(("CN", "CA")), now - timedelta(days=9), now + timedelta(days=99)
    )
    made = certs.make_cert(
        certs.dn(("CN", "X")),
        ca,
        key,
        now - timedelta(days=1),
        now + timedelta(days=9),
        serial=serial,
    )
    der = made.public_bytes(Encoding.DER)
    info = describe(CardCertificate(der, "label", "slot"), now)
    assert len(info.serial) % 2 == 0 and int(info.serial, 16) == serial
    (tmp_path / "c.der").write_bytes(der)
    shown = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-in", str(tmp_path / "c.der"), "-noout", "-serial"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown == f"serial={info.serial}"


def test_a_certificate_with_an_invalid_version_is_card_data_error() -> None:
    """Found by the resilience fuzz: cryptography's InvalidVersion is not a ValueError."""
    from tray.errors import CardDataError

    now = datetime(2026, 1, 1, tzinfo=UTC)
    ca, _key = certs.make_ca(
        certs.dn(("CN", "CA")), now - timedelta(days=9), now + timedelta(days=99)
    )
    der = bytearray(ca.public_bytes(Encoding.DER))
    der[12] = 1  # the version INTEGER: v2 (1) is no version cryptography accepts for a v3 body
    with pytest.raises(CardDataError):
        describe(CardCertificate(bytes(der), "x", "x"), now)
