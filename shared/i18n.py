"""French and English catalogs (Babel .po sources compiled in memory) and locale-aware formats."""

from __future__ import annotations

import functools
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"  # users speak French first (Togo, Mali)


def language_of(value: str | None) -> str:
    """ "fr", "en", "en-GB"… → "fr" or "en"; anything else → French, the default."""
    code = (value or "").strip().lower()[:2]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def _compile(path: Path, language: str) -> Translations:
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain="messages")


@functools.cache
def load_translations(directory: Path, language: str) -> Translations:
    """Every `directory/<language>/LC_MESSAGES/*.po`, merged and compiled in memory once per
    process (no .mo files). messages.po comes first; other catalogs (one per part of the
    interface) are merged over it."""
    folder = Path(directory) / language / "LC_MESSAGES"
    paths = sorted(folder.glob("*.po"), key=lambda p: (p.name != "messages.po", p.name))
    if not paths:
        raise FileNotFoundError(f"no catalog under {folder}")
    translations = _compile(paths[0], language)
    for path in paths[1:]:
        translations.merge(_compile(path, language))
    return translations
