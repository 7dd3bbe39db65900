"""One row of an import: from spreadsheet cells to the registration payload, and its validation
(each distinct value of a repeated column validated once per job)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import ValidationError

from services.registry.import_files import (
    _DAY_FIRST,
    COLUMNS,
    DATE_COLUMNS,
    FORMULA_TRIGGERS,
    GENDERS,
    LEVELS,
    LIST_COLUMNS,
    _header_key,
)
from services.registry.schemas import VolunteerIn
from shared.logging import get_logger
from shared.messages import Message, coded

log = get_logger(__name__)

# -- one row -------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A cell as stripped text (None when blank), with an export's formula guard undone."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        value = str(int(value))  # spreadsheets store 90000000 as 90000000.0
    elif isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, date):
        value = value.isoformat()
    value = str(value).strip()
    if value.startswith("'") and value.lstrip("'").startswith(FORMULA_TRIGGERS):
        value = value[1:]
    return value or None


def _date(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    text_ = _text(value)
    if text_ is None:
        return None
    day_first = _DAY_FIRST.match(text_)  # French spreadsheets write 02/04/1995
    if day_first:
        day, month, year = day_first.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text_  # ISO 8601, or whatever it is: the schema says what is wrong


def _moment(value: Any) -> str | None:
    """A consent time: a date or a time without zone is UTC (the time of Lomé and Bamako)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    text_ = _text(value)
    if text_ is None:
        return None
    day_first = _DAY_FIRST.match(text_)
    if day_first:
        text_ = _date(text_) or text_
    try:
        moment = datetime.fromisoformat(text_)
    except ValueError:
        return text_
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _items(value: Any) -> list[str]:
    text_ = _text(value)
    return [item.strip() for item in text_.split(";") if item.strip()] if text_ else []


def _language(item: str) -> dict[str, str]:
    code, sep, level = item.partition(":")
    skill = {"code": code.strip().lower()}
    if sep:
        level = level.strip()
        skill["level"] = level.upper() if level.upper() in LEVELS else level.lower()
    return skill


def row_payload(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The flat cells of a row as the nested input of `VolunteerIn` (blank cells left out)."""
    payload: dict[str, Any] = {}
    for column in COLUMNS:
        if column not in raw or column.startswith("consent_"):
            continue
        value = raw[column]
        if column in LIST_COLUMNS:
            items = _items(value)
            if column == "languages":
                payload[column] = [_language(item) for item in items]
            elif column == "preferred_countries":
                payload[column] = [item.upper() for item in items]
            elif items:
                payload[column] = items
            continue
        cell = _date(value) if column in DATE_COLUMNS else _text(value)
        if cell is None:
            continue
        if column == "gender":
            cell = GENDERS.get(_header_key(cell), cell.lower())
        elif column == "nationality":
            cell = cell.upper()
        elif column in ("preferred_language", "education_level"):
            cell = cell.lower()
        payload[column] = cell
    consent: dict[str, Any] = {}
    given_at = _moment(raw.get("consent_given_at"))
    if given_at is not None:
        consent["given_at"] = given_at
    purposes = [p.lower() for p in _items(raw.get("consent_purposes"))]
    if purposes:
        consent["purposes"] = purposes
    payload["consent"] = consent
    return payload


# Fields whose cells repeat from row to row (the same languages, skills, consent for a whole
# file) and whose checks are the costly ones (nested schemas, lists of validated items).
REPEATED_FIELDS = ("consent", "languages", "skills", "domains", "preferred_countries")


class RowValidator:
    """`VolunteerIn().load` for the rows of one import, batched by value: each distinct value of a
    repeated field is validated once (by `VolunteerIn` itself, restricted to that field) and its
    result reused for every row that has it; the other fields, and the checks across fields, are
    validated per row. Results and messages are those of `VolunteerIn().load` on the whole row
    (a row with an error is validated again by it); a file of identical profiles pays the nested
    checks once."""

    def __init__(self) -> None:
        self._rest = VolunteerIn(exclude=REPEATED_FIELDS)
        self._parts = {name: VolunteerIn(only=(name,)) for name in REPEATED_FIELDS}
        self._whole = VolunteerIn()
        self._cache: dict[tuple[str, str], tuple[Any, Any]] = {}  # (field, value) -> result

    def _part(self, name: str, payload: Mapping[str, Any]) -> tuple[Any, Any]:
        present = name in payload
        key = (name, repr(payload[name]) if present else "")
        found = self._cache.get(key)
        if found is None:
            try:
                loaded = self._parts[name].load({name: payload[name]} if present else {})
                found = (loaded.get(name, _MISSING), None)
            except ValidationError as exc:
                found = (_MISSING, exc.messages)
            if len(self._cache) < 10_000:
                self._cache[key] = found
        return found

    def load(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in payload.items() if k not in self._parts}
        try:
            data = self._rest.load(rest)
        except ValidationError:
            data = None
        parts = [(name, *self._part(name, payload)) for name in REPEATED_FIELDS]
        if data is None or any(errors for _, _, errors in parts):
            # A bad row (about one in a hundred): the whole schema again, for its messages
            # exactly as `VolunteerIn` gives them, in its order.
            return self._whole.load(payload)
        for name, value, _ in parts:
            if value is not _MISSING:
                data[name] = _fresh(value)
        return data


_MISSING = object()


def _fresh(value: Any) -> Any:
    """A copy of a cached result, so rows never share a list or dict."""
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def flatten_errors(messages: Any, path: str = "") -> Iterator[tuple[str, Message]]:
    """marshmallow's nested messages as (field, message), the field named after the file's column:
    languages.0.code, consent_given_at, consent_purposes.1; whole-row errors on "row"."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = "row" if key == "_schema" else str(key)
            yield from flatten_errors(value, f"{path}.{name}" if path else name)
    elif isinstance(messages, list | tuple):
        for item in messages:
            yield from flatten_errors(item, path)
    else:
        column = "consent_" + path[len("consent.") :] if path.startswith("consent.") else path
        yield column or "row", coded(messages)
