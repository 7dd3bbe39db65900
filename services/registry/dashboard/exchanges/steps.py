"""The steps of a mission (start, reports, end), the host's check-in answers and the
pre-departure checklist, recorded through the same handlers as the API."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import flash, redirect, request, url_for
from marshmallow import ValidationError

from services.registry import handlers
from services.registry.dashboard.context import node, sessions, staff_only
from services.registry.dashboard.exchanges.blueprint import bp
from services.registry.dashboard.exchanges.common import flash_errors, not_found
from services.registry.dashboard.i18n import _, lang
from services.registry.dashboard.labels.exchanges import check_in_labels, mobility_step_labels
from services.registry.dashboard.messages import say
from services.registry.domain.checklists import label as checklist_label

# -- mission steps -------------------------------------------------------------------------------

MOBILITY_STEPS = (
    "start",
    "report:start",
    "report:mid_term",
    "report:end",
    "report:incident",
    "report:evaluation",
    "complete",
    "interrupt",
)


@bp.route("/mobilities/<mobility_id>/step", methods=["POST"])
@staff_only
def mobility_step(mobility_id: str) -> Any:
    """One step of a mission, recorded through the same handlers as the API."""
    from services.registry.schemas import InterruptionIn, MobilityReportIn, MobilityStepIn

    schema: Any = None
    step = request.form.get("step", "")
    raw_on = (request.form.get("on") or "").strip()
    match = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", raw_on)
    on = (
        f"{match.group(3)}-{int(match.group(2)):02d}-{int(match.group(1)):02d}" if match else raw_on
    )
    try:
        if step == "start" or step == "complete":
            data = (schema := MobilityStepIn()).load({"on": on})
        elif step.startswith("report:"):
            summary = (request.form.get("summary") or "").strip() or None
            data = (schema := MobilityReportIn()).load(
                {"kind": step.split(":", 1)[1], "on": on, "summary": summary}
            )
        elif step == "interrupt":
            note = (request.form.get("summary") or "").strip() or None
            data = (schema := InterruptionIn()).load(
                {"on": on, "reason": request.form.get("reason") or "", "note": note}
            )
        else:
            flash(_("Choose what happened."), "error")
            return redirect(url_for("dashboard.exchanges.mobilities"))
    except ValidationError as exc:
        flash_errors(exc.messages, schema)
        return redirect(url_for("dashboard.exchanges.mobilities"))
    try:
        with sessions().begin() as session:
            if step == "start":
                handlers.start_mobility(session, node(), mobility_id, data["on"])
            elif step == "complete":
                handlers.complete_mobility(session, node(), mobility_id, data["on"])
            elif step == "interrupt":
                handlers.interrupt_mobility(
                    session, node(), mobility_id, data["on"], data["reason"], data["note"]
                )
            else:
                handlers.submit_report(
                    session, node(), mobility_id, data["kind"], data["on"], data["summary"]
                )
    except handlers.NotFound:
        return not_found()
    except (handlers.Conflict, handlers.Invalid, handlers.Forbidden) as exc:
        flash(say(exc.message), "error")
        return redirect(url_for("dashboard.exchanges.mobilities"))
    flash(_("Recorded: %(step)s.", step=mobility_step_labels()[step]), "success")
    return redirect(url_for("dashboard.exchanges.mobilities"))


@bp.route("/mobilities/<mobility_id>/check-in", methods=["POST"])
@staff_only
def answer_check_in(mobility_id: str) -> Any:
    """The host agency's answer to a check-in, through the same handler as the API."""
    from services.registry.schemas import CheckInIn

    form = request.form
    try:
        data = (schema := CheckInIn()).load(
            {
                "check_in": form.get("check_in") or "",
                "on": date.today().isoformat(),
                **{k: form.get(k) or None for k in ("wellbeing", "integration", "workload")},
                "issues": form.get("issues") or None,
                "note": (form.get("note") or "").strip() or None,
            }
        )
    except ValidationError as exc:
        flash_errors(exc.messages, schema)
        return redirect(url_for("dashboard.exchanges.mobilities"))
    answers = {k: data[k] for k in ("wellbeing", "integration", "workload", "issues")}
    try:
        with sessions().begin() as session:
            handlers.fill_check_in(
                session,
                node(),
                mobility_id,
                data["check_in"],
                "host_agency",
                data["on"],
                answers,
                data["note"],
            )
    except handlers.NotFound:
        return not_found()
    except (handlers.Conflict, handlers.Invalid, handlers.Forbidden) as exc:
        flash(say(exc.message), "error")
        return redirect(url_for("dashboard.exchanges.mobilities"))
    flash(_("Recorded: %(step)s.", step=check_in_labels()[data["check_in"]]), "success")
    return redirect(url_for("dashboard.exchanges.mobilities"))


@bp.route("/mobilities/<mobility_id>/checklist/<code>", methods=["POST"])
@staff_only
def tick_checklist(mobility_id: str, code: str) -> Any:
    """The sending agency ticks (or unticks) a pre-departure item today, as the API does."""
    done = request.form.get("done") == "1"
    try:
        with sessions().begin() as session:
            handlers.tick_checklist(session, node(), mobility_id, code, done, date.today())
    except handlers.NotFound:
        return not_found()
    except (handlers.Conflict, handlers.Invalid, handlers.Forbidden) as exc:
        flash(say(exc.message), "error")
        return redirect(url_for("dashboard.exchanges.mobilities"))
    item = checklist_label({"code": code}, lang())
    flash(
        _("Ticked: %(item)s.", item=item) if done else _("Unticked: %(item)s.", item=item),
        "success",
    )
    return redirect(url_for("dashboard.exchanges.mobilities"))
