"""Linux, for those who prefer it: a systemd user unit started with the graphical session.

``enable`` writes ``~/.config/systemd/user/cardwatch.service`` and the link that
``systemctl --user enable`` would make (``graphical-session.target.wants/``), so it works
without a running user manager; the unit starts at the next login (or at once with
``systemctl --user daemon-reload && systemctl --user start cardwatch``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..store.files import atomic_write_text
from .core import AutostartStatus, config_home, judge, off, refuse_control_characters, remove

KIND = "systemd"
UNIT = "cardwatch.service"
TARGET = "graphical-session.target"


def quote_arg(arg: str) -> str:
    """One ExecStart argument in systemd's syntax (quotes, C escapes, ``%%`` and ``$$``).

    Control characters are refused (:class:`~.core.UnsafeCommand`): systemd ends a line at a
    CR as well as at a newline, so one in a path would start another directive.
    """
    refuse_control_characters((arg,))
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if escaped and not any(c in escaped for c in " \t\n\"'\\;"):
        return escaped
    inner = escaped.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{inner}"'


def split_exec_start(value: str) -> tuple[str, ...]:
    """The arguments of an ExecStart value written by :func:`quote_arg` (its inverse)."""
    args: list[str] = []
    current: list[str] = []
    in_arg = in_quotes = False
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            current.append("\n" if nxt == "n" else nxt)
            in_arg = True
            i += 2
            continue
        if c == '"':
            in_quotes = not in_quotes
            in_arg = True
        elif c in " \t" and not in_quotes:
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        else:
            current.append(c)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(current))
    return tuple(a.replace("$$", "$").replace("%%", "%") for a in args)


def unit_text(command: Sequence[str]) -> str:
    """The text of ``cardwatch.service``."""
    return (
        "[Unit]\n"
        "Description=Cardwatch: smart-card health in the system tray\n"
        f"PartOf={TARGET}\n"
        f"After={TARGET}\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={' '.join(quote_arg(a) for a in command)}\n"
        "Restart=on-failure\n"
        "RestartSec=10\n"
        "\n"
        "[Install]\n"
        f"WantedBy={TARGET}\n"
    )


class SystemdAutostart:
    """The systemd user unit and its ``WantedBy`` link."""

    kind = KIND

    def __init__(
        self, home: Path, env: Mapping[str, str], exists: Callable[[Path], bool] = Path.exists
    ) -> None:
        units = config_home(home, env) / "systemd" / "user"
        self.path = units / UNIT
        self.link = units / f"{TARGET}.wants" / UNIT
        self._exists = exists

    def enable(self, command: Sequence[str]) -> None:
        """Write the unit and link it into the graphical session."""
        atomic_write_text(self.path, unit_text(command), mode=0o644)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        if not self.link.is_symlink():
            os.symlink(os.path.join("..", UNIT), self.link)

    def disable(self) -> bool:
        """Remove the link and the unit; True when either was there."""
        removed = False
        for path in (self.link, self.path):
            removed = remove(path) or removed
        with contextlib.suppress(OSError):
            self.link.parent.rmdir()  # only if now empty: other units may live there
        return removed

    def status(self) -> AutostartStatus:
        """What the unit on disk starts; off unless it is linked into the session."""
        if not self.link.is_symlink() or not self.path.is_file():
            return off(KIND)
        command: tuple[str, ...] = ()
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("ExecStart="):
                command = split_exec_start(line.partition("=")[2].lstrip("-@:+!"))
        return judge(KIND, str(self.path), command, self._exists)
