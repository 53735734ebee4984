"""The user's ``config.toml``: parsed, validated, and turned into frozen settings.

Pure: :func:`load_config` takes the file's bytes and returns the settings plus the problems
found. A bad value costs only that value (its default is used, the problem names the key and
line); a broken file costs the file (all defaults). The file itself is never written.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import platformdirs

from .check.skew import SkewThresholds
from .check.validity import Thresholds
from .i18n import _, normalise
from .net import DEFAULT_NTP_SERVERS, DEFAULT_TIME_URL
from .notify.policy import NotifySettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE = "config.toml"
#: names a config file to use instead of the one in the user config dir
CONFIG_ENV = "CARDWATCH_CONFIG"
LANGUAGES = ("en", "zh_TW")
MAX_DAYS = 3650
MAX_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class CheckSettings:
    """``[check]``: when the validity and expiry items turn amber and red."""

    expiry_warn_days: int = 60
    expiry_urgent_days: int = 30
    expiry_critical_days: int = 7
    not_yet_valid_grace_hours: int = 24

    def thresholds(self) -> Thresholds:
        """These settings as the expiry check's thresholds."""
        return Thresholds(
            warn_days=self.expiry_warn_days,
            urgent_days=self.expiry_urgent_days,
            critical_days=self.expiry_critical_days,
            not_yet_valid_grace=timedelta(hours=self.not_yet_valid_grace_hours),
        )


@dataclass(frozen=True)
class ClockSettings:
    """``[clock]``: how far off this computer's clock may be (item 10)."""

    warn_minutes: float = 5
    fail_minutes: float = 60

    def thresholds(self) -> SkewThresholds:
        """These settings as the clock check's thresholds."""
        return SkewThresholds(
            warn=timedelta(minutes=self.warn_minutes), fail=timedelta(minutes=self.fail_minutes)
        )


@dataclass(frozen=True)
class NetworkSettings:
    """``[network]``: the clock and revocation checks' servers, or none at all."""

    enabled: bool = True
    ntp_servers: tuple[str, ...] = DEFAULT_NTP_SERVERS
    #: "" turns the HTTP Date fallback off
    time_url: str = DEFAULT_TIME_URL


@dataclass(frozen=True)
class Pkcs11Settings:
    """``[pkcs11]``: the middleware route for cards no built-in profile reads."""

    enabled: bool = True
    modules: tuple[str, ...] = ()
    #: Ask an installed generic module (OpenSC) about cards no built-in profile reads: its
    #: full driver probe costs seconds and a hundred-odd commands on such a card.
    probe_unknown: bool = False


@dataclass(frozen=True)
class UiSettings:
    """``[ui]``: the language ("" = from the OS locale) and the tray backend ("" = chosen)."""

    language: str = ""
    tray_backend: str = ""


@dataclass(frozen=True)
class PrometheusSettings:
    """``[prometheus]``: the node_exporter textfile ("" = none) and how it names cards."""

    textfile: str = ""
    #: "hash": cards and certificate serials as short SHA-256 hashes; "number": as they are
    card_id: str = "hash"


@dataclass(frozen=True)
class Config:
    """Every setting, defaults filled in."""

    check: CheckSettings = field(default_factory=CheckSettings)
    clock: ClockSettings = field(default_factory=ClockSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    pkcs11: Pkcs11Settings = field(default_factory=Pkcs11Settings)
    ui: UiSettings = field(default_factory=UiSettings)
    notifications: NotifySettings = field(default_factory=NotifySettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the file; ``key`` is "table.key" ("" for the whole file)."""

    key: str
    line: int | None
    #: translated, names the key, the line, the bad value, what is allowed and what is used
    message: str
    #: an unknown key is only a warning; everything else means a default replaced a value
    warning: bool = False


@dataclass(frozen=True)
class Loaded:
    """The effective configuration, the problems found, and the keys the file set."""

    config: Config
    problems: tuple[ConfigProblem, ...] = ()
    source: Path | None = None
    #: "table.key" of every value taken from the file
    from_file: frozenset[str] = frozenset()


def config_path(explicit: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``--config``, else $CARDWATCH_CONFIG, else config.toml in the user config dir."""
    environ = os.environ if env is None else env
    chosen = explicit or environ.get(CONFIG_ENV)
    if chosen:
        return Path(chosen).expanduser()
    return Path(platformdirs.user_config_dir("cardwatch")) / CONFIG_FILE


# --- validation -------------------------------------------------------------------------------

Check = Callable[[Any], tuple[Any, str | None]]
"""A value check: (converted value, None) when fine, (None, what is allowed) when not."""


def _whole(low: int, high: int, allowed: str) -> Check:
    def check(value: Any) -> tuple[Any, str | None]:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return None, allowed
        return value, None

    return check


def _minutes(value: Any) -> tuple[Any, str | None]:
    allowed = _("a number of minutes greater than 0 and at most {max}").format(max=MAX_MINUTES)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, allowed
    if not math.isfinite(value) or not 0 < value <= MAX_MINUTES:
        return None, allowed
    return value, None


def _boolean(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, bool):
        return None, _("true or false")
    return value, None


def _days(value: Any) -> tuple[Any, str | None]:
    return _whole(1, MAX_DAYS, _("a whole number of days from 1 to {max}").format(max=MAX_DAYS))(
        value
    )


def _hours(value: Any) -> tuple[Any, str | None]:
    return _whole(0, 24 * 30, _("a whole number of hours from 0 to {max}").format(max=24 * 30))(
        value
    )


_SERVER = re.compile(r"^[A-Za-z0-9._-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def _list(value: Any, item_ok: Callable[[Any], bool], allowed: str) -> tuple[Any, str | None]:
    """A TOML array whose every item passes ``item_ok``; a bad item is named by its number."""
    if not isinstance(value, list):
        return None, allowed
    for number, item in enumerate(value, start=1):
        if not item_ok(item):
            return None, _("{allowed} (item {n}, {item}, is not)").format(
                allowed=allowed, n=number, item=_show(item)
            )
    return tuple(value), None


def _server_list(value: Any) -> tuple[Any, str | None]:
    return _list(
        value,
        lambda item: isinstance(item, str) and bool(_SERVER.match(item)),
        _('a list of host names, each optionally with :PORT, e.g. ["pool.ntp.org"]'),
    )


def _path_list(value: Any) -> tuple[Any, str | None]:
    return _list(
        value,
        lambda item: isinstance(item, str) and bool(item.strip()) and "\0" not in item,
        _('a list of file paths, e.g. ["/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"]'),
    )


def _day_list(value: Any) -> tuple[Any, str | None]:
    days, allowed = _list(
        value,
        lambda item: isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= MAX_DAYS,
        _("a list of whole numbers of days from 1 to {max}, e.g. [30, 7, 1]").format(max=MAX_DAYS),
    )
    if allowed is not None:
        return None, allowed
    return tuple(sorted(set(days), reverse=True)), None


def _url(value: Any) -> tuple[Any, str | None]:
    allowed = _('an http:// or https:// address, or "" for none')
    if not isinstance(value, str):
        return None, allowed
    if value and not re.match(r"^https?://[^\s/]+\S*$", value):
        return None, allowed
    return value, None


def _path(value: Any) -> tuple[Any, str | None]:
    allowed = _('a file path, or "" for none')
    if not isinstance(value, str) or "\0" in value:
        return None, allowed
    return value, None


def _language(value: Any) -> tuple[Any, str | None]:
    allowed = _('"en", "zh_TW", or "" for the OS locale')
    if not isinstance(value, str):
        return None, allowed
    if not value:
        return "", None
    lang = normalise(value)
    if lang.startswith("en"):
        return "en", None
    if lang in LANGUAGES:
        return lang, None
    return None, allowed


#: what ``[ui] tray_backend`` accepts ("" = chosen for the desktop; see tray/ui/choose.py)
TRAY_BACKENDS = ("sni", "xorg", "gtk", "appindicator", "win32", "darwin")


def _tray_backend(value: Any) -> tuple[Any, str | None]:
    allowed = _('one of {names}, or "" to choose for the desktop').format(
        names=", ".join(f'"{name}"' for name in TRAY_BACKENDS)
    )
    if isinstance(value, str) and (value == "" or value in TRAY_BACKENDS):
        return value, None
    return None, allowed


def _card_id(value: Any) -> tuple[Any, str | None]:
    if value in ("hash", "number"):
        return value, None
    return None, _('"hash" or "number"')


#: table -> key -> check; the order here is the order of ``config show``
SCHEMA: dict[str, dict[str, Check]] = {
    "check": {
        "expiry_warn_days": _days,
        "expiry_urgent_days": _days,
        "expiry_critical_days": _days,
        "not_yet_valid_grace_hours": _hours,
    },
    "clock": {"warn_minutes": _minutes, "fail_minutes": _minutes},
    "network": {"enabled": _boolean, "ntp_servers": _server_list, "time_url": _url},
    "pkcs11": {"enabled": _boolean, "modules": _path_list, "probe_unknown": _boolean},
    "ui": {"language": _language, "tray_backend": _tray_backend},
    "notifications": {
        "enabled": _boolean,
        "expiry_days": _day_list,
        "repeat_hours": _hours,
        "snooze_hours": _hours,
    },
    "prometheus": {"textfile": _path, "card_id": _card_id},
}


# --- locating keys (tomllib gives no positions) -----------------------------------------------

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\s"'-]+?)\s*=""")


def _bare(key: str) -> str:
    parts = [part.strip().strip("\"'") for part in key.split(".")]
    return ".".join(parts)


def _line_of(text: str, table: str, key: str | None) -> int | None:
    """The 1-based line where ``table.key`` (or the ``[table]`` header) is set, if found."""
    current = ""
    header: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(line)
        if match and not line.lstrip().startswith("[["):
            current = _bare(match.group(1))
            if current == table and header is None:
                header = number
            continue
        found = _KEY.match(line)
        if not found:
            continue
        name = _bare(found.group(1))
        full = f"{current}.{name}" if current else name
        if key is None and full == table:
            return number
        if key is not None and full in (f"{table}.{key}", table):
            return number
    return header


# --- loading ----------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as TOML would spell it, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a whole-number setting (repeat_hours = 24), never "24.0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{…}"
    return str(value)


def _where(source: Path, line: int | None) -> str:
    if line is None:
        return str(source)
    return _("{path}, line {line}").format(path=source, line=line)


def _default_of(table: str, key: str) -> Any:
    return getattr(getattr(Config(), table), key)


def _problem(
    source: Path, text: str, table: str, key: str, what: str, *, all_three: bool = False
) -> ConfigProblem:
    """A bad value: where, which key, what is wrong, and the default used instead."""
    line = _line_of(text, table, key)
    if all_three:
        defaults = CheckSettings()
        default = _("the defaults {warn}, {urgent} and {critical}").format(
            warn=defaults.expiry_warn_days,
            urgent=defaults.expiry_urgent_days,
            critical=defaults.expiry_critical_days,
        )
        message = _("{where}: [{table}] {key}: {what}; using {defaults}").format(
            where=_where(source, line), table=table, key=key, what=what, defaults=default
        )
    else:
        message = _("{where}: [{table}] {key}: {what}; using the default {default}").format(
            where=_where(source, line),
            table=table,
            key=key,
            what=what,
            default=_show(_default_of(table, key)),
        )
    return ConfigProblem(f"{table}.{key}", line, message)


def _whole_file(source: Path, what: str, line: int | None = None) -> Loaded:
    message = _("{where}: {what}; using the defaults for every setting").format(
        where=_where(source, line), what=what
    )
    return Loaded(Config(), (ConfigProblem("", line, message),), source)


def _too_large(source: Path) -> Loaded:
    return _whole_file(
        source,
        _("larger than {size} KiB, not read").format(size=MAX_CONFIG_BYTES // 1024),
    )


def _too_deep(source: Path, line: int | None) -> Loaded:
    return _whole_file(
        source,
        _("values nested deeper than any setting allows ({depth} levels)").format(
            depth=MAX_NESTING
        ),
        line,
    )


def _unknown(
    source: Path, text: str, name: str, choices: list[str], table: str | None
) -> ConfigProblem:
    """A warning for a key (or, with ``table`` None, a table) that Cardwatch does not know."""
    close = difflib.get_close_matches(name, choices, n=1)
    line = _line_of(text, table, name) if table else _line_of(text, name, None)
    shown = f"[{table}] {name}" if table else f"[{name}]"
    if close:
        message = _("{where}: unknown key {key} ignored; did you mean {suggestion}?").format(
            where=_where(source, line), key=shown, suggestion=close[0]
        )
    else:
        message = _("{where}: unknown key {key} ignored (known: {known})").format(
            where=_where(source, line), key=shown, known=", ".join(choices)
        )
    return ConfigProblem(f"{table}.{name}" if table else name, line, message, warning=True)


#: a config file larger than this is refused unread (the documented file is a few KiB)
MAX_CONFIG_BYTES = 1024 * 1024
#: brackets and braces nest at most this deep in a valid file: ``table = {key = [items]}``
MAX_NESTING = 2
#: unknown keys reported one by one; the rest are counted in one more problem
MAX_UNKNOWN_REPORTED = 20


def _skip_string(text: str, i: int) -> int:
    """The index after the TOML string starting at ``text[i]`` (a quote)."""
    quote = text[i]
    delim = quote * 3 if text.startswith(quote * 3, i) else quote
    j = i + len(delim)
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text.startswith(delim, j):
            return j + len(delim)
        if len(delim) == 1 and text[j] == "\n":
            return j  # unterminated: the parser will say so
        j += 1
    return j


def _nesting(text: str) -> tuple[int, int]:
    """The deepest nesting of arrays and inline tables in ``text``, and the line reaching it.

    A cheap scan before parsing: the parser recurses once per level, so a file of nothing but
    brackets would exhaust Python's stack before any problem could be named.
    """
    depth = deepest = 0
    deepest_line = line = 1
    at_line_start = True
    i = 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            i = _skip_string(text, i)
            at_line_start = False
            continue
        if c == "#" or (c == "[" and depth == 0 and at_line_start):
            end = text.find("\n", i)  # a comment, or a [table] header
            i = len(text) if end < 0 else end
            continue
        if c == "\n":
            line += 1
            at_line_start = True
        elif c in "[{":
            depth += 1
            if depth > deepest:
                deepest, deepest_line = depth, line
        elif c in "]}":
            depth = max(0, depth - 1)
        if not c.isspace():
            at_line_start = False
        i += 1
    return deepest, deepest_line


def load_config(data: str | bytes, source: Path) -> Loaded:
    """The settings in ``data`` (the text of ``source``), with defaults for what is wrong."""
    if len(data) > MAX_CONFIG_BYTES:
        return _too_large(source)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _whole_file(
                source,
                _("not UTF-8 text (byte {offset})").format(offset=exc.start),
                data[: exc.start].count(b"\n") + 1,
            )
    else:
        text = data
    text = text.removeprefix("\ufeff")
    deepest, deepest_line = _nesting(text)
    if deepest > MAX_NESTING:
        return _too_deep(source, deepest_line)
    try:
        document = tomllib.loads(text)
    except RecursionError:  # the scan above missed a form of nesting: still only a problem
        return _too_deep(source, None)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        if line is None and "end of document" in str(exc):
            line = max(1, len(text.splitlines()))
        detail = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        # tomllib names a table as a Python tuple ("Cannot declare ('check',) twice")
        detail = re.sub(
            r"\(((?:'[^']*',?\s*)+)\)",
            lambda m: "[" + ".".join(re.findall(r"'([^']*)'", m.group(1))) + "]",
            detail,
        )
        return _whole_file(
            source, _("not valid TOML ({detail})").format(detail=detail or str(exc)), line
        )
    problems: list[ConfigProblem] = []
    values: dict[str, dict[str, Any]] = {table: {} for table in SCHEMA}
    unknown = 0

    def note_unknown(name: str, choices: list[str], table: str | None) -> None:
        # Finding a key's line scans the text: bounded work means a bounded number of them.
        nonlocal unknown
        unknown += 1
        if unknown <= MAX_UNKNOWN_REPORTED:
            problems.append(_unknown(source, text, name, choices, table))

    for table, content in document.items():
        if table not in SCHEMA:
            note_unknown(table, list(SCHEMA), None)
            continue
        if not isinstance(content, dict):
            line = _line_of(text, table, None)
            problems.append(
                ConfigProblem(
                    table,
                    line,
                    _(
                        "{where}: {key} must be a table ([{key}]); using the defaults of [{key}]"
                    ).format(where=_where(source, line), key=table),
                )
            )
            continue
        for key, value in content.items():
            check = SCHEMA[table].get(key)
            if check is None:
                note_unknown(key, list(SCHEMA[table]), table)
                continue
            converted, allowed = check(value)
            if allowed is not None:
                what = _("{value} is not allowed, expected {allowed}").format(
                    value=_show(value), allowed=allowed
                )
                problems.append(_problem(source, text, table, key, what))
                continue
            values[table][key] = converted
    if unknown > MAX_UNKNOWN_REPORTED:
        more = unknown - MAX_UNKNOWN_REPORTED
        message = _("{where}: {count} more unknown keys ignored").format(
            where=_where(source, None), count=more
        )
        problems.append(ConfigProblem("", None, message, warning=True))
    explicit = {f"{table}.{key}" for table, given in values.items() for key in given}
    values["check"] = _consistent_expiry(values["check"], source, text, problems)
    values["clock"] = _consistent_clock(values["clock"], source, text, problems)
    config = Config()
    for table, given in values.items():
        config = replace(config, **{table: replace(getattr(config, table), **given)})
    kept = {f"{table}.{key}" for table, given in values.items() for key in given}
    return Loaded(config, tuple(problems), source, frozenset(explicit & kept))


_EXPIRY = ("expiry_warn_days", "expiry_urgent_days", "expiry_critical_days")


def _consistent_expiry(
    given: dict[str, Any], source: Path, text: str, problems: list[ConfigProblem]
) -> dict[str, Any]:
    """warn >= urgent >= critical. A threshold left out adapts to the ones set
    (``expiry_warn_days = 10`` alone means urgent 10, critical 7); two set against each
    other are a problem, and all three thresholds fall back to their defaults."""
    defaults = CheckSettings()
    resolved = {key: given.get(key, getattr(defaults, key)) for key in _EXPIRY}
    upper = MAX_DAYS
    for key in _EXPIRY:  # downwards: a default never exceeds a set threshold above it
        if key not in given:
            resolved[key] = min(resolved[key], upper)
        upper = resolved[key]
    lower_bound = 0
    for key in reversed(_EXPIRY):  # upwards: nor falls below a set threshold under it
        if key not in given:
            resolved[key] = max(resolved[key], lower_bound)
        lower_bound = resolved[key]
    for higher, lower in itertools.pairwise(_EXPIRY):
        if resolved[lower] > resolved[higher]:
            what = _(
                "{lower} = {low} is more than {higher} = {high}; expected {higher} >= {lower}"
            ).format(lower=lower, low=resolved[lower], higher=higher, high=resolved[higher])
            problems.append(_problem(source, text, "check", lower, what, all_three=True))
            return {key: value for key, value in given.items() if key not in _EXPIRY}
    return {**given, **resolved}


def _consistent_clock(
    given: dict[str, Any], source: Path, text: str, problems: list[ConfigProblem]
) -> dict[str, Any]:
    """fail_minutes > warn_minutes; otherwise both fall back to their defaults."""
    defaults = ClockSettings()
    warn = given.get("warn_minutes", defaults.warn_minutes)
    fail = given.get("fail_minutes", defaults.fail_minutes)
    if fail > warn:
        return given
    key = "fail_minutes" if "fail_minutes" in given else "warn_minutes"
    line = _line_of(text, "clock", key)
    message = _(
        "{where}: [clock] {key}: fail_minutes = {fail} is not more than warn_minutes = {warn}; "
        "using the defaults {default_warn} and {default_fail}"
    ).format(
        where=_where(source, line),
        key=key,
        fail=_show(fail),
        warn=_show(warn),
        default_warn=_show(defaults.warn_minutes),
        default_fail=_show(defaults.fail_minutes),
    )
    problems.append(ConfigProblem(f"clock.{key}", line, message))
    return {}


def read_config(path: Path) -> Loaded:
    """The settings in the file at ``path``; a missing file means the defaults, silently.

    Only a regular file of at most :data:`MAX_CONFIG_BYTES` is read: a FIFO would block
    start-up (it is opened non-blocking and refused), and ``/dev/zero`` would never end.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return Loaded(Config(), (), path)
    except IsADirectoryError:
        return _whole_file(path, _("this is a directory, not a file"))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return _whole_file(path, _("cannot be read ({reason})").format(reason=reason))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return _whole_file(path, _("this is a directory, not a file"))
        if not stat.S_ISREG(info.st_mode):
            return _whole_file(path, _("not a regular file (a device, pipe or socket), not read"))
        if info.st_size > MAX_CONFIG_BYTES:
            return _too_large(path)
        with os.fdopen(os.dup(fd), "rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)  # it may have grown since fstat
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return _whole_file(path, _("cannot be read ({reason})").format(reason=reason))
    finally:
        os.close(fd)
    return load_config(data, path)


# --- showing ----------------------------------------------------------------------------------


def _toml(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return _show(value)


def as_dict(config: Config) -> dict[str, dict[str, Any]]:
    """The settings as plain data (tables of keys), in :data:`SCHEMA` order."""
    return {
        table: {
            key: list(value) if isinstance(value, tuple) else value
            for key in SCHEMA[table]
            for value in [getattr(getattr(config, table), key)]
        }
        for table in SCHEMA
    }


def render_toml(loaded: Loaded) -> str:
    """The effective configuration as TOML; a comment marks each value's origin."""
    lines = [
        _("# Cardwatch configuration in effect (file: {path})").format(path=loaded.source),
    ]
    for table, keys in as_dict(loaded.config).items():
        lines += ["", f"[{table}]"]
        for key, value in keys.items():
            if f"{table}.{key}" in loaded.from_file:
                origin = _("from the file")
            elif value != as_dict(Config())[table][key]:
                origin = _("default, adjusted to the thresholds set")
            else:
                origin = _("default")
            lines.append(f"{key} = {_toml(value)}  # {origin}")
    return "\n".join(lines) + "\n"


def render_json(loaded: Loaded) -> str:
    """The effective configuration as JSON (schema ``cardwatch.config/1``)."""
    document = {
        "schema": "cardwatch.config/1",
        "path": str(loaded.source) if loaded.source else None,
        "config": as_dict(loaded.config),
        "from_file": sorted(loaded.from_file),
        "problems": [
            {"key": p.key, "line": p.line, "message": p.message, "warning": p.warning}
            for p in loaded.problems
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
