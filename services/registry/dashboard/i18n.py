"""The dashboard's language: catalogs of its own words; dates and numbers as people write them."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from flask import g

from shared.i18n import DEFAULT_LANGUAGE, load_translations

HERE = Path(__file__).resolve().parent
LANG_COOKIE = "vir_lang"


def lang() -> str:
    return getattr(g, "lang", DEFAULT_LANGUAGE)


def gettext(message: str, **variables: Any) -> str:
    text = load_translations(HERE / "translations", lang()).ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = load_translations(HERE / "translations", lang()).ungettext(singular, plural, n)
    return text % ({"num": n} | variables)


def pgettext(context: str, message: str) -> str:
    """A short word whose translation depends on what it describes ("confirmed": a proposal is
    "confirmée", a count of mobilities "confirmés")."""
    return load_translations(HERE / "translations", lang()).pgettext(context, message)


_ = gettext


def N_(message: str) -> str:
    """Marks a message for the catalog; translated where it is shown."""
    return message


def fmt_date(value: date | datetime | str | None, form: str = "medium") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return format_datetime(value, format="short", locale=lang())
    return format_date(value, format=form, locale=lang())


def fmt_number(value: float | int, percent: bool = False) -> str:
    return format_percent(value, locale=lang()) if percent else format_decimal(value, locale=lang())
