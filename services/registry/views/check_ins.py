"""Check-ins: the host agency answers through the API, the volunteer through a signed link."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import render_template, request
from flask_smorest import Blueprint, abort
from marshmallow import ValidationError

from services.registry import handlers
from services.registry.access import STAFF, allow
from services.registry.adapters.links import InvalidLink
from services.registry.adapters.orm import Mobility
from services.registry.adapters.repository import mobility as aggregate
from services.registry.dependencies import FollowUp, dependencies
from services.registry.schemas import CheckInIn, CheckInLinkOut, CheckInScheduleOut, MobilityOut
from services.registry.views import node, read, sessions, write
from shared.i18n import language_of
from shared.vocabularies import CHECK_IN_RESPONDENTS as RESPONDENTS
from shared.vocabularies import CHECK_INS

blp = Blueprint(
    "check_ins", __name__, url_prefix="/api/v1", description="Check-ins of missions in progress"
)
volunteer_page = FlaskBlueprint("check_in_link", __name__, template_folder="../templates")


def _settings() -> FollowUp:
    return dependencies().follow_up


def schedule_of(session: Any, node_: handlers.Node, mobility_id: str) -> dict[str, Any]:
    row = handlers.get_mobility(session, node_, mobility_id)
    m = aggregate(row)
    due = m.due_dates(_settings().schedule)
    answers = {(c["check_in"], c["respondent"]): c for c in m.check_ins}
    return {
        "mobility_id": m.id,
        "started_on": m.started_on,
        "planned_end": m.planned_end,
        "check_ins": [
            {
                "check_in": code,
                "due_on": due[code].isoformat() if code in due else None,
                "answers": {r: answers.get((code, r)) for r in RESPONDENTS},
            }
            for code in CHECK_INS
        ],
    }


@blp.route("/mobilities/<mobility_id>/check-ins", methods=["GET"])
@allow(*STAFF)
@blp.response(200, CheckInScheduleOut)
def get_check_ins(mobility_id: str) -> dict[str, Any]:
    """The schedule (this node's setting), due dates and answers; notes only as written here."""
    return read(schedule_of, mobility_id)


@blp.route("/mobilities/<mobility_id>/check-ins", methods=["POST"])
@allow(*STAFF)
@blp.arguments(CheckInIn)
@blp.response(200, MobilityOut)
def answer_check_in(data: dict[str, Any], mobility_id: str) -> Mobility:
    """The host agency answers a check-in (the sending agency gets 403: its volunteer answers
    through the signed link). Emits mobility.check_in_submitted without the note."""
    answers = {k: data[k] for k in ("wellbeing", "integration", "workload", "issues")}
    return write(
        handlers.fill_check_in,
        mobility_id,
        data["check_in"],
        "host_agency",
        data["on"],
        answers,
        data["note"],
    )


@blp.route("/mobilities/<mobility_id>/check-ins/<check_in>/link", methods=["GET"])
@allow(*STAFF)
@blp.response(200, CheckInLinkOut)
def volunteer_link(mobility_id: str, check_in: str) -> dict[str, Any]:
    """The volunteer's signed link for a check-in, for the sending agency to pass on by hand
    (reminders carry it too); the host agency gets 403."""
    if check_in not in CHECK_INS:
        abort(404, message=f"No check-in {check_in}.")
    row = read(handlers.get_mobility, mobility_id)
    if row.sending_agency != node().agency:
        abort(403, message=f"Only the sending agency {row.sending_agency} sends this link.")
    return {"url": _settings().links.url(mobility_id, check_in)}


# -- the volunteer's page: no account, the signed link is the key ---------------------------------


def _page(token: str, **context: Any) -> tuple[str, int]:
    status = context.pop("status", 200)
    language = language_of(request.args.get("lang") or request.accept_languages.best)
    return render_template(
        "check_in.html", token=token, lang=language, scores=(1, 2, 3, 4, 5), **context
    ), status


@volunteer_page.route("/check-in/<token>", methods=["GET", "POST"])
def check_in_form(token: str) -> Any:
    """The volunteer's check-in form (French first, English). A forged or expired link shows
    nothing of the mission; an answered check-in is acknowledged, not answered twice."""
    try:
        mobility_id, check_in = _settings().links.read(token)
    except InvalidLink:
        return _page(token, state="invalid", status=404)
    if request.method == "GET":
        return _page(token, state="form", check_in=check_in)
    form = request.form
    try:
        answers = CheckInIn().load(
            {
                "check_in": check_in,
                "on": date.today().isoformat(),
                "wellbeing": form.get("wellbeing"),
                "integration": form.get("integration"),
                "workload": form.get("workload"),
                "issues": form.get("issues"),
                "note": (form.get("note") or "").strip() or None,
            }
        )
    except ValidationError as exc:
        return _page(token, state="form", check_in=check_in, errors=exc.messages, status=422)
    try:
        with sessions().begin() as session:
            handlers.fill_check_in(
                session,
                node(),
                mobility_id,
                check_in,
                "volunteer",
                answers["on"],
                {k: answers[k] for k in ("wellbeing", "integration", "workload", "issues")},
                answers["note"],
            )
    except handlers.NotFound:
        return _page(token, state="invalid", status=404)
    except (handlers.Conflict, handlers.Forbidden, handlers.Invalid):
        return _page(token, state="closed", status=409)
    return _page(token, state="thanks")
