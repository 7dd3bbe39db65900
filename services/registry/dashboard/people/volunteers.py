"""Volunteers: search, register, detail, edit, withdraw.

The pages hold no business rule: form fields become the schemas' input (dashboard/forms.py),
and the handlers do the rest in one transaction; their refusals are shown by code."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy.orm import load_only
from werkzeug.datastructures import MultiDict

from services.registry import handlers, queries
from services.registry.adapters.orm import Volunteer
from services.registry.dashboard.context import FORM_STATUS, node, sessions, staff_only
from services.registry.dashboard.forms import (
    Fields,
    Page,
    convert,
    form_errors,
    form_moment,
    handler_errors,
    join_list,
    languages_text,
    requested_page,
    show_date,
    show_moment,
    validate,
)
from services.registry.dashboard.i18n import _, fmt_number, ngettext
from services.registry.dashboard.labels.people import (
    EDUCATION_LABELS,
    GENDER_LABELS,
    LANGUAGE_LABELS,
    PURPOSE_LABELS,
    REASON_LABELS,
    STATUS_LABELS,
    choices,
    country_name,
    label,
    language_skills,
)
from services.registry.dashboard.people.blueprint import bp
from services.registry.domain.volunteers import WITHDRAWABLE
from services.registry.schemas import VolunteerIn, VolunteerPatch, VolunteerQuery, Withdrawal

PAGE_SIZE = 25


def _status(code: str) -> str:
    return label(STATUS_LABELS, code)


# -- the list ------------------------------------------------------------------------------------


def _filters() -> tuple[dict[str, str], dict[str, Any], dict[str, list[str]]]:
    """(the filters as typed, the valid ones, the errors of the others)."""
    typed = {k: (request.args.get(k) or "").strip() for k in queries.VOLUNTEER_FILTERS}
    given = {k: v for k, v in typed.items() if v}
    if "language" in given:
        given["language"] = given["language"].lower()
    try:
        return typed, VolunteerQuery().load(given), {}
    except ValidationError as exc:
        messages = exc.messages  # a mapping: VolunteerQuery's fields
        errors = form_errors(messages, fields=tuple(typed), schema=VolunteerQuery())  # type: ignore[arg-type]
        valid = {k: v for k, v in given.items() if k not in exc.messages}
        return typed, VolunteerQuery().load(valid), errors


@bp.route("/volunteers")
def volunteers() -> Any:
    typed, query, errors = _filters()
    statement = queries.volunteers(node().agency, query).options(
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
    with sessions()() as session:
        window = queries.page_of(session, statement, requested_page(), PAGE_SIZE)
    rows = window.rows
    page = Page.of(requested_page(), PAGE_SIZE, window.total)
    kept = {k: v for k, v in typed.items() if v}

    def page_url(number: int) -> str:
        return url_for("dashboard.people.volunteers", **kept, page=number)

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
    return redirect(url_for("dashboard.people.volunteer", volunteer_id=volunteer_id))


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
    return redirect(url_for("dashboard.people.volunteer", volunteer_id=volunteer_id))


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
    return redirect(url_for("dashboard.people.volunteer", volunteer_id=volunteer_id))
