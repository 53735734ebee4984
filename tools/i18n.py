"""Keep the translations in step with the code: extract, update, compile, check.

Run with the project's venv python from anywhere::

    .venv/bin/python tools/i18n.py all      # extract + update + compile
    .venv/bin/python tools/i18n.py check    # exit 1 if a message lacks zh_TW or the .mo is stale

The .pot and .po carry file names but no line numbers, sorted by msgid, and a file is
rewritten only when more than its date header would change, so diffs stay small.
"""

from __future__ import annotations

import argparse
import io
import re
import string
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRAY = ROOT / "tray"
LOCALE_DIR = TRAY / "locale"
DOMAIN = "cardwatch"
LANGUAGES = ("zh_TW",)
POT = LOCALE_DIR / f"{DOMAIN}.pot"

#: gettext keywords used in tray/ (see tray/i18n.py); ngettext's first two arguments are ids.
KEYWORDS: dict[str, tuple[int, ...] | None] = {"_": None, "N_": None, "ngettext": (1, 2)}
#: a comment starting with this tag right above a message is copied into the .pot
COMMENT_TAGS = ("TRANSLATORS:",)
METHOD_MAP = [("**.py", "python")]
WIDTH = 76

HEADER_COMMENT = """\
# Translations template for PROJECT.
# Distributed under the same license as PROJECT (MIT).
# Written by tools/i18n.py extract; translate in the .po files.
#"""
PO_HEADER_COMMENT = """\
# LANGUAGE translations for PROJECT.
# Distributed under the same license as PROJECT (MIT).
# Kept in step with the code by tools/i18n.py.
#"""

#: header lines that change on every run; a file differing only in these is left alone
_VOLATILE = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"$', re.MULTILINE)


def po_path(language: str) -> Path:
    """The .po file of ``language``."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    """The compiled .mo file of ``language``."""
    return po_path(language).with_suffix(".mo")


def _version() -> str:
    match = re.search(r'^__version__ = "([^"]+)"', (TRAY / "__init__.py").read_text("utf-8"), re.M)
    return match.group(1) if match else "0"


def extract_catalog(source: Path = TRAY) -> Catalog:
    """Every message marked in ``source`` (a catalog with no translations)."""
    catalog = Catalog(
        project="Cardwatch",
        version=_version(),
        copyright_holder="Cardwatch contributors",
        msgid_bugs_address="",
        header_comment=HEADER_COMMENT,
        charset="utf-8",
    )
    prefix = source.relative_to(ROOT).as_posix() if source.is_relative_to(ROOT) else source.name
    for filename, lineno, message, comments, context in extract_from_dir(
        source,
        METHOD_MAP,
        keywords=KEYWORDS,
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    ):
        path = f"{prefix}/{Path(filename).as_posix()}"
        catalog.add(message, None, [(path, lineno)], auto_comments=comments, context=context)
    return catalog


def po_bytes(catalog: Catalog) -> bytes:
    """``catalog`` as .po/.pot text: sorted by msgid, file names without line numbers."""
    buffer = io.BytesIO()
    write_po(
        buffer,
        catalog,
        width=WIDTH,
        sort_output=True,
        include_lineno=False,
        ignore_obsolete=True,
    )
    return buffer.getvalue()


class _StableHeader:
    """``catalog`` as write_mo sees it, minus the header line naming the Babel version.

    Without it the committed .mo would differ from a fresh compile after any Babel upgrade.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.charset = catalog.charset
        self._catalog = catalog

    def __iter__(self) -> Iterator[Message]:
        messages = iter(self._catalog)
        header = next(messages)
        header.string = re.sub(r"^Generated-By: .*\n", "", str(header.string), flags=re.MULTILINE)
        yield header
        yield from messages


def mo_bytes(catalog: Catalog) -> bytes:
    """``catalog`` compiled to .mo; fuzzy and empty translations are left out."""
    buffer = io.BytesIO()
    write_mo(buffer, _StableHeader(catalog), use_fuzzy=False)  # type: ignore[arg-type]
    return buffer.getvalue()


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    """Parse a .po or .pot file."""
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def _write_if_changed(path: Path, content: bytes, *, ignore_dates: bool) -> bool:
    """Write ``content`` unless ``path`` already holds it (dates aside); True if written."""
    if path.exists():
        old = path.read_bytes()
        if old == content or (
            ignore_dates and _VOLATILE.sub(b"", old) == _VOLATILE.sub(b"", content)
        ):
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def extract() -> None:
    """Write tray/locale/cardwatch.pot from the code."""
    catalog = extract_catalog()
    written = _write_if_changed(POT, po_bytes(catalog), ignore_dates=True)
    print(f"{_rel(POT)}: {len(catalog)} messages{'' if written else ' (unchanged)'}")


def _new_catalog(language: str) -> Catalog:
    catalog = Catalog(
        locale=language,
        domain=DOMAIN,
        project="Cardwatch",
        version=_version(),
        copyright_holder="Cardwatch contributors",
        msgid_bugs_address="",
        charset="utf-8",
        last_translator="Cardwatch contributors",
        language_team="Chinese (Traditional, Taiwan)",
        header_comment=PO_HEADER_COMMENT.replace("LANGUAGE", language),
        fuzzy=False,
    )
    catalog.revision_date = datetime.now(timezone.utc)
    return catalog


def update() -> None:
    """Merge the .pot into each .po, keeping translations; no fuzzy matching."""
    template = read_catalog(POT)
    for language in LANGUAGES:
        path = po_path(language)
        catalog = read_catalog(path, language) if path.exists() else _new_catalog(language)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False
        catalog.project, catalog.version = template.project, template.version
        dropped = sorted(str(key) for key in catalog.obsolete)
        written = _write_if_changed(path, po_bytes(catalog), ignore_dates=True)
        todo = untranslated(catalog, template)
        print(
            f"{_rel(path)}: {len(catalog)} messages, {len(todo)} to translate"
            f"{'' if written else ' (unchanged)'}"
        )
        for msgid in dropped:
            print(f"  dropped (no longer in the code): {msgid!r}")


def compile_catalogs() -> None:
    """Compile each .po to its .mo (byte-for-byte the same for the same .po)."""
    for language in LANGUAGES:
        catalog = read_catalog(po_path(language), language)
        for message, errors in catalog.check():
            for error in errors:
                print(f"  warning: {message.id!r}: {error}", file=sys.stderr)
        path = mo_path(language)
        written = _write_if_changed(path, mo_bytes(catalog), ignore_dates=False)
        print(f"{_rel(path)}: compiled{'' if written else ' (unchanged)'}")


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (list, tuple)) else (message.id,)


def _strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, (list, tuple)):
        return tuple(message.string)
    return (message.string or "",)


def untranslated(catalog: Catalog, used: Iterable[Message]) -> list[str]:
    """The ids in ``used`` with no non-empty, non-fuzzy translation in ``catalog``."""
    missing = []
    for wanted in used:
        if not wanted.id:
            continue
        found = catalog.get(wanted.id, wanted.context)
        if found is None or found.fuzzy or not all(_strings(found)):
            missing.append(_ids(wanted)[0])
    return sorted(missing)


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields in a str.format string (``{{`` escapes excluded)."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:  # not a format string at all; then braces mean nothing
        return set()


def placeholder_mismatches(catalog: Catalog) -> list[str]:
    """Translations whose ``{placeholder}`` names differ from their msgid's."""
    bad = []
    for message in catalog:
        if not message.id:
            continue
        expected = set().union(*(placeholders(text) for text in _ids(message)))
        for text in _strings(message):
            if text and placeholders(text) != expected:
                bad.append(f"{_ids(message)[0]!r} -> {text!r}")
    return bad


def check() -> int:
    """0 if every message in the code is translated and each .mo is fresh, else 1."""
    used = extract_catalog()
    failed = False
    if POT.exists():
        committed = {message.id for message in read_catalog(POT)}
        if committed != {message.id for message in used}:
            print(f"note: {_rel(POT)} is out of date; run: python tools/i18n.py all")
    for language in LANGUAGES:
        path = po_path(language)
        catalog = read_catalog(path, language) if path.exists() else _new_catalog(language)
        missing = untranslated(catalog, used)
        if missing:
            failed = True
            print(f"{_rel(path)}: {len(missing)} message(s) without a {language} translation:")
            for msgid in missing:
                print(f"  {msgid!r}")
        bad = placeholder_mismatches(catalog)
        if bad:
            failed = True
            print(f"{_rel(path)}: placeholders differ from the English:")
            for line in bad:
                print(f"  {line}")
        mo = mo_path(language)
        if not mo.exists() or mo.read_bytes() != mo_bytes(catalog):
            failed = True
            print(f"{_rel(mo)} differs from a fresh compile of {_rel(path)}")
    if failed:
        print("Run: .venv/bin/python tools/i18n.py all, translate, then run it again.")
    else:
        print(f"{len(used)} messages, all translated; .mo files up to date")
    return int(failed)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``extract``, ``update``, ``compile``, ``check`` or ``all``."""
    parser = argparse.ArgumentParser(prog="tools/i18n.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("extract", "update", "compile", "check", "all"))
    args = parser.parse_args(argv)
    if args.command == "check":
        return check()
    if args.command in ("extract", "all"):
        extract()
    if args.command in ("update", "all"):
        update()
    if args.command in ("compile", "all"):
        compile_catalogs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
