"""Dashboard pages for the agency's people: volunteers (search, register, detail, edit, withdraw)
and their bulk import from CSV/XLSX files with a live progress bar.

The pages hold no business rule. Form fields are converted to the API's input (lists from
comma/semicolon text, languages from "fr:C1, ee:native", day/month/year dates, blanks to None),
validated with the registry's marshmallow schemas and given to the registry's handlers in one
transaction. The schemas' and handlers' messages are English: `translate` maps each known one
(exact, or a pattern with a variable part) to a catalog message, and the page shows it beside its
field; an unknown message is shown as it is.

The form helpers (`convert`, `form_errors`, `Page`…) are shared with the places pages.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from babel import Locale
from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from marshmallow import Schema, ValidationError
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import load_only
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from services.registry import handlers, imports
from services.registry.adapters.orm import ImportJob, Volunteer
from services.registry.dashboard.web import (
    FORM_STATUS,
    _,
    account,
    bp,
    fmt_number,
    lang,
    ngettext,
    node,
    sessions,
    staff_only,
)
from services.registry.domain.volunteers import STATUSES, WITHDRAW_REASONS, WITHDRAWABLE
from services.registry.schemas import (
    CONSENT_PURPOSES,
    EDUCATION,
    GENDERS,
    LEVELS,
    VolunteerIn,
    VolunteerPatch,
    VolunteerQuery,
    Withdrawal,
)
from services.registry.views.imports import progress_percent

PAGE_SIZE = 25
FORM_ERROR = "_form"  # errors of no particular field: shown at the top of the form


def N_(message: str) -> str:
    """Marks a message for the catalog; translated where it is shown."""
    return message


# -- labels of codes (English message ids, translated where shown) -------------------------------

STATUS_LABELS = {
    "registered": N_("registered"),
    "available": N_("available"),
    "proposed": N_("proposed for a placement"),
    "matched": N_("matched to a placement"),
    "deployed": N_("in mission"),
    "completed": N_("mission completed"),
    "withdrawn": N_("withdrawn"),
}
GENDER_LABELS = {
    "female": N_("Female"),
    "male": N_("Male"),
    "other": N_("Other"),
    "undisclosed": N_("Not disclosed"),
}
EDUCATION_LABELS = {
    "none": N_("No schooling"),
    "primary": N_("Primary school"),
    "secondary": N_("Secondary school"),
    "vocational": N_("Vocational training"),
    "bachelor": N_("Bachelor's degree"),
    "master": N_("Master's degree"),
    "doctorate": N_("Doctorate"),
}
PURPOSE_LABELS = {
    "registration": N_("Registration in the agency's register"),
    "matching": N_("Matching with placements abroad"),
    "sharing_with_host_agency": N_("Sharing the file with the host agency of a confirmed match"),
    "notifications": N_("Notifications by e-mail and SMS"),
}
REASON_LABELS = {
    "personal": N_("Personal reasons"),
    "health": N_("Health"),
    "eligibility": N_("No longer eligible"),
    "other": N_("Other"),
}
LANGUAGE_LABELS = {"fr": "Français", "en": "English"}  # each in its own language
assert set(STATUS_LABELS) == set(STATUSES) and set(GENDER_LABELS) == set(GENDERS)
assert set(EDUCATION_LABELS) == set(EDUCATION) and set(PURPOSE_LABELS) == set(CONSENT_PURPOSES)
assert set(REASON_LABELS) == set(WITHDRAW_REASONS)


def label(labels: Mapping[str, str], code: str | None) -> str:
    if code is None or code == "":
        return "—"
    return _(labels[code]) if code in labels else code


def choices(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(code, _(text)) for code, text in labels.items()]


def language_name(code: str) -> str:
    return Locale.parse(lang()).languages.get(code, code)


def country_name(code: str) -> str:
    return Locale.parse(lang()).territories.get(code, code)


def level_label(level: str) -> str:
    return _("native speaker") if level == "native" else level


def language_skills(skills: list[dict[str, str]]) -> str:
    return ", ".join(
        f"{language_name(s['code'])} ({level_label(s.get('level', ''))})" for s in skills
    )


# -- messages of the schemas, handlers and imports, in the page's language -----------------------

# Exact messages, shown through the catalog as they are (their msgid is the English message).
MESSAGES = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Invalid input type."),
    N_("Unknown field."),
    N_("Not a valid string."),
    N_("Not a valid date."),
    N_("Not a valid datetime."),
    N_("Not a valid aware datetime."),
    N_("Not a valid email address."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Not a valid list."),
    N_("Not a phone number."),
    N_("Must be in the past."),
    N_("Must be after 1900."),
    N_("Must not be before available_from."),
    N_("Must not be before start."),
    N_("A volunteer with this identity number is already registered."),
    N_("A withdrawn volunteer cannot be changed."),
    N_("This organisation is already registered in this city."),
    N_("Another organisation has this name in this city."),
    N_("The placement is already closed."),
    N_("A closed placement cannot be changed."),
    N_("This spreadsheet format is not read: save the file as .xlsx."),
    N_("Send a .csv (UTF-8) or .xlsx file."),
    N_("The file is empty: line 1 must hold the column names."),
    N_("The header names a column twice."),
    N_("The file has no data rows: volunteers start on line 2."),
    N_("This is not a CSV text file (it holds binary data)."),
    N_("The CSV file is neither UTF-8 nor Windows-1252 text."),
    N_("This is not an XLSX workbook."),
    N_("The workbook expands to more than 200 MiB once uncompressed."),
    N_("The workbook has no worksheet."),
    N_("interrupted by a restart; rows imported so far are kept"),
    N_("interrupted by a shutdown of the service; rows imported so far are kept"),
)


def _number(text: str) -> str:
    return fmt_number(int(text.replace(",", "")))


def _status(code: str) -> str:
    return label(STATUS_LABELS, code)


def _message(text: str) -> str:
    return translate(text)  # a message inside a message


# Messages with a variable part: (pattern, catalog msgid, converters of the captured parts).
PATTERNS: list[tuple[re.Pattern[str], str, dict[str, Callable[[str], str]]]] = [
    (re.compile(p), msgid, conv)
    for p, msgid, conv in (
        (r"^Must be one of: (?P<choices>.+)\.$", N_("Must be one of: %(choices)s."), {}),
        (
            r"^Shorter than minimum length (?P<min>\d+)\.$",
            N_("Too short: at least %(min)s."),
            {},
        ),
        (
            r"^Longer than maximum length (?P<max>\d+)\.$",
            N_("Too long: at most %(max)s."),
            {},
        ),
        (
            r"^Length must be between (?P<min>\d+) and (?P<max>\d+)\.$",
            N_("Must have between %(min)s and %(max)s characters."),
            {},
        ),
        (
            r"^Must be greater than or equal to (?P<min>-?\d+) "
            r"and less than or equal to (?P<max>-?\d+)\.$",
            N_("Must be between %(min)s and %(max)s."),
            {"min": _number, "max": _number},
        ),
        (
            r"^Unknown ISO 639 language code: (?P<code>.+)\.$",
            N_("Unknown ISO 639 language code: %(code)s."),
            {},
        ),
        (
            r"^Unknown ISO 3166 country/agency code: (?P<code>.+)\.$",
            N_("Unknown ISO 3166 country code: %(code)s."),
            {},
        ),
        (
            r"^A volunteer with this identity number is already registered \((?P<id>[^)]+)\)\.$",
            N_("A volunteer with this identity number is already registered (%(id)s)."),
            {},
        ),
        (
            r"^A volunteer whose status is (?P<status>\w+) cannot be withdrawn\.$",
            N_("A volunteer whose status is “%(status)s” cannot be withdrawn."),
            {"status": _status},
        ),
        (
            r"^This organisation is already registered in this city \((?P<id>[^)]+)\)\.$",
            N_("This organisation is already registered in this city (%(id)s)."),
            {},
        ),
        (
            r"^No host organisation (?P<id>.+)\.$",
            N_("No host organisation %(id)s."),
            {},
        ),
        (
            r"^This identity number is already on line (?P<line>\d+) of this file\.$",
            N_("This identity number is already on line %(line)s of this file."),
            {},
        ),
        (
            r"^The database refused it: (?P<reason>.*)$",
            N_("The database refused it: %(reason)s"),
            {},
        ),
        (
            r"^The file is larger than (?P<size>\d+) MiB\.$",
            N_("The file is larger than %(size)s MiB."),
            {},
        ),
        (
            r"^Missing required columns: (?P<columns>.+)\.$",
            N_("Missing required columns: %(columns)s."),
            {},
        ),
        (
            r"^Missing required column (?P<column>\w+) \(or (?P<french>\w+)\)\.$",
            N_("Missing required column %(column)s (or %(french)s)."),
            {},
        ),
        (
            r"^Columns (?P<a>\d+) and (?P<b>\d+) both hold (?P<column>\w+): keep one\.$",
            N_("Columns %(a)s and %(b)s both hold %(column)s: keep one."),
            {},
        ),
        (
            r"^The file has more than (?P<rows>[\d,]+) data rows: split it into several files\.$",
            N_("The file has more than %(rows)s data rows: split it into several files."),
            {"rows": _number},
        ),
        (
            r"^Line (?P<line>\d+): unreadable CSV \((?P<reason>.*)\)\.$",
            N_("Line %(line)s: unreadable CSV (%(reason)s)."),
            {},
        ),
        (
            r"^This is not a readable XLSX workbook \((?P<reason>.*)\)\.$",
            N_("This is not a readable XLSX workbook (%(reason)s)."),
            {},
        ),
        (
            r"^Columns ignored \(unknown\): (?P<columns>.+)\.$",
            N_("Columns ignored (unknown): %(columns)s."),
            {},
        ),
        (
            r"^The import stopped \((?P<reason>.*)\); rows imported so far are kept\.$",
            N_("The import stopped (%(reason)s); rows imported so far are kept."),
            {},
        ),
        (
            r"^(?P<reason>.+) Nothing was imported\.$",
            N_("%(reason)s Nothing was imported."),
            {"reason": _message},
        ),
    )
]


def translate(message: str) -> str:
    """An English message of the schemas, handlers or imports in the page's language."""
    for pattern, msgid, converters in PATTERNS:
        found = pattern.match(message)
        if found:
            parts = {k: converters.get(k, str)(v) for k, v in found.groupdict().items()}
            return _(msgid, **parts)
    return _(message)  # an exact message, or an unknown one shown as it is


# -- form fields to the schemas' input -----------------------------------------------------------

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


def _leaves(messages: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(messages, list | tuple):
        for message in messages:
            yield from _leaves(message, path)
    else:
        yield path, str(messages)


def form_errors(
    messages: Mapping[str, Any],
    items: Mapping[str, list[str]] | None = None,
    fields: tuple[str, ...] = (),
    rename: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """marshmallow's (nested) messages as {form field: [translated messages]}. An item of a list
    is named as typed ("xx:B2: Unknown ISO 639 language code: 'xx'."); `rename` maps a nested
    path's "first.second" to its form field (consent.given_at → consent_given_at); a message of
    no field of the form goes to FORM_ERROR."""
    items = items or {}
    rename = rename or {}
    errors: dict[str, list[str]] = {}
    for path, message in _leaves(messages):
        head = str(path[0]) if path else FORM_ERROR
        rest = path[1:]
        if rest and f"{head}.{rest[0]}" in rename:
            head, rest = rename[f"{head}.{rest[0]}"], rest[1:]
        elif head in rename:
            head = rename[head]
        text = translate(message)
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


def handler_errors(
    exc: handlers.Conflict | handlers.Invalid, fields: tuple[str, ...]
) -> dict[str, list[str]]:
    """A handler's refusal beside the field it names (at the top of the form otherwise)."""
    field = exc.field if exc.field in fields else FORM_ERROR
    return {field: [translate(str(exc))]}


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
        return None, form_errors(messages, items, fields, rename)


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


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def json_list_contains(column: Any, item_json: str) -> Any:
    """The JSON text of a list column holds this JSON item: portable (PostgreSQL and SQLite),
    case-insensitive for ASCII. JSON columns are written with json.dumps (ensure_ascii), so the
    item is encoded the same way."""
    return func.lower(cast(column, String)).like(f"%{like_escape(item_json.lower())}%", escape="\\")


# -- the list ------------------------------------------------------------------------------------


def _filters() -> tuple[dict[str, str], dict[str, Any], dict[str, list[str]]]:
    """(the filters as typed, the valid ones, the errors of the others)."""
    typed = {k: (request.args.get(k) or "").strip() for k in ("q", "status", "skill", "language")}
    given = {k: v for k, v in typed.items() if v}
    if "language" in given:
        given["language"] = given["language"].lower()
    try:
        return typed, VolunteerQuery().load(given), {}
    except ValidationError as exc:
        errors = form_errors(exc.messages, fields=tuple(typed))  # type: ignore[arg-type]
        valid = {k: v for k, v in given.items() if k not in exc.messages}
        return typed, VolunteerQuery().load(valid), errors


def _conditions(query: Mapping[str, Any]) -> list[Any]:
    conditions: list[Any] = [Volunteer.agency == node().agency]
    if "status" in query:
        conditions.append(Volunteer.status == query["status"])
    for word in query.get("q", "").lower().split():
        pattern = f"%{like_escape(word)}%"
        conditions.append(
            or_(
                func.lower(Volunteer.first_name).like(pattern, escape="\\"),
                func.lower(Volunteer.last_name).like(pattern, escape="\\"),
            )
        )
    if "skill" in query:
        conditions.append(json_list_contains(Volunteer.skills, json.dumps(query["skill"])))
    if "language" in query:
        code = json.dumps(query["language"])
        conditions.append(
            or_(
                json_list_contains(Volunteer.languages, f'"code": {code}'),
                json_list_contains(Volunteer.languages, f'"code":{code}'),
            )
        )
    return conditions


@bp.route("/volunteers")
def volunteers() -> Any:
    typed, query, errors = _filters()
    conditions = _conditions(query)
    with sessions()() as session:
        total = session.scalar(select(func.count()).select_from(Volunteer).where(*conditions))
        page = Page.of(requested_page(), PAGE_SIZE, total or 0)
        rows = session.scalars(
            select(Volunteer)
            .options(
                load_only(
                    Volunteer.id,
                    Volunteer.first_name,
                    Volunteer.last_name,
                    Volunteer.status,
                    Volunteer.skills,
                    Volunteer.available_from,
                    Volunteer.available_until,
                )
            )
            .where(*conditions)
            .order_by(Volunteer.created_at.desc(), Volunteer.id)
            .offset(page.offset)
            .limit(PAGE_SIZE)
        ).all()
    kept = {k: v for k, v in typed.items() if v}

    def page_url(number: int) -> str:
        return url_for("dashboard.volunteers", **kept, page=number)

    return render_template(
        "people/list.html",
        title=_("Volunteers"),
        rows=rows,
        page=page,
        page_url=page_url,
        count=ngettext(
            "%(num)s volunteer", "%(num)s volunteers", page.total, num=fmt_number(page.total)
        ),
        filters=typed,
        filtered=bool(kept),
        errors=errors,
        statuses=choices(STATUS_LABELS),
        status_label=_status,
    )


# -- register ------------------------------------------------------------------------------------

PROFILE = Fields(
    text=("email", "phone", "preferred_language", "notes", "education_level"),
    dates=("available_from", "available_until"),
    lists=("skills", "domains"),
    codes=("preferred_countries",),
    languages=("languages",),
)
REGISTRATION = Fields(
    text=("first_name", "last_name", "gender", "identity_number", *PROFILE.text),
    upper=("nationality",),
    dates=("date_of_birth", *PROFILE.dates),
    lists=PROFILE.lists,
    codes=PROFILE.codes,
    languages=PROFILE.languages,
)
REGISTRATION_FIELDS = (*REGISTRATION.names, "consent_given_at", "consent_purposes")
CONSENT_RENAME = {
    "consent.given_at": "consent_given_at",
    "consent.purposes": "consent_purposes",
    "consent": "consent_purposes",
}


def _form_options() -> dict[str, Any]:
    return {
        "genders": choices(GENDER_LABELS),
        "education": choices(EDUCATION_LABELS),
        "purposes": choices(PURPOSE_LABELS),
        "reasons": choices(REASON_LABELS),
        "languages": list(LANGUAGE_LABELS.items()),
    }


def _render_new(values: Mapping[str, Any], errors: dict[str, list[str]], status: int) -> Any:
    return render_template(
        "people/new.html",
        title=_("Register a volunteer"),
        values=values,
        errors=errors,
        **_form_options(),
    ), status


@bp.route("/volunteers/new", methods=["GET"])
def new_volunteer() -> Any:
    values = MultiDict(
        {
            "nationality": node().agency,
            "preferred_language": "fr",
            "consent_given_at": show_moment(datetime.now(UTC)),
            "consent_purposes": "registration",
        }
    )
    return _render_new(values, {}, 200)


@bp.route("/volunteers/new", methods=["POST"])
@staff_only
def register_volunteer() -> Any:
    form = request.form
    data, items = convert(form, REGISTRATION)
    consent: dict[str, Any] = {}
    given_at = form_moment(form.get("consent_given_at"))
    if given_at is not None:
        consent["given_at"] = given_at
    purposes = [p for p in form.getlist("consent_purposes") if p]
    if purposes:
        consent["purposes"] = purposes
    data["consent"] = consent
    loaded, errors = validate(VolunteerIn(), data, items, REGISTRATION_FIELDS, CONSENT_RENAME)
    if loaded is None:
        return _render_new(form, errors, FORM_STATUS)
    try:
        with sessions().begin() as session:
            volunteer = handlers.register_volunteer(session, node(), loaded)
            volunteer_id, name = volunteer.id, f"{volunteer.first_name} {volunteer.last_name}"
    except (handlers.Conflict, handlers.Invalid) as exc:
        return _render_new(form, handler_errors(exc, REGISTRATION_FIELDS), FORM_STATUS)
    flash(_("%(name)s is registered.", name=name), "success")
    return redirect(url_for("dashboard.volunteer", volunteer_id=volunteer_id))


# -- detail, edit, withdraw ----------------------------------------------------------------------


def _edit_values(v: Volunteer) -> MultiDict[str, str]:
    return MultiDict(
        {
            "email": v.email or "",
            "phone": v.phone or "",
            "preferred_language": v.preferred_language,
            "notes": v.notes or "",
            "education_level": v.education_level or "",
            "available_from": show_date(v.available_from),
            "available_until": show_date(v.available_until),
            "skills": join_list(list(v.skills)),
            "domains": join_list(list(v.domains)),
            "preferred_countries": ", ".join(v.preferred_countries),
            "languages": languages_text(list(v.languages)),
        }
    )


def _load_volunteer(volunteer_id: str) -> Volunteer:
    with sessions()() as session:
        try:
            return handlers.get_volunteer(session, node(), volunteer_id)
        except handlers.NotFound:
            abort(404)


def _render_detail(
    v: Volunteer,
    values: Mapping[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    withdraw_errors: dict[str, list[str]] | None = None,
    withdraw_values: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Any:
    return render_template(
        "people/detail.html",
        title=f"{v.first_name} {v.last_name}",
        v=v,
        values=values if values is not None else _edit_values(v),
        errors=errors or {},
        withdraw_errors=withdraw_errors or {},
        withdraw_values=withdraw_values or {},
        editable=v.status != "withdrawn",
        withdrawable=v.status in WITHDRAWABLE,
        status_label=_status,
        gender_label=label(GENDER_LABELS, v.gender),
        education_label=label(EDUCATION_LABELS, v.education_level),
        agreed=[label(PURPOSE_LABELS, p) for p in v.consent_purposes],
        reason=label(REASON_LABELS, v.withdrawn_reason),
        spoken=language_skills(list(v.languages)),
        countries=[f"{country_name(c)} ({c})" for c in v.preferred_countries],
        nationality=f"{country_name(v.nationality)} ({v.nationality})",
        preferred_language=LANGUAGE_LABELS.get(v.preferred_language, v.preferred_language),
        **_form_options(),
    ), status


@bp.route("/volunteers/<volunteer_id>")
def volunteer(volunteer_id: str) -> Any:
    return _render_detail(_load_volunteer(volunteer_id))


@bp.route("/volunteers/<volunteer_id>/edit", methods=["POST"])
@staff_only
def edit_volunteer(volunteer_id: str) -> Any:
    form = request.form
    data, items = convert(form, PROFILE, blanks="none")
    if not data.get("preferred_language"):
        data.pop("preferred_language", None)
    loaded, errors = validate(VolunteerPatch(), data, items, PROFILE.names)
    if loaded is None:
        return _render_detail(_load_volunteer(volunteer_id), form, errors, status=FORM_STATUS)
    try:
        with sessions().begin() as session:
            current = handlers.get_volunteer(session, node(), volunteer_id)
            # Only what the form changes: an unchanged form emits no volunteer.updated.
            changes = {k: v for k, v in loaded.items() if getattr(current, k) != v}
            if changes:
                handlers.update_volunteer(session, node(), volunteer_id, changes)
    except handlers.NotFound:
        abort(404)
    except (handlers.Conflict, handlers.Invalid) as exc:
        fields = PROFILE.names
        status = FORM_STATUS
        return _render_detail(
            _load_volunteer(volunteer_id), form, handler_errors(exc, fields), status=status
        )
    if changes:
        flash(_("The changes are saved."), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return redirect(url_for("dashboard.volunteer", volunteer_id=volunteer_id))


@bp.route("/volunteers/<volunteer_id>/withdraw", methods=["POST"])
@staff_only
def withdraw_volunteer(volunteer_id: str) -> Any:
    form = request.form
    data, items = convert(form, Fields(text=("reason", "note")))
    loaded, errors = validate(Withdrawal(), data, items, ("reason", "note"))
    if loaded is None:
        v = _load_volunteer(volunteer_id)
        return _render_detail(v, withdraw_errors=errors, withdraw_values=form, status=FORM_STATUS)
    try:
        with sessions().begin() as session:
            handlers.withdraw_volunteer(
                session, node(), volunteer_id, loaded["reason"], loaded["note"]
            )
    except handlers.NotFound:
        abort(404)
    except (handlers.Conflict, handlers.Invalid) as exc:
        v = _load_volunteer(volunteer_id)
        return _render_detail(
            v,
            withdraw_errors=handler_errors(exc, ("reason",)),
            withdraw_values=form,
            status=FORM_STATUS,
        )
    flash(_("The volunteer is withdrawn from the programme."), "success")
    return redirect(url_for("dashboard.volunteer", volunteer_id=volunteer_id))


# -- bulk import ---------------------------------------------------------------------------------

COLUMN_HELP = {
    "first_name": N_("First name(s)"),
    "last_name": N_("Last name"),
    "date_of_birth": N_("Day/month/year (02/04/1995) or 1995-04-02"),
    "gender": N_("female, male, other, undisclosed (or F, M, femme, homme)"),
    "nationality": N_("Country code: TG, ML…"),
    "identity_number": N_("Identity document number"),
    "email": N_("E-mail address"),
    "phone": N_("Phone number: +228 90 00 00 00"),
    "preferred_language": N_("fr or en"),
    "languages": N_("code:level separated by “;”: fr:native;ee:B2"),
    "skills": N_("A list separated by “;”"),
    "domains": N_("A list separated by “;”"),
    "education_level": N_("none, primary, secondary, vocational, bachelor, master, doctorate"),
    "available_from": N_("Date"),
    "available_until": N_("Date"),
    "preferred_countries": N_("Country codes separated by “;”: ML;NE"),
    "consent_given_at": N_("Date (and time) of the consent"),
    "consent_purposes": N_(
        "Separated by “;”: registration, matching, sharing_with_host_agency, notifications"
    ),
    "notes": N_("Free text"),
}
assert set(COLUMN_HELP) == set(imports.COLUMNS)


def _columns() -> list[dict[str, Any]]:
    return [
        {
            "name": column,
            "french": imports.FRENCH_OF.get(column, ""),
            "required": column in imports.REQUIRED,
            "help": _(COLUMN_HELP[column]),
        }
        for column in imports.COLUMNS
    ]


def _render_import(errors: dict[str, list[str]], status: int) -> Any:
    with sessions()() as session:
        recent = session.scalars(
            select(ImportJob)
            .options(
                load_only(
                    ImportJob.id,
                    ImportJob.filename,
                    ImportJob.status,
                    ImportJob.total_rows,
                    ImportJob.imported_rows,
                    ImportJob.error_rows,
                    ImportJob.created_at,
                )
            )
            .order_by(ImportJob.created_at.desc(), ImportJob.id)
            .limit(10)
        ).all()
    return render_template(
        "people/import.html",
        title=_("Import volunteers"),
        errors=errors,
        columns=_columns(),
        max_size=_("%(size)s MiB", size=fmt_number(imports.MAX_FILE_BYTES // (1024 * 1024))),
        max_rows=fmt_number(imports.MAX_ROWS),
        recent=recent,
        job_status=_job_status,
    ), status


@bp.route("/volunteers/import", methods=["GET"])
def import_form() -> Any:
    return _render_import({}, 200)


@bp.route("/volunteers/import", methods=["POST"])
@staff_only
def upload_import() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_import({"file": [_("Choose a .csv or .xlsx file.")]}, FORM_STATUS)
    data = upload.stream.read(imports.MAX_FILE_BYTES + 1)
    try:
        parsed = imports.parse_file(upload.filename, upload.mimetype, data)
    except imports.FileRefused as exc:
        return _render_import({"file": [translate(line) for line in exc.details]}, FORM_STATUS)
    who = account()
    with sessions().begin() as session:
        job = imports.create_job(session, parsed, upload.filename, who.id if who else "dashboard")
        job_id = job.id
    current_app.extensions["vir.imports"].submit(
        imports.run_import, current_app.extensions["vir.runtime"], node(), job_id, parsed
    )
    return redirect(url_for("dashboard.import_job", job_id=job_id))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Any:
    """A body beyond the dashboard's limit is refused while it is read: on the import page the
    message is shown beside the file field."""
    message = translate(f"The file is larger than {imports.MAX_FILE_BYTES // (1024 * 1024)} MiB.")
    if request.endpoint in ("dashboard.upload_import", "dashboard.import_form"):
        return _render_import({"file": [message]}, FORM_STATUS)
    return render_template("error.html", title=_("File too large"), message=message), 413


@bp.route("/volunteers/import/model.csv")
def import_model() -> Response:
    """An empty file with the import's columns, in the page's language, to fill in."""
    out = io.StringIO()
    header = [imports.FRENCH_OF.get(c, c) if lang() == "fr" else c for c in imports.COLUMNS]
    csv.writer(out, delimiter=";" if lang() == "fr" else ",", lineterminator="\r\n").writerow(
        header
    )
    name = "modele-volontaires.csv" if lang() == "fr" else "volunteers-template.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _job_status(status: str) -> str:
    labels = {
        "queued": _("waiting to start"),
        "running": _("in progress"),
        "completed": _("finished"),
        "failed": _("stopped"),
    }
    return labels.get(status, status)


def _progress(job: Any) -> dict[str, Any]:
    """{percent, label, done} of a job (or of a row with its status, total and processed rows)."""
    done = job.status in ("completed", "failed")
    if not job.total_rows and not done:
        text = _("Reading the file…")
    else:
        text = ngettext(
            "%(done)s / %(total)s row",
            "%(done)s / %(total)s rows",
            job.total_rows,
            done=fmt_number(job.processed_rows),
            total=fmt_number(job.total_rows),
        )
    return {"percent": progress_percent(job), "label": text, "done": done}


def _column_label(field: str) -> str:
    """A column of the error report: languages.1.code → "languages, item 2"."""
    column, _sep, rest = field.partition(".")
    index = rest.split(".")[0]
    name = column
    if lang() == "fr" and column in imports.FRENCH_OF:
        name = f"{column} ({imports.FRENCH_OF[column]})"
    if index.isdigit():
        return _("%(column)s, item %(n)s", column=name, n=int(index) + 1)
    if column == "row":
        return _("whole row")
    return name


@bp.route("/volunteers/import/<job_id>")
def import_job(job_id: str) -> Any:
    with sessions()() as session:
        job = session.get(ImportJob, job_id)
    if job is None:
        abort(404)
    progress = _progress(job)
    report = [
        {
            "line": error.get("line"),
            "column": _column_label(str(error.get("field", "row"))),
            "message": translate(str(error.get("message", ""))),
        }
        for error in job.errors
    ]
    notes = [translate(line) for line in _job_notes(job)]
    return render_template(
        "people/job.html",
        title=_("Import of %(file)s", file=job.filename),
        job=job,
        progress=progress,
        report=report,
        notes=notes,
        status=_job_status(job.status),
        imported=ngettext(
            "%(num)s volunteer imported",
            "%(num)s volunteers imported",
            job.imported_rows,
            num=fmt_number(job.imported_rows),
        ),
        refused=ngettext(
            "%(num)s row refused",
            "%(num)s rows refused",
            job.error_rows,
            num=fmt_number(job.error_rows),
        ),
        truncated=len(job.errors) >= imports.MAX_STORED_ERRORS,
        max_errors=fmt_number(imports.MAX_STORED_ERRORS),
    )


def _job_notes(job: ImportJob) -> list[str]:
    """What the job's message says beyond the counts: ignored columns, or why it stopped."""
    if not job.message:
        return []
    if job.status == "failed":
        return [job.message]
    found = re.search(r"Columns ignored \(unknown\): .+\.$", job.message)
    return [found.group(0)] if found else []


@bp.route("/volunteers/import/<job_id>.json")
def import_job_json(job_id: str) -> Any:
    with sessions()() as session:
        row = session.execute(
            select(ImportJob.status, ImportJob.total_rows, ImportJob.processed_rows).where(
                ImportJob.id == job_id
            )
        ).first()
    if row is None:
        abort(404)
    response = jsonify(_progress(row))
    response.headers["Cache-Control"] = "no-store"
    return response
