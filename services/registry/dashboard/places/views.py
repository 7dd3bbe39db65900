"""Dashboard page for the agency's places: host organisations and their placements.

Like the volunteers' pages, it holds no business rule: forms are converted and validated with
the registry's schemas (HostOrganisationIn, PlacementIn, Closure) and given to its handlers
(create_host_organisation, publish_placement, close_placement); errors are shown beside their
field in the page's language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from services.registry import handlers
from services.registry.adapters.orm import HostOrganisation, Placement
from services.registry.dashboard.context import FORM_STATUS, node, sessions, staff_only
from services.registry.dashboard.forms import (
    FORM_ERROR,
    Fields,
    Page,
    convert,
    handler_errors,
    requested_page,
    validate,
)
from services.registry.dashboard.i18n import N_, _, fmt_number, lang, ngettext
from services.registry.dashboard.labels.people import label, language_skills
from services.registry.dashboard.places.blueprint import bp
from services.registry.schemas import Closure, HostOrganisationIn, PlacementIn
from shared import codes

PAGE_SIZE = 25
PLACEMENT_STATUS_LABELS = {"open": N_("open"), "filled": N_("filled"), "closed": N_("closed")}
CLOSABLE = ("open", "filled")  # a closed placement cannot be closed again (the handler says so)

ORGANISATION = Fields(text=("name", "city", "domain", "contact_email", "contact_phone"))
PLACEMENT = Fields(
    text=("host_organisation_id", "title", "city", "domain"),
    dates=("start", "end"),
    lists=("required_skills",),
    languages=("required_languages",),
    integers=("slots",),
)
CLOSURE = Fields(text=("reason", "note"))


def _placement_status(code: str) -> str:
    return label(PLACEMENT_STATUS_LABELS, code)


def _render(
    org_values: Mapping[str, Any] | None = None,
    org_errors: dict[str, list[str]] | None = None,
    pl_values: Mapping[str, Any] | None = None,
    pl_errors: dict[str, list[str]] | None = None,
    closing: str | None = None,
    close_values: Mapping[str, Any] | None = None,
    close_errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    agency = node().agency
    shown = request.args.get("status", "")
    shown = shown if shown in PLACEMENT_STATUS_LABELS else ""
    conditions = [Placement.agency == agency]
    if shown:
        conditions.append(Placement.status == shown)
    with sessions()() as session:
        organisations = session.scalars(
            select(HostOrganisation)
            .where(HostOrganisation.agency == agency)
            .order_by(HostOrganisation.name, HostOrganisation.city, HostOrganisation.id)
        ).all()
        total = session.scalar(select(func.count()).select_from(Placement).where(*conditions))
        page = Page.of(requested_page(), PAGE_SIZE, total or 0)
        placements = session.execute(
            select(Placement, HostOrganisation.name)
            .join(HostOrganisation, HostOrganisation.id == Placement.host_organisation_id)
            .where(*conditions)
            .order_by(Placement.start.desc(), Placement.title, Placement.id)
            .offset(page.offset)
            .limit(PAGE_SIZE)
        ).all()

    def page_url(number: int) -> str:
        status = {"status": shown} if shown else {}
        return url_for("dashboard.places.places", page=number, **status)

    # A refusal to close a placement whose close form is not shown (closed meanwhile, or on
    # another page of the list) is said above the list.
    with_form = {p.id for p, _name in placements if p.status in CLOSABLE}
    orphans = (
        [m for messages in (close_errors or {}).values() for m in messages]
        if closing and closing not in with_form
        else []
    )

    return render_template(
        "places/index.html",
        title=_("Organisations & placements"),
        organisations=organisations,
        org_options=[(o.id, f"{o.name} ({o.city})") for o in organisations],
        placements=placements,
        page=page,
        page_url=page_url,
        shown=shown,
        statuses=[(code, _(text)) for code, text in PLACEMENT_STATUS_LABELS.items()],
        status_label=_placement_status,
        closable=CLOSABLE,
        closure_reasons=codes.reason_choices(codes.CLOSURE_REASONS, lang()),
        closure_label=lambda code: codes.reason_label(codes.CLOSURE_REASONS, code, lang()),
        spoken=language_skills,
        count=ngettext(
            "%(num)s placement", "%(num)s placements", page.total, num=fmt_number(page.total)
        ),
        org_values=org_values if org_values is not None else MultiDict(),
        org_errors=org_errors or {},
        pl_values=pl_values if pl_values is not None else MultiDict({"slots": "1"}),
        pl_errors=pl_errors or {},
        closing=closing,
        orphans=orphans,
        close_values=close_values or {},
        close_errors=close_errors or {},
    ), status


@bp.route("/places")
def places() -> Any:
    return _render()


@bp.route("/places/organisations", methods=["POST"])
@staff_only
def create_organisation() -> Any:
    form = request.form
    data, items = convert(form, ORGANISATION)
    loaded, errors = validate(HostOrganisationIn(), data, items, ORGANISATION.names)
    if loaded is None:
        return _render(org_values=form, org_errors=errors, status=FORM_STATUS)
    try:
        with sessions().begin() as session:
            handlers.create_host_organisation(session, node(), loaded)
    except (handlers.Conflict, handlers.Invalid) as exc:
        errors = handler_errors(exc, ORGANISATION.names)
        return _render(org_values=form, org_errors=errors, status=FORM_STATUS)
    flash(_("The organisation %(name)s is registered.", name=loaded["name"]), "success")
    return redirect(url_for("dashboard.places.places") + "#organisations")


@bp.route("/places/placements", methods=["POST"])
@staff_only
def publish_placement() -> Any:
    form = request.form
    data, items = convert(form, PLACEMENT)
    loaded, errors = validate(PlacementIn(), data, items, PLACEMENT.names)
    if loaded is None:
        return _render(pl_values=form, pl_errors=errors, status=FORM_STATUS)
    try:
        with sessions().begin() as session:
            handlers.publish_placement(session, node(), loaded)
    except (handlers.Conflict, handlers.Invalid) as exc:
        errors = handler_errors(exc, PLACEMENT.names)
        return _render(pl_values=form, pl_errors=errors, status=FORM_STATUS)
    flash(_("The placement %(title)s is published.", title=loaded["title"]), "success")
    return redirect(url_for("dashboard.places.places") + "#placements")


@bp.route("/places/placements/<placement_id>/close", methods=["POST"])
@staff_only
def close_placement(placement_id: str) -> Any:
    form = request.form
    data, items = convert(form, CLOSURE)
    loaded, errors = validate(Closure(), data, items, CLOSURE.names)
    if loaded is None:
        return _render(
            closing=placement_id, close_values=form, close_errors=errors, status=FORM_STATUS
        )
    try:
        with sessions().begin() as session:
            placement = handlers.close_placement(
                session, node(), placement_id, loaded["reason"], loaded["note"]
            )
            title = placement.title
    except handlers.NotFound:
        abort(404)
    except (handlers.Conflict, handlers.Invalid) as exc:
        errors = handler_errors(exc, CLOSURE.names)
        if FORM_ERROR in errors:  # "already closed": said beside the reason all the same
            errors = {"reason": errors[FORM_ERROR]}
        return _render(
            closing=placement_id, close_values=form, close_errors=errors, status=FORM_STATUS
        )
    flash(_("The placement %(title)s is closed.", title=title), "success")
    return redirect(url_for("dashboard.places.places") + "#placements")
