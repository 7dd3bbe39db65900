"""Contracts of a mission's follow-up: steps, reports, check-ins, incidents, reviews."""

from __future__ import annotations

from marshmallow import fields, validate

from shared import codes, vocabularies
from shared.events.contracts.base import AGENCY_CODE, IDENTIFIER, _reason, _Strict


class Mobility(_Strict):
    mobility_id = fields.String(required=True, validate=IDENTIFIER)
    match_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    sending_agency = fields.String(required=True, validate=AGENCY_CODE)
    host_agency = fields.String(required=True, validate=AGENCY_CODE)
    on = fields.Date(required=True)


class MobilityReport(_Strict):
    mobility_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    kind = fields.String(required=True, validate=validate.OneOf(vocabularies.REPORT_KINDS))
    submitted_by = fields.String(required=True, validate=AGENCY_CODE)
    on = fields.Date(required=True)


class MobilityInterrupted(Mobility):
    reason = _reason(codes.INTERRUPTION_REASONS, required=True)


class MobilityStarted(Mobility):
    planned_end = fields.Date(metadata={"description": "When the mission is planned to end"})


_CHECK_INS = validate.OneOf(vocabularies.CHECK_INS)
_RESPONDENTS = vocabularies.CHECK_IN_RESPONDENTS


def _score() -> fields.Integer:
    return fields.Integer(required=True, validate=validate.Range(min=1, max=5))


class CheckInSubmitted(_Strict):
    mobility_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    check_in = fields.String(required=True, validate=_CHECK_INS)
    respondent = fields.String(required=True, validate=validate.OneOf(_RESPONDENTS))
    submitted_by = fields.String(required=True, validate=AGENCY_CODE)
    on = fields.Date(required=True)
    wellbeing = _score()
    integration = _score()
    workload = _score()
    issues = fields.Boolean(required=True)


class CheckInDue(_Strict):
    mobility_id = fields.String(required=True, validate=IDENTIFIER)
    match_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    sending_agency = fields.String(required=True, validate=AGENCY_CODE)
    host_agency = fields.String(required=True, validate=AGENCY_CODE)
    check_in = fields.String(required=True, validate=_CHECK_INS)
    due_on = fields.Date(required=True)
    stage = fields.String(required=True, validate=validate.OneOf(["before", "after", "overdue"]))
    respondents = fields.List(
        fields.String(validate=validate.OneOf(_RESPONDENTS)),
        required=True,
        validate=validate.Length(1, 2),
    )
    # a reminder to the volunteer only, addressed to the sending agency alone
    volunteer_id = fields.String(validate=IDENTIFIER)
    link = fields.String(
        validate=validate.Length(max=2000),
        metadata={"description": "The volunteer's signed check-in link"},
    )


class IncidentState(_Strict):
    incident_id = fields.String(required=True, validate=IDENTIFIER)
    mobility_id = fields.String(required=True, validate=IDENTIFIER)
    match_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    sending_agency = fields.String(required=True, validate=AGENCY_CODE)
    host_agency = fields.String(required=True, validate=AGENCY_CODE)
    reported_by = fields.String(required=True, validate=AGENCY_CODE)
    on = fields.Date(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(codes.INCIDENT_SEVERITIES))
    category = fields.String(required=True, validate=validate.OneOf(codes.INCIDENT_CATEGORIES))
    status = fields.String(required=True, validate=validate.OneOf(codes.INCIDENT_STATUSES))
    owner = fields.String(required=True, validate=AGENCY_CODE)
    version = fields.Integer(required=True, validate=validate.Range(min=1))


class MobilityHosted(_Strict):
    mobility_id = fields.String(required=True, validate=IDENTIFIER)
    match_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    sending_agency = fields.String(required=True, validate=AGENCY_CODE)
    host_agency = fields.String(required=True, validate=AGENCY_CODE)
    placement_id = fields.String(required=True, validate=IDENTIFIER)
    title = fields.String(required=True, validate=validate.Length(1, 200))
    city = fields.String(required=True, validate=validate.Length(1, 120))
    host_organisation = fields.String(required=True, validate=validate.Length(0, 200))
    start = fields.Date(required=True)
    end = fields.Date(required=True)


class ReviewSubmitted(_Strict):
    mobility_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    respondent = fields.String(
        required=True, validate=validate.OneOf(vocabularies.REVIEW_RESPONDENTS)
    )
    submitted_by = fields.String(required=True, validate=AGENCY_CODE)
    on = fields.Date(required=True)
    overall = _score()
    objectives = _score()
    support = _score()


class ChecklistItem(_Strict):
    # a standard code of shared/codes.py CHECKLIST_ITEMS or one of the sending agency's own
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$"))
    mandatory = fields.Boolean(required=True)
    done = fields.Boolean(required=True)


class MobilityChecklist(_Strict):
    mobility_id = fields.String(required=True, validate=IDENTIFIER)
    match_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    sending_agency = fields.String(required=True, validate=AGENCY_CODE)
    host_agency = fields.String(required=True, validate=AGENCY_CODE)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    items = fields.List(
        fields.Nested(ChecklistItem), required=True, validate=validate.Length(1, 50)
    )
