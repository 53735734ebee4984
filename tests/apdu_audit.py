"""APDU audit: every command any virtual card receives in the whole suite is checked here.

This is written independently of ``tray.card.guard`` on purpose: the guard is what is under
audit. A read-only command set is allowed; VERIFY only without a data field (a status
query that presents no PIN), and SELECT DATA only as the six exact commands that pick an
OpenPGP v3 certificate occurrence (0-2, with or without the YubiKey <= 5.4.3 leading 06).
Anything else fails the test that caused it, and the session summary prints the totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tray.demo import card as card_module

READ_INS = {0xA4, 0xB0, 0xB2, 0xCA, 0xCB, 0xC0}
PIN_INS = {0x20, 0x24, 0x2C}
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
    ins = apdu[1]
    if ins == 0xA5:
        return None if apdu in SELECT_DATA else "SELECT DATA other than an OpenPGP occurrence"
    if ins in PIN_INS:
        if ins == 0x20 and len(apdu) == 4:
            return None
        return "PIN command with data" if len(apdu) > 5 else "PIN-changing command"
    if ins not in READ_INS:
        return f"instruction {ins:02X} is not a read"
    return None


@dataclass
class Audit:
    total: int = 0
    pin_bytes: int = 0
    violations: list[tuple[str, str, str]] = field(default_factory=list)
    exempt: bool = False


AUDIT = Audit()


def _install() -> None:
    original = card_module.VirtualCard.respond
    if getattr(original, "_audited", False):
        return

    def respond(self: card_module.VirtualCard, apdu: bytes) -> bytes:
        if not AUDIT.exempt:
            AUDIT.total += 1
            reason = violation(bytes(apdu))
            if reason is not None:
                if bytes(apdu)[1:2] in (b"\x20", b"\x24", b"\x2c") and len(apdu) > 5:
                    AUDIT.pin_bytes += 1
                AUDIT.violations.append((type(self).__name__, bytes(apdu).hex().upper(), reason))
        return original(self, apdu)

    respond._audited = True  # type: ignore[attr-defined]
    card_module.VirtualCard.respond = respond  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "audit_exempt: the test itself sends raw (possibly forbidden) APDUs to a card"
    )
    _install()


@pytest.fixture(autouse=True)
def apdu_audit(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Fail the test when any virtual card received a forbidden command during it."""
    before = len(AUDIT.violations)
    AUDIT.exempt = request.node.get_closest_marker("audit_exempt") is not None
    yield AUDIT
    AUDIT.exempt = False
    new = AUDIT.violations[before:]
    if new:
        pytest.fail(f"forbidden APDUs reached a virtual card: {new[:5]}", pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        f"APDU audit: {AUDIT.total} APDUs received by virtual cards, "
        f"{len(AUDIT.violations)} outside the allowlist, {AUDIT.pin_bytes} carrying PIN bytes"
    )
