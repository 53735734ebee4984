"""The folder tree tells the architecture: each outside library has exactly one importer."""

from __future__ import annotations

import ast
from pathlib import Path

TRAY = Path(__file__).resolve().parent.parent / "tray"

#: library → the only module(s) allowed to import it
OWNERS = {
    "smartcard": {"pcsc/adapter.py", "pcsc/watch.py"},
    "PyKCS11": {"card/pkcs11.py"},
    "pystray": {"ui/tray.py"},
    "desktop_notifier": {"notify/backends.py"},
    "plyer": {"notify/backends.py"},
    "tomllib": {"config.py"},
    "tomli": {"config.py"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_each_outside_library_has_one_owner() -> None:
    offenders = []
    for path in sorted(TRAY.rglob("*.py")):
        rel = path.relative_to(TRAY).as_posix()
        for library in imported_roots(path) & set(OWNERS):
            if rel not in OWNERS[library]:
                offenders.append(f"{rel} imports {library}")
    assert offenders == []


def test_profiles_never_touch_pcsc_or_the_simulator() -> None:
    for path in (TRAY / "card" / "profiles").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "pcsc" not in source.replace("PC/SC", ""), path
        assert ".demo" not in source, path
