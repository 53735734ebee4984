"""config.toml: each bad value is named with its line and replaced by its default, the file
is never touched, and the values really change what ``check`` and ``run`` do."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import tomllib
from ntp_server import NtpServer

from tray.cli import main
from tray.config import (
    SCHEMA,
    Config,
    Loaded,
    NotifySettings,
    config_path,
    load_config,
    read_config,
    render_toml,
)
from tray.i18n import set_language

SOURCE = Path("config.toml")
SCRIPT = Path(sys.executable).parent / "cardwatch"

GOOD = """\
# a comment
[check]
expiry_warn_days = 90
expiry_urgent_days = 45
expiry_critical_days = 10
not_yet_valid_grace_hours = 12

[clock]
warn_minutes = 2.5
fail_minutes = 30

[network]
enabled = true
ntp_servers = ["127.0.0.1:1234", "time.example"]
time_url = ""

[pkcs11]
enabled = false
modules = ["/opt/vendor/lib/pkcs11.so"]

[ui]
language = "zh_TW"

[notifications]
enabled = false
expiry_days = [7, 30, 1]

[prometheus]
textfile = "/var/lib/node_exporter/textfile/cardwatch.prom"
"""


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _only(loaded: Loaded) -> str:
    assert len(loaded.problems) == 1, loaded.problems
    return loaded.problems[0].message


def test_a_good_file_sets_every_value() -> None:
    loaded = load_config(GOOD, SOURCE)

    assert loaded.problems == ()
    config = loaded.config
    assert config.check.thresholds().warn_days == 90
    assert config.check.thresholds().not_yet_valid_grace == timedelta(hours=12)
    assert config.clock.thresholds().warn == timedelta(minutes=2.5)
    assert config.clock.thresholds().fail == timedelta(minutes=30)
    assert config.network.ntp_servers == ("127.0.0.1:1234", "time.example")
    assert config.network.time_url == ""
    assert config.pkcs11.enabled is False
    assert config.pkcs11.modules == ("/opt/vendor/lib/pkcs11.so",)
    assert config.ui.language == "zh_TW"
    assert config.notifications == NotifySettings(enabled=False, expiry_days=(30, 7, 1))
    assert config.prometheus.textfile.endswith("cardwatch.prom")


def test_an_empty_or_missing_file_means_the_defaults_silently(tmp_path: Path) -> None:
    assert load_config(b"", SOURCE) == Loaded(Config(), (), SOURCE)
    assert read_config(tmp_path / "absent.toml") == Loaded(Config(), (), tmp_path / "absent.toml")


# (table, key, bad TOML value, words the message must contain, the default used)
BAD_VALUES = [
    ("check", "expiry_warn_days", '"ninety"', ['"ninety"', "whole number of days"], 60),
    ("check", "expiry_warn_days", "0", ["0 is not allowed", "from 1 to 3650"], 60),
    ("check", "expiry_urgent_days", "4000", ["4000", "from 1 to 3650"], 30),
    ("check", "expiry_critical_days", "7.5", ["7.5", "whole number"], 7),
    ("check", "not_yet_valid_grace_hours", "-1", ["-1", "from 0 to 720"], 24),
    ("clock", "warn_minutes", "0", ["0 is not allowed", "greater than 0"], 5),
    ("clock", "fail_minutes", "true", ["true", "number of minutes"], 60),
    ("network", "enabled", '"no"', ['"no"', "true or false"], True),
    (
        "network",
        "ntp_servers",
        '["ok.example", 3]',
        ["item 2, 3, is not", "host names"],
        ("time.stdtime.gov.tw", "pool.ntp.org"),
    ),
    ("network", "ntp_servers", '"pool.ntp.org"', ["a list of host names"], None),
    ("network", "time_url", '"ftp://x"', ['"ftp://x"', "https://"], "https://moica.nat.gov.tw"),
    ("pkcs11", "modules", '["/lib/a.so", ""]', ["item 2", "file paths"], ()),
    ("ui", "language", '"fr"', ['"fr"', '"zh_TW"'], ""),
    ("notifications", "expiry_days", "[30, 0]", ["item 2, 0, is not"], (60, 30, 14, 7, 3, 1)),
    ("prometheus", "textfile", "5", ["5 is not allowed", "file path"], ""),
]


@pytest.mark.parametrize(("table", "key", "bad", "words", "default"), BAD_VALUES)
def test_a_bad_value_is_named_with_its_line_and_gets_its_default(
    table: str, key: str, bad: str, words: list[str], default: object
) -> None:
    good = load_config(GOOD, SOURCE).config
    line_no = _table_line(GOOD, table, key)
    lines = GOOD.splitlines()
    lines[line_no - 1] = f"{key} = {bad}"
    text = "\n".join(lines) + "\n"

    loaded = load_config(text, SOURCE)

    message = _only(loaded)
    problem = loaded.problems[0]
    assert (problem.key, problem.line, problem.warning) == (f"{table}.{key}", line_no, False)
    assert message.startswith(f"config.toml, line {line_no}: [{table}] {key}: ")
    for word in words:
        assert word in message
    assert "using the default" in message
    used = getattr(getattr(loaded.config, table), key)
    if default is not None:
        assert used == default
    assert used == getattr(getattr(Config(), table), key)
    # every other key keeps the file's value
    for other_key in SCHEMA[table]:
        if other_key != key:
            assert getattr(getattr(loaded.config, table), other_key) == getattr(
                getattr(good, table), other_key
            )
    for other in ("clock", "network", "pkcs11", "ui", "notifications", "prometheus", "check"):
        if other != table:
            assert getattr(loaded.config, other) == getattr(good, other)


def _table_line(text: str, table: str, key: str) -> int:
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("["):
            current = line.strip("[] ")
        elif current == table and line.startswith(f"{key} ="):
            return number
    raise AssertionError(f"{table}.{key} not in the text")


def test_the_line_found_is_the_key_in_its_own_table() -> None:
    # "enabled" is in three tables; the bad one is in [notifications]
    text = _replace(GOOD, "[notifications]\nenabled = false", '[notifications]\nenabled = "off"')

    problem = load_config(text, SOURCE).problems[0]

    assert problem.key == "notifications.enabled"
    assert problem.line == _table_line(text, "notifications", "enabled")
    assert problem.line != _table_line(text, "network", "enabled")


def test_dotted_keys_and_inline_tables_are_located_too() -> None:
    text = 'ui.language = "xx"\nclock = { warn_minutes = -3 }\n'

    loaded = load_config(text, SOURCE)

    assert [(p.key, p.line) for p in loaded.problems] == [
        ("ui.language", 1),
        ("clock.warn_minutes", 2),
    ]


def test_inconsistent_expiry_thresholds_fall_back_to_all_three_defaults() -> None:
    text = _replace(GOOD, "expiry_urgent_days = 45", "expiry_urgent_days = 120")

    loaded = load_config(text, SOURCE)

    message = _only(loaded)
    assert loaded.problems[0].line == 4
    assert "expiry_urgent_days = 120 is more than expiry_warn_days = 90" in message
    assert "using the defaults 60, 30 and 7" in message
    assert loaded.config.check.thresholds().warn_days == 60
    assert loaded.config.check.thresholds().urgent_days == 30
    assert loaded.config.check.thresholds().critical_days == 7
    assert loaded.config.check.not_yet_valid_grace_hours == 12  # not part of the conflict
    assert "check.expiry_warn_days" not in loaded.from_file


def test_a_single_expiry_threshold_moves_the_defaults_around_it_without_a_problem() -> None:
    low = load_config("[check]\nexpiry_warn_days = 10\n", SOURCE)
    high = load_config("[check]\nexpiry_critical_days = 40\n", SOURCE)

    assert low.problems == high.problems == ()
    assert (low.config.check.expiry_urgent_days, low.config.check.expiry_critical_days) == (10, 7)
    assert (high.config.check.expiry_warn_days, high.config.check.expiry_urgent_days) == (60, 40)
    assert low.from_file == frozenset({"check.expiry_warn_days"})
    assert "# default, adjusted to the thresholds set" in render_toml(low)


def test_a_fail_below_warn_clock_threshold_falls_back_to_both_defaults() -> None:
    text = _replace(GOOD, "fail_minutes = 30", "fail_minutes = 2")

    loaded = load_config(text, SOURCE)

    message = _only(loaded)
    assert loaded.problems[0].key == "clock.fail_minutes"
    assert loaded.problems[0].line == 10
    assert "fail_minutes = 2 is not more than warn_minutes = 2.5" in message
    assert "using the defaults 5 and 60" in message
    assert loaded.config.clock == Config().clock


def test_an_unknown_key_is_a_warning_with_a_suggestion_and_the_rest_applies() -> None:
    text = _replace(GOOD, "expiry_critical_days = 10", "expiry_critcal_days = 10")
    text += "\n[colours]\nok = 'green'\n"

    loaded = load_config(text, SOURCE)

    first, second = loaded.problems
    assert first.warning and second.warning
    assert first.message == (
        "config.toml, line 5: unknown key [check] expiry_critcal_days ignored; "
        "did you mean expiry_critical_days?"
    )
    assert second.key == "colours"
    assert "unknown key [colours] ignored" in second.message
    assert loaded.config.check.expiry_warn_days == 90
    assert loaded.config.check.expiry_critical_days == 7


def test_a_toml_syntax_error_names_its_line_and_every_setting_is_default() -> None:
    text = _replace(GOOD, "fail_minutes = 30", "fail_minutes = = 30")

    loaded = load_config(text, SOURCE)

    message = _only(loaded)
    assert loaded.problems[0].line == 10
    assert message.startswith("config.toml, line 10: not valid TOML (")
    assert message.endswith("using the defaults for every setting")
    assert loaded.config == Config()


def test_bytes_that_are_not_utf8_name_their_line() -> None:
    data = GOOD.encode("utf-8").replace(b'"zh_TW"', b'"zh_\xff"')

    loaded = load_config(data, SOURCE)

    message = _only(loaded)
    assert loaded.problems[0].line == _table_line(GOOD, "ui", "language")
    assert "not UTF-8 text" in message
    assert loaded.config == Config()


def test_a_directory_instead_of_a_file(tmp_path: Path) -> None:
    loaded = read_config(tmp_path)

    assert _only(loaded) == (
        f"{tmp_path}: this is a directory, not a file; using the defaults for every setting"
    )
    assert loaded.config == Config()


def test_problems_are_in_the_chosen_language() -> None:
    set_language("zh_TW")

    message = _only(load_config("[check]\nexpiry_warn_days = 0\n", SOURCE))

    assert message == (
        "config.toml 第 2 行：[check] expiry_warn_days：不接受 0，應為1 到 3650 的整數天數；"
        "改用預設值 60"
    )


def test_config_path_follows_option_then_environment_then_user_config_dir(tmp_path: Path) -> None:
    assert config_path("/x/c.toml", {"CARDWATCH_CONFIG": "/y/c.toml"}) == Path("/x/c.toml")
    assert config_path(None, {"CARDWATCH_CONFIG": "/y/c.toml"}) == Path("/y/c.toml")
    xdg = Path(os.environ["XDG_CONFIG_HOME"])
    assert config_path(None, {}) == xdg / "cardwatch" / "config.toml"


# --- the command ------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_config_path_prints_the_default_path(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["config", "path"])

    assert code == 0
    xdg = Path(os.environ["XDG_CONFIG_HOME"])
    assert capsys.readouterr().out == f"{xdg / 'cardwatch' / 'config.toml'}\n"


def test_config_show_prints_valid_toml_marking_file_values_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "[check]\nexpiry_warn_days = 90\n")

    code = main(["--config", str(path), "config", "show"])

    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert tomllib.loads(out)["check"]["expiry_warn_days"] == 90
    assert tomllib.loads(out)["network"]["ntp_servers"] == ["time.stdtime.gov.tw", "pool.ntp.org"]
    assert "expiry_warn_days = 90  # from the file" in out
    assert "expiry_critical_days = 7  # default" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[check]\nexpiry_warn_days = -5\n", "line 2: [check] expiry_warn_days: -5"),
        ("[check]\nexpiry_warn_dayz = 5\n", "did you mean expiry_warn_days?"),
        ("[check\n", "line 1: not valid TOML"),
        (b"\xfe\xff[check]\n", "line 1: not UTF-8 text"),
    ],
)
def test_config_show_with_problems_exits_1_and_leaves_the_file_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, expected: str
) -> None:
    path = _write(tmp_path, content)
    before = _digest(path)

    code = main(["--config", str(path), "config", "show", "--json"])

    out, err = capsys.readouterr()
    assert code == 1
    assert expected in err
    assert err.count("\n") == 1
    document = json.loads(out)
    assert document["schema"] == "cardwatch.config/1"
    assert document["config"]["check"]["expiry_warn_days"] == 60
    assert expected in document["problems"][0]["message"]
    assert _digest(path) == before


def test_an_unreadable_file_is_named_and_the_defaults_are_used(tmp_path: Path) -> None:
    # As root a mode-000 file is still readable: read it as nobody instead.
    base = Path(tempfile.mkdtemp(prefix="cw-config-"))
    try:
        base.chmod(0o755)
        path = _write(base, "[check]\nexpiry_warn_days = 90\n")
        path.chmod(0o000)
        before = _digest(path)
        command = [str(SCRIPT), "--config", str(path), "config", "show", "--json"]
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            assert setpriv is not None
            command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        env = {**os.environ, "LANGUAGE": "en", "HOME": str(base)}

        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

        assert done.returncode == 1, done.stderr
        assert done.stderr == (
            f"{path}: cannot be read (Permission denied); using the defaults for every setting\n"
        )
        assert json.loads(done.stdout)["config"]["check"]["expiry_warn_days"] == 60
        assert _digest(path) == before
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_check_with_a_broken_config_still_checks_and_says_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "[ui]\nlanguage = 42\n[check]\nexpiry_warn_days = 'x'\n")
    before = _digest(path)

    code = main(["--config", str(path), "check", "--demo"])

    out, err = capsys.readouterr()
    assert code == 0
    assert "Result: OK (exit code 0)" in out
    assert err.count("[ui] language: 42 is not allowed") == 1
    assert err.count('[check] expiry_warn_days: "x" is not allowed') == 1
    assert _digest(path) == before


def test_expiry_warn_days_from_the_config_changes_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "none.toml"), "check", "--demo", "expiring"]) == 1
    assert "WARN  Certificate 'Signature certificate' expires" in capsys.readouterr().out
    path = _write(tmp_path, "[check]\nexpiry_warn_days = 10\n")

    code = main(["--config", str(path), "check", "--demo", "expiring"])

    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "PASS  Certificate 'Signature certificate' expires on" in out


def test_language_from_the_config_and_lang_option_overrides_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    path = _write(tmp_path, '[ui]\nlanguage = "zh_TW"\n')

    assert main(["--config", str(path), "check", "--demo"]) == 0
    assert "結果：正常（結束代碼 0）" in capsys.readouterr().out
    assert main(["--config", str(path), "--lang", "en", "check", "--demo"]) == 0
    assert "Result: OK (exit code 0)" in capsys.readouterr().out


def test_help_is_translated_by_the_config_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, '[ui]\nlanguage = "zh_TW"\n')

    with pytest.raises(SystemExit):
        main(["--config", str(path), "config", "--help"])

    assert "印出 Cardwatch 讀取設定檔的位置" in capsys.readouterr().out


def test_network_enabled_false_contacts_no_time_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with NtpServer() as server:
        on = _write(tmp_path, f'[network]\nntp_servers = ["{server.address}"]\ntime_url = ""\n')
        main(["--config", str(on), "check", "--json", "--no-pkcs11"])
        asked = server.requests
        measured = json.loads(capsys.readouterr().out)["clock"]
        off = tmp_path / "off.toml"
        off.write_text(on.read_text() + "enabled = false\n", encoding="utf-8")

        main(["--config", str(off), "check", "--json", "--no-pkcs11"])

        document = json.loads(capsys.readouterr().out)
        assert server.requests == asked
    assert asked > 0
    assert measured["source"] == "sntp"
    assert measured["server"] == server.address
    assert document["clock"]["cause"] == "off"


def test_run_with_a_broken_config_starts_and_uses_the_rest(tmp_path: Path) -> None:
    textfile = tmp_path / "cardwatch.prom"
    path = _write(
        tmp_path,
        f'[clock]\nwarn_minutes = "soon"\n[check]\nexpiry_warn_days = 10\n'
        f'[prometheus]\ntextfile = "{textfile}"\n',
    )
    before = _digest(path)
    env = {**os.environ, "LANGUAGE": "en"}
    daemon = subprocess.Popen(
        [str(SCRIPT), "--config", str(path), "run", "--demo", "expiring", "--no-tray"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30  # a bound on waiting, not a speed assertion
        seen = ""
        while "cardwatch_check_status{" not in seen:
            seen = textfile.read_text() if textfile.exists() else ""
            assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
            assert time.monotonic() < deadline, "the daemon never wrote its textfile"
            time.sleep(0.05)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0
    assert err.count('[clock] warn_minutes: "soon" is not allowed') == 1
    assert _digest(path) == before
    # the daemon's checks use the file's threshold: 21 days left is OK (0), not a warning (1)
    status = [
        line
        for line in textfile.read_text().splitlines()
        if line.startswith("cardwatch_check_status{")
    ]
    assert status and all(line.endswith(" 0") for line in status), status


@pytest.mark.parametrize(("table", "key", "bad", "words", "default"), BAD_VALUES)
def test_config_show_exits_1_for_each_bad_value_and_shows_its_default(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    table: str,
    key: str,
    bad: str,
    words: list[str],
    default: object,
) -> None:
    path = _write(tmp_path, f"[{table}]\n{key} = {bad}\n")
    before = _digest(path)

    code = main(["--config", str(path), "config", "show", "--json"])

    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith(f"{path}, line 2: [{table}] {key}: ")
    shown = json.loads(out)["config"][table][key]
    expected = getattr(getattr(Config(), table), key)
    assert shown == (list(expected) if isinstance(expected, tuple) else expected)
    assert _digest(path) == before


# -- a hostile config file: bounded work, a problem line, and Cardwatch still starts -----------


def _run_cli(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed command in a child, so that a hang fails the test instead of blocking it."""
    env = {**os.environ, "LANGUAGE": "en"}
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_version_never_reads_the_config() -> None:
    done = _run_cli(["--config", "/dev/zero", "--version"])
    assert done.returncode == 0 and done.stdout.startswith("cardwatch "), done.stderr
    assert done.stderr == ""


def test_dev_zero_as_config_is_refused_with_a_problem_line() -> None:
    done = _run_cli(["--config", "/dev/zero", "config", "show", "--json"])
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "/dev/zero: not a regular file (a device, pipe or socket), not read; "
        "using the defaults for every setting\n"
    )
    assert json.loads(done.stdout)["config"]["check"]["expiry_warn_days"] == 60


def test_a_fifo_as_config_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    done = _run_cli(["--config", str(fifo), "check", "--demo"])  # a hang fails by timeout
    assert done.returncode == 0, done.stderr
    assert "not a regular file" in done.stderr and "Result: OK" in done.stdout


def test_a_file_over_one_mib_is_refused_unread(tmp_path: Path) -> None:
    path = _write(tmp_path, "# padding\n" * 110_000 + "[check]\nexpiry_warn_days = 90\n")
    loaded = read_config(path)
    assert [p.message for p in loaded.problems] == [
        f"{path}: larger than 1024 KiB, not read; using the defaults for every setting"
    ]
    assert loaded.config.check.expiry_warn_days == 60
    assert len(load_config(path.read_bytes(), path).problems) == 1


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 5000 + "]" * 5000 + "\n",
        "[check]\nexpiry_warn_days = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n",
        "[check]\nexpiry_warn_days = [[[1]]]\n",
    ],
    ids=["arrays", "inline-tables", "one-level-too-deep"],
)
def test_nesting_deeper_than_the_schema_is_one_problem_not_a_traceback(text: str) -> None:
    loaded = load_config(text, SOURCE)
    assert len(loaded.problems) == 1
    assert "nested deeper than any setting allows" in loaded.problems[0].message
    assert loaded.problems[0].line in (1, 2)
    assert loaded.config == Config()


def test_run_starts_with_a_deeply_nested_config(tmp_path: Path) -> None:
    path = _write(tmp_path, "[ui]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    done = _run_cli(["--config", str(path), "check", "--demo"])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "nested deeper" in done.stderr


def test_brackets_in_strings_comments_and_headers_are_not_nesting() -> None:
    text = (
        "# [[[[[[ a comment\n"
        "[[extra.tables]]\n"
        's = "[[[[ \\" {{{{"\n'
        "t = '[[[['\n"
        "u = '''\n[[[[[[\n'''\n"
        "[check]\n"
        "expiry_warn_days = 90 # {{{{\n"
    )
    loaded = load_config(text, SOURCE)
    assert loaded.config.check.expiry_warn_days == 90
    assert all("nested" not in p.message for p in loaded.problems)


def test_thousands_of_unknown_keys_give_a_bounded_number_of_problems() -> None:
    text = "[check]\n" + "".join(f"unknown_{n} = {n}\n" for n in range(6000))
    text += "expiry_warn_days = 90\n"
    text += "".join(f"[table_{n}]\n" for n in range(100))
    loaded = load_config(text, SOURCE)
    assert len(loaded.problems) == 21
    assert loaded.problems[-1].message == "config.toml: 6080 more unknown keys ignored"
    assert all(p.warning for p in loaded.problems)
    assert loaded.config.check.expiry_warn_days == 90
