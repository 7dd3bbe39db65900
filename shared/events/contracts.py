"""The public event catalog: one marshmallow schema per event type and version.

Partners build against these schemas (they are also published as AsyncAPI). Personal data is
kept out of every payload except where a receiver needs it: matching needs skills, languages and
availability, never names or contacts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared import codes, vocabularies

SCHEMA_URI = "https://schemas.vir-exchange.org/events/{type}/v{version}.json"
_SCHEMA_URI_RE = re.compile(
    r"^https://schemas\.vir-exchange\.org/events/(?P<type>[a-z_.]+)/v(?P<v>\d+)\.json$"
)

AGENCY_CODE = validate.Regexp(r"^[A-Z]{2}$", error="Not an ISO 3166 alpha-2 agency code.")
LANGUAGE_CODE = validate.Regexp(r"^[a-z]{2,3}$", error="Not an ISO 639 language code.")
IDENTIFIER = validate.Length(min=1, max=64)


def _reason(labels: codes.Labels, **kwargs: object) -> fields.String:
    """A reason as a code of one documented list (shared/codes.py): never free text."""
    return fields.String(validate=validate.OneOf(list(labels)), **kwargs)  # type: ignore[arg-type]


class _Strict(Schema):
    class Meta:
        ordered = True


class _Period(_Strict):
    @validates_schema(skip_on_field_errors=False)
    def _end_after_start(self, data, **_):  # noqa: ANN001, ANN202
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise ValidationError("Must not be before start.", "end")


class LanguageSkill(_Strict):
    code = fields.String(required=True, validate=LANGUAGE_CODE)
    level = fields.String(required=True, validate=validate.OneOf(vocabularies.LANGUAGE_LEVELS))


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


class CriterionScore(_Strict):
    criterion = fields.String(required=True, validate=validate.Length(1, 80))
    weight = fields.Float(required=True)
    value = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    explanation = fields.String(required=True, validate=validate.Length(max=500))


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


# --- mobilities -------------------------------------------------------------------------------


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


# --- notifications ----------------------------------------------------------------------------


class NotificationOutcome(_Strict):
    notification_id = fields.String(required=True, validate=IDENTIFIER)
    about_event_id = fields.String(required=True, validate=IDENTIFIER)
    about_event_type = fields.String(required=True, validate=validate.Length(1, 64))
    channel = fields.String(
        required=True, validate=validate.OneOf(["email", "sms", "webhook", "amqp"])
    )
    recipient_kind = fields.String(
        required=True,
        validate=validate.OneOf(["volunteer", "host_organisation", "staff", "partner"]),
    )
    attempts = fields.Integer(required=True, validate=validate.Range(min=1))
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500))


SchemaClass = type[Schema]


@dataclass(frozen=True)
class Contract:
    type: str
    version: int
    schema: SchemaClass
    summary: str


CATALOG: tuple[Contract, ...] = (
    Contract(
        "volunteer.registered", 1, VolunteerProfile, "A sending agency registered a volunteer."
    ),
    Contract("volunteer.updated", 1, VolunteerProfile, "A volunteer's matching profile changed."),
    Contract("volunteer.withdrawn", 1, VolunteerWithdrawn, "A volunteer left the programme."),
    Contract("placement.published", 1, Placement, "A host agency opened a placement."),
    Contract("placement.updated", 1, Placement, "A placement changed."),
    Contract("placement.closed", 2, PlacementClosed, "A placement no longer takes volunteers."),
    Contract("agreement.proposed", 1, AgreementTerms, "An agency proposed agreement terms."),
    Contract(
        "agreement.approved", 1, AgreementApproval, "A party approved one version of the terms."
    ),
    Contract("agreement.activated", 1, AgreementTerms, "Every party approved the same terms."),
    Contract(
        "agreement.lessons_shared",
        1,
        LessonsShared,
        "A party's lessons and recommendations for the agreement's evaluation report.",
    ),
    Contract("agreement.amended", 1, AgreementTerms, "Terms changed; approvals were reset."),
    Contract("agreement.terminated", 2, AgreementTerminated, "A party ended the agreement."),
    Contract("match.proposed", 1, MatchProposed, "Matching proposed a volunteer for a placement."),
    Contract("match.accepted", 2, MatchAccepted, "One agency accepted a proposal."),
    Contract("match.declined", 2, MatchDeclined, "One agency declined a proposal (reason code)."),
    Contract("match.confirmed", 2, MatchState, "Both agencies accepted: the match is final."),
    Contract("match.cancelled", 2, MatchCancelled, "A proposal or match was withdrawn."),
    Contract(
        "mobility.checklist_updated",
        1,
        MobilityChecklist,
        "The sending agency ticked its pre-departure checklist (codes and ticks, no labels).",
    ),
    Contract("mobility.started", 1, MobilityStarted, "A volunteer started the mission."),
    Contract(
        "mobility.hosted",
        1,
        MobilityHosted,
        "The host agency describes the placement of a new mobility (title, city, organisation).",
    ),
    Contract(
        "mobility.review_submitted",
        1,
        ReviewSubmitted,
        "An end-of-mission questionnaire answered (scores only; comments stay local).",
    ),
    Contract(
        "mobility.incident_reported",
        1,
        IncidentState,
        "An incident during a mission: category, severity, owner, status (no description).",
    ),
    Contract(
        "mobility.incident_updated",
        1,
        IncidentState,
        "The incident's owner moved it on, re-rated it or handed it over (no resolution text).",
    ),
    Contract(
        "mobility.check_in_submitted",
        1,
        CheckInSubmitted,
        "A check-in answered by the host agency or the volunteer (scores, issues; no text).",
    ),
    Contract(
        "mobility.check_in_due",
        1,
        CheckInDue,
        "A check-in falls due (before), is late (after) or overdue (both agencies alerted).",
    ),
    Contract("mobility.report_submitted", 1, MobilityReport, "A follow-up report was filed."),
    Contract("mobility.completed", 1, Mobility, "A mission ended as planned."),
    Contract("mobility.interrupted", 1, MobilityInterrupted, "A mission ended early."),
    Contract("notification.delivered", 1, NotificationOutcome, "A message reached its recipient."),
    Contract("notification.failed", 1, NotificationOutcome, "A message could not be delivered."),
)

_BY_KEY = {(c.type, c.version): c for c in CATALOG}
EVENT_TYPES: tuple[str, ...] = tuple(dict.fromkeys(c.type for c in CATALOG))
# The version producers write. Version 2 of placement.closed, agreement.terminated and match.*
# replaced free-text reasons by codes; version 1 of those is no longer accepted.
CURRENT_VERSION: dict[str, int] = {c.type: c.version for c in CATALOG}


def contract(type: str, version: int = 1) -> Contract:
    """The contract of an event type and version (KeyError for an unknown one)."""
    return _BY_KEY[(type, version)]


def schema_for(type: str, version: int = 1) -> Schema:
    """The contract's schema, built once: building one costs more than validating an event with
    it, and a marshmallow schema holds no state between loads, so threads may share it."""
    schema = _SCHEMAS.get((type, version))
    if schema is None:
        schema = _SCHEMAS.setdefault((type, version), _BY_KEY[(type, version)].schema())
    return schema


_SCHEMAS: dict[tuple[str, int], Schema] = {}


def dataschema_uri(type: str, version: int) -> str:
    return SCHEMA_URI.format(type=type, version=version)


def version_from_dataschema(uri: object, type: str) -> int | None:
    if not isinstance(uri, str):
        return None
    m = _SCHEMA_URI_RE.match(uri)
    if not m or m.group("type") != type:
        return None
    return int(m.group("v"))
