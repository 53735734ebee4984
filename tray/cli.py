"""The ``cardwatch`` command. Exceptions become user words here, and only here."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from . import __version__
from .card.backend import Backend
from .clock import SystemClock
from .config import Config, Loaded, config_path, read_config, render_json, render_toml
from .i18n import _, set_language
from .model import CheckReport, Health
from .net import NetworkChecks, live
from .net.deferred import deferred
from .present.check_json import dumps
from .present.check_text import render

if TYPE_CHECKING:
    from .check.run import Middleware
    from .model import HistoryEntry

log = logging.getLogger("cardwatch")


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
    parser = argparse.ArgumentParser(
        prog="cardwatch",
        description=_(
            "Smart-card health: a read-only check of PC/SC service, reader, card, "
            "certificates and PIN lock risk."
        ),
    )
    parser.add_argument("--version", action="version", version=f"cardwatch {__version__}")
    parser.add_argument(
        "--lang",
        metavar="LANG",
        help=_("language of the output: en or zh_TW (default: from the locale)"),
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=_(
            "read the settings from PATH instead of config.toml in the user config directory "
            "(also: the CARDWATCH_CONFIG environment variable)"
        ),
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help=_("log more; -vvv also logs every APDU")
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser(
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
    _pkcs11_arguments(check)
    _network_arguments(check)
    run = sub.add_parser(
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
    status = sub.add_parser(
        "status",
        help=_("show the tray daemon's current state and its last checks"),
        description=_(
            "Show the state last saved by 'cardwatch run' and its last checks. Exit codes as "
            "for check; 3 when Cardwatch is not running or has not checked a card yet."
        ),
    )
    status.add_argument("--json", action="store_true", help=_("print the stable JSON form"))
    report = sub.add_parser(
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
        help=_("report on a demo scenario checked now, with no reader or daemon needed"),
    )
    report.add_argument("--reader", metavar="NAME", help=_("only readers whose name contains NAME"))
    config = sub.add_parser(
        "config",
        help=_("show where the settings file is, or the settings in effect"),
        description=_(
            "'config path' prints where Cardwatch reads its settings; 'config show' prints the "
            "settings in effect as TOML, each marked as from the file or default, and any "
            "problems on stderr. Exit codes: 0 no problems, 1 problems found (defaults used)."
        ),
    )
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    config_sub.add_parser("path", help=_("print the path of the settings file"))
    show = config_sub.add_parser("show", help=_("print the settings in effect"))
    show.add_argument("--json", action="store_true", help=_("print them as JSON"))
    autostart = sub.add_parser(
        "autostart",
        help=_("start Cardwatch at login, or stop doing so"),
        description=_(
            "Start the tray icon at login (Linux: XDG autostart or a systemd user unit; macOS: "
            "a LaunchAgent; Windows: the Run key). Exit codes of status: 0 enabled, 1 enabled "
            "but stale (it starts a program that is gone), 3 not enabled."
        ),
    )
    verbs = autostart.add_subparsers(dest="verb", metavar="ACTION", required=True)
    enable = verbs.add_parser("enable", help=_("start the installed Cardwatch at login"))
    enable.add_argument(
        "--systemd",
        action="store_true",
        help=_("Linux: a systemd user unit instead of an XDG autostart entry"),
    )
    verbs.add_parser("disable", help=_("no longer start Cardwatch at login"))
    autostart_status = verbs.add_parser("status", help=_("say whether Cardwatch starts at login"))
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
    return list(discover(args.pkcs11_module or config.pkcs11.modules))


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
        print(problem.message, file=sys.stderr)


def _unknown_demo(name: str) -> bool:
    """Say so on stderr when ``name`` is no demo scenario."""
    from .demo.scenarios import SCENARIOS

    if name in SCENARIOS:
        return False
    print(
        _("Unknown demo scenario '{name}'. Choose one of: {names}").format(
            name=name, names=", ".join(SCENARIOS)
        ),
        file=sys.stderr,
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
        if _unknown_demo(args.demo):
            return int(Health.UNKNOWN)
        from .demo.backend import SimBackend

        backend: Backend = SimBackend(build(args.demo, clock.now()))
    else:
        try:
            from .pcsc.adapter import PcscBackend
        except ImportError as exc:
            print(
                _(
                    "pyscard is not installed or cannot load the PC/SC library ({error}). "
                    "Reinstall Cardwatch; on Linux also install pcscd."
                ).format(error=exc),
                file=sys.stderr,
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
    report = run_check(backend, clock, options, middleware)
    if args.json:
        print(dumps(report))
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(render(report, colour=colour))
    return int(report.health)


def _run(args: argparse.Namespace, loaded: Loaded) -> int:
    from .app import RunOptions, run

    config = loaded.config
    if args.demo and _unknown_demo(args.demo):
        return int(Health.UNKNOWN)
    options = RunOptions(
        demo=args.demo,
        tray=not args.no_tray,
        prometheus_textfile=args.prometheus_textfile or config.prometheus.textfile or None,
        thresholds=config.check.thresholds(),
        clock_thresholds=config.clock.thresholds(),
        notify=config.notifications,
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
        modules = [source.name for source in _middleware(args, config)] if not args.demo else []
        return run(options, isolated(modules), _network(args, SystemClock(), config))


def _status(args: argparse.Namespace) -> int:
    from .present import status
    from .store.history import history_path, state_path

    data = status.read(state_path(), history_path())
    sys.stdout.write(status.render_json(data) if args.json else status.render_text(data))
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
                    path=history_path(), cause=repr(exc)
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
    return as_check_report(state), data.entries, report_name(name)


def _report(args: argparse.Namespace, config: Config) -> int:
    from .present.report import open_file, report_dir, write_html
    from .present.report_text import render_report_text
    from .store.files import StorageError

    history: Sequence[HistoryEntry] = ()
    if args.demo:
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
        sys.stdout.write(render_report_text(report, history, colour=colour))
        return int(report.health)
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
    return int(report.health)


def _config(args: argparse.Namespace, loaded: Loaded) -> int:
    if args.config_command == "path":
        print(loaded.source)
        return 0
    if args.config_command == "show":
        _say_problems(loaded)
        sys.stdout.write(render_json(loaded) if args.json else render_toml(loaded))
        return 1 if loaded.problems else 0
    _parser().parse_args(["config", "--help"])
    return int(Health.UNKNOWN)


def _autostart(args: argparse.Namespace) -> int:
    from . import autostart
    from .store.files import StorageError

    entries = autostart.default()
    try:
        if args.verb == "enable":
            if args.systemd and "systemd" not in entries.kinds():
                print(_("--systemd is for Linux only."), file=sys.stderr)
                return 2
            found = entries.enable(autostart.current_command(), "systemd" if args.systemd else None)
        elif args.verb == "disable":
            found = entries.disable()
        else:
            found = entries.status()
    except (OSError, StorageError) as exc:
        print(
            _("Cardwatch could not change its start at login: {error}.").format(error=exc),
            file=sys.stderr,
        )
        return 3
    if args.verb == "status" and args.json:
        print(json.dumps(autostart.status_dict(found), ensure_ascii=False, indent=2))
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cardwatch`` command."""
    # The language must be set before the parser is built, so that --help is translated too.
    # So must the config file be read: its [ui] language applies unless --lang is given.
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--lang")
    early.add_argument("--config")
    known, _rest = early.parse_known_args(argv)
    path = config_path(known.config)
    set_language(known.lang or read_config(path).config.ui.language or None)
    loaded = read_config(path)  # again, so that its problems are in the chosen language
    args = _parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}.get(args.verbose, 5)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        _parser().print_help()
        return int(Health.UNKNOWN)
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
        print(
            _("Cardwatch could not finish: {error}. Run with -vv for details.").format(error=exc),
            file=sys.stderr,
        )
        return int(Health.UNKNOWN)
    return int(Health.UNKNOWN)


if __name__ == "__main__":
    sys.exit(main())
