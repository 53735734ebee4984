"""The one place for durable files: atomic writes, careful reads, and a coalescing writer.

Rules every file Cardwatch keeps follows:

* a write goes to a temporary file in the same directory, is fsync'ed, then replaces the
  old file in one ``os.replace``; a failed write (read-only directory, disk full) leaves the
  old file as it was and no temporary file behind, and raises :class:`StorageError`;
* files hold personal data (card numbers, names, certificate serials): a file is written
  with exactly the mode asked for (0600 unless said otherwise) whatever the umask or the
  old file's mode; the temporary file is created ``O_EXCL | O_NOFOLLOW`` at 0600, and a
  symlink at the destination is replaced by the rename, never followed (its target is left
  untouched); a folder that is Cardwatch's own (``own_folder``) is created 0700 and an
  existing one tightened to 0700 — never any other folder (the user's home, the autostart
  or textfile-collector folders);
* a file that cannot be read back (truncated, corrupt, unreadable) is never deleted: it is
  set aside as ``<name>.corrupt-<UTC time>`` with one WARNING saying why and where it went,
  and the caller starts afresh;
* writes that may come in bursts (a state snapshot per event) go through a
  :class:`Coalescer`: one background thread writes the latest value, at most a few times a
  second, and sleeps without a timeout when there is nothing to write.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any, Generic, TypeVar

import platformdirs

from ..clock import Clock, SystemClock

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Mode of a private file (history, state, reports, caches), whatever it was before.
PRIVATE = 0o600
#: Mode of Cardwatch's own folders (the data, report and cache folders)
PRIVATE_FOLDER = 0o700


class StorageError(Exception):
    """A file could not be written or moved; nothing already stored was changed."""

    def __init__(self, path: Path, reason: str, code: int | None = None) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason
        #: the OS error number, when an OSError was the cause (picks the advice)
        self.code = code

    @property
    def advice(self) -> str:
        """What the user can do about it (the stored file is always kept as it was)."""
        if self.code in (errno.ENOSPC, errno.EDQUOT):
            return "the disk is full: free some space there; the stored file is kept as it was"
        if self.code in (errno.EROFS, errno.EACCES, errno.EPERM):
            return "make the directory writable; the stored file is kept as it was"
        return "the stored file is kept as it was"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


#: set by ``--demo``: the demo's own data directory, so simulated cards never reach real data
DATA_DIR_ENV = "CARDWATCH_DATA_DIR"


def data_dir() -> Path:
    """Where Cardwatch keeps its history and state (platformdirs' user data dir)."""
    chosen = os.environ.get(DATA_DIR_ENV)
    if chosen:
        return Path(chosen)
    return Path(platformdirs.user_data_dir("cardwatch"))


def demo_data_dir() -> Path:
    """The data directory of ``--demo`` runs: beside the real one, never the real one."""
    return Path(platformdirs.user_data_dir("cardwatch")) / "demo"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory; the data is synced
        pass
    finally:
        os.close(fd)


def private_folder(directory: Path) -> None:
    """Create Cardwatch's own ``directory`` 0700, or tighten it to 0700; OSError if impossible.

    Only for folders Cardwatch owns: a symlink in its place is the user's choice and is left as
    it is (chmod would follow it to whatever folder it names).
    """
    directory.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    found = directory.lstat()
    if stat.S_ISDIR(found.st_mode) and found.st_mode & 0o777 != PRIVATE_FOLDER:
        directory.chmod(PRIVATE_FOLDER)


_TEMP_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new temporary file next to ``path``, 0600, never an existing file or a symlink."""
    for _attempt in range(100):
        # The temporary name never ends in the target's suffix (node_exporter reads *.prom).
        temp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temp, _TEMP_FLAGS, PRIVATE), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def atomic_write_bytes(
    path: Path, data: bytes, mode: int = PRIVATE, *, own_folder: bool = False
) -> None:
    """Replace ``path`` with ``data`` all at once, with exactly ``mode``; StorageError.

    The old file is intact after a failure. A symlink at ``path`` is replaced, never followed.
    ``own_folder``: ``path``'s folder is Cardwatch's own (see :func:`private_folder`).
    """
    directory = path.parent
    try:
        if own_folder:
            private_folder(directory)
        else:
            directory.mkdir(parents=True, exist_ok=True)
        fd, temp = _create_temp(path)
    except OSError as exc:
        raise StorageError(path, _reason(exc), exc.errno) from exc
    try:
        with os.fdopen(fd, "wb") as out:
            # exactly ``mode``, whatever the umask (Windows has no fchmod: per-user ACLs)
            if hasattr(os, "fchmod"):
                os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if not hasattr(os, "fchmod"):
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise StorageError(path, _reason(exc), exc.errno) from exc
        raise
    _fsync_dir(directory)


def atomic_write_text(
    path: Path, text: str, mode: int = PRIVATE, *, own_folder: bool = False
) -> None:
    """Replace ``path`` with UTF-8 ``text`` all at once; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), mode, own_folder=own_folder)


def set_aside(path: Path, what: str, cause: str, clock: Clock | None = None) -> Path | None:
    """Move an unusable file to ``<name>.corrupt-<UTC time>`` (never delete it); log once."""
    stamp = (clock or SystemClock()).now().astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    serial = 1
    while target.exists():
        serial += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{serial}")
    try:
        os.replace(path, target)
    except OSError as exc:
        log.warning(
            "the %s file %s is unusable (%s) and could not be moved aside (%s); "
            "leaving it where it is",
            what,
            path,
            cause,
            _reason(exc),
        )
        return None
    log.warning(
        "the %s file %s is unusable (%s); moved it aside to %s and starting afresh",
        what,
        path,
        cause,
        target,
    )
    return target


@dataclass(frozen=True)
class Loaded:
    """What :func:`read_json` found: the data, or why the file was unusable and where it went."""

    data: Any | None = None
    #: why the file could not be used (None: fine, or simply missing)
    problem: str | None = None
    #: where the unusable file was moved (None: missing, fine, or it could not be moved)
    moved_to: Path | None = None


def read_json(
    path: Path, what: str, *, schema: str | None = None, clock: Clock | None = None
) -> Loaded:
    """Read the JSON in ``path``; an unusable file is set aside (see :func:`set_aside`)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Loaded()
    except OSError as exc:
        cause = f"cannot read it: {_reason(exc)}"
        return Loaded(problem=cause, moved_to=set_aside(path, what, cause, clock))
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        cause = f"not UTF-8 text at byte {exc.start}"
    except json.JSONDecodeError as exc:
        cause = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        if not raw.strip():
            cause = "the file is empty"
    except (ValueError, RecursionError) as exc:
        cause = f"not valid JSON ({_reason(exc)})"
    else:
        if schema is None:
            return Loaded(data)
        found = data.get("schema") if isinstance(data, dict) else None
        if found == schema:
            return Loaded(data)
        cause = f"expected schema {schema}, found {found!r}"
    return Loaded(problem=cause, moved_to=set_aside(path, what, cause, clock))


def load_json(
    path: Path, what: str, *, schema: str | None = None, clock: Clock | None = None
) -> Any | None:
    """The JSON in ``path``; None if missing, or if unusable (then it is set aside)."""
    return read_json(path, what, schema=schema, clock=clock).data


class Coalescer(Generic[T]):
    """Writes the latest submitted value from one background thread, at most every interval.

    ``submit`` never blocks on the disk. When values arrive faster than ``min_interval``, the
    ones in between are skipped; the last one is always written (at the latest
    ``min_interval`` after it came, at once on :meth:`close`). A write that fails with
    :class:`StorageError` (disk full, read-only) is logged once and retried with a growing
    pause (up to ``max_retry`` seconds) until it succeeds or a newer value replaces it. Idle,
    the thread sleeps in a condition wait without a timeout: no wake-ups.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[T], None],
        min_interval: float = 0.25,
        max_retry: float = 60.0,
    ) -> None:
        self._name = name
        self._write = write
        self._min_interval = min_interval
        self._max_retry = max_retry
        self._cond = threading.Condition()
        self._pending: list[T] = []  # at most one: the latest value
        self._submitted = 0  # values handed in so far
        self._attempted = 0  # ... of which the latest has been tried (written or failed)
        self._closing = False
        self._thread: threading.Thread | None = None
        self._failure: str | None = None
        self.writes = 0

    def submit(self, value: T) -> None:
        """Write ``value`` soon, unless a newer one comes first."""
        with self._cond:
            if self._closing:
                return
            self._pending[:] = [value]
            self._submitted += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the latest value submitted so far has been tried; False on timeout."""
        with self._cond:
            wanted = self._submitted
            return self._cond.wait_for(lambda: self._attempted >= wanted, timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is pending (one try) and stop the thread."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        retry = self._min_interval
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending) or self._closing)
                if not self._pending:
                    return
                value = self._pending.pop()
                generation = self._submitted
            outcome = self._write_safely(value)
            with self._cond:
                self._attempted = generation
                self.writes += outcome is True
                self._cond.notify_all()
                if self._closing:
                    continue
                pause = self._min_interval
                if outcome is False and not self._pending:
                    self._pending.append(value)  # try again, unless a newer value comes
                    pause = retry
                    retry = min(retry * 2 if retry > 0 else 1.0, self._max_retry)
                elif outcome is True:
                    retry = self._min_interval
                # The rate limit: after a write, let further values gather for a moment.
                self._cond.wait_for(lambda: self._closing, pause)

    def _write_safely(self, value: T) -> bool | None:
        """True: written; False: a storage failure, worth retrying; None: a bug, dropped."""
        try:
            self._write(value)
        except StorageError as exc:
            # One line per distinct failure, not one per snapshot of a full disk.
            if exc.reason != self._failure:
                log.warning(
                    "could not save %s: %s (will retry); %s", exc.path, exc.reason, exc.advice
                )
            self._failure = exc.reason
            return False
        except Exception:  # a bug in a writer must not end the thread
            log.exception("%s: writing failed", self._name)
            return None
        if self._failure is not None:
            log.info("%s: saving works again", self._name)
            self._failure = None
        return True
