"""Cardwatch: smart-card health in the system tray."""

from __future__ import annotations

__version__ = "0.1.0"
#: Date of this release; a computer clock earlier than this is certainly wrong.
RELEASE_DATE = "2026-11-24"
