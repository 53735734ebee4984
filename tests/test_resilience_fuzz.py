"""Resilience: hypothesis against every card-data parser and against hostile card answers.

In process (cheap, so most of the examples): BER-TLV with truncated, oversized and
indefinite lengths for every parser; bogus DER for the certificate reader; every profile
over scripted answers with random status words and endless 61xx / 6Cxx tails, through a
counting guard channel: no send may cost more than ``1 + 1 + MAX_CHAINED_RESPONSES`` APDUs
(the command, one 6Cxx resend, the bounded GET RESPONSE chain). Through the real pcscd +
vpcd: a virtual card answering from hypothesis data, checked end to end. Only the
documented card-data errors (``CardwatchError``) may come out; every example is counted.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from types import ModuleType

import pytest
from bench import PcscBench
from conftest import CARD_TIMEOUT, READERS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from resilience import TALLY, ResilienceCounts
from vpcd_client import VpcdCard, reader_port

from tray.card import certinfo, tlv
from tray.card.apdu import Response
from tray.card.guard import MAX_CHAINED_RESPONSES, Channel
from tray.card.profiles import common, hicos, openpgp, piv
from tray.check.run import CheckOptions, run_check
from tray.clock import SystemClock
from tray.demo import scenarios
from tray.demo.card import VirtualCard, sw_bytes
from tray.errors import CardwatchError, ForbiddenApdu
from tray.model import CardCertificate, ReaderReport
from tray.net import NetworkChecks
from tray.pcsc.adapter import PcscBackend

pytestmark = pytest.mark.resilience

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
MOICA_ATR = bytes.fromhex("3BB813008131FA524348544D4F494341A5")
OTHER_ATR = bytes.fromhex("3B888001504956434152443062")
PROFILES = (hicos, piv, openpgp)
#: the most APDUs one guarded send may cost: the command, one 6Cxx resend, the GET RESPONSEs
MAX_APDUS_PER_SEND = 2 + MAX_CHAINED_RESPONSES


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


# -- BER-TLV with lying lengths ------------------------------------------------------------

tags = st.one_of(
    st.integers(0, 0xFF).filter(lambda t: t & 0x1F != 0x1F).map(lambda t: bytes((t,))),
    st.sampled_from([b"\x30", b"\x04", b"\x02", b"\x53", b"\x70", b"\x71", b"\xa1", b"\x80"]),
    st.binary(min_size=2, max_size=4).map(lambda b: bytes((b[0] | 0x1F,)) + b[1:]),
)


@st.composite
def tlv_element(draw: st.DrawFn, content: st.SearchStrategy[bytes]) -> bytes:
    """One TLV whose length field may tell the truth, too little, too much or nonsense."""
    tag = draw(tags)
    value = draw(content)
    mode = draw(st.sampled_from(["true", "true", "short", "long", "indefinite", "bad-form"]))
    length = len(value)
    if mode == "short":
        length = max(0, length - draw(st.integers(1, 300)))
    elif mode == "long":
        length += draw(st.integers(1, 0xFFFFFF))
    if mode == "indefinite":
        field = b"\x80"
    elif mode == "bad-form":
        field = bytes((draw(st.integers(0x85, 0xFF)),)) + draw(st.binary(max_size=4))
    elif length < 0x80 and draw(st.booleans()):
        field = bytes((length,))
    else:
        size = max(1, (length.bit_length() + 7) // 8)
        size = draw(st.integers(size, 4))
        field = bytes((0x80 | size,)) + length.to_bytes(size, "big")
    cut = draw(st.sampled_from([None, None, None, 1, 2, 3]))
    encoded = tag + field + value
    return encoded[: len(encoded) - cut] if cut else encoded


tlv_tree = st.recursive(
    st.binary(max_size=24),
    lambda inner: tlv_element(st.lists(inner, max_size=4).map(b"".join)),
    max_leaves=12,
)
tlv_stream = st.lists(tlv_tree, min_size=1, max_size=4).map(b"".join)

PARSERS: tuple[Callable[[bytes], object], ...] = (
    tlv.parse,
    lambda data: tlv.parse(data, stop_at_padding=True),
    lambda data: tlv.find(data, 0x04),
    hicos.parse_cdf,
    piv.certificate_from_object,
    openpgp.pin_statuses,
    common.der_length,
)


def test_every_parser_meets_lying_tlv_lengths_with_a_card_data_error(
    counts: ResilienceCounts,
) -> None:
    @fuzz(counts.fuzz_tlv)
    @given(data=tlv_stream)
    def run(data: bytes) -> None:
        TALLY.add("hypothesis examples, resilience fuzz (this file)")
        for parse in PARSERS:
            with contextlib.suppress(CardwatchError):
                parse(data)

    run()


# -- bogus DER -----------------------------------------------------------------------------


def _real_certificates() -> list[bytes]:
    found: list[bytes] = []
    for scenario in ("default", "gen2", "openpgp"):
        for card in scenarios.build(scenario, NOW).values():
            certs = getattr(card, "certs", ())
            # MOICA cards keep (der, label, is_ca) tuples, PIV cards a slot -> der mapping,
            # OpenPGP cards an occurrence -> der (None: empty) mapping
            for entry in certs.values() if isinstance(certs, dict) else certs:
                if entry is None:
                    continue
                found.append(bytes(entry if isinstance(entry, bytes) else entry[0]))
    assert found
    return found


DER = _real_certificates()

der_damage = st.lists(
    st.tuples(
        st.sampled_from(["set", "truncate", "insert", "length"]),
        st.integers(0, 4096),
        st.integers(0, 0xFF),
    ),
    min_size=1,
    max_size=5,
)


def damaged(der: bytes, damage: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(der)
    for kind, where, value in damage:
        pos = where % (len(data) + 1)
        if kind == "set" and data:
            data[pos % len(data)] = value
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = bytes((value,))
        elif kind == "length" and len(data) > 7:
            # a length byte near the front: the outer SEQUENCE or the TBSCertificate
            data[1 + (where % 6)] = value
    return bytes(data)


def test_certificate_reader_meets_bogus_der_with_a_card_data_error(
    counts: ResilienceCounts,
) -> None:
    @fuzz(counts.fuzz_der)
    @given(which=st.integers(0, len(DER) - 1), damage=der_damage)
    def run(which: int, damage: list[tuple[str, int, int]]) -> None:
        TALLY.add("hypothesis examples, resilience fuzz (this file)")
        data = damaged(DER[which], damage)
        with contextlib.suppress(CardwatchError):
            certinfo.describe(CardCertificate(data, "x", "x"), NOW)

    run()


# -- profiles over hostile answers, with every guarded send counted ---------------------------

status_words = st.one_of(
    st.sampled_from([0x9000, 0x6A82, 0x6282, 0x6B00, 0x6700, 0x6F00, 0x6983, 0x63C2]),
    st.integers(0x6100, 0x61FF),
    st.integers(0x6C00, 0x6CFF),
    st.integers(0, 0xFFFF),
)
script = st.lists(st.tuples(st.binary(max_size=260), status_words), max_size=30)
tails = st.sampled_from(["not-found", "61xx", "6Cxx", "61xx-empty", "9000-junk"])


class Hostile:
    """Answers from ``script``, then the same hostile answer forever."""

    def __init__(self, answers: list[tuple[bytes, int]], tail: str, seed: int) -> None:
        self.answers = list(answers)
        self.tail = tail
        self.seed = seed

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self.answers:
            return self.answers.pop(0)
        if self.tail == "61xx":
            return bytes((self.seed,)) * 16, 0x6100 | self.seed
        if self.tail == "61xx-empty":
            return b"", 0x6100
        if self.tail == "6Cxx":
            return b"", 0x6C00 | self.seed
        if self.tail == "9000-junk":
            return bytes((self.seed,)) * (self.seed % 200 + 1), 0x9000
        return b"", 0x6A82


class CountingChannel(Channel):
    """The guard's channel, recording how many APDUs each send cost."""

    def __init__(self, transport: Hostile, profile: ModuleType) -> None:
        super().__init__(transport, profile.ALLOWLIST)
        self.costs: list[int] = []

    def send(self, apdu: bytes) -> Response:
        before = self.count
        try:
            return super().send(apdu)
        finally:
            self.costs.append(self.count - before)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda m: m.KIND)
def test_profiles_survive_hostile_answers_and_the_guard_bounds_every_loop(
    profile: ModuleType, counts: ResilienceCounts
) -> None:
    @fuzz(counts.fuzz_profiles)
    @given(
        answers=script,
        tail=tails,
        seed=st.integers(0, 0xFF),
        atr=st.sampled_from([MOICA_ATR, OTHER_ATR]),
    )
    def run(answers: list[tuple[bytes, int]], tail: str, seed: int, atr: bytes) -> None:
        TALLY.add("hypothesis examples, resilience fuzz (this file)")
        channel = CountingChannel(Hostile(answers, tail, seed), profile)
        try:
            profile.read(channel, atr)
        except ForbiddenApdu:
            raise  # a profile asking for a forbidden command is a bug, not card trouble
        except CardwatchError:
            pass
        assert max(channel.costs, default=0) <= MAX_APDUS_PER_SEND, channel.costs

    run()


# -- the same through the real pcscd + vpcd ------------------------------------------------


class HypothesisCard(VirtualCard):
    """A virtual card that answers from a script hypothesis drew, then with a hostile tail."""

    name = "hypothesis card"

    def __init__(self, atr: bytes) -> None:
        super().__init__()
        self.atr = atr
        self.script: Hostile = Hostile([], "not-found", 0)

    def process(self, apdu: bytes) -> bytes:
        data, sw = self.script.transmit(apdu)
        return data + sw_bytes(sw)


def longest_get_response_run(received: list[bytes]) -> int:
    longest = run = 0
    for apdu in received:
        run = run + 1 if apdu[:4] == b"\x00\xc0\x00\x00" else 0
        longest = max(longest, run)
    return longest


@pytest.mark.bench
@pytest.mark.parametrize("atr", [MOICA_ATR, OTHER_ATR], ids=["moica-atr", "other-atr"])
def test_whole_check_through_pcscd_turns_hostile_answers_into_items(
    pcsc_bench: PcscBench,
    atr: bytes,
    counts: ResilienceCounts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pcsc_bench.ensure_running()
    card = HypothesisCard(atr)
    plugged = VpcdCard(card, reader_port(0))
    plugged.insert()
    caplog.set_level(logging.WARNING)
    try:
        pcsc_bench.wait_card(READERS[0], present=True, timeout=CARD_TIMEOUT)

        @fuzz(counts.fuzz_vpcd)
        @given(
            answers=st.lists(st.tuples(st.binary(max_size=300), status_words), max_size=20),
            tail=tails,
            seed=st.integers(0, 0xFF),
        )
        def run(answers: list[tuple[bytes, int]], tail: str, seed: int) -> None:
            TALLY.add("hypothesis examples through pcscd + vpcd")
            card.script = Hostile(answers, tail, seed)
            card.received.clear()
            backend = PcscBackend()
            try:
                options = CheckOptions(reader=READERS[0], network=NetworkChecks.off())
                report = run_check(backend, SystemClock(), options)
            finally:
                backend.close()
            (reader,) = report.readers
            assert isinstance(reader, ReaderReport)
            codes = {i.code for i in reader.items}
            assert not codes & {"guard_refused", "internal_error"}, codes
            assert longest_get_response_run(card.received) <= MAX_CHAINED_RESPONSES

        run()
    finally:
        plugged.remove()
        pcsc_bench.wait_card(READERS[0], present=False, timeout=CARD_TIMEOUT)
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks[:3]]
