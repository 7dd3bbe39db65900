"""Reference codes every service validates against: ISO 3166 countries and ISO 639 languages."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from babel import Locale

from shared.messages import render_message

# CLDR also lists regions and placeholders that are not countries an agency can be from.
_NOT_COUNTRIES = {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"}


def _codes(names: Iterable[Any]) -> list[str]:
    return [code for code in names if isinstance(code, str) and code.isalpha()]


@cache
def countries() -> frozenset[str]:
    territories = _codes(Locale("en").territories)
    return frozenset(c for c in territories if len(c) == 2 and c not in _NOT_COUNTRIES)


@cache
def languages() -> frozenset[str]:
    return frozenset(c for c in _codes(Locale("en").languages) if len(c) in (2, 3))


def is_country(code: str) -> bool:
    return code in countries()


def is_language(code: str) -> bool:
    return code in languages()


# -- reason codes --------------------------------------------------------------------------------
# Why something ended or was refused crosses borders only as one of these codes; whatever a user
# typed to explain it stays on the node where it was written (a local note, never in an event).
# Each list maps a code to its English label; dashboards and notifications show a code's label
# through `reason_label`, rendered from the catalogs (shared/translations/*/reasons.po, where the
# message code is the list's name and the code: "decline.dates").

Labels = dict[str, str]  # code -> English label

WITHDRAWAL_REASONS: Labels = {
    "personal": "Personal reasons",
    "health": "Health",
    "eligibility": "No longer eligible",
    "other": "Other",
}
CLOSURE_REASONS: Labels = {
    "filled": "Filled",
    "cancelled_by_host": "Cancelled by the host organisation",
    "funding": "Funding ended",
    "security": "Security",
    "other": "Other",
}
DECLINE_REASONS: Labels = {
    "profile_mismatch": "Profile does not fit the placement",
    "dates": "Dates do not suit",
    "languages": "Language level insufficient",
    "host_unavailable": "Host organisation unavailable",
    "volunteer_unavailable": "Volunteer unavailable",
    "quota": "Quota or balance of the agreement",
    "other": "Other",
}
CANCELLATION_REASONS: Labels = {
    "superseded": "Superseded by a better plan",
    "expired": "Expired without an answer",
    "volunteer_withdrawn": "Volunteer withdrawn",
    "placement_closed": "Placement closed",
    "agreement_terminated": "Agreement terminated",
    "agreement_ended": "The agreement's period has ended",
    # A new plan withdrew an unanswered proposal because keeping it became impossible:
    "volunteer_unavailable": "Volunteer no longer available",
    "no_longer_eligible": "No longer meets the placement's requirements",
    "placement_filled": "Placement filled",
    "quota_reached": "Quota of the agreement reached",
}
TERMINATION_REASONS: Labels = {
    "end_of_programme": "End of the programme",
    "mutual_consent": "Mutual consent",
    "breach": "Terms not respected",
    "funding": "Funding ended",
    "security": "Security",
    "other": "Other",
}
INTERRUPTION_REASONS: Labels = {
    "health": "Health",
    "security": "Security",
    "conduct": "Conduct",
    "personal": "Personal reasons",
    "other": "Other",
}

# The pre-departure checklist's standard items (an agency may add its own, with its own labels).
CHECKLIST_ITEMS: Labels = {
    "contract": "Volunteering contract signed",
    "insurance": "Health and repatriation insurance",
    "visa": "Visa or residence permit",
    "travel_booked": "Travel booked",
    "pre_departure_training": "Pre-departure training attended",
    "medical_check": "Medical check and vaccinations",
}

# Incidents during a mission: what kind, how serious, where their handling stands.
INCIDENT_CATEGORIES: Labels = {
    "health": "Health",
    "security": "Security",
    "conduct": "Conduct",
    "placement": "Placement",
    "other": "Other",
}
INCIDENT_SEVERITIES: Labels = {
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "Critical",
}
INCIDENT_STATUSES: Labels = {
    "open": "Open",
    "in_progress": "Being handled",
    "resolved": "Resolved",
}

# Which list each event's `reason` comes from.
REASONS_BY_EVENT: dict[str, Labels] = {
    "volunteer.withdrawn": WITHDRAWAL_REASONS,
    "placement.closed": CLOSURE_REASONS,
    "match.declined": DECLINE_REASONS,
    "match.cancelled": CANCELLATION_REASONS,
    "agreement.terminated": TERMINATION_REASONS,
    "mobility.interrupted": INTERRUPTION_REASONS,
}


# The name of each list in the catalogs.
LIST_NAMES: dict[str, Labels] = {
    "withdrawal": WITHDRAWAL_REASONS,
    "closure": CLOSURE_REASONS,
    "decline": DECLINE_REASONS,
    "cancellation": CANCELLATION_REASONS,
    "termination": TERMINATION_REASONS,
    "interruption": INTERRUPTION_REASONS,
    "checklist": CHECKLIST_ITEMS,
    "incident_category": INCIDENT_CATEGORIES,
    "incident_severity": INCIDENT_SEVERITIES,
    "incident_status": INCIDENT_STATUSES,
}
_NAME_OF = {id(labels): name for name, labels in LIST_NAMES.items()}


def reason_label(labels: Labels, code: str | None, language: str = "fr") -> str:
    """The label of a code of one of these lists in `language` (French unless "en"), from the
    catalogs like every message (shared/messages.render_message); an unknown code as is."""
    if not code:
        return ""
    if code not in labels:
        return code
    name = _NAME_OF.get(id(labels))
    if name is None:  # a list not in LIST_NAMES: its English label
        return labels[code]
    return render_message(f"{name}.{code}", {"text": labels[code]}, language)


def reason_choices(labels: Labels, language: str = "fr") -> list[tuple[str, str]]:
    return [(code, reason_label(labels, code, language)) for code in labels]
