"""The exception hierarchy: each error carries the data needed to explain it once, in the CLI."""

from __future__ import annotations


class CardwatchError(Exception):
    """Base of every error Cardwatch raises on purpose."""


class ServiceUnavailable(CardwatchError):
    """The PC/SC service (pcscd, SCardSvr) is not installed, not running or not reachable."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or "PC/SC service unavailable")
        self.detail = detail


class ReaderError(CardwatchError):
    """The reader failed: vanished, or a transmission failed at the reader level."""

    def __init__(self, reader: str, detail: str = "") -> None:
        super().__init__(f"{reader}: {detail}" if detail else reader)
        self.reader = reader
        self.detail = detail


class CardRemoved(CardwatchError):
    """The card was removed (or reset by someone else) during the check."""


class CardUnresponsive(CardwatchError):
    """The card gives no answer to reset: mute, unpowered, inserted the wrong way or dirty."""


class ForbiddenApdu(CardwatchError):
    """The guard refused a command: it is not on the read-only allowlist."""

    def __init__(self, apdu: bytes, reason: str) -> None:
        super().__init__(f"refused APDU {apdu[:4].hex().upper()}: {reason}")
        self.apdu = bytes(apdu)
        self.reason = reason


class ApduError(CardwatchError):
    """A command answered with an unexpected status word."""

    def __init__(self, sw: int, what: str = "") -> None:
        super().__init__(f"{what}: SW {sw:04X}" if what else f"SW {sw:04X}")
        self.sw = sw
        self.what = what


class CardDataError(CardwatchError):
    """The card answered, but its data does not have the expected layout."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class ProtocolLoop(CardDataError):
    """The card kept asking for GET RESPONSE / resend beyond any sane bound."""


class CardInUse(CardwatchError):
    """Another program holds the card exclusively."""


class CardTooSlow(CardwatchError):
    """The card took longer than the check's time budget to answer."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"card answered too slowly ({seconds:.1f} s)")
        self.seconds = seconds
