"""The agreement's evaluation report ("bilan") as JSON, PDF or XLSX."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from services.registry import handlers
from services.registry.access import READERS, STAFF, actor, allow
from services.registry.adapters.reports import to_pdf, to_xlsx
from services.registry.dependencies import dependencies
from services.registry.evaluation import evaluation
from services.registry.views import read, write
from shared.auth import Role

blp = Blueprint(
    "evaluation", __name__, url_prefix="/api/v1/agreements", description="Evaluation reports"
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class EvaluationQuery(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "pdf", "xlsx"]))
    start = fields.Date(load_default=None, metadata={"description": "Default: the agreement's"})
    end = fields.Date(load_default=None, metadata={"description": "Default: the agreement's"})
    audience = fields.String(
        load_default="agency",
        validate=validate.OneOf(["agency", "partner"]),
        metadata={"description": "partner: aggregates only, no figure on fewer than 3"},
    )
    lang = fields.String(load_default="fr", validate=validate.OneOf(["fr", "en"]))


@blp.route("/<agreement_id>/evaluation", methods=["GET"])
@allow(*READERS)
@blp.arguments(EvaluationQuery, location="query")
@blp.response(200, content_type="application/json")
@blp.alt_response(200, content_type="application/pdf", success=True, description="format=pdf")
def get_evaluation(query: dict[str, Any], agreement_id: str) -> Any:
    """Quota against proposed, confirmed, started, completed and interrupted per direction, the
    balance, times to proposal and departure, check-ins, incidents, questionnaires. A partner
    token always gets the partner version."""
    audience = "partner" if actor().role == Role.PARTNER else query["audience"]
    schedule = dependencies().follow_up.schedule
    report = read(
        lambda s, n: evaluation(
            s, n, agreement_id, query["start"], query["end"], audience, schedule=schedule
        )
    )
    if query["format"] == "pdf":
        return Response(to_pdf(report, query["lang"]), mimetype="application/pdf")
    if query["format"] == "xlsx":
        return Response(to_xlsx(report, query["lang"]), mimetype=XLSX)
    return report


class LessonsIn(Schema):
    text = fields.String(required=True, validate=validate.Length(1, 8000))
    on = fields.Date(required=True)


class LessonsOut(Schema):
    lessons = fields.Dict(keys=fields.String(), values=fields.Dict())


@blp.route("/<agreement_id>/evaluation/lessons", methods=["PUT"])
@allow(*STAFF)
@blp.arguments(LessonsIn)
@blp.response(200, LessonsOut)
def put_lessons(data: dict[str, Any], agreement_id: str) -> dict[str, Any]:
    """This agency's lessons and recommendations, shared with the other parties
    (agreement.lessons_shared) and shown in their report; never in the partner version."""
    return {"lessons": write(handlers.share_lessons, agreement_id, data["text"], data["on"])}
