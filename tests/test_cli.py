"""The ``cardwatch`` command's edges: output is never lost, and every command behaves alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tray.cli import _Announcer, main
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.i18n import set_language

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def cardwatch(*args: str, encoding: str) -> subprocess.CompletedProcess[bytes]:
    """The real command in a child whose terminal encoding is ``encoding``."""
    env = dict(os.environ, PYTHONIOENCODING=encoding, PYTHONPATH=str(ROOT), NO_COLOR="1")
    env.pop("LANGUAGE", None)
    return subprocess.run(
        [sys.executable, "-m", "tray", *args], env=env, capture_output=True, timeout=120
    )


@pytest.mark.parametrize("lang", ["en", "zh_TW"])
def test_json_is_utf8_whatever_the_terminal_encoding(lang: str) -> None:
    done = cardwatch("check", "--json", "--demo", "default", "--lang", lang, encoding="latin-1")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout.decode("utf-8"))
    assert document["status"] == "ok" and document["language"] == lang


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--demo", "default"),
        ("check", "--demo", "default", "--lang", "zh_TW"),
        ("report", "--demo", "expiring"),
        ("status",),
    ],
)
def test_text_degrades_on_a_latin1_terminal_instead_of_failing(args: tuple[str, ...]) -> None:
    done = cardwatch(*args, encoding="latin-1")
    out = done.stdout.decode("latin-1")
    err = done.stderr.decode("latin-1")
    assert "codec" not in err and "could not finish" not in err
    if args[0] != "status":  # status has nothing to show on a fresh machine, and says so
        assert done.returncode in (0, 1), err
        assert "->" in out or "OK" in out


def test_global_options_are_accepted_after_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--demo", "default", "-vv", "--lang", "zh_TW", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "讀卡機" in out


def test_a_usage_error_exits_unknown_with_the_commands_own_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["check", "--bogus"])
    assert stop.value.code == 3
    err = capsys.readouterr().err
    assert err.startswith("usage: cardwatch check ") and "--bogus" in err
    with pytest.raises(SystemExit) as stop:
        main(["config", "show", "--bogus"])
    assert stop.value.code == 3
    assert capsys.readouterr().err.startswith("usage: cardwatch config show ")


@pytest.mark.parametrize("lang", ["fr", "zh", "english"])
def test_an_unknown_language_is_refused_with_the_list(
    lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--lang", lang, "check", "--demo", "default"]) == 3
    assert "en, zh_TW" in capsys.readouterr().err


def test_a_missing_named_config_file_is_a_problem_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["config", "show", "--config", str(missing)]) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "no such file" in err


def test_check_json_errors_are_json_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", "--demo", "nosuch"]) == 3
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 3 and "nosuch" in document["error"]


@pytest.mark.parametrize("group", [[], ["config"], ["autostart"]])
def test_a_bare_command_group_prints_its_help_and_exits_unknown(
    group: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(group) == 3
    out = capsys.readouterr().out
    assert out.startswith("usage: cardwatch" + "".join(" " + g for g in group) + " ")


def test_integer_settings_print_as_integers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "repeat_hours = 24  #" in out and ".0 " not in out


def test_toml_errors_name_tables_not_python_tuples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[check]\n[check]\n", encoding="utf-8")
    assert main(["config", "show", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Cannot declare [check] twice" in err
    assert "('" not in err and "at at" not in err


def test_run_in_a_terminal_says_what_it_watches(capsys: pytest.CaptureFixture[str]) -> None:
    readers = tuple(ReaderState(f"Reader {n}", Phase.EMPTY) for n in range(2))
    announce = _Announcer(tray=True)
    announce(DaemonState(readers=readers, service_up=True))
    announce(DaemonState(readers=readers, service_up=True))  # said once
    out = capsys.readouterr().out
    assert out == ("Cardwatch is watching 2 readers; the icon is in the tray. Ctrl+C stops it.\n")
    headless = _Announcer(tray=False)
    headless(DaemonState(readers=readers[:1], service_up=True))
    assert "1 reader, without a tray icon" in capsys.readouterr().out
