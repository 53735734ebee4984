"""The daemon's log file: a started-at-login daemon has no terminal to warn on.

``cardwatch run`` logs INFO and above (state changes, degraded features, set-aside files) to
a small rotating file in the user's log directory, besides stderr. APDU dumps (level TRAFFIC)
reach the file only when asked for with ``-vvv``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

MAX_BYTES = 512 * 1024
BACKUPS = 2
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def log_path() -> Path:
    """Where the daemon logs: ``cardwatch.log`` in the platform's user log directory."""
    return Path(platformdirs.user_log_dir("cardwatch", appauthor=False)) / "cardwatch.log"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are 0600 whatever the umask, never opened through a symlink
    (the log names cards and readers: personal data)."""

    def _open(self) -> io.TextIOWrapper:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.baseFilename, flags, 0o600)
        # an older file may have been created 0644; Windows has no fchmod (per-user ACLs)
        with contextlib.suppress(AttributeError, OSError):
            os.fchmod(fd, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def attach(level: int = logging.INFO, path: Path | None = None) -> Path | None:
    """Log to the rotating file as well; returns its path, or None when it cannot be opened."""
    path = path or log_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        handler = PrivateRotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError as exc:  # the daemon runs on without its file; stderr still gets the line
        log.warning("cannot write the log file %s (%s): logging to stderr only", path, exc)
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    # The root level gates every handler; the file wants INFO even when stderr shows WARNING.
    for existing in root.handlers:
        if existing is not handler and existing.level == logging.NOTSET:
            existing.setLevel(root.level)
    root.setLevel(min(root.level, level))
    return path
