"""The PKCS#11 middleware route on the real bench: OpenSC reads a virtual PIV card via pcscd.

PyKCS11 holds the GIL for the whole of every PKCS#11 call (measured: a ticking thread got one
tick during a 1.3 s C_Initialize), while the virtual card is served by a thread of this very
process. So every PKCS#11 call runs in a forked child (:class:`ChildSource`); the fork inherits
the environment and the monkeypatches made here. One child per test also means a fresh
C_Initialize per test: OpenSC's in-memory card state never leaks from one test into another.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from conftest import READERS, InsertCard
from cryptography.hazmat.primitives.serialization import Encoding

from tray.card import pkcs11
from tray.card.pkcs11 import Pkcs11Source, discover, pin_state, slot_matches
from tray.check.advice import MOICA_SITE
from tray.demo import certs
from tray.demo.cards import PIV_AID_PREFIX, MoicaGen2Card, PivCard
from tray.demo.scenarios import DEMO_CARD_NUMBER, moica_certs
from tray.errors import CardDataError
from tray.model import CardReading, PinState

PyKCS11: Any = pytest.importorskip("PyKCS11")

OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
needs_opensc = pytest.mark.skipif(not Path(OPENSC).is_file(), reason="opensc-pkcs11 not installed")

# Only the PIV driver and emulator, so OpenSC does not probe the card with other drivers'
# SELECTs; no file cache, so every run reads the card itself. Syntax: opensc.conf(5).
OPENSC_CONF = """\
app default {
    card_drivers = PIV-II;
    disable_popups = true;
    framework pkcs15 {
        use_file_caching = no;
        use_pin_caching = false;
        builtin_emulators = PIV-II;
    }
}
"""

#: Instructions OpenSC may send (as the audit in tests/apdu_audit.py also demands).
READ_INS = {0xA4, 0xB0, 0xB2, 0xCA, 0xCB, 0xC0}
CHILD_TIMEOUT = 60.0

# Filled in the forked child by the patched PyKCS11 methods and sent back with every answer.
_CALLS: list[str] = []
_SESSION_FLAGS: list[int] = []


def _serve(conn: Connection, path: str) -> None:
    """Child: answer ("read", reader) and ("close",) requests with one Pkcs11Source."""
    source = Pkcs11Source(path)
    while True:
        request = conn.recv()
        result: object
        try:
            if request[0] == "read":
                result = source.read(request[1])
            else:
                source.close()
                result = None
        except CardDataError as exc:
            result = exc
        except Exception as exc:  # anything else, e.g. the refused login, must reach the test
            result = RuntimeError(f"{type(exc).__name__}: {exc}")
        conn.send((result, source.load_seconds, source.read_seconds, _CALLS, _SESSION_FLAGS))
        if request[0] == "close":
            return


class ChildSource:
    """A :class:`Pkcs11Source` living in a forked child, driven over a pipe."""

    def __init__(self, path: str = OPENSC) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child_conn = context.Pipe()
        self._proc = context.Process(target=_serve, args=(child_conn, path), daemon=True)
        self._proc.start()
        child_conn.close()
        self.load_seconds: float | None = None
        self.read_seconds: float | None = None
        self.calls: list[str] = []
        self.session_flags: list[int] = []

    def _ask(self, *request: str) -> object:
        self._conn.send(request)
        if not self._conn.poll(CHILD_TIMEOUT):
            self._proc.kill()
            pytest.fail(f"PKCS#11 child gave no answer to {request} in {CHILD_TIMEOUT} s")
        result, self.load_seconds, self.read_seconds, self.calls, self.session_flags = (
            self._conn.recv()
        )
        return result

    def read(self, reader: str = READERS[0]) -> CardReading | None:
        """Read in the child; an exception raised there is raised here."""
        result = self._ask("read", reader)
        if isinstance(result, Exception):
            raise result
        assert result is None or isinstance(result, CardReading)
        return result

    def close(self) -> None:
        """C_Finalize in the child and let it exit."""
        if self._proc.is_alive():
            self._ask("close")
            self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
        self._conn.close()


@pytest.fixture
def opensc_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private OpenSC configuration, in the environment before any child loads the module."""
    conf = tmp_path / "opensc.conf"
    conf.write_text(OPENSC_CONF)
    monkeypatch.setenv("OPENSC_CONF", str(conf))
    # Either would override the file: OPENSC_DRIVER the driver list, OPENSC_DEBUG the log level.
    monkeypatch.delenv("OPENSC_DRIVER", raising=False)
    monkeypatch.delenv("OPENSC_DEBUG", raising=False)
    return conf


@pytest.fixture
def no_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """C_Login raises (and is recorded); C_OpenSession records its flags."""

    def refuse(*args: object, **kwargs: object) -> None:
        _CALLS.append("login")
        raise AssertionError("C_Login must never be called")

    original_open = PyKCS11.PyKCS11Lib.openSession

    def open_session(self: Any, slot: int, flags: int = 0) -> Any:
        _SESSION_FLAGS.append(flags)
        return original_open(self, slot, flags)

    monkeypatch.setattr(PyKCS11.Session, "login", refuse)
    monkeypatch.setattr(PyKCS11.LowLevel.CPKCS11Lib, "C_Login", refuse)
    monkeypatch.setattr(PyKCS11.PyKCS11Lib, "openSession", open_session)


@pytest.fixture
def child(opensc_conf: Path, no_login: None, vpcd: InsertCard) -> Iterator[ChildSource]:
    """OpenSC loaded in a child, with the private config, the bench running and login refused."""
    source = ChildSource()
    yield source
    source.close()
    assert source.calls == []
    assert all(not flags & PyKCS11.CKF_RW_SESSION for flags in source.session_flags)


def der(cert: Any) -> bytes:
    return bytes(cert.public_bytes(Encoding.DER))


def piv_card(pin_tries: int = 3, name: str = "Jane Doe") -> tuple[PivCard, bytes, bytes]:
    now = datetime.now(timezone.utc)
    auth = der(certs.piv_person(now, 200, name=name))
    sign = der(certs.piv_person(now, 100, name=name, usage="sign"))
    return PivCard({0x9A: auth, 0x9C: sign}, pin_tries=pin_tries), auth, sign


def assert_only_piv_reads(card: PivCard) -> None:
    """Every APDU is a read or an empty VERIFY, and the only SELECT is the PIV application's."""
    assert card.received
    for apdu in card.received:
        ins = apdu[1]
        assert ins in READ_INS or (ins == 0x20 and len(apdu) == 4), apdu.hex()
        if ins == 0xA4:
            assert apdu[5:].startswith(PIV_AID_PREFIX), apdu.hex()


# --------------------------------------------------------------------------- bench


@needs_opensc
def test_opensc_reads_the_piv_certificates_without_logging_in(
    child: ChildSource, vpcd: InsertCard
) -> None:
    card, auth, sign = piv_card()
    vpcd(card)

    reading = child.read(READERS[0])

    assert reading is not None
    assert reading.kind == "pkcs11"
    assert {c.der for c in reading.certificates} == {auth, sign}
    by_der = {c.der: c for c in reading.certificates}
    # OpenSC's PIV emulator numbers the key pairs: 01 is slot 9A, 02 is slot 9C.
    assert (by_der[auth].slot, by_der[sign].slot) == ("01", "02")
    assert by_der[auth].label == "Certificate for PIV Authentication"
    assert reading.card_type == "Jane Doe (piv_II, PKCS#15 emulated)"
    assert reading.card_number  # OpenSC derives the token serial from the CHUID GUID
    assert reading.application == f"PKCS#11 module {OPENSC}"
    assert reading.issuer_service is None
    assert_only_piv_reads(card)
    assert child.session_flags == [PyKCS11.CKF_SERIAL_SESSION]
    assert child.calls == []
    assert child.load_seconds is not None and child.read_seconds is not None
    print(
        f"C_Initialize {child.load_seconds:.3f} s, read {child.read_seconds:.3f} s, "
        f"{len(card.received)} APDUs"
    )


@needs_opensc
@pytest.mark.parametrize(
    ("tries", "state", "tries_left"),
    [
        (3, PinState.OK, None),
        # OpenSC never sets CKF_USER_PIN_COUNT_LOW: two tries left still reads as OK.
        (2, PinState.OK, None),
        (1, PinState.FINAL_TRY, 1),
        (0, PinState.LOCKED, 0),
    ],
)
def test_pin_state_comes_from_the_token_flags(
    child: ChildSource, vpcd: InsertCard, tries: int, state: PinState, tries_left: int | None
) -> None:
    card, _auth, _sign = piv_card(pin_tries=tries)
    vpcd(card)

    reading = child.read()

    assert reading is not None
    (pin,) = reading.pins
    assert (pin.state, pin.tries_left, pin.source) == (state, tries_left, "PKCS#11 token flags")
    assert card.pin_tries == tries  # the status query spent nothing
    assert_only_piv_reads(card)


@needs_opensc
def test_a_loaded_module_sees_pin_changes_and_card_swaps(
    child: ChildSource, vpcd: InsertCard, pcsc_bench: Any
) -> None:
    card, auth, _sign = piv_card()
    plugged = vpcd(card)
    first = child.read()
    assert first is not None and first.pins[0].state is PinState.OK

    card.pin_tries = 1  # as if another program had presented two wrong PINs
    again = child.read()
    assert again is not None and again.pins[0].state is PinState.FINAL_TRY

    plugged.remove()
    pcsc_bench.wait_card(READERS[0], present=False, timeout=5.0)
    assert child.read() is None

    other, other_auth, other_sign = piv_card(name="John Roe")
    vpcd(other)
    swapped = child.read()
    assert swapped is not None
    assert {c.der for c in swapped.certificates} == {other_auth, other_sign}
    assert auth not in {c.der for c in swapped.certificates}
    assert_only_piv_reads(card)
    assert_only_piv_reads(other)


@needs_opensc
def test_empty_reader_gives_none(child: ChildSource, vpcd: InsertCard) -> None:
    assert child.read(READERS[0]) is None


@needs_opensc
def test_token_in_another_reader_is_not_claimed(child: ChildSource, vpcd: InsertCard) -> None:
    card, _auth, _sign = piv_card()
    vpcd(card, slot=1)

    assert child.read(READERS[0]) is None
    assert child.read(READERS[1]) is not None


@needs_opensc
def test_card_without_an_opensc_driver_gives_none(child: ChildSource, vpcd: InsertCard) -> None:
    card = MoicaGen2Card(moica_certs(datetime.now(timezone.utc), 412), DEMO_CARD_NUMBER)
    vpcd(card)

    assert child.read() is None


@needs_opensc
def test_no_opensc_file_cache_is_written(
    child: ChildSource, vpcd: InsertCard, tmp_path: Path
) -> None:
    card, _auth, _sign = piv_card()
    vpcd(card)

    assert child.read() is not None
    assert not list(tmp_path.rglob("opensc*/*")), "OpenSC wrote a file cache"


# --------------------------------------------------------------------------- discovery


@needs_opensc
def test_discover_finds_opensc() -> None:
    sources = discover()
    real = {os.path.realpath(s.name) for s in sources}
    assert os.path.realpath(OPENSC) in real
    assert len(real) == len(sources)


@needs_opensc
def test_explicit_path_comes_first_and_a_symlink_is_not_listed_twice() -> None:
    link = "/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so"
    if not os.path.islink(link):
        pytest.skip("no pkcs11/ symlink to OpenSC here")
    sources = discover([link])
    assert sources[0].name == link
    assert [s.name for s in sources].count(OPENSC) == 0


def test_missing_explicit_path_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-pkcs11.so")
    with caplog.at_level(logging.WARNING, logger="tray.card.pkcs11"):
        sources = discover([missing], platform="win32")
    assert missing not in [s.name for s in sources]
    assert any(missing in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


def test_known_hicos_module_is_globbed_before_opensc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    hicos = home / "Library/HiPKILocalSignServer/lib/x64/libHicos_p11v1.dylib"
    hicos.parent.mkdir(parents=True)
    hicos.write_bytes(b"")
    monkeypatch.setenv("HOME", str(home))
    assert pkcs11.known_modules("darwin")[0] == str(hicos)


def test_without_pykcs11_discovery_is_empty_and_reading_is_a_card_data_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "PyKCS11", None)
    assert discover([OPENSC]) == []
    with pytest.raises(CardDataError, match="PyKCS11 is not installed"):
        Pkcs11Source(OPENSC).read(READERS[0])


def test_module_imports_without_pykcs11() -> None:
    code = "import sys; sys.modules['PyKCS11'] = None; import tray.card.pkcs11 as m; print(m.discover())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_unloadable_module_is_a_card_data_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus-pkcs11.so"
    bogus.write_bytes(b"not a shared object")
    with pytest.raises(CardDataError, match="C_Initialize"):
        Pkcs11Source(str(bogus)).read(READERS[0])


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("description", "reader", "expected"),
    [
        ("Virtual PCD 00 00".ljust(64), "Virtual PCD 00 00", True),
        ("Virtual PCD 00 01".ljust(64), "Virtual PCD 00 00", False),
        ("Reader 1", "Reader 10", False),
        ("Reader 10", "Reader 1", False),
        ("Reader 1 (PIV)", "Reader 1", True),
        ("", "Reader 1", False),
        # A long reader name arrives cut to the 64 characters of slotDescription.
        (("X" * 70)[:64], "X" * 70, True),
    ],
)
def test_slot_description_matches_the_reader(description: str, reader: str, expected: bool) -> None:
    assert slot_matches(description, reader) is expected


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (0, (PinState.OK, None)),
        (pkcs11.CKF_USER_PIN_COUNT_LOW, (PinState.COUNT_LOW, None)),
        (pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_COUNT_LOW, (PinState.FINAL_TRY, 1)),
        (pkcs11.CKF_USER_PIN_LOCKED | pkcs11.CKF_USER_PIN_FINAL_TRY, (PinState.LOCKED, 0)),
    ],
)
def test_pin_flags_map_to_states(flags: int, expected: tuple[PinState, int | None]) -> None:
    assert pin_state(flags) == expected


def test_hicos_token_points_at_the_moica_site() -> None:
    token = pkcs11._Token(
        label="HiCOS PKI Smart Card",
        manufacturer="Chunghwa TeleCom Co., Ltd.",
        model="T7S",
        serial="TP03123456789012",
        flags=0,
        certificates=(),
    )
    reading = Pkcs11Source("/x/libHicos_p11.so")._reading([token])
    assert reading.issuer_service == MOICA_SITE
    assert reading.card_number == "TP03123456789012"
    assert reading.card_type == "HiCOS PKI Smart Card (Chunghwa TeleCom Co., Ltd., T7S)"


def test_hicos_middleware_unpacked_under_home_is_found_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    module = home / "Downloads/HiPKILocalSignServerApp/lib/libHicos_p11.so"
    module.parent.mkdir(parents=True)
    module.write_bytes(b"")
    monkeypatch.setenv("HOME", str(home))
    assert pkcs11.known_modules("linux")[0] == str(module)


def test_hicos_middleware_install_places_are_known() -> None:
    linux = pkcs11.KNOWN_MODULES["linux"]
    darwin = pkcs11.KNOWN_MODULES["darwin"]
    assert any(p.startswith("/usr/local/HiPKILocalSignServerApp/") for p in linux)
    for place in ("/opt/homebrew/lib/", "/usr/local/lib/", "/Library/FBTokenLib/"):
        assert any(p.startswith(place) and "libHicos_p11v1" in p for p in darwin), place


def test_hicos_token_with_empty_flags_says_not_readable_not_ok() -> None:
    hicos = pkcs11._Token("HiCOS PKI Smart Card", "Chunghwa TeleCom Co., Ltd.", "T7S", "", 0, ())
    other = pkcs11._Token("PIV_II", "piv_II", "PKCS#15 emulated", "", 0, ())
    assert Pkcs11Source("/x/libHicos_p11.so")._reading([hicos]).pins[0].state is (
        PinState.NOT_READABLE
    )
    assert Pkcs11Source("/x/opensc-pkcs11.so")._reading([other]).pins[0].state is PinState.OK
    locked = pkcs11._Token(
        "HiCOS PKI Smart Card",
        "Chunghwa TeleCom Co., Ltd.",
        "T7S",
        "",
        pkcs11.CKF_USER_PIN_LOCKED,
        (),
    )
    assert Pkcs11Source("/x/libHicos_p11.so")._reading([locked]).pins[0].state is PinState.LOCKED
