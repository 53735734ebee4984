"""The ``cardwatch`` command. Exceptions become user words here, and only here."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from . import __version__
from .card.backend import Backend
from .check.assess import assess
from .clock import SystemClock
from .config import (
    CONFIG_ENV,
    LANGUAGES,
    Config,
    ConfigProblem,
    Loaded,
    config_path,
    read_config,
    render_json,
    render_toml,
)
from .i18n import _, ngettext, normalise, set_language
from .model import CheckReport, Health
from .net import NetworkChecks, live
from .net.deferred import deferred
from .present.argparse_words import HelpFormatter
from .present.argparse_words import install as install_argparse_words
from .present.check_json import dumps, error_dumps
from .present.check_text import render
from .present.terminal import tolerant, write_json, write_text

if TYPE_CHECKING:
    from .card.transcript import RecordingBackend
    from .check.run import Middleware
    from .daemon.state import DaemonState
    from .model import HistoryEntry

log = logging.getLogger("cardwatch")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 3 (UNKNOWN, as an unknown demo does), never 2.

    2 means CRITICAL in the monitoring convention the exit codes follow; a mistyped option
    says nothing about the cards. The usage printed is the (sub)command's own.
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(
            int(Health.UNKNOWN),
            _("{prog}: error: {message}\n").format(prog=self.prog, message=message),
        )

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            write_text(cast("TextIO", file or sys.stderr), message)


def _global_options(parser: argparse.ArgumentParser, *, after: bool) -> None:
    """--lang, --config and -v: before the command, and again after it (``check -vv``)."""
    keep: dict[str, Any] = {"default": argparse.SUPPRESS} if after else {}
    parser.add_argument(
        "--lang",
        metavar="LANG",
        help=_("language of the output: en or zh_TW (default: from the locale)"),
        **keep,
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=_(
            "read the settings from PATH instead of config.toml in the user config directory "
            "(also: the CARDWATCH_CONFIG environment variable)"
        ),
        **keep,
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        # after the command, its own count, added to the one before it
        dest="verbose_after" if after else "verbose",
        default=0,
        help=_("log more; -vvv also logs every APDU"),
    )


def _subparser(
    sub: argparse._SubParsersAction[Any], name: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A (sub)command that also takes the global options after its name."""
    parser: argparse.ArgumentParser = sub.add_parser(name, formatter_class=HelpFormatter, **kwargs)
    _global_options(parser, after=True)
    return parser


def _pkcs11_arguments(parser: argparse.ArgumentParser) -> None:
    """--pkcs11-module and --no-pkcs11, shared by check and run."""
    parser.add_argument(
        "--pkcs11-module",
        action="append",
        metavar="PATH",
        default=[],
        help=_(
            "PKCS#11 module to try for cards no built-in profile reads "
            "(repeatable; default: known modules that are installed)"
        ),
    )
    parser.add_argument("--no-pkcs11", action="store_true", help=_("never load PKCS#11 modules"))
    parser.add_argument(
        "--pkcs11-probe",
        action="store_true",
        help=_(
            "also ask OpenSC about cards no built-in profile reads (its driver probe takes "
            "seconds on such a card)"
        ),
    )


def _network_arguments(parser: argparse.ArgumentParser) -> None:
    """--offline, --ntp-server and --time-url, shared by check and run."""
    parser.add_argument(
        "--offline",
        "--no-network",
        dest="offline",
        action="store_true",
        help=_("no network checks: contact no time server, OCSP responder or CRL"),
    )
    parser.add_argument(
        "--ntp-server",
        action="append",
        metavar="HOST[:PORT]",
        default=[],
        help=_(
            "SNTP server for the clock check (repeatable; default: time.stdtime.gov.tw, "
            "pool.ntp.org)"
        ),
    )
    parser.add_argument(
        "--time-url",
        metavar="URL",
        help=_(
            "web site whose Date header is the clock check's fallback when no SNTP server "
            "answers (default: https://moica.nat.gov.tw; 'none' turns it off)"
        ),
    )


def _parser() -> argparse.ArgumentParser:
    install_argparse_words()
    parser = _Parser(
        prog="cardwatch",
        formatter_class=HelpFormatter,
        description=_(
            "Smart-card health: a read-only check of PC/SC service, reader, card, "
            "certificates and PIN lock risk."
        ),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"cardwatch {__version__}",
        help=_("show program's version number and exit"),
    )
    _global_options(parser, after=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = _subparser(
        sub,
        "check",
        help=_("check every reader and card once"),
        description=_(
            "Check every reader and card once. Exit codes: 0 OK, 1 warning, 2 critical, 3 unknown."
        ),
    )
    check.add_argument("--json", action="store_true", help=_("print the stable JSON form"))
    check.add_argument("--reader", metavar="NAME", help=_("only readers whose name contains NAME"))
    check.add_argument(
        "--demo",
        nargs="?",
        const="default",
        metavar="SCENARIO",
        help=_("check built-in simulated readers and cards instead of PC/SC (see --list-demos)"),
    )
    check.add_argument(
        "--list-demos", action="store_true", help=_("list the demo scenarios and exit")
    )
    check.add_argument(
        "--record",
        metavar="FILE",
        help=_("write every command sent to the cards and their answers to FILE (JSON)"),
    )
    check.add_argument(
        "--redact",
        action="store_true",
        help=_("with --record: replace names, card numbers and serial numbers in the answers"),
    )
    _pkcs11_arguments(check)
    _network_arguments(check)
    run = _subparser(
        sub,
        "run",
        help=_("watch every reader from the system tray"),
        description=_(
            "Watch every reader and check each card as it is inserted; the tray icon shows the "
            "worst current state. Stops on Quit in the tray menu, Ctrl+C or SIGTERM."
        ),
    )
    run.add_argument(
        "--demo",
        nargs="?",
        const="default",
        metavar="SCENARIO",
        help=_("watch built-in simulated readers and cards instead of PC/SC"),
    )
    run.add_argument("--no-tray", action="store_true", help=_("run without a tray icon (headless)"))
    run.add_argument(
        "--prometheus-textfile",
        metavar="PATH",
        help=_("also write the state for node_exporter's textfile collector to PATH (*.prom)"),
    )
    _pkcs11_arguments(run)
    _network_arguments(run)
    status = _subparser(
        sub,
        "status",
        help=_("show the tray daemon's current state and its last checks"),
        description=_(
            "Show the state last saved by 'cardwatch run' and its last checks. Exit codes as "
            "for check; 3 when Cardwatch is not running or has not checked a card yet."
        ),
    )
    status.add_argument("--json", action="store_true", help=_("print the stable JSON form"))
    status.add_argument(
        "--demo",
        action="store_true",
        help=_("show the state of the last 'cardwatch run --demo' (kept apart from real data)"),
    )
    report = _subparser(
        sub,
        "report",
        help=_("show the report of the last checks (or of a demo scenario)"),
        description=_(
            "Show the report of the checks last saved by 'cardwatch run': the check items, "
            "certificates, PIN status, notes and the last checks. Exit codes as for check; "
            "3 when there is nothing to report yet or a file cannot be written."
        ),
    )
    report.add_argument(
        "--html", action="store_true", help=_("write the HTML report and print its path")
    )
    report.add_argument(
        "--open", action="store_true", help=_("write the HTML report and open it in the browser")
    )
    report.add_argument(
        "--demo",
        metavar="SCENARIO",
        nargs="?",
        const="",
        help=_(
            "report on a demo scenario checked now, with no reader or daemon needed; without "
            "SCENARIO, on the last 'cardwatch run --demo' (kept apart from real data)"
        ),
    )
    report.add_argument("--reader", metavar="NAME", help=_("only readers whose name contains NAME"))
    config = _subparser(
        sub,
        "config",
        help=_("show where the settings file is, or the settings in effect"),
        description=_(
            "'config path' prints where Cardwatch reads its settings; 'config show' prints the "
            "settings in effect as TOML, each marked as from the file or default, and any "
            "problems on stderr. Exit codes: 0 no problems, 1 problems found (defaults used)."
        ),
    )
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    _subparser(config_sub, "path", help=_("print the path of the settings file"))
    show = _subparser(config_sub, "show", help=_("print the settings in effect"))
    show.add_argument("--json", action="store_true", help=_("print them as JSON"))
    autostart = _subparser(
        sub,
        "autostart",
        help=_("start Cardwatch at login, or stop doing so"),
        description=_(
            "Start the tray icon at login (Linux: XDG autostart or a systemd user unit; macOS: "
            "a LaunchAgent; Windows: the Run key). Exit codes of status: 0 enabled, 1 enabled "
            "but stale (it starts a program that is gone), 3 not enabled."
        ),
    )
    verbs = autostart.add_subparsers(dest="verb", metavar="ACTION")
    enable = _subparser(verbs, "enable", help=_("start the installed Cardwatch at login"))
    enable.add_argument(
        "--systemd",
        action="store_true",
        help=_("Linux: a systemd user unit instead of an XDG autostart entry"),
    )
    _subparser(verbs, "disable", help=_("no longer start Cardwatch at login"))
    autostart_status = _subparser(verbs, "status", help=_("say whether Cardwatch starts at login"))
    autostart_status.add_argument(
        "--json", action="store_true", help=_("print the stable JSON form")
    )
    return parser


def _middleware(args: argparse.Namespace, config: Config) -> list[Middleware]:
    if args.no_pkcs11 or not config.pkcs11.enabled:
        return []
    try:
        from .card.pkcs11 import discover
    except ImportError:
        return []
    # Modules named on the command line replace those of the config file.
    return list(
        discover(
            args.pkcs11_module or config.pkcs11.modules,
            probe_unknown=args.pkcs11_probe or config.pkcs11.probe_unknown,
        )
    )


def _network(args: argparse.Namespace, clock: SystemClock, config: Config) -> NetworkChecks:
    if args.offline or not config.network.enabled:
        return NetworkChecks.off()
    if args.demo:
        from .demo.scenarios import network

        return network(args.demo, clock.now())
    time_url = args.time_url if args.time_url is not None else config.network.time_url

    def make() -> NetworkChecks:
        from .store.revocation_cache import RevocationCache, default_cache_dir

        return live(
            clock,
            ntp_servers=tuple(args.ntp_server) or config.network.ntp_servers,
            time_url=None if not time_url or time_url.lower() == "none" else time_url,
            cache=RevocationCache(default_cache_dir(), clock),
        )

    # Built on the first check: the probes' code is not loaded by an idle daemon.
    return deferred(make)


def _say_problems(loaded: Loaded) -> None:
    """Each problem of the config file once on stderr (the settings already have defaults)."""
    for problem in loaded.problems:
        write_text(sys.stderr, problem.message + "\n")


def _say_error(message: str, *, as_json: bool = False) -> None:
    """``message`` on stderr; with --json also as a JSON document on stdout."""
    write_text(sys.stderr, message + "\n")
    if as_json:
        write_json(sys.stdout, error_dumps(message) + "\n")


def _unknown_demo(name: str, *, as_json: bool = False) -> bool:
    """Say so on stderr when ``name`` is no demo scenario."""
    from .demo.scenarios import SCENARIOS

    if name in SCENARIOS:
        return False
    _say_error(
        _("Unknown demo scenario '{name}'. Choose one of: {names}").format(
            name=name, names=", ".join(SCENARIOS)
        ),
        as_json=as_json,
    )
    return True


def _check(args: argparse.Namespace, loaded: Loaded) -> int:
    from .demo.scenarios import SCENARIOS, build

    config = loaded.config

    if args.list_demos:
        for name, description in SCENARIOS.items():
            print(f"{name:<16} {_(description)}")
        return 0
    clock = SystemClock()
    middleware: list[Middleware] = []
    if args.demo:
        if _unknown_demo(args.demo, as_json=args.json):
            return int(Health.UNKNOWN)
        from .demo.backend import SimBackend

        backend: Backend = SimBackend(build(args.demo, clock.now()))
    else:
        try:
            from .pcsc.adapter import PcscBackend
        except ImportError as exc:
            _say_error(
                _(
                    "pyscard is not installed or cannot load the PC/SC library ({error}). "
                    "Reinstall Cardwatch; on Linux also install pcscd."
                ).format(error=exc),
                as_json=args.json,
            )
            return int(Health.UNKNOWN)
        backend = PcscBackend()
        middleware = _middleware(args, config)
    from .check.run import CheckOptions, run_check

    options = CheckOptions(
        thresholds=config.check.thresholds(),
        clock_thresholds=config.clock.thresholds(),
        reader=args.reader,
        network=_network(args, clock, config),
    )
    recorder = None
    if args.record:
        from .card.transcript import RecordingBackend

        backend = recorder = RecordingBackend(backend)
    report = run_check(backend, clock, options, middleware)
    if recorder is not None and not _write_transcript(args, recorder, report):
        return int(Health.UNKNOWN)
    if args.json:
        write_json(sys.stdout, dumps(report) + "\n")
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        write_text(sys.stdout, render(report, colour=colour))
    return assess(report).exit_code


def _write_transcript(
    args: argparse.Namespace, recorder: RecordingBackend, report: CheckReport
) -> bool:
    """Write the recorded exchange (redacted when asked); False when the file cannot be written."""
    from .card.transcript import dumps as transcript_text
    from .card.transcript import redact
    from .present.check_json import reading_summary

    by_reader = {r.reader: r for r in report.readers}
    data = recorder.to_dict(report.checked_at)
    for reader in data["readers"]:
        found = by_reader.get(reader["reader"])
        if found is not None:
            reader["expected"] = reading_summary(found)
    if args.redact:
        numbers = [r.card_number for r in report.readers if r.card_number]
        data = redact(data, numbers)
    try:
        Path(args.record).write_text(transcript_text(data), encoding="utf-8")
    except OSError as exc:
        print(
            _("Cannot write the transcript {path}: {error}").format(path=args.record, error=exc),
            file=sys.stderr,
        )
        return False
    return True


class _Announcer:
    """Says once in the terminal what ``cardwatch run`` watches (again if the count changes)."""

    def __init__(self, tray: bool) -> None:
        self.tray = tray
        self.told: int | None = None

    def __call__(self, state: DaemonState) -> None:
        count = len(state.readers)
        if not state.service_up or count == 0 or count == self.told:
            return
        self.told = count
        write_text(sys.stdout, self.line(count) + "\n")
        sys.stdout.flush()

    def line(self, count: int) -> str:
        """The sentence for ``count`` readers."""
        if self.tray:
            return ngettext(
                "Cardwatch is watching {n} reader; the icon is in the tray. Ctrl+C stops it.",
                "Cardwatch is watching {n} readers; the icon is in the tray. Ctrl+C stops it.",
                count,
            ).format(n=count)
        return ngettext(
            "Cardwatch is watching {n} reader, without a tray icon. Ctrl+C stops it.",
            "Cardwatch is watching {n} readers, without a tray icon. Ctrl+C stops it.",
            count,
        ).format(n=count)


def _run(args: argparse.Namespace, loaded: Loaded) -> int:
    from .app import RunOptions, run

    config = loaded.config
    if args.demo and _unknown_demo(args.demo):
        return int(Health.UNKNOWN)
    options = RunOptions(
        demo=args.demo,
        tray=not args.no_tray,
        prometheus_textfile=args.prometheus_textfile or config.prometheus.textfile or None,
        prometheus_card_id=config.prometheus.card_id,
        thresholds=config.check.thresholds(),
        clock_thresholds=config.clock.thresholds(),
        notify=config.notifications,
        tray_backend=config.ui.tray_backend,
        on_state=_Announcer(not args.no_tray) if sys.stdout.isatty() else None,
    )
    from .store.instance import AlreadyRunning, InstanceError, acquire

    try:
        lock = acquire()
    except InstanceError as exc:
        print(
            _(
                "Cardwatch cannot create its lock file {path} ({reason}). Check that the "
                "directory is writable."
            ).format(path=exc.path, reason=exc.reason),
            file=sys.stderr,
        )
        return int(Health.UNKNOWN)
    if isinstance(lock, AlreadyRunning):
        # One icon per session: a second start is not an error, it just has nothing to do.
        pid = str(lock.pid) if lock.pid is not None else "?"
        print(_("Cardwatch is already running (pid {pid}).").format(pid=pid))
        return 0
    from .card.pkcs11_child import isolated
    from .store.logfile import attach

    attach(min(logging.INFO, logging.getLogger().getEffectiveLevel()))
    # Logged, not printed: the log goes to stderr and to the daemon's log file.
    for problem in loaded.problems:
        log.warning("%s", problem.message)
    # In the daemon a vendor module runs in a child process: it must never freeze the tray.
    with lock:
        sources = _middleware(args, config) if not args.demo else []
        modules = [source.name for source in sources]
        not_asked = frozenset(source.name for source in sources if not source.active)
        return run(
            options, isolated(modules, not_asked=not_asked), _network(args, SystemClock(), config)
        )


def _status(args: argparse.Namespace) -> int:
    from .present import status
    from .store.history import history_path, state_path

    data = status.read(state_path(), history_path())
    if args.json:
        write_json(sys.stdout, status.render_json(data))
    else:
        write_text(sys.stdout, status.render_text(data))
    return status.exit_code(data)


def _saved_report(reader: str | None) -> tuple[CheckReport, Sequence[HistoryEntry], str] | int:
    """The report of the daemon's saved state (or its latest reports), or an exit code."""
    from .daemon.state import DaemonState, Phase, ReaderState
    from .present import status
    from .present.report import as_check_report, report_name
    from .store.history import history_path, state_path

    data = status.read(state_path(), history_path())
    state = data.state
    if data.problem:
        print(data.problem, file=sys.stderr)
    if state is None and data.latest:
        # No usable state file, but the history kept each reader's latest full report.
        try:
            slots = tuple(
                ReaderState(name, Phase.CHECKED, status.reader_from_dict(latest.report), latest.at)
                for name, latest in sorted(data.latest.items())
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            print(
                _("The latest reports in {path} are unusable ({cause}).").format(
                    path=history_path(), cause=exc
                ),
                file=sys.stderr,
            )
        else:
            at = max(latest.at for latest in data.latest.values())
            state = DaemonState(readers=slots, service_up=True, updated_at=at)
    if state is None:
        print(
            _(
                "No report yet: Cardwatch has not checked a card. Start it with 'cardwatch run', "
                "or see a demo with 'cardwatch report --demo expiring'."
            ),
            file=sys.stderr,
        )
        return int(Health.UNKNOWN)
    if data.running is False:
        print(_("Cardwatch is not running; this is its last state."), file=sys.stderr)
    name = None
    if reader is not None:
        wanted = reader.casefold()
        chosen = tuple(r for r in state.readers if wanted in r.reader.casefold())
        if not chosen:
            print(
                _("No reader whose name contains '{name}' has been checked.").format(name=reader),
                file=sys.stderr,
            )
            return int(Health.UNKNOWN)
        state = replace(state, readers=chosen)
        name = chosen[0].reader if len(chosen) == 1 else None
    if state.language:
        # The items were worded by the daemon: the whole page speaks its language (and says so).
        set_language(state.language)
    # Beside the daemon's own report files, never over them.
    return as_check_report(state), data.entries, "cli-" + report_name(name)


def _report(args: argparse.Namespace, config: Config) -> int:
    from .present.report import open_file, report_dir, write_html
    from .present.report_text import render_report_text
    from .store.files import StorageError

    history: Sequence[HistoryEntry] = ()
    if args.demo:  # a scenario, checked now (a bare --demo reads the demo daemon's state)
        if _unknown_demo(args.demo):
            return int(Health.UNKNOWN)
        from .check.run import CheckOptions, run_check
        from .demo.backend import SimBackend
        from .demo.scenarios import build, network

        clock = SystemClock()
        options = CheckOptions(
            thresholds=config.check.thresholds(),
            clock_thresholds=config.clock.thresholds(),
            reader=args.reader,
            network=network(args.demo, clock.now()),
        )
        report = run_check(SimBackend(build(args.demo, clock.now())), clock, options)
        name = f"report-demo-{args.demo}.html"
    else:
        saved = _saved_report(args.reader)
        if isinstance(saved, int):
            return saved
        report, history, name = saved
    if not (args.html or args.open):
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        write_text(sys.stdout, render_report_text(report, history, colour=colour))
        return assess(report).exit_code
    try:
        path = write_html(report, report_dir() / name, history)
    except StorageError as exc:
        print(
            _("Cardwatch cannot write the report {path} ({reason}).").format(
                path=exc.path, reason=exc.reason
            ),
            file=sys.stderr,
        )
        return int(Health.UNKNOWN)
    print(path)
    if args.open and not open_file(path):
        print(_("No browser could be started: open the file yourself."), file=sys.stderr)
    return assess(report).exit_code


def _config(args: argparse.Namespace, loaded: Loaded) -> int:
    if args.config_command == "path":
        print(loaded.source)
        return 0
    if args.config_command == "show":
        _say_problems(loaded)
        if args.json:
            write_json(sys.stdout, render_json(loaded))
        else:
            write_text(sys.stdout, render_toml(loaded))
        return 1 if loaded.problems else 0
    _group_help("config")
    return int(Health.UNKNOWN)


def _autostart(args: argparse.Namespace) -> int:
    from . import autostart
    from .store.files import StorageError

    if args.verb is None:
        _group_help("autostart")
        return int(Health.UNKNOWN)
    entries = autostart.default()
    try:
        if args.verb == "enable":
            if args.systemd and "systemd" not in entries.kinds():
                print(_("--systemd is for Linux only."), file=sys.stderr)
                return int(Health.UNKNOWN)
            found = entries.enable(autostart.current_command(), "systemd" if args.systemd else None)
        elif args.verb == "disable":
            found = entries.disable()
        else:
            found = entries.status()
    except (OSError, StorageError, autostart.UnsafeCommand) as exc:
        print(
            _("Cardwatch could not change its start at login: {error}.").format(error=exc),
            file=sys.stderr,
        )
        return 3
    if args.verb == "status" and args.json:
        write_json(
            sys.stdout,
            json.dumps(autostart.status_dict(found), ensure_ascii=False, indent=2) + "\n",
        )
    else:
        print(found.reason)
        if found.command:
            print("  " + " ".join(found.command))
    if args.verb != "status":
        return 0
    return autostart.exit_code(found)


def gui_main() -> int:
    """Entry point of the GUI script (no console window on Windows): ``cardwatch run``."""
    return main(["run"])


def _command_parser(parser: argparse.ArgumentParser, *names: str | None) -> argparse.ArgumentParser:
    """The parser of the (sub)command ``names`` (as far as they are given)."""
    for name in names:
        if name is None:
            break
        group = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = cast("argparse.ArgumentParser", group.choices[name])
    return parser


def _group_help(*names: str) -> None:
    """Print the help of the (sub)command group ``names`` on stdout."""
    _command_parser(_parser(), *names).print_help()


def _language(requested: str | None) -> str | int | None:
    """The --lang asked for, or the exit code after refusing one Cardwatch does not speak."""
    if requested is None:
        return None
    lang = normalise(requested)
    if lang == "en" or lang.startswith("en_") or lang in LANGUAGES:
        return lang
    write_text(
        sys.stderr,
        _("Unknown language '{lang}'. Choose one of: {names}").format(
            lang=requested, names=", ".join(LANGUAGES)
        )
        + "\n",
    )
    return int(Health.UNKNOWN)


def _missing_named_file(loaded: Loaded, named: str | None) -> Loaded:
    """A config file named explicitly (--config, $CARDWATCH_CONFIG) that is missing is a problem."""
    if not named or loaded.source is None or loaded.source.exists() or loaded.problems:
        return loaded
    problem = ConfigProblem(
        "",
        None,
        _("{path}: no such file; the default settings are used").format(path=loaded.source),
    )
    return replace(loaded, problems=(problem,))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cardwatch`` command."""
    # Output is never lost to a terminal's encoding (see present/terminal.py).
    tolerant(sys.stdout)
    tolerant(sys.stderr)
    # The language must be set before the parser is built, so that --help is translated too.
    # So must the config file be read: its [ui] language applies unless --lang is given.
    # Both options are found before or after the command.
    early = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    early.add_argument("--lang")
    early.add_argument("--config")
    early.add_argument("--version", action="store_true")
    try:
        known, _rest = early.parse_known_args(argv)
    except (argparse.ArgumentError, SystemExit):  # the real parser below says what is wrong
        known = argparse.Namespace(lang=None, config=None, version=False)
    if known.version:  # never reads the config: a broken one must not hide the version
        print(f"cardwatch {__version__}")
        return 0
    lang = _language(known.lang)
    if isinstance(lang, int):
        set_language(None)
        return lang
    path = config_path(known.config)
    set_language(lang or read_config(path).config.ui.language or None)
    loaded = read_config(path)  # again, so that its problems are in the chosen language
    loaded = _missing_named_file(loaded, known.config or os.environ.get(CONFIG_ENV))
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # refused with the usage of the command they were given to
        names = (args.command, getattr(args, "config_command", None) or getattr(args, "verb", None))
        _command_parser(parser, *names).error(
            _("unrecognized arguments: {args}").format(args=" ".join(extra))
        )
    verbose = args.verbose + getattr(args, "verbose_after", 0)
    level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}.get(verbose, 5)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        _parser().print_help()
        return int(Health.UNKNOWN)
    from .store.files import DATA_DIR_ENV, demo_data_dir

    before = os.environ.get(DATA_DIR_ENV)
    if getattr(args, "demo", None) not in (None, False):  # report's bare --demo is ""
        # A demo's history, state, notification log and reports live apart from real data.
        os.environ[DATA_DIR_ENV] = str(demo_data_dir())
    try:
        return _command(args, loaded)
    finally:
        if before is None:
            os.environ.pop(DATA_DIR_ENV, None)
        else:
            os.environ[DATA_DIR_ENV] = before


def _command(args: argparse.Namespace, loaded: Loaded) -> int:
    """Run the chosen command; any error becomes words here."""
    try:
        if args.command == "check":
            _say_problems(loaded)
            return _check(args, loaded)
        if args.command == "run":
            return _run(args, loaded)
        if args.command == "config":
            return _config(args, loaded)
        if args.command == "status":
            return _status(args)
        if args.command == "report":
            _say_problems(loaded)
            return _report(args, loaded.config)
        if args.command == "autostart":
            return _autostart(args)
    except KeyboardInterrupt:
        return int(Health.UNKNOWN)
    except Exception as exc:  # the one place where any error becomes words
        log.debug("unexpected error", exc_info=True)
        _say_error(
            _("Cardwatch could not finish: {error}. Run with -vv for details.").format(error=exc),
            as_json=args.command == "check" and args.json,
        )
        return int(Health.UNKNOWN)
    return int(Health.UNKNOWN)


if __name__ == "__main__":
    sys.exit(main())
