"""`cardwatch check` on the real bench: pcscd + vpcd + the project's virtual cards.

Every card type is read through real PC/SC; every faulty card gives a FAIL with the right
cause; with pcscd stopped the service item fails with exit code 2. The APDU audit
(tests/apdu_audit.py) checks every command the cards receive.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from bench import PcscBench
from conftest import READERS, InsertCard
from helpers import item, statuses

from tray.check.run import CheckOptions, run_check
from tray.clock import SystemClock
from tray.demo import scenarios
from tray.demo.card import Fault
from tray.demo.cards import ErrorCard, MoicaGen1Card, MuteCard, OpenPgpCard, PivCard
from tray.model import Cause, Health, ItemId, PinState, ReaderReport, Status
from tray.pcsc.adapter import PcscBackend

P, W, F, S = Status.PASS, Status.WARN, Status.FAIL, Status.SKIP


@pytest.fixture
def backend() -> Iterator[PcscBackend]:
    pcsc = PcscBackend()
    yield pcsc
    pcsc.close()


def check_slot(backend: PcscBackend, slot: int = 0, budget: float = 15.0) -> ReaderReport:
    report = run_check(
        backend, SystemClock(), CheckOptions(reader=READERS[slot], card_budget_seconds=budget)
    )
    assert report.service.status is P
    (reader,) = report.readers
    return reader


def scenario_card(name: str, index: int = 0):  # type: ignore[no-untyped-def]
    return list(scenarios.build(name, datetime.now(timezone.utc)).values())[index]


def cardwatch(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", LANG="C.UTF-8", LANGUAGE="")
    return subprocess.run(
        [sys.executable, "-m", "tray", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_moica_gen1_card_is_read_through_pcscd(vpcd: InsertCard, backend: PcscBackend) -> None:
    card = scenario_card("expiring")
    vpcd(card)
    reader = check_slot(backend)
    assert statuses(reader) == {2: P, 3: P, 4: P, 5: P, 6: P, 7: S, 8: P, 9: W}
    assert (reader.card_kind, reader.generation) == ("moica", "1")
    assert reader.card_number == scenarios.DEMO_CARD_NUMBER
    users = [c for c in reader.certificates if not c.is_ca]
    assert {c.days_left for c in users} == {21}
    expected = {hashlib.sha256(der).hexdigest() for der, _label, _ca in card.certs}
    assert {c.sha256 for c in reader.certificates} == expected
    assert reader.apdus == len(card.received)


def test_moica_gen2_card_is_read_through_pcscd(vpcd: InsertCard, backend: PcscBackend) -> None:
    vpcd(scenario_card("gen2"))
    reader = check_slot(backend)
    assert (reader.card_kind, reader.generation) == ("moica", "2")
    assert reader.card_number == scenarios.DEMO_CARD_NUMBER
    assert statuses(reader)[9] is P


@pytest.mark.parametrize(
    ("tries", "state", "status"),
    [
        (3, PinState.OK, P),
        (1, PinState.FINAL_TRY, W),
        (0, PinState.LOCKED, F),
    ],
)
def test_piv_card_pin_tries_through_pcscd(
    vpcd: InsertCard, backend: PcscBackend, tries: int, state: PinState, status: Status
) -> None:
    now = datetime.now(timezone.utc)
    card = PivCard(scenarios.piv_certs(now, 300), pin_tries=tries, compress_slots={0x9C})
    vpcd(card, slot=1)
    reader = check_slot(backend, slot=1)
    assert reader.card_kind == "piv"
    assert reader.pins[0].state is state
    assert item(reader, ItemId.PIN).status is status
    assert len(reader.certificates) == 2
    assert {c.days_left for c in reader.certificates} == {300}
    assert card.pin_tries == tries  # reading the tries spent none


def test_openpgp_card_through_pcscd(vpcd: InsertCard, backend: PcscBackend) -> None:
    card = scenario_card("openpgp")
    assert isinstance(card, OpenPgpCard)
    vpcd(card)
    reader = check_slot(backend)
    assert reader.card_kind == "openpgp"
    assert reader.card_number == "12345678"
    assert [p.tries_left for p in reader.pins] == [3, 3]
    assert len(reader.certificates) == 1


def test_mute_card_is_a_card_fault(vpcd: InsertCard, backend: PcscBackend) -> None:
    vpcd(MuteCard())
    present = item(check_slot(backend), ItemId.CARD_PRESENT)
    assert (present.status, present.cause, present.code) == (F, Cause.CARD, "card_mute")


def test_card_answering_6f00_is_a_card_fault(vpcd: InsertCard, backend: PcscBackend) -> None:
    vpcd(ErrorCard())
    app = item(check_slot(backend), ItemId.APPLICATION)
    assert (app.status, app.cause, app.code) == (F, Cause.CARD, "card_error")


def test_garbage_data_is_a_card_fault(vpcd: InsertCard, backend: PcscBackend) -> None:
    vpcd(scenario_card("bad-der"))
    certs = item(check_slot(backend), ItemId.CERTIFICATES)
    assert (certs.status, certs.cause) == (F, Cause.CARD)


def test_slow_card_is_stopped_by_the_budget(vpcd: InsertCard, backend: PcscBackend) -> None:
    vpcd(scenario_card("default"), fault=Fault(delay=0.3))
    reader = check_slot(backend, budget=1.0)
    failed = [i for i in reader.items if i.status is F]
    assert [(i.code, i.cause) for i in failed] == [("card_slow", Cause.CARD)]


@pytest.mark.parametrize("k", [0, 4, 11, 25])
def test_card_pulled_mid_check_is_reported_as_removed(
    vpcd: InsertCard, backend: PcscBackend, k: int
) -> None:
    card = scenario_card("default")
    assert isinstance(card, MoicaGen1Card)
    vpcd(card, fault=Fault(drop_after=k))
    reader = check_slot(backend)
    failed = [i for i in reader.items if i.status is F]
    assert [(i.code, i.cause) for i in failed] == [("card_removed", Cause.CARD)]


def test_cli_json_and_exit_code_on_the_bench(vpcd: InsertCard) -> None:
    vpcd(scenario_card("pin-final-try"), slot=1)
    result = cardwatch("check", "--json", "--no-pkcs11")
    assert result.returncode == Health.WARNING, result.stderr
    data = json.loads(result.stdout)
    names = [r["reader"] for r in data["readers"]]
    assert names == list(READERS)
    empty, piv = data["readers"]
    assert empty["health"] == "unknown"
    assert piv["pins"][0]["state"] == "final_try"
    assert data["status"] == "warning"


def test_stopped_service_is_critical_with_advice(pcsc_bench: PcscBench) -> None:
    pcsc_bench.stop()
    try:
        result = cardwatch("check")
        assert result.returncode == Health.CRITICAL
        assert "FAIL" in result.stdout and "PC/SC" in result.stdout
        assert "pcscd" in result.stdout
        assert "Traceback" not in result.stdout + result.stderr
        data = json.loads(cardwatch("check", "--json").stdout)
        assert data["service"]["status"] == "fail"
        assert data["service"]["cause"] == "service"
    finally:
        pcsc_bench.start()


HOLD_THE_CARD = """
import sys
import threading
from smartcard import scard
hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
assert hresult == scard.SCARD_S_SUCCESS, hresult
hresult, card, _protocol = scard.SCardConnect(
    context, sys.argv[1], scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
)
assert hresult == scard.SCARD_S_SUCCESS, hresult
assert scard.SCardBeginTransaction(card) == scard.SCARD_S_SUCCESS
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD)
scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
"""


def card_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cw-card-")]


@pytest.mark.bench
def test_a_card_held_in_another_programs_transaction_is_in_use_within_the_budget(
    vpcd: InsertCard, backend: PcscBackend
) -> None:
    card = scenario_card("default")
    vpcd(card)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_CARD, READERS[0]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: list[ReaderReport] = []
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        checking = threading.Thread(target=lambda: result.append(check_slot(backend, budget=2.0)))
        checking.start()
        checking.join(60)  # a liveness bound: the check must not wait for the other program
        ended_while_held = not checking.is_alive()
        abandoned = card_threads()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the other program lets go: any blocked call returns now
        holder.wait(30)
    assert ended_while_held, "the check waited for the other program's transaction"
    (reader,) = result
    present = item(reader, ItemId.CARD_PRESENT)
    assert (present.status, present.code, present.cause) == (W, "card_in_use", Cause.USER)
    # The session the check gave up on ends once its call returns, and sends nothing.
    assert abandoned, "expected the stuck session's worker to be still waiting then"
    for thread in abandoned:
        thread.join(30)
        assert not thread.is_alive()
    assert card.received == []
    # The card is usable again at once.
    assert item(check_slot(backend), ItemId.CARD_PRESENT).status is P
