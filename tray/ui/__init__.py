"""The tray UI: the pure menu model (menu.py) and the pystray adapter (tray.py)."""
