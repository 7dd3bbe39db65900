"""Contracts of what agencies exchange: volunteers, placements, agreements, matches."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from shared import codes, vocabularies
from shared.events.contracts.base import (
    AGENCY_CODE,
    IDENTIFIER,
    LanguageSkill,
    _Period,
    _reason,
    _Strict,
)

# --- volunteers -------------------------------------------------------------------------------


class VolunteerProfile(_Strict):
    """What other services need of a volunteer: no name, contact, birth date or identity."""

    volunteer_id = fields.String(required=True, validate=IDENTIFIER)
    agency = fields.String(required=True, validate=AGENCY_CODE)
    status = fields.String(required=True, validate=validate.OneOf(vocabularies.VOLUNTEER_STATUSES))
    skills = fields.List(fields.String(validate=validate.Length(1, 80)), load_default=list)
    domains = fields.List(fields.String(validate=validate.Length(1, 80)), load_default=list)
    languages = fields.List(fields.Nested(LanguageSkill), load_default=list)
    education_level = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=80)
    )
    available_from = fields.Date(allow_none=True, load_default=None)
    available_until = fields.Date(allow_none=True, load_default=None)
    preferred_countries = fields.List(fields.String(validate=AGENCY_CODE), load_default=list)
    registered_at = fields.DateTime(required=True)

    @validates_schema(skip_on_field_errors=False)
    def _availability(self, data, **_):  # noqa: ANN001, ANN202
        start, end = data.get("available_from"), data.get("available_until")
        if start and end and end < start:
            raise ValidationError("Must not be before available_from.", "available_until")


class VolunteerWithdrawn(_Strict):
    volunteer_id = fields.String(required=True, validate=IDENTIFIER)
    agency = fields.String(required=True, validate=AGENCY_CODE)
    reason = _reason(codes.WITHDRAWAL_REASONS, required=True)


# --- placements -------------------------------------------------------------------------------


class Placement(_Period):
    placement_id = fields.String(required=True, validate=IDENTIFIER)
    agency = fields.String(required=True, validate=AGENCY_CODE)
    host_organisation_id = fields.String(required=True, validate=IDENTIFIER)
    host_organisation_name = fields.String(required=True, validate=validate.Length(1, 200))
    city = fields.String(required=True, validate=validate.Length(1, 120))
    title = fields.String(required=True, validate=validate.Length(1, 200))
    domain = fields.String(required=True, validate=validate.Length(1, 80))
    required_skills = fields.List(fields.String(validate=validate.Length(1, 80)), load_default=list)
    required_languages = fields.List(fields.Nested(LanguageSkill), load_default=list)
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    slots = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))
    status = fields.String(required=True, validate=validate.OneOf(vocabularies.PLACEMENT_STATUSES))


class PlacementClosed(_Strict):
    placement_id = fields.String(required=True, validate=IDENTIFIER)
    agency = fields.String(required=True, validate=AGENCY_CODE)
    reason = _reason(codes.CLOSURE_REASONS, required=True)


# --- agreements -------------------------------------------------------------------------------


class Quota(_Strict):
    sending = fields.String(required=True, validate=AGENCY_CODE)
    host = fields.String(required=True, validate=AGENCY_CODE)
    volunteers = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000))


class AgreementTerms(_Period):
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    parties = fields.List(
        fields.String(validate=AGENCY_CODE), required=True, validate=validate.Length(min=2)
    )
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    quotas = fields.List(fields.Nested(Quota), required=True, validate=validate.Length(min=1))
    balance_tolerance = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000))
    fields_of_cooperation = fields.List(
        fields.String(validate=validate.Length(1, 80)), load_default=list
    )
    terms_hash = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    revision = fields.Integer(required=True, validate=validate.Range(min=1))


class LessonsShared(_Strict):
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    agency = fields.String(required=True, validate=AGENCY_CODE)
    # written by staff to be shared with the other parties (never with partners)
    text = fields.String(required=True, validate=validate.Length(1, 8000))
    on = fields.Date(required=True)


class AgreementApproval(_Strict):
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    agency = fields.String(required=True, validate=AGENCY_CODE)
    terms_hash = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    revision = fields.Integer(required=True, validate=validate.Range(min=1))


class AgreementTerminated(_Strict):
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    agency = fields.String(required=True, validate=AGENCY_CODE)
    reason = _reason(codes.TERMINATION_REASONS, required=True)
    effective = fields.Date(required=True)


# --- matches ----------------------------------------------------------------------------------


class CodedMessage(_Strict):
    """A message as a code and its parameters (shared/messages.py), for each reader's language."""

    code = fields.String(required=True, validate=validate.Length(1, 80))
    params = fields.Dict(keys=fields.String(validate=validate.Length(1, 40)), load_default=dict)


class CriterionScore(_Strict):
    criterion = fields.String(required=True, validate=validate.Length(1, 80))
    weight = fields.Float(required=True)
    value = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    explanation = fields.String(required=True, validate=validate.Length(max=500))
    # the explanation's parts as codes (added in v1: events without them stay valid)
    messages = fields.List(
        fields.Nested(CodedMessage), load_default=list, validate=validate.Length(max=20)
    )


class PlacementFacts(_Strict):
    title = fields.String(required=True, validate=validate.Length(1, 200))
    city = fields.String(required=True, validate=validate.Length(1, 120))
    host_organisation = fields.String(required=True, validate=validate.Length(0, 200))


class MatchProposed(_Strict):
    match_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    volunteer_id = fields.String(required=True, validate=IDENTIFIER)
    placement_id = fields.String(required=True, validate=IDENTIFIER)
    sending_agency = fields.String(required=True, validate=AGENCY_CODE)
    host_agency = fields.String(required=True, validate=AGENCY_CODE)
    score = fields.Float(required=True)
    criteria = fields.List(fields.Nested(CriterionScore), load_default=list)
    expires_at = fields.DateTime(allow_none=True, load_default=None)
    # what the sending agency may know of the place before it accepts (no personal data)
    placement = fields.Nested(PlacementFacts, load_default=None, allow_none=True)


class MatchAccepted(_Strict):
    match_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    volunteer_id = fields.String(required=True, validate=IDENTIFIER)
    placement_id = fields.String(required=True, validate=IDENTIFIER)
    agency = fields.String(required=True, validate=AGENCY_CODE)


class MatchDeclined(MatchAccepted):
    reason = _reason(codes.DECLINE_REASONS, required=True)


class MatchState(_Strict):
    match_id = fields.String(required=True, validate=IDENTIFIER)
    agreement_id = fields.String(required=True, validate=IDENTIFIER)
    volunteer_id = fields.String(required=True, validate=IDENTIFIER)
    placement_id = fields.String(required=True, validate=IDENTIFIER)
    sending_agency = fields.String(required=True, validate=AGENCY_CODE)
    host_agency = fields.String(required=True, validate=AGENCY_CODE)


class MatchCancelled(MatchState):
    reason = _reason(codes.CANCELLATION_REASONS, required=True)
