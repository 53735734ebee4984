"""Windows: the ``Cardwatch`` value under HKCU ``Software\\Microsoft\\Windows\\CurrentVersion\\Run``.

The registry sits behind :class:`Registry` (three calls on that one key); the winreg adapter
is defined only on Windows, so the rest runs, and is tested, anywhere.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from .core import AutostartStatus, judge, off

KIND = "registry"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
VALUE_NAME = "Cardwatch"
ENTRY = rf"HKCU\{RUN_KEY}\{VALUE_NAME}"


class Registry(Protocol):
    """The values of the current user's Run key."""

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...
    def delete(self, name: str) -> bool: ...


def split_command_line(line: str) -> tuple[str, ...]:
    """Split a command line as Windows programs do (CommandLineToArgvW's rules)."""
    args: list[str] = []
    current: list[str] = []
    in_arg = in_quotes = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            j = i
            while j < len(line) and line[j] == "\\":
                j += 1
            count = j - i
            if j < len(line) and line[j] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    j += 1
                i = j
            else:
                current.append("\\" * count)
                i = j
            in_arg = True
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
    return tuple(args)


class RunKeyAutostart:
    """The Run value that starts ``cardwatch-tray.exe`` at login."""

    kind = KIND

    def __init__(self, registry: Registry, exists: Callable[[Path], bool] = Path.exists) -> None:
        self._registry = registry
        self._exists = exists

    def enable(self, command: Sequence[str]) -> None:
        """Set the Run value to ``command``."""
        self._registry.set(VALUE_NAME, subprocess.list2cmdline(list(command)))

    def disable(self) -> bool:
        """Delete the Run value; True when there was one."""
        return self._registry.delete(VALUE_NAME)

    def status(self) -> AutostartStatus:
        """What the Run value starts."""
        value = self._registry.get(VALUE_NAME)
        if value is None:
            return off(KIND)
        return judge(KIND, ENTRY, split_command_line(value), self._exists)


if sys.platform == "win32":
    import winreg

    class WinregRegistry:
        """:class:`Registry` on the real HKCU Run key."""

        def get(self, name: str) -> str | None:
            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                    value, kind = winreg.QueryValueEx(key, name)
            except FileNotFoundError:
                return None
            return str(value) if kind in (winreg.REG_SZ, winreg.REG_EXPAND_SZ) else None

        def set(self, name: str, value: str) -> None:
            with winreg.CreateKeyEx(
                winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE
            ) as key:
                winreg.SetValueEx(key, name, 0, winreg.REG_SZ, value)

        def delete(self, name: str) -> bool:
            try:
                with winreg.OpenKey(
                    winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE
                ) as key:
                    winreg.DeleteValue(key, name)
            except FileNotFoundError:
                return False
            return True
