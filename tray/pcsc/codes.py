"""PC/SC result codes and reader states: one reading of them for the adapter and the watcher.

pyscard returns HRESULTs that may be negative on some platforms; every comparison goes
through :func:`code` so that 0x8010001D and -2146435043 are the same code.
"""

from __future__ import annotations

from smartcard import scard

from ..card.backend import CardState

#: the service or our context is gone: release the context, say "service down", start over
SERVICE_LOST = frozenset(
    {
        scard.SCARD_E_NO_SERVICE,
        scard.SCARD_E_SERVICE_STOPPED,
        scard.SCARD_E_INVALID_HANDLE,
        scard.SCARD_F_COMM_ERROR,
        scard.SCARD_E_NO_ACCESS,
        scard.SCARD_F_INTERNAL_ERROR,
    }
)
#: said by a call on a card: the service itself stopped (other failures there are the reader's)
SERVICE_STOPPED = frozenset({scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED})
REMOVED = frozenset(
    {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD}
)
MUTE = frozenset({scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_W_UNPOWERED_CARD})
SHARING = frozenset({scard.SCARD_E_SHARING_VIOLATION})
NO_READERS = frozenset({scard.SCARD_E_NO_READERS_AVAILABLE})
CANCELLED = frozenset({scard.SCARD_E_CANCELLED})
TIMEOUT = frozenset({scard.SCARD_E_TIMEOUT})


def code(hresult: int) -> int:
    """The unsigned 32-bit code."""
    return hresult & 0xFFFFFFFF


def matches(hresult: int, codes: frozenset[int]) -> bool:
    """Whether ``hresult`` is one of ``codes``."""
    return code(hresult) in {code(c) for c in codes}


def message(hresult: int) -> str:
    """pcsc-lite's words for the code, and the code in hex."""
    try:
        text = str(scard.SCardGetErrorMessage(hresult)).rstrip(". ")
    except Exception:  # pyscard versions differ in what this raises for unknown codes
        text = ""
    return f"{text} (0x{code(hresult):08X})" if text else f"0x{code(hresult):08X}"


def card_state(event: int, atr: bytes) -> CardState:
    """The slot state PC/SC reports in a reader's ``event`` state and ATR."""
    if event & scard.SCARD_STATE_UNAVAILABLE:
        return CardState.UNAVAILABLE
    if event & scard.SCARD_STATE_EMPTY or not event & scard.SCARD_STATE_PRESENT:
        return CardState.EMPTY
    if event & scard.SCARD_STATE_MUTE or not atr:
        return CardState.MUTE
    if event & scard.SCARD_STATE_EXCLUSIVE:
        return CardState.EXCLUSIVE
    return CardState.PRESENT
