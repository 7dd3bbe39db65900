"""Matches and mobilities in and out of the API: decisions and the steps of a mission."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from services.registry.schemas.common import _note, _reason
from shared import codes, vocabularies


class CriterionOut(Schema):
    criterion = fields.String()
    weight = fields.Float()
    value = fields.Float()
    explanation = fields.String()


class MatchOut(Schema):
    id = fields.String()
    agreement_id = fields.String()
    volunteer_id = fields.String()
    placement_id = fields.String()
    sending_agency = fields.String()
    host_agency = fields.String()
    score = fields.Float()
    criteria = fields.List(fields.Nested(CriterionOut))
    placement = fields.Dict(
        allow_none=True,
        metadata={"description": "title, city and host organisation, as matching describes it"},
    )
    decisions = fields.Dict(keys=fields.String(), values=fields.Dict())
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    status_note = fields.String(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class MatchQuery(Schema):
    status = fields.String(
        validate=validate.OneOf(["proposed", "confirmed", "declined", "cancelled"])
    )
    agreement_id = fields.String(validate=validate.Length(1, 64))
    awaiting_us = fields.Boolean(
        metadata={"description": "Only proposals this agency has not decided yet"}
    )


class DeclineIn(Schema):
    reason = _reason(codes.DECLINE_REASONS)
    note = _note()


class MobilityStepIn(Schema):
    on = fields.Date(required=True, metadata={"description": "The day it happened"})


class StartIn(MobilityStepIn):
    planned_end = fields.Date(
        load_default=None,
        metadata={
            "description": "When the mission should end (default: the placement's end on the "
            "host's node, the agreement's end elsewhere); places the check-ins"
        },
    )


class MobilityReportIn(Schema):
    kind = fields.String(
        required=True,
        validate=validate.OneOf(vocabularies.REPORT_KINDS),
    )
    on = fields.Date(required=True)
    summary = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=4000),
        metadata={"description": "Kept on this node only: free text never travels in events"},
    )


class InterruptionIn(Schema):
    on = fields.Date(required=True)
    reason = _reason(codes.INTERRUPTION_REASONS)
    note = _note()


class MobilityOut(Schema):
    id = fields.String()
    match_id = fields.String()
    agreement_id = fields.String()
    sending_agency = fields.String()
    host_agency = fields.String()
    status = fields.String()
    started_on = fields.Date(allow_none=True)
    ended_on = fields.Date(allow_none=True)
    reports = fields.List(fields.Dict())
    interruption_reason = fields.String(allow_none=True)
    interruption_note = fields.String(allow_none=True)
    planned_end = fields.Date(allow_none=True)
    check_ins = fields.List(fields.Dict(), metadata={"description": "Answered check-ins"})
    reviews = fields.List(fields.Dict(), metadata={"description": "End-of-mission reviews"})
    placement = fields.Dict(
        allow_none=True,
        metadata={"description": "The host's description: title, city, host organisation, dates"},
    )
    checklist = fields.Method(
        "_checklist",
        metadata={
            "description": "The sending agency's pre-departure checklist: code, mandatory, done, "
            "on (the sending node only) and the English and French labels"
        },
    )
    updated_at = fields.DateTime()

    def _checklist(self, row: Any) -> list[dict[str, Any]]:
        from services.registry.domain.checklists import label

        items = (getattr(row, "checklist", None) or {}).get("items", [])
        return [
            {
                "code": i["code"],
                "mandatory": bool(i.get("mandatory")),
                "done": bool(i.get("done")),
                "on": i.get("on"),
                "label_en": label(i, "en"),
                "label_fr": label(i, "fr"),
            }
            for i in items
        ]
