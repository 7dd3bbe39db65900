"""Form fields to the schemas' input, their errors beside the fields, and pages of lists.

Form fields are converted to the API's input (lists from comma/semicolon text, languages from
"fr:C1, ee:native", day/month/year dates, blanks to None), validated with the registry's
marshmallow schemas; their messages and the handlers' refusals are shown in the page's language
through their codes (dashboard/messages.py)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError
from werkzeug.datastructures import MultiDict

from services.registry import handlers
from services.registry.dashboard.i18n import _, fmt_number
from services.registry.dashboard.messages import say
from services.registry.schemas import LEVELS
from shared.messages import leaves
from shared.validation_messages import coded_errors

FORM_ERROR = "_form"  # errors of no particular field: shown at the top of the form

_DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_DAY_FIRST_TIME = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})[ T](\d{1,2}):(\d{2})$")
_LEVELS = {level.upper(): level for level in LEVELS}


def clean(value: str | None) -> str | None:
    """A form value, stripped; blank is None."""
    value = (value or "").strip()
    return value or None


def split_list(value: str | None) -> list[str]:
    """ "a, b" or "a; b": a text with a semicolon is split on semicolons only, so an item may hold
    a comma ("reading, writing; first aid")."""
    text = clean(value)
    if text is None:
        return []
    separator = ";" if ";" in text else ","
    return [item.strip() for item in text.split(separator) if item.strip()]


def join_list(items: list[str]) -> str:
    """The text `split_list` reads back as the same items."""
    return ("; " if any("," in item for item in items) else ", ").join(items)


def language_item(item: str) -> dict[str, str]:
    """ "ee:B2" → {"code": "ee", "level": "B2"}; "ee" alone lacks its level (the schema says)."""
    code, sep, level = item.partition(":")
    skill = {"code": code.strip().lower()}
    if sep:
        skill["level"] = _LEVELS.get(level.strip().upper(), level.strip())
    return skill


def languages_text(skills: list[dict[str, str]]) -> str:
    return ", ".join(f"{s['code']}:{s['level']}" for s in skills)


def form_date(value: str | None) -> str | None:
    """Day/month/year (02/04/1995), as agencies write dates, to ISO; anything else as typed, for
    the schema to judge ("31/02/2027" becomes 2027-02-31: not a valid date)."""
    text = clean(value)
    if text is None:
        return None
    found = _DAY_FIRST.match(text)
    if found:
        day, month, year = found.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


def show_date(value: date | None) -> str:
    """A date as a form field shows it: day/month/year."""
    return value.strftime("%d/%m/%Y") if value else ""


def form_moment(value: str | None) -> str | None:
    """A date and time of a form; without a zone it is UTC, the time of Lomé and Bamako."""
    text = clean(value)
    if text is None:
        return None
    found = _DAY_FIRST_TIME.match(text)
    if found:
        day, month, year, hour, minute = (int(v) for v in found.groups())
        text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"
    elif _DAY_FIRST.match(text):
        text = form_date(text) or text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text  # the schema says what is wrong
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def show_moment(value: datetime | None) -> str:
    """A moment as a datetime-local field shows it (UTC)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class Fields:
    """How the fields of a form become a schema's input."""

    text: tuple[str, ...] = ()
    upper: tuple[str, ...] = ()  # codes written in capitals (TG)
    dates: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()  # lists of country codes
    languages: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        kinds = (self.text, self.upper, self.dates, self.lists, self.codes, self.languages)
        return tuple(name for kind in (*kinds, self.integers) for name in kind)


def convert(
    form: MultiDict[str, str], spec: Fields, blanks: str = "omit"
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Form fields as a schema's input, and each list field's items as typed (to name an item
    at fault). `blanks`: "omit" leaves a blank field out (the schema's default, or "Missing data
    for required field."); "none" gives None, and [] for a list (a change that clears it)."""
    data: dict[str, Any] = {}
    items: dict[str, list[str]] = {}

    def put(name: str, value: Any) -> None:
        if value is None or value == []:
            if blanks == "omit":
                return
            value = [] if name in spec.lists + spec.codes + spec.languages else None
        data[name] = value

    for name in spec.text:
        put(name, clean(form.get(name)))
    for name in spec.upper:
        put(name, (clean(form.get(name)) or "").upper() or None)
    for name in spec.dates:
        put(name, form_date(form.get(name)))
    for name in spec.integers:
        put(name, clean(form.get(name)))  # the schema reads "3" as 3, and says "Not a valid…"
    for name in spec.lists + spec.codes + spec.languages:
        items[name] = split_list(form.get(name))
        if name in spec.codes:
            put(name, [item.upper() for item in items[name]])
        elif name in spec.languages:
            put(name, [language_item(item) for item in items[name]])
        else:
            put(name, items[name])
    return data, items


def form_errors(
    messages: Mapping[str, Any],
    items: Mapping[str, list[str]] | None = None,
    fields: tuple[str, ...] = (),
    rename: Mapping[str, str] | None = None,
    schema: Schema | None = None,
) -> dict[str, list[str]]:
    """marshmallow's (nested) messages as {form field: [messages in the page's language]}. An
    item of a list is named as typed ("xx:B2: Unknown ISO 639 language code: 'xx'."); `rename`
    maps a nested path's "first.second" to its form field (consent.given_at →
    consent_given_at); a message of no field of the form goes to FORM_ERROR. Each message is
    rendered from its code (`schema` tells which field or validator wrote it)."""
    items = items or {}
    rename = rename or {}
    errors: dict[str, list[str]] = {}
    for path, message in leaves(coded_errors(schema, messages)):
        head = str(path[0]) if path else FORM_ERROR
        rest = path[1:]
        if rest and f"{head}.{rest[0]}" in rename:
            head, rest = rename[f"{head}.{rest[0]}"], rest[1:]
        elif head in rename:
            head = rename[head]
        text = say(message)
        if rest and isinstance(rest[0], int):
            typed = items.get(head, [])
            item = typed[rest[0]] if rest[0] < len(typed) else str(rest[0] + 1)
            if rest[1:] == ("level",):
                text = _(
                    "%(item)s: write the level after a colon (A1 to C2, or native), e.g. ee:B2.",
                    item=item,
                )
            else:
                text = _("%(item)s: %(problem)s", item=item, problem=text)
        field = head if head in fields else FORM_ERROR
        if text not in errors.setdefault(field, []):
            errors[field].append(text)
    return errors


def handler_errors(exc: handlers.Refusal, fields: tuple[str, ...]) -> dict[str, list[str]]:
    """A handler's refusal beside the field it names (at the top of the form otherwise)."""
    field = exc.field if exc.field in fields else FORM_ERROR
    return {field: [say(exc.message)]}


def validate(
    schema: Schema,
    data: Mapping[str, Any],
    items: Mapping[str, list[str]],
    fields: tuple[str, ...],
    rename: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    try:
        return schema.load(data), {}
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, Mapping) else {FORM_ERROR: exc.messages}
        return None, form_errors(messages, items, fields, rename, schema)


@dataclass(frozen=True)
class Page:
    """One page of a list of `total` rows: `number` from 1."""

    number: int
    size: int
    total: int

    @classmethod
    def of(cls, number: int, size: int, total: int) -> Page:
        """The page asked for, or the last one when it is beyond."""
        return cls(max(1, min(number, math.ceil(total / size))), size, total)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def label(self) -> str:
        return _(
            "Page %(page)s of %(pages)s", page=fmt_number(self.number), pages=fmt_number(self.pages)
        )


def requested_page() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1
