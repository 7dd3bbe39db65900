"""Request and response schemas of the registry API (validated in, documented in OpenAPI)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from services.registry.domain.volunteers import STATUSES
from shared import codes, vocabularies
from shared.vocabularies import CONSENT_PURPOSES, GENDERS
from shared.vocabularies import EDUCATION_LEVELS as EDUCATION
from shared.vocabularies import LANGUAGE_LEVELS as LEVELS


def _country(value: str) -> None:
    if not codes.is_country(value):
        raise ValidationError(f"Unknown ISO 3166 country/agency code: {value!r}.")


def _language(value: str) -> None:
    if not codes.is_language(value):
        raise ValidationError(f"Unknown ISO 639 language code: {value!r}.")


Tag = fields.String(validate=validate.Length(1, 80))


class LanguageSkill(Schema):
    code = fields.String(required=True, validate=_language)
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))


class Consent(Schema):
    given_at = fields.AwareDateTime(required=True, default_timezone=None)
    purposes = fields.List(
        fields.String(validate=validate.OneOf(CONSENT_PURPOSES)),
        required=True,
        validate=validate.Length(min=1),
    )


def _reason(labels: codes.Labels) -> fields.String:
    return fields.String(
        required=True,
        validate=validate.OneOf(list(labels)),
        metadata={"description": "A code of the documented list: " + ", ".join(labels)},
    )


def _note() -> fields.String:
    return fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Kept on this node only: free text never travels in events"},
    )


class _Window(Schema):
    @validates_schema(skip_on_field_errors=False)
    def _window(self, data, **_):  # noqa: ANN001, ANN202
        start, end = data.get("available_from"), data.get("available_until")
        if start and end and end < start:
            raise ValidationError("Must not be before available_from.", "available_until")


class VolunteerIn(_Window):
    first_name = fields.String(required=True, validate=validate.Length(1, 100))
    last_name = fields.String(required=True, validate=validate.Length(1, 100))
    date_of_birth = fields.Date(required=True)
    gender = fields.String(required=True, validate=validate.OneOf(GENDERS))
    nationality = fields.String(required=True, validate=_country)
    identity_number = fields.String(required=True, validate=validate.Length(3, 64))
    email = fields.Email(load_default=None, allow_none=True)
    phone = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$", error="Not a phone number."),
    )
    preferred_language = fields.String(load_default="fr", validate=validate.OneOf(["fr", "en"]))
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    consent = fields.Nested(Consent, required=True)
    languages = fields.List(
        fields.Nested(LanguageSkill), load_default=list, validate=validate.Length(max=20)
    )
    skills = fields.List(Tag, load_default=list, validate=validate.Length(max=50))
    domains = fields.List(Tag, load_default=list, validate=validate.Length(max=20))
    education_level = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(EDUCATION)
    )
    available_from = fields.Date(load_default=None, allow_none=True)
    available_until = fields.Date(load_default=None, allow_none=True)
    preferred_countries = fields.List(fields.String(validate=_country), load_default=list)

    @validates("date_of_birth")
    def _adult(self, value, **_):  # noqa: ANN001, ANN202
        from datetime import date

        today = date.today()
        if value >= today:
            raise ValidationError("Must be in the past.")
        if value.year < 1900:
            raise ValidationError("Must be after 1900.")


class VolunteerPatch(_Window):
    """Every field optional; identity (names, birth date, identity number) is changed by admins."""

    email = fields.Email(allow_none=True)
    phone = fields.String(
        allow_none=True, validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$", error="Not a phone number.")
    )
    preferred_language = fields.String(validate=validate.OneOf(["fr", "en"]))
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))
    languages = fields.List(fields.Nested(LanguageSkill), validate=validate.Length(max=20))
    skills = fields.List(Tag, validate=validate.Length(max=50))
    domains = fields.List(Tag, validate=validate.Length(max=20))
    education_level = fields.String(allow_none=True, validate=validate.OneOf(EDUCATION))
    available_from = fields.Date(allow_none=True)
    available_until = fields.Date(allow_none=True)
    preferred_countries = fields.List(fields.String(validate=_country))


class VolunteerOut(Schema):
    id = fields.String()
    agency = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    date_of_birth = fields.Date()
    gender = fields.String()
    nationality = fields.String()
    identity_number = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    preferred_language = fields.String()
    notes = fields.String(allow_none=True)
    consent_given_at = fields.DateTime()
    consent_purposes = fields.List(fields.String())
    languages = fields.List(fields.Nested(LanguageSkill))
    skills = fields.List(fields.String())
    domains = fields.List(fields.String())
    education_level = fields.String(allow_none=True)
    available_from = fields.Date(allow_none=True)
    available_until = fields.Date(allow_none=True)
    preferred_countries = fields.List(fields.String())
    status = fields.String()
    withdrawn_reason = fields.String(allow_none=True)
    withdrawn_note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ContactOut(Schema):
    id = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    preferred_language = fields.String()


class DossierVolunteerOut(VolunteerOut):
    """What the host agency's node reads: personal data, but no note typed on this node."""

    class Meta:
        exclude = ("notes", "withdrawn_note")


class DossierOut(Schema):
    match_id = fields.String()
    volunteer = fields.Nested(DossierVolunteerOut)


class VolunteerQuery(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    skill = fields.String(validate=validate.Length(1, 80))
    domain = fields.String(validate=validate.Length(1, 80))
    language = fields.String(validate=_language)
    q = fields.String(
        validate=validate.Length(1, 100),
        metadata={"description": "Name contains (case-insensitive)"},
    )


class Withdrawal(Schema):
    reason = _reason(codes.WITHDRAWAL_REASONS)
    note = _note()


class HostOrganisationIn(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    city = fields.String(required=True, validate=validate.Length(1, 120))
    domain = fields.String(required=True, validate=validate.Length(1, 80))
    contact_email = fields.Email(load_default=None, allow_none=True)
    contact_phone = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$", error="Not a phone number."),
    )


class HostOrganisationOut(HostOrganisationIn):
    """Contacts (e-mail, phone) are shown to the own agency's staff and node only."""

    id = fields.String()
    agency = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class _Period(Schema):
    @validates_schema(skip_on_field_errors=False)
    def _period(self, data, **_):  # noqa: ANN001, ANN202
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise ValidationError("Must not be before start.", "end")


class PlacementIn(_Period):
    host_organisation_id = fields.String(required=True, validate=validate.Length(1, 64))
    title = fields.String(required=True, validate=validate.Length(1, 200))
    city = fields.String(required=True, validate=validate.Length(1, 120))
    domain = fields.String(required=True, validate=validate.Length(1, 80))
    required_skills = fields.List(Tag, load_default=list, validate=validate.Length(max=30))
    required_languages = fields.List(
        fields.Nested(LanguageSkill), load_default=list, validate=validate.Length(max=10)
    )
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    slots = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))


class PlacementPatch(_Period):
    title = fields.String(validate=validate.Length(1, 200))
    city = fields.String(validate=validate.Length(1, 120))
    domain = fields.String(validate=validate.Length(1, 80))
    required_skills = fields.List(Tag, validate=validate.Length(max=30))
    required_languages = fields.List(fields.Nested(LanguageSkill), validate=validate.Length(max=10))
    start = fields.Date()
    end = fields.Date()
    slots = fields.Integer(validate=validate.Range(min=1, max=1000))


class PlacementOut(Schema):
    id = fields.String()
    agency = fields.String()
    host_organisation_id = fields.String()
    title = fields.String()
    city = fields.String()
    domain = fields.String()
    required_skills = fields.List(fields.String())
    required_languages = fields.List(fields.Nested(LanguageSkill))
    start = fields.Date()
    end = fields.Date()
    slots = fields.Integer()
    status = fields.String()
    closed_reason = fields.String(allow_none=True, metadata={"description": "Own agency only"})
    closed_note = fields.String(allow_none=True, metadata={"description": "Own agency only"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PlacementQuery(Schema):
    status = fields.String(validate=validate.OneOf(vocabularies.PLACEMENT_STATUSES))
    domain = fields.String(validate=validate.Length(1, 80))
    host_organisation_id = fields.String(validate=validate.Length(1, 64))


class Closure(Schema):
    reason = _reason(codes.CLOSURE_REASONS)
    note = _note()


class QuotaSchema(Schema):
    sending = fields.String(required=True, validate=_country)
    host = fields.String(required=True, validate=_country)
    volunteers = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000))


class AgreementTermsIn(_Period):
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    quotas = fields.List(
        fields.Nested(QuotaSchema), required=True, validate=validate.Length(min=1, max=20)
    )
    balance_tolerance = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000))
    fields_of_cooperation = fields.List(Tag, load_default=list, validate=validate.Length(max=20))


class AgreementProposal(AgreementTermsIn):
    partners = fields.List(
        fields.String(validate=_country),
        required=True,
        validate=validate.Length(min=1, max=10),
        metadata={"description": "The other parties (this node's agency is always a party)."},
    )


class ApprovalIn(Schema):
    terms_hash = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9a-f]{64}$", error="Not a SHA-256 hex digest."),
    )


class TerminationIn(Schema):
    reason = _reason(codes.TERMINATION_REASONS)
    effective = fields.Date(required=True)
    note = _note()


class AgreementOut(Schema):
    id = fields.String()
    parties = fields.List(fields.String())
    proposer = fields.String()
    start = fields.Date()
    end = fields.Date()
    quotas = fields.List(fields.Nested(QuotaSchema))
    balance_tolerance = fields.Integer()
    fields_of_cooperation = fields.List(fields.String())
    revision = fields.Integer()
    terms_hash = fields.String()
    approvals = fields.Dict(keys=fields.String(), values=fields.String())
    status = fields.String()
    terminated_by = fields.String(allow_none=True)
    termination_reason = fields.String(allow_none=True, metadata={"description": "Parties only"})
    termination_note = fields.String(allow_none=True, metadata={"description": "Own agency only"})
    terminated_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AgreementQuery(Schema):
    status = fields.String(
        validate=validate.OneOf(["proposed", "active", "amended", "terminated", "expired"])
    )
    partner = fields.String(validate=_country)


class LedgerDirection(Schema):
    sending = fields.String()
    host = fields.String()
    quota = fields.Integer()
    proposed = fields.Integer()
    confirmed = fields.Integer()
    started = fields.Integer()
    completed = fields.Integer()
    remaining = fields.Integer()


class LedgerOut(Schema):
    agreement_id = fields.String()
    status = fields.String()
    balance_tolerance = fields.Integer()
    balance = fields.Integer(
        metadata={"description": "Largest difference of confirmed counts between directions"}
    )
    within_tolerance = fields.Boolean()
    directions = fields.List(fields.Nested(LedgerDirection))


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


class ChecklistTickIn(Schema):
    done = fields.Boolean(load_default=True, metadata={"description": "False unticks the item"})
    on = fields.Date(required=True, metadata={"description": "The day it was done"})


class ChecklistItemIn(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$"))
    mandatory = fields.Boolean(load_default=True)
    label_en = fields.String(load_default=None, validate=validate.Length(1, 200))
    label_fr = fields.String(load_default=None, validate=validate.Length(1, 200))


class ChecklistIn(Schema):
    items = fields.List(
        fields.Nested(ChecklistItemIn), required=True, validate=validate.Length(1, 50)
    )


class ChecklistOut(Schema):
    items = fields.List(fields.Dict())


class AgencyOut(Schema):
    code = fields.String()
    name = fields.String()
    languages = fields.List(fields.String())
    contact_email = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True)
    node_url = fields.String(allow_none=True)


class AgencyIn(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    languages = fields.List(
        fields.String(validate=_language), required=True, validate=validate.Length(min=1, max=10)
    )
    contact_email = fields.Email(load_default=None, allow_none=True)
    contact_phone = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$"),
        metadata={"description": "The staff's phone for urgent incidents (SMS)"},
    )
    node_url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"})


class FeedQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class FeedOut(Schema):
    events = fields.List(fields.Dict())
    next_after = fields.Integer()
