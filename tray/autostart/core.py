"""What every autostart kind shares: the status, and the command an entry must start."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..i18n import _

#: the GUI script of the installed package (a gui-script: no console window on Windows)
GUI_SCRIPT = "cardwatch-tray"


class UnsafeCommand(ValueError):
    """A path of the command holds a control character no entry format can carry safely."""


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029)


def refuse_control_characters(command: Sequence[str]) -> None:
    """Raise :class:`UnsafeCommand` when an argument holds a control character.

    A newline or carriage return in an install path would end the ``Exec=`` or ``ExecStart=``
    line and start another key; no Cardwatch install path needs one, so each format refuses
    them before writing rather than trusting its own escaping alone.
    """
    for arg in command:
        bad = next((ch for ch in arg if _is_control(ch)), None)
        if bad is not None:
            raise UnsafeCommand(
                _("the path {path} holds a control character (U+{code:04X})").format(
                    path=ascii(arg), code=ord(bad)
                )
            )


@dataclass(frozen=True)
class AutostartStatus:
    """Whether Cardwatch starts at login, through which entry, and whether that still works."""

    enabled: bool
    #: "xdg", "systemd", "launchagent" or "registry"
    kind: str
    #: the file written, or the registry value (``HKCU\\...\\Run\\Cardwatch``); None when off
    entry: str | None
    #: what the entry starts (empty when there is no entry)
    command: tuple[str, ...]
    #: the entry starts a program that is gone (uninstalled, moved venv)
    stale: bool
    #: one sentence for people (translated)
    reason: str


def resolve_command(
    executable: str,
    frozen: bool,
    platform: str,
    which: Callable[[str], str | None] = shutil.which,
    exists: Callable[[Path], bool] = Path.exists,
) -> tuple[str, ...]:
    """The command that starts the tray from the installation running now.

    A frozen build starts its own ``cardwatch-tray`` next to it (else itself with ``run``); a
    venv or pipx install the ``cardwatch-tray`` script beside its Python (else the one on
    PATH); anything else ``python -m tray run``.
    """
    suffix = ".exe" if platform == "win32" else ""
    here = Path(executable).parent
    sibling = here / f"{GUI_SCRIPT}{suffix}"
    if frozen:
        return (str(sibling),) if exists(sibling) else (executable, "run")
    if exists(sibling):
        return (str(sibling),)
    found = which(GUI_SCRIPT)
    if found:
        return (found,)
    return (executable, "-m", "tray", "run")


def current_command() -> tuple[str, ...]:
    """:func:`resolve_command` for this process."""
    return resolve_command(sys.executable, bool(getattr(sys, "frozen", False)), sys.platform)


def judge(
    kind: str,
    entry: str,
    command: Sequence[str],
    exists: Callable[[Path], bool] = Path.exists,
) -> AutostartStatus:
    """The status of an entry that exists and starts ``command``."""
    if not command:
        return AutostartStatus(
            True, kind, entry, (), True, _("The entry {entry} starts nothing.").format(entry=entry)
        )
    program = command[0]
    if not exists(Path(program)):
        return AutostartStatus(
            True,
            kind,
            entry,
            tuple(command),
            True,
            _(
                "The entry {entry} starts {program}, which no longer exists: run "
                "'cardwatch autostart enable' again from the installed Cardwatch."
            ).format(entry=entry, program=program),
        )
    return AutostartStatus(
        True,
        kind,
        entry,
        tuple(command),
        False,
        _("Cardwatch starts at login ({entry}).").format(entry=entry),
    )


def remove(path: Path) -> bool:
    """Remove the file at ``path``; True when there was one."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def off(kind: str) -> AutostartStatus:
    """The status when no entry exists."""
    return AutostartStatus(False, kind, None, (), False, _("Cardwatch does not start at login."))


def config_home(home: Path, env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME`` when it is an absolute path, else ``~/.config``."""
    value = env.get("XDG_CONFIG_HOME", "")
    return Path(value) if os.path.isabs(value) else home / ".config"


def data_home(home: Path, env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME`` when it is an absolute path, else ``~/.local/share``."""
    value = env.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else home / ".local" / "share"
