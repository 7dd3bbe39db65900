"""The public event catalog: one marshmallow schema per event type and version.

Partners build against these schemas (they are also published as AsyncAPI). Personal data is
kept out of every payload except where a receiver needs it: matching needs skills, languages and
availability, never names or contacts. One module per family; every name is importable from here.
"""

from __future__ import annotations

from shared.events.contracts.base import (
    AGENCY_CODE,
    IDENTIFIER,
    LANGUAGE_CODE,
    LanguageSkill,
)
from shared.events.contracts.catalog import (
    CATALOG,
    CURRENT_VERSION,
    EVENT_TYPES,
    SCHEMA_URI,
    Contract,
    SchemaClass,
    contract,
    dataschema_uri,
    schema_for,
    version_from_dataschema,
)
from shared.events.contracts.exchanges import (
    AgreementApproval,
    AgreementTerminated,
    AgreementTerms,
    CodedMessage,
    CriterionScore,
    LessonsShared,
    MatchAccepted,
    MatchCancelled,
    MatchDeclined,
    MatchProposed,
    MatchState,
    Placement,
    PlacementClosed,
    PlacementFacts,
    Quota,
    VolunteerProfile,
    VolunteerWithdrawn,
)
from shared.events.contracts.mobilities import (
    CheckInDue,
    CheckInSubmitted,
    ChecklistItem,
    IncidentState,
    Mobility,
    MobilityChecklist,
    MobilityHosted,
    MobilityInterrupted,
    MobilityReport,
    MobilityStarted,
    ReviewSubmitted,
)
from shared.events.contracts.notifications import (
    NotificationOutcome,
)

__all__ = [
    "AGENCY_CODE",
    "AgreementApproval",
    "AgreementTerminated",
    "AgreementTerms",
    "CATALOG",
    "CURRENT_VERSION",
    "CheckInDue",
    "CheckInSubmitted",
    "ChecklistItem",
    "Contract",
    "CriterionScore",
    "EVENT_TYPES",
    "IDENTIFIER",
    "IncidentState",
    "LANGUAGE_CODE",
    "LanguageSkill",
    "LessonsShared",
    "MatchAccepted",
    "MatchCancelled",
    "MatchDeclined",
    "MatchProposed",
    "MatchState",
    "Mobility",
    "MobilityChecklist",
    "MobilityHosted",
    "MobilityInterrupted",
    "MobilityReport",
    "MobilityStarted",
    "NotificationOutcome",
    "Placement",
    "PlacementClosed",
    "CodedMessage",
    "PlacementFacts",
    "Quota",
    "ReviewSubmitted",
    "SCHEMA_URI",
    "SchemaClass",
    "VolunteerProfile",
    "VolunteerWithdrawn",
    "contract",
    "dataschema_uri",
    "schema_for",
    "version_from_dataschema",
]
