"""A MOICA generation-1 check sends the minimum: the path SELECTs and ⌈bytes/200⌉ READ BINARYs."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from helpers import FixedClock

from tray.card.profiles.hicos import parse_cdf
from tray.check.run import run_check
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.demo.cards import MoicaGen1Card, moica_cdf

# MF 3F00 → DF 5030 → EF 4104 (CDF); MF 3F00 → DF 5030 → EF 08F2 (certificates, selected from
# the root as the official module does); MF 3F00 → DF 0900 → EF 0903 (card number).
PATH_SELECTS = 9


def minimum_apdus(card: MoicaGen1Card) -> tuple[int, int]:
    """(minimum APDUs, bytes that must be read) for ``card``'s data."""
    cdf = moica_cdf(card.certs, card.cert_path)
    entries, skipped = parse_cdf(cdf)
    assert skipped == []
    # The directory ends at the first padding byte, which must be seen: content + 1 byte.
    reads = 1 + math.ceil((len(cdf) + 1) / 200)
    needed = 16 + len(cdf)
    for entry in entries:
        size = entry.length
        assert size is not None
        reads += math.ceil(size / 200)
        needed += size
    return PATH_SELECTS + reads, needed


def test_moica_gen1_check_sends_the_minimum_number_of_apdus() -> None:
    now = datetime.now(timezone.utc)
    readers = scenarios.build("expiring", now)
    card = next(iter(readers.values()))
    assert isinstance(card, MoicaGen1Card)
    report = run_check(SimBackend(readers), FixedClock(now))
    minimum, _bytes = minimum_apdus(card)
    assert report.readers[0].apdus == minimum
    assert len(card.received) == minimum
    instructions = {apdu[1] for apdu in card.received}
    assert instructions == {0xA4, 0xB0}
    assert all(apdu[0] == 0x80 for apdu in card.received)
