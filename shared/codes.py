"""Reference codes every service validates against: ISO 3166 countries and ISO 639 languages."""

from __future__ import annotations

from functools import cache

from babel import Locale

# CLDR also lists regions and placeholders that are not countries an agency can be from.
_NOT_COUNTRIES = {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"}


@cache
def countries() -> frozenset[str]:
    territories = Locale("en").territories
    return frozenset(
        code
        for code in territories
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


@cache
def languages() -> frozenset[str]:
    return frozenset(
        code for code in Locale("en").languages if code.isalpha() and len(code) in (2, 3)
    )


def is_country(code: str) -> bool:
    return code in countries()


def is_language(code: str) -> bool:
    return code in languages()
