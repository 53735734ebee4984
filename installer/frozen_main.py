"""The entry script of the standalone build: ``cardwatch`` (console) or ``cardwatch-tray``.

Both executables of the one-folder build run this script; the windowed one (no console on
Windows) is told apart by its name and starts the tray, as the gui-script does.
"""

import os
import sys

from tray.cli import gui_main, main

name = os.path.splitext(os.path.basename(sys.executable))[0].lower()
sys.exit(gui_main() if name == "cardwatch-tray" else main())
