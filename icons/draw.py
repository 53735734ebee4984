"""Draw Cardwatch's five tray icons with Pillow: colour AND silhouette differ for each state.

    python icons/draw.py [OUTDIR]      # default: this folder

* ok: green disc with a white check mark;
* warning: amber triangle with a dark exclamation mark;
* error: red diamond (a square on its corner) with a white cross;
* idle: grey ring with an empty centre (no reader or no card);
* checking: blue rounded square with three white dots (an ellipsis).

Each shape is drawn at 1024 px and scaled down, so every size is an antialiased copy of one
drawing; PNGs in :data:`SIZES` and one multi-size ICO per state (for Windows). The output is
deterministic: ``tests/test_icons.py`` redraws into a temp dir and compares the pixels with
the committed files.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
STATES = ("ok", "warning", "error", "idle", "checking")

#: fill colours, far apart in hue and lightness (also under deuteranopia: the shapes carry it)
GREEN = (46, 160, 67, 255)
AMBER = (245, 166, 35, 255)
RED = (214, 40, 40, 255)
GREY = (140, 140, 140, 255)
BLUE = (30, 110, 220, 255)
WHITE = (255, 255, 255, 255)
DARK = (40, 30, 10, 255)

BIG = 1024  # drawing size; every PNG is this scaled down
Draw = Callable[[ImageDraw.ImageDraw], None]


def _ok(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((40, 40, 984, 984), fill=GREEN)
    d.line([(270, 530), (440, 700), (760, 350)], fill=WHITE, width=130, joint="curve")
    for x, y in ((270, 530), (760, 350)):
        d.ellipse((x - 65, y - 65, x + 65, y + 65), fill=WHITE)


def _warning(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(512, 40), (990, 950), (34, 950)], fill=AMBER)
    d.rounded_rectangle((447, 330, 577, 700), radius=60, fill=DARK)
    d.ellipse((442, 760, 582, 900), fill=DARK)


def _error(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(512, 20), (1004, 512), (512, 1004), (20, 512)], fill=RED)
    d.line([(362, 362), (662, 662)], fill=WHITE, width=130)
    d.line([(362, 662), (662, 362)], fill=WHITE, width=130)


def _idle(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((70, 70, 954, 954), outline=GREY, width=170)


def _checking(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle((60, 60, 964, 964), radius=200, fill=BLUE)
    for x in (272, 512, 752):
        d.ellipse((x - 90, 422, x + 90, 602), fill=WHITE)


DRAWINGS: dict[str, Draw] = {
    "ok": _ok,
    "warning": _warning,
    "error": _error,
    "idle": _idle,
    "checking": _checking,
}


def drawing(state: str) -> Image.Image:
    """The 1024 px RGBA master of ``state``."""
    image = Image.new("RGBA", (BIG, BIG), (0, 0, 0, 0))
    DRAWINGS[state](ImageDraw.Draw(image))
    return image


def scaled(master: Image.Image, size: int) -> Image.Image:
    """``master`` scaled to ``size`` px, antialiased."""
    return master.resize((size, size), Image.Resampling.LANCZOS)


def write_all(outdir: Path) -> list[Path]:
    """Write every PNG and ICO into ``outdir``; returns the files written."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for state in STATES:
        master = drawing(state)
        for size in SIZES:
            path = outdir / f"{state}-{size}.png"
            scaled(master, size).save(path, optimize=True)
            written.append(path)
        ico = outdir / f"{state}.ico"
        scaled(master, 256).save(ico, sizes=[(s, s) for s in ICO_SIZES])
        written.append(ico)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for written_path in write_all(target):
        print(written_path)
