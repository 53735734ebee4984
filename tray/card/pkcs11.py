"""PKCS#11 middleware route: read a token's public certificates and PIN flags without logging in.

The only module that imports PyKCS11, and only inside functions, so Cardwatch runs without it.
Read-only by construction: sessions are opened with CKF_SERIAL_SESSION alone (never
CKF_RW_SESSION), C_Login is never called, and only public certificate objects are searched.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import CardDataError
from ..i18n import _
from ..model import CardCertificate, CardReading, PinState, PinStatus
from .issuers import MOICA_SITE

log = logging.getLogger(__name__)

#: Candidate module paths per platform, vendor modules first: the first source that reads a
#: token wins, and a card's own middleware knows it better than a generic one. Glob patterns
#: are expanded; ``~`` is the user's home.
KNOWN_MODULES: dict[str, tuple[str, ...]] = {
    "linux": (
        # The HiPKI local sign server download unpacks here (or under the user's home).
        "/usr/local/HiPKILocalSignServerApp/**/libHicos_p11*.so",
        "~/HiPKILocalSignServerApp/**/libHicos_p11*.so",
        "~/*/HiPKILocalSignServerApp/**/libHicos_p11*.so",
        "/usr/lib/libHicos_p11.so",
        "/usr/lib/x86_64-linux-gnu/libHicos_p11.so",
        "/usr/local/lib/libHicos_p11.so",
        "/opt/*/libHicos_p11.so",
        "/opt/*/lib/libHicos_p11.so",
        "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib64/opensc-pkcs11.so",
        "/usr/lib/opensc-pkcs11.so",
        "/usr/local/lib/opensc-pkcs11.so",
    ),
    "darwin": (
        "~/Library/HiPKILocalSignServer/**/libHicos_p11v1.dylib",
        "/opt/homebrew/lib/libHicos_p11v1.dylib",
        "/usr/local/lib/libHicos_p11v1.dylib",
        "/Library/FBTokenLib/**/libHicos_p11v1.dylib",
        "/Library/OpenSC/lib/opensc-pkcs11.so",
        "/opt/homebrew/lib/opensc-pkcs11.so",
        "/usr/local/lib/opensc-pkcs11.so",
    ),
    "win32": (
        "C:\\Windows\\System32\\HiCOSPKCS11.dll",
        "C:\\Windows\\System32\\opensc-pkcs11.dll",
        "C:\\Program Files\\OpenSC Project\\OpenSC\\pkcs11\\opensc-pkcs11.dll",
    ),
}

# PKCS#11 constants, copied so that this module imports without PyKCS11.
CKF_SERIAL_SESSION = 0x4
CKF_RW_SESSION = 0x2
CKF_USER_PIN_COUNT_LOW = 0x10000
CKF_USER_PIN_FINAL_TRY = 0x20000
CKF_USER_PIN_LOCKED = 0x40000
CKO_CERTIFICATE = 0x1
CKA_CLASS = 0x0
CKA_PRIVATE = 0x2
CKA_LABEL = 0x3
CKA_VALUE = 0x11
CKA_CERTIFICATE_CATEGORY = 0x87
CKA_ID = 0x102
CK_CERTIFICATE_CATEGORY_AUTHORITY = 2

#: Return values that mean "no (usable) token in that slot" rather than a fault.
NO_TOKEN_CKRS = frozenset(
    {
        0x03,  # CKR_SLOT_ID_INVALID: the reader went away between calls
        0x32,  # CKR_DEVICE_REMOVED
        0xB3,  # CKR_SESSION_HANDLE_INVALID: card pulled, session gone
        0xB4,  # CKR_SESSION_CLOSED
        0xE0,  # CKR_TOKEN_NOT_PRESENT
        0xE1,  # CKR_TOKEN_NOT_RECOGNIZED: a card the module has no driver for
    }
)

#: PKCS#11 pads slot descriptions to 64 characters, so longer reader names arrive cut off.
SLOT_DESCRIPTION_LEN = 64

#: Only this flag combination is ever passed to C_OpenSession.
READ_ONLY_SESSION = CKF_SERIAL_SESSION


class _NoToken(Exception):
    """Internal: the slot holds no token this module can read."""


def platform_key(platform: str | None = None) -> str:
    """Map ``sys.platform`` spellings onto the keys of :data:`KNOWN_MODULES`."""
    name = platform or sys.platform
    if name.startswith("linux"):
        return "linux"
    if name.startswith(("win", "cygwin", "msys")):
        return "win32"
    return name


def pykcs11_available() -> bool:
    """Whether PyKCS11 can be imported."""
    try:
        import PyKCS11  # noqa: F401
    except ImportError:
        return False
    return True


def known_modules(platform: str | None = None) -> list[str]:
    """Existing files among the known module paths for ``platform`` (default: this one)."""
    found: list[str] = []
    for pattern in KNOWN_MODULES.get(platform_key(platform), ()):
        expanded = os.path.expanduser(pattern)
        if glob.has_magic(expanded):
            found += sorted(glob.glob(expanded, recursive=True))
        elif os.path.isfile(expanded):
            found.append(expanded)
    return found


def is_generic(path: str) -> bool:
    """A generic module (OpenSC) that probes a card with every driver it has.

    On a card none of its drivers knows, OpenSC's probing costs seconds and well over a
    hundred SELECTs; a vendor module only answers for its own cards.
    """
    return "opensc" in os.path.basename(path).casefold()


def discover(
    extra: Sequence[str] = (), platform: str | None = None, probe_unknown: bool = False
) -> list[Pkcs11Source]:
    """PKCS#11 sources: explicit ``extra`` paths first, then installed known modules.

    An installed generic module (OpenSC) that the user did not name is listed but not asked
    (``active`` False) unless ``probe_unknown``: it would run its full driver probe on a card
    every built-in profile has already rejected.
    """
    if not pykcs11_available():
        log.info("PyKCS11 is not installed: the PKCS#11 middleware route is off")
        return []
    paths: list[str] = []
    for path in extra:
        expanded = os.path.expanduser(path)
        if os.path.isfile(expanded):
            paths.append(expanded)
        else:
            log.warning("PKCS#11 module %s not found; skipped", path)
    named = len(paths)
    paths += known_modules(platform)
    sources: list[Pkcs11Source] = []
    seen: set[str] = set()
    for index, path in enumerate(paths):
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        asked = index < named or probe_unknown or not is_generic(path)
        if not asked:
            log.info(
                "PKCS#11 module %s is not asked about unknown cards "
                "([pkcs11] probe_unknown = true or --pkcs11-probe asks it)",
                path,
            )
        sources.append(Pkcs11Source(path, active=asked))
    return sources


def slot_matches(description: str, reader: str) -> bool:
    """Whether a PKCS#11 slot description names the PC/SC reader ``reader``."""
    desc = description.strip()
    name = reader.strip()
    if not desc or not name:
        return False
    if desc in (name, name[:SLOT_DESCRIPTION_LEN].rstrip()):
        return True
    # Some modules decorate the reader name, e.g. "Reader 00 00 (PIV)".
    if desc.startswith(name) and not desc[len(name)].isalnum():
        return True
    # A module with a shorter field than 64 cuts the name: accept only a long prefix, so that
    # "Reader 1" never claims "Reader 10".
    return len(desc) >= SLOT_DESCRIPTION_LEN - 8 and name.startswith(desc)


def pin_state(flags: int) -> tuple[PinState, int | None]:
    """PIN state and tries left from CK_TOKEN_INFO flags (flags give no exact count)."""
    if flags & CKF_USER_PIN_LOCKED:
        return PinState.LOCKED, 0
    if flags & CKF_USER_PIN_FINAL_TRY:
        return PinState.FINAL_TRY, 1
    if flags & CKF_USER_PIN_COUNT_LOW:
        return PinState.COUNT_LOW, None
    return PinState.OK, None


def _is_hicos(token: _Token) -> bool:
    """A Chunghwa Telecom HiCOS token (MOICA and other HiCOS cards)."""
    return "chunghwa" in token.manufacturer.casefold() or "hicos" in token.label.casefold()


def _text(value: Any) -> str:
    """A padded PKCS#11 text field, stripped."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    return str(value or "").replace("\x00", " ").strip()


def _ckr(exc: Exception) -> int | None:
    """The CKR_ value of a PyKCS11Error (None for anything else)."""
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class _Token:
    """What one matching slot gave."""

    label: str
    manufacturer: str
    model: str
    serial: str
    flags: int
    certificates: tuple[CardCertificate, ...]


class Pkcs11Source:
    """One PKCS#11 module, loaded on first use; implements :class:`tray.check.run.Middleware`.

    PyKCS11 keeps the GIL during every PKCS#11 call, so while a module works (or hangs) no
    other Python thread of this process runs. Calls are serialised: modules are initialised
    without locking callbacks.
    """

    def __init__(self, path: str, active: bool = True) -> None:
        self.name = path
        #: False: listed but never loaded for a card (a generic module the user did not ask for).
        self.active = active
        self._lib: Any = None
        self._lock = threading.Lock()
        #: Seconds C_Initialize (load) and the last read took, for the log and the tests.
        self.load_seconds: float | None = None
        self.read_seconds: float | None = None

    def __repr__(self) -> str:
        return f"Pkcs11Source({self.name!r})"

    def read(self, reader: str) -> CardReading | None:
        """Read public certificates and PIN flags of the token in ``reader``; None if none."""
        with self._lock:
            started = time.monotonic()
            try:
                lib = self._load()
                tokens = self._tokens(lib, reader)
            finally:
                self.read_seconds = time.monotonic() - started
        log.debug("%s read %r in %.3f s", self.name, reader, self.read_seconds)
        if not tokens:
            return None
        return self._reading(tokens)

    def close(self) -> None:
        """C_Finalize and unload the module; the next read loads it again."""
        with self._lock:
            lib, self._lib = self._lib, None
            if lib is not None:
                with self._pkcs11_errors("C_Finalize"):
                    lib.unload()

    def __enter__(self) -> Pkcs11Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load(self) -> Any:
        if self._lib is not None:
            return self._lib
        try:
            import PyKCS11
        except ImportError:
            raise CardDataError(
                _("PyKCS11 is not installed; cannot use PKCS#11 module {name}").format(
                    name=self.name
                )
            ) from None
        started = time.monotonic()
        lib = PyKCS11.PyKCS11Lib()
        # load() also runs C_Initialize, which is when OpenSC reads its configuration.
        with self._pkcs11_errors("C_Initialize"):
            lib.load(self.name)
        self.load_seconds = time.monotonic() - started
        log.debug("loaded %s in %.3f s", self.name, self.load_seconds)
        self._lib = lib
        return lib

    def _tokens(self, lib: Any, reader: str) -> list[_Token]:
        with self._pkcs11_errors("C_GetSlotList"):
            slots = lib.getSlotList(tokenPresent=True)
        tokens: list[_Token] = []
        for slot in slots:
            try:
                with self._pkcs11_errors("C_GetSlotInfo", per_slot=True):
                    description = _text(lib.getSlotInfo(slot).slotDescription)
                if not slot_matches(description, reader):
                    continue
                tokens.append(self._token(lib, slot))
            except _NoToken:
                continue
        return tokens

    def _token(self, lib: Any, slot: int) -> _Token:
        with self._pkcs11_errors("C_GetTokenInfo", per_slot=True):
            info = lib.getTokenInfo(slot)
        certificates = self._certificates(lib, slot)
        return _Token(
            label=_text(info.label),
            manufacturer=_text(info.manufacturerID),
            model=_text(info.model),
            serial=_text(info.serialNumber),
            flags=int(info.flags),
            certificates=certificates,
        )

    def _certificates(self, lib: Any, slot: int) -> tuple[CardCertificate, ...]:
        # Never CKF_RW_SESSION and never C_Login: a public, read-only look only.
        with self._pkcs11_errors("C_OpenSession", per_slot=True):
            session = lib.openSession(slot, READ_ONLY_SESSION)
        try:
            with self._pkcs11_errors("C_FindObjects", per_slot=True):
                handles = session.findObjects([(CKA_CLASS, CKO_CERTIFICATE), (CKA_PRIVATE, False)])
            found: list[CardCertificate] = []
            for handle in handles:
                with self._pkcs11_errors("C_GetAttributeValue", per_slot=True):
                    value, label, key_id, category = session.getAttributeValue(
                        handle,
                        [CKA_VALUE, CKA_LABEL, CKA_ID, CKA_CERTIFICATE_CATEGORY],
                        allAsBinary=True,
                    )
                if not value:
                    continue
                authority = (
                    category is not None
                    and int.from_bytes(bytes(category), sys.byteorder)
                    == CK_CERTIFICATE_CATEGORY_AUTHORITY
                )
                found.append(
                    CardCertificate(
                        der=bytes(value),
                        label=_text(bytes(label or b"")),
                        slot=bytes(key_id or b"").hex().upper(),
                        authority=authority,
                    )
                )
            return tuple(found)
        finally:
            try:
                session.closeSession()
            except Exception as exc:  # the card may be gone already; the data is read
                log.debug("C_CloseSession on %s failed: %s", self.name, exc)

    def _reading(self, tokens: list[_Token]) -> CardReading:
        first = tokens[0]
        certificates: list[CardCertificate] = []
        seen: set[bytes] = set()
        for token in tokens:
            for cert in token.certificates:
                if cert.der not in seen:
                    seen.add(cert.der)
                    certificates.append(cert)
        pins: list[PinStatus] = []
        for token in tokens:
            state, tries = pin_state(token.flags)
            source = _("PKCS#11 token flags")
            if state is PinState.OK and _is_hicos(token):
                # The HiCOS module never sets the count-low / final-try flags: empty flags say
                # nothing about the tries left, just as the direct route cannot read them.
                state = PinState.NOT_READABLE
                source = _("the HiCOS module reports no PIN counter")
            pins.append(
                PinStatus(
                    label=_("User PIN ({token})").format(token=token.label or "-"),
                    state=state,
                    tries_left=tries,
                    source=source,
                )
            )
        maker = ", ".join(part for part in (first.manufacturer, first.model) if part)
        card_type = f"{first.label} ({maker})" if first.label and maker else first.label or maker
        moica = _is_hicos(first)
        return CardReading(
            kind="pkcs11",
            card_type=card_type or _("PKCS#11 token"),
            application=_("PKCS#11 module {name}").format(name=self.name),
            card_number=first.serial or None,
            certificates=tuple(certificates),
            pins=tuple(pins),
            issuer_service=MOICA_SITE if moica else None,
        )

    @contextmanager
    def _pkcs11_errors(self, call: str, per_slot: bool = False) -> Iterator[None]:
        """Turn PyKCS11 errors into :class:`CardDataError` (or :class:`_NoToken` for a slot)."""
        try:
            yield
        except (CardDataError, _NoToken):
            raise
        except Exception as exc:
            if per_slot and _ckr(exc) in NO_TOKEN_CKRS:
                log.debug("%s: %s: %s (no token)", self.name, call, exc)
                raise _NoToken from None
            raise CardDataError(
                _("PKCS#11 module {name}: {call} failed ({error})").format(
                    name=self.name, call=call, error=exc
                )
            ) from None
