"""One daemon per user session: a lock file that the kernel releases when the process ends.

A second ``cardwatch run`` finds the lock taken and stops before it creates a tray icon. The
lock is an advisory ``flock`` (POSIX) or ``msvcrt.locking`` (Windows) on a file in the user's
runtime directory: it cannot go stale, because a crashed or killed daemon loses it at once.
The file also holds the daemon's pid, for ``cardwatch status`` and for the message the second
instance prints.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import platformdirs

log = logging.getLogger(__name__)

LOCK_NAME = "cardwatch.lock"


def lock_path() -> Path:
    """Where the lock lives: the runtime dir where there is one, else the state dir."""
    try:
        # Without a usable XDG_RUNTIME_DIR (cron, su) platformdirs warns on stderr and falls
        # back to a shared /tmp folder: the state dir is the better place then, and quiet.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            base = Path(platformdirs.user_runtime_dir("cardwatch", appauthor=False))
        if caught:
            raise RuntimeError(str(caught[0].message))
    except Exception:  # platformdirs may refuse on exotic systems; the state dir always works
        base = Path(platformdirs.user_state_dir("cardwatch", appauthor=False))
    return base / LOCK_NAME


class InstanceError(Exception):
    """The lock file cannot be created (unwritable directory and the like)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class AlreadyRunning:
    """Another daemon holds the lock."""

    pid: int | None


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class InstanceLock:
    """Held for the daemon's lifetime; :meth:`release` (or process exit) lets go."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        """Let go of the lock (the file stays: removing it would race a starting daemon)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(path: Path | None = None) -> InstanceLock | AlreadyRunning:
    """Take the lock, or say who holds it; raises InstanceError when it cannot be created."""
    path = path or lock_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # "a+" creates the file without truncating a pid another daemon wrote.
        handle = open(path, "a+", encoding="ascii")  # noqa: SIM115 - kept open while held
    except OSError as exc:
        raise InstanceError(path, exc.strerror or str(exc)) from exc
    if not _try_lock(handle):
        handle.close()
        return AlreadyRunning(_read_pid(path))
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
    except OSError as exc:  # the lock holds even when the pid cannot be written
        log.warning("cannot write the pid into %s: %s", path, exc)
    return InstanceLock(path, handle)


def held(path: Path | None = None) -> bool | None:
    """Whether a daemon holds the lock now (None: no daemon ever made the lock file here)."""
    path = path or lock_path()
    if not path.exists():
        return None
    try:
        handle = open(path, "a+", encoding="ascii")  # noqa: SIM115 - closed below
    except OSError:
        return None
    try:
        return not _try_lock(handle)  # if we got it, nobody held it (we held it an instant)
    finally:
        handle.close()


def running_pid(path: Path | None = None) -> int | None:
    """The pid of the running daemon, or None when no daemon holds the lock."""
    path = path or lock_path()
    return _read_pid(path) if held(path) else None
