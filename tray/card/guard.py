"""The one channel all card traffic passes: a read-only allowlist, bounded response chaining.

Nothing reaches a card unless :meth:`Allowlist.refusal` returns None for it. The list is
deliberately short: SELECT, READ BINARY, READ RECORD, GET DATA, GET RESPONSE, VERIFY
*without a data field* (which presents no PIN and, on cards whose specification says so,
only reports the tries left) for the profiles that declare it safe, and SELECT DATA only as
the exact commands a profile lists (OpenPGP v3: which certificate GET DATA 7F21 returns).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from .. import trace
from ..errors import ForbiddenApdu, ProtocolLoop
from .apdu import (
    INS_GET_DATA,
    INS_GET_DATA_ODD,
    INS_GET_RESPONSE,
    INS_READ_BINARY,
    INS_READ_RECORD,
    INS_SELECT,
    INS_SELECT_DATA,
    INS_VERIFY,
    Response,
    command,
)

TRAFFIC = 5  # log level for APDU dumps, below DEBUG
logging.addLevelName(TRAFFIC, "TRAFFIC")
log = logging.getLogger("cardwatch.traffic")

MAX_CHAINED_RESPONSES = 64
MAX_RESPONSE_BYTES = 64 * 1024


class Transport(Protocol):
    """The hardware seam: one APDU out, data and status word back."""

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send ``apdu`` and return (data, sw)."""
        ...


# Instructions readable under each class byte. CLA 80 is the proprietary class HiCOS
# generation 1 cards require for their plain SELECT and READ BINARY.
_READ_INS: Mapping[int, frozenset[int]] = MappingProxyType(
    {
        0x00: frozenset(
            {
                INS_SELECT,
                INS_READ_BINARY,
                INS_READ_RECORD,
                INS_GET_DATA,
                INS_GET_DATA_ODD,
                INS_GET_RESPONSE,
            }
        ),
        0x80: frozenset({INS_SELECT, INS_READ_BINARY, INS_GET_RESPONSE}),
    }
)
_SELECT_P1 = frozenset({0x00, 0x04, 0x08})
_NO_DATA_INS = frozenset({INS_READ_BINARY, INS_READ_RECORD, INS_GET_DATA, INS_GET_RESPONSE})


@dataclass(frozen=True)
class Allowlist:
    """Which commands may reach the card; ``empty_verify_p2`` lists PIN references whose
    data-less VERIFY the profile's specification defines as a pure status query;
    ``select_data`` the exact SELECT DATA commands the profile may send (nothing else with
    that instruction passes)."""

    empty_verify_p2: frozenset[int] = field(default_factory=frozenset)
    select_data: frozenset[bytes] = field(default_factory=frozenset)

    def refusal(self, apdu: bytes) -> str | None:
        """Why ``apdu`` must not be sent, or None when it is allowed."""
        if len(apdu) < 4:
            return "shorter than a command header"
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        body = apdu[4:]
        data = b""
        if len(body) > 1:
            lc = body[0]
            if lc == 0:
                return "extended-length commands are not used"
            if len(body) not in (1 + lc, 2 + lc):
                return "Lc does not match the command length"
            data = body[1 : 1 + lc]
        if ins == INS_VERIFY:
            if cla != 0x00 or p1 != 0x00:
                return "VERIFY outside the plain status query"
            if body:
                return "VERIFY with a data field or Le would present a PIN"
            if p2 not in self.empty_verify_p2:
                return "no safe PIN status query is known for this card"
            return None
        if ins == INS_SELECT_DATA:
            if apdu not in self.select_data:
                return "SELECT DATA other than the profile's exact commands"
            return None
        allowed = _READ_INS.get(cla)
        if allowed is None:
            return f"class byte {cla:02X} is not used"
        if ins not in allowed:
            return f"instruction {ins:02X} is not a read"
        if ins == INS_SELECT and p1 not in _SELECT_P1:
            return "SELECT mode not used"
        if ins in _NO_DATA_INS and data:
            return "read command carries a data field"
        if ins == INS_GET_DATA_ODD and (p1, p2) != (0x3F, 0xFF):
            return "GET DATA (odd) only for the current application's data objects"
        if ins == INS_GET_RESPONSE and (p1, p2) != (0, 0):
            return "GET RESPONSE with parameters"
        return None


class Channel:
    """Guarded card channel: refuses non-allowlisted APDUs, follows 61xx / 6Cxx within bounds."""

    def __init__(self, transport: Transport, allowlist: Allowlist | None = None) -> None:
        self._transport = transport
        self._allowlist = allowlist or Allowlist()
        self.count = 0

    @property
    def allowlist(self) -> Allowlist:
        """What this channel lets through: fixed for the channel's life."""
        return self._allowlist

    def _raw(self, apdu: bytes) -> Response:
        reason = self._allowlist.refusal(apdu)
        if reason is not None:
            raise ForbiddenApdu(apdu, reason)
        log.log(TRAFFIC, "> %s", apdu.hex(" ").upper())
        trace.mark("apdu_sent")
        data, sw = self._transport.transmit(apdu)
        trace.mark("apdu_answered")
        self.count += 1
        log.log(TRAFFIC, "< %s %04X", data.hex(" ").upper(), sw)
        return Response(bytes(data), sw & 0xFFFF)

    def send(self, apdu: bytes) -> Response:
        """Send one command; collect chained responses; resend once on 6Cxx."""
        resp = self._raw(apdu)
        if resp.sw1 == 0x6C and len(apdu) == 5:  # only a case-2 command has an Le to correct
            resp = self._raw(apdu[:4] + bytes((resp.sw & 0xFF,)))
        data = bytearray(resp.data)
        rounds = 0
        while resp.sw1 == 0x61:
            rounds += 1
            if rounds > MAX_CHAINED_RESPONSES or len(data) > MAX_RESPONSE_BYTES:
                raise ProtocolLoop("card keeps announcing more response data")
            resp = self._raw(command(0x00, INS_GET_RESPONSE, 0, 0, le=(resp.sw & 0xFF) or 256))
            data += resp.data
        return Response(bytes(data), resp.sw)
