"""The guard: only read commands pass; chained responses are bounded."""

from __future__ import annotations

import pytest

from tray.card.apdu import command, read_binary, select_aid, select_fid
from tray.card.guard import Allowlist, Channel
from tray.card.profiles import hicos, openpgp, piv
from tray.errors import ForbiddenApdu, ProtocolLoop


class Script:
    """A transport that answers from a list and records what it was sent."""

    def __init__(self, answers: list[tuple[bytes, int]]) -> None:
        self.answers = list(answers)
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu)
        return self.answers.pop(0) if self.answers else (b"", 0x9000)


READS = [
    select_aid(bytes.fromhex("A000000308")),
    select_fid(0x3F00, cla=0x80, p2=0x00),
    read_binary(0x0700, 200, cla=0x80),
    command(0x00, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C035FC105"), le=0),
    command(0x00, 0xCA, 0x00, 0x6E, le=0),
    command(0x00, 0xB2, 0x01, 0x04, le=0),
    command(0x00, 0xC0, 0x00, 0x00, le=0x20),
]

WRITES_AND_PINS = [
    command(0x00, 0x20, 0x00, 0x80, b"123456\xff\xff"),  # VERIFY with a PIN
    command(0x00, 0x20, 0x00, 0x80, le=0),  # VERIFY with Le: not the bare status query
    command(0x80, 0x20, 0x00, 0x80),  # proprietary-class VERIFY
    command(0x8C, 0x20, 0x00, 0x81, b"\x00" * 16),  # HiCOS encrypted VERIFY
    command(0x00, 0x24, 0x00, 0x80, b"1234567812345678"),  # CHANGE REFERENCE DATA
    command(0x00, 0x2C, 0x00, 0x80, b"1234567812345678"),  # RESET RETRY COUNTER
    command(0x00, 0xD6, 0x00, 0x00, b"\x00"),  # UPDATE BINARY
    command(0x00, 0xDA, 0x00, 0xC4, b"\x01"),  # PUT DATA
    command(0x00, 0xDB, 0x3F, 0xFF, b"\x5c\x03\x5f\xc1\x05"),  # PUT DATA odd
    command(0x00, 0xE4, 0x00, 0x00, b"\x3f\x00"),  # DELETE FILE
    command(0x00, 0x47, 0x80, 0x00, le=0),  # GENERATE KEY
    command(0x00, 0x87, 0x07, 0x9A, b"\x7c\x00"),  # GENERAL AUTHENTICATE
    command(0x00, 0x84, 0x00, 0x00, le=8),  # GET CHALLENGE: not needed, not allowed
    command(0x00, 0xB0, 0x00, 0x00, b"\x01"),  # READ BINARY with data
    command(0x00, 0xA4, 0x02, 0x0C, b"\x3f\x00"),  # unusual SELECT mode
    command(0x0C, 0xB0, 0x00, 0x00, le=0),  # secure messaging class
    command(0x00, 0xCB, 0x00, 0x00, b"\x5c\x01\x7e", le=0),  # odd GET DATA outside 3FFF
    bytes.fromhex("00B0"),  # too short
    bytes.fromhex("00A40400FF00"),  # Lc lies about the length
]


@pytest.mark.parametrize("apdu", READS, ids=lambda a: a.hex())
def test_read_commands_pass_the_guard(apdu: bytes) -> None:
    assert Allowlist().refusal(apdu) is None


@pytest.mark.parametrize("apdu", WRITES_AND_PINS, ids=lambda a: a.hex())
def test_writes_and_pins_never_reach_the_card(apdu: bytes) -> None:
    policy = Allowlist(empty_verify_p2=frozenset({0x80, 0x81}))
    transport = Script([])
    with pytest.raises(ForbiddenApdu):
        Channel(transport, policy).send(apdu)
    assert transport.sent == []


def test_bare_verify_only_where_the_profile_declares_it_safe() -> None:
    bare = command(0x00, 0x20, 0x00, 0x80)
    assert piv.ALLOWLIST.refusal(bare) is None
    for profile in (hicos, openpgp):
        assert profile.ALLOWLIST.refusal(bare) is not None
    assert piv.ALLOWLIST.refusal(command(0x00, 0x20, 0x00, 0x81)) is not None


def test_get_response_chain_is_followed_and_counted() -> None:
    transport = Script([(b"\x01" * 256, 0x6100), (b"\x02" * 10, 0x610A), (b"\x03" * 10, 0x9000)])
    channel = Channel(transport)
    resp = channel.send(command(0x00, 0xCA, 0x00, 0x6E, le=0))
    assert resp.sw == 0x9000
    assert resp.data == b"\x01" * 256 + b"\x02" * 10 + b"\x03" * 10
    assert channel.count == 3
    assert transport.sent[1] == bytes.fromhex("00C0000000")
    assert transport.sent[2] == bytes.fromhex("00C000000A")


def test_wrong_le_is_resent_once_with_the_card_length() -> None:
    transport = Script([(b"", 0x6C10), (b"\x00" * 16, 0x9000)])
    resp = Channel(transport).send(read_binary(0, 200, cla=0x80))
    assert resp.data == b"\x00" * 16
    assert transport.sent[1] == bytes.fromhex("80B0000010")


def test_endless_get_response_is_cut_off() -> None:
    class Endless:
        calls = 0

        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            self.calls += 1
            return b"\x00", 0x6101

    transport = Endless()
    with pytest.raises(ProtocolLoop):
        Channel(transport).send(command(0x00, 0xCA, 0x00, 0x6E, le=0))
    assert transport.calls <= 70


def test_the_allowlist_tables_are_read_only_and_a_channel_keeps_its_allowlist() -> None:
    from tray.card import guard

    with pytest.raises(TypeError):
        guard._READ_INS[0xB0] = frozenset({0xD6})  # type: ignore[index]
    channel = guard.Channel(lambda apdu: (b"", 0x9000), guard.Allowlist())  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        channel.allowlist = guard.Allowlist(empty_verify_p2=frozenset({0x81}))  # type: ignore[misc]
    assert not hasattr(channel, "stage")
