"""macOS: a LaunchAgent in ``~/Library/LaunchAgents`` (RunAtLoad; restarted only after a crash)."""

from __future__ import annotations

import plistlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from ..i18n import _
from ..store.files import atomic_write_bytes
from .core import AutostartStatus, judge, off, refuse_control_characters, remove

KIND = "launchagent"
LABEL = "org.cardwatch.tray"


def agent(command: Sequence[str]) -> dict[str, Any]:
    """The LaunchAgent's keys (control characters in the command are refused: XML 1.0
    cannot carry most of them and launchd would not start such a path anyway)."""
    refuse_control_characters(command)
    return {
        "Label": LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        # a crash (non-zero exit, signal) restarts it; Quit in the menu exits 0 and stays quit
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
    }


class LaunchAgentAutostart:
    """``org.cardwatch.tray.plist`` in the user's LaunchAgents folder."""

    kind = KIND

    def __init__(self, home: Path, exists: Callable[[Path], bool] = Path.exists) -> None:
        self.path = home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        self._exists = exists

    def enable(self, command: Sequence[str]) -> None:
        """Write the plist (launchd loads it at the next login)."""
        atomic_write_bytes(self.path, plistlib.dumps(agent(command)), mode=0o644)

    def disable(self) -> bool:
        """Remove the plist; True when there was one."""
        return remove(self.path)

    def status(self) -> AutostartStatus:
        """What the plist on disk starts."""
        try:
            data = plistlib.loads(self.path.read_bytes())
        except FileNotFoundError:
            return off(KIND)
        except (OSError, plistlib.InvalidFileException, ValueError, ExpatError) as exc:
            return AutostartStatus(
                True,
                KIND,
                str(self.path),
                (),
                True,
                _("The entry {entry} cannot be read ({error}).").format(entry=self.path, error=exc),
            )
        args = data.get("ProgramArguments") if isinstance(data, dict) else None
        command = tuple(str(a) for a in args) if isinstance(args, list) else ()
        if isinstance(data, dict) and data.get("Disabled") is True:
            return off(KIND)
        return judge(KIND, str(self.path), command, self._exists)
