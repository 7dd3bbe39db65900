"""Typed event data: one frozen dataclass per contract (shared/events/contracts/), dates as dates.

The contracts (marshmallow) check the wire form and load it; this module turns what they loaded
into these classes (shared/events/typed.py), so a handler reads `event.data.start` as a `date`
and never parses a string. Lists become tuples (the objects are frozen). The field names are the
contract's, checked by a test (tests/unit/test_typed_events.py), so a new field in a contract
fails until it is typed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared.events import contracts


@dataclass(frozen=True)
class LanguageSkill:
    code: str
    level: str


# --- volunteers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolunteerProfile:
    volunteer_id: str
    agency: str
    status: str
    skills: tuple[str, ...]
    domains: tuple[str, ...]
    languages: tuple[LanguageSkill, ...]
    education_level: str | None
    available_from: date | None
    available_until: date | None
    preferred_countries: tuple[str, ...]
    registered_at: datetime


@dataclass(frozen=True)
class VolunteerWithdrawn:
    volunteer_id: str
    agency: str
    reason: str


# --- placements -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    placement_id: str
    agency: str
    host_organisation_id: str
    host_organisation_name: str
    city: str
    title: str
    domain: str
    required_skills: tuple[str, ...]
    required_languages: tuple[LanguageSkill, ...]
    start: date
    end: date
    slots: int
    status: str


@dataclass(frozen=True)
class PlacementClosed:
    placement_id: str
    agency: str
    reason: str


# --- agreements -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    sending: str
    host: str
    volunteers: int


@dataclass(frozen=True)
class AgreementTerms:
    agreement_id: str
    parties: tuple[str, ...]
    start: date
    end: date
    quotas: tuple[Quota, ...]
    balance_tolerance: int
    fields_of_cooperation: tuple[str, ...]
    terms_hash: str
    revision: int


@dataclass(frozen=True)
class LessonsShared:
    agreement_id: str
    agency: str
    text: str
    on: date


@dataclass(frozen=True)
class AgreementApproval:
    agreement_id: str
    agency: str
    terms_hash: str
    revision: int


@dataclass(frozen=True)
class AgreementTerminated:
    agreement_id: str
    agency: str
    reason: str
    effective: date


# --- matches ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodedMessage:
    """A message as its code and parameters (shared/messages.py)."""

    code: str
    params: dict[str, Any]


@dataclass(frozen=True)
class CriterionScore:
    criterion: str
    weight: float
    value: float
    explanation: str
    # the explanation's parts as {code, params} (shared/messages.py); none in older events
    messages: list[CodedMessage] = field(default_factory=list)


@dataclass(frozen=True)
class PlacementFacts:
    title: str
    city: str
    host_organisation: str


@dataclass(frozen=True)
class MatchProposed:
    match_id: str
    agreement_id: str
    volunteer_id: str
    placement_id: str
    sending_agency: str
    host_agency: str
    score: float
    criteria: tuple[CriterionScore, ...]
    expires_at: datetime | None
    placement: PlacementFacts | None


@dataclass(frozen=True)
class MatchAccepted:
    match_id: str
    agreement_id: str
    volunteer_id: str
    placement_id: str
    agency: str


@dataclass(frozen=True)
class MatchDeclined(MatchAccepted):
    reason: str


@dataclass(frozen=True)
class MatchState:
    match_id: str
    agreement_id: str
    volunteer_id: str
    placement_id: str
    sending_agency: str
    host_agency: str


@dataclass(frozen=True)
class MatchCancelled(MatchState):
    reason: str


# --- mobilities -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mobility:
    mobility_id: str
    match_id: str
    agreement_id: str
    sending_agency: str
    host_agency: str
    on: date


@dataclass(frozen=True)
class MobilityReport:
    mobility_id: str
    agreement_id: str
    kind: str
    submitted_by: str
    on: date


@dataclass(frozen=True)
class MobilityInterrupted(Mobility):
    reason: str


@dataclass(frozen=True)
class MobilityStarted(Mobility):
    planned_end: date | None = None


@dataclass(frozen=True)
class CheckInSubmitted:
    mobility_id: str
    agreement_id: str
    check_in: str
    respondent: str
    submitted_by: str
    on: date
    wellbeing: int
    integration: int
    workload: int
    issues: bool


@dataclass(frozen=True)
class CheckInDue:
    mobility_id: str
    match_id: str
    agreement_id: str
    sending_agency: str
    host_agency: str
    check_in: str
    due_on: date
    stage: str
    respondents: tuple[str, ...]
    volunteer_id: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class IncidentState:
    incident_id: str
    mobility_id: str
    match_id: str
    agreement_id: str
    sending_agency: str
    host_agency: str
    reported_by: str
    on: date
    severity: str
    category: str
    status: str
    owner: str
    version: int


@dataclass(frozen=True)
class MobilityHosted:
    mobility_id: str
    match_id: str
    agreement_id: str
    sending_agency: str
    host_agency: str
    placement_id: str
    title: str
    city: str
    host_organisation: str
    start: date
    end: date


@dataclass(frozen=True)
class ReviewSubmitted:
    mobility_id: str
    agreement_id: str
    respondent: str
    submitted_by: str
    on: date
    overall: int
    objectives: int
    support: int


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    mandatory: bool
    done: bool


@dataclass(frozen=True)
class MobilityChecklist:
    mobility_id: str
    match_id: str
    agreement_id: str
    sending_agency: str
    host_agency: str
    version: int
    items: tuple[ChecklistItem, ...]


# --- notifications ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationOutcome:
    notification_id: str
    about_event_id: str
    about_event_type: str
    channel: str
    recipient_kind: str
    attempts: int
    reason: str | None


# The payload class of each contract schema (a schema shared by several types, one class).
PAYLOADS: dict[type, type] = {
    contracts.LanguageSkill: LanguageSkill,
    contracts.VolunteerProfile: VolunteerProfile,
    contracts.VolunteerWithdrawn: VolunteerWithdrawn,
    contracts.Placement: Placement,
    contracts.PlacementClosed: PlacementClosed,
    contracts.Quota: Quota,
    contracts.AgreementTerms: AgreementTerms,
    contracts.LessonsShared: LessonsShared,
    contracts.AgreementApproval: AgreementApproval,
    contracts.AgreementTerminated: AgreementTerminated,
    contracts.CriterionScore: CriterionScore,
    contracts.PlacementFacts: PlacementFacts,
    contracts.CodedMessage: CodedMessage,
    contracts.MatchProposed: MatchProposed,
    contracts.MatchAccepted: MatchAccepted,
    contracts.MatchDeclined: MatchDeclined,
    contracts.MatchState: MatchState,
    contracts.MatchCancelled: MatchCancelled,
    contracts.Mobility: Mobility,
    contracts.MobilityReport: MobilityReport,
    contracts.MobilityInterrupted: MobilityInterrupted,
    contracts.MobilityStarted: MobilityStarted,
    contracts.CheckInSubmitted: CheckInSubmitted,
    contracts.CheckInDue: CheckInDue,
    contracts.IncidentState: IncidentState,
    contracts.MobilityHosted: MobilityHosted,
    contracts.ReviewSubmitted: ReviewSubmitted,
    contracts.ChecklistItem: ChecklistItem,
    contracts.MobilityChecklist: MobilityChecklist,
    contracts.NotificationOutcome: NotificationOutcome,
}
