"""A card no built-in profile reads, with OpenSC installed: bounded work unless the user opts in.

Real pcscd + vpcd + OpenSC's own module with its installed configuration (every driver), so
the opt-in runs OpenSC's full driver probe. The virtual card records every APDU it receives:
the assertions count those, never time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import READERS, InsertCard
from test_pkcs11 import OPENSC, needs_opensc

from tray.demo.cards import UnknownCard

pytest.importorskip("PyKCS11")

#: The built-in profiles' own look at an unknown card: a handful of SELECTs, far below what
#: a driver probe sends.
PROFILE_APDUS_AT_MOST = 10


def cardwatch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A private home: no user configuration, and any OpenSC file cache stays in tmp_path.
    env = dict(
        os.environ,
        NO_COLOR="1",
        LANG="C.UTF-8",
        LANGUAGE="",
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    for name in ("OPENSC_CONF", "OPENSC_DRIVER", "OPENSC_DEBUG"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "tray", *args, "--offline", "--reader", READERS[0]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def check_json(tmp_path: Path, *args: str) -> dict[str, Any]:
    result = cardwatch(tmp_path, "check", "--json", *args)
    assert "Traceback" not in result.stderr, result.stderr
    reader: dict[str, Any] = json.loads(result.stdout)["readers"][0]
    return reader


def same_module(paths: list[str]) -> bool:
    return any(os.path.realpath(p) == os.path.realpath(OPENSC) for p in paths)


@needs_opensc
def test_by_default_opensc_is_not_loaded_for_an_unknown_card(
    vpcd: InsertCard, tmp_path: Path
) -> None:
    card = UnknownCard()
    vpcd(card)

    reader = check_json(tmp_path)

    # Every command the card received was Cardwatch's own, through the guard, and few.
    assert reader["apdus"] == len(card.received)
    assert 0 < len(card.received) <= PROFILE_APDUS_AT_MOST
    pkcs11 = reader["pkcs11"]
    assert pkcs11["modules"] == []
    assert same_module(pkcs11["not_asked"])
    assert pkcs11["ms"] == 0.0
    assert pkcs11["guarded"] is False
    assert "--pkcs11-probe" in pkcs11["note"]


@needs_opensc
@pytest.mark.parametrize("how", ["flag", "config"])
def test_opted_in_opensc_probes_the_card_and_its_commands_are_reported_apart(
    vpcd: InsertCard, tmp_path: Path, how: str
) -> None:
    card = UnknownCard()
    vpcd(card)
    if how == "flag":
        args: tuple[str, ...] = ("--pkcs11-probe",)
    else:
        config = tmp_path / "cardwatch.toml"
        config.write_text("[pkcs11]\nprobe_unknown = true\n")
        args = ("--config", str(config))

    reader = check_json(tmp_path, *args)

    pkcs11 = reader["pkcs11"]
    assert same_module(pkcs11["modules"])
    assert pkcs11["not_asked"] == []
    assert pkcs11["guarded"] is False
    assert isinstance(pkcs11["ms"], float) and pkcs11["ms"] > 0
    assert "not counted" in pkcs11["note"]
    # OpenSC's probe reached the card; "apdus" counts only what passed the guard.
    assert len(card.received) > reader["apdus"] + PROFILE_APDUS_AT_MOST
    assert reader["card"] is None or reader["card"]["kind"] != "pkcs11"


@needs_opensc
def test_the_text_report_says_the_middleware_commands_are_not_guarded(
    vpcd: InsertCard, tmp_path: Path
) -> None:
    card = UnknownCard()
    vpcd(card)

    result = cardwatch(tmp_path, "check", "--pkcs11-module", OPENSC)

    assert "Traceback" not in result.stderr, result.stderr
    assert "PKCS#11 module(s)" in result.stdout
    assert "do not pass Cardwatch's guard" in result.stdout
    # Naming the module is asking for it: OpenSC ran its probe on the card.
    assert len(card.received) > PROFILE_APDUS_AT_MOST
