"""The tray icons, loaded from the package data ``tray.icondata`` (the top-level icons/ folder).

``icons/draw.py`` draws them; they ship in the wheel and are read through importlib.resources,
so they work from a zip, a wheel or an editable install alike.
"""

from __future__ import annotations

import sys
from importlib import resources

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:
    from importlib.abc import Traversable

from PIL import Image

from ..daemon.state import IconState

PACKAGE = "tray.icondata"
#: the PNG sizes shipped, in pixels (HiDPI included)
SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


def best_size(pixels: int) -> int:
    """The smallest shipped size of at least ``pixels`` (the largest if none is)."""
    return next((s for s in SIZES if s >= pixels), SIZES[-1])


def png(state: IconState, size: int) -> Traversable:
    """The PNG of ``state`` at the shipped size nearest above ``size``."""
    return resources.files(PACKAGE) / f"{state.value}-{best_size(size)}.png"


def ico(state: IconState) -> Traversable:
    """The multi-size Windows icon of ``state``."""
    return resources.files(PACKAGE) / f"{state.value}.ico"


def load(state: IconState, size: int = 64) -> Image.Image:
    """The icon of ``state`` as an RGBA image (``size`` rounded up to a shipped size)."""
    with png(state, size).open("rb") as data:
        image = Image.open(data)
        image.load()
    return image.convert("RGBA")
