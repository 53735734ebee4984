"""PKCS#11 reads in a child process: OpenSC on the bench, and modules that hang or crash."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import READERS, InsertCard
from test_pkcs11 import OPENSC, needs_opensc, opensc_conf, piv_card  # noqa: F401

from tray.card.pkcs11_child import IsolatedSource

pytest.importorskip("PyKCS11")


def build_module(tmp_path: Path, body: str) -> str:
    """A tiny PKCS#11 "module" whose C_GetFunctionList does ``body``."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the misbehaving module")
    source = tmp_path / "bad.c"
    source.write_text(
        "#include <stdlib.h>\n#include <unistd.h>\n"
        f"unsigned long C_GetFunctionList(void **list) {{ {body} return 0; }}\n"
    )
    library = tmp_path / "libbad.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return str(library)


@needs_opensc
def test_opensc_reading_comes_back_from_the_child(
    opensc_conf: Path,  # noqa: F811
    vpcd: InsertCard,
) -> None:
    card, auth, sign = piv_card()
    vpcd(card)
    reading = IsolatedSource(OPENSC).read(READERS[0])
    assert reading is not None
    assert {c.der for c in reading.certificates} == {auth, sign}


def test_a_hanging_module_is_stopped_and_gives_no_reading(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    module = build_module(tmp_path, "for (;;) pause();")
    with caplog.at_level(logging.WARNING):
        assert IsolatedSource(module, timeout=3.0).read("any reader") is None
    assert "gave no answer within 3 s" in caplog.text


def test_a_crashing_module_gives_no_reading(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    module = build_module(tmp_path, "abort();")
    with caplog.at_level(logging.WARNING):
        assert IsolatedSource(module).read("any reader") is None
    assert "crashed" in caplog.text
