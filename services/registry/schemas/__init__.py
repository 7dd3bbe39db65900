"""Request and response schemas of the registry API (validated in, documented in OpenAPI).

One module per area; every schema is importable from here (`schemas.VolunteerIn`).
"""

from __future__ import annotations

from services.registry.schemas.agency import (
    AgencyIn,
    AgencyOut,
    ChecklistIn,
    ChecklistItemIn,
    ChecklistOut,
    ChecklistTickIn,
    FeedOut,
    FeedQuery,
)
from services.registry.schemas.agreements import (
    AgreementOut,
    AgreementProposal,
    AgreementQuery,
    AgreementTermsIn,
    ApprovalIn,
    LedgerDirection,
    LedgerOut,
    QuotaSchema,
    TerminationIn,
)
from services.registry.schemas.common import (
    LanguageSkill,
    Tag,
)
from services.registry.schemas.exchanges import (
    CriterionOut,
    DeclineIn,
    InterruptionIn,
    MatchOut,
    MatchQuery,
    MobilityOut,
    MobilityReportIn,
    MobilityStepIn,
    StartIn,
)
from services.registry.schemas.follow_up import (
    CheckInIn,
    CheckInLinkOut,
    CheckInScheduleOut,
    IncidentIn,
    IncidentOut,
    IncidentUpdateIn,
)
from services.registry.schemas.places import (
    Closure,
    HostOrganisationIn,
    HostOrganisationOut,
    PlacementIn,
    PlacementOut,
    PlacementPatch,
    PlacementQuery,
)
from services.registry.schemas.volunteers import (
    Consent,
    ContactOut,
    DossierOut,
    DossierVolunteerOut,
    VolunteerIn,
    VolunteerOut,
    VolunteerPatch,
    VolunteerQuery,
    Withdrawal,
)
from shared.vocabularies import CONSENT_PURPOSES, GENDERS
from shared.vocabularies import EDUCATION_LEVELS as EDUCATION
from shared.vocabularies import LANGUAGE_LEVELS as LEVELS

__all__ = [
    "AgencyIn",
    "AgencyOut",
    "AgreementOut",
    "AgreementProposal",
    "AgreementQuery",
    "AgreementTermsIn",
    "ApprovalIn",
    "CONSENT_PURPOSES",
    "CheckInIn",
    "CheckInLinkOut",
    "CheckInScheduleOut",
    "ChecklistIn",
    "ChecklistItemIn",
    "ChecklistOut",
    "ChecklistTickIn",
    "Closure",
    "Consent",
    "ContactOut",
    "CriterionOut",
    "DeclineIn",
    "DossierOut",
    "DossierVolunteerOut",
    "EDUCATION",
    "FeedOut",
    "FeedQuery",
    "GENDERS",
    "HostOrganisationIn",
    "HostOrganisationOut",
    "IncidentIn",
    "IncidentOut",
    "IncidentUpdateIn",
    "InterruptionIn",
    "LEVELS",
    "LanguageSkill",
    "LedgerDirection",
    "LedgerOut",
    "MatchOut",
    "MatchQuery",
    "MobilityOut",
    "MobilityReportIn",
    "MobilityStepIn",
    "PlacementIn",
    "PlacementOut",
    "PlacementPatch",
    "PlacementQuery",
    "QuotaSchema",
    "StartIn",
    "Tag",
    "TerminationIn",
    "VolunteerIn",
    "VolunteerOut",
    "VolunteerPatch",
    "VolunteerQuery",
    "Withdrawal",
]
