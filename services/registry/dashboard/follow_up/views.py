"""Follow-up of missions in progress: incidents, reported and moved on through the handlers;
the agreement's evaluation report."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import or_, select

from services.registry import handlers
from services.registry.adapters.orm import Incident, Mobility
from services.registry.dashboard.context import node, sessions, staff_only
from services.registry.dashboard.exchanges.common import flash_errors, not_found
from services.registry.dashboard.follow_up.blueprint import bp
from services.registry.dashboard.i18n import _, lang
from services.registry.dashboard.messages import say
from services.registry.dependencies import dependencies
from services.registry.schemas import IncidentIn, IncidentUpdateIn
from shared import codes


def _choices(labels: codes.Labels) -> list[tuple[str, str]]:
    return codes.reason_choices(labels, lang())


@bp.route("/incidents")
def incidents() -> Any:
    agency = node().agency
    with sessions()() as session:
        rows = session.scalars(
            select(Incident)
            .where(or_(Incident.sending_agency == agency, Incident.host_agency == agency))
            .order_by(Incident.reported_on.desc(), Incident.id)
            .limit(200)
        ).all()
        open_mobilities = session.scalars(
            select(Mobility)
            .where(
                or_(Mobility.sending_agency == agency, Mobility.host_agency == agency),
                Mobility.status.in_(("pre_departure", "in_mission")),
            )
            .order_by(Mobility.id)
        ).all()
    shown = [
        {
            "row": i,
            "severity": codes.reason_label(codes.INCIDENT_SEVERITIES, i.severity, lang()),
            "category": codes.reason_label(codes.INCIDENT_CATEGORIES, i.category, lang()),
            "status": codes.reason_label(codes.INCIDENT_STATUSES, i.status, lang()),
            "mine": i.owner == agency and i.status != "resolved",
            "other": i.host_agency if i.sending_agency == agency else i.sending_agency,
        }
        for i in rows
    ]
    return render_template(
        "follow_up/incidents.html",
        title=_("Incidents"),
        incidents=shown,
        mobilities=[(m.id, f"{m.sending_agency} → {m.host_agency}") for m in open_mobilities],
        severities=_choices(codes.INCIDENT_SEVERITIES),
        categories=_choices(codes.INCIDENT_CATEGORIES),
        statuses=_choices(codes.INCIDENT_STATUSES),
    )


@bp.route("/incidents", methods=["POST"])
@staff_only
def report_incident() -> Any:
    form = request.form
    try:
        data = (schema := IncidentIn()).load(
            {
                "on": date.today().isoformat(),
                "severity": form.get("severity") or "",
                "category": form.get("category") or "",
                "owner": form.get("owner") or None,
                "description": (form.get("description") or "").strip() or None,
            }
        )
    except ValidationError as exc:
        flash_errors(exc.messages, schema)
        return redirect(url_for("dashboard.follow_up.incidents"))
    try:
        with sessions().begin() as session:
            handlers.report_incident(session, node(), form.get("mobility_id") or "", data)
    except handlers.NotFound:
        return not_found()
    except (handlers.Conflict, handlers.Invalid, handlers.Forbidden) as exc:
        flash(say(exc.message), "error")
        return redirect(url_for("dashboard.follow_up.incidents"))
    flash(_("Incident reported."), "success")
    return redirect(url_for("dashboard.follow_up.incidents"))


@bp.route("/incidents/<incident_id>", methods=["POST"])
@staff_only
def update_incident(incident_id: str) -> Any:
    form = request.form
    try:
        data = (schema := IncidentUpdateIn()).load(
            {
                "on": date.today().isoformat(),
                "status": form.get("status") or None,
                "owner": form.get("owner") or None,
                "resolution": (form.get("resolution") or "").strip() or None,
            }
        )
    except ValidationError as exc:
        flash_errors(exc.messages, schema)
        return redirect(url_for("dashboard.follow_up.incidents"))
    try:
        with sessions().begin() as session:
            handlers.update_incident(session, node(), incident_id, data)
    except handlers.NotFound:
        return not_found()
    except (handlers.Conflict, handlers.Invalid, handlers.Forbidden) as exc:
        flash(say(exc.message), "error")
        return redirect(url_for("dashboard.follow_up.incidents"))
    flash(_("Incident updated."), "success")
    return redirect(url_for("dashboard.follow_up.incidents"))


@bp.route("/agreements/<agreement_id>/evaluation")
def evaluation(agreement_id: str) -> Any:
    """The same figures as GET /api/v1/agreements/{id}/evaluation, with bar charts."""
    from services.registry.evaluation import evaluation as compute

    try:
        start = date.fromisoformat(request.args["start"]) if request.args.get("start") else None
        end = date.fromisoformat(request.args["end"]) if request.args.get("end") else None
    except ValueError:
        start = end = None
    audience = "partner" if request.args.get("audience") == "partner" else "agency"
    schedule = dependencies().follow_up.schedule
    try:
        with sessions()() as session:
            report = compute(session, node(), agreement_id, start, end, audience, schedule=schedule)
    except handlers.NotFound:
        return not_found()
    except handlers.Invalid as exc:
        flash(say(exc.message), "error")
        return redirect(url_for("dashboard.follow_up.evaluation", agreement_id=agreement_id))
    counts = ("quota", "proposed", "confirmed", "started", "completed", "interrupted")
    top = max([d[k] or 0 for d in report["directions"] for k in counts] + [1])
    return render_template(
        "follow_up/evaluation.html",
        title=_("Evaluation report (bilan)"),
        report=report,
        counts=counts,
        top=top,
        categories=dict(_choices(codes.INCIDENT_CATEGORIES)),
        severities=dict(_choices(codes.INCIDENT_SEVERITIES)),
        reasons=dict(_choices(codes.INTERRUPTION_REASONS)),
    )


@bp.route("/agreements/<agreement_id>/evaluation/lessons", methods=["POST"])
@staff_only
def share_lessons(agreement_id: str) -> Any:
    text = (request.form.get("text") or "").strip()
    if not text:
        flash(_("Write the lessons first."), "error")
        return redirect(url_for("dashboard.follow_up.evaluation", agreement_id=agreement_id))
    try:
        with sessions().begin() as session:
            handlers.share_lessons(session, node(), agreement_id, text[:8000], date.today())
    except handlers.NotFound:
        return not_found()
    flash(_("Lessons shared with the other parties."), "success")
    return redirect(url_for("dashboard.follow_up.evaluation", agreement_id=agreement_id))
