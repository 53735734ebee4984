"""Notification backends: desktop-notifier (click and buttons), plyer, or a log line.

The only module that imports ``desktop_notifier`` or ``plyer``. Every backend takes
:class:`~tray.notify.policy.Notice` objects and returns at once: the sending happens on the
backend's own thread (desktop-notifier's asyncio loop, or plyer's worker), never on the
daemon's dispatcher or the tray's main thread.

* **desktop-notifier** (D-Bus on Linux, the native centres on Windows and macOS): one live
  notification per slot (an older one is closed before its replacement is sent, since the
  library always asks for a new id), a click or "Open report" opens that card's report,
  "Snooze for a day" snoozes the card; when Cardwatch quits, its notifications are withdrawn
  (their buttons would be dead).
* **plyer** where desktop-notifier cannot run: no clicks, so the message says where the
  report file is; nothing can be withdrawn.
* **a log line** when there is no notification service at all: the daemon keeps running.
  plyer is not tried when desktop-notifier found no service on Linux: plyer would call the
  same absent service through ``notify-send``/``gdbus`` and lose every notice silently.

Titles and bodies hold card labels, card numbers and reader names: each backend makes them
safe for its sink with :mod:`tray.present.safe` (markup-escaped where the server may parse
markup: D-Bus servers on Linux; control and bidi characters escaped everywhere).
A notice that cannot be shown is logged: the first failure of each kind as a warning naming
the notice, the repeats of that kind at debug level (no log line per notice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from .. import trace
from ..i18n import _, sentences
from ..present import safe
from .policy import Notice, Urgency

log = logging.getLogger(__name__)

APP_NAME = "Cardwatch"
#: how long the start-up probe of the notification service may take
PROBE_SECONDS = 5.0
#: D-Bus notification servers (Linux, BSD) may parse markup in the body (the spec's
#: body-markup; dunst in the summary too); the native centres of Windows and macOS do not
MARKUP = not sys.platform.startswith(("win", "darwin"))


def title_text(notice: Notice, markup: bool = MARKUP) -> str:
    """The notice's title, safe for the notification server."""
    return safe.notification(notice.title, markup=markup)


def body_text(notice: Notice, markup: bool = MARKUP) -> str:
    """The notice's body, each line safe for the server (a newline in card text cannot pass)."""
    return "\n".join(safe.notification(line, markup=markup) for line in notice.lines)


class FailureLog:
    """Logs a notice that could not be shown: once per kind as a warning, then at debug."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, kind: str, notice: Notice | None, exc: BaseException) -> None:
        what = safe.terminal(notice.title) if notice is not None else kind
        with self._lock:
            first = kind not in self._seen
            self._seen.add(kind)
        if first:
            log.warning(
                "notification not shown (%s: %s): %s; further failures of this kind are "
                "logged at debug level",
                kind,
                safe.terminal(str(exc) or type(exc).__name__),
                what,
            )
        else:
            log.debug("notification not shown (%s): %s", kind, what, exc_info=exc)


@dataclass(frozen=True)
class Callbacks:
    """What the user's actions on a notification do; each must return at once."""

    open_report: Callable[[Notice], None]
    snooze: Callable[[Notice], None]
    closed: Callable[[Notice], None]


class Backend(Protocol):
    """Shows and withdraws notices; every call returns at once."""

    name: str

    def show(self, notice: Notice) -> None: ...

    def withdraw(self, slot: str) -> None: ...

    def flush(self, timeout: float = PROBE_SECONDS) -> bool: ...

    def close(self) -> None:
        """Withdraw what can be withdrawn (Cardwatch quits) and stop; waits a bounded time."""


class BackendUnavailable(Exception):
    """This backend cannot run here; ``cause`` says why."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def _icon_path(urgency: Urgency) -> Path | None:
    name = {Urgency.CRITICAL: "error", Urgency.NORMAL: "warning", Urgency.LOW: "ok"}[urgency]
    try:
        path = Path(str(resources.files("tray.icondata") / f"{name}-64.png"))
    except (ModuleNotFoundError, TypeError):
        return None
    return path if path.exists() else None


class DesktopNotifierBackend:
    """desktop-notifier on its own asyncio loop thread."""

    name = "desktop-notifier"

    def __init__(self, callbacks: Callbacks) -> None:
        try:
            import desktop_notifier as dn
        except Exception as exc:  # not installed, or its platform part is missing
            raise BackendUnavailable(f"desktop-notifier cannot be imported ({exc})") from exc
        self._dn = dn
        self._callbacks = callbacks
        self._failed = FailureLog()
        self._loop = asyncio.new_event_loop()
        self._notifier = dn.DesktopNotifier(app_name=APP_NAME, app_icon=None)
        # slot → desktop-notifier's identifier of its live notification
        self._ids: dict[str, str] = {}
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="cw-notify", daemon=True
        )
        self._thread.start()
        self._queue: asyncio.Queue[tuple[str, Any]] | None = None
        try:
            future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
            future.result(PROBE_SECONDS)
        except Exception as exc:
            self.close()
            cause = str(exc) or type(exc).__name__
            raise BackendUnavailable(f"no notification service ({cause})") from exc

    async def _start(self) -> None:
        # get_capabilities connects to the service: it fails here when there is none.
        capabilities = await self._notifier.get_capabilities()
        log.debug("notification service capabilities: %s", sorted(c.name for c in capabilities))
        self._queue = asyncio.Queue()
        self._consumer = asyncio.ensure_future(self._consume())

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            what, arg = await self._queue.get()
            try:
                if what == "show":
                    await self._show(arg)
                elif what == "flush":
                    arg.set()
                elif what == "withdraw_all":
                    await self._withdraw_all(arg)
                else:
                    await self._withdraw(arg)
            except Exception as exc:  # one failed send must not end the loop
                self._failed(f"{what}: {type(exc).__name__}", arg if what == "show" else None, exc)

    def _put(self, what: str, arg: Any) -> None:
        queue_ = self._queue
        if queue_ is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(queue_.put_nowait, (what, arg))

    def show(self, notice: Notice) -> None:
        """Show ``notice``, replacing its slot's live notification."""
        self._put("show", notice)

    def withdraw(self, slot: str) -> None:
        """Close ``slot``'s live notification, if any."""
        self._put("withdraw", slot)

    def flush(self, timeout: float = PROBE_SECONDS) -> bool:
        """Wait until everything handed in so far has been sent; False on timeout."""
        done = threading.Event()
        self._put("flush", done)
        return done.wait(timeout)

    async def _withdraw(self, slot: str) -> None:
        identifier = self._ids.pop(slot, None)
        if identifier is None:
            return
        try:
            await self._notifier.clear(identifier)
        except Exception:  # already closed by the user or the server: nothing to withdraw
            log.debug("closing the notification of %s failed", slot, exc_info=True)

    async def _withdraw_all(self, done: threading.Event) -> None:
        try:
            for slot in list(self._ids):
                await self._withdraw(slot)
        finally:
            done.set()

    async def _show(self, notice: Notice) -> None:
        dn = self._dn
        await self._withdraw(notice.slot)
        callbacks = self._callbacks
        buttons = [dn.Button(_("Open report"), on_pressed=lambda: callbacks.open_report(notice))]
        if notice.snooze:
            buttons.append(
                dn.Button(_("Snooze for a day"), on_pressed=lambda: self._snoozed(notice))
            )
        urgency = {
            Urgency.LOW: dn.Urgency.Low,
            Urgency.NORMAL: dn.Urgency.Normal,
            Urgency.CRITICAL: dn.Urgency.Critical,
        }[notice.urgency]
        icon_path = _icon_path(notice.urgency)
        notification = dn.Notification(
            title=title_text(notice),
            message=body_text(notice),
            urgency=urgency,
            icon=dn.Icon(path=icon_path) if icon_path is not None else None,
            buttons=tuple(buttons),
            on_clicked=lambda: callbacks.open_report(notice),
            on_dismissed=lambda: self._dismissed(notice),
            timeout=notice.timeout,
        )
        trace.mark("notify_send", notice.reader or "")
        self._ids[notice.slot] = await self._notifier.send_notification(notification)
        trace.mark("notify_sent", notice.reader or "")

    def _snoozed(self, notice: Notice) -> None:
        self._callbacks.snooze(notice)
        self.withdraw(notice.slot)

    def _dismissed(self, notice: Notice) -> None:
        self._ids.pop(notice.slot, None)
        self._callbacks.closed(notice)

    def close(self) -> None:
        """Withdraw every live notification (its buttons would be dead), stop the loop thread."""
        if not self._loop.is_running():
            return
        # After everything handed in before: a notice still on its way is withdrawn too.
        withdrawn = threading.Event()
        self._put("withdraw_all", withdrawn)
        if self._queue is not None and not withdrawn.wait(PROBE_SECONDS):
            log.warning("Cardwatch's notifications could not all be withdrawn")
        try:
            # The consumer must end inside the loop: a coroutine left suspended would be
            # finalised later against a dead loop and print an error at exit.
            asyncio.run_coroutine_threadsafe(self._stop_consumer(), self._loop).result(
                PROBE_SECONDS
            )
        except Exception:  # the loop is wedged: stopping it below is all that is left
            log.debug("stopping the notification queue failed", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(PROBE_SECONDS)

    async def _stop_consumer(self) -> None:
        consumer = getattr(self, "_consumer", None)
        if consumer is None:
            return
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer


class PlyerBackend:
    """plyer's notification facade on a worker thread: no clicks, so it names the report."""

    name = "plyer"

    def __init__(self, report_file: Callable[[Notice], Path | None]) -> None:
        try:
            from plyer import notification
        except Exception as exc:
            raise BackendUnavailable(f"plyer cannot be imported ({exc})") from exc
        self._notification = notification
        self._report_file = report_file
        self._failed = FailureLog()
        self._jobs: queue.Queue[Notice | threading.Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="cw-notify", daemon=True)
        self._thread.start()

    def show(self, notice: Notice) -> None:
        """Send ``notice`` (from the worker thread)."""
        self._jobs.put(notice)

    def withdraw(self, slot: str) -> None:
        """plyer cannot close a notification; the server's timeout hides it."""

    def flush(self, timeout: float = PROBE_SECONDS) -> bool:
        """Wait until everything handed in so far has been sent; False on timeout."""
        done = threading.Event()
        self._jobs.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        """Stop the worker."""
        self._jobs.put(None)
        self._thread.join(PROBE_SECONDS)

    def _run(self) -> None:
        while (notice := self._jobs.get()) is not None:
            if isinstance(notice, threading.Event):
                notice.set()
                continue
            try:
                path = self._report_file(notice)
                message = body_text(notice)
                if path is not None:
                    where = safe.notification(
                        _("The report is in {path}").format(path=path), markup=MARKUP
                    )
                    message = sentences(message, where) if message else where
                self._notification.notify(
                    title=title_text(notice),
                    message=message,
                    app_name=APP_NAME,
                    timeout=notice.timeout,
                )
            except Exception as exc:  # no implementation for this platform, service gone
                self._failed(type(exc).__name__, notice, exc)


class LogBackend:
    """No notification service at all: each notice becomes a log line."""

    name = "log"

    def show(self, notice: Notice) -> None:
        """Log ``notice``."""
        lines = " | ".join(safe.terminal(line) for line in notice.lines)
        log.warning("%s: %s", safe.terminal(notice.title), lines)

    def withdraw(self, slot: str) -> None:
        """Nothing to withdraw."""

    def flush(self, timeout: float = PROBE_SECONDS) -> bool:
        """Nothing is queued."""
        return True

    def close(self) -> None:
        """Nothing to stop."""


def make_backend(
    callbacks: Callbacks,
    report_file: Callable[[Notice], Path | None],
    prefer: tuple[str, ...] = ("desktop-notifier", "plyer"),
) -> Backend:
    """The first backend of ``prefer`` that runs here, else the log (one line says why)."""
    causes = []
    for name in prefer:
        try:
            if name == "desktop-notifier":
                return DesktopNotifierBackend(callbacks)
            if name == "plyer":
                return PlyerBackend(report_file)
        except BackendUnavailable as exc:
            causes.append(exc.cause)
            log.info("%s: %s", name, exc.cause)
            if name == "desktop-notifier" and MARKUP and exc.cause.startswith("no notification"):
                break  # plyer would use the same absent D-Bus service and fail silently
    log.warning(
        "no desktop notifications (%s); Cardwatch keeps watching and logs what it would notify",
        "; ".join(causes) or "none configured",
    )
    return LogBackend()
