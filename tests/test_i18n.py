"""Translations: every message in the code has zh_TW, the .mo is fresh, and the CLI speaks it."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog

from tray.cli import main
from tray.i18n import _, current_language, set_language

ROOT = Path(__file__).resolve().parent.parent
FIX = "run: .venv/bin/python tools/i18n.py all, translate the new msgids in {po}, run it again"

#: simplified-only forms of characters this catalogue uses; their traditional forms belong here
SIMPLIFIED = set("证读机时码过败设检应择态储载网络这说请让输错钟结实际权书发线关开无项")


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cardwatch_i18n_tool", ROOT / "tools" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _load_tool()
PO = tool.po_path("zh_TW")
MO = tool.mo_path("zh_TW")


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    """Each test starts and ends in English, whatever it switched to."""
    set_language("en")
    yield
    set_language("en")


@pytest.fixture
def zh_catalog() -> Catalog:
    return tool.read_catalog(PO, "zh_TW")


@pytest.fixture
def no_locale_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No locale variables at all, so a test sets exactly the one it means."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _translations(catalog: Catalog) -> Iterator[tuple[str, str]]:
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        for text in strings:
            yield msgid, text or ""


def test_every_message_in_the_code_has_a_zh_tw_translation(
    tmp_path: Path, zh_catalog: Catalog
) -> None:
    fresh = tmp_path / "fresh.pot"
    fresh.write_bytes(tool.po_bytes(tool.extract_catalog()))
    used = tool.read_catalog(fresh)
    assert len(used) > 0

    missing = tool.untranslated(zh_catalog, used)

    assert not missing, (
        f"{len(missing)} message(s) used in tray/ lack a zh_TW translation "
        f"(missing, empty or fuzzy) — {FIX.format(po=PO.relative_to(ROOT))}:\n"
        + "\n".join(f"  {msgid!r}" for msgid in missing)
    )


def test_committed_mo_equals_a_fresh_compile_of_the_po(zh_catalog: Catalog) -> None:
    assert MO.exists(), f"{MO.relative_to(ROOT)} is missing: {FIX.format(po=PO.relative_to(ROOT))}"
    assert MO.read_bytes() == tool.mo_bytes(zh_catalog), (
        f"{MO.relative_to(ROOT)} is stale; run: .venv/bin/python tools/i18n.py compile"
    )


def test_translations_keep_the_placeholders_of_their_msgid(zh_catalog: Catalog) -> None:
    assert tool.placeholder_mismatches(zh_catalog) == []


def test_translations_use_traditional_characters(zh_catalog: Catalog) -> None:
    simplified = [
        (msgid, text, sorted(SIMPLIFIED & set(text)))
        for msgid, text in _translations(zh_catalog)
        if SIMPLIFIED & set(text)
    ]
    assert simplified == []


def test_po_declares_one_plural_form_for_chinese(zh_catalog: Catalog) -> None:
    assert zh_catalog.plural_forms == "nplurals=1; plural=0;"


def test_placeholder_check_catches_a_renamed_field() -> None:
    catalog = Catalog(locale="zh_TW")
    catalog.add("Reader '{name}' present", "讀卡機「{reader}」已連接")
    catalog.add(("{n} day left", "{n} days left"), ("剩 {n} 天",))
    catalog.add("{seconds:.1f} s", "{seconds:.1f} 秒")

    assert tool.placeholder_mismatches(catalog) == [
        "\"Reader '{name}' present\" -> '讀卡機「{reader}」已連接'"
    ]


def test_missing_empty_and_fuzzy_translations_all_count_as_untranslated() -> None:
    used = Catalog()
    for msgid in ("done", "empty", "fuzzy", "absent"):
        used.add(msgid)
    catalog = Catalog(locale="zh_TW")
    catalog.add("done", "完成")
    catalog.add("empty", "")
    catalog.add("fuzzy", "模糊", flags=["fuzzy"])

    assert tool.untranslated(catalog, used) == ["absent", "empty", "fuzzy"]


def test_set_language_zh_tw_translates_status_words() -> None:
    assert set_language("zh_TW") == "zh_TW"
    assert (_("PASS"), _("WARN"), _("FAIL"), _("SKIP")) == ("通過", "警告", "失敗", "略過")
    assert (_("OK"), _("WARNING"), _("CRITICAL"), _("UNKNOWN")) == ("正常", "警告", "嚴重", "未知")


def test_demo_check_with_lang_option_prints_traditional_chinese(
    no_locale_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_language("zh_TW")

    code = main(["--lang", "zh_TW", "check", "--demo"])

    out = capsys.readouterr().out
    assert code == 0
    assert current_language() == "zh_TW"
    for word in ("通過", "讀卡機", "自然人憑證", "憑證序號", "結果：正常"):
        assert word in out
    assert "PASS" not in out
    assert "Result:" not in out


def test_lang_environment_variable_picks_zh_tw(
    no_locale_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_locale_env.setenv("LANG", "zh_TW.UTF-8")

    code = main(["check", "--demo"])

    out = capsys.readouterr().out
    assert code == 0
    assert current_language() == "zh_TW"
    assert "通過" in out
    assert "讀卡機" in out


def test_english_locale_keeps_english(
    no_locale_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_locale_env.setenv("LANG", "en_US.UTF-8")

    code = main(["check", "--demo"])

    out = capsys.readouterr().out
    assert code == 0
    assert current_language() == "en"
    assert "PASS" in out
    assert "通過" not in out


# --- every gettext call in tray/, independently of Babel's extractor -------------------------

KEYWORDS = {"_": 1, "N_": 1, "ngettext": 2}
#: calls whose message is not a literal; each one's source is a table of N_() strings,
#: checked below in test_messages_passed_through_a_variable_are_translated
DYNAMIC = {
    ("tray/check/run.py", "_(match.description)"),
    ("tray/check/items.py", "_(match.description)"),
    ("tray/check/items.py", "_(describe_sw(card_errors[0]))"),
    ("tray/cli.py", "_(description)"),
    ("tray/present/codewords.py", "_(phrase)"),
    ("tray/card/roles.py", "_(known)"),
}


def _gettext_calls() -> Iterator[tuple[str, int, ast.Call]]:
    for path in sorted((ROOT / "tray").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in KEYWORDS
            ):
                yield path.relative_to(ROOT).as_posix(), node.lineno, node


def _literal_ids(node: ast.Call) -> list[str] | None:
    """The message ids of a call when they are plain string literals, else None."""
    wanted = node.args[: KEYWORDS[node.func.id]]  # type: ignore[attr-defined]
    if len(wanted) < KEYWORDS[node.func.id]:  # type: ignore[attr-defined]
        return None
    if all(isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in wanted):
        return [arg.value for arg in wanted]  # type: ignore[attr-defined]
    return None


def test_every_gettext_call_passes_a_literal_or_a_known_translated_table() -> None:
    # f-strings, concatenations with variables and .format() inside _() would never match
    # a catalogue entry, so they are not allowed, except the reviewed DYNAMIC calls.
    dynamic = {
        (path, ast.unparse(node))
        for path, _line, node in _gettext_calls()
        if _literal_ids(node) is None
    }

    assert dynamic == DYNAMIC


def test_every_literal_message_has_a_zh_tw_translation_by_an_independent_scan(
    zh_catalog: Catalog,
) -> None:
    missing = []
    for path, line, node in _gettext_calls():
        ids = _literal_ids(node)
        if not ids:
            continue
        found = zh_catalog.get(ids[0] if len(ids) == 1 else tuple(ids))
        if found is None or found.fuzzy or not all(tool._strings(found)):
            missing.append(f"{path}:{line}: {ids[0]!r}")

    assert missing == [], FIX.format(po=PO.relative_to(ROOT))


def test_messages_passed_through_a_variable_are_translated() -> None:
    from tray.card import apdu, atr, roles
    from tray.demo.scenarios import SCENARIOS
    from tray.present import codewords

    sources = [
        *SCENARIOS.values(),
        *(description for _pattern, description, _kind in atr._TABLE),
        *apdu._SW_NAMES.values(),
        apdu.describe_sw(0x63C2),
        apdu.describe_sw(0x6F00),
        *codewords.WORDS.values(),
        *roles.ROLES.values(),
        *roles.KEY_USAGES.values(),
    ]
    set_language("zh_TW")

    untranslated = [text for text in sources if _(text) == text]

    assert untranslated == []


def test_the_completeness_check_catches_a_message_the_catalogue_lacks(tmp_path: Path) -> None:
    source = tmp_path / "tray"
    source.mkdir()
    (source / "new.py").write_text(
        "from .i18n import N_, _, ngettext\n"
        "A = _('A brand-new message')\n"
        "B = N_('Marked for later')\n"
        "C = ngettext('{n} new card', '{n} new cards', 2)\n"
        "D = _('Reader present')\n",
        encoding="utf-8",
    )
    catalog = Catalog(locale="zh_TW")
    catalog.add("Reader present", "讀卡機已連接")

    missing = tool.untranslated(catalog, tool.extract_catalog(source))

    assert missing == ["A brand-new message", "Marked for later", "{n} new card"]


def test_installed_console_script_speaks_zh_tw_from_the_locale(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "cardwatch"
    assert script.exists(), "the cardwatch console script is not installed (pip install -e .)"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
    }
    env["LANG"] = "zh_TW.UTF-8"
    env["XDG_CONFIG_HOME"] = str(tmp_path)  # no config file: the locale decides

    done = subprocess.run(
        [str(script), "check", "--demo"], env=env, capture_output=True, timeout=60, check=False
    )

    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    for word in ("通過", "讀卡機", "自然人憑證", "結果：正常"):
        assert word in out
    assert "PASS" not in out
