"""The closed lists of values every service reads alike: language levels, genders, education,
statuses, report and check-in kinds. Each is listed here once; the event contracts, the API
schemas, the domain rules, the dashboard and the importer take it from here. Reason codes, with
their labels, are in shared/codes.py."""

from __future__ import annotations

# CEFR levels, lowest first, then a native speaker's (matching ranks them in this order).
LANGUAGE_LEVELS: tuple[str, ...] = ("A1", "A2", "B1", "B2", "C1", "C2", "native")
CEFR_LEVELS: tuple[str, ...] = LANGUAGE_LEVELS[:-1]

GENDERS: tuple[str, ...] = ("female", "male", "other", "undisclosed")
EDUCATION_LEVELS: tuple[str, ...] = (
    "none",
    "primary",
    "secondary",
    "vocational",
    "bachelor",
    "master",
    "doctorate",
)
CONSENT_PURPOSES: tuple[str, ...] = (
    "registration",
    "matching",
    "sharing_with_host_agency",
    "notifications",
)

VOLUNTEER_STATUSES: tuple[str, ...] = (
    "registered",
    "available",
    "proposed",
    "matched",
    "deployed",
    "completed",
    "withdrawn",
)
PLACEMENT_STATUSES: tuple[str, ...] = ("open", "filled", "closed")

# Follow-up of a mission: the reports (the first three are required to complete it), the
# check-ins and who answers them, and who answers the end-of-mission questionnaire.
REPORT_KINDS: tuple[str, ...] = ("start", "mid_term", "end", "incident", "evaluation")
CHECK_INS: tuple[str, ...] = ("first", "mid_term", "final")
CHECK_IN_RESPONDENTS: tuple[str, ...] = ("host_agency", "volunteer")
REVIEW_RESPONDENTS: tuple[str, ...] = (
    "volunteer",
    "host_organisation",
    "sending_agency",
    "host_agency",
)
