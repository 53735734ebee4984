"""Garbled and random card answers never escape as anything but a named Cardwatch error.

Three layers, each fed at least 2,000 examples: the parsers alone on random bytes, every
profile on scripted random answers, and every profile on the answers of a real virtual card
mutated in flight (flipped bytes, truncation, random status words, endless 61xx).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from types import ModuleType

import pytest
from helpers import FixedClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tray.card import certinfo, tlv
from tray.card.backend import CardState, Slot
from tray.card.guard import Channel
from tray.card.profiles import hicos, openpgp, piv
from tray.check.run import CheckOptions, check_reader
from tray.demo import scenarios
from tray.demo.card import VirtualCard
from tray.errors import CardwatchError, ForbiddenApdu
from tray.model import CardCertificate, ReaderReport

EXAMPLES = settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
MOICA_ATR = bytes.fromhex("3BB813008131FA524348544D4F494341A5")
OTHER_ATR = bytes.fromhex("3B888001504956434152443062")

answers = st.lists(
    st.tuples(
        st.binary(max_size=300),
        st.one_of(
            st.sampled_from(
                [
                    0x9000,
                    0x6A82,
                    0x6F00,
                    0x6100,
                    0x6101,
                    0x6C00,
                    0x6C10,
                    0x63C1,
                    0x6983,
                    0x6282,
                    0x6B00,
                    0x6E00,
                ]
            ),
            st.integers(0, 0xFFFF),
        ),
    ),
    max_size=40,
)


class Scripted:
    """Answers from a list, then 'file not found' forever."""

    def __init__(self, script: list[tuple[bytes, int]]) -> None:
        self.script = list(script)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        return self.script.pop(0) if self.script else (b"", 0x6A82)


def read_safely(profile: ModuleType, transport: object, atr: bytes) -> None:
    try:
        profile.read(Channel(transport, profile.ALLOWLIST), atr)  # type: ignore[arg-type]
    except ForbiddenApdu:
        raise
    except CardwatchError:
        pass


@pytest.mark.parametrize("profile", [hicos, piv, openpgp], ids=lambda m: m.KIND)
@pytest.mark.parametrize("atr", [MOICA_ATR, OTHER_ATR], ids=["moica-atr", "other-atr"])
@EXAMPLES
@given(script=answers)
def test_profiles_survive_random_answers(
    profile: ModuleType, atr: bytes, script: list[tuple[bytes, int]]
) -> None:
    read_safely(profile, Scripted(script), atr)


mutation = st.tuples(
    st.integers(0, 60),  # which answer
    st.sampled_from(["flip", "truncate", "sw", "junk", "chain", "wrong-le", "empty"]),
    st.integers(0, 4096),  # where / how much
    st.integers(0, 0xFFFF),  # value
)


class Mutating:
    """A real virtual card whose answers are garbled in flight."""

    def __init__(self, card: VirtualCard, mutations: list[tuple[int, str, int, int]]) -> None:
        self.card = card
        self.index = 0
        self.mutations = {m[0]: m[1:] for m in mutations}

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        raw = self.card.respond(apdu)
        data, sw = raw[:-2], (raw[-2] << 8) | raw[-1] if len(raw) >= 2 else 0x6F00
        found = self.mutations.get(self.index)
        self.index += 1
        if found is None:
            return data, sw
        kind, where, value = found
        if kind == "flip" and data:
            pos = where % len(data)
            data = data[:pos] + bytes(((data[pos] ^ (value | 1)) & 0xFF,)) + data[pos + 1 :]
        elif kind == "truncate":
            data = data[: where % (len(data) + 1)]
        elif kind == "sw":
            sw = value
        elif kind == "junk":
            data = data + bytes((value & 0xFF,)) * (where % 300)
        elif kind == "chain":
            sw = 0x6100 | (value & 0xFF)
        elif kind == "wrong-le":
            sw = 0x6C00 | (value & 0xFF)
        elif kind == "empty":
            data = b""
        return data, sw


CARDS = {
    "moica-gen1": ("default", 0),
    "moica-gen2": ("gen2", 0),
    "piv": ("default", 1),
    "openpgp": ("openpgp", 0),
}
_BUILT: dict[str, tuple[VirtualCard, bytes]] = {}


def _card(name: str) -> tuple[VirtualCard, bytes]:
    """A fresh copy of a scenario card (certificates are cached, so this is cheap)."""
    scenario, index = CARDS[name]
    card = list(scenarios.build(scenario, NOW).values())[index]
    assert card is not None and card.atr is not None
    return card, card.atr


@pytest.mark.parametrize("name", list(CARDS))
@EXAMPLES
@given(mutations=st.lists(mutation, max_size=6))
def test_profiles_survive_garbled_answers_from_real_virtual_cards(
    name: str, mutations: list[tuple[int, str, int, int]]
) -> None:
    card, atr = _card(name)
    card.power_on()
    for profile in (hicos, piv, openpgp):
        read_safely(profile, Mutating(card, mutations), atr)


class GarbledBackend:
    """The whole check over a mutating card: it must always return a report."""

    def __init__(self, transport: Mutating, atr: bytes) -> None:
        self.transport = transport
        self.atr = atr

    def slots(self) -> list[Slot]:
        return [Slot("fuzz reader", CardState.PRESENT, self.atr)]

    def session(self, reader: str):  # type: ignore[no-untyped-def]
        from contextlib import nullcontext

        class Session:
            atr = self.atr
            transmit = self.transport.transmit

        return nullcontext(Session())


@pytest.mark.parametrize("name", list(CARDS))
@settings(
    max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(mutations=st.lists(mutation, max_size=6))
def test_whole_check_turns_garbage_into_items_never_tracebacks(
    name: str, mutations: list[tuple[int, str, int, int]]
) -> None:
    card, atr = _card(name)
    card.power_on()
    backend = GarbledBackend(Mutating(card, mutations), atr)
    report = check_reader(backend, backend.slots()[0], FixedClock(NOW), CheckOptions())  # type: ignore[arg-type]
    assert isinstance(report, ReaderReport)
    assert not any(i.code == "guard_refused" for i in report.items)


@EXAMPLES
@given(data=st.binary(max_size=600))
def test_tlv_and_directory_parsers_only_raise_card_data_errors(data: bytes) -> None:
    for parse in (tlv.parse, hicos.parse_cdf, piv.certificate_from_object, openpgp.pin_statuses):
        with contextlib.suppress(CardwatchError):
            parse(data)


@EXAMPLES
@given(data=st.binary(max_size=1500))
def test_certificate_parser_only_raises_card_data_errors(data: bytes) -> None:
    with contextlib.suppress(CardwatchError):
        certinfo.describe(CardCertificate(data, "x", "x"), NOW)
