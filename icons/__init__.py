"""The tray icons as package data (tray.icondata); drawn by icons/draw.py, loaded by tray/icons.py."""
