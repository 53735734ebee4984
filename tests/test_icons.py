"""The state icons: committed files are current, shipped as package data, distinct in colour and shape."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image, ImageChops

from tray.daemon.state import IconState
from tray.ui import icons

ICONS = Path(__file__).resolve().parent.parent / "icons"


def _draw_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cardwatch_icon_draw", ICONS / "draw.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _same_pixels(a: Image.Image, b: Image.Image) -> bool:
    a, b = a.convert("RGBA"), b.convert("RGBA")
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def _mask(state: IconState, size: int = 32) -> set[tuple[int, int]]:
    image = icons.load(state, size)
    alpha = image.getchannel("A")
    return {(x, y) for x in range(size) for y in range(size) if alpha.getpixel((x, y)) > 127}


def _dominant(state: IconState) -> tuple[int, int, int]:
    image = icons.load(state, 64)
    counts: dict[tuple[int, int, int], int] = {}
    data = image.tobytes()
    for i in range(0, len(data), 4):
        r, g, b, a = data[i : i + 4]
        if a == 255 and not (r > 230 and g > 230 and b > 230) and max(r, g, b) > 80:
            counts[(r, g, b)] = counts.get((r, g, b), 0) + 1
    return max(counts, key=counts.__getitem__)


def test_committed_icons_are_what_draw_py_draws_now(tmp_path: Path) -> None:
    written = _draw_module().write_all(tmp_path)
    stale = []
    for fresh in written:
        committed = ICONS / fresh.name
        if not committed.exists():
            stale.append(f"{fresh.name} missing")
            continue
        with Image.open(fresh) as new, Image.open(committed) as old:
            if fresh.suffix == ".ico":
                if set(new.info.get("sizes", ())) != set(old.info.get("sizes", ())):
                    stale.append(f"{fresh.name} sizes")
                    continue
                for size in new.info["sizes"]:
                    new.size = old.size = size  # type: ignore[misc]
                    if not _same_pixels(new, old):
                        stale.append(f"{fresh.name} at {size}")
            elif not _same_pixels(new, old):
                stale.append(fresh.name)
    assert stale == [], "run: .venv/bin/python icons/draw.py"


@pytest.mark.parametrize("state", list(IconState))
def test_every_state_ships_every_size_and_an_ico(state: IconState) -> None:
    for size in icons.SIZES:
        image = icons.load(state, size)
        assert image.size == (size, size)
        assert image.mode == "RGBA"
    with icons.ico(state).open("rb") as data, Image.open(data) as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])


def test_size_is_rounded_up_to_a_shipped_one() -> None:
    assert icons.best_size(30) == 32
    assert icons.best_size(22) == 22
    assert icons.best_size(1000) == 256
    assert icons.load(IconState.OK, 30).size == (32, 32)


def test_states_differ_in_colour() -> None:
    colours = {state: _dominant(state) for state in IconState}
    states = list(IconState)
    for i, a in enumerate(states):
        for b in states[i + 1 :]:
            distance = sum((x - y) ** 2 for x, y in zip(colours[a], colours[b], strict=True))
            assert distance > 60**2, (a, b, colours[a], colours[b])
    red, green, blue = colours[IconState.OK]
    assert green > red and green > blue
    red, green, blue = colours[IconState.ERROR]
    assert red > 2 * green and red > 2 * blue


def test_states_differ_in_silhouette_not_only_colour() -> None:
    masks = {state: _mask(state) for state in IconState}
    states = list(IconState)
    for i, a in enumerate(states):
        for b in states[i + 1 :]:
            differing = len(masks[a] ^ masks[b])
            assert differing >= 40, f"{a} and {b} differ in only {differing} of 1024 pixels"
    # the idle ring is hollow: its centre is see-through
    assert (16, 16) not in masks[IconState.IDLE]
