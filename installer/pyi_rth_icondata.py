"""PyInstaller runtime hook: ``tray.icondata`` is the icons/ folder, mapped by pyproject.

The build copies that folder's files to ``<bundle>/tray/icondata``; this makes that folder
importable as ``tray.icondata`` so that importlib.resources finds the icons there.
"""

import importlib.util
import os
import sys


def _map_icondata() -> None:
    folder = os.path.join(getattr(sys, "_MEIPASS", ""), "tray", "icondata")
    init = os.path.join(folder, "__init__.py")
    if "tray.icondata" in sys.modules or not os.path.exists(init):
        return
    spec = importlib.util.spec_from_file_location(
        "tray.icondata", init, submodule_search_locations=[folder]
    )
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["tray.icondata"] = module
    spec.loader.exec_module(module)


_map_icondata()
