"""Linux: the XDG autostart entry (``~/.config/autostart``) and the desktop menu entry.

Exec lines follow the Desktop Entry Specification: an argument with a reserved character is
double-quoted, with ``"`` `` ` `` ``$`` ``\\`` escaped by a backslash inside the quotes; the
value as a whole then doubles every backslash (the spec's string escaping), and ``%`` is
written ``%%`` (field codes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..i18n import _
from ..store.files import atomic_write_text
from .core import (
    AutostartStatus,
    config_home,
    data_home,
    judge,
    off,
    refuse_control_characters,
    remove,
)

KIND = "xdg"
FILE_NAME = "cardwatch.desktop"
#: the icon name in the hicolor theme (``hicolor/<size>/apps/cardwatch.png``)
ICON_NAME = "cardwatch"
#: the icon sizes installed for menus (those of tray.icondata that hicolor knows)
MENU_ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)

_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPED_IN_QUOTES = set('"`$\\')


def quote_exec(command: Sequence[str]) -> str:
    """``command`` as the value of an Exec key (already string-escaped for the file).

    Control characters are refused (:class:`~.core.UnsafeCommand`): a newline would end the
    line and start another key.
    """
    refuse_control_characters(command)
    parts = []
    for arg in command:
        if arg and not (set(arg) & _RESERVED):
            quoted = arg
        else:
            quoted = '"' + "".join("\\" + c if c in _ESCAPED_IN_QUOTES else c for c in arg) + '"'
        parts.append(quoted.replace("%", "%%"))
    return " ".join(parts).replace("\\", "\\\\")


def split_exec(value: str) -> tuple[str, ...]:
    """The arguments of an Exec value as written in the file (the inverse of quote_exec)."""
    text = value.replace("\\\\", "\\")
    args: list[str] = []
    current: list[str] = []
    in_arg = in_quotes = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_quotes:
            if c == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPED_IN_QUOTES:
                current.append(text[i + 1])
                i += 1
            elif c == '"':
                in_quotes = False
            elif c == "%" and text[i + 1 : i + 2] == "%":
                current.append("%")
                i += 1
            else:
                current.append(c)
        elif c == '"':
            in_quotes = in_arg = True
        elif c in " \t":
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        elif c == "%" and i + 1 < len(text):
            if text[i + 1] == "%":
                current.append("%")
                in_arg = True
            i += 1  # a field code (%f, %u, ...) expands to nothing here
        else:
            current.append(c)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(current))
    return tuple(args)


def desktop_entry(command: Sequence[str], autostart: bool) -> str:
    """The text of ``cardwatch.desktop`` for the autostart folder or for the menus."""
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        "Name=Cardwatch",
        "GenericName=Smart-card health",
        "GenericName[zh_TW]=晶片卡健康檢查",
        "Comment=Checks your certificate card read-only and shows its health in the system tray",
        "Comment[zh_TW]=以唯讀方式檢查您的憑證卡，並在系統匣顯示其狀態",
        f"Exec={quote_exec(command)}",
        f"Icon={ICON_NAME}",
        "Terminal=false",
        "Categories=Utility;",
        "Keywords=smart card;PC/SC;MOICA;certificate;",
    ]
    if autostart:
        lines += ["X-GNOME-Autostart-enabled=true", "NoDisplay=true"]
    else:
        lines.append("StartupNotify=false")
    return "\n".join(lines) + "\n"


def read_keys(text: str) -> dict[str, str]:
    """The keys of the ``[Desktop Entry]`` group (other groups ignored)."""
    keys: dict[str, str] = {}
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
        elif group == "Desktop Entry" and "=" in line:
            key, _sep, value = line.partition("=")
            keys[key.strip()] = value.strip()
    return keys


class XdgAutostart:
    """``cardwatch.desktop`` in the XDG autostart folder."""

    kind = KIND

    def __init__(
        self, home: Path, env: Mapping[str, str], exists: Callable[[Path], bool] = Path.exists
    ) -> None:
        self.path = config_home(home, env) / "autostart" / FILE_NAME
        self._exists = exists

    def enable(self, command: Sequence[str]) -> None:
        """Write the entry (replacing any older one)."""
        atomic_write_text(self.path, desktop_entry(command, autostart=True), mode=0o644)

    def disable(self) -> bool:
        """Remove the entry; True when there was one."""
        return remove(self.path)

    def status(self) -> AutostartStatus:
        """What the entry on disk does."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return off(KIND)
        except (OSError, UnicodeDecodeError) as exc:
            return AutostartStatus(
                True,
                KIND,
                str(self.path),
                (),
                True,
                _("The entry {entry} cannot be read ({error}).").format(entry=self.path, error=exc),
            )
        keys = read_keys(text)
        if keys.get("Hidden", "").lower() == "true" or (
            keys.get("X-GNOME-Autostart-enabled", "true").lower() == "false"
        ):
            return off(KIND)
        return judge(KIND, str(self.path), split_exec(keys.get("Exec", "")), self._exists)


def menu_entry_paths(home: Path, env: Mapping[str, str]) -> list[Path]:
    """Where :func:`install_menu_entry` writes: the menu entry, then one icon per size."""
    data = data_home(home, env)
    return [data / "applications" / FILE_NAME] + [
        data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"
        for size in MENU_ICON_SIZES
    ]


def install_menu_entry(
    home: Path, env: Mapping[str, str], command: Sequence[str], icon: Callable[[int], bytes]
) -> list[Path]:
    """Write the desktop menu entry and its icons; returns the files written."""
    from ..store.files import atomic_write_bytes

    paths = menu_entry_paths(home, env)
    atomic_write_text(paths[0], desktop_entry(command, autostart=False), mode=0o644)
    for size, path in zip(MENU_ICON_SIZES, paths[1:], strict=False):
        atomic_write_bytes(path, icon(size), mode=0o644)
    return paths
