"""APDU audit: every command any virtual card receives, in any process, is checked here.

This is written independently of ``tray.card.guard`` on purpose: the guard is what is under
audit, so its rules are stated again here, from the specifications, not imported:

* class 00: SELECT (P1 00, 04 or 08), READ BINARY, READ RECORD, GET DATA, GET RESPONSE
  (P1 = P2 = 00), GET DATA odd (P1 P2 = 3F FF only); class 80 (HiCOS generation 1): SELECT,
  READ BINARY, GET RESPONSE; no other class byte;
* READ BINARY, READ RECORD, GET DATA and GET RESPONSE carry no data field; Lc must match the
  length, and extended lengths are not used;
* VERIFY only as the PIN status query: CLA 00, P1 00, nothing after the header (no data, no
  Le), and P2 80 or 00 (the PIV application PIN and the Global PIN, SP 800-73-4);
* SELECT DATA only as the six exact commands that pick an OpenPGP v3 certificate occurrence
  (0-2, with or without the YubiKey <= 5.4.3 leading 06);
* CHANGE / RESET RETRY COUNTER never.

The session sets ``CARDWATCH_APDU_AUDIT`` (tray.demo.card.AUDIT_ENV) to one file; every
virtual card in this process and in every child process (``run --demo``, desktop tests,
benchmarks) appends what it receives there. After each test the lines it added are audited
(a forbidden one fails the test); the summary counts every line of the session. A session
that started the pcscd bench (or ran a ``bench`` test) and saw no APDU at all fails: an
audit that saw nothing proved nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

AUDIT_ENV = "CARDWATCH_APDU_AUDIT"  # the same name as tray.demo.card.AUDIT_ENV, stated again

SELECT, READ_BINARY, READ_RECORD, GET_DATA, GET_DATA_ODD, GET_RESPONSE = (
    0xA4,
    0xB0,
    0xB2,
    0xCA,
    0xCB,
    0xC0,
)
VERIFY, CHANGE_REFERENCE_DATA, RESET_RETRY_COUNTER = 0x20, 0x24, 0x2C
READS_BY_CLASS = {
    0x00: {SELECT, READ_BINARY, READ_RECORD, GET_DATA, GET_DATA_ODD, GET_RESPONSE},
    0x80: {SELECT, READ_BINARY, GET_RESPONSE},
}
NO_DATA = {READ_BINARY, READ_RECORD, GET_DATA, GET_RESPONSE}
VERIFY_STATUS_P2 = {0x80, 0x00}
SELECT_DATA_INS = 0xA5
# Written out byte by byte on purpose (not built with the profile's helper).
SELECT_DATA = frozenset(
    bytes.fromhex(f"00A5{occurrence:02X}04{body}")
    for occurrence in (0, 1, 2)
    for body in ("0660045C027F21", "070660045C027F21")
)


def violation(apdu: bytes) -> str | None:
    """Why this APDU must never reach a card, or None."""
    if len(apdu) < 4:
        return "malformed"
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if ins == SELECT_DATA_INS:
        return None if apdu in SELECT_DATA else "SELECT DATA other than an OpenPGP occurrence"
    if ins in (CHANGE_REFERENCE_DATA, RESET_RETRY_COUNTER):
        return "PIN-changing command"
    if ins == VERIFY:
        if body:
            return "PIN command with data" if len(body) > 1 else "VERIFY with Le"
        if (cla, p1) != (0x00, 0x00):
            return f"VERIFY with CLA {cla:02X} P1 {p1:02X}"
        if p2 not in VERIFY_STATUS_P2:
            return f"VERIFY of reference {p2:02X}"
        return None
    reads = READS_BY_CLASS.get(cla)
    if reads is None:
        return f"class {cla:02X}"
    if ins not in reads:
        return f"instruction {ins:02X} is not a read under class {cla:02X}"
    data = b""
    if len(body) > 1:
        lc = body[0]
        if lc == 0:
            return "extended length"
        if len(body) not in (1 + lc, 2 + lc):
            return "Lc does not match the length"
        data = body[1 : 1 + lc]
    if ins == SELECT and p1 not in (0x00, 0x04, 0x08):
        return f"SELECT P1 {p1:02X}"
    if ins in NO_DATA and data:
        return f"data field on instruction {ins:02X}"
    if ins == GET_DATA_ODD and (p1, p2) != (0x3F, 0xFF):
        return f"GET DATA (odd) P1 P2 {p1:02X}{p2:02X}"
    if ins == GET_RESPONSE and (p1, p2) != (0, 0):
        return "GET RESPONSE with parameters"
    return None


@dataclass
class Audit:
    path: Path | None = None
    total: int = 0
    pin_bytes: int = 0
    processes: set[str] = field(default_factory=set)
    violations: list[tuple[str, str, str, str]] = field(default_factory=list)  # pid, card, hex, why
    exempted: int = 0
    bench_used: bool = False
    offset: int = 0

    def read_new(self, exempt: bool = False) -> list[tuple[str, str, str, str]]:
        """Audit the lines added since the last call; returns the new violations."""
        if self.path is None or not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
        self.offset += end
        new: list[tuple[str, str, str, str]] = []
        for raw in chunk[:end].decode("ascii", "replace").splitlines():
            pid, card, hexed = [*raw.split("\t"), "", "", ""][:3]
            if exempt:
                self.exempted += 1
                continue
            self.total += 1
            self.processes.add(pid)
            try:
                apdu = bytes.fromhex(hexed)
            except ValueError:
                new.append((pid, card, hexed, "unreadable audit line"))
                continue
            reason = violation(apdu)
            if reason is not None:
                if apdu[1:2] in (b"\x20", b"\x24", b"\x2c") and len(apdu) > 5:
                    self.pin_bytes += 1
                new.append((pid, card, hexed, reason))
        self.violations += new
        return new


AUDIT = Audit()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "audit_exempt: the test itself sends raw (possibly forbidden) APDUs to a card"
    )
    # One file per session, whatever an outer process set: children inherit it.
    fd, name = tempfile.mkstemp(prefix="cardwatch-apdu-audit-", suffix=".log")
    os.close(fd)
    AUDIT.path = Path(name)
    os.environ[AUDIT_ENV] = name


def pytest_unconfigure(config: pytest.Config) -> None:
    if AUDIT.path is not None:
        AUDIT.path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def apdu_audit(request: pytest.FixtureRequest) -> Iterator[Audit]:
    """Fail the test when any virtual card, in any process, received a forbidden command."""
    AUDIT.read_new()  # whatever came in between tests counts for the session
    exempt = request.node.get_closest_marker("audit_exempt") is not None
    if request.node.get_closest_marker("bench") is not None:
        AUDIT.bench_used = True
    yield AUDIT
    new = AUDIT.read_new(exempt=exempt)
    if new:
        pytest.fail(f"forbidden APDUs reached a virtual card: {new[:5]}", pytrace=False)


def bench_started() -> None:
    """Called by the pcscd bench fixture: this session must then see APDUs."""
    AUDIT.bench_used = True


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    AUDIT.read_new()
    if AUDIT.violations or (AUDIT.bench_used and AUDIT.total == 0):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        f"APDU audit: {AUDIT.total} APDUs received by virtual cards in "
        f"{len(AUDIT.processes)} process(es), {len(AUDIT.violations)} outside the allowlist, "
        f"{AUDIT.pin_bytes} carrying PIN bytes ({AUDIT.exempted} sent by tests on purpose)"
    )
    for pid, card, hexed, reason in AUDIT.violations[:20]:
        terminalreporter.write_line(
            f"APDU audit: FORBIDDEN {hexed} to {card} (pid {pid}): {reason}"
        )
    if AUDIT.bench_used and AUDIT.total == 0:
        terminalreporter.write_line(
            "APDU audit: FAILED: the pcscd bench ran but no virtual card received any APDU"
        )
