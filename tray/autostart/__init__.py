"""Start at login: one module per kind of entry, chosen here for the platform.

* Linux: :mod:`.xdg` (``~/.config/autostart/cardwatch.desktop``), or :mod:`.systemd`
  (a user unit) when asked for;
* macOS: :mod:`.launchagent` (``~/Library/LaunchAgents/org.cardwatch.tray.plist``);
* Windows: :mod:`.windows` (the HKCU Run value).

Everything takes the home folder, the environment and (Windows) the registry as arguments.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .core import (
    AutostartStatus,
    UnsafeCommand,
    current_command,
    off,
    refuse_control_characters,
    resolve_command,
)
from .windows import Registry

__all__ = [
    "Autostart",
    "AutostartStatus",
    "Entry",
    "UnsafeCommand",
    "current_command",
    "exit_code",
    "for_platform",
    "resolve_command",
    "status_dict",
]


class Entry(Protocol):
    """One kind of autostart entry."""

    kind: str

    def enable(self, command: Sequence[str]) -> None: ...
    def disable(self) -> bool: ...
    def status(self) -> AutostartStatus: ...


@dataclass(frozen=True)
class Autostart:
    """The entries of this platform: ``enable`` writes one kind, ``disable`` removes all."""

    #: the default kind first, then the others this platform knows
    entries: tuple[Entry, ...]

    def enable(self, command: Sequence[str], kind: str | None = None) -> AutostartStatus:
        """Write the entry of ``kind`` (default: the platform's) and remove the others."""
        refuse_control_characters(command)
        chosen = next((e for e in self.entries if e.kind == kind), self.entries[0])
        for other in self.entries:
            if other is not chosen:
                other.disable()
        chosen.enable(command)
        return chosen.status()

    def disable(self) -> AutostartStatus:
        """Remove every entry."""
        for entry in self.entries:
            entry.disable()
        return off(self.entries[0].kind)

    def status(self) -> AutostartStatus:
        """The first entry that is enabled, else "off"."""
        for entry in self.entries:
            found = entry.status()
            if found.enabled:
                return found
        return off(self.entries[0].kind)

    def kinds(self) -> tuple[str, ...]:
        """The kinds of entry this platform offers."""
        return tuple(e.kind for e in self.entries)


def for_platform(
    platform: str,
    home: Path,
    env: Mapping[str, str],
    registry: Registry | None = None,
    exists: Callable[[Path], bool] = Path.exists,
) -> Autostart:
    """The autostart entries of ``platform`` (``sys.platform`` values)."""
    if platform == "win32":
        from .windows import RunKeyAutostart

        if registry is None:
            registry = _winreg()
        return Autostart((RunKeyAutostart(registry, exists),))
    if platform == "darwin":
        from .launchagent import LaunchAgentAutostart

        return Autostart((LaunchAgentAutostart(home, exists),))
    from .systemd import SystemdAutostart
    from .xdg import XdgAutostart

    return Autostart((XdgAutostart(home, env, exists), SystemdAutostart(home, env, exists)))


#: the schema name of ``cardwatch autostart status --json``
SCHEMA = "cardwatch.autostart/1"


def status_dict(status: AutostartStatus) -> dict[str, object]:
    """The stable JSON form of ``status``."""
    return {
        "schema": SCHEMA,
        "enabled": status.enabled,
        "kind": status.kind,
        "entry": status.entry,
        "command": list(status.command),
        "stale": status.stale,
        "reason": status.reason,
        "exit_code": exit_code(status),
    }


def exit_code(status: AutostartStatus) -> int:
    """0 enabled and valid, 1 enabled but stale, 3 not enabled."""
    if not status.enabled:
        return 3
    return 1 if status.stale else 0


def _winreg() -> Registry:
    if sys.platform == "win32":
        from .windows import WinregRegistry

        return WinregRegistry()
    raise RuntimeError("the Windows registry exists only on Windows")


def default() -> Autostart:
    """The entries for this computer and user."""
    return for_platform(sys.platform, Path.home(), os.environ)
