"""Follow-up in and out of the API: check-ins, incidents and their schedules and links."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared import codes, vocabularies


class CheckInIn(Schema):
    check_in = fields.String(required=True, validate=validate.OneOf(vocabularies.CHECK_INS))
    on = fields.Date(required=True)
    wellbeing = fields.Integer(required=True, validate=validate.Range(1, 5))
    integration = fields.Integer(required=True, validate=validate.Range(1, 5))
    workload = fields.Integer(required=True, validate=validate.Range(1, 5))
    issues = fields.Boolean(required=True)
    note = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=4000),
        metadata={"description": "Kept on this node only: free text never travels in events"},
    )


class IncidentIn(Schema):
    on = fields.Date(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(codes.INCIDENT_SEVERITIES))
    category = fields.String(required=True, validate=validate.OneOf(codes.INCIDENT_CATEGORIES))
    owner = fields.String(
        load_default=None, metadata={"description": "The agency handling it (default: yours)"}
    )
    description = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=4000),
        metadata={"description": "Kept on this node only: free text never travels in events"},
    )


class IncidentUpdateIn(Schema):
    on = fields.Date(required=True)
    status = fields.String(load_default=None, validate=validate.OneOf(codes.INCIDENT_STATUSES))
    severity = fields.String(load_default=None, validate=validate.OneOf(codes.INCIDENT_SEVERITIES))
    owner = fields.String(load_default=None, metadata={"description": "Hand it over"})
    resolution = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=4000),
        metadata={"description": "Kept on this node only"},
    )


class IncidentOut(Schema):
    id = fields.String()
    mobility_id = fields.String()
    agreement_id = fields.String()
    sending_agency = fields.String()
    host_agency = fields.String()
    reported_by = fields.String()
    reported_on = fields.Date()
    severity = fields.String()
    category = fields.String()
    owner = fields.String()
    status = fields.String()
    resolved_on = fields.Date(allow_none=True)
    description = fields.String(allow_none=True, metadata={"description": "This node's own"})
    resolution = fields.String(allow_none=True, metadata={"description": "This node's own"})
    updated_at = fields.DateTime()


class CheckInScheduleOut(Schema):
    mobility_id = fields.String()
    started_on = fields.Date(allow_none=True)
    planned_end = fields.Date(allow_none=True)
    check_ins = fields.List(
        fields.Dict(),
        metadata={"description": "check_in, due_on, answers per respondent (or null)"},
    )


class CheckInLinkOut(Schema):
    url = fields.String()
