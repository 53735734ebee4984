"""The HTML report in a real browser (headless Chromium): it renders, and card data stays text."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from PIL import Image
from test_report import HOSTILE, check, hostile_report

from tray.i18n import set_language
from tray.present.report import write_html

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but chromium is not installed", pytrace=False)
        pytest.skip("chromium is not installed")
    return path


def browse(chromium: str, tmp_path: Path, page: Path, *action: str) -> str:
    profile = tmp_path / "profile"
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize(("scenario", "language"), [("expiring", "en"), ("mute", "zh_TW")])
def test_the_report_renders_as_a_real_page(
    chromium: str, tmp_path: Path, scenario: str, language: str
) -> None:
    set_language(language)
    page = write_html(check(scenario), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    browse(chromium, tmp_path, page, f"--screenshot={shot}", "--window-size=900,1200")
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == (900, 1200)
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 16)
        # A blank or failed page has a handful of colours; text, badges and borders many.
        assert colours is None or len(colours) > 50
        # The amber/red stripe of the summary box is there, left of the text.
        stripe = {rgb.getpixel((x, y)) for x in range(0, 120) for y in range(40, 260, 4)}
        assert any(r > 150 and g < 140 and b < 60 for r, g, b in stripe), sorted(stripe)[:10]


def test_hostile_card_data_shows_as_text_and_never_runs(chromium: str, tmp_path: Path) -> None:
    page = write_html(hostile_report(), tmp_path / "report.html")
    dom = browse(chromium, tmp_path, page, "--dump-dom")
    assert "<body>" in dom or "<body" in dom
    # The title is ours: the script in the subject did not run.
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and "pwned" not in title.group(1)
    assert unescape(title.group(1)).startswith("Cardwatch card health report")
    # No script element exists, and the hostile name is text content.
    assert "<script" not in dom
    assert not re.search(r"<[a-z][^>]*\son\w+=", dom)  # no event handler attribute
    assert "&lt;script&gt;document.title=" in dom
    text = unescape(re.sub(r"<[^>]+>", " ", dom))
    assert HOSTILE in text


@pytest.mark.parametrize(
    ("language", "name"), [("en", "report.png"), ("zh_TW", "report-zh_TW.png")]
)
def test_the_readme_pictures_of_the_report_lead_with_the_verdict(
    chromium: str, tmp_path: Path, language: str, name: str
) -> None:
    set_language(language)
    page = write_html(check("expiring"), tmp_path / "report.html")
    html = page.read_text(encoding="utf-8")
    # The page speaks one language and says so; the verdict comes before the items.
    tag = {"en": "en", "zh_TW": "zh-Hant-TW"}[language]
    assert f'<html lang="{tag}">' in html
    headline = "Expires in 21 days" if language == "en" else "21 天後到期"
    assert headline in html and html.index(headline) < html.index("MOICA")
    shot = tmp_path / name
    browse(chromium, tmp_path, page, f"--screenshot={shot}", "--window-size=630,2100")
    with Image.open(shot) as image:
        assert image.size == (630, 2100)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50
    if os.environ.get("CARDWATCH_SCREENSHOTS"):  # the README's pictures (docs/)
        shutil.copyfile(shot, Path(os.environ["CARDWATCH_SCREENSHOTS"]) / name)
