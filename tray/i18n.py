"""Translations: every user-facing string goes through ``_()`` (gettext domain ``cardwatch``)."""

from __future__ import annotations

import functools
import gettext
import os
from collections.abc import Iterable
from importlib import resources

DOMAIN = "cardwatch"


def _locale_dir() -> str:
    return str(resources.files("tray") / "locale")


def normalise(language: str) -> str:
    """Map the many spellings of Traditional Chinese onto zh_TW."""
    lang = language.replace("-", "_").split(".")[0].split("@")[0]
    if lang.lower() in ("zh_tw", "zh_hant", "zh_hant_tw", "zh_hk", "zh_mo", "zh_hant_hk"):
        return "zh_TW"
    return lang


def _requested() -> list[str]:
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return [normalise(part) for part in value.split(":") if part]
    return []


class _Catalog:
    """Holds the active translation; set once at start-up by :func:`set_language`."""

    def __init__(self) -> None:
        self.translation: gettext.NullTranslations = gettext.NullTranslations()
        self.language = "en"


_catalog = _Catalog()


def set_language(language: str | None = None) -> str:
    """Activate ``language`` (or the OS locale when None); returns the language in use."""
    wanted = [normalise(language)] if language else _requested()
    for lang in wanted:
        if lang in ("C", "POSIX") or lang.startswith("en"):
            break
        try:
            _catalog.translation = gettext.translation(DOMAIN, _locale_dir(), languages=[lang])
        except OSError:
            continue
        _catalog.language = lang
        return lang
    _catalog.translation = gettext.NullTranslations()
    _catalog.language = "en"
    return "en"


def current_language() -> str:
    """The language now in use."""
    return _catalog.language


def _(message: str) -> str:
    """Translate ``message``."""
    return _catalog.translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate with a plural form."""
    return _catalog.translation.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it now."""
    return message


def _fold(pattern_id: str, parts: Iterable[str]) -> str:
    items = [p for p in parts if p]
    if not items:
        return ""
    pattern = _catalog.translation.gettext(pattern_id)
    return functools.reduce(lambda a, b: pattern.format(a=a, b=b), items)


# The separators are messages too: Chinese uses full-width punctuation and no spaces.
def join_list(parts: Iterable[str]) -> str:
    """'a, b, c' in the active language."""
    return _fold(N_("{a}, {b}"), parts)


def join_clauses(parts: Iterable[str]) -> str:
    """'a; b; c' in the active language."""
    return _fold(N_("{a}; {b}"), parts)


def sentences(*parts: str) -> str:
    """Sentences run together: with a space in English, none in Chinese."""
    return _fold(N_("{a} {b}"), parts)


def labelled(label: str, value: str) -> str:
    """'label: value' in the active language."""
    return _("{label}: {value}").format(label=label, value=value)
