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

from tray.card.issuers import MOICA_SITE
from tray.i18n import set_language
from tray.present.report import write_html
from tray.present.report_content import first_step
from tray.present.report_text import render_report_text

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


def section(dom: str, ident: str) -> str:
    """The element with ``id="ident"`` (a section or details) and what it holds."""
    found = re.search(rf'<(section|details)[^>]*\bid="{ident}".*?</\1>', dom, re.S)
    assert found is not None, ident
    # Sections do not nest; a reader's section holds nested details, so go to its own end.
    start = found.start()
    end = dom.index("</section>", start) if found.group(1) == "section" else found.end()
    return dom[start:end]


def words(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def unfolded(html: str) -> str:
    """What shows without opening anything: ``html`` without its (nested) <details>."""
    out, depth = [], 0
    for part in re.split(r"(<details[^>]*>|</details>)", html):
        if part.startswith("<details"):
            depth += 1
        elif part == "</details>":
            depth -= 1
        elif depth == 0:
            out.append(part)
    return "".join(out)


def without_support(dom: str) -> str:
    return re.sub(r'<section class="support".*?</section>', "", dom, flags=re.S)


#: the page background (body): every row below the content is this colour
BACKGROUND = (0xF5, 0xF7, 0xF9)
SCREEN = 900


def content_height(shot: Path) -> int:
    """The height of the page's content: the last row holding anything but the background."""
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        for y in range(height - 1, -1, -1):
            if any(rgb.getpixel((x, y)) != BACKGROUND for x in range(0, width, 3)):
                return y + 1
    return 0


@pytest.mark.parametrize("language", ["en", "zh_TW"])
@pytest.mark.parametrize("scenario", ["default", "expiring", "mute"])
def test_the_report_leads_with_the_verdict_and_folds_the_details(
    chromium: str, tmp_path: Path, scenario: str, language: str
) -> None:
    set_language(language)
    report = check(scenario)
    step = first_step(report)
    page = write_html(report, tmp_path / "report.html")
    dom = browse(chromium, tmp_path, page, "--dump-dom")
    tag = {"en": "en", "zh_TW": "zh-Hant-TW"}[language]
    assert f'<html lang="{tag}">' in dom
    # The verdict and the first step come first, before any card.
    summary = section(dom, "summary")
    assert dom.index(summary) < dom.index('id="reader-0"')
    assert step.verdict in words(summary) and step.headline in words(summary)
    if step.action:
        assert " ".join(step.action.split()) in words(summary)
    # The exact place to act is a link: the MOICA site for a MOICA card's renewal; no link
    # where the issuer cannot help (a card that does not answer) or nothing is wrong.
    links = re.findall(r'<a [^>]*href="([^"]*)"', dom)
    assert links == ({"expiring": [MOICA_SITE]}.get(scenario, []))
    # Each card: holder, kind, validity, PIN state in plain view; technical details folded.
    for n, reader in enumerate(report.readers):
        card = section(dom, f"reader-{n}")
        own = [c for c in reader.certificates if not c.is_ca]
        if own:
            assert own[0].common_name in words(card.split("<details")[0])
        folded = re.findall(r"<details([^>]*)>", card)
        assert folded and all(" open" not in attrs for attrs in folded)
        in_view = unfolded(card)
        for cert in reader.certificates:  # every certificate, CA ones too, is folded away
            assert cert.serial in card and cert.serial not in in_view
        assert reader.atr is None or reader.atr not in in_view
        if reader.card_kind != "moica":  # the MOICA box only where it applies
            assert "note-serial_vs_card_number" not in card
    # Each advice text appears once (the plain-text copy for support aside).
    told = words(without_support(dom))
    advices = {i.advice for r in report.readers for i in r.items if i.advice and i.status.rank >= 2}
    for text in advices | ({step.action} - {""}):
        assert told.count(" ".join(text.split())) == 1, text
    # The copy for support holds the whole check as text, ready to select.
    support = section(dom, "support")
    assert re.search(r"<textarea[^>]*readonly", support)
    assert words(render_report_text(report)) == words(
        support.split("<textarea", 1)[1].split(">", 1)[1]
    )


@pytest.mark.parametrize("language", ["en", "zh_TW"])
def test_a_healthy_pair_fits_in_about_two_screens(
    chromium: str, tmp_path: Path, language: str
) -> None:
    set_language(language)
    page = write_html(check("default"), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    browse(chromium, tmp_path, page, f"--screenshot={shot}", f"--window-size={SCREEN},4000")
    height = content_height(shot)
    assert 600 < height <= 2 * SCREEN, height


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
    assert headline in html and html.index(headline) < html.index('id="reader-0"')
    full = tmp_path / "full.png"
    browse(chromium, tmp_path, page, f"--screenshot={full}", f"--window-size={SCREEN},4000")
    height = content_height(full)
    assert 400 < height <= 2 * SCREEN, height
    shot = tmp_path / name
    with Image.open(full) as image:
        image.crop((0, 0, SCREEN, height + 16)).save(shot)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50
    if os.environ.get("CARDWATCH_SCREENSHOTS"):  # the README's pictures (docs/)
        shutil.copyfile(shot, Path(os.environ["CARDWATCH_SCREENSHOTS"]) / name)
