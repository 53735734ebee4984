"""The bench itself: virtual cards plugged into the real pcscd through vpcd behave like cards."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from bench import COMM_SOCKET, PID_FILE, PcscBench
from conftest import READERS, InsertCard
from smartcard import scard
from vpcd_client import MUTE_ATR, VPCD_PORTS, VpcdCard, garbled, reader_port

from tray.demo.card import Fault, VirtualCard, sw_bytes

GET_DATA = bytes.fromhex("00CA006E00")
SELECT_MF = bytes.fromhex("00A40000023F00")


def with_tck(atr: bytes) -> bytes:
    """Append the ATR checksum (XOR of T0 onwards), required when T=1 is offered."""
    tck = 0
    for byte in atr[1:]:
        tck ^= byte
    return atr + bytes((tck,))


BENCH_ATR = with_tck(bytes.fromhex("3B878001") + b"BENCH01")


class OkCard(VirtualCard):
    """Answers 9000 to everything."""

    name = "ok card"
    atr = BENCH_ATR

    def process(self, apdu: bytes) -> bytes:
        return sw_bytes(0x9000)


class MuteCard(OkCard):
    """Gives no answer to reset."""

    name = "mute card"
    atr = None


@contextmanager
def connected(reader: str) -> Iterator[tuple[int, int]]:
    """A shared PC/SC connection to the card in ``reader``: (card handle, protocol)."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hresult == scard.SCARD_S_SUCCESS
    try:
        hresult, card, protocol = scard.SCardConnect(
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        assert hresult == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hresult)
        try:
            yield card, protocol
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
    finally:
        scard.SCardReleaseContext(context)


def connect_error(reader: str) -> int:
    """The HRESULT of SCardConnect to ``reader`` (0 on success, connection closed again)."""
    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        hresult, card, _ = scard.SCardConnect(
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult == scard.SCARD_S_SUCCESS:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        return int(hresult) & 0xFFFFFFFF
    finally:
        scard.SCardReleaseContext(context)


def transmit(card: int, protocol: int, apdu: bytes) -> tuple[int, bytes]:
    hresult, response = scard.SCardTransmit(card, protocol, list(apdu))
    return int(hresult) & 0xFFFFFFFF, bytes(response)


def test_reader_ports_follow_the_reader_numbers() -> None:
    assert [reader_port(i) for i in range(2)] == list(VPCD_PORTS) == [35963, 35964]
    with pytest.raises(ValueError):
        reader_port(2)


@pytest.mark.parametrize("host", ["192.0.2.7", "0.0.0.0", "example.com", "10.0.0.1"])
def test_vpcd_card_refuses_a_non_loopback_host(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        VpcdCard(OkCard(), 35963, host=host)


def test_garbled_answers_are_deterministic_and_never_empty() -> None:
    answers = [garbled(n, GET_DATA) for n in range(1, 17)]
    assert answers == [garbled(n, GET_DATA) for n in range(1, 17)]
    assert min(map(len, answers)) == 1
    assert len(set(answers)) == len(answers)


def test_inserted_card_shows_its_atr_in_reader_00(pcsc_bench: PcscBench, vpcd: InsertCard) -> None:
    plugged = vpcd(OkCard())
    state, atr = pcsc_bench.reader_state(READERS[0])
    assert plugged.connected
    assert state & scard.SCARD_STATE_PRESENT
    assert atr == BENCH_ATR


def test_apdu_round_trips_and_reaches_the_card(vpcd: InsertCard) -> None:
    card = OkCard()
    vpcd(card)
    with connected(READERS[0]) as (handle, protocol):
        assert transmit(handle, protocol, GET_DATA) == (scard.SCARD_S_SUCCESS, b"\x90\x00")
    assert card.received == [GET_DATA]


def test_removed_card_leaves_the_reader_empty(pcsc_bench: PcscBench, vpcd: InsertCard) -> None:
    plugged = vpcd(OkCard())
    plugged.remove()
    plugged.remove()  # idempotent
    state = pcsc_bench.wait_card(READERS[0], present=False, timeout=5)
    assert state & scard.SCARD_STATE_EMPTY
    assert not plugged.connected
    assert pcsc_bench.reader_state(READERS[0])[1] == b""


def test_card_can_be_reinserted_after_removal(pcsc_bench: PcscBench, vpcd: InsertCard) -> None:
    plugged = vpcd(OkCard())
    plugged.remove()
    pcsc_bench.wait_card(READERS[0], present=False, timeout=5)
    plugged.insert()
    pcsc_bench.wait_card(READERS[0], present=True, timeout=5)
    assert plugged.connected


def test_drop_after_one_fails_the_second_transmit(pcsc_bench: PcscBench, vpcd: InsertCard) -> None:
    card = OkCard()
    plugged = vpcd(card, fault=Fault(drop_after=1))
    with connected(READERS[0]) as (handle, protocol):
        assert transmit(handle, protocol, GET_DATA) == (scard.SCARD_S_SUCCESS, b"\x90\x00")
        hresult, _ = transmit(handle, protocol, SELECT_MF)
    assert hresult == scard.SCARD_E_NOT_TRANSACTED & 0xFFFFFFFF
    assert card.received == [GET_DATA]  # the cut happens in the slot, before the card
    pcsc_bench.wait_card(READERS[0], present=False, timeout=5)
    assert not plugged.connected


def test_card_in_slot_1_appears_in_reader_00_01(pcsc_bench: PcscBench, vpcd: InsertCard) -> None:
    vpcd(OkCard(), slot=1)
    state, atr = pcsc_bench.reader_state(READERS[1])
    assert state & scard.SCARD_STATE_PRESENT
    assert atr == BENCH_ATR
    assert pcsc_bench.reader_state(READERS[0])[0] & scard.SCARD_STATE_EMPTY


def test_mute_card_is_present_but_mute_and_cannot_be_connected(
    pcsc_bench: PcscBench, vpcd: InsertCard
) -> None:
    # vpcd cannot say "no ATR" (an empty message wedges it); the mute card sends an ATR too
    # long for pcscd, so power-up fails exactly as with a real card that never answers.
    card = MuteCard()
    vpcd(card)
    state, atr = pcsc_bench.reader_state(READERS[0])
    assert state & scard.SCARD_STATE_PRESENT
    assert state & scard.SCARD_STATE_MUTE
    assert atr == b""
    assert len(MUTE_ATR) == 34
    assert connect_error(READERS[0]) == scard.SCARD_W_UNPOWERED_CARD & 0xFFFFFFFF
    assert card.received == []


def test_empty_atr_message_wedges_vpcd_and_looks_like_an_empty_reader(
    pcsc_bench: PcscBench,
) -> None:
    # Why mute cards do not answer "no ATR": vpcd reads the empty payload with
    # recv(len=0, MSG_WAITALL), which blocks, so the slot stops polling and stays "empty".
    pcsc_bench.ensure_running()
    with socket.create_connection(("127.0.0.1", reader_port(0)), timeout=5) as sock:
        (length,) = struct.unpack("!H", sock.recv(2, socket.MSG_WAITALL))
        assert sock.recv(length, socket.MSG_WAITALL) == b"\x04"
        sock.sendall(b"\x00\x00")
        sock.settimeout(1.5)  # vpcd polls every ~0.44 s when it is not stuck
        with pytest.raises(TimeoutError):
            sock.recv(2)
        state, _ = pcsc_bench.reader_state(READERS[0])
        assert state & scard.SCARD_STATE_EMPTY
    pcsc_bench.wait_card(READERS[0], present=False, timeout=5)


def test_garbled_card_answers_junk_of_varying_length(vpcd: InsertCard) -> None:
    card = OkCard()
    vpcd(card, fault=Fault(garble=True))
    with connected(READERS[0]) as (handle, protocol):
        answers = [transmit(handle, protocol, GET_DATA) for _ in range(3)]
    assert answers == [(scard.SCARD_S_SUCCESS, garbled(n, GET_DATA)) for n in (1, 2, 3)]
    assert [len(data) for _, data in answers] == [1, 2, 5]
    assert card.received == [GET_DATA] * 3


def test_delay_slows_every_answer(vpcd: InsertCard) -> None:
    vpcd(OkCard(), fault=Fault(delay=0.3))
    with connected(READERS[0]) as (handle, protocol):
        started = time.monotonic()
        assert transmit(handle, protocol, GET_DATA)[0] == scard.SCARD_S_SUCCESS
        assert time.monotonic() - started >= 0.3


def test_apdu_round_trips_take_milliseconds(vpcd: InsertCard) -> None:
    # A delayed-ACK stall (40 ms on Linux) per exchange would push 100 APDUs past 4 s.
    card = OkCard()
    vpcd(card)
    with connected(READERS[0]) as (handle, protocol):
        started = time.monotonic()
        for _ in range(100):
            assert transmit(handle, protocol, GET_DATA)[0] == scard.SCARD_S_SUCCESS
        elapsed = time.monotonic() - started
    assert len(card.received) == 100
    assert elapsed < 2.0, f"100 APDUs took {elapsed:.2f} s"


def test_killed_pcscd_leaves_no_stale_files_and_starts_again(pcsc_bench: PcscBench) -> None:
    try:
        pcsc_bench.kill()
        assert not pcsc_bench.running
        assert not PID_FILE.exists()
        assert not COMM_SOCKET.exists()
        pcsc_bench.start()
        assert set(READERS) <= set(pcsc_bench.readers())
    finally:
        pcsc_bench.ensure_running()


def test_bench_pcscd_dies_with_the_test_process(pcsc_bench: PcscBench) -> None:
    # A crashed test run must not leave a pcscd behind holding /run/pcscd and the vpcd ports.
    crash = (
        "import os, sys; sys.path.insert(0, 'tests'); from bench import PcscBench; "
        "bench = PcscBench(); bench.start(); print(bench.pid, flush=True); os._exit(1)"
    )
    pcsc_bench.stop()
    try:
        done = subprocess.run(
            [sys.executable, "-c", crash], capture_output=True, text=True, timeout=30
        )
        orphan = Path(f"/proc/{int(done.stdout)}")
        deadline = time.monotonic() + 5
        while orphan.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not orphan.exists()
    finally:
        pcsc_bench.ensure_running()


def test_restart_keeps_the_readers_and_forgets_the_cards(
    pcsc_bench: PcscBench, vpcd: InsertCard
) -> None:
    plugged = vpcd(OkCard())
    pcsc_bench.restart()
    assert set(READERS) <= set(pcsc_bench.readers())
    # The old pcscd took the connection with it: the card is out until inserted again.
    pcsc_bench.wait_card(READERS[0], present=False, timeout=5)
    deadline = time.monotonic() + 5
    while plugged.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not plugged.connected
