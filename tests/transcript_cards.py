"""One virtual card of every kind and variant, for recording and replaying transcripts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from cryptography.hazmat.primitives.serialization import Encoding

from tray.demo import certs, scenarios
from tray.demo.card import VirtualCard
from tray.demo.cards import (
    HICOS_GEN1_OTHER_ATR,
    MoicaGen1Card,
    MoicaGen2Card,
    OpenPgpCard,
    PivCard,
)

NUMBER = scenarios.DEMO_CARD_NUMBER


def _pgp(now: datetime, days: float, usage: str = "sign") -> bytes:
    cert = certs.openpgp_person(now, days, usage=usage)  # type: ignore[arg-type]
    return cert.public_bytes(Encoding.DER)


CARDS: dict[str, Callable[[datetime], VirtualCard]] = {
    "moica-gen1": lambda now: MoicaGen1Card(scenarios.moica_certs(now, 412), NUMBER),
    "moica-gen1-expiring": lambda now: MoicaGen1Card(scenarios.moica_certs(now, 21), NUMBER),
    "moica-gen1-other-atr": lambda now: MoicaGen1Card(
        scenarios.moica_certs(now, 412), NUMBER, atr=HICOS_GEN1_OTHER_ATR, junk_cdf_entry=True
    ),
    "moica-gen2": lambda now: MoicaGen2Card(scenarios.moica_certs(now, 412), NUMBER),
    "moica-gen2-strict": lambda now: MoicaGen2Card(
        scenarios.moica_certs(now, 412),
        NUMBER,
        refuse_p2_0c=True,
        eof_6700=True,
        tight_directory=True,
    ),
    "piv": lambda now: PivCard(scenarios.piv_certs(now, 800), compress_slots=(0x9C,)),
    "piv-locked": lambda now: PivCard(scenarios.piv_certs(now, 800), pin_tries=0),
    "piv-global-pin": lambda now: PivCard(
        scenarios.piv_certs(now, 800), global_pin_tries=1, counter_630x=True
    ),
    "openpgp-v3": lambda now: OpenPgpCard(_pgp(now, 200, "auth"), sig_cert=_pgp(now, 3)),
    "openpgp-yubikey-543": lambda now: OpenPgpCard(
        _pgp(now, 200, "auth"), sig_cert=_pgp(now, 90), yubikey_543=True, pw1_tries=1
    ),
    "openpgp-v2": lambda now: OpenPgpCard(_pgp(now, 365), version=(2, 1)),
    "openpgp-terminated": lambda now: OpenPgpCard(None, terminated=True),
}


def main(argv: list[str]) -> int:
    """Write one transcript per virtual card into the folder ``argv[0]`` (tests/transcripts)."""
    from pathlib import Path

    from helpers import FixedClock

    from tray.card.transcript import RecordingBackend, dumps
    from tray.check.run import CheckOptions, run_check
    from tray.demo.backend import SimBackend
    from tray.present.check_json import reading_summary

    out = Path(argv[0])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for name, make in CARDS.items():
        recorder = RecordingBackend(SimBackend({f"Virtual {name}": make(now)}))
        report = run_check(recorder, FixedClock(now), CheckOptions())
        data = recorder.to_dict(now)
        for reader, found in zip(data["readers"], report.readers, strict=True):
            reader["expected"] = reading_summary(found)
        (out / f"virtual-{name}.json").write_text(dumps(data), encoding="utf-8")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
