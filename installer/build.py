"""Build the one-folder standalone Cardwatch with PyInstaller: ``python installer/build.py``.

Needs the ``build`` extra (``pip install '.[build]'``). The result is
``<dist>/cardwatch/cardwatch`` (and ``cardwatch-tray``); ``--dist`` and ``--work`` choose
the folders (default: dist/ and build/pyinstaller/ in the source tree).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the standalone Cardwatch folder.")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    args = parser.parse_args()
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--distpath",
        str(args.dist),
        "--workpath",
        str(args.work),
        str(ROOT / "installer" / "cardwatch.spec"),
    ]
    result = subprocess.run(command, cwd=ROOT, check=False)
    if result.returncode == 0:
        print(f"built {args.dist / 'cardwatch'}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
