"""The catalog: each event type and version with its schema, and the dataschema URIs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from marshmallow import Schema

from shared.events.contracts.exchanges import (
    AgreementApproval,
    AgreementTerminated,
    AgreementTerms,
    LessonsShared,
    MatchAccepted,
    MatchCancelled,
    MatchDeclined,
    MatchProposed,
    MatchState,
    Placement,
    PlacementClosed,
    VolunteerProfile,
    VolunteerWithdrawn,
)
from shared.events.contracts.mobilities import (
    CheckInDue,
    CheckInSubmitted,
    IncidentState,
    Mobility,
    MobilityChecklist,
    MobilityHosted,
    MobilityInterrupted,
    MobilityReport,
    MobilityStarted,
    ReviewSubmitted,
)
from shared.events.contracts.notifications import NotificationOutcome

SCHEMA_URI = "https://schemas.vir-exchange.org/events/{type}/v{version}.json"
_SCHEMA_URI_RE = re.compile(
    r"^https://schemas\.vir-exchange\.org/events/(?P<type>[a-z_.]+)/v(?P<v>\d+)\.json$"
)


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
