"""Reference codes every service validates against: ISO 3166 countries and ISO 639 languages."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from babel import Locale

# CLDR also lists regions and placeholders that are not countries an agency can be from.
_NOT_COUNTRIES = {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"}


def _codes(names: Iterable[Any]) -> list[str]:
    return [code for code in names if isinstance(code, str) and code.isalpha()]


@cache
def countries() -> frozenset[str]:
    territories = _codes(Locale("en").territories)
    return frozenset(c for c in territories if len(c) == 2 and c not in _NOT_COUNTRIES)


@cache
def languages() -> frozenset[str]:
    return frozenset(c for c in _codes(Locale("en").languages) if len(c) in (2, 3))


def is_country(code: str) -> bool:
    return code in countries()


def is_language(code: str) -> bool:
    return code in languages()
